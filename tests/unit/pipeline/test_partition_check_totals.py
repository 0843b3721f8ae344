"""partition_check_totals: the partition tasks' OMOP and staging counts added up, or a clear refusal."""

from __future__ import annotations

import json

import pytest

from crossbridge.ledger import Run
from crossbridge.pipeline.partitions import CHECKS_FILE, partition_check_totals, partition_dir
from validators.partition_checks import PartitionChecksError


def _run(tmp_path, docs: list[dict]) -> Run:
    run = Run(tmp_path / "runs", "r1")
    run.path("stages").mkdir(parents=True)
    run.path("stages", "stage.json").write_text(json.dumps({"partitions": len(docs)}))
    for k, doc in enumerate(docs):
        partition_dir(run, k).mkdir(parents=True)
        (partition_dir(run, k) / CHECKS_FILE).write_text(json.dumps({"partition": k, "partitions": len(docs), **doc}))
    return run


def _doc(omop: int, staging: int, day: str = "2026-11-22", error: str | None = None) -> dict:
    return {"counts": {"c1": [omop, 10]}, "errors": {},
            "staging": {"counts": {"stg_a|not_null.x": [staging, 5]},
                        "errors": {"stg_a|link.y": error} if error else {}, "today": day}}


def test_omop_and_staging_counts_are_added_up(tmp_path):
    totals = partition_check_totals(_run(tmp_path, [_doc(1, 2), _doc(3, 0, error="IOException: gone")]))
    assert totals["counts"] == {"c1": (4, 20)}
    assert totals["staging"]["counts"] == {"stg_a|not_null.x": (2, 10)}
    assert totals["staging"]["errors"] == {"stg_a|link.y": "partition 1: IOException: gone"}


def test_partitions_that_bounded_dates_by_different_days_are_refused(tmp_path):
    run = _run(tmp_path, [_doc(1, 2), _doc(3, 0, day="2026-11-23")])
    with pytest.raises(PartitionChecksError, match="different days"):
        partition_check_totals(run)


def test_an_unpartitioned_run_has_nothing_counted(tmp_path):
    assert partition_check_totals(_run(tmp_path, [_doc(1, 2)])) == {
        "counts": {}, "errors": {}, "staging": {"counts": {}, "errors": {}}}
