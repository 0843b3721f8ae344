"""Study releases: build a pseudonymised, disclosure-controlled release of a site run and publish it.

Triggered by the Airflow assets the site DAGs emit when a run has passed its quality gate and
been loaded (`crossbridge-omop-taiwan`, `crossbridge-omop-finland`, ...: their `summarise`
task runs only after `validate` and `load` succeeded), or by hand.

Tasks: **plan** (which study files on which runs: the `study` parameter, or every study of
the `release_studies` setting whose site produced the asset event) → **build** (one mapped
task per study: filters, k-anonymity, study pseudonyms, dates, package, identifier scan,
manifest; a retry reuses a complete build) → **publish** (write-once to the `release_store`
setting or the `to` parameter, under `[partner/]release_id`, manifest last).

Parameters: `study` (path of a study file; empty: the asset-triggered plan), `run_id`
(the source run; default the site's latest run that passed the gate), `workdir`, `to`
(file:///DIR or s3://BUCKET/PREFIX; default the `release_store` setting), `partner`.
The study key comes from the environment variable the study names, or from Airflow's
secrets backend (an Airflow variable of that name); it never passes through XCom.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, Variable, dag, get_current_context, task
# dags/site_pipeline_dag.py: the assets the site DAGs update, the settings of a run
from site_pipeline_dag import omop_asset, settings_from_params

DAG_ID = Path(__file__).stem
SITE_ASSETS = [omop_asset(site) for site in ("taiwan", "finland", "fhir", "hl7v2")]


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=(SITE_ASSETS[0] | SITE_ASSETS[1] | SITE_ASSETS[2] | SITE_ASSETS[3]),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "study": Param("", type="string", description="study file (YAML); empty: the studies of release_studies"),
        "run_id": Param("", type="string", description="source run id (default: latest run that passed the gate)"),
        "workdir": Param("", type="string", description="work directory (default: the setting)"),
        "to": Param("", type="string", description="file:///DIR or s3://BUCKET/PREFIX (default: release_store)"),
        "partner": Param("", type="string", description="publish under this partner's prefix"),
    },
    tags=["crossbridge", "release"],
)
def release_publish():
    @task
    def plan() -> list[dict]:
        from crossbridge.pipeline.release import plan_releases

        ctx = get_current_context()
        events = [dict(e.extra or {}) for evs in (ctx.get("triggering_asset_events") or {}).values() for e in evs]
        return plan_releases(settings_from_params(), study=ctx["params"].get("study"),
                             run_id=ctx["params"].get("run_id"), events=events)

    @task
    def build(item: dict) -> str:
        """One study's release; the key from the environment or the secrets backend, never from XCom."""
        from crossbridge.pipeline.release import build_release, study_key_name

        key = Variable.get(study_key_name(item["study"]), default=None)
        report = build_release(item["study"], settings_from_params(), run_id=item["run_id"],
                               release_id=item["release_id"], key=key, reuse_existing=True)
        return report["dir"]

    @task
    def publish(folder: str) -> dict:
        from crossbridge.pipeline.release import publish_release

        p = get_current_context()["params"]
        return publish_release(folder, settings_from_params(), to=p.get("to") or None, partner=p.get("partner") or None)

    publish.expand(folder=build.expand(item=plan()))


dag = release_publish()
