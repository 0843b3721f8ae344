"""The Finnish DAG end to end on synthetic register extracts with injected defects, and the FinnGen layout."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import duckdb
import pytest

from e2e_cli import crossbridge, run_site

from connectors.finland import layout

pytestmark = pytest.mark.slow
HETU_RE = re.compile(rb"\b[0-3][0-9][01][0-9][0-9]{2}[-+A-FU-Y][0-9]{3}[0-9A-Y]\b")


def _quarantined(staging: Path) -> dict[tuple[str, int], str]:
    con = duckdb.connect()
    return {
        (f, int(r)): reason for f, r, reason in con.execute(
            f"SELECT source_file, row_number, reason FROM read_parquet('{staging}/quarantine/**/*.parquet', "
            f"union_by_name=true)").fetchall()
    }


def test_dag_run_succeeds_and_reconciles(fi_run):
    s = fi_run["summary"]
    assert s["state"] == "succeeded", json.dumps(s.get("stages"), indent=1) + fi_run["proc"].stderr[-3000:]
    assert s["site"] == "finland"
    assert s["reconciled"] is True, s["reconciliation_problems"]
    assert s["quality"]["outcome"] in ("passed", "warn")
    assert set(s["stage_seconds"]) == {"extract", "stage", "map", "validate", "load", "export_fhir", "summarise"}
    for table in ("person", "observation_period", "visit_occurrence", "condition_occurrence", "drug_exposure",
                  "procedure_occurrence", "observation", "death", "specimen", "location", "care_site", "cdm_source"):
        assert s["rows_out"].get(table, 0) > 0, table
    for vocab in ("ICD10fi", "ICPC", "VNRfi", "NCSPfi", "FI Biobank Specimen", "Crossbridge"):
        assert vocab in s["coverage"], vocab
    assert s["coverage"]["ICD10fi"]["record_share"] > 0.95
    assert s["coverage"]["VNRfi"]["record_share"] > 0.95
    assert "Run " in fi_run["proc"].stdout and "(finland)" in fi_run["proc"].stdout


def test_counts_add_up_per_file_from_the_files_themselves(fi_run, fi_landing):
    s = fi_run["summary"]
    staging = fi_run["dir"] / "staging"
    con = duckdb.connect()
    seen: dict[str, int] = {}
    for sub, col in (("tables", "_source_file"), ("quarantine", "source_file"), ("merged", "source_file")):
        if any((staging / sub).rglob("*.parquet")):
            for name, n in con.execute(
                f"SELECT {col}, count(*) FROM read_parquet('{staging / sub}/**/*.parquet', union_by_name=true) "
                f"GROUP BY 1").fetchall():
                seen[name] = seen.get(name, 0) + n
    files = sorted(fi_landing.glob("*.csv"))
    assert len(files) >= 14
    for path in files:
        data_lines = path.read_bytes().count(b"\n") - 1
        assert s["rows_in"][path.name] == data_lines, path.name
        assert seen.get(path.name, 0) == data_lines, path.name


def test_every_injected_defect_is_caught(fi_run, fi_landing):
    staging = fi_run["dir"] / "staging"
    quarantined = _quarantined(staging)
    con = duckdb.connect()
    con.execute(f"ATTACH '{fi_run['dir'] / 'omop.duckdb'}' AS w (READ_ONLY)")
    unmapped = {code.replace(".", "") for (code,) in con.execute(
        "SELECT DISTINCT source_code FROM w.code_usage WHERE target_concept_id = 0").fetchall() if code}
    unmapped_raw = {code for (code,) in con.execute(
        "SELECT DISTINCT raw FROM (SELECT condition_source_value AS raw FROM w.condition_occurrence "
        "WHERE condition_concept_id = 0 UNION ALL SELECT drug_source_value FROM w.drug_exposure "
        "WHERE drug_concept_id = 0 UNION ALL SELECT procedure_source_value FROM w.procedure_occurrence "
        "WHERE procedure_concept_id = 0 UNION ALL SELECT observation_source_value FROM w.observation "
        "WHERE observation_concept_id = 0)").fetchall() if code}
    with open(fi_landing / "_ground_truth" / "defects.csv", newline="", encoding="utf-8") as fh:
        defects = list(csv.DictReader(fh))
    assert len(defects) > 50
    kinds = {d["defect"] for d in defects}
    assert {"invalid_national_id", "impossible_date", "duplicate_row", "truncated_line",
            "unknown_code", "temporary_id"} <= kinds, kinds
    missed = []
    for d in defects:
        key = (d["file"], int(d["line"]))
        if d["expected_stage"] == "quarantine":
            if quarantined.get(key) != d["expected_reason"]:
                missed.append((d, quarantined.get(key)))
            continue
        ft = layout.identify(d["file"])
        if d["expected_stage"] == "flag":  # temporary identity codes: staged, flagged
            rows = con.execute(
                f"SELECT person_key_temporary FROM read_parquet('{staging}/raw/{ft.key}/*.parquet') "
                "WHERE _source_file = ? AND _row_number = ?", list(key)).fetchall()
            if rows != [(True,)] and key not in quarantined:
                missed.append((d, rows))
            continue
        rows = con.execute(
            f"SELECT \"{d['column']}\" FROM read_parquet('{staging}/tables/{ft.key}/*.parquet') "
            "WHERE _source_file = ? AND _row_number = ?", list(key)).fetchall()
        if len(rows) != 1:
            if key not in quarantined:
                missed.append((d, "neither staged nor quarantined"))
            continue
        code = rows[0][0].replace(".", "")
        if d["column"] == "VNRO":  # an unknown package number falls back to the purchase's ATC, visibly
            hit = con.execute(
                "SELECT count(*) FROM w.drug_exposure WHERE drug_source_value = ?", [rows[0][0]]).fetchone()[0]
            fell_back = con.execute(
                "SELECT count(*) FROM w.code_usage WHERE source_column_group = 'ATC (VNRO unmapped)'").fetchone()[0]
            if not (hit and fell_back):
                missed.append((d, f"VNR {code} neither kept as source value nor reported as a fallback"))
            continue
        if code not in unmapped and code not in unmapped_raw and not any(code.startswith(u) for u in unmapped):
            missed.append((d, f"code {code} not reported unmapped"))
    assert not missed, missed[:10]


def test_every_quarantined_row_is_a_known_defect(fi_run, fi_landing):
    """The other direction: nothing clean was quarantined (no good row lost)."""
    with open(fi_landing / "_ground_truth" / "defects.csv", newline="", encoding="utf-8") as fh:
        expected = {(d["file"], int(d["line"])) for d in csv.DictReader(fh)}
    unexplained = sorted(set(_quarantined(fi_run["dir"] / "staging")) - expected)
    assert not unexplained, unexplained[:10]


def test_no_raw_henkilotunnus_anywhere_in_outputs(fi_run, fi_landing):
    ids = set(HETU_RE.findall((fi_landing / "dvv_vaesto.csv").read_bytes()))
    assert len(ids) > 100
    sample = sorted(ids)[:: max(1, len(ids) // 200)]
    leaks = []
    for path in fi_run["work"].rglob("*"):
        if path.is_file() and "airflow" not in path.parts:
            blob = path.read_bytes()
            leaks += [(str(path), i) for i in sample if i in blob]
    assert not leaks, leaks[:5]


def test_finngen_layout_runs_and_reconciles(tmp_path):
    landing = tmp_path / "finngen"
    crossbridge("synth", "finland", "--persons", "200", "--years", "1985-1998", "--seed", "5",
                "--out", str(landing), "--layout", "finngen")
    run = run_site("finland", landing, tmp_path / "work", "--no-airflow")
    s = run["summary"]
    assert s["state"] == "succeeded", run["proc"].stderr[-3000:]
    assert s["reconciled"] is True, s["reconciliation_problems"]
    assert s["rows_out"]["person"] > 150
    assert s["rows_out"]["condition_occurrence"] > 0 and s["rows_out"]["drug_exposure"] > 0
    assert s["rows_out"]["death"] > 0
    # three ICD revisions by era, all translated
    for vocab in ("ICD8fi", "ICD9fi", "ICD10fi"):
        assert s["coverage"][vocab]["record_share"] > 0.9, (vocab, s["coverage"][vocab])
