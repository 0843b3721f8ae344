"""OMOP SOURCE_TO_CONCEPT_MAP export and import (terminology.source_to_concept_map)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.athena import VOCABULARY_TABLES, load_athena
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.source_to_concept_map import (
    STCM_COLUMNS, SourceToConceptMap, SourceToConceptMapError, export_source_to_concept_map,
    read_source_to_concept_map,
)
from terminology.vocabulary import DEMO_ATHENA_DIR, LOCAL_VOCABULARY_DIR, demo_usagi_files

HEADER = list(STCM_COLUMNS)
# a valid row of a new vocabulary 'XB Test' mapping to the demo's Type 2 diabetes mellitus
ROW = ["X1", "2100990001", "XB Test", "Diabetes, type 2", "201826", "SNOMED", "2020-01-01", "2099-12-31", ""]
ROW2 = ["X2", "2100990002", "XB Test", "Hypertension", "320128", "SNOMED", "20200101", "20991231", ""]


def _write(path, rows, header=HEADER, delimiter="\t"):
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


def _pairs(con, vocabulary_id):
    return con.execute("""SELECT source_code, source_concept_id, target_concept_id FROM source_to_standard
                          WHERE source_vocabulary_id = ? ORDER BY ALL""", [vocabulary_id]).fetchall()


@pytest.fixture(scope="module")
def athena_con():
    """Only the demo Athena stand-in: NHI and Finnish vocabularies absent."""
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    yield con
    con.close()


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------
def test_export_rows_dates_and_report(demo_con, tmp_path):
    path = tmp_path / "stcm.tsv"
    report = export_source_to_concept_map(demo_con, ["NHI Drug", "ICPC"], path)
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == "\t".join(HEADER)
    assert lines[1] == ("-30\t2002000022\tICPC\tMedical examination/health evaluation - complete\t0\tNone\t"
                        "1970-01-01\t2099-12-31\t")
    assert "AC46525100\t2100000001\tNHI Drug\tMETFORMIN 500MG\t1503297\tRxNorm\t1970-01-01\t2099-12-31\t" in lines
    assert report == {"path": str(path), "rows": 47, "codes": 47, "mapped_codes": 43, "unmapped_codes": 4,
                      "bytes": len(text.encode()), "sha256": hashlib.sha256(text.encode()).hexdigest(),
                      "vocabularies": {"ICPC": 25, "NHI Drug": 22}}
    # sorted by vocabulary, code, target
    keys = [tuple(ln.split("\t")[i] for i in (2, 0)) for ln in lines[1:-1]]
    assert keys == sorted(keys)


def test_export_without_unmapped_and_with_commas(demo_con, tmp_path):
    report = export_source_to_concept_map(demo_con, ["ICPC"], tmp_path / "m.csv", delimiter=",",
                                          include_unmapped=False)
    assert (report["rows"], report["codes"], report["unmapped_codes"]) == (21, 21, 0)
    assert (tmp_path / "m.csv").read_text().startswith(",".join(HEADER) + "\n")


def test_export_quotes_values_that_need_it_and_reads_them_back(tmp_path):
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    con.execute("""UPDATE concept SET concept_name = 'Type 2, "non-insulin"' || chr(10) || 'dependent'
                   WHERE vocabulary_id = 'ICD10CM' AND concept_code = 'E11.9'""")
    for delimiter in (",", "\t"):
        path = tmp_path / f"q{ord(delimiter)}.csv"
        export_source_to_concept_map(con, ["ICD10CM"], path, delimiter=delimiter)
        rows = read_source_to_concept_map(path).rows
        codes = rows["source_code"].to_pylist()
        got = dict(zip(codes, rows["source_code_description"].to_pylist()))
        assert got["E11.9"] == 'Type 2, "non-insulin"\ndependent'
        # the quoted line break shifts the physical line of every later row by one
        i = codes.index("E11.9")
        assert rows["_line"].to_pylist() == [n + 2 + (n > i) for n in range(rows.num_rows)]


def test_export_errors(demo_con, tmp_path):
    with pytest.raises(UnknownCodeSystem, match="'NHI Drugs'"):
        export_source_to_concept_map(demo_con, ["NHI Drugs"], tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="delimiter"):
        export_source_to_concept_map(demo_con, ["NHI Drug"], tmp_path / "x.tsv", delimiter=";")
    with pytest.raises(ValueError, match="no vocabulary_ids"):
        export_source_to_concept_map(demo_con, [], tmp_path / "x.tsv")


def test_export_rejects_values_wider_than_the_cdm(tmp_path):
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    con.execute("UPDATE concept SET concept_code = repeat('9', 51) WHERE concept_id = 2100400001")
    with pytest.raises(VocabularyFormatError, match="ICD10CM concept 2100400001 .*source_code is longer than the 50"):
        export_source_to_concept_map(con, ["ICD10CM"], tmp_path / "w.tsv")
    assert not (tmp_path / "w.tsv").exists()


# ---------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------
def test_nhi_drug_round_trip_into_a_store_without_it(demo_con, athena_con, tmp_path):
    path = tmp_path / "nhi_drug.tsv"
    export_source_to_concept_map(demo_con, ["NHI Drug"], path)
    builder = read_source_to_concept_map(path, vocabulary_name="NHI drug codes", vocabulary_version="v9")
    assert isinstance(builder, SourceToConceptMap) and builder.rows.num_rows == 22
    overlay = builder(athena_con)
    assert overlay.new_vocabularies == ("NHI Drug",)
    assert overlay.report == {"rows": 22, "codes": 22, "mapped": 22, "unmapped": 0, "mappings": 22, "concepts": 22,
                              "new_vocabularies": ["NHI Drug"], "existing_vocabularies": []}
    assert overlay.equivalence.num_rows == 0
    assert overlay.tables["concept_relationship"].num_rows == 44
    assert overlay.tables["vocabulary"].to_pylist() == [{
        "vocabulary_id": "NHI Drug", "vocabulary_name": "NHI drug codes", "vocabulary_reference": "nhi_drug.tsv",
        "vocabulary_version": "v9", "vocabulary_concept_id": 0}]
    concept = overlay.tables["concept"].to_pylist()[0]
    assert concept == {"concept_id": 2100000001, "concept_name": "METFORMIN 500MG", "domain_id": "Drug",
                       "vocabulary_id": "NHI Drug", "concept_class_id": "Undefined", "standard_concept": None,
                       "concept_code": "AC46525100", "valid_start_date": dt.date(1970, 1, 1),
                       "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None}
    # apply the overlay by inserting its tables
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    con.execute("BEGIN")
    for table, arrow in overlay.tables.items():
        cols = ", ".join(c for c, _, _ in VOCABULARY_TABLES[table])
        where = " WHERE concept_class_id NOT IN (SELECT concept_class_id FROM concept_class)" \
            if table == "concept_class" else ""
        con.register("ov", arrow)
        con.execute(f"INSERT INTO {table} SELECT {cols} FROM ov{where}")
        con.unregister("ov")
    con.execute("COMMIT")
    assert _pairs(con, "NHI Drug") == _pairs(demo_con, "NHI Drug")
    assert len(_pairs(con, "NHI Drug")) == 22


def test_round_trip_through_the_loader_with_generated_ids(demo_con, tmp_path):
    path = tmp_path / "icd10fi.tsv"
    export_source_to_concept_map(demo_con, ["ICD10fi"], path)
    rows = list(csv.reader(path.open(encoding="utf-8"), delimiter="\t"))
    for r in rows[1:]:
        r[1] = "0"
    _write(path, rows[1:])
    with pytest.raises(SourceToConceptMapError, match="no concept_id_offset was given") as err:
        load_athena(duckdb.connect(), DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR],
                    imports=[read_source_to_concept_map(path)])
    assert (err.value.line, err.value.field) == (2, "source_concept_id")
    con = duckdb.connect()
    report = load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR],
                         imports=[read_source_to_concept_map(path, concept_id_offset=2_000_500_000)])
    assert report.import_reports[str(path)]["mapped"] == 40
    got = {(c, t) for c, _, t in _pairs(con, "ICD10fi")}
    assert got == {(c, t) for c, _, t in _pairs(demo_con, "ICD10fi")} and len(got) == 41
    # ids: offset + position of the code's first appearance (the export is sorted by code)
    ids = con.execute("SELECT concept_code, concept_id FROM concept WHERE vocabulary_id = 'ICD10fi' "
                      "ORDER BY concept_id LIMIT 2").fetchall()
    assert ids == [(rows[1][0], 2_000_500_001), (rows[2][0], 2_000_500_002)]


def test_mappings_added_to_a_loaded_vocabulary(demo_con, tmp_path):
    path = _write(tmp_path / "icpc.tsv", [
        ["-30", "0", "ICPC", "", "4281232", "SNOMED", "2021-01-01", "2099-12-31", ""],
        ["-31", "2002000023", "ICPC", "", "0", "None", "2021-01-01", "2099-12-31", ""]])
    overlay = read_source_to_concept_map(path)(demo_con)
    assert overlay.new_vocabularies == ()
    assert overlay.tables["concept"].num_rows == 0 and "vocabulary" not in overlay.tables
    assert overlay.tables["concept_relationship"].to_pylist() == [
        {"concept_id_1": 4281232, "concept_id_2": 2002000022, "relationship_id": "Mapped from",
         "valid_start_date": dt.date(2021, 1, 1), "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None},
        {"concept_id_1": 2002000022, "concept_id_2": 4281232, "relationship_id": "Maps to",
         "valid_start_date": dt.date(2021, 1, 1), "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None}]
    assert overlay.report["mapped"] == 1 and overlay.report["unmapped"] == 1
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR], usagi_files=demo_usagi_files(),
                imports=[read_source_to_concept_map(path)])
    assert [p for p in _pairs(con, "ICPC") if p[0] in ("-30", "-31")] == [("-30", 2002000022, 4281232)]


# ---------------------------------------------------------------------------
# errors when reading the file
# ---------------------------------------------------------------------------
def _replace(row, **kw):
    out = list(row)
    for k, v in kw.items():
        out[HEADER.index(k)] = v
    return out


@pytest.mark.parametrize(("rows", "line", "column", "message"), [
    ([_replace(ROW, source_code="")], 2, "source_code", "required value is empty"),
    ([_replace(ROW, source_vocabulary_id=" ")], 2, "source_vocabulary_id", "required value is empty"),
    ([ROW2, _replace(ROW, source_concept_id="12a")], 3, "source_concept_id", "not an integer"),
    ([_replace(ROW, target_concept_id="3000000000")], 2, "target_concept_id", "not an integer \\(32-bit\\)"),
    ([_replace(ROW, source_concept_id="-5")], 2, "source_concept_id", "negative concept id"),
    ([_replace(ROW, valid_start_date="2023-02-31")], 2, "valid_start_date", "not a date"),
    ([_replace(ROW, valid_end_date="2023/01/01")], 2, "valid_end_date", "not a date"),
    ([_replace(ROW, valid_end_date="2019-12-31")], 2, "valid_end_date", "valid_end_date before valid_start_date"),
    ([_replace(ROW, invalid_reason="X")], 2, "invalid_reason", "must be D, U or empty"),
    ([_replace(ROW, target_concept_id="0")], 2, "target_vocabulary_id", "needs target_vocabulary_id 'None'"),
    ([ROW, ROW2, _replace(ROW, source_code_description="again")], 4, "target_concept_id",
     "duplicate mapping XB Test 'X1' -> 201826 \\(first at line 2\\)"),
    ([ROW, _replace(ROW, source_concept_id="2100990009", target_concept_id="320128")], 3, "source_concept_id",
     "two source_concept_ids for XB Test 'X1': 2100990001 \\(line 2\\) and 2100990009"),
    ([ROW, _replace(ROW2, source_concept_id="2100990001")], 3, "source_concept_id",
     "source_concept_id 2100990001 is used for two codes \\(first XB Test 'X1' at line 2\\)"),
    ([ROW, _replace(ROW, target_concept_id="0", target_vocabulary_id="None")], 3, "target_concept_id",
     "both unmapped"),
    ([_replace(ROW, source_code="9" * 51)], 2, "source_code", "longer than 50 characters"),
    ([_replace(ROW, source_vocabulary_id="V" * 21)], 2, "source_vocabulary_id", "longer than 20"),
])
def test_file_errors_name_line_and_column(tmp_path, rows, line, column, message):
    path = _write(tmp_path / "bad.tsv", rows)
    with pytest.raises(SourceToConceptMapError, match=message) as err:
        read_source_to_concept_map(path)
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, column)
    assert f"line {line}, column {column}" in str(err.value)


def test_header_and_file_errors(tmp_path):
    with pytest.raises(SourceToConceptMapError, match="missing column\\(s\\) \\['target_vocabulary_id'\\]") as err:
        read_source_to_concept_map(_write(tmp_path / "a.tsv", [ROW[:5] + ROW[6:]],
                                          [h for h in HEADER if h != "target_vocabulary_id"]))
    assert (err.value.line, err.value.field) == (1, "target_vocabulary_id")
    with pytest.raises(SourceToConceptMapError, match="duplicate column"):
        read_source_to_concept_map(_write(tmp_path / "b.tsv", [ROW + ["X1"]], HEADER + ["SOURCE_CODE"]))
    (tmp_path / "c.txt").write_text("source_code;target_concept_id\n")
    with pytest.raises(SourceToConceptMapError, match="neither a tab nor a comma"):
        read_source_to_concept_map(tmp_path / "c.txt")
    (tmp_path / "d.tsv").write_text("")
    with pytest.raises(SourceToConceptMapError, match="empty file"):
        read_source_to_concept_map(tmp_path / "d.tsv")
    with pytest.raises(SourceToConceptMapError, match="does not exist"):
        read_source_to_concept_map(tmp_path / "none.tsv")
    (tmp_path / "e.tsv").write_text("\t".join(HEADER) + "\n" + "\t".join(ROW[:4]) + "\n")
    with pytest.raises(SourceToConceptMapError, match="not a readable TSV file"):
        read_source_to_concept_map(tmp_path / "e.tsv")
    with pytest.raises(ValueError, match="concept_id_offset must be >= 2000000000"):
        read_source_to_concept_map(_write(tmp_path / "f.tsv", [ROW]), concept_id_offset=5)


def test_optional_columns_may_be_absent_and_extra_columns_are_ignored(tmp_path):
    header = [h for h in HEADER if h not in ("source_code_description", "invalid_reason")] + ["comment"]
    row = [ROW[0], ROW[1], ROW[2], ROW[4], ROW[5], ROW[6], ROW[7], "note"]
    rows = read_source_to_concept_map(_write(tmp_path / "o.csv", [row], header, ",")).rows
    assert rows.to_pylist() == [{
        "source_code": "X1", "source_concept_id": 2100990001, "source_vocabulary_id": "XB Test",
        "source_code_description": None, "target_concept_id": 201826, "target_vocabulary_id": "SNOMED",
        "valid_start_date": dt.date(2020, 1, 1), "valid_end_date": dt.date(2099, 12, 31), "invalid_reason": None,
        "_line": 2}]


# ---------------------------------------------------------------------------
# errors when building against the store
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(("rows", "kwargs", "line", "column", "message"), [
    ([ROW, _replace(ROW2, target_concept_id="999999999")], {}, 3, "target_concept_id",
     "target concept 999999999 is not in the store"),
    ([_replace(ROW, target_concept_id="2100400001", target_vocabulary_id="ICD10CM")], {}, 2, "target_concept_id",
     "target concept 2100400001 \\(ICD10CM 'E11.9'\\) is not a standard concept"),
    ([_replace(ROW, target_vocabulary_id="RxNorm")], {}, 2, "target_vocabulary_id",
     "target concept 201826 belongs to vocabulary 'SNOMED', not 'RxNorm'"),
    ([_replace(ROW, source_concept_id="1999999999")], {}, 2, "source_concept_id", "must be >= 2000000000"),
    ([ROW], {"concept_id_offset": 2_101_000_000}, 2, "source_concept_id",
     "source_concept_id 2100990001 lies outside the block 2101000000..2101099999"),
    ([_replace(ROW, source_concept_id="2100400001")], {}, 2, "source_concept_id",
     "concept id 2100400001 is already used in the store \\(ICD10CM 'E11.9'\\)"),
    ([_replace(ROW, source_concept_id="2100990002"), _replace(ROW2, source_concept_id="0")],
     {"concept_id_offset": 2_100_990_000}, 3, "source_concept_id", "concept id 2100990002 is given to two codes"),
    ([_replace(ROW, source_vocabulary_id="ICD10CM", source_code="E99")], {}, 2, "source_code",
     "code 'E99' is not in vocabulary 'ICD10CM', which is already loaded"),
    ([_replace(ROW, source_vocabulary_id="ICD10CM", source_code="E11.9", source_concept_id="2100400002")], {}, 2,
     "source_concept_id", "source_concept_id 2100400002 of ICD10CM 'E11.9' differs from the store's concept "
                          "2100400001"),
    ([_replace(ROW, source_vocabulary_id="ICD10CM", source_code="E11.9", source_concept_id="0")], {}, 2,
     "target_concept_id", "mapping 2100400001 -> 201826 \\('Maps to'\\) is already in the store"),
])
def test_store_errors_name_line_and_column(athena_con, tmp_path, rows, kwargs, line, column, message):
    builder = read_source_to_concept_map(_write(tmp_path / "s.tsv", rows), **kwargs)
    with pytest.raises(SourceToConceptMapError, match=message) as err:
        builder(athena_con)
    assert (err.value.line, err.value.field) == (line, column)


def test_vocabulary_name_needs_exactly_one_new_vocabulary(athena_con, tmp_path):
    path = _write(tmp_path / "two.tsv", [ROW, _replace(ROW2, source_vocabulary_id="XB Other")])
    with pytest.raises(SourceToConceptMapError, match="file defines 2 new vocabularies \\(XB Other, XB Test\\)"):
        read_source_to_concept_map(path, vocabulary_name="Test")(athena_con)
    overlay = read_source_to_concept_map(path)(athena_con)
    assert overlay.new_vocabularies == ("XB Other", "XB Test")
    assert overlay.tables["vocabulary"]["vocabulary_name"].to_pylist() == ["XB Other", "XB Test"]


def test_loader_rolls_back_on_a_bad_import(tmp_path):
    con = duckdb.connect()
    path = _write(tmp_path / "bad.tsv", [ROW, _replace(ROW2, target_concept_id="999999999")])
    with pytest.raises(SourceToConceptMapError, match="line 3"):
        load_athena(con, DEMO_ATHENA_DIR, imports=[read_source_to_concept_map(path)])
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'concept'"
                       ).fetchall()[0][0] == 0


# ---------------------------------------------------------------------------
# parser property: generated valid files read back as written
# ---------------------------------------------------------------------------
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
                max_size=12)
_desc = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"), include_characters="\n\t"),
                max_size=20).map(str.strip)
_date = st.dates(dt.date(1900, 1, 1), dt.date(2099, 12, 31))


@st.composite
def _stcm_rows(draw):
    codes = draw(st.lists(_text.filter(lambda s: len(s) <= 50), min_size=1, max_size=6, unique=True))
    out = []
    for i, code in enumerate(codes):
        sid = draw(st.sampled_from([0, 2_100_990_001 + i]))
        vocab = draw(st.sampled_from(["XB Test", "XB Other"]))
        targets = draw(st.lists(st.integers(1, 2**31 - 1), min_size=0, max_size=3, unique=True)) or [0]
        for t in targets:
            start = draw(_date)
            end = draw(st.dates(start, dt.date(2099, 12, 31)))
            out.append((code, sid, vocab, draw(_desc), t, "None" if t == 0 else "SNOMED", start, end,
                        draw(st.sampled_from(["", "D", "U"]))))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=_stcm_rows(), delimiter=st.sampled_from([",", "\t"]), compact=st.booleans())
def test_generated_files_read_back(tmp_path, rows, delimiter, compact):
    fmt = "%Y%m%d" if compact else "%Y-%m-%d"
    written = [[c, str(s), v, d, str(t), tv, a.strftime(fmt), b.strftime(fmt), r]
               for c, s, v, d, t, tv, a, b, r in rows]
    path = _write(tmp_path / "gen.csv", written, delimiter=delimiter)
    got = read_source_to_concept_map(path).rows
    assert got.column_names == [*HEADER, "_line"]
    assert [tuple(r.values())[:-1] for r in got.to_pylist()] == [
        (c, s, v, d or None, t, tv, a, b, r or None) for c, s, v, d, t, tv, a, b, r in rows]
    # physical lines: a quoted description may hold line breaks
    expected, line = [], 2
    for row in rows:
        expected.append(line)
        line += 1 + row[3].count("\n")
    assert got["_line"].to_pylist() == expected
