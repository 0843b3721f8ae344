"""Finnish registers (Hilmo, Avohilmo, Kela, Cancer Registry, causes of death, population
register, biobanks; or a FinnGen longitudinal file) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone) → **stage** (read in chunks,
decode Latin-1, type, validate henkilötunnus (date, century sign, check
character) and pseudonymise it, flag temporary numbers, quarantine bad rows,
merge Hilmo episode updates, quarantine orphan diagnosis and visit-code rows) →
**map** (OMOP CDM v5.4 tables with Finnish ICD-10 combination codes, ICPC-2,
NCSP, VNR/ATC and ICD-O-3 translated) → **validate** (quality gate: Great Expectations suites on
staging, DataQualityDashboard-grade OMOP checks; a fatal failure stops the run here,
reports in `runs/<run_id>/quality/`) → **load** (warehouse:
DuckDB or PostgreSQL) → **export_fhir** (FHIR R4 NDJSON with Finnish Base Profiles in
`runs/<run_id>/fhir/`, validated) → **summarise** (`summary.json`: counts, reconciliation,
coverage, quality outcome).

Tasks pass only the run reference (runs folder + run id) through XCom; every
stage writes its report into `<workdir>/runs/<run_id>/`.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

DAG_ID = Path(__file__).stem
#: updated when a run has passed the quality gate and been loaded: triggers dags/release_publish.py
OMOP_ASSET = Asset(uri="crossbridge://omop/finland", name="crossbridge-omop-finland")


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
    },
    tags=["crossbridge", "finland", "omop"],
)
def fi_registers_to_omop():
    @task(retries=0)
    def extract() -> dict:
        from crossbridge.pipeline import finland

        settings = _settings()
        run = finland.start_run(settings, get_current_context()["params"].get("run_id") or None)
        finland.extract(run, settings)
        return {"runs_dir": str(run.runs_dir), "run_id": run.run_id}

    @task
    def stage(ref: dict) -> dict:
        from crossbridge.pipeline import finland

        finland.stage(_run(ref), _settings())
        return ref

    @task
    def map_to_omop(ref: dict) -> dict:
        from crossbridge.pipeline import finland

        finland.map_to_omop(_run(ref), _settings())
        return ref

    @task(retries=0)
    def validate(ref: dict) -> dict:
        """Quality gate: fatal check failures fail this task, so nothing is loaded."""
        from crossbridge.pipeline import finland

        report = finland.validate(_run(ref), _settings())
        return {**ref, "quality": report["outcome"]}

    @task
    def load(ref: dict) -> dict:
        from crossbridge.pipeline import finland

        finland.load(_run(ref), _settings())
        return ref

    @task
    def export_fhir(ref: dict) -> dict:
        """FHIR R4 NDJSON of the run (runs/<run_id>/fhir), checked by the FHIR suite."""
        from crossbridge.pipeline import finland

        finland.export_fhir(_run(ref), _settings())
        return ref

    @task(outlets=[OMOP_ASSET])
    def summarise(ref: dict) -> dict:
        """The run's summary; the asset event carries the run reference to the release DAG."""
        from crossbridge.pipeline import finland

        summary = finland.summarise(_run(ref), _settings())
        get_current_context()["outlet_events"][OMOP_ASSET].extra = {**ref, "site": summary["site"]}
        return {**ref, "reconciled": summary["reconciled"], "quality": summary["quality"]["outcome"]}

    summarise(export_fhir(load(validate(map_to_omop(stage(extract()))))))


dag = fi_registers_to_omop()
