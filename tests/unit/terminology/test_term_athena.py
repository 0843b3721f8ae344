"""Athena loader: round trip on the demo vocabulary and clear, all-or-nothing failures."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest

from terminology.athena import (
    VOCABULARY_TABLES,
    VocabularyFormatError,
    load_athena,
    vocabulary_tables_present,
)
from terminology.vocabulary import DEMO_ATHENA_DIR, LOCAL_VOCABULARY_DIR


def _data_lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines()) - 1


def _replace_line(path: Path, line_no: int, new_text: str) -> None:
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[line_no - 1] = new_text
    path.write_text("\n".join(lines), encoding="utf-8")


def _line(path: Path, line_no: int) -> str:
    return path.read_text(encoding="utf-8").split("\n")[line_no - 1]


def _assert_nothing_left(con) -> None:
    assert vocabulary_tables_present(con) == []
    views = con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'VIEW'").fetchall()
    assert views == []
    temps = con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall()
    assert temps == []


def test_round_trip_row_counts_and_versions(tmp_path):
    con = duckdb.connect()
    report = load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR])
    for table in VOCABULARY_TABLES:
        expected = 0
        for folder in (DEMO_ATHENA_DIR, LOCAL_VOCABULARY_DIR):
            f = folder / f"{table.upper()}.csv"
            if f.exists():
                expected += _data_lines(f)
        assert report.rows[table] == expected, table
        assert con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0] == expected
    assert report.rows["concept"] > 200
    assert report.vocabulary_versions["NHI Drug"] == "XB demo 2026-11"
    # cdm_source.vocabulary_version is VARCHAR(20) in the CDM: PostgreSQL enforces it
    assert len(report.vocabulary_versions["None"]) <= 20
    assert set(report.vocabulary_versions) >= {"SNOMED", "RxNorm", "LOINC", "ICD9CM", "ICD10CM", "NHI Fee"}


def test_types_and_values_round_trip():
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR])
    types = dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'concept'").fetchall())
    assert types["concept_id"] == "INTEGER"
    assert types["valid_start_date"] == "DATE"
    row = con.execute(
        "SELECT concept_name, domain_id, standard_concept, valid_start_date, valid_end_date, invalid_reason "
        "FROM concept WHERE concept_id = 201826").fetchall()[0]
    assert row == ("Type 2 diabetes mellitus", "Condition", "S", dt.date(1970, 1, 1), dt.date(2099, 12, 31), None)
    # non-standard source concepts have NULL standard_concept, not ''
    n = con.execute("SELECT count(*) FROM concept WHERE standard_concept = ''").fetchall()[0][0]
    assert n == 0
    # Chinese synonyms survive intact
    names = {r[0] for r in con.execute(
        "SELECT concept_synonym_name FROM concept_synonym WHERE language_concept_id = 4182948").fetchall()}
    assert "二甲雙胍" in names and "阿斯匹靈" in names


def test_file_names_case_insensitive_and_optional_files_missing(tmp_path):
    src = tmp_path / "mixed"
    src.mkdir()
    shutil.copy(DEMO_ATHENA_DIR / "CONCEPT.csv", src / "concept.csv")
    shutil.copy(DEMO_ATHENA_DIR / "CONCEPT_RELATIONSHIP.csv", src / "Concept_Relationship.CSV")
    shutil.copy(DEMO_ATHENA_DIR / "VOCABULARY.csv", src / "vocabulary.csv")
    con = duckdb.connect()
    report = load_athena(con, src)
    assert report.rows["concept"] == _data_lines(DEMO_ATHENA_DIR / "CONCEPT.csv")
    for optional in ("concept_ancestor", "concept_synonym", "concept_class", "domain", "relationship",
                     "drug_strength"):
        assert report.rows[optional] == 0
    assert con.execute("SELECT count(*) FROM source_to_standard").fetchall()[0][0] > 0


def test_crlf_line_endings_are_accepted(tmp_path):
    src = tmp_path / "crlf"
    src.mkdir()
    for name in ("CONCEPT.csv", "CONCEPT_RELATIONSHIP.csv", "VOCABULARY.csv"):
        text = (DEMO_ATHENA_DIR / name).read_text(encoding="utf-8")
        (src / name).write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    con = duckdb.connect()
    load_athena(con, src)
    assert con.execute("SELECT invalid_reason FROM concept WHERE concept_id = 8507").fetchall() == [(None,)]
    assert con.execute("SELECT vocabulary_concept_id FROM vocabulary WHERE vocabulary_id = 'SNOMED'"
                       ).fetchall() == [(44819097,)]


@pytest.mark.parametrize(
    "file_name, line_no, mutate, field, message",
    [
        ("CONCEPT.csv", 4, lambda l: l + "\textra", None, "wrong field count"),
        ("CONCEPT.csv", 5, lambda l: "\t".join(l.split("\t")[:-2]), None, "wrong field count"),
        ("CONCEPT.csv", 6, lambda l: "\t".join(["12x4", *l.split("\t")[1:]]), "concept_id", "not an integer"),
        ("CONCEPT.csv", 7, lambda l: "\t".join([*l.split("\t")[:7], "20230231", *l.split("\t")[8:]]),
         "valid_start_date", "not a date"),
        ("CONCEPT.csv", 8, lambda l: "\t".join([*l.split("\t")[:8], "2099-12-31", *l.split("\t")[9:]]),
         "valid_end_date", "not a date"),
        ("CONCEPT_RELATIONSHIP.csv", 3, lambda l: "\t".join(["", *l.split("\t")[1:]]), "concept_id_1",
         "required field is empty"),
        ("CONCEPT_ANCESTOR.csv", 2, lambda l: "\t".join(["9999999999", *l.split("\t")[1:]]),
         "ancestor_concept_id", "not an integer"),
    ],
)
def test_malformed_value_names_file_line_field_and_rolls_back(athena_copy, file_name, line_no, mutate, field,
                                                               message):
    path = athena_copy / file_name
    _replace_line(path, line_no, mutate(_line(path, line_no)))
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError) as err:
        load_athena(con, athena_copy)
    e = err.value
    assert e.file == str(path) and e.line == line_no and e.field == field
    assert message in str(e) and file_name in str(e) and f"line {line_no}" in str(e)
    _assert_nothing_left(con)


def test_wrong_header(athena_copy):
    path = athena_copy / "VOCABULARY.csv"
    _replace_line(path, 1, "vocabulary_id\tvocabulary_name\tvocabulary_version\tvocabulary_reference\t"
                           "vocabulary_concept_id")
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match="wrong header") as err:
        load_athena(con, athena_copy)
    assert err.value.line == 1 and err.value.file == str(path)
    _assert_nothing_left(con)


def test_duplicate_concept_id_in_one_file(athena_copy):
    path = athena_copy / "CONCEPT.csv"
    second = _line(path, 2)
    lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    lines.append(second)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match="duplicate concept_id") as err:
        load_athena(con, athena_copy)
    assert err.value.line == len(lines) and err.value.field == "concept_id"
    assert "line 2" in str(err.value)  # where it was first defined
    _assert_nothing_left(con)


def test_duplicate_concept_id_across_overlay(athena_copy, tmp_path):
    overlay = tmp_path / "overlay"
    shutil.copytree(LOCAL_VOCABULARY_DIR, overlay)
    path = overlay / "CONCEPT.csv"
    clash = _line(athena_copy / "CONCEPT.csv", 2).split("\t")[0]
    fields = _line(path, 3).split("\t")
    _replace_line(path, 3, "\t".join([clash, *fields[1:]]))
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match="duplicate concept_id") as err:
        load_athena(con, athena_copy, overlays=[overlay])
    assert err.value.file == str(path) and err.value.line == 3
    assert str(athena_copy / "CONCEPT.csv") in str(err.value)
    _assert_nothing_left(con)


@pytest.mark.parametrize("missing", ["CONCEPT.csv", "CONCEPT_RELATIONSHIP.csv", "VOCABULARY.csv"])
def test_missing_required_file(athena_copy, missing):
    (athena_copy / missing).unlink()
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError, match=f"missing required file.*{missing}"):
        load_athena(con, athena_copy)
    _assert_nothing_left(con)


def test_existing_tables_need_replace_and_failed_replace_keeps_old(athena_copy):
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    before = con.execute("SELECT count(*) FROM concept").fetchall()[0][0]
    with pytest.raises(VocabularyFormatError, match="already exist"):
        load_athena(con, DEMO_ATHENA_DIR)
    path = athena_copy / "CONCEPT.csv"
    _replace_line(path, 3, _line(path, 3) + "\tboom")
    with pytest.raises(VocabularyFormatError, match="wrong field count"):
        load_athena(con, athena_copy, replace=True)
    # the earlier load is untouched by the failed replace
    assert con.execute("SELECT count(*) FROM concept").fetchall()[0][0] == before
    assert con.execute("SELECT count(*) FROM source_to_standard").fetchall()[0][0] > 0
    report = load_athena(con, DEMO_ATHENA_DIR, overlays=[LOCAL_VOCABULARY_DIR], replace=True)
    assert report.rows["concept"] > before


def test_missing_folder():
    with pytest.raises(VocabularyFormatError, match="does not exist"):
        load_athena(duckdb.connect(), "/nonexistent/athena")
