"""Split consolidated staging into N person partitions (hash of the pseudonym), one DuckDB pass per table.

A staged row belongs to partition ``person_id mod N`` where ``person_id`` is the
first 15 hex digits of its ``person_key`` (the site pseudonym, a hex
HMAC-SHA256, so the digits are uniform) read as an integer: the same number
``mappings.omop_cdm_v54.ids.person_id_sql`` gives the OMOP ``person_id``.  Every
row of one person lands in one partition, so the OMOP build of a partition
never needs another partition's rows.

How each file type is placed (:func:`placement`):

* ``person``: it has a ``person_key`` column (a row with no person_key goes to partition 0);
* ``parent``: it has none but declares a :class:`~connectors.layout.Link` to a
  file type placed before it (Taiwan orders -> their claim, Hilmo diagnoses ->
  their episode, specimens -> their participant): it goes where its parent row
  went (a parent key found in more than one partition: the lowest; a row whose
  parent is missing: partition 0, where the build finds no parent either);
* ``replicated``: neither (Taiwan's drug master and facility file): small
  reference tables every partition reads whole from ``tables/`` (not copied).

Output: ``<out>/<file type>/_part=<k>/*.parquet`` (a table with no rows in a
partition has no folder there).  Each partition's rows keep their
``_source_file``/``_row_number`` provenance.  The counts per partition are
checked to add up to the consolidated table before returning
(:class:`PartitionInvariantError` otherwise): nothing is lost, nothing doubled.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import duckdb

from connectors.layout import PERSON_KEY

#: hex digits of the pseudonym read as the partition number's source (as person_id)
HEX_DIGITS = 15
PARTITION_COLUMN = "_part"
Placement = Literal["person", "parent", "replicated"]


class PartitionInvariantError(RuntimeError):
    """The rows written to partitions do not add up to the consolidated table."""


def partition_of_sql(person_key_sql: str, n: int) -> str:
    """SQL: the partition (0..n-1) of a person_key expression (NULL person_key -> 0)."""
    if n < 1:
        raise ValueError(f"partitions must be >= 1, got {n}")
    return (f"CAST(coalesce(('0x' || substr({person_key_sql}, 1, {HEX_DIGITS}))::BIGINT % {int(n)}, 0) "
            "AS INTEGER)")


def python_partition_of(person_key: str | None, n: int) -> int:
    """The partition of a pseudonym, computed in Python (tests, look-ups)."""
    return 0 if not person_key else int(person_key[:HEX_DIGITS], 16) % n


@dataclass(frozen=True)
class TablePlacement:
    table: str
    how: Placement
    parent: str | None = None
    columns: tuple[str, ...] = ()  # the child's link columns
    parent_columns: tuple[str, ...] = ()


def placement(file_types: Iterable, table_columns) -> list[TablePlacement]:
    """How each file type is placed, parents before children (see the module docstring)."""
    pending = list(file_types)
    placed: dict[str, TablePlacement] = {}
    while pending:
        progressed = False
        for ft in list(pending):
            cols = {name for name, _ in table_columns(ft)}
            if PERSON_KEY in cols:
                placed[ft.key] = TablePlacement(ft.key, "person")
            else:
                links = list(getattr(ft, "links", ()) or ())
                if any(link.parent not in placed and link.parent in {p.key for p in pending} for link in links):
                    continue  # wait for its parent
                link = next((li for li in links if li.parent in placed and placed[li.parent].how != "replicated"),
                            None)
                placed[ft.key] = (TablePlacement(ft.key, "parent", link.parent, tuple(link.columns),
                                                 tuple(link.parent_key)) if link is not None
                                  else TablePlacement(ft.key, "replicated"))
            pending.remove(ft)
            progressed = True
        if not progressed:
            raise ValueError(f"file type links form a cycle: {[ft.key for ft in pending]}")
    return list(placed.values())


@dataclass
class PartitionReport:
    partitions: int
    tables: dict[str, dict] = field(default_factory=dict)  # table -> {placement, rows, rows_per_partition}

    def to_dict(self) -> dict:
        return {"partitions": self.partitions, "tables": self.tables}

    def replicated(self) -> list[str]:
        return sorted(t for t, r in self.tables.items() if r["placement"] == "replicated")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def partition_staging(tables_dir: Path, out_dir: Path, file_types: Iterable, table_columns, n: int, *,
                      memory_limit: str = "1GB", threads: int = 2) -> PartitionReport:
    """Write every non-replicated consolidated table of ``tables_dir`` into ``out_dir`` split by person.

    ``out_dir`` is emptied first, so a re-run gives the same files.  Returns the
    rows per partition of each table (replicated tables: their whole row count).
    """
    if n < 2:
        raise ValueError(f"partition_staging needs at least 2 partitions, got {n}")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    report = PartitionReport(n)
    plan = placement(file_types, table_columns)
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        con.execute(f"SET threads = {int(threads)}")
        con.execute("SET preserve_insertion_order = false")
        keys: dict[tuple[str, tuple[str, ...]], str] = {}  # (table, key columns) -> temp table (key..., _part)
        for tp in plan:
            folder = tables_dir / tp.table
            files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
            src = f"read_parquet({_lit(str(folder / '*.parquet'))}, hive_partitioning = false)"
            rows = con.execute(f"SELECT count(*) FROM {src}").fetchall()[0][0] if files else 0
            entry: dict = {"placement": tp.how, "rows": int(rows)}
            if tp.how == "parent":
                entry["parent"] = tp.parent
            report.tables[tp.table] = entry
            if tp.how == "replicated":
                continue
            if not rows:
                entry["rows_per_partition"] = [0] * n
                continue
            if tp.how == "person":
                part = partition_of_sql(PERSON_KEY, n)
                query = f"SELECT *, {part} AS {PARTITION_COLUMN} FROM {src}"
            else:
                parent_keys = keys.get((tp.parent, tp.parent_columns))
                if parent_keys is None:  # the parent table has no rows: every child goes to partition 0
                    query = f"SELECT *, 0 AS {PARTITION_COLUMN} FROM {src}"
                else:
                    on = " AND ".join(f"c.{_q(a)} = k.{_q(b)}" for a, b in zip(tp.columns, tp.parent_columns))
                    query = (f"SELECT c.*, coalesce(k.{PARTITION_COLUMN}, 0) AS {PARTITION_COLUMN} "
                             f"FROM {src} c LEFT JOIN {parent_keys} k ON {on}")
            # this table's key -> partition, once per set of columns its children link by
            for child_cols in sorted({other.parent_columns for other in plan if other.parent == tp.table}):
                name = f"_keys_{len(keys)}"
                cols = ", ".join(_q(c) for c in child_cols)
                con.execute(f"CREATE TEMP TABLE {name} AS SELECT {cols}, min({PARTITION_COLUMN}) AS {PARTITION_COLUMN} "
                            f"FROM ({query}) WHERE {' AND '.join(f'{_q(c)} IS NOT NULL' for c in child_cols)} "
                            f"GROUP BY {cols}")
                keys[(tp.table, child_cols)] = name
            target = out_dir / tp.table
            con.execute(f"COPY ({query}) TO {_lit(str(target))} "
                        f"(FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), COMPRESSION zstd)")
            counts = dict(con.execute(
                f"SELECT {PARTITION_COLUMN}, count(*) FROM read_parquet({_lit(str(target / '*' / '*.parquet'))}, "
                f"hive_partitioning = true) GROUP BY 1").fetchall())
            per = [int(counts.get(k, 0)) for k in range(n)]
            entry["rows_per_partition"] = per
            if sum(per) != rows:
                raise PartitionInvariantError(
                    f"{tp.table}: {rows} consolidated rows but {sum(per)} in the partitions ({per})")
    finally:
        con.close()
    return report


def partition_folder(out_dir: Path, table: str, k: int) -> Path:
    """Where partition ``k`` of ``table`` lies (may not exist: no rows there)."""
    return out_dir / table / f"{PARTITION_COLUMN}={k}"


__all__ = [
    "PARTITION_COLUMN", "PartitionInvariantError", "PartitionReport", "TablePlacement", "partition_folder",
    "partition_of_sql", "partition_staging", "placement", "python_partition_of",
]
