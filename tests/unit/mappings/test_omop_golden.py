"""Golden-file tests: tests/fixtures/taiwan/<case>.input -> <case>.expected (see omop_golden.py).

Set CROSSBRIDGE_UPDATE_GOLDEN=1 to rewrite the expected files; then review them
against the case's README.md before committing.
"""

from __future__ import annotations

import pytest

from omop_golden import FIXTURES, UPDATE, build_and_render, case_names, read_csv, write_csv

CASES = case_names()


def test_all_cases_present():
    assert set(CASES) == {
        "outpatient_three_diagnoses", "icd_era_switch", "unmapped_code", "one_to_many_maps_to",
        "lab_fee_routing", "split_admission", "pharmacy_dispensing", "death_causes",
        "cancer_partial_date", "biobank_specimen_consent", "person_without_enrolment",
    }


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    rendered, _ = build_and_render(case)
    expected_dir = FIXTURES / f"{case}.expected"
    if UPDATE:
        expected_dir.mkdir(exist_ok=True)
        for old in expected_dir.glob("*.csv"):
            old.unlink()
        for table, rows in rendered.items():
            write_csv(expected_dir / f"{table}.csv", rows)
    expected_tables = sorted(p.stem for p in expected_dir.glob("*.csv"))
    assert sorted(rendered) == expected_tables, "non-empty OMOP tables differ from the expected files"
    for table in expected_tables:
        assert rendered[table] == read_csv(expected_dir / f"{table}.csv"), f"{case}: {table} differs"
