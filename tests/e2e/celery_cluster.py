"""An Airflow 3 deployment with the CeleryExecutor on this machine, for the integration tests.

Started from scratch per test module: a fresh PostgreSQL database for the Airflow metadata (and the
Celery results), a Redis database number of its own as the broker, ``airflow db migrate``, then the
API server, scheduler, DAG processor and two Celery workers (``w1``, ``w2``; concurrency 1 each), all
reading the project's ``dags/`` folder unchanged.  Everything is driven through the REST API
(``/api/v2``; the simple auth manager with every user an admin, so no token is needed).  Stopping kills
every process tree, drops the database and flushes the Redis database.

Settings that differ from Airflow's defaults, and why: the task-instance heartbeat timeout is 20 s
(not 300 s), so a killed worker's task is failed and retried within the test; each worker serves its
logs on its own port; a failed task is retried after 5 s, not 60 s
(``CROSSBRIDGE_TASK_RETRY_DELAY_SECONDS``, read by ``dags/site_pipeline_dag.py``); ``hostname_callable`` reports the worker's name so a test can see which worker
ran a task (both run on this one machine).

With ``redelivery_after_s`` the broker redelivers any message not acknowledged within that many
seconds (Redis ``visibility_timeout``, swept every second): Airflow acknowledges a task's message
when the task ends (``task_acks_late``), so every task that runs longer is delivered a second
time, to the idle worker, while the first delivery still runs: Celery's duplicate delivery, on
purpose (:meth:`CeleryCluster.redeliveries` finds them in the worker logs).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
HEARTBEAT_TIMEOUT_S = 20
_EXECUTING = re.compile(r"\[([0-9a-f-]{36})\] Executing workload in Celery")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClusterError(RuntimeError):
    """A component died or did not come up; the message carries the tail of its log."""


class CeleryCluster:
    def __init__(self, home: Path, worker_env: dict[str, str], redis_db: int = 14,
                 redelivery_after_s: int | None = None):
        from cryptography.fernet import Fernet

        self.home = home
        self.logs = home / "proc_logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.database = f"cb_airflow_{uuid.uuid4().hex[:10]}"
        self.redis_db = redis_db
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.airflow = str(Path(sys.executable).with_name("airflow"))
        db = f"postgres@127.0.0.1:5432/{self.database}"
        support = str(Path(__file__).resolve().parent)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CROSSBRIDGE"))}
        self.env = {
            **base,
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": os.pathsep.join([str(REPO), support]),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api}/execution/",
            "AIRFLOW__CORE__AUTH_MANAGER":
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "airflow_worker_hostname.get_hostname",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:6379/{redis_db}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.api,
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "CROSSBRIDGE_TASK_RETRY_DELAY_SECONDS": "5",  # read when the DAG files are parsed
        }
        if redelivery_after_s is not None:
            self.env.update({
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(redelivery_after_s),
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__UNACKED_RESTORE_INTERVAL": "1",
                "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__UNACKED_RESTORE_THROTTLE": "1",
            })
        self.worker_env = worker_env

    # ---- processes --------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        fh = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.procs[name] = subprocess.Popen([self.airflow, *argv], env=env, stdout=fh, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.logs / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise ClusterError(f"{name} exited with {p.returncode}:\n{self.log_tail(name)}")

    def start(self, timeout: float = 180) -> None:
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.database}"')
        proc = subprocess.run([self.airflow, "db", "migrate"], env=self.env, capture_output=True, text=True,
                              timeout=300, cwd=self.home)
        if proc.returncode != 0:
            raise ClusterError(f"airflow db migrate failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        self._start("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.port)], self.env)
        self._start("scheduler", ["scheduler"], self.env)
        self._start("dag-processor", ["dag-processor"], self.env)
        for name in ("w1", "w2"):
            self.start_worker(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            ok = self.healthy() and all(self.dag_parsed(d) for d in ("tw_nhird_to_omop", "fi_registers_to_omop"))
            if ok and all(self.worker_ready(w) for w in ("w1", "w2")):
                return
            time.sleep(1)
        raise ClusterError("the cluster did not come up in time:\n" + "\n".join(
            f"--- {n}\n{self.log_tail(n, 10)}" for n in self.procs))

    def start_worker(self, name: str) -> None:
        env = {**self.env, **self.worker_env, "CB_WORKER": name,
               "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        self._start(name, ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "1",
                           "--pid", str(self.home / f"{name}.pid")], env)

    def redeliveries(self) -> dict[str, list[str]]:
        """Celery task ids whose message a worker received more than once, with the workers that ran
        each delivery (from the lines Airflow's ``execute_workload`` logs when it starts one)."""
        seen: dict[str, list[str]] = {}
        for name in ("w1", "w2"):
            path = self.logs / f"{name}.log"
            if not path.exists():
                continue
            for line in path.read_text(errors="replace").splitlines():
                found = _EXECUTING.search(line)
                if found:
                    seen.setdefault(found.group(1), []).append(name)
        return {task_id: workers for task_id, workers in seen.items() if len(workers) > 1}

    def log_lines(self, text: str) -> list[str]:
        """Lines of the worker logs that contain ``text``."""
        return [line for name in ("w1", "w2") if (self.logs / f"{name}.log").exists()
                for line in (self.logs / f"{name}.log").read_text(errors="replace").splitlines() if text in line]

    def worker_ready(self, name: str) -> bool:
        return " ready." in (self.logs / f"{name}.log").read_text(errors="replace")

    def kill_tree(self, name: str) -> list[int]:
        """SIGKILL a component and every process under it (a task process has its own process group)."""
        import psutil

        try:
            root = psutil.Process(self.procs[name].pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for p in procs:
            try:
                p.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(procs, timeout=10)
        self.procs[name].wait(timeout=10)
        del self.procs[name]
        return [p.pid for p in procs]

    def stop(self) -> None:
        import psycopg

        for name in list(self.procs):
            self.kill_tree(name)
        try:
            import redis

            redis.Redis(host="127.0.0.1", port=6379, db=self.redis_db).flushdb()
        except Exception:  # noqa: BLE001 - best effort: the broker database is private to this cluster
            pass
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    # ---- REST API ---------------------------------------------------------------------------
    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=15) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(errors="replace")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            return 0, str(e)

    def healthy(self) -> bool:
        return self.call("GET", "/api/v2/monitor/health")[0] == 200

    def dag_parsed(self, dag_id: str) -> bool:
        st, body = self.call("GET", f"/api/v2/dags/{dag_id}")
        return st == 200 and not body.get("is_paused", True)

    def trigger(self, dag_id: str, conf: dict) -> str:
        st, body = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        if st not in (200, 201):
            raise ClusterError(f"trigger {dag_id}: HTTP {st}: {body}")
        return body["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        st, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")
        return body["state"] if st == 200 else f"http-{st}"

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        st, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}"
                                    "/taskInstances?limit=100")
        return body["task_instances"] if st == 200 else []

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict]:
        path = (f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances/{task_id}"
                + (f"/{map_index}" if map_index >= 0 else "") + "/tries")
        st, body = self.call("GET", path)
        return body["task_instances"] if st == 200 else []

    def wait(self, dag_id: str, run_id: str, timeout: float, on_poll=None) -> str:
        deadline = time.monotonic() + timeout
        state = "queued"
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            if on_poll is not None:
                on_poll(self.task_instances(dag_id, run_id))
            time.sleep(1)
        raise ClusterError(f"{dag_id} run {run_id} still {state} after {timeout:.0f} s; task instances:\n"
                           + "\n".join(f"{t['task_id']}[{t.get('map_index')}] {t['state']} try {t.get('try_number')} "
                                       f"{t.get('hostname')}" for t in self.task_instances(dag_id, run_id)))
