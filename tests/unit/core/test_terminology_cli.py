"""``crossbridge terminology …`` commands against a workdir with fake site runs (no pipeline run)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crossbridge.cli import main


def _fake_run(workdir: Path, run_id: str, rows: list[tuple]) -> None:
    run = workdir / "runs" / run_id
    (run / "stages").mkdir(parents=True)
    (run / "stages" / "map.json").write_text("{}", encoding="utf-8")
    (run / "summary.json").write_text(json.dumps({"run_id": run_id, "state": "succeeded",
                                                  "finished": "2026-11-21T00:00:00Z"}), encoding="utf-8")
    with duckdb.connect(str(run / "omop.duckdb")) as con:
        con.execute("""CREATE TABLE code_usage (source_table VARCHAR, source_column_group VARCHAR,
                       vocabulary_id VARCHAR, source_code VARCHAR, source_concept_id INTEGER,
                       target_concept_id INTEGER, n_records BIGINT)""")
        con.executemany("INSERT INTO code_usage VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("termcli")
    _fake_run(w, "20260101T000000Z-taiwan-aaaaaa", [("cd", "ICD", "ICD10CM", "E11.9", 0, 0, 1)])
    _fake_run(w, "20260102T000000Z-taiwan-bbbbbb", [("cd", "ICD", "ICD10CM", "E11.9", 1, 201826, 9),
                                                    ("cd", "ICD", "ICD10CM", "T88.59", 0, 0, 3)])
    return w


def test_coverage_writes_json_and_html_from_latest_run(workdir, capsys):
    assert main(["terminology", "coverage", "--workdir", str(workdir), "--top", "5"]) == 0
    out = capsys.readouterr()
    assert "finland: no run" in out.err
    assert "taiwan (run 20260102T000000Z-taiwan-bbbbbb): 75.0% of 12 coded records mapped" in out.out
    report = json.loads((workdir / "reports" / "terminology" / "coverage.json").read_text(encoding="utf-8"))
    v = report["sites"]["taiwan"]["vocabularies"]["ICD10CM"]
    assert (v["records"], v["records_mapped"], v["codes"], v["codes_mapped"]) == (12, 9, 2, 1)
    assert v["top_unmapped"][0]["code"] == "T88.59"
    assert report["runs"]["taiwan"]["run_id"] == "20260102T000000Z-taiwan-bbbbbb"
    assert (workdir / "reports" / "terminology" / "coverage.html").read_text(encoding="utf-8").count("T88.59") == 1


def test_coverage_without_runs_fails_clearly(tmp_path, capsys):
    assert main(["terminology", "coverage", "--workdir", str(tmp_path)]) == 1
    assert "no site has a run" in capsys.readouterr().err


def test_missing_store_is_a_usage_error(tmp_path, workdir, capsys):
    assert main(["terminology", "coverage", "--workdir", str(workdir), "--store", str(tmp_path / "no.duckdb")]) == 2
    assert "does not exist" in capsys.readouterr().err
