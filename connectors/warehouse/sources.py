"""Input normalisation shared by the warehouse stores.

``replace_table`` accepts a pyarrow Table, a RecordBatchReader, or a Parquet
file / directory / glob.  :func:`cdm_batches` turns any of them into a stream
of record batches of at most ``batch_rows`` rows whose columns are a checked
subset of the CDM table, cast to the project's Arrow types.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Union

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from terminology.omop_cdm import CDM, arrow_type

TableData = Union[pa.Table, pa.RecordBatchReader, str, os.PathLike]

DEFAULT_BATCH_ROWS = 50_000


class WarehouseError(RuntimeError):
    """Base class for warehouse failures."""


class WarehouseLoadError(WarehouseError):
    """Loading a table failed; the message names the table (and field or file)."""


def parquet_files(path: str | os.PathLike) -> list[str]:
    """Parquet files named by a file, a directory (searched recursively) or a glob, sorted."""
    p = os.fspath(path)
    if any(ch in p for ch in "*?["):
        files = sorted(f for f in glob.glob(p, recursive=True) if os.path.isfile(f))
    elif os.path.isdir(p):
        files = sorted(str(f) for f in Path(p).rglob("*.parquet") if f.is_file())
    elif os.path.isfile(p):
        files = [p]
    else:
        raise WarehouseLoadError(f"Parquet input {p!r} does not exist")
    if not files:
        raise WarehouseLoadError(f"Parquet input {p!r} matches no files")
    return files


def load_columns(table: str, names: list[str]) -> list[str]:
    """Check input column names against a CDM table; return them in the table's field order.

    Unknown columns and missing required columns raise :class:`WarehouseLoadError`;
    optional columns that are absent are loaded as NULL.
    """
    t = CDM.table(table)
    unknown = [n for n in names if n not in t]
    if unknown:
        raise WarehouseLoadError(f"{table}: input has columns that are not CDM fields: {unknown}")
    missing = [n for n in t.required_fields if n not in names]
    if missing:
        raise WarehouseLoadError(f"{table}: input lacks required fields {missing}")
    present = set(names)
    return [n for n in t.field_names if n in present]


def target_schema(table: str, columns: list[str]) -> pa.Schema:
    """Arrow schema of the given columns of a CDM table (all nullable)."""
    t = CDM.table(table)
    return pa.schema([pa.field(c, arrow_type(t.field(c))) for c in columns])


def cast_batch(table: str, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Select and cast a batch to ``schema``; a failed cast names table and field."""
    arrays = []
    for f in schema:
        col = batch.column(f.name)
        if col.type != f.type:
            if pa.types.is_timestamp(col.type) and col.type.tz is not None and pa.types.is_timestamp(f.type):
                col = pc.cast(col, pa.timestamp(col.type.unit))  # UTC wall clock, explicit
            try:
                col = pc.cast(col, f.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise WarehouseLoadError(f"{table}.{f.name}: cannot convert {col.type} to {f.type}: {exc}") from exc
        arrays.append(col)
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _slices(batches: Iterator[pa.RecordBatch], batch_rows: int) -> Iterator[pa.RecordBatch]:
    for b in batches:
        for start in range(0, b.num_rows, batch_rows):
            yield b.slice(start, batch_rows)


def cdm_batches(table: str, data: TableData, batch_rows: int = DEFAULT_BATCH_ROWS) -> pa.RecordBatchReader:
    """A reader of ``data`` cast to the CDM types of ``table``, batches of <= ``batch_rows`` rows."""
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be positive, got {batch_rows}")
    if isinstance(data, pa.Table):
        columns = load_columns(table, data.column_names)
        source: Iterator[pa.RecordBatch] = iter(data.select(columns).to_batches(max_chunksize=batch_rows))
    elif isinstance(data, pa.RecordBatchReader):
        columns = load_columns(table, data.schema.names)
        source = _slices(iter(data), batch_rows)
    elif isinstance(data, (str, os.PathLike)):
        files = parquet_files(data)
        dataset = ds.dataset(files, format="parquet")
        columns = load_columns(table, dataset.schema.names)
        source = _slices(iter(dataset.to_batches(columns=columns, batch_size=batch_rows)), batch_rows)
    else:
        raise TypeError(f"{table}: cannot load {type(data).__name__}; give a pyarrow Table, RecordBatchReader or Parquet path")
    schema = target_schema(table, columns)
    return pa.RecordBatchReader.from_batches(schema, (cast_batch(table, b, schema) for b in source))
