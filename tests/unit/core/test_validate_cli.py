"""`crossbridge validate omop|fhir`: exit status, outputs, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from connectors.warehouse.ddl import ddl
from crossbridge.cli import main

FHIR_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_quality"


@pytest.fixture()
def small_cdm(tmp_path) -> Path:
    db = tmp_path / "cdm.duckdb"
    with duckdb.connect(str(db)) as con:
        for stmt in ddl("duckdb", ["person", "concept"]):
            con.execute(stmt)
        con.execute("INSERT INTO concept VALUES (8507,'MALE','Gender','Gender','Gender','S','M','1970-01-01',"
                    "'2099-12-31',NULL), (0,'No matching concept','Metadata','None','Undefined',NULL,'x',"
                    "'1970-01-01','2099-12-31',NULL)")
        con.execute("INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
                    "ethnicity_concept_id) VALUES (1, 8507, 1980, 0, 0), (2, 999, 1990, 0, 0)")
    return db


def test_validate_omop_writes_json_and_html_and_fails_on_a_fatal_check(small_cdm, tmp_path, capsys):
    out, html = tmp_path / "q.json", tmp_path / "q.html"
    code = main(["validate", "omop", "--omop", f"duckdb:{small_cdm}", "--tables", "person",
                 "--json", str(out), "--html", str(html), "--quiet"])
    doc = json.loads(out.read_text())
    fk = {c["check_id"]: c for c in doc["checks"]}["isForeignKey.person.gender_concept_id"]
    assert (fk["status"], fk["num_violated_rows"], fk["num_denominator_rows"]) == ("failed", 1, 2)
    assert code == 1 and doc["outcome"] == "failed"  # isForeignKey is fatal
    assert "quality failed" in capsys.readouterr().out
    assert "isForeignKey" in html.read_text(encoding="utf-8")


def test_validate_omop_thresholds_can_turn_the_verdict(small_cdm, tmp_path):
    thresholds = tmp_path / "t.toml"
    thresholds.write_text('[all]\n"isForeignKey.person.gender_concept_id" = { threshold = 60 }\n')
    assert main(["validate", "omop", "--omop", str(small_cdm), "--tables", "person", "--quiet",
                 "--thresholds", str(thresholds)]) == 0


@pytest.mark.parametrize("args, message", [
    (["--omop", "csv:/nonexistent/dir"], "is not a directory"),
    (["--omop", "duckdb:/nonexistent.duckdb"], "no DuckDB database"),
    (["--omop", "{db}", "--tables", "persons"], "not OMOP CDM v5.4 tables"),
    (["--omop", "{db}", "--thresholds", "{tmp}/none.toml"], "does not exist"),
])
def test_validate_omop_bad_usage_exits_2(small_cdm, tmp_path, capsys, args, message):
    args = [a.format(db=small_cdm, tmp=tmp_path) for a in args]
    assert main(["validate", "omop", *args]) == 2
    assert message in capsys.readouterr().err


def test_validate_fhir_clean_fixture_and_missing_directory(tmp_path, capsys):
    out = tmp_path / "fhir.json"
    assert main(["validate", "fhir", "--in", str(FHIR_FIXTURES / "taiwan"), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["outcome"] == "passed"
    assert main(["validate", "fhir", "--in", str(tmp_path / "nothing")]) == 2
    assert "crossbridge validate: error" in capsys.readouterr().err
