"""The quality gate in the site DAGs, its reports, and `crossbridge validate omop` on databases the hub did not write."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from e2e_cli import crossbridge

from validators.dqd import catalogue

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("fixture", ["tw_run", "fi_run"])
def test_site_run_is_validated_and_reported(fixture, request):
    run = request.getfixturevalue(fixture)
    s = run["summary"]
    assert s["state"] == "succeeded", json.dumps(s.get("stages"), indent=1)
    v = s["quality"]["validation"]
    assert v["outcome"] in ("passed", "warn") and v["fatal_failed"] == []
    doc = json.loads(Path(v["quality_json"]).read_text())
    declared = [c.check_id for c in catalogue.declared_checks(sorted(s["rows_out"]))]
    assert [c["check_id"] for c in doc["checks"]] == declared  # every DQD check of every table written
    assert {c["status"] for c in doc["checks"]} <= {"passed", "failed", "not_applicable", "error"}
    assert not [c for c in doc["checks"] if c["status"] == "error"]
    assert doc["overview"]["total"] == len(declared) and doc["overview"]["passed"] > 500
    # staging: one suite per staged table, all passing on clean synthetic data (defects were quarantined)
    assert doc["staging"] and {r["status"] for r in doc["staging"]} == {"passed"}
    assert v["staging"] == {"expectations": len(doc["staging"]), "failed": 0}
    # the reports people read
    page = Path(v["report"]).read_text(encoding="utf-8")
    assert s["run_id"] in page and "<svg" in page
    HTMLParser().feed(page)
    docs_index = Path(v["data_docs"])
    assert docs_index.name == "index.html" and docs_index.is_file()
    pages = list((docs_index.parent / "validations").rglob("*.html"))
    suites = {r["table"] for r in doc["staging"]} | {c["cdm_table"] for c in doc["checks"]
                                                      if c["status"] in ("passed", "failed")}
    assert len(pages) == len(suites)  # one Data Docs page per suite run (staging tables and OMOP tables)
    history = (run["work"] / "quality" / s["site"] / "history.jsonl").read_text().splitlines()
    assert len(history) == 1 and json.loads(history[0])["run_id"] == s["run_id"]
    assert "quality checks (DQD-grade)" in run["proc"].stdout and "quality report:" in run["proc"].stdout


def test_fatal_failure_stops_the_dag_before_load(tw_landing, tmp_path):
    """A site threshold makes an always-failing completeness check fatal: the validate task fails, naming
    the check; load never runs, so no warehouse exists; summary.json and the report say why."""
    thresholds = tmp_path / "thresholds.toml"
    thresholds.write_text('[taiwan]\n"measureValueCompleteness.person.race_source_value" = '
                          '{ threshold = 0, severity = "fatal" }\n')
    work = tmp_path / "work"
    proc = crossbridge("run", "taiwan", "--landing", str(tw_landing), "--workdir", str(work),
                       env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret", "CROSSBRIDGE_QUALITY_THRESHOLDS": str(thresholds)},
                       check=False)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    (run_dir,) = sorted((work / "runs").glob("*-taiwan-*"))
    s = json.loads((run_dir / "summary.json").read_text())
    assert s["state"] == "failed"
    assert s["stages"]["validate"]["state"] == "failed"
    assert "QualityGateFailed" in s["stages"]["validate"]["error"]
    assert "measureValueCompleteness on person.race_source_value" in s["stages"]["validate"]["error"]
    assert "load" not in s["stages"] and not (work / "warehouse").exists()
    assert s["quality"]["outcome"] == "failed"
    assert s["quality"]["validation"]["fatal_failed"] == ["measureValueCompleteness.person.race_source_value"]
    assert Path(s["quality"]["validation"]["report"]).is_file()
    assert "measureValueCompleteness on person.race_source_value" in proc.stdout + proc.stderr


def test_validate_omop_on_the_warehouse_and_on_csv(tw_run, tmp_path):
    warehouse = tw_run["summary"]["warehouse"]
    out, html = tmp_path / "q.json", tmp_path / "q.html"
    proc = crossbridge("validate", "omop", "--omop", warehouse, "--json", str(out), "--html", str(html), check=False)
    doc = json.loads(out.read_text())
    assert proc.returncode == (1 if doc["outcome"] == "failed" else 0)
    assert doc["outcome"] != "failed", [c["check_id"] for c in doc["checks"] if c["status"] == "failed"][:10]
    assert "quality passed" in proc.stdout or "quality warn" in proc.stdout
    page = html.read_text(encoding="utf-8")
    assert doc["database"] in page and "Conformance" in page

    # the same tables as CSV files, one of them damaged: a text value in an integer concept field
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    db = warehouse.removeprefix("duckdb:")
    with duckdb.connect(db, read_only=True) as con:
        for table in ("person", "observation_period", "visit_occurrence", "concept"):
            con.execute(f"COPY {table} TO '{csv_dir / (table.upper() + '.csv')}' (HEADER, DELIMITER '\t')")
        n_person = con.execute("SELECT COUNT(*) FROM person").fetchone()[0]
    lines = (csv_dir / "PERSON.csv").read_text().splitlines()
    header = lines[0].split("\t")
    first = lines[1].split("\t")
    first[header.index("gender_concept_id")] = "MALE"
    lines[1] = "\t".join(first)
    (csv_dir / "PERSON.csv").write_text("\n".join(lines) + "\n")
    out2 = tmp_path / "csv.json"
    proc = crossbridge("validate", "omop", "--omop", f"csv:{csv_dir}", "--tables",
                       "person,observation_period,visit_occurrence", "--json", str(out2), check=False)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    checks = {c["check_id"]: c for c in json.loads(out2.read_text())["checks"]}
    bad = checks["cdmDatatype.person.gender_concept_id"]
    assert (bad["status"], bad["num_violated_rows"], bad["num_denominator_rows"]) == ("failed", 1, n_person)
    assert "cdmDatatype.person.gender_concept_id" in proc.stdout
    assert checks["cdmTable.person"]["status"] == "passed"


def test_validate_omop_refuses_bad_sources(tmp_path):
    proc = crossbridge("validate", "omop", "--omop", f"csv:{tmp_path}", check=False)
    assert proc.returncode == 2 and "no file named after an OMOP CDM table" in proc.stderr
    proc = crossbridge("validate", "omop", "--omop", f"duckdb:{tmp_path / 'missing.duckdb'}", check=False)
    assert proc.returncode == 2 and "no DuckDB database" in proc.stderr
