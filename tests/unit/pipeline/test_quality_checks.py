"""Run-level quality checks of the summary."""

from __future__ import annotations

from crossbridge.pipeline.summary import quality_checks
from crossbridge.settings import load_settings


def _statuses(checks):
    return {(c["check"], c["status"]) for c in checks}


def test_quarantine_share_is_judged_per_file_type_not_per_small_file(tmp_path):
    settings = load_settings({"workdir": tmp_path, "max_quarantine_share": 0.05})
    rows_in = {"h_nhi_opdte10301.csv": 10, "h_nhi_opdte10302.csv": 1000}
    quarantined = {"h_nhi_opdte10301.csv": {"duplicate_row": 2}}  # 20% of a tiny file, 0.2% of the type
    types = {n: "opdte" for n in rows_in}
    checks = quality_checks(rows_in, quarantined, {"person": 5}, {}, [], settings, types)
    assert _statuses(checks) == {("reconciliation", "passed"), ("person_table_not_empty", "passed")}
    quarantined["h_nhi_opdte10302.csv"] = {"impossible_date": 60}
    checks = quality_checks(rows_in, quarantined, {"person": 5}, {}, [], settings, types)
    assert ("quarantine_share", "warn") in _statuses(checks)


def test_failed_reconciliation_or_empty_person_fails_and_low_coverage_warns(tmp_path):
    settings = load_settings({"workdir": tmp_path})
    cov = {"ICD10CM": {"record_share": 0.5}, "NHI Drug": {"record_share": 0.99}}
    checks = quality_checks({}, {}, {"person": 0}, cov, ["x.csv: 3 rows in, but 2"], settings, {})
    s = _statuses(checks)
    assert ("reconciliation", "failed") in s and ("person_table_not_empty", "failed") in s
    assert [c["detail"] for c in checks if c["check"] == "mapping_coverage"] == [
        "ICD10CM: 50.0% of records mapped to a standard concept"]
