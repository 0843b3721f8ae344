"""The demo vocabulary covers every code the Finnish generator emits, like the Taiwan codes it compares with."""

from __future__ import annotations

import filecmp

import pyarrow as pa
import pytest

import terminology.concepts as C
from crossbridge.synth import catalogue as tw
from crossbridge.synth import fi_catalogue as fi
from terminology.demo_vocabulary import FINOMOP_DIR, build, source
from terminology.fi_icd10 import parse_fi_icd10
from terminology.normalise import icdo3_code, normalise_codes
from terminology.translate import translate_column
from terminology.usagi import read_vocabularies_csv


def test_committed_finomop_files_match_the_build_script(tmp_path):
    build.build(tmp_path)
    generated = tmp_path / "finomop"
    names = sorted(p.name for p in generated.iterdir())
    assert names == sorted(p.name for p in FINOMOP_DIR.iterdir()) and "vocabularies.csv" in names
    _, mismatch, errors = filecmp.cmpfiles(generated, FINOMOP_DIR, names, shallow=False)
    assert mismatch == [] and errors == [], "regenerate with python -m terminology.demo_vocabulary.build"


def test_index_uses_finomop_offsets_and_project_block():
    offsets = {s.vocabulary_id: s.offset for s in read_vocabularies_csv(FINOMOP_DIR / "vocabularies.csv")}
    assert offsets == {"ICD10fi": 2_000_500_000, "ICD9fi": 2_000_400_000, "ICD8fi": 2_000_300_000,
                       "NCSPfi": 2_001_300_000, "REIMB": 2_001_600_000, "VNRfi": 2_001_900_000, "ICPC": 2_002_000_000,
                       "FI Biobank Specimen": C.LOCAL_VOCABULARY_BLOCKS["FI Biobank Specimen"]}


def test_project_blocks_do_not_overlap_finomop_blocks():
    project = source.VOCABULARY_BLOCKS["FI Biobank Specimen"]
    finomop = {off for _, off in source.FINOMOP_VOCABULARIES.values()} - {project}
    finomop_range = range(2_000_100_000, 2_002_700_000)  # FHL .. KantaServiceProvider in FinOMOP's index
    for vocab, start in source.VOCABULARY_BLOCKS.items():
        if vocab == "Crossbridge":
            assert start < finomop_range.start
        else:
            assert start >= C.PROJECT_CONCEPT_ID_START and start not in finomop_range, vocab
    assert sorted(source.VOCABULARY_BLOCKS.values()) == sorted(set(source.VOCABULARY_BLOCKS.values()))
    assert not finomop & set(source.VOCABULARY_BLOCKS.values())


def _norm(vocab: str, raw: list[str]) -> list[str]:
    return normalise_codes(pa.array(raw, pa.string()), vocab).to_pylist()


def _fi_codes() -> list[tuple[str, str, str]]:
    """(vocabulary_id, normalised code, what) for every code the Finnish catalogue can emit."""
    out: list[tuple[str, str, str]] = []

    def add(vocab: str, raw: list[str], what: str) -> None:
        out.extend((vocab, code, what) for code in _norm(vocab, raw))

    add("ICD10fi", [c.icd10 for c in fi.FI_CONDITIONS], "condition icd10")
    add("ICD9fi", [c.icd9 for c in fi.FI_CONDITIONS], "condition icd9")
    add("ICD8fi", [c.icd8 for c in fi.FI_CONDITIONS], "condition icd8")
    add("ICPC", [c.icpc2 for c in fi.FI_CONDITIONS], "condition icpc2")
    add("ICD10fi", [code for _, code, _ in fi.COMBINATIONS], "combination whole")
    add("ICD10fi", [d for _, d in fi.FI_REIMB.values()], "reimbursement diagnosis")
    add("ICD10fi", [c[3] for c in fi.FI_CANCERS], "cancer icd10")
    add("REIMB", list(fi.FI_REIMB), "reimbursement right")
    add("NCSPfi", [p.ncsp for p in fi.FI_PROCEDURES], "procedure")
    add("VNRfi", [v for d in fi.FI_DRUGS for v in d.vnr], "drug vnr")
    add("ATC", [d.atc for d in fi.FI_DRUGS], "drug atc")
    add("FI Biobank Specimen", list(fi.SAMPLE_TYPES), "sample type")
    out.extend(("ICDO3", code, "cancer icdo3") for code in icdo3_code(
        pa.array([c[0] for c in fi.FI_CANCERS]), pa.array([c[1] + c[2] for c in fi.FI_CANCERS])).to_pylist())
    for _, code, parts in fi.COMBINATIONS:
        for p in parse_fi_icd10(code):
            out.append((p.vocabulary_id, p.code, "combination part"))
        assert [r for _, r in parts] == [p.role for p in parse_fi_icd10(code)], code
    return out


def _translate(con, items):
    codes = pa.table({"vocabulary_id": [i[0] for i in items], "source_code": [i[1] for i in items]})
    return translate_column(con, codes).to_pylist()


def test_every_finnish_code_has_a_source_concept_and_a_mapping(demo_con):
    items = _fi_codes()
    assert all(code is not None for _, code, _ in items)
    out = _translate(demo_con, items)
    by_code: dict[tuple[str, str], list[dict]] = {}
    for row in out:
        by_code.setdefault((row["vocabulary_id"], row["source_code"]), []).append(row)
    for vocab, code, what in items:
        rows = by_code[(vocab, code)]
        assert all(r["source_concept_id"] != 0 for r in rows), (what, vocab, code)
        assert all(r["concept_id"] != 0 for r in rows), (what, vocab, code)


def test_icpc_process_codes_are_source_concepts_without_mapping(demo_con):
    items = [("ICPC", code, "process") for code, _ in fi.ICPC2_PROCESS]
    out = _translate(demo_con, items)
    assert all(r["source_concept_id"] != 0 and r["concept_id"] == 0 for r in out)


def _taiwan_targets(con) -> dict[str, set[int]]:
    """Condition key -> standard concepts the Taiwan codes of that condition map to."""
    items = [(v, code, c.key) for c in tw.CONDITIONS
             for v, code in (("ICD9CM", _norm("ICD9CM", [c.icd9])[0]), ("ICD10CM", _norm("ICD10CM", [c.icd10])[0]))]
    out = _translate(con, items)
    keys: dict[tuple[str, str], str] = {(v, code): key for v, code, key in items}
    targets: dict[str, set[int]] = {}
    for r in out:
        targets.setdefault(keys[(r["vocabulary_id"], r["source_code"])], set()).add(r["concept_id"])
    return targets


@pytest.mark.parametrize("era", ["icd10", "icd9", "icd8", "icpc2"])
def test_same_condition_same_standard_concept_as_taiwan(demo_con, era):
    taiwan = _taiwan_targets(demo_con)
    vocab = {"icd10": "ICD10fi", "icd9": "ICD9fi", "icd8": "ICD8fi", "icpc2": "ICPC"}[era]
    items = [(vocab, _norm(vocab, [getattr(c, era)])[0], c.key) for c in fi.FI_CONDITIONS]
    out = _translate(demo_con, items)
    assert len(out) == len(items)
    for (_, code, key), row in zip(items, out):
        assert row["concept_id"] in taiwan[key], (era, key, code, row["concept_id"], taiwan[key])
        assert row["domain_id"] == "Condition"


def test_drugs_procedures_and_specimens_match_taiwan(demo_con):
    vnr = [("VNRfi", v, d.atc) for d in fi.FI_DRUGS for v in d.vnr]
    atc = {r["source_code"]: r["concept_id"] for r in _translate(demo_con, [("ATC", d.atc, "") for d in fi.FI_DRUGS])}
    for (_, code, a), row in zip(vnr, _translate(demo_con, vnr)):
        assert row["concept_id"] == atc[a] and row["domain_id"] == "Drug", code
    ncsp = {p.ncsp: p.name for p in fi.FI_PROCEDURES}
    rows = _translate(demo_con, [("NCSPfi", c, "") for c in ncsp])
    assert all(r["domain_id"] == "Procedure" for r in rows)
    same = {"KOKOVERI": "BLOOD", "SEERUMI": "SERUM", "PLASMA": "PLASMA", "DNA": "DNA", "KUDOS": "TISSUE",
            "VIRTSA": "URINE"}
    fi_rows = _translate(demo_con, [("FI Biobank Specimen", c, "") for c in same])
    tw_rows = _translate(demo_con, [("NBCT Specimen", c, "") for c in same.values()])
    assert [r["concept_id"] for r in fi_rows] == [r["concept_id"] for r in tw_rows]


def test_reimbursement_rights_map_to_their_diagnosis_or_an_ancestor(demo_con):
    for sk1, (_, diag) in fi.FI_REIMB.items():
        right = {r["concept_id"] for r in _translate(demo_con, [("REIMB", sk1, "")])}
        dx = _translate(demo_con, [("ICD10fi", _norm("ICD10fi", [diag])[0], "")])[0]["concept_id"]
        ancestors = {a for (a,) in demo_con.execute(
            "SELECT ancestor_concept_id FROM concept_ancestor WHERE descendant_concept_id = ?", [dx]).fetchall()}
        assert right & (ancestors | {dx}), (sk1, right, dx)


def test_combination_codes_whole_and_parts(demo_con):
    whole = {code: {r["concept_id"] for r in _translate(demo_con, [("ICD10fi", code, "")])}
             for code in _norm("ICD10fi", [c for _, c, _ in fi.COMBINATIONS])}
    assert whole["E11.3+H36.0"] == {4226121} and whole["E11.2+N08.3"] == {443731}
    assert whole["A17.0+G01"] == {441775}
    assert whole["S72.00&W19"] == {C.LOCAL_CONCEPT_ID_START + 21, 436583}  # fracture and the fall
    domains = dict(demo_con.execute("SELECT concept_id, domain_id FROM concept WHERE concept_id IN (436583, ?)",
                                    [C.LOCAL_CONCEPT_ID_START + 21]).fetchall())
    assert domains == {436583: "Observation", C.LOCAL_CONCEPT_ID_START + 21: "Condition"}
    # the whole dagger/asterisk code is more specific than its symptom part (ancestor relation)
    assert demo_con.execute("SELECT count(*) FROM concept_ancestor WHERE ancestor_concept_id = 4174977 "
                            "AND descendant_concept_id = 4226121").fetchall() == [(1,)]


def test_finnish_names_and_vocabulary_rows(demo_con):
    n = demo_con.execute("""SELECT count(*) FROM concept c JOIN concept_synonym s USING (concept_id)
        WHERE c.vocabulary_id = 'ICD10fi' AND s.language_concept_id = ?""", [C.LANGUAGE_FINNISH]).fetchall()[0][0]
    assert n == sum(1 for r in source.FI_SOURCE if r[0] == "ICD10fi")
    name = demo_con.execute("""SELECT s.concept_synonym_name FROM concept c JOIN concept_synonym s USING (concept_id)
        WHERE c.concept_code = 'E11.9' AND c.vocabulary_id = 'ICD10fi' AND s.language_concept_id = ?""",
                            [C.LANGUAGE_FINNISH]).fetchall()
    assert name == [("Tyypin 2 diabetes ilman komplikaatioita",)]
    versions = dict(demo_con.execute("SELECT vocabulary_id, vocabulary_version FROM vocabulary").fetchall())
    assert all(versions[v] == source.DEMO_VERSION for v in source.FINOMOP_VOCABULARIES)
