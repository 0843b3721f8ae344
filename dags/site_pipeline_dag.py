"""The one shape of every site and feed DAG (Airflow): extract → stage → plan_partitions →
map_partition (one mapped task per person partition) → map_to_omop → validate → load →
export_fhir → summarise, each task calling the stage of the same name of a pipeline module
(``crossbridge/pipeline/<site>.py``) and passing only the run reference through XCom.
With one partition (the default) map_partition does nothing and map_to_omop builds the tables.

Used by ``tw_nhird_to_omop``, ``fi_registers_to_omop``, ``fhir_to_omop`` and ``hl7v2_to_omop``
(Airflow puts the DAGs folder on ``sys.path``); this file defines no DAG itself.  ``validate``
is the quality gate (no retries: a fatal failure stops the run before ``load``);
``summarise`` updates the site's asset ``crossbridge://omop/<site>``, which triggers
``release_publish``, with the run reference as the event's ``extra``.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task

COMMON_PARAMS = {
    "landing": ("", "landing directory with the raw extracts"),
    "workdir": ("", "work directory (runs, staging, warehouse; default: the workdir setting)"),
    "warehouse": ("", "duckdb:PATH or postgresql://... (default: workdir)"),
    "run_id": ("", "run id to use (default: generated)"),
}


#: seconds between a failed task's tries (a killed worker's partition is retried after this; default 60)
RETRY_DELAY_SECONDS = int(os.environ.get("CROSSBRIDGE_TASK_RETRY_DELAY_SECONDS", "60"))


def omop_asset(site: str) -> Asset:
    """The asset a site's DAG updates when a run passed the gate and was loaded."""
    return Asset(uri=f"crossbridge://omop/{site}", name=f"crossbridge-omop-{site}")


def settings_from_params():
    """The hub settings for the running task, with the DAG run's ``workdir`` parameter when given."""
    from crossbridge.settings import load_settings

    return load_settings({"workdir": get_current_context()["params"].get("workdir") or None})


def _params(feed: bool) -> dict:
    params = {k: Param(v, type="string", description=d) for k, (v, d) in COMMON_PARAMS.items()}
    params["demo_secret"] = Param(False, type="boolean", description="allow a generated per-workdir site secret")
    params["partitions"] = Param(0, type="integer", minimum=0,
                                 description="person-hash partitions, one mapped map task each (0: the setting)")
    if feed:
        params["feed_site"] = Param("", type="string", enum=["", "taiwan", "finland"],
                                    description="whose national identifiers and pseudonyms the feed carries (or none)")
        params["feed_timezone"] = Param("", type="string",
                                        description="HL7 v2: IANA zone of date-times without offset (default: the site's)")
    return params


def site_dag(dag_id: str, pipeline: str, doc: str, site: str, *, feed: bool = False, tags: tuple[str, ...] = ()):
    """The DAG ``dag_id`` running the stages of the module ``pipeline`` (e.g. ``crossbridge.pipeline.taiwan``)."""
    asset = omop_asset(site)

    def stages():
        return importlib.import_module(pipeline)

    def settings():
        from crossbridge.pipeline.airflow_glue import settings_from_params

        return settings_from_params(get_current_context()["params"])

    def run_of(ref: dict):
        from crossbridge.ledger import Run

        return Run(Path(ref["runs_dir"]), ref["run_id"])

    @dag(dag_id=dag_id, doc_md=doc, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), schedule=None,
         catchup=False, max_active_runs=1,
         default_args={"retries": 2, "retry_delay": pendulum.duration(seconds=RETRY_DELAY_SECONDS)},
         params=_params(feed), tags=["crossbridge", site, "omop", *tags])
    def pipeline_dag():
        @task(retries=0)
        def extract() -> dict:
            s = settings()
            run = stages().start_run(s, get_current_context()["params"].get("run_id") or None)
            stages().extract(run, s)
            return {"runs_dir": str(run.runs_dir), "run_id": run.run_id}

        @task
        def stage(ref: dict) -> dict:
            stages().stage(run_of(ref), settings())
            return ref

        @task
        def plan_partitions(ref: dict) -> list[dict]:
            """One reference per person partition the run was staged with (what map_partition expands over)."""
            from crossbridge.pipeline.site import partition_numbers

            return [{**ref, "partition": k} for k in partition_numbers(run_of(ref))]

        @task
        def map_partition(ref: dict) -> dict:
            """OMOP tables of one partition (a retry replaces this partition's output and nothing else)."""
            from crossbridge.pipeline.site import map_partition as build

            build(stages().PIPELINE, run_of(ref), settings(), ref["partition"])
            return ref

        @task
        def map_to_omop(parts: list[dict]) -> dict:
            """The run's OMOP tables: the partitions' merged (or, unpartitioned, built here)."""
            ref = {k: v for k, v in next(iter(parts)).items() if k != "partition"}
            stages().map_to_omop(run_of(ref), settings())
            return ref

        @task(retries=0)
        def validate(ref: dict) -> dict:
            """Quality gate: fatal check failures fail this task, so nothing is loaded."""
            report = stages().validate(run_of(ref), settings())
            return {**ref, "quality": report["outcome"]}

        @task
        def load(ref: dict) -> dict:
            stages().load(run_of(ref), settings())
            return ref

        @task
        def export_fhir(ref: dict) -> dict:
            """FHIR R4 NDJSON of the run (runs/<run_id>/fhir), checked by the FHIR suite."""
            stages().export_fhir(run_of(ref), settings())
            return ref

        @task(outlets=[asset])
        def summarise(ref: dict) -> dict:
            """The run's summary; the asset event carries the run reference to the release DAG."""
            summary = stages().summarise(run_of(ref), settings())
            get_current_context()["outlet_events"][asset].extra = {**ref, "site": summary["site"]}
            return {**ref, "reconciled": summary["reconciled"], "quality": summary["quality"]["outcome"]}

        staged = stage(extract())
        mapped = map_to_omop(map_partition.expand(ref=plan_partitions(staged)))
        summarise(export_fhir(load(validate(mapped))))

    return pipeline_dag()


__all__ = ["omop_asset", "site_dag"]
