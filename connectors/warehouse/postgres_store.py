"""The OMOP warehouse in PostgreSQL (the scaled deployment).

Bulk loads use ``COPY ... FROM STDIN (FORMAT CSV)``: each Arrow record batch is
encoded to CSV by pyarrow (vectorised, in C++) and written to the copy stream,
so memory is bounded by one batch and no row becomes Python objects.  A table's
secondary indexes are dropped before its COPY and built once after the load
(:meth:`PostgresWarehouse.create_indexes`); foreign keys are applied after the
load too (``ddl.constraints``), since a referenced table cannot be truncated.  Bulk
reads use ``COPY (SELECT ...) TO STDOUT (FORMAT CSV)`` parsed by pyarrow.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
import psycopg.errors
import pyarrow as pa
import pyarrow.csv as pacsv

from terminology.omop_cdm import CDM

from .ddl import INDEXED_COLUMNS, create_table, ddl, index_name, indexes, qualified, quote
from .sources import DEFAULT_BATCH_ROWS, TableData, WarehouseLoadError, cdm_batches, target_schema
from .url import check_identifier, redact

_CSV_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="all_valid")
# NULL is written unquoted-empty, the empty string as "" (PostgreSQL CSV semantics).

# PostgreSQL type OIDs -> Arrow types for query() results; others are inferred.
_OID_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    19: pa.string(),
    25: pa.string(),
    1042: pa.string(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
}


class PostgresWarehouse:
    """OMOP CDM tables in one PostgreSQL schema (``public`` unless the URL says ``?schema=``).

    The connection runs in autocommit mode; multi-statement operations
    (create_schema, replace_table) run in explicit transactions.
    """

    dialect = "postgresql"

    def __init__(self, conninfo: str, schema: str | None = None):
        self.schema = check_identifier(schema) if schema else "public"
        self._conninfo = conninfo
        self._conn = psycopg.connect(conninfo, autocommit=True)
        search_path = f"{quote(self.schema)}, public" if self.schema != "public" else "public"
        self._conn.execute(f"SET search_path TO {search_path}")
        self._conn.execute("SET client_encoding TO 'UTF8'")
        self._conn.execute("SET DateStyle TO 'ISO, YMD'")
        self._conn.execute("SET TimeZone TO 'UTC'")

    # -- plumbing -----------------------------------------------------------------
    @property
    def url(self) -> str:
        """The warehouse URL with any password redacted."""
        return redact(self._conninfo) + ("" if self.schema == "public" else f"?schema={self.schema}")

    @property
    def connection(self) -> psycopg.Connection:
        """The underlying psycopg connection (autocommit)."""
        return self._conn

    def _q(self, table: str) -> str:
        return qualified(table, self.schema)

    def __enter__(self) -> PostgresWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._conn.close()

    def __repr__(self) -> str:
        return f"PostgresWarehouse({self.url!r})"

    # -- schema -------------------------------------------------------------------
    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        """Create the schema and the CDM tables (all by default) if absent; one transaction."""
        with self._conn.transaction():
            self._conn.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
            for stmt in ddl("postgresql", tables, self.schema):
                self._conn.execute(stmt)

    def existing_tables(self) -> list[str]:
        """Names of the tables present in the warehouse schema, CDM tables first in spec order."""
        rows = self._conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            [self.schema],
        ).fetchall()
        present = {r[0] for r in rows}
        ordered = [t for t in CDM.tables if t in present]
        return ordered + sorted(present - set(ordered))

    # -- load ---------------------------------------------------------------------
    def replace_table(self, name: str, data: TableData, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
        """Atomically replace all rows of CDM table ``name`` with ``data``; returns rows loaded.

        One transaction: CREATE TABLE IF NOT EXISTS, TRUNCATE, then COPY FROM STDIN
        (CSV) streamed batch by batch.  Readers see the old rows until commit; on
        any error the old rows stay.  A table referenced by foreign keys (after
        :func:`~connectors.warehouse.ddl.constraints`) cannot be truncated and
        raises :class:`WarehouseLoadError`.
        """
        CDM.table(name)
        reader = cdm_batches(name, data, batch_rows)
        cols = ", ".join(quote(c) for c in reader.schema.names)
        target = self._q(name)
        loaded = 0
        try:
            with self._conn.transaction(), self._conn.cursor() as cur:
                cur.execute(create_table(name, "postgresql", self.schema))
                for col in INDEXED_COLUMNS.get(name, ()):  # secondary indexes come back in create_indexes()
                    cur.execute(f"DROP INDEX IF EXISTS {quote(self.schema)}.{quote(index_name(name, col))}")
                cur.execute(f"TRUNCATE {target}")
                with cur.copy(f"COPY {target} ({cols}) FROM STDIN (FORMAT CSV)") as copy:
                    for batch in reader:
                        if batch.num_rows == 0:
                            continue
                        buf = io.BytesIO()
                        pacsv.write_csv(batch, buf, _CSV_WRITE)
                        copy.write(buf.getbuffer())
                        loaded += batch.num_rows
        except psycopg.errors.FeatureNotSupported as exc:
            raise WarehouseLoadError(
                f"{name}: cannot truncate (referenced by foreign keys?); load before applying constraints(): {exc}"
            ) from exc
        except psycopg.Error as exc:
            raise WarehouseLoadError(f"{name}: load into PostgreSQL failed: {exc}") from exc
        return loaded

    def create_indexes(self, tables: Iterable[str]) -> list[str]:
        """After a bulk load: the secondary indexes of ``tables`` (person and concept columns; dropped by
        :meth:`replace_table` so that COPY does not maintain them row by row), then ANALYZE.
        Returns the index names.  Primary keys stay during the load: they refuse a duplicate id."""
        tables = [t for t in tables if t in CDM.tables]
        stmts = indexes("postgresql", tables, self.schema)
        for stmt in stmts:
            self._conn.execute(stmt)
        for t in tables:
            self._conn.execute(f"ANALYZE {self._q(t)}")
        return [index_name(t, c) for t in tables for c in INDEXED_COLUMNS.get(t, ())]

    # -- read ---------------------------------------------------------------------
    def row_counts(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Exact row count per table (default: every table present in the schema)."""
        names = list(tables) if tables is not None else self.existing_tables()
        if not names:
            return {}
        union = " UNION ALL ".join(
            f"SELECT {i} AS i, count(*) AS n FROM {self._q(check_identifier(t, 'table'))}" for i, t in enumerate(names)
        )
        counts = dict(self._conn.execute(union).fetchall())
        return {t: int(counts[i]) for i, t in enumerate(names)}

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a query (psycopg ``%s`` / ``%(name)s`` placeholders) and return a pyarrow Table.

        Meant for result-sized data (counts, cohorts, checks); stream whole
        tables with :meth:`read_batches`.  ``numeric`` columns come back as
        Arrow decimals.
        """
        with self._conn.cursor() as cur:
            cur.execute(sql, params)
            if cur.description is None:
                return pa.table({})
            rows = cur.fetchall()
            names = [d.name for d in cur.description]
            types = [_OID_TYPES.get(d.type_code) for d in cur.description]
        columns = list(zip(*rows)) if rows else [() for _ in names]
        arrays = [pa.array(list(col), type=t) for col, t in zip(columns, types)]
        return pa.Table.from_arrays(arrays, names=names)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run one statement (autocommit)."""
        self._conn.execute(sql, params)

    def read_batches(
        self, name: str, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader:
        """Stream a CDM table as record batches of <= ``batch_rows`` rows in the CDM Arrow types.

        Uses COPY TO STDOUT (CSV); libpq delivers one message per row, which are
        only gathered here and parsed by pyarrow per batch.  Consume the reader
        fully before using this warehouse for anything else.
        """
        t = CDM.table(name)
        cols = list(columns) if columns is not None else t.field_names
        for c in cols:
            t.field(c)
        schema = target_schema(name, cols)
        select = f"COPY (SELECT {', '.join(quote(c) for c in cols)} FROM {self._q(name)}) TO STDOUT (FORMAT CSV)"
        read = pacsv.ReadOptions(column_names=cols, use_threads=False)
        convert = pacsv.ConvertOptions(
            column_types=schema,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        )
        parse = pacsv.ParseOptions(newlines_in_values=True)

        def to_batch(chunks: list[bytes]) -> Iterator[pa.RecordBatch]:
            table = pacsv.read_csv(io.BytesIO(b"".join(chunks)), read, parse, convert)
            yield from table.select(cols).cast(schema).to_batches()

        def batches() -> Iterator[pa.RecordBatch]:
            with self._conn.cursor() as cur, cur.copy(select) as copy:
                chunks: list[bytes] = []
                for row in copy:  # one CopyData message per row (libpq)
                    chunks.append(bytes(row))
                    if len(chunks) >= batch_rows:
                        yield from to_batch(chunks)
                        chunks = []
                if chunks:
                    yield from to_batch(chunks)

        return pa.RecordBatchReader.from_batches(schema, batches())
