"""Person-partitioned runs (issue 9): the DAG's mapped map tasks give the same OMOP tables as one build,
a retried or twice-delivered partition task replaces only its own partition, and a missing partition
stops the merge with its number."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_cli import REPO, run_site

from connectors.warehouse.checksums import table_checksums

SECRET = "e2e-secret"  # the one run_site uses, so pseudonyms (and person partitions) agree across runs


def _omop_checksums(run_dir: Path) -> dict:
    sums = table_checksums(run_dir / "omop.duckdb")
    sums.pop("cdm_source")  # names the run id
    sums.pop("lineage_rows", None)  # partitioned runs only: the reference rows each partition used
    return sums


def _settings(work: Path, landing: Path, monkeypatch, **extra):
    from crossbridge.settings import load_settings

    monkeypatch.setenv("CROSSBRIDGE_SITE_SECRET", SECRET)
    return load_settings({"workdir": work, "landing": str(landing), **extra})


@pytest.fixture(scope="module")
def tw_partitioned(tw_landing, tmp_path_factory) -> dict:
    return run_site("taiwan", tw_landing, tmp_path_factory.mktemp("work_parts"), "--partitions", "3")


def test_dag_with_three_partitions_gives_the_tables_of_one_build(tw_partitioned, tw_run):
    s = tw_partitioned["summary"]
    assert s["state"] == "succeeded", tw_partitioned["proc"].stderr[-3000:]
    assert s["reconciled"] is True
    assert s["rows_out"] == tw_run["summary"]["rows_out"]
    assert s["rows_quarantined"] == tw_run["summary"]["rows_quarantined"]
    assert s["coverage"] == tw_run["summary"]["coverage"]
    assert _omop_checksums(tw_partitioned["dir"]) == _omop_checksums(tw_run["dir"])
    wh = tw_partitioned["work"] / "warehouse" / "taiwan.duckdb"
    loaded = table_checksums(wh)
    assert {t: loaded[t] for t in s["rows_out"] if t != "cdm_source"} == {
        t: v for t, v in _omop_checksums(tw_run["dir"]).items() if t in s["rows_out"]}


def test_partition_reports_add_up(tw_partitioned):
    run_dir = tw_partitioned["dir"]
    stage = json.loads((run_dir / "stages" / "stage.json").read_text())
    assert stage["partitions"] == 3
    consolidated = {t: r["rows_out"] for t, r in stage["consolidate"]["tables"].items()}
    for table, entry in stage["partition"]["tables"].items():
        assert entry["rows"] == consolidated.get(table, 0), table
        if entry["placement"] != "replicated":
            assert sum(entry["rows_per_partition"]) == entry["rows"], table
    assert stage["partition"]["tables"]["opdto"]["placement"] == "parent"  # orders follow their claim
    assert set(stage["partition"]["tables"]) >= {"drug", "hosb"}
    assert {t for t, e in stage["partition"]["tables"].items() if e["placement"] == "replicated"} == {"drug", "hosb"}
    mapped = json.loads((run_dir / "stages" / "map.json").read_text())
    assert mapped["partitions"]["n"] == 3
    for table, per in mapped["partitions"]["rows_out"].items():
        if table in mapped["partitions"]["shared_tables"]:
            assert max(per) <= mapped["rows_out"][table]
        else:
            assert sum(per) == mapped["rows_out"][table], table
            assert all(n > 0 for n in per) or mapped["rows_out"][table] < 3, table
    assert sorted(p.name for p in (run_dir / "partitions").iterdir()) == ["p0000", "p0001", "p0002"]


def _quality_records(run_dir: Path) -> list[tuple]:
    doc = json.loads((run_dir / "quality" / "quality.json").read_text())
    return [(c["check_id"], c["status"], c["num_violated_rows"], c["num_denominator_rows"], c["not_applicable_reason"])
            for c in doc["checks"]]


def _staging_records(run_dir: Path) -> list[tuple]:
    doc = json.loads((run_dir / "quality" / "quality.json").read_text())
    return [(s["table"], s["expectation"], s["status"], s["unexpected_count"], s["element_count"])
            for s in doc["staging"]]


def test_checks_counted_in_partitions_give_the_records_of_one_build(tw_partitioned, tw_run):
    """The quality checks the partition tasks counted, added up, judge the run exactly as one build's
    validation does; the validate stage ran only the others."""
    validated = json.loads((tw_partitioned["dir"] / "stages" / "validate.json").read_text())
    assert validated["counted_in_partitions"] > 300
    for k in range(3):
        report = json.loads((tw_partitioned["dir"] / "partitions" / f"p{k:04d}" / "map.json").read_text())
        assert report["checks"]["counted"] > 300 and report["checks"]["errors"] == 0
    assert _quality_records(tw_partitioned["dir"]) == _quality_records(tw_run["dir"])
    # the staging expectations too: those that add up were counted in the partitions, the rest (structure,
    # unique keys, the reference tables every partition reads whole) ran on the whole staging
    assert validated["staging_counted_in_partitions"] > 100
    assert all(json.loads((tw_partitioned["dir"] / "partitions" / f"p{k:04d}" / "map.json").read_text())
               ["checks"]["staging_counted"] == validated["staging_counted_in_partitions"] for k in range(3))
    assert _staging_records(tw_partitioned["dir"]) == _staging_records(tw_run["dir"])
    # the Data Docs show them too, per table, beside the suites GX ran on the merged database
    index = Path(validated["data_docs"])
    counted_pages = [p for p in (index.parent / "validations").rglob("*.html") if "counted_in_partitions" in p.parts]
    # <omop|staging>/<table>/counted_in_partitions/<run>/<time>/<page>
    tables = {p.parts[-5] for p in counted_pages if p.parts[-6] == "omop"}
    assert {"person", "condition_occurrence", "drug_exposure", "visit_occurrence"} <= tables
    views = {p.parts[-5] for p in counted_pages if p.parts[-6] == "staging"}
    assert {"stg_opdte", "stg_opdto", "stg_enrol"} <= views and not views & {"stg_drug", "stg_hosb"}
    assert len(counted_pages) == len(tables) + len(views)


def test_partition_check_counts_add_up_to_the_counts_of_the_merged_database(tw_partitioned, monkeypatch):
    """Every check counted per partition has, summed over the partitions, the counts the same SQL gives
    on the merged database (also the checks a threshold or an empty table would not show)."""
    import duckdb

    from crossbridge.ledger import Run
    from crossbridge.pipeline import common
    from crossbridge.pipeline.partitions import partition_check_totals
    from validators.dqd.catalogue import declared_checks
    from validators.partition_checks import partition_check_counts

    run_dir = tw_partitioned["dir"]
    summed = partition_check_totals(Run(run_dir.parent, run_dir.name))
    vocab, _ = common.ensure_vocabulary(_settings(tw_partitioned["work"], tw_partitioned["work"], monkeypatch))
    con = duckdb.connect(str(run_dir / "omop.duckdb"), read_only=True)
    try:
        con.execute(f"ATTACH '{vocab}' AS vocab (READ_ONLY)")
        tables = sorted(json.loads((run_dir / "stages" / "map.json").read_text())["rows_out"])
        whole = partition_check_counts(con, declared_checks(tables))
    finally:
        con.close()
    assert not summed["errors"] and not whole["errors"]
    assert len(summed["counts"]) > 300
    assert {c: tuple(v) for c, v in whole["counts"].items()} == summed["counts"]
    assert any(v[0] > 0 for v in summed["counts"].values())  # some checks do count violations


def test_validate_refuses_check_counts_of_another_split(tw_partitioned, tmp_path):
    from crossbridge.ledger import Run
    from crossbridge.pipeline.partitions import CHECKS_FILE, partition_check_totals
    from validators.partition_checks import PartitionChecksError, added_up

    parts = tw_partitioned["dir"] / "partitions"
    docs = [json.loads((parts / f"p{k:04d}" / CHECKS_FILE).read_text()) for k in range(2)]
    with pytest.raises(PartitionChecksError, match="partition 0 of 3, expected 0 of 2"):
        added_up(docs, 2)
    _work, run_dir = _copy_run(tw_partitioned, tmp_path / "w")
    (run_dir / "partitions" / "p0001" / CHECKS_FILE).unlink()
    with pytest.raises(PartitionChecksError, match="partition 1 has no check counts"):
        partition_check_totals(Run(run_dir.parent, run_dir.name))


def _copy_run(src: dict, dest: Path) -> tuple[Path, Path]:
    """A copy of a finished partitioned run's workdir (runs folder, vocabulary cache, secrets)."""
    shutil.copytree(src["work"], dest, ignore=shutil.ignore_patterns("airflow"))
    return dest, dest / "runs" / src["dir"].name


def test_a_retried_partition_replaces_only_its_own_output(tw_partitioned, tw_landing, tmp_path, monkeypatch):
    from crossbridge.ledger import Run
    from crossbridge.pipeline import site, taiwan

    work, run_dir = _copy_run(tw_partitioned, tmp_path / "w")
    run = Run(run_dir.parent, run_dir.name)
    settings = _settings(work, tw_landing, monkeypatch)
    before = {p.name: (p / "omop.duckdb").stat().st_mtime_ns for p in (run_dir / "partitions").iterdir()}
    sums = table_checksums(run_dir / "partitions" / "p0001" / "omop.duckdb")
    site.map_partition(taiwan.PIPELINE, run, settings, 1)  # the retry
    after = {p.name: (p / "omop.duckdb").stat().st_mtime_ns for p in (run_dir / "partitions").iterdir()}
    assert after["p0000"] == before["p0000"] and after["p0002"] == before["p0002"]
    assert after["p0001"] != before["p0001"]
    assert table_checksums(run_dir / "partitions" / "p0001" / "omop.duckdb") == sums
    assert not list((run_dir / "partitions" / "p0001").glob("*.tmp*")), "a temporary database was left behind"
    expected = _omop_checksums(run_dir)
    taiwan.map_to_omop(run, settings)  # the merge re-run after the retry
    assert _omop_checksums(run_dir) == expected


def test_a_partition_task_delivered_twice_at_once_gives_the_same_tables(tw_partitioned, tw_landing, tmp_path):
    work, run_dir = _copy_run(tw_partitioned, tmp_path / "w")
    expected = table_checksums(run_dir / "partitions" / "p0002" / "omop.duckdb")
    code = (
        "import sys; from pathlib import Path\n"
        "from crossbridge.ledger import Run; from crossbridge.settings import load_settings\n"
        "from crossbridge.pipeline import site, taiwan\n"
        f"run = Run(Path({str(run_dir.parent)!r}), {run_dir.name!r})\n"
        f"s = load_settings({{'workdir': Path({str(work)!r}), 'landing': {str(tw_landing)!r}}})\n"
        "site.map_partition(taiwan.PIPELINE, run, s, 2)\n"
    )
    env = {"CROSSBRIDGE_SITE_SECRET": SECRET, "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    assert table_checksums(run_dir / "partitions" / "p0002" / "omop.duckdb") == expected
    assert not list((run_dir / "partitions" / "p0002").glob("*.tmp*"))


def test_the_merge_names_a_partition_that_did_not_finish(tw_partitioned, tw_landing, tmp_path, monkeypatch):
    from crossbridge.ledger import Run
    from crossbridge.pipeline import taiwan
    from crossbridge.pipeline.partitions import PartitionError

    work, run_dir = _copy_run(tw_partitioned, tmp_path / "w")
    (run_dir / "partitions" / "p0002" / "map.json").unlink()
    with pytest.raises(PartitionError, match="partition 2 of 3 has no map report"):
        taiwan.map_to_omop(Run(run_dir.parent, run_dir.name), _settings(work, tw_landing, monkeypatch))


def test_finland_partitioned_without_airflow_matches_one_build(fi_run, fi_landing, tmp_path):
    parts = run_site("finland", fi_landing, tmp_path / "w", "--partitions", "2", "--no-airflow")
    assert parts["summary"]["state"] == "succeeded", parts["proc"].stderr[-3000:]
    assert parts["summary"]["reconciled"] is True
    assert _omop_checksums(parts["dir"]) == _omop_checksums(fi_run["dir"])
    assert json.loads((parts["dir"] / "stages" / "validate.json").read_text())["counted_in_partitions"] > 100
    assert _quality_records(parts["dir"]) == _quality_records(fi_run["dir"])


def test_the_merge_refuses_a_partition_built_from_another_split(tw_partitioned, tw_landing, tmp_path, monkeypatch):
    from crossbridge.ledger import Run
    from crossbridge.pipeline import taiwan
    from crossbridge.pipeline.partitions import PartitionError

    work, run_dir = _copy_run(tw_partitioned, tmp_path / "w")
    report = run_dir / "partitions" / "p0001" / "map.json"
    report.write_text(report.read_text().replace('"partitions": 3', '"partitions": 4'))
    with pytest.raises(PartitionError, match="partition 1's build is of a staging split into 4"):
        taiwan.map_to_omop(Run(run_dir.parent, run_dir.name), _settings(work, tw_landing, monkeypatch))
