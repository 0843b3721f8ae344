"""OMOP CDM v5.4 warehouses: DuckDB (embedded) and PostgreSQL (scaled).

Both implement :class:`Warehouse`; pick one by URL with :func:`open_warehouse`::

    with open_warehouse("duckdb:/work/omop.duckdb") as wh:
        wh.create_schema()
        wh.replace_table("person", "staging/person/*.parquet")
        wh.row_counts()

    with open_warehouse("duckdb:/work/omop.duckdb") as src, \\
         open_warehouse("postgresql://etl@db:5432/omop?schema=cdm") as dst:
        copy_warehouse(src, dst)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from .ddl import constraints, ddl, indexes
from .sources import DEFAULT_BATCH_ROWS, TableData, WarehouseError, WarehouseLoadError
from .url import InvalidWarehouseUrl, WarehouseUrl, parse_warehouse_url

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "InvalidWarehouseUrl",
    "TableData",
    "Warehouse",
    "WarehouseError",
    "WarehouseLoadError",
    "WarehouseUrl",
    "constraints",
    "copy_warehouse",
    "ddl",
    "indexes",
    "open_warehouse",
    "parse_warehouse_url",
]


@runtime_checkable
class Warehouse(Protocol):
    """What every OMOP warehouse offers (DuckDBWarehouse, PostgresWarehouse)."""

    dialect: str  # "duckdb" | "postgresql"
    schema: str | None  # DuckDB: None = main; PostgreSQL: "public" unless ?schema=

    @property
    def url(self) -> str:
        """The warehouse URL, password redacted."""
        ...

    def create_schema(self, tables: Iterable[str] | None = None) -> None:
        """Create the CDM tables (all by default) if absent; idempotent."""
        ...

    def replace_table(self, name: str, data: TableData, batch_rows: int = DEFAULT_BATCH_ROWS) -> int:
        """Atomically replace a CDM table's rows with ``data`` (Arrow table/reader or Parquet path); rows loaded."""
        ...

    def existing_tables(self) -> list[str]:
        """Tables present in the warehouse schema (CDM tables first, spec order)."""
        ...

    def row_counts(self, tables: Iterable[str] | None = None) -> dict[str, int]:
        """Exact row count per table (default: every table present)."""
        ...

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> pa.Table:
        """Run a query; result as a pyarrow Table (placeholders: DuckDB ``?``/``$name``, PostgreSQL ``%s``)."""
        ...

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        """Run one statement."""
        ...

    def read_batches(
        self, name: str, batch_rows: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> pa.RecordBatchReader:
        """Stream a CDM table as Arrow record batches in the CDM Arrow types."""
        ...

    def close(self) -> None:
        """Close the connection."""
        ...

    def __enter__(self) -> Warehouse: ...

    def __exit__(self, *exc: object) -> None: ...


def open_warehouse(url: str) -> Warehouse:
    """Open the warehouse named by ``url``.

    ``duckdb:PATH`` or ``PATH.duckdb`` (optionally ``?schema=NAME``;
    ``duckdb::memory:`` for an in-memory database), or
    ``postgresql://user[:password]@host:port/db[?schema=NAME]``.
    """
    parsed = parse_warehouse_url(url)
    if parsed.dialect == "duckdb":
        from .duckdb_store import DuckDBWarehouse

        return DuckDBWarehouse(parsed.target, parsed.schema)
    from .postgres_store import PostgresWarehouse

    return PostgresWarehouse(parsed.target, parsed.schema)


def copy_warehouse(
    src: Warehouse,
    dst: Warehouse,
    tables: Iterable[str] | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> dict[str, int]:
    """Copy CDM tables from ``src`` to ``dst`` in Arrow batches; returns rows copied per table.

    ``tables`` defaults to every CDM table present in ``src``.  Creates missing
    tables in ``dst``, then replaces each table atomically while streaming, so
    memory stays bounded by about one batch per table.
    """
    from terminology.omop_cdm import CDM

    if isinstance(tables, str):
        raise TypeError("tables must be an iterable of table names, not a single string")
    names = list(tables) if tables is not None else [t for t in src.existing_tables() if t in CDM.tables]
    dst.create_schema(names)
    copied: dict[str, int] = {}
    for name in names:
        copied[name] = dst.replace_table(name, src.read_batches(name, batch_rows), batch_rows)
    return copied
