"""The demo vocabulary: generated files match their source, and it covers the synthetic catalogue."""

from __future__ import annotations

import filecmp

import pyarrow as pa
import pytest

import terminology.concepts as C
from crossbridge.synth import catalogue as cat
from terminology.demo_vocabulary import ATHENA_DIR, LOCAL_DIR, build, source
from terminology.normalise import icdo3_code, normalise_codes
from terminology.translate import translate_column


def test_committed_files_match_the_build_script(tmp_path):
    athena, local = build.build(tmp_path)
    for generated, committed in ((athena, ATHENA_DIR), (local, LOCAL_DIR)):
        names = sorted(p.name for p in generated.iterdir())
        assert names == sorted(p.name for p in committed.glob("*.csv"))
        match, mismatch, errors = filecmp.cmpfiles(generated, committed, names, shallow=False)
        assert mismatch == [] and errors == [], "regenerate with python -m terminology.demo_vocabulary.build"


def _catalogue_codes() -> list[tuple[str, str, str, str]]:
    """(vocabulary_id, normalised code, expected target domain, what) for every code of the catalogue."""
    out: list[tuple[str, list[str], str, str]] = []

    def add(vocab: str, raw: list[str], domain: str, what: str) -> None:
        out.append((vocab, normalise_codes(pa.array(raw, pa.string()), vocab).to_pylist(), domain, what))

    add("ICD9CM", [c.icd9 for c in cat.CONDITIONS], "Condition", "condition icd9")
    add("ICD10CM", [c.icd10 for c in cat.CONDITIONS], "Condition", "condition icd10")
    add("NHI Drug", [d.nhi_code for d in cat.DRUGS], "Drug", "drug nhi")
    add("ATC", [d.atc for d in cat.DRUGS], "Drug", "drug atc")
    add("NHI Fee", [s.code for s in cat.SERVICES], "", "service")
    add("ICD9Proc", [p.icd9 for p in cat.PROCEDURES], "Procedure", "procedure icd9")
    add("ICD10PCS", [p.icd10pcs for p in cat.PROCEDURES], "Procedure", "procedure icd10pcs")
    out.append(("ICDO3", icdo3_code(pa.array([c.casite for c in cat.CANCERS]),
                                    pa.array([c.histbeh for c in cat.CANCERS])).to_pylist(), "Condition", "cancer"))
    add("ICD9CM", [c.icd9 for c in cat.CANCERS], "Condition", "cancer icd9")
    add("ICD10CM", [c.icd10 for c in cat.CANCERS], "Condition", "cancer icd10")
    add("ICD9CM", [d[1] for d in cat.DEATH_CAUSES], "Condition", "death icd9")
    add("ICD10", [d[2] for d in cat.DEATH_CAUSES], "Condition", "death icd10")
    add("NBCT Specimen", list(cat.SPECIMEN_TYPES), "Specimen", "specimen")
    return [(v, code, dom, what) for v, codes, dom, what in out for code in codes]


def test_every_catalogue_code_maps_to_a_standard_concept(demo_con):
    items = _catalogue_codes()
    assert all(code is not None for _, code, _, _ in items)
    codes = pa.table({"vocabulary_id": [i[0] for i in items], "source_code": [i[1] for i in items]})
    out = translate_column(demo_con, codes).to_pylist()
    assert len(out) == len(items)  # exactly one target per code in the demo
    for (vocab, code, domain, what), row in zip(items, out):
        assert row["source_concept_id"] != 0, (what, vocab, code)
        assert row["concept_id"] != 0, (what, vocab, code)
        if domain:
            assert row["domain_id"] == domain, (what, vocab, code, row)
    ids = sorted({r["concept_id"] for r in out})
    standard = demo_con.execute(
        f"SELECT count(*) FROM concept WHERE standard_concept = 'S' AND invalid_reason IS NULL "
        f"AND concept_id IN ({', '.join(map(str, ids))})").fetchall()[0][0]
    assert standard == len(ids)


def test_lab_fee_codes_map_to_loinc_and_drugs_to_rxnorm_ingredients(demo_con):
    rows = demo_con.execute("""
        SELECT source_vocabulary_id, source_code, target_vocabulary_id, c.concept_class_id
        FROM source_to_standard JOIN concept c ON c.concept_id = target_concept_id
        WHERE source_vocabulary_id IN ('NHI Drug', 'ATC', 'NHI Fee')""").fetchall()
    for vocab, code, target_vocab, cls in rows:
        if vocab in ("NHI Drug", "ATC"):
            assert (target_vocab, cls) == ("RxNorm", "Ingredient"), code
    labs = {code: tv for v, code, tv, _ in rows if v == "NHI Fee"}
    assert all(labs[c] == "LOINC" for c in ("09005C", "09006C", "09001C", "09015C", "08011C"))


EXPECTED_DOMAIN = {
    "GENDER_": "Gender", "VISIT_": "Visit", "TYPE_": "Type Concept", "STATUS_": "Condition Status",
    "OBSERVATION_": "Observation",
}


def test_every_concept_constant_exists_with_the_right_domain(demo_con):
    checked = 0
    for name, value in vars(C).items():
        prefix = next((p for p in EXPECTED_DOMAIN if name.startswith(p)), None)
        if prefix is None:
            continue
        rows = demo_con.execute(
            "SELECT domain_id, standard_concept FROM concept WHERE concept_id = ?", [value]).fetchall()
        assert rows == [(EXPECTED_DOMAIN[prefix], "S")], name
        checked += 1
    assert checked == 19


def test_standard_ids_are_public_and_local_ids_in_their_blocks(demo_con):
    # every SNOMED/RxNorm/LOINC/... standard concept uses a public id (below the local block)
    bad = demo_con.execute(f"""SELECT concept_id FROM concept WHERE standard_concept = 'S'
        AND vocabulary_id <> 'Crossbridge' AND concept_id >= {C.LOCAL_CONCEPT_ID_START}""").fetchall()
    assert bad == []
    for vocab, start in C.LOCAL_VOCABULARY_BLOCKS.items():
        lo, hi, n = demo_con.execute(
            "SELECT min(concept_id), max(concept_id), count(*) FROM concept WHERE vocabulary_id = ?",
            [vocab]).fetchall()[0]
        assert n > 0 and start < lo and hi < start + C.LOCAL_BLOCK_SIZE, vocab
        assert source.VOCABULARY_BLOCKS[vocab] == start


def test_mapped_from_mirrors_maps_to(demo_con):
    diff = demo_con.execute("""
        SELECT concept_id_1, concept_id_2 FROM concept_relationship WHERE relationship_id = 'Maps to'
        EXCEPT SELECT concept_id_2, concept_id_1 FROM concept_relationship WHERE relationship_id = 'Mapped from'
    """).fetchall()
    assert diff == []


@pytest.mark.parametrize("descendant, ancestor", [(201826, 201820), (320128, 316866), (45768916, 443388),
                                                  (42872396, 4180790)])
def test_ancestors(demo_con, descendant, ancestor):
    assert demo_con.execute(
        "SELECT min_levels_of_separation > 0 FROM concept_ancestor "
        "WHERE ancestor_concept_id = ? AND descendant_concept_id = ?", [ancestor, descendant]).fetchall() == [(True,)]


def test_every_standard_concept_has_a_self_ancestor_row(demo_con):
    missing = demo_con.execute("""
        SELECT concept_id FROM concept WHERE standard_concept = 'S'
        EXCEPT SELECT descendant_concept_id FROM concept_ancestor WHERE ancestor_concept_id = descendant_concept_id
    """).fetchall()
    assert missing == []


def test_nhi_drugs_have_traditional_chinese_synonyms(demo_con):
    rows = dict(demo_con.execute("""
        SELECT c.concept_code, s.concept_synonym_name FROM concept c
        JOIN concept_synonym s ON s.concept_id = c.concept_id AND s.language_concept_id = ?
        WHERE c.vocabulary_id = 'NHI Drug'""", [C.LANGUAGE_CHINESE]).fetchall())
    assert rows == {d.nhi_code: d.name_c for d in cat.DRUGS}
