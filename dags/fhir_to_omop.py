"""Inbound FHIR R4 (partners' NDJSON and Bundles, Kanta-style) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone: `.ndjson`, `.jsonl`, `.json`, optionally
gzipped) → **stage** (read every resource, replace national identifiers by the site
pseudonym, flatten codings (source and standard), quarantine what cannot be staged with a
reason; then drop duplicates and superseded versions) → **map** (the shared OMOP build:
terminology translation, routing by domain) → **validate** (quality gate: staging suites and
DQD-grade OMOP checks; a fatal failure stops the run here) → **load** (warehouse
`fhir.duckdb` or PostgreSQL) → **export_fhir** (the OMOP tables back to FHIR R4 NDJSON,
validated) → **summarise** (`summary.json`: resources in per file, quarantined and merged
per reason, rows out, reconciliation, coverage, quality).

Tasks pass only the run reference (runs folder + run id) through XCom.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional),
`feed_site` (taiwan | finland | empty: whose national identifiers and pseudonyms the feed
carries), `feed_timezone` (unused by FHIR, whose date-times carry offsets).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

DAG_ID = Path(__file__).stem
#: updated when a run has passed the quality gate and been loaded: triggers dags/release_publish.py
OMOP_ASSET = Asset(uri="crossbridge://omop/fhir", name="crossbridge-omop-fhir")


def _settings():
    from crossbridge.pipeline.airflow_glue import settings_from_params

    return settings_from_params(get_current_context()["params"])


def _run(ref: dict):
    from crossbridge.ledger import Run

    return Run(Path(ref["runs_dir"]), ref["run_id"])


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "landing": Param("", type="string", description="landing directory with the raw extracts"),
        "workdir": Param("work", type="string", description="work directory (runs, staging, warehouse)"),
        "warehouse": Param("", type="string", description="duckdb:PATH or postgresql://... (default: workdir)"),
        "demo_secret": Param(False, type="boolean", description="allow a generated per-workdir site secret"),
        "run_id": Param("", type="string", description="run id to use (default: generated)"),
        "feed_site": Param("", type="string", enum=["", "taiwan", "finland"],
                           description="whose national identifiers and pseudonyms the feed carries (or none)"),
        "feed_timezone": Param("", type="string",
                               description="unused: FHIR date-times carry their offset"),
    },
    tags=["crossbridge", "fhir", "omop"],
)
def fhir_to_omop():
    @task(retries=0)
    def extract() -> dict:
        from crossbridge.pipeline import fhir_feed

        settings = _settings()
        run = fhir_feed.start_run(settings, get_current_context()["params"].get("run_id") or None)
        fhir_feed.extract(run, settings)
        return {"runs_dir": str(run.runs_dir), "run_id": run.run_id}

    @task
    def stage(ref: dict) -> dict:
        from crossbridge.pipeline import fhir_feed

        fhir_feed.stage(_run(ref), _settings())
        return ref

    @task
    def map_to_omop(ref: dict) -> dict:
        from crossbridge.pipeline import fhir_feed

        fhir_feed.map_to_omop(_run(ref), _settings())
        return ref

    @task(retries=0)
    def validate(ref: dict) -> dict:
        """Quality gate: fatal check failures fail this task, so nothing is loaded."""
        from crossbridge.pipeline import fhir_feed

        report = fhir_feed.validate(_run(ref), _settings())
        return {**ref, "quality": report["outcome"]}

    @task
    def load(ref: dict) -> dict:
        from crossbridge.pipeline import fhir_feed

        fhir_feed.load(_run(ref), _settings())
        return ref

    @task
    def export_fhir(ref: dict) -> dict:
        """FHIR R4 NDJSON of the run (runs/<run_id>/fhir), checked by the FHIR suite."""
        from crossbridge.pipeline import fhir_feed

        fhir_feed.export_fhir(_run(ref), _settings())
        return ref

    @task(outlets=[OMOP_ASSET])
    def summarise(ref: dict) -> dict:
        """The run's summary; the asset event carries the run reference to the release DAG."""
        from crossbridge.pipeline import fhir_feed

        summary = fhir_feed.summarise(_run(ref), _settings())
        get_current_context()["outlet_events"][OMOP_ASSET].extra = {**ref, "site": summary["site"]}
        return {**ref, "reconciled": summary["reconciled"], "quality": summary["quality"]["outcome"]}

    summarise(export_fhir(load(validate(map_to_omop(stage(extract()))))))


dag = fhir_to_omop()
