"""The OMOP warehouse in a DuckDB file (the embedded default)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from terminology.omop_cdm import CDM

from .ddl import create_table, ddl, qualified, quote
from .sources import (
    DEFAULT_BATCH_ROWS,
    TableData,
    WarehouseLoadError,
    cdm_batches,
    load_columns,
    parquet_files,
    target_schema,
)
from .url import check_identifier


def quote_literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


class DuckDBWarehouse:
    """OMOP CDM tables in one DuckDB database file (``:memory:`` for tests).

    ``schema`` (optional) puts the tables in a named DuckDB schema instead of
    ``main``; it is created on open and put first on the search path, so
    unqualified table names in :meth:`query` resolve to it.
    """

    dialect = "duckdb"

    def __init__(self, path: str | os.PathLike, schema: str | None = None, *, read_only: bool = False):
        self.path = os.fspath(path)
        self.schema = check_identifier(schema) if schema else None
        if not read_only and self.path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        self._con = duckdb.connect(self.path, read_only=read_only)
        if self.schema:
            if not read_only:
                self._con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
            self._con.execute(f"SET search_path = '{self.schema},main'")

    # -- plumbing -----------------------------------------------------------------
    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The underlying DuckDB connection (the pipeline maps inside DuckDB)."""
        return self._con

    @property
    def url(self) -> str:
        """The warehouse URL (DuckDB URLs hold no secrets)."""
        return f"duckdb:{self.path}" + (f"?schema={self.schema}" if self.schema else "")

    def _q(self, table: str) -> str:
        return qualified(table, self.schema)

    def __enter__(self) -> DuckDBWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._con.close()

    def __repr__(self) -> str:
        return f"DuckDBWarehouse({self.url!r})"

    # -- schema -------------------------------------------------------------------
    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        """Create the CDM tables (all by default) if they do not exist; one transaction."""
        self._con.begin()
        try:
            for stmt in ddl("duckdb", tables, self.schema):
                self._con.execute(stmt)
        except BaseException:
            self._con.rollback()
            raise
        self._con.commit()

    def existing_tables(self) -> list[str]:
        """Names of the tables present in the warehouse schema, CDM tables first in spec order."""
        rows = self._con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = ? AND table_catalog = current_database() AND table_type = 'BASE TABLE'",
            [self.schema or "main"],
        ).fetchall()
        present = {r[0] for r in rows}
        ordered = [t for t in CDM.tables if t in present]
        return ordered + sorted(present - set(ordered))

    # -- load ---------------------------------------------------------------------
    def replace_table(self, name: str, data: TableData, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
        """Atomically replace all rows of CDM table ``name`` with ``data``; returns rows loaded.

        ``data`` is a pyarrow Table, a RecordBatchReader, or a Parquet file,
        directory or glob (read by DuckDB's own reader).  One transaction:
        DELETE then INSERT; on any error the old rows stay.  Creates the table
        if it does not exist yet.
        """
        CDM.table(name)
        target = self._q(name)
        if isinstance(data, (str, os.PathLike)):
            files = parquet_files(data)
            described = self._con.execute(
                "DESCRIBE SELECT * FROM read_parquet(?, union_by_name = true)", [files]
            ).fetchall()
            columns = load_columns(name, [r[0] for r in described])
            cols = ", ".join(quote(c) for c in columns)
            insert = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM read_parquet(?, union_by_name = true)"
            return self._replace(name, insert, [files], None)
        reader = cdm_batches(name, data, batch_rows)
        cols = ", ".join(quote(c) for c in reader.schema.names)
        view = f"__crossbridge_load_{name}"
        insert = f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {quote(view)}"
        return self._replace(name, insert, None, (view, reader))

    def replace_from_database(self, path: str | os.PathLike, tables: Iterable[str], source_schema: str = "main"
                              ) -> dict[str, int]:
        """Replace tables with those of another DuckDB database file, copied inside DuckDB.

        The fast path between two DuckDB files (no Arrow round trip). Each
        table is replaced atomically as in :meth:`replace_table`; the source is
        attached read-only for the duration of the call.
        """
        alias = "__crossbridge_src"
        schema = check_identifier(source_schema, "schema")
        self._con.execute(f"ATTACH {quote_literal(os.fspath(path))} AS {alias} (READ_ONLY)")
        try:
            loaded = {}
            for name in tables:
                described = self._con.execute(f"DESCRIBE SELECT * FROM {alias}.{schema}.{quote(name)}").fetchall()
                columns = load_columns(name, [r[0] for r in described])
                cols = ", ".join(quote(c) for c in columns)
                insert = (f"INSERT INTO {self._q(name)} ({cols}) "
                          f"SELECT {cols} FROM {alias}.{schema}.{quote(name)}")
                loaded[name] = self._replace(name, insert, None, None)
            return loaded
        finally:
            self._con.execute(f"DETACH {alias}")

    def _replace(self, name: str, insert: str, params: Sequence[Any] | None, view: tuple[str, Any] | None) -> int:
        con = self._con
        if view is not None:
            con.register(*view)
        try:
            con.begin()
            try:
                con.execute(create_table(name, "duckdb", self.schema))
                con.execute(f"DELETE FROM {self._q(name)}")
                (loaded,) = con.execute(insert, params).fetchone()
            except duckdb.Error as exc:
                con.rollback()
                raise WarehouseLoadError(f"{name}: load into DuckDB failed: {exc}") from exc
            except BaseException:
                con.rollback()
                raise
            con.commit()
        finally:
            if view is not None:
                con.unregister(view[0])
        return int(loaded)

    # -- read ---------------------------------------------------------------------
    def row_counts(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Row count per table (default: every table present in the schema)."""
        names = list(tables) if tables is not None else self.existing_tables()
        if not names:
            return {}
        union = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {self._q(check_identifier(t, 'table'))}" for i, t in enumerate(names)
        )
        counts = dict(self._con.execute(union).fetchall())
        return {t: int(counts[i]) for i, t in enumerate(names)}

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a query and return its result as a pyarrow Table (empty table for statements)."""
        rel = self._con.sql(sql, params=params)
        if rel is None:
            return pa.table({})
        return rel.to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run one statement (no result)."""
        self._con.execute(sql, params)

    def read_batches(
        self, name: str, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader:
        """Stream a CDM table as record batches of <= ``batch_rows`` rows, cast to the CDM Arrow types.

        Reads through a separate DuckDB cursor so the main connection stays usable.
        """
        t = CDM.table(name)
        cols = list(columns) if columns is not None else t.field_names
        for c in cols:
            t.field(c)
        schema = target_schema(name, cols)
        cursor = self._con.cursor()
        select = f"SELECT {', '.join(quote(c) for c in cols)} FROM {self._q(name)}"
        source = cursor.sql(select).to_arrow_reader(batch_rows)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for b in source:
                    yield b if b.schema == schema else b.cast(schema)
            finally:
                cursor.close()

        return pa.RecordBatchReader.from_batches(schema, batches())
