"""Issue 9: the site DAGs run unchanged on Airflow's CeleryExecutor (PostgreSQL metadata, Redis broker,
two workers, API server, scheduler and DAG processor started here), with person partitions as mapped
tasks, and give the same OMOP tables (checksums) as the embedded in-process runs, also when a worker is
killed in the middle of a partition (the killed try may leave its temporary database file behind:
the retry writes under its own name and renames, so the merge never reads it), and when the broker
delivers a task's message twice: the cluster's broker redelivers every message not acknowledged
within REDELIVERY_AFTER_S seconds, so each longer task is delivered again while it runs (Airflow
refuses to start a task instance that is already running, and the duplicate is ignored).

Needs PostgreSQL and Redis (``services``); a few minutes (``slow``).
"""

from __future__ import annotations

import time

import pytest
from celery_cluster import CeleryCluster
from e2e_cli import REPO  # noqa: F401  (the same repository the cluster's DAGs folder points at)

from connectors.warehouse.checksums import table_checksums

pytestmark = [pytest.mark.services, pytest.mark.slow]
SECRET = "e2e-secret"  # the one the in-process runs (tests/e2e/e2e_cli.run_site) use
REDELIVERY_AFTER_S = 4


def _omop(run_dir):
    sums = table_checksums(run_dir / "omop.duckdb")
    sums.pop("cdm_source")
    sums.pop("lineage_rows", None)
    return sums


@pytest.fixture(scope="module")
def cluster(postgres_url, redis_url, tmp_path_factory):
    c = CeleryCluster(tmp_path_factory.mktemp("airflow_celery"), {"CROSSBRIDGE_SITE_SECRET": SECRET},
                      redelivery_after_s=REDELIVERY_AFTER_S)
    try:
        c.start()
        yield c
    finally:
        c.stop()


def _run_dir(work, run_id):
    return work / "runs" / run_id


def test_finland_dag_on_celery_matches_the_in_process_run(cluster, fi_run, fi_landing, tmp_path):
    work = tmp_path / "work"
    run_id = "20990101T000000Z-finland-celery"
    dag_run = cluster.trigger("fi_registers_to_omop", {"landing": str(fi_landing), "workdir": str(work),
                                                        "partitions": 2, "run_id": run_id})
    state = cluster.wait("fi_registers_to_omop", dag_run, timeout=900)
    tis = cluster.task_instances("fi_registers_to_omop", dag_run)
    assert state == "success", [(t["task_id"], t["state"]) for t in tis]
    assert sorted(t.get("map_index") for t in tis if t["task_id"] == "map_partition") == [0, 1]
    assert {t["hostname"] for t in tis} <= {"w1", "w2"}
    summary = __import__("json").loads((_run_dir(work, run_id) / "summary.json").read_text())
    assert summary["reconciled"] is True and summary["state"] == "succeeded"
    assert summary["rows_out"] == fi_run["summary"]["rows_out"]
    assert _omop(_run_dir(work, run_id)) == _omop(fi_run["dir"])
    cluster.hosts_seen = {t["hostname"] for t in tis}
    # duplicate delivery: messages were delivered twice, the second copy refused while the first ran
    redelivered = cluster.redeliveries()
    assert redelivered, "no message was delivered twice: the broker's redelivery did not happen"
    assert cluster.log_lines("ignoring redelivered message")
    assert all(t["try_number"] == 1 for t in tis), [(t["task_id"], t["try_number"]) for t in tis]


def test_taiwan_dag_survives_a_worker_killed_in_a_partition(cluster, tw_run, tw_landing, tmp_path):
    work = tmp_path / "work"
    run_id = "20990101T000000Z-taiwan-celery"
    dag_id = "tw_nhird_to_omop"
    dag_run = cluster.trigger(dag_id, {"landing": str(tw_landing), "workdir": str(work), "partitions": 2,
                                       "run_id": run_id})
    killed: dict = {}

    def kill_a_worker_in_a_partition(tis: list[dict]) -> None:
        if killed:
            return
        running = [t for t in tis if t["task_id"] == "map_partition" and t["state"] == "running"
                   and t.get("hostname") in cluster.procs]
        if running:
            ti = running[0]
            time.sleep(1.0)  # inside the partition's build
            killed.update(worker=ti["hostname"], map_index=ti["map_index"], pids=cluster.kill_tree(ti["hostname"]))

    state = cluster.wait(dag_id, dag_run, timeout=1200, on_poll=kill_a_worker_in_a_partition)
    tis = cluster.task_instances(dag_id, dag_run)
    assert killed, "no map_partition task was seen running: nothing was killed"
    assert state == "success", [(t["task_id"], t.get("map_index"), t["state"]) for t in tis]
    victim = next(t for t in tis if t["task_id"] == "map_partition" and t["map_index"] == killed["map_index"])
    assert victim["try_number"] >= 2, victim  # failed on the killed worker (no heartbeat), retried elsewhere
    survivor = ({"w1", "w2"} - {killed["worker"]}).pop()
    assert victim["hostname"] == survivor
    summary = __import__("json").loads((_run_dir(work, run_id) / "summary.json").read_text())
    assert summary["reconciled"] is True and summary["state"] == "succeeded"
    assert _omop(_run_dir(work, run_id)) == _omop(tw_run["dir"])
    parts = _run_dir(work, run_id) / "partitions"
    assert sorted(p.name for p in parts.iterdir()) == ["p0000", "p0001"]
    hosts = getattr(cluster, "hosts_seen", set()) | {t["hostname"] for t in tis}
    assert hosts == {"w1", "w2"}, f"both workers should have run tasks: {hosts}"
