"""The staging suites generated from the FHIR feed's declarations (validators.staging_suites) pass on its staging.

In a file of its own: Great Expectations takes most of the time.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.fhir_in import FILE_TYPES, stage_fhir, table_columns

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_in" / "golden"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    staging = tmp_path_factory.mktemp("suites") / "staging"
    stage_fhir(GOLDEN, staging, "suite-secret", validate="none")
    return staging


def test_staging_views_and_generated_suites_pass(staged, tmp_path):
    from crossbridge.pipeline.common import register_staging_views
    from validators.staging_suites import expected_count, run_staging_suites, staging_expectations

    staging = staged
    db = tmp_path / "work.duckdb"
    con = duckdb.connect(str(db))
    register_staging_views(con, staging / "tables", FILE_TYPES, table_columns)
    for ft in FILE_TYPES:
        got = [r[0] for r in con.execute(f"DESCRIBE stg_{ft.key}").fetchall()]
        assert got == [c for c, _ in table_columns(ft)]
    con.close()
    records = run_staging_suites(str(db), FILE_TYPES, table_columns)
    assert len(records) == expected_count(staging_expectations(FILE_TYPES, table_columns))
    failed = [r for r in records if r["status"] != "passed"]
    assert not failed, failed[:5]


