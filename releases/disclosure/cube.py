"""Aggregate tables as dense cubes with every marginal total (shared by suppression and audit).

A table over dims ``d1..dm`` is held as an m-dimensional array whose axis ``j``
has one position per level of ``dj`` plus a last position for the margin
``"(all)"`` (:data:`MARGIN`).  Position ``(-1, -1, ...)`` is the grand total;
every subset of dims has its marginal cells.  The published frame has one row
per cube position, the margin written as ``"(all)"`` in the dim column.

A *line* is a 1-D slice along one axis: the cells of one dim's levels, the
other coordinates fixed (margins included), plus that axis's margin cell.
Additivity: in every line the cells sum to the margin.  These equations are
everything a reader can combine published numbers with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from releases.disclosure.errors import TableStructureError

MARGIN = "(all)"


@dataclass(frozen=True)
class Cube:
    """Dims, their levels (without the margin) and the array of counts with margins."""

    dims: tuple[str, ...]
    levels: tuple[np.ndarray, ...]
    values: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape


def _check_dims(df: pd.DataFrame, dims: Sequence[str], count_col: str) -> list[str]:
    dims = list(dims)
    if not dims:
        raise TableStructureError("a table needs at least one dimension")
    if len(set(dims)) != len(dims) or count_col in dims:
        raise TableStructureError(f"dims must be distinct and differ from the count column: {dims}, {count_col!r}")
    missing = [c for c in [*dims, count_col] if c not in df.columns]
    if missing:
        raise TableStructureError(f"column(s) {missing} not in the table")
    return dims


def add_margins(base: np.ndarray) -> np.ndarray:
    """Append the margin position to every axis (sums over the levels, margins of margins included)."""
    cube = base
    for axis in range(base.ndim):
        cube = np.concatenate([cube, cube.sum(axis=axis, keepdims=True)], axis=axis)
    return cube


def cube_from_cells(df: pd.DataFrame, dims: Sequence[str], count_col: str) -> Cube:
    """Cube of a table of inner cells (one row per combination; absent combinations count 0)."""
    dims = _check_dims(df, dims, count_col)
    if len(df) == 0:
        raise TableStructureError("the table has no cells")
    if df.duplicated(dims).any():
        raise TableStructureError(f"{int(df.duplicated(dims).sum())} duplicate cell(s) over {dims}")
    counts = pd.to_numeric(df[count_col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    if np.isnan(counts).any() or (counts < 0).any() or (counts != np.floor(counts)).any():
        raise TableStructureError(f"{count_col!r} must hold non-negative whole numbers, no NULLs")
    codes, levels = [], []
    for d in dims:
        c, u = pd.factorize(df[d], use_na_sentinel=False)
        u = np.asarray(u, dtype=object)
        if pd.Index(u).isin([MARGIN]).any():
            raise TableStructureError(f"dim {d!r} already uses the margin marker {MARGIN!r} as a level")
        codes.append(c)
        levels.append(u)
    base = np.zeros(tuple(len(u) for u in levels), dtype=np.int64)
    base[tuple(codes)] = counts.astype(np.int64)
    return Cube(tuple(dims), tuple(levels), add_margins(base))


def cube_from_published(
    df: pd.DataFrame, dims: Sequence[str], count_col: str, flag_col: str | None = None
) -> tuple[Cube, np.ndarray | None]:
    """Cube of a published table with margins (NaN where suppressed) and, if present, the flags."""
    dims = _check_dims(df, dims, count_col)
    codes, levels, shape = [], [], []
    for d in dims:
        col = df[d].astype(object)
        is_margin = col.isin([MARGIN]).to_numpy(dtype=bool)
        # factorize without the margin rows, then give the margin the last position
        c, u = pd.factorize(col[~is_margin], use_na_sentinel=False)
        full = np.empty(len(col), dtype=np.int64)
        full[~is_margin] = c
        full[is_margin] = len(u)
        if not is_margin.any():
            raise TableStructureError(f"dim {d!r} has no {MARGIN!r} rows: audit needs the published margins")
        codes.append(full)
        levels.append(np.asarray(u, dtype=object))
        shape.append(len(u) + 1)
    flat = np.ravel_multi_index(tuple(codes), tuple(shape))
    if len(flat) != int(np.prod(shape)) or len(np.unique(flat)) != len(flat):
        raise TableStructureError(
            f"published table has {len(flat)} rows for a {'x'.join(map(str, shape))} cube with margins "
            "(every cell and margin exactly once is required)"
        )
    values = np.full(int(np.prod(shape)), np.nan)
    values[flat] = pd.to_numeric(df[count_col], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    flags = None
    if flag_col is not None and flag_col in df.columns:
        flags = np.full(int(np.prod(shape)), None, dtype=object)
        flags[flat] = df[flag_col].astype(object).where(df[flag_col].notna(), None).to_numpy()
        flags = flags.reshape(shape)
    return Cube(tuple(dims), tuple(levels), values.reshape(shape)), flags


def cube_positions_frame(cube: Cube) -> pd.DataFrame:
    """One row per cube position (C order), dim columns with :data:`MARGIN` for margins."""
    shape = cube.shape
    coords = np.unravel_index(np.arange(int(np.prod(shape))), shape)
    data = {}
    for d, lv, c in zip(cube.dims, cube.levels, coords, strict=True):
        ext = np.empty(len(lv) + 1, dtype=object)
        ext[: len(lv)] = lv
        ext[-1] = MARGIN
        data[d] = ext[c]
    return pd.DataFrame(data)


def lines(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse additivity equations of a cube: (row, flat cell, coefficient) triples.

    One row per line; coefficient +1 for the line's level cells, -1 for its margin
    cell, so ``sum(coefficient * value) == 0`` holds in every row.
    """
    size = int(np.prod(shape))
    coords = np.unravel_index(np.arange(size), shape)
    rows, cells, coefs = [], [], []
    offset = 0
    for axis in range(len(shape)):
        other = tuple(c for i, c in enumerate(coords) if i != axis)
        other_shape = tuple(s for i, s in enumerate(shape) if i != axis)
        line_id = np.ravel_multi_index(other, other_shape) if other else np.zeros(size, dtype=np.int64)
        rows.append(line_id + offset)
        cells.append(np.arange(size))
        coefs.append(np.where(coords[axis] == shape[axis] - 1, -1.0, 1.0))
        offset += int(np.prod(other_shape)) if other_shape else 1
    return np.concatenate(rows), np.concatenate(cells), np.concatenate(coefs)
