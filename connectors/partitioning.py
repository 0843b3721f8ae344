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


class TableWriter:
    """Where consolidation writes each consolidated table, split into person partitions as it is written.

    With ``n`` = 1 a table is one file, ``<tables_dir>/<t>/part-0.parquet``.  With ``n`` > 1 a
    ``person`` or ``parent`` table (:func:`placement`) is written straight into its partitions,
    ``<tables_dir>/<t>/_part=<k>/*.parquet`` (the rows and placement rules of
    :func:`partition_staging`, without writing the table twice); a ``replicated`` one stays one
    file, and a table with no rows is one empty ``part-0.parquet``.  A child is placed through the
    written rows of its parent, so parents are written first (:class:`ValueError` otherwise).
    :meth:`whole_sql` reads a table whole in either layout.  After writing, :attr:`report` holds
    the same :class:`PartitionReport` as :func:`partition_staging` (``None`` when ``n`` = 1);
    the rows counted in the partitions are checked against the rows written
    (:class:`PartitionInvariantError`).
    """

    def __init__(self, tables_dir: Path, n: int = 1, file_types: Iterable = (), table_columns=None):
        if n < 1:
            raise ValueError(f"partitions must be >= 1, got {n}")
        if n > 1 and table_columns is None:
            raise ValueError("a partitioned TableWriter needs the file types' table_columns")
        self.tables_dir = Path(tables_dir)
        self.n = n
        self.plan = {tp.table: tp for tp in placement(file_types, table_columns)} if n > 1 else {}
        self.report: PartitionReport | None = PartitionReport(n) if n > 1 else None
        self.written: dict[str, int] = {}
        self.present: set[str] | None = None  # the tables that will be written (None: unknown)
        self._keys: dict[tuple[str, tuple[str, ...]], str] = {}

    def whole_sql(self, table: str) -> str:
        """``read_parquet`` of every row of a written ``table`` (either layout)."""
        return (f"read_parquet({_lit(str(self.tables_dir / table / '**' / '*.parquet'))}, "
                "hive_partitioning = false)")

    def partition_sql(self, person_key_sql: str) -> str:
        """SQL: the partition of a person_key expression (``0`` when the writer does not partition)."""
        return partition_of_sql(person_key_sql, self.n) if self.n > 1 else "0"

    def write(self, con: duckdb.DuckDBPyConnection, table: str, query: str, *, placed: bool = False) -> int:
        """Write the rows of ``query`` as ``table``; returns the rows written.

        ``placed``: the query already yields each row's partition as a last column ``_part``,
        computed by the caller through the same link to the same parent rows as the placement
        (e.g. the join that keeps an order of a kept claim also gives the claim's partition);
        saves the writer's own join.  The column is not written.
        """
        if placed:
            query = f"SELECT * EXCLUDE ({PARTITION_COLUMN}), {PARTITION_COLUMN} FROM ({query})"
        if table in self.written:
            raise ValueError(f"{table} was already written")
        folder = self.tables_dir / table
        folder.parent.mkdir(parents=True, exist_ok=True)
        tp = self.plan.get(table)
        if self.n > 1 and tp is None:
            raise ValueError(f"{table} is not one of the file types the writer was given")
        if tp is None or tp.how == "replicated":
            rows = self._single(con, folder, f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM ({query})" if placed
                                else query)
            if tp is not None:
                self.report.tables[table] = {"placement": "replicated", "rows": rows}
        else:
            if placed and tp.how != "parent":
                raise ValueError(f"{table} is placed by {tp.how}, not by a parent: it cannot come placed")
            rows = self._partitioned(con, tp, folder, query, placed)
        self.written[table] = rows
        return rows

    def finish(self) -> PartitionReport | None:
        """The partition report, with an entry (0 rows) for every planned table that was not written."""
        if self.report is None:
            return None
        for table, tp in self.plan.items():
            if table not in self.report.tables:
                entry: dict = {"placement": tp.how, "rows": 0}
                if tp.how == "parent":
                    entry["parent"] = tp.parent
                if tp.how != "replicated":
                    entry["rows_per_partition"] = [0] * self.n
                self.report.tables[table] = entry
        self.report.tables = {t: self.report.tables[t] for t in self.plan}  # placement order, as partition_staging
        return self.report

    def _single(self, con: duckdb.DuckDBPyConnection, folder: Path, query: str) -> int:
        folder.mkdir(exist_ok=True)
        return int(con.execute(f"COPY ({query}) TO {_lit(str(folder / 'part-0.parquet'))} "
                               "(FORMAT parquet, COMPRESSION zstd)").fetchall()[0][0])

    def _partitioned(self, con: duckdb.DuckDBPyConnection, tp: TablePlacement, folder: Path, query: str,
                     placed: bool) -> int:
        if placed:
            placed_sql = f"SELECT * REPLACE (coalesce({PARTITION_COLUMN}, 0) AS {PARTITION_COLUMN}) FROM ({query})"
        elif tp.how == "person":
            placed_sql = f"SELECT *, {partition_of_sql(PERSON_KEY, self.n)} AS {PARTITION_COLUMN} FROM ({query})"
        else:
            keys = self._parent_keys(con, tp.parent, tp.parent_columns)
            if keys is None:  # the parent has no rows: every child goes to partition 0
                placed_sql = f"SELECT *, 0 AS {PARTITION_COLUMN} FROM ({query})"
            else:
                on = " AND ".join(f"c.{_q(a)} = k.{_q(b)}" for a, b in zip(tp.columns, tp.parent_columns))
                placed_sql = (f"SELECT c.*, coalesce(k.{PARTITION_COLUMN}, 0) AS {PARTITION_COLUMN} "
                              f"FROM ({query}) c LEFT JOIN {keys} k ON {on}")
        entry: dict = {"placement": tp.how}
        if tp.how == "parent":
            entry["parent"] = tp.parent
        self.report.tables[tp.table] = entry
        rows = int(con.execute(f"COPY ({placed_sql}) TO {_lit(str(folder))} "
                               f"(FORMAT parquet, PARTITION_BY ({PARTITION_COLUMN}), COMPRESSION zstd)"
                               ).fetchall()[0][0])
        entry["rows"] = rows
        if not rows:  # a schema for readers of the whole table; no partition has rows
            shutil.rmtree(folder, ignore_errors=True)
            self._single(con, folder, f"SELECT * FROM ({query}) LIMIT 0")
            entry["rows_per_partition"] = [0] * self.n
            return 0
        counts = dict(con.execute(
            f"SELECT {PARTITION_COLUMN}, count(*) FROM read_parquet({_lit(str(folder / '*' / '*.parquet'))}, "
            "hive_partitioning = true) GROUP BY 1").fetchall())
        per = [int(counts.get(k, 0)) for k in range(self.n)]
        entry["rows_per_partition"] = per
        if sum(per) != rows:
            raise PartitionInvariantError(f"{tp.table}: {rows} rows written but {sum(per)} in the partitions ({per})")
        return rows

    def _parent_keys(self, con: duckdb.DuckDBPyConnection, parent: str, cols: tuple[str, ...]) -> str | None:
        """A temp table (parent key columns..., _part): the lowest partition holding each key (None: no rows)."""
        if parent not in self.written and self.present is not None and parent not in self.present:
            return None  # the parent has no staged rows at all
        if parent not in self.written:
            raise ValueError(f"the children of {parent} are written before {parent} itself: write parents first")
        if not self.written[parent]:
            return None
        name = self._keys.get((parent, cols))
        if name is None:
            name = self._keys[(parent, cols)] = f"_keys_{len(self._keys)}"
            sel = ", ".join(_q(c) for c in cols)
            src = _lit(str(self.tables_dir / parent / "*" / "*.parquet"))
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {sel}, min({PARTITION_COLUMN}) AS "
                        f"{PARTITION_COLUMN} FROM read_parquet({src}, hive_partitioning = true) "
                        f"WHERE {' AND '.join(f'{_q(c)} IS NOT NULL' for c in cols)} GROUP BY {sel}")
        return name


def partition_folder(out_dir: Path, table: str, k: int) -> Path:
    """Where partition ``k`` of ``table`` lies (may not exist: no rows there)."""
    return out_dir / table / f"{PARTITION_COLUMN}={k}"


__all__ = [
    "PARTITION_COLUMN", "PartitionInvariantError", "PartitionReport", "TablePlacement", "TableWriter", "partition_folder",
    "partition_of_sql", "partition_staging", "placement", "python_partition_of",
]
