"""Site-independent pieces of consolidation (DuckDB over the staged Parquet).

Each site's ``connectors/<site>/consolidate.py`` applies its own rules (visit
keys, merges, orphans) with these building blocks:

* :func:`dedupe` — exact duplicates (every staged column equal except
  provenance): the first by (``_source_file``, ``_row_number``) is kept, later
  copies go to quarantine ``duplicate_row``.  Rows are hashed on their data
  columns and compared column by column only within groups sharing a hash, so
  a hash collision never merges different rows.  Creates the temp view
  ``u_<type>`` (rows without the later copies) and the temp table ``q_<type>``
  (quarantine rows so far);
* :func:`reconcile` — writes ``quarantine/consolidate/<type>.parquet`` and
  ``merged/<type>.parquet`` and checks that every staged row is in exactly one
  of tables/, quarantine/ or merged/;
* :func:`clear_outputs`, :func:`copy_parquet`, :func:`open_duckdb`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import duckdb

from connectors.layout import PROVENANCE, staging_columns
from connectors.partitioning import PartitionReport, TableWriter


class ConsolidateInvariantError(RuntimeError):
    """Staged rows were lost or duplicated during consolidation (a bug, never data)."""


@dataclass
class TableConsolidation:
    """Where the staged rows of one file type went."""

    file_type: str
    rows_in: int = 0
    rows_out: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    merged: dict[str, int] = field(default_factory=dict)
    repeated_visit_keys: int = 0  # visit keys carried by more than one kept visit row


@dataclass
class ConsolidateReport:
    tables: dict[str, TableConsolidation] = field(default_factory=dict)
    partition: PartitionReport | None = None  # how tables/ was split into person partitions (None: not split)

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable) for the run ledger."""
        return {"tables": {k: asdict(v) for k, v in self.tables.items()}}


def q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def clear_outputs(staging: Path, file_types: Iterable) -> None:
    """Remove the consolidation outputs (tables/, quarantine/consolidate/, merged/) of ``file_types``."""
    for ft in file_types:  # file types, not rows
        tables = staging / "tables" / ft.key
        if tables.exists():
            shutil.rmtree(tables)
        for f in (staging / "quarantine" / "consolidate" / f"{ft.key}.parquet", staging / "merged" / f"{ft.key}.parquet"):
            f.unlink(missing_ok=True)


def data_columns(ft) -> list[str]:
    return [n for n, _ in staging_columns(ft) if n not in PROVENANCE]


def output_columns(ft, extra: list[str]) -> str:
    """SELECT list of a consolidated table: data columns, ``extra`` link columns, provenance."""
    cols = [q(c) for c in data_columns(ft)] + [q(c) for c in extra] + ["_source_file", "_row_number"]
    return ", ".join(cols)


def copy_parquet(con: duckdb.DuckDBPyConnection, query: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(f"COPY ({query}) TO {lit(str(path))} (FORMAT parquet, COMPRESSION zstd)")


def count_reasons(con: duckdb.DuckDBPyConnection, query: str) -> dict[str, int]:
    return {r: n for r, n in con.execute(f"SELECT reason, count(*) FROM ({query}) GROUP BY reason ORDER BY reason").fetchall()}


@contextmanager
def open_duckdb(staging: Path, memory_limit: str, threads: int) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection spilling to ``staging/_duckdb_tmp`` (removed afterwards)."""
    tmp = staging / "_duckdb_tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(
        config={
            "memory_limit": memory_limit,
            "threads": threads,
            "temp_directory": str(tmp),
            "preserve_insertion_order": False,
        }
    )
    try:
        yield con
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)


def present_types(staging: Path, file_types: Iterable) -> list:
    """The file types with at least one staged Parquet file."""
    return [ft for ft in file_types if any((staging / "raw" / ft.key).glob("*.parquet"))]


def dedupe(con: duckdb.DuckDBPyConnection, staging: Path, ft, report: ConsolidateReport) -> None:
    """Exact duplicates of ``ft`` to quarantine; creates ``u_<type>`` and ``q_<type>`` (see the module docstring)."""
    k = ft.key
    glob = lit(str(staging / "raw" / k / "*.parquet"))
    cols = ", ".join(q(c) for c in data_columns(ft))
    con.execute(f"CREATE OR REPLACE TEMP VIEW s_{k} AS SELECT *, hash({cols}) AS _h FROM read_parquet({glob})")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE d_{k} AS
        SELECT _source_file, _row_number,
               first_value(_source_file) OVER w AS _first_source, first_value(_row_number) OVER w AS _first_row
        FROM s_{k} WHERE _h IN (SELECT _h FROM s_{k} GROUP BY _h HAVING count(*) > 1)
        WINDOW w AS (PARTITION BY _h, {cols} ORDER BY _source_file, _row_number)
        QUALIFY row_number() OVER w > 1"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE q_{k} AS
        SELECT _source_file AS source_file, _row_number AS row_number, {lit(k)} AS file_type,
               'duplicate_row' AS reason, CAST(NULL AS VARCHAR) AS "column",
               'exact repeat of ' || _first_source || ' line ' || CAST(_first_row AS VARCHAR) AS detail
        FROM d_{k}"""
    )
    rows_in, dups = con.execute(
        f"SELECT (SELECT count(*) FROM read_parquet({glob})), (SELECT count(*) FROM d_{k})"
    ).fetchone()
    if dups:
        con.execute(
            f"""CREATE OR REPLACE TEMP VIEW u_{k} AS
            SELECT s.* FROM read_parquet({glob}) s
            ANTI JOIN d_{k} d ON d._source_file = s._source_file AND d._row_number = s._row_number"""
        )
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW u_{k} AS SELECT * FROM read_parquet({glob})")
    report.tables[k] = TableConsolidation(k, rows_in=rows_in)


def reconcile(
    con: duckdb.DuckDBPyConnection,
    staging: Path,
    ft,
    report: ConsolidateReport,
    reasons: dict[str, str],
    has_merged: bool,
    out: TableWriter,
) -> None:
    """Write quarantine (``q_<type>``) and merged (``m_<type>``, if ``has_merged``) files, count, and
    check rows_in = out + quarantined + merged."""
    k = ft.key
    entry = report.tables[k]
    q_query = f"SELECT * FROM q_{k} ORDER BY source_file, row_number"
    entry.quarantined = count_reasons(con, f"SELECT reason FROM q_{k}")
    unknown = set(entry.quarantined) - set(reasons)
    if unknown:
        raise ConsolidateInvariantError(f"{k}: unknown quarantine reasons {sorted(unknown)}")
    if entry.quarantined:
        copy_parquet(con, q_query, staging / "quarantine" / "consolidate" / f"{k}.parquet")
    if has_merged:
        m_query = (
            f"SELECT source_file, row_number, reason, kept_source_file, kept_row_number FROM m_{k} "
            "ORDER BY source_file, row_number"
        )
        entry.merged = count_reasons(con, f"SELECT reason FROM m_{k}")
        copy_parquet(con, m_query, staging / "merged" / f"{k}.parquet")
    entry.rows_out = con.execute(f"SELECT count(*) FROM {out.whole_sql(k)}").fetchone()[0]
    total = entry.rows_out + sum(entry.quarantined.values()) + sum(entry.merged.values())
    if total != entry.rows_in:
        raise ConsolidateInvariantError(
            f"{k}: {entry.rows_in} staged rows but {entry.rows_out} kept + {entry.quarantined} quarantined + "
            f"{entry.merged} merged"
        )


def consolidate(
    staging: Path,
    file_types: Iterable,
    reasons: dict[str, str],
    rules,
    merged_types: Iterable[str],
    memory_limit: str,
    threads: int,
    partitions: int = 1,
    table_columns=None,
) -> ConsolidateReport:
    """The frame every site's consolidation runs in.

    Clears the previous outputs of ``file_types``, removes exact duplicates
    (:func:`dedupe`) of every staged type, calls the site's
    ``rules(con, out, present, report)`` (which writes ``tables/`` through
    ``out``, a :class:`~connectors.partitioning.TableWriter`, and adds to
    ``q_<type>`` / ``m_<type>``), then :func:`reconcile` s every type
    (``merged_types`` write ``merged/``).  With ``partitions`` > 1 the tables
    are written split into person partitions (``table_columns(file type)``:
    the consolidated schema, which says which types carry a person); the
    split is ``report.partition``.
    """
    staging = Path(staging)
    file_types = tuple(file_types)
    merged_types = frozenset(merged_types)
    clear_outputs(staging, file_types)
    report = ConsolidateReport()
    out = TableWriter(staging / "tables", partitions, file_types, table_columns)
    with open_duckdb(staging, memory_limit, threads) as con:
        present = present_types(staging, file_types)
        out.present = {ft.key for ft in present}
        for ft in present:
            dedupe(con, staging, ft, report)
        rules(con, out, present, report)
        for ft in present:
            reconcile(con, staging, ft, report, reasons, ft.key in merged_types, out)
    report.partition = out.finish()
    return report
