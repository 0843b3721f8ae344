"""Golden-file tests of the Finnish OMOP mappings: tests/fixtures/finland/<case>.input -> <case>.expected.

The machinery is :mod:`omop_golden` with ``site=FINLAND_SITE``.  Set
CROSSBRIDGE_UPDATE_GOLDEN=1 to rewrite the expected files; then re-check them
by hand against the case's README.md (and the docstrings of
``mappings/omop_cdm_v54/finland/``) before committing.
"""

from __future__ import annotations

import pytest
from omop_golden import FINLAND_SITE, UPDATE, build_and_render, case_names, read_csv, write_csv

CASES = case_names(FINLAND_SITE)


def test_all_cases_present():
    assert set(CASES) == {
        "hilmo_dagger_asterisk", "hilmo_combination_split", "hilmo_external_cause", "hilmo_icd_eras",
        "avohilmo_visit", "kela_purchases", "kela_reimbursement", "cancer", "death_causes", "biobank",
        "finngen_person",
    }


@pytest.mark.parametrize("case", CASES)
def test_golden(case):
    rendered, _ = build_and_render(case, FINLAND_SITE)
    expected_dir = FINLAND_SITE.fixtures / f"{case}.expected"
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


@pytest.mark.parametrize("case", CASES)
def test_every_staged_row_reaches_a_cdm_row(case):
    _, result = build_and_render(case, FINLAND_SITE)
    assert sum(result.staged_counts.values()) > 0
    assert result.unused_rows == {t: 0 for t in result.staged_counts}


def _rows(case: str, table: str) -> list[dict[str, str]]:
    rendered, _ = build_and_render(case, FINLAND_SITE)
    header, *rows = rendered[table]
    return [dict(zip(header, r)) for r in rows]


def test_dagger_asterisk_pair_is_one_condition_built_from_both_rows():
    conditions = _rows("hilmo_dagger_asterisk", "condition_occurrence")
    pair = [c for c in conditions if c["condition_source_value"] == "E113+H360"]
    assert len(pair) == 1
    assert pair[0]["condition_concept_id"] == "4174977" and pair[0]["condition_source_concept_id"] == "910001"
    assert pair[0]["condition_status_concept_id"] == "32902"
    _, result = build_and_render("hilmo_dagger_asterisk", FINLAND_SITE)
    assert result.lineage_counts["hilmo_diag"] == 3  # both parts of the pair and the secondary diagnosis


def test_split_combination_keeps_each_part_with_its_role_in_the_key():
    conditions = _rows("hilmo_combination_split", "condition_occurrence")
    assert sorted((c["condition_source_value"], c["condition_concept_id"], c["condition_source_concept_id"])
                  for c in conditions) == [("E114", "443730", "910002"), ("G632", "0", "910003")]
    keys = sorted(c["condition_occurrence_id"] for c in conditions)
    assert keys[0].endswith("|cause:E11.4|443730") and keys[1].endswith("|symptom:G63.2|0")


def test_finngen_birth_date_comes_from_the_earliest_event():
    # earliest event: 2015-04-01 at age 61.25 -> 2015-04-01 - round(61.25 * 365.25) = 22372 days = 1953-12-30
    # a later one:    2015-04-04 at age 61.27 -> 2015-04-04 - round(61.27 * 365.25) = 22379 days = 1953-12-26
    (person,) = _rows("finngen_person", "person")
    assert (person["year_of_birth"], person["month_of_birth"], person["day_of_birth"]) == ("1953", "12", "30")
