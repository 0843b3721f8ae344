"""The HL7 v2 feed's ledger: messages reconciled per landing file, derived FHIR files per resource,
and a lost quarantine row is caught by the summary (read back from the files, not the stage's claim)."""

from __future__ import annotations

import pytest

from crossbridge.pipeline import hl7v2
from crossbridge.settings import load_settings
from crossbridge.synth.hl7v2 import generate_hl7v2


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    root = tmp_path_factory.mktemp("hl7sum")
    expected = generate_hl7v2(root / "landing", messages=120, seed=4, site="finland", defect_rate=0.06).expected
    settings = load_settings({"landing": str(root / "landing"), "workdir": root / "work", "allow_demo_secret": True,
                              "feed_site": "finland", "stage_workers": 1}, environ={})
    run = hl7v2.start_run(settings)
    hl7v2.extract(run, settings)
    hl7v2.stage(run, settings)
    hl7v2.map_to_omop(run, settings)
    hl7v2.load(run, settings)
    return run, settings, expected


def test_messages_and_resources_reconcile(staged):
    run, settings, expected = staged
    s = hl7v2.summarise(run, settings)
    assert s["reconciled"] is True, s["reconciliation_problems"]
    assert s["messages"]["quarantined"] == expected["quarantined"] and s["messages"]["mapped"] == expected["mapped"]
    assert set(s["rows_in"]) == set(expected_files(run))  # landing files only, counted in messages
    assert set(s["rows_in_derived"]) <= {"Patient.ndjson", "Encounter.ndjson", "Observation.ndjson",
                                         "DiagnosticReport.ndjson"}
    assert s["site"] == "hl7v2" and s["warehouse"].endswith("hl7v2.duckdb")
    extract = run.stage_report("extract")
    assert [f["file_type"] for f in extract["files"]] == ["hl7v2"] * 5


def expected_files(run) -> list[str]:
    return [f["file"] for f in run.stage_report("extract")["files"]]


def test_a_lost_quarantine_file_breaks_the_reconciliation(staged):
    run, settings, expected = staged
    (qfile,) = run.path("staging", "quarantine", "stage", "hl7v2").glob("*.parquet")
    data = qfile.read_bytes()
    qfile.unlink()
    try:
        s = hl7v2.summarise(run, settings)
    finally:
        qfile.write_bytes(data)
    assert s["reconciled"] is False
    problems = s["reconciliation_problems"]
    assert len(problems) == len([f for f, n in expected_per_file(run).items() if n])
    assert all("messages in, but 0 quarantined" in p for p in problems)


def expected_per_file(run) -> dict[str, int]:
    m = run.stage_report("stage")["read"]["messages"]["files"]
    return {name: f["quarantined"] for name, f in m.items()}
