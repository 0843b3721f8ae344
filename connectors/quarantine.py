"""Quarantine: rows a connector refused, with the reason, never with identifiers.

One schema for every connector.  A quarantine row names where the row came
from (``source_file``, ``row_number`` = physical line, header = 1), the
``file_type`` (staging table), a ``reason`` code from the source's reason
list, the ``column`` at fault (null when the whole line is at fault) and a
human ``detail``.  The detail never carries the raw value of an identifier
column (callers mask it), nor the text of a whole line.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string()),
        pa.field("row_number", pa.int64()),
        pa.field("file_type", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("column", pa.string()),
        pa.field("detail", pa.string()),
    ]
)


class UnknownQuarantineReason(ValueError):
    """A quarantine row carries a reason code that is not in the source's reason list."""


def empty_quarantine() -> pa.Table:
    """A quarantine table with no rows."""
    return QUARANTINE_SCHEMA.empty_table()


def quarantine_table(
    source_file: str,
    file_type: str,
    row_numbers: np.ndarray | pa.Array | list[int],
    reasons: pa.Array | list[str],
    columns: pa.Array | list[str | None],
    details: pa.Array | list[str | None],
) -> pa.Table:
    """Build quarantine rows for one source file (arrays of equal length)."""
    rows = pa.array(row_numbers, type=pa.int64())
    n = len(rows)
    return pa.Table.from_arrays(
        [
            pa.repeat(pa.scalar(source_file, pa.string()), n),
            rows,
            pa.repeat(pa.scalar(file_type, pa.string()), n),
            pa.array(reasons, type=pa.string()),
            pa.array(columns, type=pa.string()),
            pa.array(details, type=pa.string()),
        ],
        schema=QUARANTINE_SCHEMA,
    )


def check_reasons(table: pa.Table, allowed: Mapping[str, str] | Iterable[str]) -> None:
    """Raise :class:`UnknownQuarantineReason` if a row's reason is not in ``allowed``."""
    allowed_set = set(allowed)
    present = set(pc.unique(table.column("reason")).to_pylist())  # distinct values only
    unknown = present - allowed_set
    if unknown:
        raise UnknownQuarantineReason(f"unknown quarantine reason(s) {sorted(unknown)}; allowed: {sorted(allowed_set)}")


def count_reasons(table: pa.Table) -> dict[str, int]:
    """{reason: rows} for a quarantine table."""
    if table.num_rows == 0:
        return {}
    vc = pc.value_counts(table.column("reason").combine_chunks())
    return {v["values"]: v["counts"] for v in vc.to_pylist()}  # distinct reasons only


def write_quarantine(table: pa.Table, path: Path, allowed: Mapping[str, str] | Iterable[str] | None = None) -> Path:
    """Write a quarantine table as Parquet (parents created), after checking its schema and reasons."""
    if not table.schema.equals(QUARANTINE_SCHEMA, check_metadata=False):
        table = table.cast(QUARANTINE_SCHEMA)
    if allowed is not None:
        check_reasons(table, allowed)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)
    return path


def read_quarantine(root: Path) -> pa.Table:
    """All quarantine Parquet files under ``root`` (recursively) as one table."""
    files = sorted(root.rglob("*.parquet")) if root.exists() else []
    if not files:
        return empty_quarantine()
    return pa.concat_tables([pq.read_table(f).cast(QUARANTINE_SCHEMA) for f in files])
