"""The Taiwan DAG end to end on synthetic data with injected defects."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import duckdb
import pytest

from e2e_cli import crossbridge

from connectors.taiwan import layout

pytestmark = pytest.mark.slow


def test_dag_run_succeeds_and_reconciles(tw_run):
    s = tw_run["summary"]
    assert s["state"] == "succeeded", json.dumps(s.get("stages"), indent=1) + tw_run["proc"].stderr[-3000:]
    assert s["reconciled"] is True, s["reconciliation_problems"]
    assert s["quality"]["outcome"] in ("passed", "warn")
    for key in ("run_id", "site", "started", "finished", "stage_seconds", "rows_in", "rows_quarantined",
                "rows_out", "coverage", "warehouse", "quality", "reconciled"):
        assert key in s, key
    assert set(s["stage_seconds"]) == {"extract", "stage", "map", "validate", "load", "export_fhir", "summarise"}
    for table in ("person", "observation_period", "visit_occurrence", "condition_occurrence",
                  "drug_exposure", "death", "care_site", "cdm_source", "specimen"):
        assert s["rows_out"].get(table, 0) > 0, table
    assert "Run " in tw_run["proc"].stdout and "person" in tw_run["proc"].stdout


def test_counts_add_up_per_file_from_the_files_themselves(tw_run, tw_landing):
    """Independent of the summary code: count raw data lines, then look for each one."""
    s = tw_run["summary"]
    staging = tw_run["dir"] / "staging"
    con = duckdb.connect()
    seen = {}
    for sub, col in (("tables", "_source_file"), ("quarantine", "source_file"), ("merged", "source_file")):
        if any((staging / sub).rglob("*.parquet")):
            for name, n in con.execute(
                f"SELECT {col}, count(*) FROM read_parquet('{staging / sub}/**/*.parquet', union_by_name=true) "
                f"GROUP BY 1").fetchall():
                seen[name] = seen.get(name, 0) + n
    for path in sorted(tw_landing.glob("*.csv")):
        data_lines = path.read_bytes().count(b"\n") - 1
        assert s["rows_in"][path.name] == data_lines, path.name
        assert seen.get(path.name, 0) == data_lines, path.name


def test_every_injected_defect_is_caught_at_the_right_stage(tw_run, tw_landing):
    staging = tw_run["dir"] / "staging"
    con = duckdb.connect()
    quarantined = {
        (f, int(r)): reason for f, r, reason in con.execute(
            f"SELECT source_file, row_number, reason FROM read_parquet('{staging}/quarantine/**/*.parquet', "
            f"union_by_name=true)").fetchall()
    }
    con.execute(f"ATTACH '{tw_run['dir'] / 'omop.duckdb'}' AS w (READ_ONLY)")
    unmapped = {code for (code,) in con.execute(
        "SELECT DISTINCT source_code FROM w.code_usage WHERE target_concept_id = 0").fetchall()}
    with open(tw_landing / "_ground_truth" / "defects.csv", newline="", encoding="utf-8") as fh:
        defects = list(csv.DictReader(fh))
    assert len(defects) > 20, "the fixture should inject a fair number of defects"
    missed = []
    for d in defects:
        key = (d["file"], int(d["line"]))
        if d["expected_stage"] == "quarantine":
            if quarantined.get(key) != d["expected_reason"]:
                missed.append((d, quarantined.get(key)))
        else:  # unknown code: staged, and its code is reported unmapped
            ft = layout.identify(d["file"])
            rows = con.execute(
                f"SELECT \"{d['column']}\" FROM read_parquet('{staging}/tables/{ft.key}/*.parquet') "
                f"WHERE _source_file = ? AND _row_number = ?", list(key)).fetchall()
            if len(rows) != 1:
                # legitimately never reaches terminology when the row was rejected for another
                # reason (e.g. an order whose visit carried another defect): it must be in quarantine
                if key not in quarantined:
                    missed.append((d, "neither staged nor quarantined"))
                continue
            code = rows[0][0]
            if not any(u.replace(".", "") == code.replace(".", "") for u in unmapped):
                missed.append((d, f"code {code} not reported unmapped"))
    assert not missed, missed[:10]


def test_no_raw_national_id_anywhere_in_outputs(tw_run, tw_landing):
    ids = set()
    for path in tw_landing.glob("*.csv"):
        head = path.read_bytes().split(b"\n", 1)[0].decode().split(",")
        if "ID" not in head:
            continue
        i = head.index("ID")
        for line in path.read_bytes().split(b"\n")[1:]:
            parts = line.split(b",")
            if len(parts) > i and len(parts[i].strip()) == 10:
                ids.add(parts[i].strip())
    assert len(ids) > 100
    sample = sorted(ids)[:: max(1, len(ids) // 200)]
    leaks = []
    for path in tw_run["work"].rglob("*"):
        if path.is_file() and "airflow" not in path.parts:
            blob = path.read_bytes()
            leaks += [(str(path), i) for i in sample if i in blob]
    assert not leaks, leaks[:5]


def test_rerun_without_airflow_gives_identical_tables(tw_run, tw_landing, tmp_path):
    crossbridge("run", "taiwan", "--landing", str(tw_landing), "--workdir", str(tmp_path), "--no-airflow",
                env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret"})
    run2 = sorted((tmp_path / "runs").glob("*-taiwan-*"))[-1]

    def digest(db: Path) -> dict[str, str]:
        con = duckdb.connect(str(db), read_only=True)
        out = {}
        for (t,) in con.execute("SELECT table_name FROM information_schema.tables WHERE table_type='BASE TABLE'").fetchall():
            if t == "cdm_source":
                continue
            rows = con.execute(f'SELECT * FROM "{t}" ORDER BY ALL').fetchall()
            out[t] = hashlib.sha256(repr(rows).encode()).hexdigest()
        con.close()
        return out

    assert digest(tw_run["dir"] / "omop.duckdb") == digest(run2 / "omop.duckdb")


@pytest.mark.services
def test_load_into_postgresql(tw_landing, tmp_path, postgres_url):
    crossbridge("run", "taiwan", "--landing", str(tw_landing), "--workdir", str(tmp_path), "--no-airflow",
                "--warehouse", postgres_url, env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret"})
    summary = json.loads(sorted((tmp_path / "runs").glob("*-taiwan-*"))[-1].joinpath("summary.json").read_text())
    assert summary["warehouse"] == postgres_url and summary["reconciled"]
    from connectors.warehouse import open_warehouse

    with open_warehouse(postgres_url) as wh:
        counts = wh.row_counts()
    for table, n in summary["rows_out"].items():
        assert counts[table] == n, table
    # the DQD-grade checks run on the PostgreSQL warehouse as on DuckDB, with the same verdicts
    out = tmp_path / "pg_quality.json"
    proc = crossbridge("validate", "omop", "--omop", postgres_url, "--json", str(out), "--quiet", check=False)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    pg = {c["check_id"]: c["status"] for c in json.loads(out.read_text())["checks"]}
    run_checks = json.loads(Path(summary["quality"]["validation"]["quality_json"]).read_text())["checks"]
    duck = {c["check_id"]: c["status"] for c in run_checks}
    assert not [c for c, st in pg.items() if st == "error"]
    assert {c: pg[c] for c in duck if c in pg} == {c: duck[c] for c in duck if c in pg}


def test_reconciliation_detects_a_lost_row(tw_run, tmp_path):
    """Tamper with a copy of the run: drop quarantined rows of one file; the summary must say
    reconciled false and name the file (the check recounts from the files, not the stages)."""
    import shutil

    import pyarrow.parquet as pq

    from crossbridge.ledger import Run
    from crossbridge.pipeline.summary import summarise
    from crossbridge.settings import load_settings

    copy = tmp_path / "runs" / tw_run["dir"].name
    shutil.copytree(tw_run["dir"], copy)
    qfile = next(p for p in sorted((copy / "staging" / "quarantine").rglob("*.parquet")) if pq.read_metadata(p).num_rows)
    table = pq.read_table(qfile)
    victim = table.column("source_file")[0].as_py()
    pq.write_table(table.slice(1), qfile)  # one quarantined row vanishes
    summary = summarise(Run(tmp_path / "runs", copy.name), load_settings({"workdir": tmp_path}), "taiwan")
    assert summary["reconciled"] is False
    assert any(p.startswith(f"{victim}:") for p in summary["reconciliation_problems"]), summary["reconciliation_problems"]
    assert summary["quality"]["outcome"] == "failed"
