"""Reading FHIR inputs: lines and blocks, gzip, documents, file recognition, dates and codings in SQL."""

from __future__ import annotations

import datetime as dt
import gzip
import json

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.fhir_in import identify, stage_fhir
from connectors.fhir_in.read import ndjson_blocks, split_lines
from connectors.fhir_in.sql import codings_sql, register_macros
from connectors.fhir_in.stage import DuplicateSourceName, input_files
from connectors.pseudonym import MissingSiteSecret
from terminology.fhir_profiles import UnknownSite

PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1960-01-01",
           "identifier": [{"system": "http://hospital.example.org/mrn", "value": "1"}]}
CONDITION = {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"},
             "code": {"coding": [{"code": "X"}]}, "recordedDate": "2020-01-01"}


def test_split_lines_numbers_physical_lines_and_skips_blank_ones():
    block = split_lines(b'{"a":1}\r\n\n  \n{"b":2}\n{"c":3}', 10)
    assert block.docs.column("line").to_pylist() == [10, 13, 14]
    assert [t.strip() for t in block.docs.column("text").to_pylist()] == ['{"a":1}', '{"b":2}', '{"c":3}']
    assert (block.blank_lines, block.bad_utf8) == (2, [])


def test_split_lines_refuses_only_the_lines_that_are_not_utf8():
    block = split_lines(b'{"a":"\xe4"}\n{"b":"\xc3\xa4"}\n', 1)
    assert block.bad_utf8 == [1]
    assert block.docs.column("line").to_pylist() == [2]


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    (tmp_path / "a.ndjson").write_bytes(b"\xef\xbb\xbf" + json.dumps(PATIENT).encode() + b"\n")
    (block,) = ndjson_blocks(tmp_path / "a.ndjson")
    assert json.loads(block.docs.column("text")[0].as_py()) == PATIENT


def test_blocks_cut_between_lines_and_keep_numbering(tmp_path):
    lines = [json.dumps({"resourceType": "Patient", "id": f"p{i}", "text": "x" * (i * 7)}) for i in range(200)]
    path = tmp_path / "a.ndjson"
    path.write_text("\n".join(lines), encoding="utf-8")  # no newline at the end
    blocks = list(ndjson_blocks(path, chunk_bytes=512))
    assert len(blocks) > 10
    got = [(n, t.strip()) for b in blocks for n, t in zip(b.docs.column("line").to_pylist(),
                                                        b.docs.column("text").to_pylist())]
    assert got == list(zip(range(1, 201), lines))


def test_gzip_and_plain_stage_alike(tmp_path):
    text = json.dumps(PATIENT) + "\n" + json.dumps(CONDITION) + "\n"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.ndjson").write_text(text, encoding="utf-8")
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "x.ndjson.gz").write_bytes(gzip.compress(text.encode()))
    a = stage_fhir(tmp_path / "plain", tmp_path / "a", "s", validate="none")
    b = stage_fhir(tmp_path / "gz", tmp_path / "b", "s", validate="none")
    assert a.staged == b.staged and sum(a.staged.values()) == 2
    ta = pq.read_table(tmp_path / "a" / "tables" / "fhir_condition").drop(["_source_file"])
    tb = pq.read_table(tmp_path / "b" / "tables" / "fhir_condition").drop(["_source_file"])
    assert ta.equals(tb)


def test_a_json_document_may_be_a_single_resource(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "patient.json").write_text(json.dumps(PATIENT, indent=2), encoding="utf-8")
    (tmp_path / "in" / "cond.json").write_text(json.dumps(CONDITION), encoding="utf-8")
    report = stage_fhir(tmp_path / "in", tmp_path / "st", "s", validate="sample")
    assert report.staged["fhir_patient"] == 1 and report.staged["fhir_condition"] == 1
    rows = pq.read_table(tmp_path / "st" / "tables" / "fhir_patient").to_pylist()
    assert (rows[0]["_source_file"], rows[0]["_row_number"]) == ("patient.json", 0)


@pytest.mark.parametrize("name, kind", [
    ("Patient.ndjson", "fhir_ndjson"), ("1.Observation.NDJSON.gz", "fhir_ndjson"), ("export.jsonl", "fhir_ndjson"),
    ("bundle-0001.json", "fhir_json"), ("msg.json.gz", "fhir_json"), ("readme.txt", None), ("data.csv", None),
    (".hidden.ndjson", None),
])
def test_identify(name, kind):
    got = identify(name)
    assert (got.key if got else None) == kind


def test_input_files(tmp_path):
    for folder in ("tw", "fi"):
        (tmp_path / folder / "_skip").mkdir(parents=True)
        (tmp_path / folder / "Patient.ndjson").write_text("", encoding="utf-8")
        (tmp_path / folder / "_skip" / "Patient.ndjson").write_text("", encoding="utf-8")
        (tmp_path / folder / "notes.txt").write_text("", encoding="utf-8")
    files, unrecognised = input_files(tmp_path / "tw")
    assert [f.source for f in files] == ["Patient.ndjson"] and unrecognised == ["notes.txt"]
    files, _ = input_files([tmp_path / "tw", tmp_path / "fi"])
    assert [f.source for f in files] == ["fi/Patient.ndjson", "tw/Patient.ndjson"]
    with pytest.raises(DuplicateSourceName, match="Patient.ndjson"):
        input_files([tmp_path / "tw" / "Patient.ndjson", tmp_path / "fi" / "Patient.ndjson"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        input_files(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="not a FHIR input"):
        input_files(tmp_path / "tw" / "notes.txt")


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(ValueError, match="validate must be one of"):
        stage_fhir(tmp_path / "in", tmp_path / "st", "s", validate="some")
    with pytest.raises(MissingSiteSecret):
        stage_fhir(tmp_path / "in", tmp_path / "st", "", validate="none")
    with pytest.raises(UnknownSite):
        stage_fhir(tmp_path / "in", tmp_path / "st", "s", site="mars")
    assert not (tmp_path / "st").exists()


def test_progress_reports_every_file(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.ndjson").write_text(json.dumps(PATIENT) + "\n", encoding="utf-8")
    (tmp_path / "in" / "b.ndjson").write_text(json.dumps(CONDITION) + "\n", encoding="utf-8")
    seen: list[tuple] = []
    stage_fhir(tmp_path / "in", tmp_path / "st", "s", validate="none", progress=lambda f, d, t: seen.append((f, d, t)))
    assert {f for f, _, _ in seen} == {"a.ndjson", "b.ndjson"}
    assert all(d == t for _, d, t in seen)


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    register_macros(c)
    yield c
    c.close()


@pytest.mark.parametrize("text, expected", [
    ("2024-01-10", dt.date(2024, 1, 10)), ("2024-01-10T23:30:00+08:00", dt.date(2024, 1, 10)),
    ("2024-01-10T23:30:00.123Z", dt.date(2024, 1, 10)), ("2024-01-10T23:30", dt.date(2024, 1, 10)),
    ("2024-05", dt.date(2024, 5, 1)), ("2024", dt.date(2024, 1, 1)),
    ("2024-02-30", None), ("2024-13-01", None), ("10.01.2024", None), ("20240110", None), ("2024-1-5", None),
    ("2024-01-10T24:00:00Z", None), ("", None), (None, None),
])
def test_fhir_dates(con, text, expected):
    assert con.execute("SELECT cb_fhir_date(?)", [text]).fetchall()[0][0] == expected


def test_codings_choose_the_source_and_the_first_standard_coding(con):
    cc = {
        1: {"coding": [{"system": "http://snomed.info/sct", "code": "1"},
                       {"system": "urn:oid:1.2.246.537.6.1", "code": "E11.9"},
                       {"system": "http://loinc.org", "code": "2"}]},
        2: {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
        3: {"coding": [{"system": "http://x", "code": ""}, {"system": "http://y", "code": "Y"}]},
        4: {"text": " no codings "},
        5: {"text": "x" * 51},
        6: {"coding": [{"system": "http://y"}], "text": ""},
    }
    con.register("cc_in", pa.table({"row_no": list(cc), "role": ["code"] * len(cc),
                                    "cc": [json.dumps(v) for v in cc.values()]}))
    con.execute("""CREATE OR REPLACE TEMP TABLE systems AS SELECT * FROM (VALUES
                   ('http://snomed.info/sct', 'SNOMED', TRUE), ('http://loinc.org', 'LOINC', TRUE),
                   ('urn:oid:1.2.246.537.6.1', 'ICD10fi', FALSE)) t(uri, vocabulary_id, standard)""")
    rows = con.execute(f"SELECT * FROM ({codings_sql('cc_in', 'systems')}) ORDER BY row_no").fetchall()
    con.unregister("cc_in")
    assert rows == [
        (1, "code", "urn:oid:1.2.246.537.6.1", "ICD10fi", "E11.9", "SNOMED", "1"),
        (2, "code", "http://loinc.org", "LOINC", "4548-4", "LOINC", "4548-4"),
        (3, "code", "http://y", None, "Y", None, None),  # a coding without a code is not a coding
        (4, "code", None, None, "no codings", None, None),  # a short text alone: an uncoded source value
    ]  # 5: text too long for an OMOP source value; 6: nothing at all -- no row, the code is missing
