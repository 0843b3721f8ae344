"""Inbound HL7 v2 hospital feeds (ADT A01-A13, A40 merges; ORU^R01 results) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone: `.hl7`, `.hl7v2`, `.er7`, `.mllp` files of
one or many messages, any separators, MLLP framing, versions 2.3-2.8) → **stage** (split and
check every message with hl7apy's rules, pseudonymise identifiers, quarantine refused
messages with a reason; map the rest to FHIR R4 Patient, Encounter, Observation,
DiagnosticReport, then stage those like the FHIR feed) → **map** (the shared OMOP build:
visit_occurrence, measurement ...) → **validate** (quality gate) → **load** (warehouse
`hl7v2.duckdb` or PostgreSQL) → **export_fhir** → **summarise** (`summary.json`: messages in,
mapped, quarantined per reason, reconciled; then resources and OMOP rows as for the sites).

Tasks pass only the run reference (runs folder + run id) through XCom.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional),
`feed_site` (taiwan | finland | empty: which national identifiers PID-3 `NI` means, the
pseudonym system, the default time zone), `feed_timezone` (IANA zone for date-times
without an offset; default the feed site's, else UTC).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

DAG_ID = Path(__file__).stem
#: updated when a run has passed the quality gate and been loaded: triggers dags/release_publish.py
OMOP_ASSET = Asset(uri="crossbridge://omop/hl7v2", name="crossbridge-omop-hl7v2")


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
                               description="IANA zone of HL7 date-times without offset (default: the feed site's, else UTC)"),
    },
    tags=["crossbridge", "hl7v2", "omop"],
)
def hl7v2_to_omop():
    @task(retries=0)
    def extract() -> dict:
        from crossbridge.pipeline import hl7v2

        settings = _settings()
        run = hl7v2.start_run(settings, get_current_context()["params"].get("run_id") or None)
        hl7v2.extract(run, settings)
        return {"runs_dir": str(run.runs_dir), "run_id": run.run_id}

    @task
    def stage(ref: dict) -> dict:
        from crossbridge.pipeline import hl7v2

        hl7v2.stage(_run(ref), _settings())
        return ref

    @task
    def map_to_omop(ref: dict) -> dict:
        from crossbridge.pipeline import hl7v2

        hl7v2.map_to_omop(_run(ref), _settings())
        return ref

    @task(retries=0)
    def validate(ref: dict) -> dict:
        """Quality gate: fatal check failures fail this task, so nothing is loaded."""
        from crossbridge.pipeline import hl7v2

        report = hl7v2.validate(_run(ref), _settings())
        return {**ref, "quality": report["outcome"]}

    @task
    def load(ref: dict) -> dict:
        from crossbridge.pipeline import hl7v2

        hl7v2.load(_run(ref), _settings())
        return ref

    @task
    def export_fhir(ref: dict) -> dict:
        """FHIR R4 NDJSON of the run (runs/<run_id>/fhir), checked by the FHIR suite."""
        from crossbridge.pipeline import hl7v2

        hl7v2.export_fhir(_run(ref), _settings())
        return ref

    @task(outlets=[OMOP_ASSET])
    def summarise(ref: dict) -> dict:
        """The run's summary; the asset event carries the run reference to the release DAG."""
        from crossbridge.pipeline import hl7v2

        summary = hl7v2.summarise(_run(ref), _settings())
        get_current_context()["outlet_events"][OMOP_ASSET].extra = {**ref, "site": summary["site"]}
        return {**ref, "reconciled": summary["reconciled"], "quality": summary["quality"]["outcome"]}

    summarise(export_fhir(load(validate(map_to_omop(stage(extract()))))))


dag = hl7v2_to_omop()
