"""The attacker: what the published numbers of a table reveal about its suppressed cells.

For every suppressed cell, the interval of values consistent with every
published number: minimise and maximise the cell subject to the additivity
equations of the table (each line's cells sum to its margin, see
:mod:`releases.disclosure.cube`), published cells fixed, suppressed cells
``>= lower_bound``.  The LP relaxation (scipy ``linprog``, HiGHS) gives real
bounds; an integer count lies in ``[ceil(lo), floor(hi)]``, which is what is
reported.  ``integer=True`` solves the integer programs instead (``milp``):
tighter in tables whose equations are not totally unimodular (3-D and up),
slower.  The LP interval always contains the integer one, so the LP attacker
can miss a disclosure only that the integer attacker would find; 1-D and 2-D
tables with margins have integral LP vertices, where both agree.

``lower_bound`` models what the attacker knows about suppressed cells: under
this project's policy (``zero_is_safe``: zeros are published, never
suppressed) a suppressed cell is at least 1, so 1 is the default; pass 0 for a
table where zeros may be suppressed.  The flag column, if present, only tells
the *auditor* which cells are primary; the attacker is not given it (releases
drop it).

Findings:

* ``exact``: the interval is a single value (the cell is recoverable);
* ``below_threshold``: a primary cell whose upper bound is below the threshold
  (the attacker can prove it is a small count).

The equations are split into independent components (suppressed cells linked
through shared lines) and each cell's two programs use only its component.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from releases.disclosure.cube import cube_from_published, cube_positions_frame, lines
from releases.disclosure.errors import AuditSolverError, InconsistentTable

_TOL = 1e-6
_WITNESS_ROUNDS = 6


@dataclass(frozen=True)
class AuditResult:
    """Interval per suppressed cell (``lower``, ``upper``, ``finding``) and the verdict."""

    intervals: pd.DataFrame

    @property
    def findings(self) -> pd.DataFrame:
        return self.intervals[self.intervals["finding"].notna()]

    @property
    def ok(self) -> bool:
        return len(self.findings) == 0


@dataclass
class _Solution:
    value: float  # -inf when unbounded
    x: np.ndarray | None
    marginals: np.ndarray | None  # duals of the equations (LP only)


def _solve(
    c: np.ndarray, a, b: np.ndarray, lower_bound: float, integer: bool, cap: float | None = None
) -> _Solution:
    """min c.x subject to a x = b, lower_bound <= x (<= cap)."""
    from scipy.optimize import Bounds, LinearConstraint, linprog, milp

    if integer:
        res = milp(
            c,
            integrality=np.ones(len(c)),
            bounds=Bounds(lower_bound, np.inf if cap is None else cap),
            constraints=LinearConstraint(a, b, b),
        )
    else:
        res = linprog(c, A_eq=a, b_eq=b, bounds=(lower_bound, cap), method="highs")
    if res.status == 0:
        marginals = None if integer else np.asarray(res.eqlin.marginals, dtype=float)
        return _Solution(float(res.fun), np.asarray(res.x, dtype=float), marginals)
    if res.status == 3:
        return _Solution(-np.inf, None, None)
    if res.status == 2:
        raise InconsistentTable(
            f"the published numbers admit no solution with suppressed cells >= {lower_bound}: "
            "a margin is not the sum of its cells"
        )
    raise AuditSolverError(f"solver failed: status {res.status}: {res.message}")


def _int_lo(x: np.ndarray) -> np.ndarray:
    return np.ceil(x - _TOL)


def _int_hi(x: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(x), np.floor(x + _TOL), x)


class _Component:
    """The equations of one group of suppressed cells linked through shared lines.

    Every solution found (a *witness*) is remembered: the range of values seen
    per cell proves, without further programs, that a cell is not exact (two
    integers in reach) or that a primary cell can reach the threshold.  For the
    cells that get their own programs, the equations with a non-zero dual in
    the program that produced a bound are remembered (``binding``): they are
    the lines whose published numbers pin that bound.
    """

    def __init__(self, a, b: np.ndarray, lower_bound: int, integer: bool) -> None:
        self.a, self.b, self.lower_bound, self.integer = a, b, lower_bound, integer
        n = a.shape[1]
        self.seen_lo = np.full(n, np.inf)
        self.seen_hi = np.full(n, -np.inf)
        self.lo = np.full(n, np.nan)
        self.hi = np.full(n, np.nan)
        self.binding_lo: dict[int, np.ndarray] = {}
        self.binding_hi: dict[int, np.ndarray] = {}

    def see(self, x: np.ndarray) -> None:
        np.minimum(self.seen_lo, x, out=self.seen_lo)
        np.maximum(self.seen_hi, x, out=self.seen_hi)

    def _run(self, j: int, sign: float, binding: dict[int, np.ndarray]) -> float:
        c = np.zeros(self.a.shape[1])
        c[j] = sign
        sol = _solve(c, self.a, self.b, self.lower_bound, self.integer)
        if sol.x is not None:
            self.see(sol.x)
        if sol.marginals is not None:
            binding[j] = np.flatnonzero(np.abs(sol.marginals) > _TOL)
        return sign * sol.value

    def witness(self, weights: np.ndarray, cap: float | None) -> None:
        """Remember the solutions minimising and maximising ``weights . x`` (values capped at ``cap``)."""
        for sign in (1.0, -1.0):
            sol = _solve(sign * weights, self.a, self.b, self.lower_bound, False, cap)
            if sol.x is not None:
                self.see(sol.x)

    def bound(self, j: int) -> None:
        """Exact (relaxed) lower and upper bound of cell ``j``."""
        if self.seen_lo[j] <= self.lower_bound + _TOL:
            self.lo[j] = self.lower_bound  # a witness already sits on the bound
        else:
            self.lo[j] = self._run(j, 1.0, self.binding_lo)
        self.hi[j] = self._run(j, -1.0, self.binding_hi)

    def unproven(self, primary: np.ndarray, threshold: int | None) -> np.ndarray:
        """Cells whose witnessed range does not yet show two integers (and the threshold, if primary)."""
        lo, hi = _int_lo(self.seen_lo), _int_hi(self.seen_hi)
        unsafe = (hi - lo < 1) | (primary & (hi < (threshold if threshold is not None else -np.inf)))
        return np.flatnonzero(unsafe)


@dataclass(frozen=True)
class Analysis:
    """Bounds per cube cell (NaN where published) and, per cell, the lines pinning its bounds."""

    lower: np.ndarray
    upper: np.ndarray
    binding: dict[int, np.ndarray]  # flat cell -> line ids (see cube.lines) with non-zero duals


def analyse(
    published: np.ndarray,
    *,
    lower_bound: int = 1,
    integer: bool = False,
    primary: np.ndarray | None = None,
    threshold: int | None = None,
    verdict_only: bool = False,
    known: np.ndarray | None = None,
    cache: dict | None = None,
) -> Analysis:
    """Integer bounds for every suppressed cell of a cube (``published``: NaN where suppressed).

    With ``verdict_only`` (used inside :func:`~releases.disclosure.tables.suppress_table`)
    a cell that witnesses already prove safe gets no programs of its own and
    its (lower, upper) are only the witnessed range, which is enough for
    :func:`classify` but narrower than the true interval.  ``known`` (a cube of
    values satisfying the equations, e.g. the true counts) is a free witness;
    ``cache`` (a dict kept by the caller across calls on growing suppression
    patterns) reuses the result of a component whose suppressed cells are the
    same as before (same cells, same equations).

    Witnesses first: programs over random positive weights of the cells not yet
    proven (minimised and maximised) prove most cells at once; only the rest
    get their own two programs.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    shape = published.shape
    flat = published.ravel()
    supp = np.isnan(flat)
    lower = np.full(flat.shape, np.nan)
    upper = np.full(flat.shape, np.nan)
    binding: dict[int, np.ndarray] = {}
    rows, cells, coefs = lines(shape)
    n_rows = int(rows.max()) + 1

    pub = ~supp[cells]
    rhs = -np.bincount(rows[pub], weights=coefs[pub] * flat[cells[pub]], minlength=n_rows)
    closed = np.bincount(rows[~pub], minlength=n_rows) == 0
    if (np.abs(rhs[closed]) > _TOL).any():
        raise InconsistentTable(f"{int((np.abs(rhs[closed]) > _TOL).sum())} fully published line(s) do not add up")
    var_cells = np.flatnonzero(supp)
    if len(var_cells) == 0:
        return Analysis(lower.reshape(shape), upper.reshape(shape), binding)
    var_of_cell = np.full(flat.shape, -1, dtype=np.int64)
    var_of_cell[var_cells] = np.arange(len(var_cells))
    open_rows = np.flatnonzero(~closed)
    row_of = np.full(n_rows, -1, dtype=np.int64)
    row_of[open_rows] = np.arange(len(open_rows))
    a = csr_matrix(
        (coefs[~pub], (row_of[rows[~pub]], var_of_cell[cells[~pub]])), shape=(len(open_rows), len(var_cells))
    )
    b = rhs[open_rows]
    is_primary = np.zeros(len(var_cells), dtype=bool) if primary is None else primary.ravel()[var_cells]

    pattern = (a != 0).astype(np.int64)
    n_comp, comp = connected_components(pattern.T @ pattern, directed=False)
    row_comp = comp[a.indices[a.indptr[:-1]]]  # every variable of a row is in the row's component
    rng = np.random.default_rng(0)  # deterministic witnesses
    lo = np.full(len(var_cells), float(lower_bound))  # cells in no open line: [lower_bound, inf)
    hi = np.full(len(var_cells), np.inf)
    rows_by_comp = np.split(np.argsort(row_comp, kind="stable"), np.cumsum(np.bincount(row_comp, minlength=n_comp))[:-1])
    vars_by_comp = np.split(np.argsort(comp, kind="stable"), np.cumsum(np.bincount(comp, minlength=n_comp))[:-1])
    for comp_rows, members in zip(rows_by_comp, vars_by_comp, strict=True):
        if len(comp_rows) == 0:
            continue
        key = (lower_bound, integer, verdict_only, threshold, tuple(var_cells[members].tolist()))
        if cache is not None and key in cache:
            lo[members], hi[members], cached_binding = cache[key]
            binding.update(cached_binding)
            continue
        part = _Component(a[comp_rows][:, members], b[comp_rows], lower_bound, integer)
        comp_primary = is_primary[members]
        cap = None
        if known is not None:
            truth = known.ravel()[var_cells[members]].astype(float)
            part.see(truth)
            cap = 2.0 * float(truth.max()) + float(threshold or 0) + lower_bound + 1.0
        if verdict_only:
            todo = part.unproven(comp_primary, threshold)
            for _ in range(_WITNESS_ROUNDS):
                if len(todo) == 0:
                    break
                weights = np.zeros(len(members))
                weights[todo] = rng.uniform(1.0, 2.0, len(todo))
                part.witness(weights, cap)
                still = part.unproven(comp_primary, threshold)
                progress, todo = len(todo) - len(still), still
                if progress < max(1, len(members) // 20):
                    break
        else:
            todo = np.arange(len(members))
            part.witness(np.ones(len(members)), None)  # cells at the lower bound need no minimum of their own
        for j in todo:
            part.bound(int(j))
        solved = ~np.isnan(part.hi)
        lo[members] = np.where(solved, part.lo, part.seen_lo)
        hi[members] = np.where(solved, part.hi, part.seen_hi)
        comp_binding: dict[int, np.ndarray] = {}
        for found in (part.binding_lo, part.binding_hi):
            for j, comp_lines in found.items():
                cell = int(var_cells[members[j]])
                line_ids = open_rows[comp_rows[comp_lines]]
                comp_binding[cell] = np.union1d(comp_binding.get(cell, line_ids[:0]), line_ids)
        binding.update(comp_binding)
        if cache is not None:
            cache[key] = (lo[members].copy(), hi[members].copy(), comp_binding)
    lower[var_cells] = _int_lo(lo)
    upper[var_cells] = _int_hi(hi)
    return Analysis(lower.reshape(shape), upper.reshape(shape), binding)


def suppressed_intervals(
    published: np.ndarray, *, lower_bound: int = 1, integer: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Integer bounds (lower, upper) of every suppressed cell of a cube; NaN where published."""
    found = analyse(published, lower_bound=lower_bound, integer=integer)
    return found.lower, found.upper


def classify(
    lower: np.ndarray, upper: np.ndarray, primary: np.ndarray | None, threshold: int | None
) -> np.ndarray:
    """Finding per cell: ``"exact"``, ``"below_threshold"`` or None (object array, cube shape)."""
    finding = np.full(lower.shape, None, dtype=object)
    supp = ~np.isnan(lower)
    if threshold is not None and primary is not None:
        finding[supp & primary & (upper < threshold)] = "below_threshold"
    finding[supp & (lower == upper)] = "exact"
    return finding


def audit_suppression(
    published: pd.DataFrame,
    dims: Sequence[str],
    count_col: str,
    *,
    threshold: int | None = None,
    lower_bound: int = 1,
    flag_col: str = "suppression",
    integer: bool = False,
) -> AuditResult:
    """Attack a published table (margins as ``"(all)"`` rows, suppressed counts NA).

    Returns the interval of every suppressed cell and its finding (see module
    doc).  ``threshold`` and a ``flag_col`` marking ``"primary"`` cells enable
    the ``below_threshold`` check; without them only exact recovery is checked.
    """
    cube, flags = cube_from_published(published, dims, count_col, flag_col)
    lower, upper = suppressed_intervals(cube.values, lower_bound=lower_bound, integer=integer)
    primary = None if flags is None else (flags == "primary")
    finding = classify(lower, upper, primary, threshold)
    frame = cube_positions_frame(cube)
    frame["flag"] = None if flags is None else flags.ravel()
    frame["lower"] = lower.ravel()
    frame["upper"] = upper.ravel()
    frame["finding"] = finding.ravel()
    return AuditResult(frame[~np.isnan(lower.ravel())].reset_index(drop=True))
