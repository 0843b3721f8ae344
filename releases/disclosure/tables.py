"""Small-cell suppression of aggregate tables, with complementary suppression.

:func:`suppress_table` takes one row per inner cell (dims + count), completes
the grid (absent combinations count 0), adds every marginal total (each subset
of dims, the grand total included; margins written ``"(all)"`` in the dim
column, see :mod:`releases.disclosure.cube`) and then:

1. primary suppression: every cell, margins included, with
   ``0 < count < threshold`` (``0 <= count`` when ``zero_is_safe=False``);
2. complementary suppression, line rule: no line (a 1-D slice along one dim
   plus its margin) may hold exactly one suppressed cell; where one does, the
   unsuppressed non-zero cell of that line with the smallest count is
   suppressed too; repeated over all dims until stable;
3. audit (:mod:`releases.disclosure.audit`): the line rule alone does not
   stop every recomputation (a suppressed cell bridging two suppression cycles,
   two small primaries adding up to a published difference), so the table is
   attacked; for each suppressed cell that is recoverable, or each primary cell
   the attacker can prove is below the threshold, the smallest non-zero
   published cell on a line that pins the bound (a line with a non-zero dual
   in the attacker's program; else one of the cell's own lines) is suppressed
   as well; back to 2 until the audit finds nothing.  Suppressing more only
   widens the attacker's intervals, so this ends (at worst with every
   non-zero cell suppressed).

Cost: tables of a few thousand cells with a normal share of small counts take
about a second; a table where most cells are small (thousands suppressed in
one linked group) can take minutes, since each unresolved cell costs linear
programs over the whole group.

Zeros are never used as complements (a suppressed zero is weak cover and would
break the attacker's ``>= 1`` knowledge under ``zero_is_safe``).

The returned table carries a flag column (``"primary"`` / ``"complementary"``
/ None) for the site's records and the audit; :meth:`SuppressionResult.for_release`
drops it, since flags tell a reader which hidden cells are small.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from releases.disclosure.audit import analyse, classify
from releases.disclosure.cube import MARGIN, Cube, cube_from_cells, cube_positions_frame, lines
from releases.disclosure.thresholds import validate_threshold

PRIMARY = "primary"
COMPLEMENTARY = "complementary"


class SuppressionInvariantError(RuntimeError):
    """Complementary suppression reached a state its rules say cannot happen (a bug)."""


@dataclass(frozen=True)
class SuppressionResult:
    """The published table (suppressed counts NA, nullable Int64) and what was suppressed.

    ``audit_rounds``: how many times the attacker was run until it found nothing
    (run :func:`~releases.disclosure.audit.audit_suppression` on ``table`` for
    every suppressed cell's interval).
    """

    table: pd.DataFrame
    dims: tuple[str, ...]
    count_col: str
    flag_col: str
    threshold: int
    n_primary: int
    n_complementary: int
    audit_rounds: int

    def for_release(self) -> pd.DataFrame:
        """The table without the flag column."""
        return self.table.drop(columns=[self.flag_col])


def _apply_line_rule(values: np.ndarray, supp: np.ndarray) -> None:
    """Suppress, in place, the smallest non-zero published cell of every line holding exactly one suppressed cell."""
    while True:
        changed = False
        for axis in range(values.ndim):
            need = supp.sum(axis=axis, keepdims=True) == 1
            if not need.any():
                continue
            cand = np.where(~supp & (values > 0), values, np.inf).astype(float)
            idx = np.argmin(cand, axis=axis, keepdims=True)
            best = np.take_along_axis(cand, idx, axis=axis)
            if (need & ~np.isfinite(best)).any():
                raise SuppressionInvariantError("a line with one suppressed cell has no non-zero published cell")
            add = np.zeros_like(supp)
            np.put_along_axis(add, idx, need, axis=axis)
            supp |= add
            changed = True
        if not changed:
            return


def _smallest_published(values: np.ndarray, supp: np.ndarray, candidates: np.ndarray) -> int | None:
    """The flat index of the smallest non-zero published cell among ``candidates`` (None if none)."""
    flat_values, flat_supp = values.ravel(), supp.ravel()
    ok = candidates[~flat_supp[candidates] & (flat_values[candidates] > 0)]
    if len(ok) == 0:
        return None
    return int(ok[np.argmin(flat_values[ok])])


def _lines_through(shape: tuple[int, ...], cell: int) -> np.ndarray:
    """Flat indices of every cell sharing a line with ``cell``."""
    coords = np.unravel_index(cell, shape)
    out = []
    for axis, size in enumerate(shape):
        index = [np.full(size, c) for c in coords]
        index[axis] = np.arange(size)
        out.append(np.ravel_multi_index(tuple(index), shape))
    return np.unique(np.concatenate(out))


def _protect(cube: Cube, primary: np.ndarray, threshold: int, lower_bound: int, integer: bool):
    """Line rule, attack, cover what the attack found; until the attack finds nothing."""
    values = cube.values
    shape = values.shape
    rows, cells, _ = lines(shape)
    order = np.argsort(rows, kind="stable")
    cells_of_line = np.split(cells[order], np.cumsum(np.bincount(rows))[:-1])
    supp = primary.copy()
    rounds = 0
    cache: dict = {}
    while True:
        _apply_line_rule(values, supp)
        rounds += 1
        found = analyse(
            np.where(supp, np.nan, values),
            lower_bound=lower_bound,
            integer=integer,
            primary=primary,
            threshold=threshold,
            verdict_only=True,
            known=values,
            cache=cache,
        )
        finding = classify(found.lower, found.upper, primary, threshold)
        bad = np.flatnonzero(finding.ravel() != None)  # noqa: E711 (object array comparison)
        if len(bad) == 0:
            return supp, rounds
        added: list[int] = []
        for cell in bad.tolist():
            # the published cells on the lines whose duals pin the bound; else the cell's own lines
            pinning = found.binding.get(cell)
            near = (
                np.unique(np.concatenate([cells_of_line[i] for i in pinning]))
                if pinning is not None and len(pinning)
                else _lines_through(shape, cell)
            )
            if np.isin(added, near).any():
                continue  # a cover added this round already acts on it: attack again first
            target = _smallest_published(values, supp, near)
            if target is None:
                target = _smallest_published(values, supp, _lines_through(shape, cell))
            if target is not None:
                supp.flat[target] = True
                added.append(target)
        if not added:
            # nothing left near the findings: widen from any suppressed cell's lines
            for cell in np.flatnonzero(supp.ravel()).tolist():
                target = _smallest_published(values, supp, _lines_through(shape, cell))
                if target is not None:
                    supp.flat[target] = True
                    added.append(target)
                    break
        if not added:
            raise SuppressionInvariantError("audit findings remain with every non-zero cell suppressed")


def suppress_table(
    df: pd.DataFrame,
    dims: Sequence[str],
    count_col: str,
    threshold: int,
    *,
    margins: bool = True,
    zero_is_safe: bool = True,
    flag_col: str = "suppression",
    integer_audit: bool = False,
) -> SuppressionResult:
    """Primary and complementary suppression of a table of counts (see module doc).

    ``margins=False`` leaves the margin rows out of the returned table, but they
    are still protected against (totals leak from elsewhere: the cohort size in
    the paper), so the inner cells are suppressed as if margins were published.
    """
    threshold = validate_threshold(threshold)
    cube = cube_from_cells(df, dims, count_col)
    values = cube.values
    small = values < threshold
    primary = small & (values > 0) if zero_is_safe else small
    lower_bound = 1 if zero_is_safe else 0
    supp, rounds = _protect(cube, primary, threshold, lower_bound, integer_audit)

    table = cube_positions_frame(cube)
    table[count_col] = pd.array(np.where(supp, 0, values).ravel(), dtype="Int64")
    table.loc[supp.ravel(), count_col] = pd.NA
    flags = np.full(values.shape, None, dtype=object)
    flags[supp & ~primary] = COMPLEMENTARY
    flags[primary] = PRIMARY
    table[flag_col] = pd.array(flags.ravel(), dtype="string")
    if not margins:
        inner = ~table[list(cube.dims)].isin([MARGIN]).any(axis=1)
        table = table[inner]
    return SuppressionResult(
        table=table.reset_index(drop=True),
        dims=cube.dims,
        count_col=count_col,
        flag_col=flag_col,
        threshold=threshold,
        n_primary=int(primary.sum()),
        n_complementary=int((supp & ~primary).sum()),
        audit_rounds=rounds,
    )
