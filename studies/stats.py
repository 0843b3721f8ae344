"""Study statistics from aggregates: rates, proportions, Kaplan-Meier (pure, vectorised).

The study runner pushes SQL down to the warehouse and receives aggregates only (counts and
person-time per stratum; for survival, per stratum and distinct time the numbers of events
and censorings).  This module turns those aggregates into the measures a report shows.
No IO, no row-level data; numpy/scipy/pandas are imported inside the functions so that
importing :mod:`studies` stays cheap (Airflow DAG parsing).

Rules and conventions (each function repeats the ones that concern it):

* Inputs are aligned array-likes (numpy, pandas Series, lists or scalars) and are broadcast
  together; outputs are float numpy arrays of the broadcast shape (0-d for scalar input).
* Counts must be finite, non-negative and integer-valued; person-time finite and >= 0;
  ``level`` strictly inside (0, 1).  NaN anywhere is an error, never silently propagated.
  Violations raise :class:`StatsInputError` naming the argument and the first bad position.
* A zero denominator (person-time 0, denominator 0) gives NaN for the estimate and both
  limits: the measure is undefined there, not zero.
* Incidence rates: exact Poisson (Garwood 1936) limits from chi-square quantiles.
* Proportions: Wilson score (default) or exact Clopper-Pearson limits.
* Kaplan-Meier: product-limit estimate, Greenwood standard error *of S(t)*, and the
  log-log ("exponential Greenwood") interval, which is R ``survival::survfit(...,
  conf.type = "log-log")``.  Ties: at one time, events happen before censorings (persons
  censored at t are in the risk set at t), the usual convention (R, SAS, lifelines).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

__all__ = [
    "KM_COLUMNS",
    "StatsInputError",
    "incidence_rate",
    "kaplan_meier",
    "kaplan_meier_by_stratum",
    "km_from_individuals",
    "km_median",
    "proportion",
    "proportions_by_stratum",
    "rates_by_stratum",
    "survival_at",
]

KM_COLUMNS = ("time", "at_risk", "events", "censored", "survival", "std_err", "lower", "upper")
PROPORTION_METHODS = ("wilson", "clopper-pearson")


class StatsInputError(ValueError):
    """Aggregates or parameters that no measure can be computed from (names the argument)."""


# --------------------------------------------------------------------------- validation


def _array(name: str, values: Any) -> np.ndarray:
    import numpy as np

    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise StatsInputError(f"{name}: not numeric ({exc})") from exc
    bad = np.flatnonzero(np.isnan(arr).ravel())
    if bad.size:
        raise StatsInputError(f"{name}: NaN at position {int(bad[0])} (missing aggregates are not allowed)")
    bad = np.flatnonzero(np.isinf(arr).ravel())
    if bad.size:
        raise StatsInputError(f"{name}: infinite value at position {int(bad[0])}")
    bad = np.flatnonzero((arr < 0).ravel())
    if bad.size:
        raise StatsInputError(f"{name}: negative value {arr.ravel()[bad[0]]:g} at position {int(bad[0])}")
    return arr


def _counts(name: str, values: Any) -> np.ndarray:
    import numpy as np

    arr = _array(name, values)
    bad = np.flatnonzero((arr != np.floor(arr)).ravel())
    if bad.size:
        raise StatsInputError(f"{name}: count {arr.ravel()[bad[0]]:g} at position {int(bad[0])} is not an integer")
    return arr


def _z(level: float) -> float:
    from scipy.stats import norm

    _check_level(level)
    return float(norm.ppf(0.5 + level / 2.0))


def _check_level(level: float) -> None:
    import math

    try:
        ok = math.isfinite(float(level)) and 0.0 < float(level) < 1.0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise StatsInputError(f"level: must lie strictly between 0 and 1, got {level!r}")


def _broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    import numpy as np

    try:
        return list(np.broadcast_arrays(*arrays.values()))
    except ValueError as exc:
        shapes = ", ".join(f"{k}{v.shape}" for k, v in arrays.items())
        raise StatsInputError(f"arrays are not aligned: {shapes}") from exc


# --------------------------------------------------------------------------- rates


def incidence_rate(
    events: Any, person_years: Any, *, per: float = 1000.0, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Incidence rate ``events / person_years * per`` with exact Poisson (Garwood) limits.

    lower = chi2.ppf(a/2, 2k) / 2 / PY * per, upper = chi2.ppf(1 - a/2, 2k + 2) / 2 / PY * per
    with a = 1 - level and k events.  k = 0 gives lower 0.  person_years = 0 gives NaN for
    rate and limits (undefined, whatever k is: an event on the day of entry can have zero
    follow-up).  Returns ``(rate, lower, upper)`` as float arrays.
    """
    import numpy as np
    from scipy.stats import chi2

    _check_level(level)
    if not (np.isfinite(per) and per > 0):
        raise StatsInputError(f"per: must be a positive number, got {per!r}")
    k, py = _broadcast(events=_counts("events", events), person_years=_array("person_years", person_years))
    alpha = 1.0 - level
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(py > 0, per / np.where(py > 0, py, 1.0), np.nan)
        low_count = np.where(k > 0, chi2.ppf(alpha / 2.0, 2.0 * np.maximum(k, 1.0)) / 2.0, 0.0)
        high_count = chi2.ppf(1.0 - alpha / 2.0, 2.0 * k + 2.0) / 2.0
    return k * scale, low_count * scale, high_count * scale


def proportion(
    numerator: Any, denominator: Any, *, level: float = 0.95, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Proportion ``numerator / denominator`` (prevalence, drug-utilisation share) with limits.

    ``method="wilson"``: Wilson score interval (no continuity correction; R ``prop.test(...,
    correct = FALSE)``).  ``method="clopper-pearson"``: exact interval from beta quantiles
    (R ``binom.test``); lower 0 when x = 0, upper 1 when x = n.  denominator 0 gives NaN.
    Returns ``(p, lower, upper)`` as float arrays.
    """
    import numpy as np
    from scipy.stats import beta

    if method not in PROPORTION_METHODS:
        raise StatsInputError(f"method: one of {PROPORTION_METHODS}, got {method!r}")
    z = _z(level)
    x, n = _broadcast(
        numerator=_counts("numerator", numerator), denominator=_counts("denominator", denominator)
    )
    bad = np.flatnonzero((x > n).ravel())
    if bad.size:
        i = int(bad[0])
        raise StatsInputError(
            f"numerator {x.ravel()[i]:g} exceeds denominator {n.ravel()[i]:g} at position {i}"
        )
    defined = n > 0
    safe_n = np.where(defined, n, 1.0)
    p = np.where(defined, x / safe_n, np.nan)
    if method == "wilson":
        z2 = z * z
        centre = (x + z2 / 2.0) / (safe_n + z2)
        half = z * np.sqrt(x * (safe_n - x) / safe_n + z2 / 4.0) / (safe_n + z2)
        # exact at the extremes (the formula gives 0 and 1 only up to rounding)
        lower = np.where(x > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
        upper = np.where(x < safe_n, np.clip(centre + half, 0.0, 1.0), 1.0)
    else:
        alpha = 1.0 - level
        with np.errstate(invalid="ignore"):
            lower = np.where(x > 0, beta.ppf(alpha / 2.0, np.maximum(x, 1.0), safe_n - x + 1.0), 0.0)
            upper = np.where(x < safe_n, beta.ppf(1.0 - alpha / 2.0, x + 1.0, np.maximum(safe_n - x, 1.0)), 1.0)
    return p, np.where(defined, lower, np.nan), np.where(defined, upper, np.nan)


# --------------------------------------------------------------------------- Kaplan-Meier


def km_from_individuals(durations: Any, observed: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aggregate individual follow-up to ``(times, events, censored)`` per distinct time.

    ``durations`` >= 0; ``observed`` true/1 for an event, false/0 for a censoring.  This is
    what the runner's SQL returns; here for tests and small in-memory data.
    """
    import numpy as np

    t = _array("durations", durations).ravel()
    obs_raw = np.asarray(observed).ravel()
    if obs_raw.shape != t.shape:
        raise StatsInputError(f"durations and observed are not aligned: {t.shape} vs {obs_raw.shape}")
    obs = _counts("observed", obs_raw.astype(float))
    if np.any(obs > 1):
        raise StatsInputError("observed: must be boolean or 0/1")
    times, inverse = np.unique(t, return_inverse=True)
    events = np.bincount(inverse, weights=obs, minlength=times.size)
    censored = np.bincount(inverse, weights=1.0 - obs, minlength=times.size)
    return times, events.astype(np.int64), censored.astype(np.int64)


def kaplan_meier(
    times: Any,
    events: Any,
    censored: Any,
    *,
    at_risk: Any = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Kaplan-Meier table from per-time aggregates (one row per distinct time, ascending).

    ``times``, ``events`` and ``censored`` are aligned; repeated times are summed and rows
    need not be sorted.  The number at risk at t is everyone not yet event-ed or censored
    before t (events and censorings *at* t are still at risk at t: events before
    censorings).  ``at_risk`` may instead be given (e.g. with delayed entry computed in
    SQL); it must cover ``events + censored`` at every time (then repeated times are errors).

    Columns: time, at_risk, events, censored, survival (product-limit), std_err (Greenwood
    standard error of S(t): S * sqrt(sum d / (n (n - d)))), lower, upper: the log-log
    interval exp(-exp(log(-log S) +/- z * sqrt(sum d/(n(n-d))) / |log S|)), i.e. R
    ``survfit(conf.type = "log-log")``.  Before the first event S = 1, std_err 0 and the
    limits are 1.  Once S = 0 (everyone at risk had the event) std_err and limits are NaN
    (Greenwood and log-log are undefined there).
    """
    import numpy as np
    import pandas as pd

    z = _z(level)
    t = _array("times", times).ravel()
    d = _counts("events", events).ravel()
    c = _counts("censored", censored).ravel()
    if not (t.shape == d.shape == c.shape):
        raise StatsInputError(f"times, events, censored are not aligned: {t.shape}, {d.shape}, {c.shape}")
    if at_risk is None:
        uniq, inverse = np.unique(t, return_inverse=True)
        d = np.bincount(inverse, weights=d, minlength=uniq.size)
        c = np.bincount(inverse, weights=c, minlength=uniq.size)
        t = uniq
        leaving = d + c
        n = leaving.sum() - np.cumsum(leaving) + leaving
    else:
        n = _counts("at_risk", at_risk).ravel()
        if n.shape != t.shape:
            raise StatsInputError(f"at_risk is not aligned with times: {n.shape} vs {t.shape}")
        if np.unique(t).size != t.size:
            raise StatsInputError("times: repeated time with at_risk given (aggregate per time first)")
        order = np.argsort(t, kind="stable")
        t, d, c, n = t[order], d[order], c[order], n[order]
        bad = np.flatnonzero(d + c > n)
        if bad.size:
            i = int(bad[0])
            raise StatsInputError(
                f"events ({d[i]:g}) + censored ({c[i]:g}) exceed at_risk ({n[i]:g}) at time {t[i]:g}"
            )
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n > 0, 1.0 - d / np.where(n > 0, n, 1.0), 1.0))
        green = np.cumsum(np.where(d > 0, d / (n * (n - d)), 0.0))  # var(log S); inf once d == n
        dead = surv <= 0.0
        std_err = np.where(dead, np.nan, surv * np.sqrt(green))
        log_s = np.log(surv)
        spread = z * np.sqrt(green) / np.abs(log_s)
        theta = np.log(-log_s)
        lower = np.exp(-np.exp(theta + spread))
        upper = np.exp(-np.exp(theta - spread))
    first = surv >= 1.0
    lower = np.where(first, 1.0, np.where(dead, np.nan, lower))
    upper = np.where(first, 1.0, np.where(dead, np.nan, upper))
    return pd.DataFrame(
        {
            "time": t,
            "at_risk": n.astype(np.int64),
            "events": d.astype(np.int64),
            "censored": c.astype(np.int64),
            "survival": surv,
            "std_err": std_err,
            "lower": lower,
            "upper": upper,
        },
        columns=list(KM_COLUMNS),
    )


def _check_km_table(table: pd.DataFrame) -> None:
    missing = [col for col in ("time", "survival") if col not in table.columns]
    if missing:
        raise StatsInputError(f"not a Kaplan-Meier table: missing columns {missing}")


def km_median(table: pd.DataFrame) -> float:
    """Median survival time: the first time with survival <= 0.5; NaN if never reached.

    (R averages the two candidate times when S is exactly 0.5 over an interval; this does not.)
    """
    import numpy as np

    _check_km_table(table)
    reached = np.flatnonzero(table["survival"].to_numpy() <= 0.5)
    return float(table["time"].to_numpy()[reached[0]]) if reached.size else float("nan")


def survival_at(table: pd.DataFrame, t: Any) -> np.ndarray:
    """S(t) from a Kaplan-Meier table: right-continuous step function, vectorised over t.

    1 before the first time; the survival of the last row with time <= t; NaN beyond the
    last time in the table unless survival there is already 0 (the estimate is undefined
    after the last follow-up).
    """
    import numpy as np

    _check_km_table(table)
    q = _array("t", t)
    times = table["time"].to_numpy(dtype=float)
    surv = np.concatenate(([1.0], table["survival"].to_numpy(dtype=float)))
    out = surv[np.searchsorted(times, q, side="right")]
    if times.size:
        beyond = (q > times[-1]) & (surv[-1] > 0.0)
        out = np.where(beyond, np.nan, out)
    return out


# --------------------------------------------------------------------------- strata


def _grouped_sums(frame: pd.DataFrame, strata_cols: Sequence[str], value_cols: list[str]) -> pd.DataFrame:
    cols = list(strata_cols)
    missing = [col for col in cols + value_cols if col not in frame.columns]
    if missing:
        raise StatsInputError(f"frame has no columns {missing}")
    if not cols:
        return frame[value_cols].sum().to_frame().T.reset_index(drop=True)
    return frame.groupby(cols, dropna=False, observed=True, sort=True)[value_cols].sum().reset_index()


def rates_by_stratum(
    frame: pd.DataFrame,
    strata_cols: Sequence[str],
    events_col: str,
    py_col: str,
    *,
    per: float = 1000.0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Incidence rate with exact Poisson limits per stratum of an aggregate frame.

    Rows of the same stratum are summed first (events and person-time), so finer aggregates
    (e.g. per site) may be passed.  Columns: strata, ``events_col``, ``py_col``, rate, lower,
    upper.  No strata (``[]``) gives one overall row.
    """
    out = _grouped_sums(frame, strata_cols, [events_col, py_col])
    rate, lower, upper = incidence_rate(out[events_col], out[py_col], per=per, level=level)
    return out.assign(rate=rate, lower=lower, upper=upper)


def proportions_by_stratum(
    frame: pd.DataFrame,
    strata_cols: Sequence[str],
    numerator_col: str,
    denominator_col: str,
    *,
    level: float = 0.95,
    method: str = "wilson",
) -> pd.DataFrame:
    """Proportion with limits per stratum (sums within stratum first); columns as rates_by_stratum."""
    out = _grouped_sums(frame, strata_cols, [numerator_col, denominator_col])
    p, lower, upper = proportion(out[numerator_col], out[denominator_col], level=level, method=method)
    return out.assign(proportion=p, lower=lower, upper=upper)


def kaplan_meier_by_stratum(
    frame: pd.DataFrame,
    strata_cols: Sequence[str],
    *,
    time_col: str = "time",
    events_col: str = "events",
    censored_col: str = "censored",
    level: float = 0.95,
) -> pd.DataFrame:
    """One Kaplan-Meier table per stratum, stacked: strata columns followed by KM_COLUMNS."""
    import pandas as pd

    cols = list(strata_cols)
    missing = [col for col in cols + [time_col, events_col, censored_col] if col not in frame.columns]
    if missing:
        raise StatsInputError(f"frame has no columns {missing}")
    if not cols:
        return kaplan_meier(frame[time_col], frame[events_col], frame[censored_col], level=level)
    parts = []
    for key, part in frame.groupby(cols, dropna=False, observed=True, sort=True):  # loop over strata only
        table = kaplan_meier(part[time_col], part[events_col], part[censored_col], level=level)
        for col, value in zip(cols, key, strict=True):
            table.insert(cols.index(col), col, value)
        parts.append(table)
    if not parts:
        return pd.DataFrame(columns=cols + list(KM_COLUMNS))
    return pd.concat(parts, ignore_index=True)
