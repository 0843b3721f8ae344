"""Person partitions of a site run: split staging, build OMOP per partition, merge.

With ``settings.partitions`` = N > 1 the stage step's consolidation writes the
consolidated staging split by a hash of the person pseudonym
(``runs/<id>/staging/tables/<table>/_part=<k>/``; small reference tables stay
whole; see ``connectors/partitioning.py``), and :func:`split_staging` writes the
provenance file dictionary every partition build shares
(``staging/partitions/_files.parquet``); N is recorded in the stage report, so every
later task uses the N the run was staged with, whatever its own settings say.
Then, in Airflow one mapped task per partition (``.expand``), in the CLI one
after the other:

* :func:`map_partition` builds partition k's OMOP tables into
  ``runs/<id>/partitions/p<k>/omop.duckdb``, written under a temporary name and
  renamed when complete, with its report ``runs/<id>/partitions/p<k>/map.json``.
  A retried (or twice-delivered) task rebuilds and replaces its own partition
  and touches nothing else;
* :func:`merge` (the ``map`` stage) merges the partition databases into the
  run's ``omop.duckdb`` (``connectors/warehouse/partition_merge.py``), writes
  ``cdm_source``, and reports the same figures as an unpartitioned build
  (``rows_out``, ``lineage_counts``, ...) plus the partitions' own.

Validation, load, FHIR export and summary then read the merged database as
for an unpartitioned run.  With N = 1 nothing here runs: the map stage builds
the run's database directly.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Any

from crossbridge.ledger import Run, utc_now, write_json_atomic
from crossbridge.pipeline import common
from crossbridge.settings import Settings

PARTITIONS_DIR = "partitions"  # under the run folder: p<k>/omop.duckdb, p<k>/map.json
STAGING_PARTITIONS = "partitions"  # under staging/: the file dictionary of a partitioned run
CHECKS_FILE = "checks.json"  # under partitions/p<k>/: the partition's quality-check counts
FILE_DICTIONARY = "_files.parquet"  # under staging/partitions/: the whole staging's provenance file dictionary


class PartitionError(common.PipelineError):
    """A partition task was asked for a partition the run does not have, or its inputs are missing."""


def partitions_of(run: Run) -> int:
    """The number of partitions the run was staged with (1 when it was not partitioned)."""
    return int(run.stage_report("stage").get("partitions", 1))


def partition_dir(run: Run, k: int) -> Path:
    return run.path(PARTITIONS_DIR, f"p{k:04d}")


def split_staging(p, run: Run, settings: Settings, n: int, written=None) -> dict[str, Any]:
    """The stage step's partition report: how the consolidated staging lies in ``n`` person partitions.

    ``written``: the :class:`~connectors.partitioning.PartitionReport` of a consolidation that wrote
    ``staging/tables/`` already split (the site connectors do); otherwise (the inbound feeds) the
    consolidated tables are split here, one more pass, and put back in ``tables/`` in the same
    layout (``tables/<type>/_part=<k>/``).  Either way the provenance file dictionary of the whole
    staging is written for the partition builds.
    """
    from connectors.partitioning import partition_staging
    from crossbridge.pipeline.site import resolve_ref

    t0 = time.perf_counter()
    shutil.rmtree(run.path(PARTITIONS_DIR), ignore_errors=True)  # builds of an earlier staging are void
    tables = run.path("staging", "tables")
    if written is None:
        out = run.path("staging", "_split")
        rep = partition_staging(tables, out, p.layout.FILE_TYPES, resolve_ref(p.table_columns_function), n,
                                memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads)
        for table, entry in rep.tables.items():
            if entry["placement"] != "replicated" and (out / table).is_dir():
                shutil.rmtree(tables / table)
                shutil.move(str(out / table), str(tables / table))
        shutil.rmtree(out, ignore_errors=True)
    else:
        rep = written
    dictionary = run.path("staging", STAGING_PARTITIONS)
    shutil.rmtree(dictionary, ignore_errors=True)
    dictionary.mkdir(parents=True)
    _write_file_dictionary(p, run, dictionary / FILE_DICTIONARY)
    return {**rep.to_dict(), "split_while_consolidating": written is not None,
            "seconds": round(time.perf_counter() - t0, 3)}


def _write_file_dictionary(p, run: Run, target: Path) -> None:
    """The provenance file dictionary of the whole staging, which every partition's build uses, so
    that provenance ids (and the business keys containing them) are those of an unpartitioned build."""
    import duckdb

    from mappings.omop_cdm_v54.provenance import files_sql
    from crossbridge.pipeline.site import resolve_ref

    with duckdb.connect() as con:
        common.register_staging_views(con, run.path("staging", "tables"), p.layout.FILE_TYPES,
                                      resolve_ref(p.table_columns_function))
        keys = [ft.key for ft in resolve_ref(p.site_mapping).file_types]
        path = str(target).replace("'", "''")
        con.execute(f"COPY ({files_sql(keys)}) TO '{path}' (FORMAT parquet)")


def _replicated(run: Run) -> list[str]:
    tables = run.stage_report("stage").get("partition", {}).get("tables", {})
    return sorted(t for t, r in tables.items() if r["placement"] == "replicated")


def map_partition(p, run: Run, settings: Settings, k: int) -> dict[str, Any]:
    """Build partition ``k``'s OMOP tables (all but cdm_source); replaces an earlier attempt's output."""
    from crossbridge.pipeline.site import resolve_ref
    from mappings.omop_cdm_v54.build import build_omop
    from validators.dqd.catalogue import declared_checks
    from validators.partition_checks import partition_check_counts
    from validators.staging_partitions import staging_partition_counts

    n = partitions_of(run)
    if n == 1:
        return {"partition": k, "partitions": 1, "skipped": "the run is not partitioned: the map stage builds it"}
    if not 0 <= k < n:
        raise PartitionError(f"partition {k} does not exist: the run {run.run_id} has partitions 0..{n - 1}")
    site = resolve_ref(p.site_mapping)
    out = partition_dir(run, k)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "omop.duckdb"
    tmp = out / f"omop.duckdb.tmp-{socket.gethostname()}-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    t0 = time.perf_counter()
    started = utc_now()
    replicated = _replicated(run)
    con, vocab = common.open_work_db(run, settings, path=tmp)
    try:
        common.register_staging_views(
            con, run.path("staging", "tables"), p.layout.FILE_TYPES, resolve_ref(p.table_columns_function),
            partition=(run.path("staging", "tables"), k, replicated))
        tables = list(site.table_mappings)
        dictionary = str(run.path("staging", STAGING_PARTITIONS, FILE_DICTIONARY)).replace("'", "''")
        result = build_omop(con, common.cdm_source_meta(run, settings, p.site, vocab), site=site, tables=tables,
                            used_rows_for=replicated, file_dictionary=f"read_parquet('{dictionary}')")
        t_checks = time.perf_counter()
        # the quality checks whose counts add up over partitions, counted here, in parallel
        checks = partition_check_counts(con, declared_checks(sorted(result.to_dict()["rows_out"])))
        # and the staging expectations that add up, on this partition's staged rows
        checks["staging"] = staging_partition_counts(con, p.layout.FILE_TYPES, resolve_ref(p.table_columns_function),
                                                     replicated, today=common.staging_day(run))
        checks_seconds = round(time.perf_counter() - t_checks, 3)
        con.execute("CHECKPOINT")
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        Path(str(tmp) + ".wal").unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, target)
    write_json_atomic(out / CHECKS_FILE, {"partition": k, "partitions": n, **checks})
    report = {"partition": k, "partitions": n, "started": started, "seconds": round(time.perf_counter() - t0, 3),
              "database": str(target), "host": socket.gethostname(), **result.to_dict(),
              "checks": {"counted": len(checks["counts"]), "errors": len(checks["errors"]),
                         "staging_counted": len(checks["staging"]["counts"]),
                         "staging_errors": len(checks["staging"]["errors"]), "seconds": checks_seconds}}
    write_json_atomic(out / "map.json", report)
    return report


def partition_check_totals(run: Run) -> dict[str, Any]:
    """The quality-check counts the run's partition tasks made, added up
    (:func:`validators.partition_checks.added_up`; nothing for an unpartitioned run)."""
    from validators.partition_checks import PartitionChecksError, added_up

    n = partitions_of(run)
    if n == 1:
        return {"counts": {}, "errors": {}, "staging": {"counts": {}, "errors": {}}}
    docs = []
    for k in range(n):
        path = partition_dir(run, k) / CHECKS_FILE
        if not path.exists():
            raise PartitionChecksError(f"partition {k} has no check counts ({path}): its map task did not finish")
        docs.append(json.loads(path.read_text(encoding="utf-8")))
    totals = added_up(docs, n)
    # the staging expectations' counts, added up the same way (all partitions bounded dates by one day)
    days = {(d.get("staging") or {}).get("today") for d in docs}
    if len(days) > 1:
        raise PartitionChecksError(f"the partitions counted the staging checks with different days {sorted(map(str, days))}")
    totals["staging"] = added_up([{"partition": d["partition"], "partitions": d["partitions"],
                                   **{k: (d.get("staging") or {}).get(k, {}) for k in ("counts", "errors")}}
                                  for d in docs], n)
    return totals


def merge(p, run: Run, settings: Settings, con, vocab: dict[str, Any]) -> dict[str, Any]:
    """Merge every partition's tables into ``con`` (the run's work database); the map stage's report."""
    from connectors.warehouse.partition_merge import merge_partitions
    from mappings.omop_cdm_v54.cdm_source import cdm_source
    from terminology.omop_cdm import CDM

    n = partitions_of(run)
    reports = []
    for k in range(n):
        path = partition_dir(run, k) / "map.json"
        if not path.exists():
            raise PartitionError(f"partition {k} of {n} has no map report ({path}): its task did not finish")
        report = json.loads(path.read_text(encoding="utf-8"))
        if report.get("partitions") != n:
            raise PartitionError(f"partition {k}'s build is of a staging split into {report.get('partitions')} "
                                 f"partitions, the run's is split into {n}: re-run its map task")
        reports.append(report)
    tables = sorted({t for r in reports for t in r["rows_out"]})
    person_tables = {t for t in tables if t == "person" or "person_id" in {f.name for f in CDM.table(t).fields}}
    order_by = {t: CDM.table(t).primary_key[0] for t in tables if CDM.table(t).primary_key}
    merged = merge_partitions(con, [partition_dir(run, k) / "omop.duckdb" for k in range(n)], tables,
                              person_tables=person_tables, order_by=order_by)
    for t in tables:  # the merge read what each partition reported writing
        reported = [int(r["rows_out"].get(t, 0)) for r in reports]
        if reported != merged.per_partition[t]:
            raise PartitionError(f"{t}: partition reports say {reported} rows, the databases hold "
                                 f"{merged.per_partition[t]}")
    con.execute(f"CREATE OR REPLACE TABLE cdm_source AS {cdm_source(common.cdm_source_meta(run, settings, p.site, vocab))}")
    rows = {**merged.rows, "cdm_source": 1}
    replicated = set(_replicated(run))
    staged = {t: int(n) for t, n in reports[0]["staged_counts"].items()}  # the whole staging's (one dictionary)
    lineage = {t: sum(int(r["lineage_counts"].get(t, 0)) for r in reports) for t in reports[0]["lineage_counts"]}
    for t in replicated:  # every partition read the whole table: count its used rows once
        lineage[t] = int(merged.used_rows.get(t, 0))
    if any(r["staged_counts"] != reports[0]["staged_counts"] for r in reports):
        raise PartitionError("the partitions were built from different staging (their file dictionaries differ)")
    code_usage_rows = con.execute("SELECT count(*) FROM code_usage").fetchall()[0][0]
    out = {"rows_out": rows, "lineage_counts": lineage, "staged_counts": staged,
           "unused_rows": {t: n - lineage.get(t, 0) for t, n in staged.items()},
           "code_usage_rows": int(code_usage_rows)}
    out["partitions"] = {
        "n": n,
        "seconds": [r["seconds"] for r in reports],
        "hosts": sorted({r.get("host", "") for r in reports}),
        "rows_out": {t: merged.per_partition[t] for t in tables},
        "shared_tables": sorted(set(tables) - person_tables),
        "replicated_staging": sorted(replicated),
    }
    return out
