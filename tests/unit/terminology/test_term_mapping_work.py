"""Mapping work: candidate concepts, Usagi export for review, import of the reviewed file, reload."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.athena import load_athena
from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_ENGLISH, LANGUAGE_FINNISH
from terminology.errors import VocabularyFormatError
from terminology.mapping_work import CANDIDATE_COLUMNS, candidate_concepts, export_for_review, import_reviewed
from terminology.usagi import UsagiFormatError, read_usagi
from terminology.vocabulary import DEMO_ATHENA_DIR, DEMO_FINOMOP_DIR, LOCAL_VOCABULARY_DIR, demo_usagi_files

ICPC_OFFSET = 2_002_000_000
TODAY = dt.date(2025, 1, 15)
TODAY_MILLIS = "1736899200000"  # 2025-01-15T00:00:00Z in epoch milliseconds (Usagi's createdOn)
UNMAPPED_IN_BASE = {"R96", "K77", "T92", "P76"}  # mapped in the demo file, unmapped in the test's base file


def _src(names, domains=None, vocabulary="X") -> pa.Table:
    cols = {"vocabulary_id": [vocabulary] * len(names), "source_code": [f"c{i}" for i in range(len(names))],
            "source_name": names}
    if domains is not None:
        cols["domain_id"] = domains
    return pa.table(cols)


def _read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _write_rows(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return path


def _load_with_icpc(con, icpc_path: Path) -> None:
    """The demo store, with ``icpc_path`` loaded as the ICPC vocabulary instead of the demo file."""
    others = [spec for spec in demo_usagi_files() if spec[1] != "ICPC"]
    load_athena(con, DEMO_ATHENA_DIR, overlays=(LOCAL_VOCABULARY_DIR,),
                usagi_files=[*others, (icpc_path, "ICPC", ICPC_OFFSET)])


def _maps(con, vocabulary_id: str) -> dict[str, list[int]]:
    rows = con.execute("""SELECT source_code, list(target_concept_id ORDER BY target_concept_id)
                          FROM source_to_standard WHERE source_vocabulary_id = ? GROUP BY 1""",
                       [vocabulary_id]).fetchall()
    return dict(rows)


def _mini_store(con, concepts: list[tuple], synonyms: list[tuple] = ()) -> None:
    """concept (id, name, domain, vocabulary, standard, invalid_reason) and synonym (id, name, language) tables."""
    con.execute("DROP TABLE IF EXISTS concept")
    con.execute("DROP TABLE IF EXISTS concept_synonym")
    con.execute("DROP TABLE IF EXISTS concept_relationship")
    con.execute("""CREATE TABLE concept (concept_id INTEGER, concept_name VARCHAR, domain_id VARCHAR,
                   vocabulary_id VARCHAR, concept_class_id VARCHAR, standard_concept VARCHAR,
                   concept_code VARCHAR, valid_start_date DATE, valid_end_date DATE, invalid_reason VARCHAR)""")
    con.execute("CREATE TABLE concept_synonym (concept_id INTEGER, concept_synonym_name VARCHAR, "
                "language_concept_id INTEGER)")
    con.execute("CREATE TABLE concept_relationship (concept_id_1 INTEGER, concept_id_2 INTEGER, "
                "relationship_id VARCHAR, valid_start_date DATE, valid_end_date DATE, invalid_reason VARCHAR)")
    if concepts:
        con.executemany("INSERT INTO concept VALUES (?, ?, ?, ?, 'C', ?, ?, DATE '1970-01-01', DATE '2099-12-31', ?)",
                        [(i, n, d, v, s, str(i), r) for i, n, d, v, s, r in concepts])
    if synonyms:
        con.executemany("INSERT INTO concept_synonym VALUES (?, ?, ?)", list(synonyms))


# ---------------------------------------------------------------------------
# candidate_concepts
# ---------------------------------------------------------------------------
def test_candidates_on_demo_store_rank_and_score(demo_con):
    out = candidate_concepts(demo_con, _src(["Asthma", "Type 2 diabetes", "Acute bronchitis/bronchiolitis",
                                             "Medical examination - complete", ""]))
    assert out.column_names == list(CANDIDATE_COLUMNS)
    rows = out.to_pylist()
    by_code: dict[str, list] = {}
    for r in rows:
        by_code.setdefault(r["source_code"], []).append((r["rank"], r["concept_id"]))
    assert by_code["c0"][0] == (1, 317009)
    assert rows[0]["match_score"] == 1.0 and rows[0]["matched_name"] == "Asthma"
    assert by_code["c1"] == [(1, 201826), (2, 4226121), (3, 443731)]  # Type 2 diabetes mellitus first
    assert by_code["c2"][0] == (1, 260139)  # Acute bronchitis
    assert "c3" not in by_code and "c4" not in by_code  # no shared word / empty name: no candidate
    assert [r["source_code"] for r in rows] == sorted(r["source_code"] for r in rows)  # input order, then rank
    c1 = [r["match_score"] for r in rows if r["source_code"] == "c1"]
    assert c1 == sorted(c1, reverse=True) and c1[0] == pytest.approx(0.82)


def test_candidates_domain_vocabulary_n_and_min_score_filters(demo_con):
    src = _src(["Asthma", "Asthma", "glucose serum plasma"], domains=["Drug", None, ""])
    out = candidate_concepts(demo_con, src).to_pylist()
    assert all(r["source_code"] != "c0" for r in out)  # 'Asthma' in domain Drug: nothing
    assert [r["concept_id"] for r in out if r["source_code"] == "c2"][0] == 3004501
    loinc = candidate_concepts(demo_con, src, vocabularies=("LOINC",)).to_pylist()
    assert {r["target_vocabulary_id"] for r in loinc} == {"LOINC"}
    assert candidate_concepts(demo_con, src, domains=("Drug",)).num_rows == 0
    one = candidate_concepts(demo_con, _src(["Type 2 diabetes"]), n=1).to_pylist()
    assert [(r["rank"], r["concept_id"]) for r in one] == [(1, 201826)]
    strict = candidate_concepts(demo_con, _src(["Type 2 diabetes"]), min_score=0.6).to_pylist()
    assert [r["concept_id"] for r in strict] == [201826]


def test_candidates_synonyms_ties_and_exclusions():
    con = duckdb.connect()
    _mini_store(con, [
        (10, "Myocardial infarction", "Condition", "SNOMED", "S", None),
        (11, "Liver disease", "Condition", "SNOMED", "S", None),
        (12, "Kidney disease", "Condition", "SNOMED", "S", None),
        (13, "Lung disease", "Condition", "SNOMED", "S", None),
        (20, "Gout", "Condition", "SNOMED", "S", None),
        (21, "Gout", "Condition", "SNOMED", "S", None),
        (22, "Gout", "Condition", "SNOMED", None, None),   # not standard
        (23, "Gout", "Condition", "SNOMED", "S", "D"),     # invalid
        (24, "Gout", "Condition", "ICD10CM", "S", None),   # other vocabulary
        (25, "Gout", "Condition", "SNOMED", "C", None),    # classification
    ], [(10, "Heart attack", LANGUAGE_ENGLISH), (11, "Maksasairaus", LANGUAGE_FINNISH),
        (12, "腎臟病", LANGUAGE_CHINESE)])
    out = candidate_concepts(con, _src(["heart attack", "GOUT!", "Maksasairaus", "disease of the liver",
                                        "disease"]), max_token_concepts=1).to_pylist()
    got = {}
    for r in out:
        got.setdefault(r["source_code"], []).append((r["concept_id"], r["match_score"], r["matched_name"]))
    assert got["c0"] == [(10, 1.0, "Heart attack")]  # English synonym
    assert [g[:2] for g in got["c1"]] == [(20, 1.0), (21, 1.0)]  # tie broken by concept_id; 22-25 excluded
    assert "c2" not in got  # Finnish synonyms are not matched
    # 'disease' is in 3 concepts (> max_token_concepts=1): blocking uses 'liver'; 'disease' still scores
    assert [(g[0], g[2]) for g in got["c3"]] == [(11, "Liver disease")] and got["c3"][0][1] > 0.6
    # only common tokens: block on the rarest one, still up to n candidates
    assert sorted(g[0] for g in got["c4"]) == [11, 12, 13]
    con.close()


def test_candidates_reject_bad_input(demo_con):
    with pytest.raises(ValueError, match="source_name"):
        candidate_concepts(demo_con, pa.table({"vocabulary_id": ["X"], "source_code": ["a"]}))
    with pytest.raises(ValueError, match="n must be"):
        candidate_concepts(demo_con, _src(["Asthma"]), n=0)


WORDS = ["acute", "chronic", "heart", "liver", "kidney", "failure", "disease", "infection", "pain", "left",
         "tablet", "oral", "viral", "type", "2", "ménière", "lung"]
name_st = st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join)
concept_st = st.tuples(name_st, st.sampled_from(["Condition", "Drug"]), st.sampled_from(["SNOMED", "ICD10"]),
                       st.sampled_from(["S", None, "C"]), st.sampled_from([None, "D"]))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(concepts=st.lists(concept_st, min_size=0, max_size=25), names=st.lists(name_st, min_size=1, max_size=8),
       n=st.integers(1, 4), cap=st.integers(1, 30))
def test_candidate_invariants(concepts, names, n, cap):
    con = duckdb.connect()
    rows = [(i + 1, *c) for i, c in enumerate(concepts)]
    _mini_store(con, rows)
    eligible = {r[0]: r for r in rows if r[4] == "S" and r[5] is None and r[3] == "SNOMED"}
    out = candidate_concepts(con, _src(names), n=n, vocabularies=("SNOMED",), max_token_concepts=cap).to_pylist()
    per: dict[str, list] = {}
    for r in out:
        assert 0.0 <= r["match_score"] <= 1.0
        assert r["concept_id"] in eligible  # standard, valid, in the vocabularies asked for
        per.setdefault(r["source_code"], []).append(r)
    for code, cands in per.items():
        assert len(cands) <= n
        assert [c["rank"] for c in cands] == list(range(1, len(cands) + 1))
        keys = [(-c["match_score"], c["concept_id"]) for c in cands]
        assert keys == sorted(keys)
        assert len({c["concept_id"] for c in cands}) == len(cands)
    for i, name in enumerate(names):  # an exact name match of an eligible concept scores 1 and ranks first
        if any(e[1].lower() == name.lower() for e in eligible.values()):
            assert per[f"c{i}"][0]["match_score"] == 1.0
    con.close()


# ---------------------------------------------------------------------------
# the review flow on the demo store
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def icpc_case(tmp_path_factory):
    """An ICPC base file where four demo mappings are not done yet, and the store loaded from it."""
    folder = tmp_path_factory.mktemp("icpc")
    rows = _read_rows(DEMO_FINOMOP_DIR / "ICPC.usagi.csv")
    for r in rows:
        if r["sourceCode"] in UNMAPPED_IN_BASE:
            r.update({"mappingStatus": "UNCHECKED", "equivalence": "UNREVIEWED", "statusSetBy": "",
                      "conceptId": "0", "conceptName": "", "domainId": ""})
    base = _write_rows(folder / "ICPC.usagi.csv", rows)
    con = duckdb.connect()
    _load_with_icpc(con, base)
    yield con, base, folder
    con.close()


def _unmapped_demo_codes(con) -> list[tuple[str, str]]:
    return con.execute("""
        SELECT c.vocabulary_id, c.concept_code FROM concept c
        WHERE c.vocabulary_id IN ('ICPC', 'ICD10fi', 'NHI Fee') AND NOT EXISTS (
            SELECT 1 FROM concept_relationship r WHERE r.concept_id_1 = c.concept_id AND r.relationship_id = 'Maps to')
        ORDER BY 1, 2""").fetchall()


def test_review_flow_export_approve_import_load(icpc_case, tmp_path):
    con, base, _ = icpc_case
    unmapped = _unmapped_demo_codes(con)
    assert unmapped == [("ICPC", c) for c in ["-30", "-31", "-45", "-50", "K77", "P76", "R96", "T92"]]
    codes = [c for _, c in unmapped]
    usage = pa.table({  # as from a run's code_usage (target_concept_id 0), one code split over two rows
        "vocabulary_id": ["ICPC"] * 10 + ["ICD10fi"],
        "source_code": [*codes, "A99", "R96", "E11.9"],
        "n_records": [40, 35, 30, 25, 20, 15, 10, 5, 3, 2, 99]})
    exported = export_for_review(con, usage, "ICPC", tmp_path / "review.csv", today=TODAY, created_by="tester")
    assert exported == {"vocabulary_id": "ICPC", "path": str(tmp_path / "review.csv"), "codes": 9,
                        "rows": exported["rows"], "codes_with_candidate": 4, "codes_in_store": 8, "records": 185}
    read_usagi(tmp_path / "review.csv", "ICPC", concept_id_offset=ICPC_OFFSET)  # Usagi-readable
    rows = _read_rows(tmp_path / "review.csv")
    assert len(rows) == exported["rows"]
    order = list(dict.fromkeys(r["sourceCode"] for r in rows))
    assert order == ["-30", "-31", "-45", "-50", "K77", "P76", "R96", "T92", "A99"]  # frequency desc, then code
    r96 = [r for r in rows if r["sourceCode"] == "R96"]
    assert r96[0]["sourceFrequency"] == "12" and r96[0]["conceptId"] == "317009" and r96[0]["matchScore"] == "1.0000"
    assert r96[0]["sourceAutoAssignedConceptIds"] == ";".join(r["conceptId"] for r in r96)
    assert {r["ADD_INFO:sourceConceptId"] for r in r96} == {"2002000007"}
    assert r96[0]["ADD_INFO:sourceName_fi"] == "Astma" and r96[0]["sourceName"] == "Asthma"
    assert {(r["mappingStatus"], r["equivalence"], r["mappingType"], r["createdBy"], r["createdOn"])
            for r in rows} == {("UNCHECKED", "UNREVIEWED", "MAPS_TO", "tester", TODAY_MILLIS)}
    process = [r for r in rows if r["sourceCode"] == "-30"]
    assert [(r["conceptId"], r["matchScore"], r["sourceAutoAssignedConceptIds"]) for r in process] == [("0", "0", "")]
    a99 = [r for r in rows if r["sourceCode"] == "A99"]
    assert [(r["sourceName"], r["conceptId"], r["ADD_INFO:sourceConceptId"]) for r in a99] == [
        ("", "0", "2002000026")]  # not in the store: provisional id after the vocabulary's largest
    assert "ADD_INFO:sourceName_zh" not in rows[0]

    # the reviewer: approve the first candidate of three codes, ignore one, map the new code by hand
    first = {}
    for r in rows:
        if r["sourceCode"] in {"R96", "K77", "T92"} and r["sourceCode"] not in first:
            first[r["sourceCode"]] = r["conceptId"]
            r.update({"mappingStatus": "APPROVED", "equivalence": "EQUAL", "statusSetBy": "reviewer"})
        if r["sourceCode"] == "P76":
            r["mappingStatus"] = "IGNORED"
        if r["sourceCode"] == "A99":
            r.update({"sourceName": "Sore throat", "conceptId": "4226263", "conceptName": "Pharyngitis",
                      "mappingStatus": "APPROVED", "equivalence": "WIDER"})
    assert first == {"K77": "316139", "R96": "317009", "T92": "440674"}
    reviewed = _write_rows(tmp_path / "reviewed.csv", rows)
    out = tmp_path / "ICPC.usagi.csv"
    res = import_reviewed(con, reviewed, "ICPC", base_usagi=base, out_path=out, concept_id_offset=ICPC_OFFSET)
    rep = res.report
    assert (rep["approved_codes"], rep["ignored_codes"], rep["unchecked_codes"], rep["flagged_codes"]) == (4, 1, 4, 0)
    assert (rep["changed_codes"], rep["new_codes"], rep["approved_rows"], rep["approved_not_in_store_codes"]) == (
        0, 1, 4, 1)
    assert rep["out_rows"] == 26 and rep["out_codes"] == 26 and rep["out_mapped_codes"] == 17 + 4
    assert res.out_path == str(out) and res.changed.num_rows == 0
    assert dict(zip(res.codes["source_code"].to_pylist(), res.codes["in_base"].to_pylist()))["A99"] is False

    merged = _read_rows(out)
    r96_out = [r for r in merged if r["sourceCode"] == "R96"]
    assert [(r["conceptId"], r["mappingStatus"], r["ADD_INFO:sourceConceptId"], r["ADD_INFO:sourceName_fi"],
             r["ADD_INFO:sourceConceptClass"]) for r in r96_out] == [
        ("317009", "APPROVED", "2002000007", "Astma", "ICPC2 code")]  # source description kept from the base
    assert [r["sourceCode"] for r in merged][:3] == ["T90", "K86", "T93"]  # base order kept
    assert merged[-1]["sourceCode"] == "A99" and merged[-1]["ADD_INFO:sourceConceptId"] == "2002000026"
    p76 = [r for r in merged if r["sourceCode"] == "P76"]
    assert [(r["mappingStatus"], r["conceptId"]) for r in p76] == [("UNCHECKED", "0")]  # ignored: base row kept

    # deterministic: importing again writes the same bytes
    again = tmp_path / "again.csv"
    import_reviewed(con, reviewed, "ICPC", base_usagi=base, out_path=again, concept_id_offset=ICPC_OFFSET)
    assert again.read_bytes() == out.read_bytes()

    # the lead's loader takes the merged file in place of the old one
    fresh = duckdb.connect()
    _load_with_icpc(fresh, out)
    maps = _maps(fresh, "ICPC")
    assert {c: maps.get(c) for c in ["R96", "K77", "T92", "A99", "P76", "T90"]} == {
        "R96": [317009], "K77": [316139], "T92": [440674], "A99": [4226263], "P76": None, "T90": [201826]}
    ids = dict(fresh.execute("SELECT concept_code, concept_id FROM concept WHERE vocabulary_id = 'ICPC' "
                             "AND concept_code IN ('R96', 'A99')").fetchall())
    assert ids == {"R96": 2002000007, "A99": 2002000026}
    assert _unmapped_demo_codes(fresh) == [("ICPC", c) for c in ["-30", "-31", "-45", "-50", "P76"]]
    fresh.close()


def _export_one(con, tmp_path, code: str, vocabulary="ICPC") -> list[dict]:
    usage = pa.table({"vocabulary_id": [vocabulary], "source_code": [code], "n_records": [7]})
    export_for_review(con, usage, vocabulary, tmp_path / "r.csv", today=TODAY)
    return _read_rows(tmp_path / "r.csv")


def test_changed_and_unchanged_mapping_reported(demo_con, tmp_path):
    rows = _export_one(demo_con, tmp_path, "T90")  # the demo maps T90 to 201826
    assert [r["conceptId"] for r in rows][:1] == ["201820"]
    rows[0]["mappingStatus"] = "APPROVED"
    res = import_reviewed(demo_con, _write_rows(tmp_path / "changed.csv", rows), "ICPC")
    assert res.report["changed_codes"] == 1 and res.out_path is None
    assert res.changed.to_pylist() == [{"source_code": "T90", "store_targets": [201826],
                                        "reviewed_targets": [201820], "line": 2}]
    rows[0]["mappingStatus"] = "UNCHECKED"
    same = next(r for r in rows if r["conceptId"] == "201826")
    same["mappingStatus"] = "APPROVED"
    res = import_reviewed(demo_con, _write_rows(tmp_path / "same.csv", rows), "ICPC")
    assert (res.report["changed_codes"], res.report["unchanged_codes"]) == (0, 1)


def _approved_row(con, tmp_path, concept_id: str) -> Path:
    rows = _export_one(con, tmp_path, "-30")
    rows[0].update({"mappingStatus": "APPROVED", "conceptId": concept_id})
    rows.insert(0, {**rows[0], "sourceCode": "-31", "ADD_INFO:sourceConceptId": "2002000023",
                    "mappingStatus": "UNCHECKED", "conceptId": "0"})
    return _write_rows(tmp_path / "bad.csv", rows)


def test_unknown_target_is_an_error_naming_line(demo_con, tmp_path):
    with pytest.raises(UsagiFormatError, match="999999999 of source code '-30' is not in the vocabulary store") as e:
        import_reviewed(demo_con, _approved_row(demo_con, tmp_path, "999999999"), "ICPC")
    assert (e.value.line, e.value.field) == (3, "conceptId") and "bad.csv, line 3, column conceptId" in str(e.value)
    assert isinstance(e.value, VocabularyFormatError)


def test_non_standard_target_is_an_error(demo_con, tmp_path):
    icd = demo_con.execute("SELECT min(concept_id) FROM concept WHERE vocabulary_id = 'ICD10CM'").fetchall()[0][0]
    with pytest.raises(UsagiFormatError, match="is not a standard concept") as e:
        import_reviewed(demo_con, _approved_row(demo_con, tmp_path, str(icd)), "ICPC")
    assert e.value.line == 3


def test_invalid_target_is_an_error(tmp_path):
    con = duckdb.connect()
    _mini_store(con, [(317009, "Asthma", "Condition", "SNOMED", "S", "U"),
                      (2002000022, "Medical examination", "Observation", "ICPC", None, None)])
    path = _write_rows(tmp_path / "inv.csv", [{"sourceCode": "-30", "sourceName": "x", "mappingStatus": "APPROVED",
                                               "conceptId": "317009", "ADD_INFO:sourceConceptId": "2002000022"}])
    with pytest.raises(UsagiFormatError, match="is not valid \\(invalid_reason 'U'") as e:
        import_reviewed(con, path, "ICPC")
    assert (e.value.line, e.value.field) == (2, "conceptId")
    con.close()


def test_malformed_reviewed_file_names_line(demo_con, tmp_path):
    rows = _export_one(demo_con, tmp_path, "T90")
    rows[1]["mappingStatus"] = "APPROVD"
    with pytest.raises(UsagiFormatError, match="unknown mappingStatus") as e:
        import_reviewed(demo_con, _write_rows(tmp_path / "m1.csv", rows), "ICPC")
    assert (e.value.line, e.value.field) == (3, "mappingStatus")
    rows[1].update({"mappingStatus": "APPROVED", "conceptId": "31700 9"})
    with pytest.raises(UsagiFormatError, match="not an integer") as e:
        import_reviewed(demo_con, _write_rows(tmp_path / "m2.csv", rows), "ICPC")
    assert (e.value.line, e.value.field) == (3, "conceptId")
    (tmp_path / "empty.csv").write_text("", encoding="utf-8")
    with pytest.raises(UsagiFormatError, match="empty file") as e:
        import_reviewed(demo_con, tmp_path / "empty.csv", "ICPC")
    assert e.value.line == 1


def test_argument_errors(demo_con, tmp_path):
    rows = _export_one(demo_con, tmp_path, "R96")
    path = _write_rows(tmp_path / "ok.csv", rows)
    with pytest.raises(ValueError, match="both base_usagi and out_path"):
        import_reviewed(demo_con, path, "ICPC", out_path=tmp_path / "o.csv")
    with pytest.raises(ValueError, match="usage lacks column"):
        export_for_review(demo_con, pa.table({"vocabulary_id": ["ICPC"], "source_code": ["R96"]}), "ICPC",
                          tmp_path / "x.csv")
    usage = pa.table({"vocabulary_id": ["NEWVOC"], "source_code": ["Q1"], "n_records": [1]})
    with pytest.raises(ValueError, match="give concept_id_offset"):
        export_for_review(demo_con, usage, "NEWVOC", tmp_path / "x.csv")
    rep = export_for_review(demo_con, usage, "NEWVOC", tmp_path / "x.csv", concept_id_offset=2_150_000_000)
    assert rep["codes_in_store"] == 0
    assert [r["ADD_INFO:sourceConceptId"] for r in _read_rows(tmp_path / "x.csv")] == ["2150000001"]


def test_export_chinese_names_and_domain_matching(demo_con, tmp_path):
    code, zh = demo_con.execute("""SELECT c.concept_code, s.concept_synonym_name FROM concept c
        JOIN concept_synonym s ON s.concept_id = c.concept_id AND s.language_concept_id = ?
        WHERE c.vocabulary_id = 'NHI Drug' ORDER BY c.concept_id LIMIT 1""", [LANGUAGE_CHINESE]).fetchall()[0]
    rows = _export_one(demo_con, tmp_path, code, "NHI Drug")
    assert rows[0]["ADD_INFO:sourceName_zh"] == zh and rows[0]["sourceName"] == "METFORMIN 500MG"
    assert rows[0]["conceptId"] == "1503297"  # metformin
    usage = pa.table({"vocabulary_id": ["ICPC"], "source_code": ["T90"], "n_records": [1]})
    export_for_review(demo_con, usage, "ICPC", tmp_path / "d.csv", match_domain=True)
    assert {r["domainId"] for r in _read_rows(tmp_path / "d.csv")} == {"Condition"}  # no insulin candidate
