"""Flattening a FHIR NDJSON export into DuckDB: tables, sampling, national-ID scan, read errors (no GX)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.finland.hetu import check_char
from connectors.taiwan.national_id import LETTER_VALUES, check_digit
from validators.fhir_flatten import (
    FhirExportError,
    count_national_ids,
    file_resource_type,
    flatten_export,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "fhir_quality"


def _write(path: Path, rows: list[dict | str], newline: str = "\n") -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + newline for r in rows), encoding="utf-8")


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _patients(n: int) -> list[dict]:
    return [{"resourceType": "Patient", "id": f"p{i}", "gender": "female"} for i in range(n)]


def test_fixture_tables(tmp_path):
    db = tmp_path / "f.duckdb"
    summary = flatten_export(FIXTURES / "taiwan", db)
    assert summary.lines == 13 and summary.malformed == 0 and summary.validated == 13
    assert len(summary.files) == 10
    assert _query(db, "SELECT count(*) FROM resource WHERE valid AND json_ok AND national_id_count = 0") == [(13,)]
    kinds = dict(_query(db, "SELECT kind, count(*) FROM reference GROUP BY 1"))
    assert kinds == {"relative": 24, "contained": 1, "absolute": 1}
    # the MedicationDispense quantity (UCUM) is a Quantity, not a Coding
    assert _query(db, "SELECT count(*) FROM coding WHERE system = 'http://unitsofmeasure.org'") == [(0,)]
    assert _query(db, "SELECT contained_id FROM contained") == [("med1",)]
    assert _query(db, "SELECT identifier_systems FROM resource WHERE id = 'pat-tw-1'") == [
        (["urn:crossbridge:pseudonym:taiwan"],)]
    tables = {t for (t,) in _query(db, "SELECT table_name FROM information_schema.tables")}
    assert tables == {"resource", "profile", "identifier", "coding", "reference", "contained", "known_system"}


def test_line_numbers_survive_blank_lines_and_crlf(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    (src / "Patient.ndjson").write_text(
        json.dumps(_patients(1)[0]) + "\r\n\r\n" + json.dumps(_patients(2)[1]) + "\r\n", encoding="utf-8")
    db = tmp_path / "f.duckdb"
    flatten_export(src, db)
    assert _query(db, "SELECT id, line, valid FROM resource ORDER BY line") == [("p0", 1, True), ("p1", 3, True)]


def test_malformed_and_mismatched_lines_are_rows_not_crashes(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    _write(src / "Encounter.ndjson", [
        '{"resourceType": "Encounter", "id": ',  # truncated
        "[1, 2]",  # JSON, not an object
        {"resourceType": "Patient", "id": "p1"},  # wrong file
        {"id": "x1"},  # no resourceType
        {"resourceType": "Foo", "id": "x2"},  # not a resource type, yet named like one
    ])
    db = tmp_path / "f.duckdb"
    summary = flatten_export(src, db)
    assert summary.malformed == 2 and summary.validated == 0  # pre-check failures skip the model
    rows = _query(db, "SELECT line, resource_type, json_ok, valid, error FROM resource ORDER BY line")
    assert [r[:4] for r in rows] == [(1, "Encounter", False, False), (2, "Encounter", False, False),
                                     (3, "Patient", True, False), (4, "Encounter", True, False),
                                     (5, "Foo", True, False)]
    assert rows[0][4] == rows[1][4] == "malformed JSON line (not a JSON object)"
    assert rows[2][4] == "resourceType Patient in file of Encounter"
    assert rows[3][4] == "resourceType missing or not a string"
    assert rows[4][4] == "resourceType Foo in file of Encounter"


def test_fhir_errors_name_the_element_and_never_the_value(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    _write(src / "Patient.ndjson", [
        {"resourceType": "Patient", "id": "p1", "birthDate": "A123456789"},
        {"resourceType": "Patient", "id": "p2", "active": "maybe", "gender": 3},
        {"resourceType": "Foo", "id": "p3"},
    ])
    _write(src / "1.Foo.ndjson", [{"resourceType": "Foo", "id": "f1"}])
    db = tmp_path / "f.duckdb"
    flatten_export(src, db)
    rows = dict(_query(db, "SELECT id, error FROM resource WHERE file = 'Patient.ndjson'"))
    assert rows["p1"].startswith("birthDate: ") and "A123456789" not in rows["p1"]
    assert rows["p2"].startswith("active: ") and rows["p2"].endswith("(+1 more)")
    assert rows["p3"] == "resourceType Foo in file of Patient"
    assert _query(db, "SELECT error FROM resource WHERE file = '1.Foo.ndjson'") == [
        ("resourceType Foo is not a FHIR R4 resource",)]
    assert _query(db, "SELECT national_id_count FROM resource WHERE id = 'p1'") == [(1,)]


def test_sample_is_exact_and_deterministic(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    _write(src / "Patient.ndjson", _patients(60))

    def sampled(seed: int, size: int = 7) -> set[str]:
        db = tmp_path / f"s{seed}-{size}.duckdb"
        summary = flatten_export(src, db, validate="sample", sample_size=size, seed=seed)
        ids = {i for (i,) in _query(db, "SELECT id FROM resource WHERE validated")}
        assert summary.validated == len(ids)
        assert _query(db, "SELECT count(*) FROM resource WHERE NOT validated AND valid IS NULL") == [(60 - len(ids),)]
        return ids

    first = sampled(0)
    assert len(first) == 7
    assert sampled(0) == first
    moved = tmp_path / "elsewhere"
    shutil.copytree(src, moved)  # the sample depends on file names and lines, not on the directory
    db = tmp_path / "moved.duckdb"
    flatten_export(moved, db, validate="sample", sample_size=7, seed=0)
    assert {i for (i,) in _query(db, "SELECT id FROM resource WHERE validated")} == first
    assert sampled(1) != first
    assert len(sampled(0, size=1000)) == 60


def test_sample_still_reports_precheck_failures(tmp_path):
    src = tmp_path / "export"
    src.mkdir()
    _write(src / "Patient.ndjson", [*_patients(20), "{not json"])
    db = tmp_path / "f.duckdb"
    summary = flatten_export(src, db, validate="sample", sample_size=3)
    assert summary.validated == 3 and summary.malformed == 1
    assert _query(db, "SELECT count(*) FROM resource WHERE validated") == [(4,)]  # 3 sampled + the malformed line


@pytest.mark.parametrize("kwargs, message", [
    ({"validate": "some"}, "validate must be one of"),
    ({"validate": "sample", "sample_size": 0}, "sample_size must be a positive integer"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        flatten_export(FIXTURES / "taiwan", tmp_path / "f.duckdb", **kwargs)


def test_unreadable_exports(tmp_path):
    with pytest.raises(FhirExportError, match="does not exist"):
        flatten_export(tmp_path / "missing", tmp_path / "f.duckdb")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(FhirExportError, match="no .ndjson files"):
        flatten_export(tmp_path / "empty", tmp_path / "f.duckdb")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Patient.ndjson").write_bytes(b'{"resourceType": "Patient", "id": "\xff\xfe"}\n')
    with pytest.raises(FhirExportError, match="Patient.ndjson"):
        flatten_export(tmp_path / "bad", tmp_path / "f.duckdb")


@pytest.mark.parametrize("name, expected", [
    ("Patient.ndjson", "Patient"), ("1.Patient.ndjson", "Patient"), ("Observation_002.ndjson", "Observation"),
    ("export.ndjson", None), ("42.ndjson", None),
])
def test_file_resource_type(name, expected):
    assert file_resource_type(name) == expected


# --- national identifiers in free text (hypothesis) -------------------------------------------

def test_code_values_are_not_identifiers():
    nhi = "AC45856105"  # an NHI drug code that passes the old resident-certificate check (as 1 in 10 do)
    texts = [f'{{"code":"{nhi}"}}', f'{{"code" : "{nhi}"}}', f'{{"text":"{nhi}"}}', f'{{"code":"x\\"{nhi}"}}']
    assert count_national_ids(texts).tolist() == [0, 0, 1, 1]  # an escaped quote ends the exemption



_TW = st.builds(lambda letter, sex, body: (lambda p: p + check_digit(p))(f"{letter}{sex}{body:07d}"),
                st.sampled_from(sorted(LETTER_VALUES)), st.sampled_from("12"), st.integers(0, 9_999_999))
_HETU = st.builds(lambda d, m, y, sign, n: (lambda a, b: f"{a}{sign}{b}{check_char(a, b)}")(
    f"{d:02d}{m:02d}{y:02d}", f"{n:03d}"),
    st.integers(1, 28), st.integers(1, 12), st.integers(0, 99), st.sampled_from("-AYB"), st.integers(2, 899))
_FILLER = st.text(alphabet="abcdefxyz 0123", max_size=12)  # lower case: cannot form either identifier
_SEP = st.sampled_from([" ", ", ", '"', ":", "\n", "/"])


@settings(max_examples=15, deadline=None)
@given(st.lists(st.lists(st.tuples(st.sampled_from(["tw", "fi", "text"]), _TW, _HETU, _FILLER, _SEP), max_size=8),
                min_size=1, max_size=10))
def test_count_national_ids_finds_every_valid_identifier(texts):
    built, expected = [], []
    for parts in texts:  # one DuckDB scan for all texts of an example
        text, n = "", 0
        for kind, tw, hetu, filler, sep in parts:
            text += sep + {"tw": tw, "fi": hetu, "text": filler}[kind] + sep
            n += kind != "text"
        built.append(text)
        expected.append(n)
    assert count_national_ids(built).tolist() == expected


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(_TW, _HETU), min_size=1, max_size=10))
def test_count_national_ids_ignores_wrong_check_digits_and_glued_text(pairs):
    texts, expected = [], []
    for tw, hetu in pairs:
        bad_tw = tw[:-1] + str((int(tw[-1]) + 1) % 10)
        bad_hetu = hetu[:-1] + ("0" if hetu[-1] != "0" else "1")
        texts += [f"id {bad_tw} and {bad_hetu}", f"x{tw}", f"{hetu}9", None, f"[{tw}] ({hetu})"]
        expected += [0, 0, 0, 0, 2]
    assert count_national_ids(texts).tolist() == expected
