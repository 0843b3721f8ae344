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
   published cell on one of its lines is suppressed as well; back to 2 until
   the audit finds nothing.  Suppressing more only widens the attacker's
   intervals, so this ends (at worst with every non-zero cell suppressed).

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

from releases.disclosure.audit import classify, suppressed_intervals
from releases.disclosure.cube import MARGIN, Cube, cube_from_cells, cube_positions_frame
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


def _cover(values: np.ndarray, supp: np.ndarray, cell: tuple[int, ...]) -> tuple[int, ...] | None:
    """The smallest non-zero published cell on a line through ``cell`` (None if there is none)."""
    best, best_value = None, np.inf
    for axis in range(values.ndim):
        index = list(cell)
        index[axis] = slice(None)
        line_values = values[tuple(index)]
        cand = np.where(~supp[tuple(index)] & (line_values > 0), line_values, np.inf)
        pos = int(np.argmin(cand))
        if cand[pos] < best_value:
            best_value = cand[pos]
            best = tuple(pos if i == axis else c for i, c in enumerate(cell))
    return best


def _protect(cube: Cube, primary: np.ndarray, threshold: int, lower_bound: int, integer: bool):
    values = cube.values
    supp = primary.copy()
    rounds = 0
    cache: dict = {}
    while True:
        _apply_line_rule(values, supp)
        rounds += 1
        lower, upper = suppressed_intervals(
            np.where(supp, np.nan, values),
            lower_bound=lower_bound,
            integer=integer,
            primary=primary,
            threshold=threshold,
            verdict_only=True,
            known=values,
            cache=cache,
        )
        finding = classify(lower, upper, primary, threshold)
        bad = np.argwhere(finding != None)  # noqa: E711 (object array comparison)
        if len(bad) == 0:
            return supp, rounds
        added: list[np.ndarray] = []
        for cell in bad:
            if any(int((np.asarray(a) != cell).sum()) <= 1 for a in added):
                continue  # a cell added this round already lies on one of its lines: re-audit first
            target = _cover(values, supp, tuple(cell))
            if target is not None:
                supp[target] = True
                added.append(np.asarray(target))
        if not added:
            # every line through the flagged cells is covered: widen from any suppressed cell's lines
            for cell in map(tuple, np.argwhere(supp)):
                target = _cover(values, supp, cell)
                if target is not None:
                    supp[target] = True
                    added.append(np.asarray(target))
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
