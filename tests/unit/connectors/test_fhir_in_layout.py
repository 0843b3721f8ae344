"""The FHIR feed's staging declarations work with the site machinery: staging views, the pipeline contract
(the generated GX staging suites: test_fhir_in_suites.py).

The pipeline (``crossbridge.pipeline.site``) calls ``stage_landing`` and
``consolidate_landing`` with the sites' signatures, registers ``stg_<key>``
views with ``table_columns``, runs the generated staging suites and
reconciles per file from what is under ``staging`` (quarantine/, merged/,
tables/): all of that is exercised here on the golden fixture.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.fhir_in import FILE_TYPES, consolidate_landing, stage_landing, table_columns
from connectors.fhir_in.layout import REFERENCE_TYPES, RESOURCE_TABLES
from connectors.finland import layout as fi_layout
from connectors.taiwan import layout as tw_layout

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_in" / "golden"


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    staging = tmp_path_factory.mktemp("layout") / "staging"
    read = stage_landing(GOLDEN, staging, "layout-secret", None, 1 << 20, None, 1)  # the SitePipeline call
    cons = consolidate_landing(staging, memory_limit="500MB", threads=1)
    return staging, read, cons


def test_declarations():
    keys = [ft.key for ft in FILE_TYPES]
    assert len(set(keys)) == len(keys) and all(k.startswith("fhir_") for k in keys)
    assert not set(keys) & (set(tw_layout.BY_KEY) | set(fi_layout.BY_KEY))  # views never collide with a site's
    assert not set(RESOURCE_TABLES) & REFERENCE_TYPES
    for ft in FILE_TYPES:
        cols = dict(table_columns(ft))
        assert list(cols)[-2:] == ["_source_file", "_row_number"] and cols["person_key"] == "string"
        assert cols["resource_key"] == "string"
        assert ("start_date" in cols) == (ft.key != "fhir_patient")  # every clinical row is dated
        assert set(cols.values()) <= {"string", "date32", "int64", "float64"}


def test_pipeline_reports_have_the_sites_shape(staged):
    _, read, cons = staged
    r, c = read.to_dict(), cons.to_dict()
    assert {f["source_file"] for f in r["files"]} == {p.name for p in GOLDEN.iterdir()}
    assert all(isinstance(f["rows_in"], int) and f["file_type"] in ("fhir_ndjson", "fhir_json") for f in r["files"])
    assert set(c["tables"]) == {ft.key for ft in FILE_TYPES}
    assert all(isinstance(t["rows_out"], int) for t in c["tables"].values())


def test_summary_accounting_reconciles_every_file(staged):
    from crossbridge.pipeline.summary import staged_accounting

    staging, read, _ = staged
    acct = staged_accounting(staging)
    for f in read.files:
        a = acct[f.source_file]
        assert f.rows_in == a["staged"] + sum(a["quarantined"].values()) + sum(a["merged"].values()), f.source_file


def test_empty_staging_gives_empty_typed_views(tmp_path):
    from crossbridge.pipeline.common import register_staging_views

    con = duckdb.connect()
    register_staging_views(con, tmp_path / "tables", FILE_TYPES, table_columns)
    assert con.execute("SELECT count(*) FROM stg_fhir_condition").fetchall() == [(0,)]
