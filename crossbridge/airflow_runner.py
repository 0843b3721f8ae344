"""Run a project DAG in this process with ``dag.test()`` on an embedded metadata DB.

Airflow reads its configuration when first imported, so the environment is
set here before any Airflow import: metadata in SQLite under
``<workdir>/airflow``, the DAGs folder of this checkout, no example DAGs.
A real scheduler runs the very same DAG files unchanged.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import crossbridge

DAGS_FOLDER = Path(crossbridge.__file__).resolve().parents[1] / "dags"


class AirflowRunError(RuntimeError):
    """The in-process DAG run did not succeed."""


def configure(airflow_home: Path) -> dict[str, str]:
    airflow_home = airflow_home.resolve()
    env = {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING"),
    }
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != env["AIRFLOW_HOME"]:
        raise AirflowRunError(
            "Airflow was already imported in this process with another AIRFLOW_HOME; "
            "run the DAG in a fresh process"
        )
    os.environ.update(env)
    # third-party deprecation notices (starlette, fastapi) are noise in a user's run output
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    airflow_home.mkdir(parents=True, exist_ok=True)
    if not (airflow_home / "airflow.db").exists():
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"],
            env={**os.environ, **env}, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise AirflowRunError(f"airflow db migrate failed:\n{proc.stderr[-4000:]}")
    return env


def load_dag(dag_id: str):
    path = DAGS_FOLDER / f"{dag_id}.py"
    if not path.exists():
        raise AirflowRunError(f"no DAG file {path}")
    if str(DAGS_FOLDER) not in sys.path:  # as Airflow does: DAG files import their shared module from there
        sys.path.insert(0, str(DAGS_FOLDER))
    spec = importlib.util.spec_from_file_location(f"crossbridge_dag_{dag_id}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    from airflow.sdk import DAG

    dags = [v for v in vars(module).values() if isinstance(v, DAG) and v.dag_id == dag_id]
    if not dags:
        raise AirflowRunError(f"{path} defines no DAG with dag_id {dag_id!r}")
    return dags[0]


def run_dag(dag_id: str, conf: dict[str, Any], airflow_home: Path) -> str:
    """Run one DAG run to completion in-process; returns the final state or raises."""
    configure(airflow_home)
    dag = load_dag(dag_id)
    dag_run = dag.test(run_conf=conf)
    state = str(getattr(dag_run, "state", "unknown"))
    if state != "success":
        failed = [ti.task_id for ti in dag_run.get_task_instances() if str(ti.state) == "failed"]
        raise AirflowRunError(f"DAG {dag_id} ended {state}; failed tasks: {failed or 'none recorded'}")
    return state
