import json
from pathlib import Path

import pytest

from crossbridge.ledger import LedgerError, Run, latest_run, new_run_id


def test_run_lifecycle_records_stage_timings_and_reports(tmp_path: Path):
    run = Run.start(tmp_path, "taiwan", {"workdir": "w"})
    assert run.summary()["state"] == "running" and run.summary()["finished"] is None
    with run.stage("extract") as rep:
        rep["files"] = 3
    assert run.stage_report("extract") == {"files": 3}
    st = run.summary()["stages"]["extract"]
    assert st["state"] == "succeeded" and st["seconds"] >= 0
    assert latest_run(tmp_path, "taiwan") == run


def test_failed_stage_marks_run_failed_and_reraises(tmp_path: Path):
    run = Run.start(tmp_path, "taiwan", {})
    with pytest.raises(ZeroDivisionError):
        with run.stage("stage"):
            1 / 0
    s = run.summary()
    assert s["state"] == "failed" and s["finished"]
    assert "ZeroDivisionError" in s["stages"]["stage"]["error"]
    with pytest.raises(LedgerError, match="no report for stage 'stage'"):
        run.stage_report("stage")


def test_run_ids_are_unique_and_sortable(tmp_path: Path):
    ids = {new_run_id("taiwan") for _ in range(50)}
    assert len(ids) == 50 and all("-taiwan-" in i for i in ids)
    run = Run.start(tmp_path, "taiwan", {}, run_id="20260101T000000Z-taiwan-aaaaaa")
    with pytest.raises(LedgerError, match="already exists"):
        Run.start(tmp_path, "taiwan", {}, run_id=run.run_id)
    with pytest.raises(LedgerError, match="no run"):
        Run.open(tmp_path, "nope")
    json.loads(run.summary_path.read_text())
