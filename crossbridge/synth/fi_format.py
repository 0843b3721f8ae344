"""Vectorised formatting of synthetic Finnish register values (pyarrow string arrays).

Rules (connectors/finland/layout.py): dates ``dd.mm.yyyy`` (care-register times
``dd.mm.yyyy hh:mm``), FinnGen dates ISO ``yyyy-mm-dd``, decimals with a comma
(``12,50``), codes as written (no padding); nulls stay null (the writer turns them
into the file's missing-value token).  Day numbers are int64 days since 1970-01-01.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def s(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Numbers (or strings) as a string array, null where ``mask``."""
    return pa.array(np.asarray(values), mask=mask).cast(pa.string())


def lookup(table, idx: np.ndarray) -> pa.Array:
    """``table[idx]`` as strings; null where idx < 0 or the table entry is None."""
    idx = np.asarray(idx, dtype=np.int64)
    return pa.array(list(table) + [None], pa.string()).take(pa.array(np.where(idx < 0, len(table), idx)))


def _date32(day: np.ndarray, mask: np.ndarray | None) -> pa.Array:
    return pa.array(np.asarray(day, dtype=np.int64).astype(np.int32), pa.date32(), mask=mask)


def fi_date(day: np.ndarray, mask: np.ndarray | None = None, minute: np.ndarray | None = None) -> pa.Array:
    """``dd.mm.yyyy`` (with `` hh:mm`` when ``minute`` of the day is given); null where ``mask``."""
    day = np.asarray(day, dtype=np.int64)
    if mask is not None:
        day = np.where(mask, 0, day)
    if minute is None:
        return pc.strftime(_date32(day, mask), format="%d.%m.%Y")
    sec = day * 86400 + np.asarray(minute, dtype=np.int64) * 60
    return pc.strftime(pa.array(sec, pa.timestamp("s"), mask=mask), format="%d.%m.%Y %H:%M")


def iso_date(day: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    day = np.asarray(day, dtype=np.int64)
    if mask is not None:
        day = np.where(mask, 0, day)
    return pc.strftime(_date32(day, mask), format="%Y-%m-%d")


def fi_decimal(cents: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Integer hundredths as ``12,50`` / ``-3,05``; null where ``mask``."""
    c = np.asarray(cents, dtype=np.int64)
    a = np.abs(c)
    whole = pc.binary_join_element_wise(pa.array(np.where(c < 0, "-", "")), s(a // 100), "")
    out = pc.binary_join_element_wise(whole, pc.utf8_lpad(s(a % 100), 2, "0"), ",")
    if mask is not None:
        out = pc.if_else(pa.array(np.asarray(mask, dtype=bool)), pa.scalar(None, pa.string()), out)
    return out


def decimal2(x: np.ndarray) -> pa.Array:
    """Non-negative numbers with two decimals and a point (FinnGen EVENT_AGE)."""
    h = np.rint(np.asarray(x, dtype=np.float64) * 100).astype(np.int64)
    return pc.binary_join_element_wise(s(h // 100), pc.utf8_lpad(s(h % 100), 2, "0"), ".")


def padded(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """``prefix`` + zero-padded numbers (ids such as FG00000001)."""
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(s(numbers), width, "0"), "")
