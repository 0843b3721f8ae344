"""Merge the OMOP work databases of person partitions into one DuckDB database.

Each partition database holds the CDM tables built from its persons' rows (see
``connectors/partitioning.py``), its ``code_usage`` and the rows it used of the
reference tables every partition reads whole (``lineage_rows``).  The merge, in
the target connection:

* **person tables** (the CDM tables with a ``person_id`` column, and ``person``):
  every partition's rows, concatenated.  Their ids are hashes of business keys
  that belong to one person, so an id found in two partitions is a collision
  and fails the merge (:class:`PartitionMergeError`);
* **shared tables** (``location``, ``care_site``, ...: no person): a row built by
  several partitions appears once; two different rows with one id fail the merge;
* ``code_usage``: records summed per code and concepts;
* ``lineage_rows``: the distinct rows over all partitions.

Every table is stored in id order (as the unpartitioned build stores it), so the
merged database holds exactly the rows a single build of all persons would.
Re-running the merge replaces what an earlier attempt wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

CODE_USAGE = "code_usage"
USED_ROWS = "lineage_rows"
COUNT_COLUMN = "n_records"


class PartitionMergeError(RuntimeError):
    """Partition outputs cannot be merged without losing or doubling a record."""


@dataclass
class MergeReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows in the merged table
    per_partition: dict[str, list[int]] = field(default_factory=dict)  # table -> rows in each partition
    used_rows: dict[str, int] = field(default_factory=dict)  # reference table -> distinct used rows


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _tables(con: duckdb.DuckDBPyConnection, catalog: str) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_type = 'BASE TABLE'",
        [catalog]).fetchall()}


def _create_sorted(con: duckdb.DuckDBPyConnection, table: str, union: str, order: str) -> None:
    """``CREATE TABLE table AS <union> <order>``.  DuckDB (2.0) cannot sort a union of scans of
    attached databases larger than its memory limit: it fails at once with an out-of-memory error
    (15.8M visit_occurrence rows from 4 partitions at 1500MB), while the same rows copied into a
    temporary table first sort and spill.  So when the direct statement runs out of memory, the rows
    are copied, then sorted."""
    try:
        con.execute(f"CREATE OR REPLACE TABLE {_q(table)} AS SELECT * FROM ({union}){order}")
        return
    except duckdb.OutOfMemoryException:
        if not order:
            raise
    staged = "_cb_merge_rows"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} AS {union}")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {_q(table)} AS SELECT * FROM {staged}{order}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {staged}")


def merge_partitions(con: duckdb.DuckDBPyConnection, parts: Sequence[Path], tables: Sequence[str], *,
                     person_tables: set[str], order_by: dict[str, str]) -> MergeReport:
    """Write ``tables`` (and code_usage, lineage_rows) into ``con`` from the partition databases ``parts``.

    ``order_by``: table -> its id column (rows are stored in that order and must be unique on it).
    """
    if not parts:
        raise PartitionMergeError("no partition database to merge")
    missing = [str(p) for p in parts if not Path(p).is_file()]
    if missing:
        raise PartitionMergeError(f"partition databases missing (a partition task did not finish): {missing}")
    report = MergeReport()
    aliases = [f"_part{k}" for k in range(len(parts))]
    for alias, path in zip(aliases, parts):
        con.execute(f"ATTACH {_lit(str(path))} AS {alias} (READ_ONLY)")
    try:
        present = [_tables(con, a) for a in aliases]
        for table in tables:
            holders = [a for a, have in zip(aliases, present) if table in have]
            if len(holders) != len(aliases):
                lacking = [str(p) for p, have in zip(parts, present) if table not in have]
                raise PartitionMergeError(f"table {table} is missing from partition database(s) {lacking}")
            report.per_partition[table] = [
                int(con.execute(f"SELECT count(*) FROM {a}.main.{_q(table)}").fetchall()[0][0]) for a in aliases]
            union = " UNION ALL ".join(f"SELECT * FROM {a}.main.{_q(table)}" for a in aliases)
            if table not in person_tables:
                union = f"SELECT DISTINCT * FROM ({union})"
            key = order_by.get(table)
            order = f" ORDER BY {_q(key)}" if key else ""
            con.execute("SET preserve_insertion_order = true")
            _create_sorted(con, table, union, order)
            if key:
                dup = con.execute(f"SELECT {_q(key)}, count(*) FROM {_q(table)} GROUP BY 1 HAVING count(*) > 1 "
                                  f"ORDER BY 1 LIMIT 5").fetchall()
                if dup:
                    what = ("an id built in more than one partition" if table in person_tables
                            else "different rows with one id from different partitions")
                    raise PartitionMergeError(f"{table}.{key}: {what}: {dup}")
            report.rows[table] = int(con.execute(f"SELECT count(*) FROM {_q(table)}").fetchall()[0][0])

        lacking = [str(p) for p, have in zip(parts, present) if CODE_USAGE not in have]
        if lacking and len(lacking) < len(parts):
            raise PartitionMergeError(f"table {CODE_USAGE} is missing from partition database(s) {lacking}")
        if not lacking:
            cols = [r[0] for r in con.execute(f"DESCRIBE {aliases[0]}.main.{CODE_USAGE}").fetchall()]
            keys = ", ".join(_q(c) for c in cols if c != COUNT_COLUMN)
            union = " UNION ALL ".join(f"SELECT * FROM {a}.main.{CODE_USAGE}" for a in aliases)
            con.execute(
                f"CREATE OR REPLACE TABLE {CODE_USAGE} AS SELECT {keys}, CAST(sum({COUNT_COLUMN}) AS BIGINT) AS "
                f"{COUNT_COLUMN} FROM ({union}) GROUP BY ALL ORDER BY {keys}")
        if any(USED_ROWS in have for have in present):
            union = " UNION ALL ".join(f"SELECT * FROM {a}.main.{USED_ROWS}" for a, have in zip(aliases, present)
                                       if USED_ROWS in have)
            con.execute(f"CREATE OR REPLACE TABLE {USED_ROWS} AS SELECT DISTINCT * FROM ({union}) ORDER BY ALL")
            report.used_rows = {t: int(n) for t, n in con.execute(
                f"SELECT t, count(*) FROM {USED_ROWS} GROUP BY t").fetchall()}
    finally:
        for alias in aliases:
            con.execute(f"DETACH {alias}")
    return report


__all__ = ["MergeReport", "PartitionMergeError", "merge_partitions"]
