"""From a measure's exact aggregates to the rows a report shows (pure; no disclosure decisions here).

* :func:`complete_grid` adds the declared strata a site has no row for, as zeros (a stratum
  absent from the data is a published 0, not a missing row);
* :func:`sum_margins` adds the ``(all)`` rows of summed columns (person-days);
* :func:`km_grid` turns per-time events/censorings into Kaplan-Meier estimates at the grid
  times ``0, step, 2 step, ..., max_days`` per stratum, margins included;
* :func:`estimate_columns` adds rates or proportions with 95% limits where the counts are
  published (NA elsewhere).

Disclosure control (which counts may leave) is applied by the caller with
``releases.disclosure``; these functions only compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING

from studies.spec import MeasureSpec, Study

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

MARGIN = "(all)"  # as releases.disclosure.cube.MARGIN (the published tables' margin label)
PERSON_DAYS_PER_YEAR = 365.25


def strata_labels(study: Study, m: MeasureSpec, frame: pd.DataFrame) -> dict[str, list[str]]:
    """Every declared label of each stratum of ``m`` (sex: female, male, and other when present)."""
    labels: dict[str, list[str]] = {}
    for dim in m.by:
        if dim == "period":
            labels[dim] = [study.period_label(p) for p in study.periods]
        elif dim == "age_group":
            labels[dim] = [study.age_label(b) for b in study.age_groups]
        else:
            labels[dim] = ["female", "male"] + (["other"] if (frame[dim] == "other").any() else [])
    return labels


def complete_grid(frame: pd.DataFrame, study: Study, m: MeasureSpec, value_cols: Sequence[str]) -> pd.DataFrame:
    """``frame`` with a zero row for each declared stratum combination it lacks (strata in ``m.by``)."""
    import pandas as pd

    dims = list(m.by)
    if not dims:
        if len(frame):
            return frame[list(value_cols)].sum().to_frame().T.astype("int64")
        return pd.DataFrame({c: [0] for c in value_cols}, dtype="int64")
    labels = strata_labels(study, m, frame)
    grid = pd.MultiIndex.from_product([labels[d] for d in dims], names=dims)
    out = frame.groupby(dims, sort=False)[list(value_cols)].sum().reindex(grid, fill_value=0)
    return out.reset_index().astype({c: "int64" for c in value_cols}).astype({d: "string" for d in dims})


def sum_margins(frame: pd.DataFrame, dims: Sequence[str], value_cols: Sequence[str],
                keep: Sequence[str] = ()) -> pd.DataFrame:
    """``frame`` plus, for every subset of ``dims`` summed over, rows labelled ``(all)`` there
    (``keep``: further key columns that are never summed over, e.g. time)."""
    import pandas as pd

    dims, keep = list(dims), list(keep)
    cols = dims + keep + list(value_cols)
    parts = [frame[cols]]
    for r in range(1, len(dims) + 1):
        for summed in combinations(dims, r):
            kept = [d for d in dims if d not in summed] + keep
            part = (frame.groupby(kept, sort=False)[list(value_cols)].sum().reset_index() if kept
                    else frame[list(value_cols)].sum().to_frame().T)
            for d in summed:
                part[d] = MARGIN
            parts.append(part[cols])
    return pd.concat(parts, ignore_index=True)


def km_grid(raw: pd.DataFrame, dims: Sequence[str], max_days: int, step: int, labels: dict[str, list[str]],
            level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimates at ``0, step, ..., max_days`` per stratum of ``dims`` (margins ``(all)`` included).

    ``raw``: dims + time, events, censored.  Columns: dims, time, at_risk (persons whose time is
    >= t), survival (the product-limit estimate at t, events at t included), lower, upper
    (log-log).  A stratum without persons has at_risk 0 and NaN estimates.
    """
    import numpy as np
    import pandas as pd

    from studies.stats import kaplan_meier

    dims = list(dims)
    grid = np.unique(np.append(np.arange(0, max_days + 1, step), max_days))
    pooled = sum_margins(raw, dims, ["events", "censored"], keep=["time"]) if dims else raw.copy()
    keys = [tuple(labels[d]) + (MARGIN,) for d in dims]
    strata = list(pd.MultiIndex.from_product(keys, names=dims)) if dims else [()]
    parts = []
    for key in strata:  # one KM per stratum (a handful), vectorised within
        mask = np.ones(len(pooled), dtype=bool)
        for d, v in zip(dims, key):
            mask &= (pooled[d] == v).to_numpy()
        part = pooled[mask]
        out = pd.DataFrame({"time": grid})
        for d, v in zip(dims, key):
            out.insert(dims.index(d), d, v)
        if part.empty or (part["events"].sum() + part["censored"].sum()) == 0:
            out["at_risk"], out["survival"], out["lower"], out["upper"] = 0, np.nan, np.nan, np.nan
        else:
            table = kaplan_meier(part["time"], part["events"], part["censored"], level=level)
            times = table["time"].to_numpy()
            total = int(table["events"].sum() + table["censored"].sum())
            leaving = np.concatenate([[0], np.cumsum((table["events"] + table["censored"]).to_numpy())])
            out["at_risk"] = total - leaving[np.searchsorted(times, grid, side="left")]
            idx = np.searchsorted(times, grid, side="right") - 1  # last KM time <= t
            for col in ("survival", "lower", "upper"):
                vals = table[col].to_numpy(dtype=float)
                first = 1.0 if col == "survival" else np.nan
                out[col] = np.where(idx >= 0, vals[np.maximum(idx, 0)], first)
            out.loc[idx < 0, ["lower", "upper"]] = 1.0  # before the first time S = 1 exactly
        parts.append(out)
    result = pd.concat(parts, ignore_index=True)
    result["at_risk"] = result["at_risk"].astype("int64")
    return result


def order_rows(table: pd.DataFrame, dims: Sequence[str], labels: dict[str, list[str]],
               then: Sequence[str] = ()) -> pd.DataFrame:
    """Rows in declared stratum order, ``(all)`` after each stratum's labels, then by ``then``."""
    import pandas as pd

    if not dims:
        return table.sort_values(list(then), kind="stable").reset_index(drop=True) if then else table
    keys = {d: pd.Categorical(table[d].astype(str), categories=[*labels[d], MARGIN], ordered=True) for d in dims}
    order = table.assign(**{f"_k_{d}": k for d, k in keys.items()})
    order = order.sort_values([f"_k_{d}" for d in dims] + list(then), kind="stable")
    return order.drop(columns=[f"_k_{d}" for d in dims]).reset_index(drop=True)


def estimate_columns(table: pd.DataFrame, kind: str, numerator: str, denominator: str) -> pd.DataFrame:
    """Add rate (per 1,000 PY) or proportion and 95% limits where both inputs are published (not NA)."""
    import numpy as np

    from studies.stats import incidence_rate, proportion

    num = table[numerator].astype("Float64")
    den = table[denominator].astype("Float64")
    ok = (num.notna() & den.notna()).to_numpy()
    est = np.full(len(table), np.nan)
    lo, hi = est.copy(), est.copy()
    if ok.any():
        n, d = num[ok].to_numpy(dtype=float), den[ok].to_numpy(dtype=float)
        if kind == "rate":
            e, l, h = incidence_rate(n, d)
        else:
            e, l, h = proportion(n, d)
        est[ok], lo[ok], hi[ok] = e, l, h
    name = "rate" if kind == "rate" else "proportion"
    return table.assign(**{name: est, "lower": lo, "upper": hi})


__all__ = ["MARGIN", "PERSON_DAYS_PER_YEAR", "complete_grid", "estimate_columns", "km_grid", "order_rows",
           "strata_labels", "sum_margins"]
