"""Cross-border study at this site: run one study specification on the local OMOP CDM and publish
the aggregate package (docs/studies.md).

Tasks: **check** (the specification, the site's permit and disclosure threshold, and the
concept sets in the site's own vocabulary — nothing touches patient tables if this fails)
→ **run** (every measure in SQL on the warehouse; counts through small-cell and
complementary suppression; package with manifest; a retry reuses a complete package)
→ **publish** (write-once through the release machinery to the `release_store` setting or
the `to` parameter, under `[partner/]release_id`, manifest last).

Parameters: `spec` (study file, required), `site` (default: the study's only site), `omop`
(duckdb:PATH, postgresql://… or csv:DIR; default: the site's warehouse), `workdir`, `to`,
`partner`. Only aggregates leave the site; partners compare packages with
`crossbridge study compare`.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, get_current_context, task
from site_pipeline_dag import settings_from_params  # dags/site_pipeline_dag.py

DAG_ID = Path(__file__).stem


@dag(
    dag_id=DAG_ID,
    doc_md=__doc__,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    schedule=None,
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": pendulum.duration(minutes=1)},
    params={
        "spec": Param("", type="string", minLength=1, description="study file (YAML)"),
        "site": Param("", type="string", description="this site's name in the study (default: its only site)"),
        "omop": Param("", type="string", description="OMOP CDM URL (default: the site's warehouse)"),
        "workdir": Param("", type="string", description="work directory (default: the setting)"),
        "to": Param("", type="string", description="file:///DIR or s3://BUCKET/PREFIX (default: release_store)"),
        "partner": Param("", type="string", description="publish under this partner's prefix"),
    },
    tags=["crossbridge", "study"],
)
def cross_border_study():
    @task(retries=0)
    def check() -> dict:
        from crossbridge.pipeline.study import check_task

        p = get_current_context()["params"]
        return check_task(p["spec"], settings_from_params(), site=p.get("site") or None, omop=p.get("omop") or None)

    @task
    def run(checked: dict) -> str:
        from crossbridge.pipeline.study import study_task

        ctx = get_current_context()
        p = ctx["params"]
        return study_task(p["spec"], settings_from_params(), site=checked["site"], omop=p.get("omop") or None,
                          tag=ctx["run_id"].replace(":", "").replace("+", ""))["dir"]

    @task
    def publish(folder: str) -> dict:
        from crossbridge.pipeline.release import publish_release

        p = get_current_context()["params"]
        return publish_release(folder, settings_from_params(), to=p.get("to") or None, partner=p.get("partner") or None)

    publish(run(check()))


dag = cross_border_study()
