"""Usagi / usagi-extended import, validation, Athena tables, export round trip and loading as overlays."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import terminology.concepts as C
from terminology.athena import VocabularyFormatError, vocabulary_tables_present
from terminology.usagi import (
    ADD_INFO_COLUMNS,
    USAGI_COLUMNS,
    UsagiFormatError,
    read_usagi,
    read_vocabularies_csv,
    write_usagi,
)
from terminology.vocabulary import DEMO_FINOMOP_DIR, load_site_vocabulary

REFERENCE = Path("/work/shared/reference/finomop/ICD10fi.usagi.csv")
HEADER = ",".join(USAGI_COLUMNS + ADD_INFO_COLUMNS)
OFFSET = 2_000_500_000


def _row(code, name="n", status="APPROVED", equivalence="EQUAL", concept_id="201826", mtype="MAPS_TO",
         sid="2000500001", start="1970-01-01", end="2099-12-31", name_fi="", cls="ICD10 code") -> str:
    values = {c: "" for c in USAGI_COLUMNS + ADD_INFO_COLUMNS}
    values.update({"sourceCode": code, "sourceName": name, "mappingStatus": status, "equivalence": equivalence,
                   "conceptId": concept_id, "mappingType": mtype, "ADD_INFO:sourceConceptId": sid,
                   "ADD_INFO:sourceValidStartDate": start, "ADD_INFO:sourceValidEndDate": end,
                   "ADD_INFO:sourceName_fi": name_fi, "ADD_INFO:sourceConceptClass": cls,
                   "ADD_INFO:sourceDomain": "Condition", "domainId": "Condition"})
    return ",".join(values[c] for c in USAGI_COLUMNS + ADD_INFO_COLUMNS)


def _write(tmp_path, rows, header=HEADER, name="x.usagi.csv") -> Path:
    p = tmp_path / name
    p.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return p


GOOD = [
    _row("E11.3+H36.0", '"Diabetes, retinopathy"', concept_id="4226121", name_fi="Diabeettinen retinopatia"),
    _row("S72.00&W19", "Fracture and fall", concept_id="2000000021", sid="2000500002", equivalence="EQUIVALENT"),
    _row("S72.00&W19", "Fracture and fall", concept_id="436583", sid="2000500002", equivalence="WIDER"),
    _row("Z99", "Unchecked", status="UNCHECKED", concept_id="0", sid="2000500003", equivalence="UNREVIEWED"),
    _row("R10", "Value row", concept_id="4181730", sid="2000500004", mtype="MAPS_TO_VALUE"),
]


def test_read_concepts_mappings_equivalence_and_report(tmp_path):
    v = read_usagi(_write(tmp_path, GOOD), "ICD10fi", concept_id_offset=OFFSET, vocabulary_version="v1")
    assert v.concepts["concept_code"].to_pylist() == ["E11.3+H36.0", "S72.00&W19", "Z99", "R10"]
    assert v.concepts["concept_name"][0].as_py() == "Diabetes, retinopathy"  # quoted comma survives
    m = v.mappings.to_pylist()
    assert [(r["source_code"], r["target_concept_id"], r["relationship_id"]) for r in m] == [
        ("E11.3+H36.0", 4226121, "Maps to"), ("S72.00&W19", 2000000021, "Maps to"),
        ("S72.00&W19", 436583, "Maps to"), ("R10", 4181730, "Maps to value")]
    assert v.equivalence()[("S72.00&W19", 436583)] == "WIDER"
    assert v.report["unapproved_rows"] == 1 and v.report["unmapped_codes"] == 1
    assert v.report["status_counts"] == {"APPROVED": 4, "UNCHECKED": 1}


def test_athena_tables(tmp_path):
    v = read_usagi(_write(tmp_path, GOOD), "ICD10fi", concept_id_offset=OFFSET, vocabulary_version="v1")
    t = v.to_athena_tables()
    concept = t["concept"].to_pylist()
    assert [c["concept_id"] for c in concept] == [2000500001, 2000500002, 2000500003, 2000500004]
    assert all(c["standard_concept"] is None and c["vocabulary_id"] == "ICD10fi" for c in concept)
    rel = {(r["concept_id_1"], r["concept_id_2"], r["relationship_id"]) for r in t["concept_relationship"].to_pylist()}
    assert (2000500002, 436583, "Maps to") in rel and (436583, 2000500002, "Mapped from") in rel
    assert (2000500004, 4181730, "Maps to value") in rel and (4181730, 2000500004, "Value mapped from") in rel
    assert not any(r[0] == 2000500003 or r[1] == 2000500003 for r in rel)  # unapproved: no mapping
    syn = t["concept_synonym"].to_pylist()
    assert {"concept_id": 2000500001, "concept_synonym_name": "Diabeettinen retinopatia",
            "language_concept_id": C.LANGUAGE_FINNISH} in syn
    assert sum(s["language_concept_id"] == C.LANGUAGE_ENGLISH for s in syn) == 4
    assert t["vocabulary"].to_pylist()[0]["vocabulary_version"] == "v1"


def test_ids_from_offset_without_add_info(tmp_path):
    header = ",".join(USAGI_COLUMNS)
    rows = [",".join(r.split(",")[:len(USAGI_COLUMNS)]) for r in (_row("A"), _row("B"), _row("A"))]
    p = _write(tmp_path, rows, header)
    v = read_usagi(p, "X", concept_id_offset=2_000_300_000)
    assert v.concepts["concept_id"].to_pylist() == [2_000_300_001, 2_000_300_002]
    with pytest.raises(UsagiFormatError, match="no ADD_INFO:sourceConceptId column and no concept_id_offset"):
        read_usagi(p, "X")


@pytest.mark.parametrize("bad_row, column, message", [
    (_row("B", status="MAYBE", sid="2000500002"), "mappingStatus", "unknown mappingStatus"),
    (_row("B", equivalence="SIMILAR", sid="2000500002"), "equivalence", "unknown equivalence"),
    (_row("B", concept_id="12x", sid="2000500002"), "conceptId", "not an integer"),
    (_row("B", mtype="MAPS_SOMEWHERE", sid="2000500002"), "mappingType", "unknown mappingType"),
    (_row("B", sid="2000500001"), "ADD_INFO:sourceConceptId", "source concept id used for two codes"),
    (_row("A", sid="2000500002"), "ADD_INFO:sourceConceptId", "two source concept ids for one code"),
    (_row("B", sid="2000600002"), "ADD_INFO:sourceConceptId", "outside the block"),
    (_row("B", sid="2000500002", start="2023-02-31"), "ADD_INFO:sourceValidStartDate", "not a date"),
    (_row("B", sid="2000500002", end="31.12.2099"), "ADD_INFO:sourceValidEndDate", "not a date"),
    (_row("B", sid="2000500002", start="2020-01-01", end="2019-01-01"), "ADD_INFO:sourceValidEndDate", "before"),
    (_row("", sid="2000500002"), "sourceCode", "empty sourceCode"),
])
def test_validation_names_file_line_column(tmp_path, bad_row, column, message):
    p = _write(tmp_path, [_row("A"), _row("A", concept_id="320128"), bad_row])
    with pytest.raises(UsagiFormatError) as err:
        read_usagi(p, "ICD10fi", concept_id_offset=OFFSET)
    e = err.value
    assert isinstance(e, ValueError) and e.file == str(p) and e.line == 4 and e.column == column
    assert message in str(e) and "line 4" in str(e) and str(p) in str(e)


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    p = _write(tmp_path, [_row("A", '"two\nlines"'), _row("B", sid="2000500002", status="NOPE")])
    with pytest.raises(UsagiFormatError) as err:
        read_usagi(p, "ICD10fi", concept_id_offset=OFFSET)
    assert err.value.line == 4


def test_missing_required_column(tmp_path):
    p = _write(tmp_path, ["A,n"], header="sourceCode,sourceName")
    with pytest.raises(UsagiFormatError, match=r"missing column\(s\) \['mappingStatus', 'conceptId'\]"):
        read_usagi(p, "X", concept_id_offset=OFFSET)


def test_write_round_trip(tmp_path):
    v = read_usagi(_write(tmp_path, GOOD), "ICD10fi", concept_id_offset=OFFSET)
    out = write_usagi(tmp_path / "out" / "ICD10fi.usagi.csv", v)
    w = read_usagi(out, "ICD10fi", concept_id_offset=OFFSET)
    assert w.concepts.equals(v.concepts) and w.mappings.equals(v.mappings)
    assert out.read_text(encoding="utf-8").splitlines()[0] == HEADER
    # plain Usagi export keeps the mappings (ids then come from the offset in code order)
    plain = read_usagi(write_usagi(tmp_path / "plain.csv", v, extended=False), "ICD10fi", concept_id_offset=OFFSET)
    assert plain.mappings.drop_columns(["line"]).equals(v.mappings.drop_columns(["line"]))


def test_demo_files_round_trip_byte_for_byte(tmp_path):
    for src in read_vocabularies_csv(DEMO_FINOMOP_DIR / "vocabularies.csv"):
        v = read_usagi(src.path, src.vocabulary_id, concept_id_offset=src.offset)
        out = write_usagi(tmp_path / src.path.name, v)
        assert out.read_bytes() == src.path.read_bytes(), src.vocabulary_id


def test_load_site_vocabulary_with_usagi_overlays_and_report(tmp_path):
    con = duckdb.connect()
    p = _write(tmp_path, GOOD[:3] + GOOD[3:4])
    report = load_site_vocabulary(con, usagi_files=[(p, "ICD10test", OFFSET, "v9")],
                                  check_targets=True)
    assert report.usagi_files == (str(p),)
    assert report.vocabulary_versions["ICD10test"] == "v9"
    rows = con.execute("""SELECT source_code, target_concept_id FROM source_to_standard
        WHERE source_vocabulary_id = 'ICD10test' ORDER BY 1, 2""").fetchall()
    assert rows == [("E11.3+H36.0", 4226121), ("S72.00&W19", 436583), ("S72.00&W19", 2000000021)]
    assert "ICD10fi" not in report.vocabulary_versions  # the explicit list replaces the demo Finnish files


def test_missing_target_fails_whole_load(tmp_path):
    p = _write(tmp_path, [_row("A"), _row("B", sid="2000500002", concept_id="999999999")])
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match="mapping target concept 999999999") as err:
        load_site_vocabulary(con, usagi_files=[(p, "T", OFFSET)])
    assert err.value.file == str(p) and err.value.line == 3 and err.value.field == "conceptId"
    assert vocabulary_tables_present(con) == []  # all-or-nothing
    load_site_vocabulary(con, usagi_files=[(p, "T", OFFSET)], check_targets=False)
    assert con.execute("SELECT count(*) FROM concept WHERE vocabulary_id = 'T'").fetchall() == [(2,)]


def test_clash_with_loaded_concept_id(tmp_path):
    p = _write(tmp_path, [_row("A", sid="2000000001")])
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match="duplicate concept_id 2000000001") as err:
        load_site_vocabulary(con, usagi_files=[(p, "T", None)])
    assert err.value.line == 2
    assert vocabulary_tables_present(con) == []


@pytest.mark.skipif(not REFERENCE.exists(), reason=f"FinOMOP reference file {REFERENCE} not present")
def test_real_finomop_icd10fi_file():
    v = read_usagi(REFERENCE, "ICD10fi", concept_id_offset=OFFSET, vocabulary_version="FinOMOP reference")
    # 4,142 rows describe 3,669 distinct source codes (several targets per code)
    assert v.report["rows"] > 4_000 and 3_500 < v.concepts.num_rows < 4_200
    codes = set(v.concepts["concept_code"].to_pylist())
    assert {"A01.0+G01", "D77*A18.8", "G01*A17.0"} <= codes
    assert v.report["finnish_names"] == v.concepts.num_rows
    con = duckdb.connect()
    report = load_site_vocabulary(con, usagi_files=[v], check_targets=False)
    assert report.usagi["ICD10fi"]["concepts"] == v.concepts.num_rows
    n_fi = con.execute("SELECT count(*) FROM concept_synonym WHERE language_concept_id = ?",
                       [C.LANGUAGE_FINNISH]).fetchall()[0][0]
    assert n_fi == v.concepts.num_rows
    approved = con.execute(f"""SELECT count(DISTINCT (concept_id_1, concept_id_2)) FROM concept_relationship
        WHERE relationship_id = 'Maps to' AND concept_id_1 BETWEEN {OFFSET} AND {OFFSET + 99_999}""").fetchall()[0][0]
    assert approved == v.mappings.group_by(["source_concept_id", "target_concept_id"]).aggregate([]).num_rows
    assert con.execute("SELECT concept_id_2 FROM concept_relationship c JOIN concept s "
                       "ON s.concept_id = c.concept_id_1 WHERE s.concept_code = 'A01.0+G01' "
                       "AND relationship_id = 'Maps to'").fetchall() == [(4100102,)]
