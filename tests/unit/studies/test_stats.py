"""Study statistics (issue 8): every measure against an independent computation.

Independent means: a different formula or algorithm (Poisson-CDF root finding for the exact
rate limits, the Wilson quadratic, closed forms for Clopper-Pearson at 0 and n, a plain
Python product-limit loop, pandas on individual-level data with censoring, windows and
strata), plus textbook values.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from scipy.optimize import brentq
from scipy.stats import binom, norm, poisson

from studies.stats import (
    KM_COLUMNS,
    StatsInputError,
    incidence_rate,
    kaplan_meier,
    kaplan_meier_by_stratum,
    km_from_individuals,
    km_median,
    proportion,
    proportions_by_stratum,
    rates_by_stratum,
    survival_at,
)

# --------------------------------------------------------------------------- independent references


def poisson_limits(k: int, level: float = 0.95) -> tuple[float, float]:
    """Exact Poisson limits for a count by root finding on the Poisson CDF (not chi-square)."""
    a = (1 - level) / 2
    lower = 0.0 if k == 0 else brentq(lambda mu: poisson.sf(k - 1, mu) - a, 1e-12, 10 * k + 50)
    upper = brentq(lambda mu: poisson.cdf(k, mu) - a, 1e-12, 10 * k + 50)
    return lower, upper


def wilson_by_quadratic(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson limits as the roots in p of (x/n - p)^2 = z^2 p (1 - p) / n."""
    z = norm.ppf(0.5 + level / 2)
    ph = x / n
    roots = np.roots([1 + z * z / n, -(2 * ph + z * z / n), ph * ph])
    lo, hi = sorted(float(np.real(r)) for r in roots)
    return max(lo, 0.0), min(hi, 1.0)


def clopper_pearson_by_root(x: int, n: int, level: float = 0.95) -> tuple[float, float]:
    a = (1 - level) / 2
    lower = 0.0 if x == 0 else brentq(lambda p: binom.sf(x - 1, n, p) - a, 1e-12, 1 - 1e-12)
    upper = 1.0 if x == n else brentq(lambda p: binom.cdf(x, n, p) - a, 1e-12, 1 - 1e-12)
    return lower, upper


def plain_km(durations: list[float], observed: list[int]) -> list[tuple[float, int, int, float, float]]:
    """Textbook product-limit loop over individuals: (time, n, d, S, Greenwood SE of S) per event time."""
    rows, s, acc = [], 1.0, 0.0
    for t in sorted(set(durations)):
        n = sum(1 for u in durations if u >= t)
        d = sum(1 for u, o in zip(durations, observed, strict=True) if u == t and o)
        if d:
            s *= 1 - d / n
            acc += d / (n * (n - d)) if n > d else math.inf
            rows.append((t, n, d, s, s * math.sqrt(acc)))
    return rows


# Gehan (1965) leukaemia remission times in weeks, 6-MP group (+ = censored).
GEHAN_6MP = "6 6 6 6+ 7 9+ 10 10+ 11+ 13 16 17+ 19+ 20+ 22 23 25+ 32+ 32+ 34+ 35+".split()
GEHAN_T = [float(v.rstrip("+")) for v in GEHAN_6MP]
GEHAN_OBS = [0 if v.endswith("+") else 1 for v in GEHAN_6MP]
# Placebo group: all 21 relapsed.
GEHAN_PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def gehan_table() -> pd.DataFrame:
    return kaplan_meier(*km_from_individuals(GEHAN_T, GEHAN_OBS))


# --------------------------------------------------------------------------- incidence rates


def test_incidence_rate_ten_events_in_thousand_person_years() -> None:
    rate, lower, upper = incidence_rate(10, 1000.0)
    assert float(rate) == pytest.approx(10.0)
    assert round(float(lower), 2) == 4.80 and round(float(upper), 2) == 18.39
    ref_lo, ref_hi = poisson_limits(10)
    assert float(lower) == pytest.approx(ref_lo, rel=1e-9)
    assert float(upper) == pytest.approx(ref_hi, rel=1e-9)


@pytest.mark.parametrize(
    ("k", "low", "high"),
    # Exact 95% Poisson limits for an observed count, as tabulated (e.g. Documenta Geigy
    # Scientific Tables; Breslow & Day, Statistical Methods in Cancer Research vol. II, 1987;
    # the "0 events -> upper 3.69" rule).
    [(0, 0.0, 3.689), (1, 0.0253, 5.572), (2, 0.2422, 7.225), (3, 0.6187, 8.767), (5, 1.6235, 11.668)],
)
def test_incidence_rate_matches_tabulated_exact_poisson_limits(k: int, low: float, high: float) -> None:
    _, lower, upper = incidence_rate(k, 1.0, per=1.0)
    assert float(lower) == pytest.approx(low, abs=6e-4)
    assert float(upper) == pytest.approx(high, abs=6e-4)


@pytest.mark.parametrize("level", [0.8, 0.9, 0.95, 0.99])
def test_incidence_rate_vectorised_equals_root_finding(level: float) -> None:
    k = np.array([0, 1, 2, 7, 30, 250])
    py = np.array([120.5, 80.0, 1.5, 3000.0, 12_000.25, 40_000.0])
    rate, lower, upper = incidence_rate(k, py, per=100_000.0, level=level)
    assert rate.shape == (6,)
    np.testing.assert_allclose(rate, k / py * 100_000.0)
    ref = np.array([poisson_limits(int(v), level) for v in k]) / py[:, None] * 100_000.0
    np.testing.assert_allclose(lower, ref[:, 0], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(upper, ref[:, 1], rtol=1e-8)
    assert lower[0] == 0.0


def test_incidence_rate_zero_person_time_is_nan_and_accepts_series() -> None:
    rate, lower, upper = incidence_rate(pd.Series([0, 3, 4]), pd.Series([0.0, 0.0, 2000.0]))
    assert np.isnan(rate[:2]).all() and np.isnan(lower[:2]).all() and np.isnan(upper[:2]).all()
    assert rate[2] == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("events", "py", "message"),
    [
        ([-1], [10.0], "events: negative"),
        ([1.5], [10.0], "events: count 1.5"),
        ([float("nan")], [10.0], "events: NaN"),
        ([1], [-2.0], "person_years: negative"),
        ([1], [float("nan")], "person_years: NaN"),
        ([1], [math.inf], "person_years: infinite"),
        ([1, 2], [1.0, 2.0, 3.0], "not aligned"),
    ],
)
def test_incidence_rate_rejects_bad_aggregates(events, py, message) -> None:
    with pytest.raises(StatsInputError, match=message):
        incidence_rate(events, py)


@pytest.mark.parametrize("level", [0, 1, -0.5, 1.5, float("nan"), "x"])
def test_level_outside_unit_interval_is_rejected(level) -> None:
    with pytest.raises(StatsInputError, match="level"):
        incidence_rate(1, 1.0, level=level)
    with pytest.raises(StatsInputError, match="level"):
        proportion(1, 2, level=level)
    with pytest.raises(StatsInputError, match="level"):
        kaplan_meier([1], [1], [0], level=level)


# --------------------------------------------------------------------------- proportions


def test_wilson_81_of_263() -> None:
    # Wilson score interval without continuity correction (R: prop.test(81, 263, correct = FALSE)
    # gives 0.2553 0.3662).
    p, lower, upper = proportion(81, 263)
    assert float(p) == pytest.approx(81 / 263)
    assert (round(float(lower), 4), round(float(upper), 4)) == (0.2553, 0.3662)
    ref = wilson_by_quadratic(81, 263)
    assert (float(lower), float(upper)) == pytest.approx(ref, rel=1e-9)


def test_clopper_pearson_extremes_closed_form() -> None:
    p, lower, upper = proportion([0, 10], [10, 10], method="clopper-pearson")
    np.testing.assert_allclose(p, [0.0, 1.0])
    # x = 0: upper = 1 - (a/2)^(1/n); x = n: lower = (a/2)^(1/n)
    assert upper[0] == pytest.approx(1 - 0.025 ** (1 / 10), rel=1e-10)
    assert lower[1] == pytest.approx(0.025 ** (1 / 10), rel=1e-10)
    assert round(float(upper[0]), 4) == 0.3085 and round(float(lower[1]), 4) == 0.6915
    assert lower[0] == 0.0 and upper[1] == 1.0


@given(
    n=st.integers(min_value=1, max_value=400),
    frac=st.floats(min_value=0, max_value=1),
    level=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
@settings(max_examples=60, deadline=None)
def test_proportion_limits_match_independent_formulas(n: int, frac: float, level: float) -> None:
    x = int(round(frac * n))
    for method, reference in (("wilson", wilson_by_quadratic), ("clopper-pearson", clopper_pearson_by_root)):
        p, lower, upper = proportion(x, n, level=level, method=method)
        ref_lo, ref_hi = reference(x, n, level)
        assert float(p) == pytest.approx(x / n)
        assert float(lower) == pytest.approx(ref_lo, abs=1e-8)
        assert float(upper) == pytest.approx(ref_hi, abs=1e-8)
        assert 0.0 <= float(lower) <= float(p) <= float(upper) <= 1.0


def test_proportion_zero_denominator_nan_and_errors() -> None:
    p, lower, upper = proportion([0, 2], [0, 4])
    assert np.isnan([p[0], lower[0], upper[0]]).all() and p[1] == 0.5
    with pytest.raises(StatsInputError, match="numerator 5 exceeds denominator 4 at position 1"):
        proportion([1, 5], [4, 4])
    with pytest.raises(StatsInputError, match="denominator: negative"):
        proportion([0], [-1])
    with pytest.raises(StatsInputError, match="method"):
        proportion(1, 2, method="wald")


# --------------------------------------------------------------------------- Kaplan-Meier: textbook


def test_gehan_6mp_textbook_values_checked_by_plain_loop() -> None:
    table = gehan_table()
    assert list(table.columns) == list(KM_COLUMNS)
    # Textbook values (Gehan 1965 data; e.g. Kleinbaum & Klein, Survival Analysis, ch. 2;
    # Collett, Modelling Survival Data in Medical Research): S(t) and Greenwood SE.
    textbook = {
        6: (0.857, 0.0764), 7: (0.807, 0.0869), 10: (0.753, 0.0963), 13: (0.690, 0.1068),
        16: (0.627, 0.1141), 22: (0.538, 0.1282), 23: (0.448, 0.1346),
    }
    plain = plain_km(GEHAN_T, GEHAN_OBS)
    assert [row[0] for row in plain] == list(textbook)  # the event times
    events = table[table["events"] > 0].set_index("time")
    for t, n, d, s, se in plain:
        assert round(s, 3) == textbook[int(t)][0] and round(se, 4) == textbook[int(t)][1]
        assert events.loc[t, "at_risk"] == n and events.loc[t, "events"] == d
        assert events.loc[t, "survival"] == pytest.approx(s, rel=1e-12)
        assert events.loc[t, "std_err"] == pytest.approx(se, rel=1e-12)
    # ties at t = 6: three events and one censoring, 21 at risk (censoring after events)
    assert table.iloc[0][["time", "at_risk", "events", "censored"]].tolist() == [6, 21, 3, 1]
    assert km_median(table) == 23.0


def test_gehan_6mp_log_log_interval() -> None:
    table = gehan_table().set_index("time")
    # R: survfit(Surv(time, cens) ~ 1, data = subset(MASS::gehan, treat == "6-MP"),
    #            conf.type = "log-log") -> lower 95% CI, upper 95% CI
    r_values = {
        6: (0.620, 0.952), 7: (0.563, 0.923), 10: (0.503, 0.889), 13: (0.432, 0.849),
        16: (0.368, 0.805), 22: (0.268, 0.747), 23: (0.188, 0.680),
    }
    z = norm.ppf(0.975)
    for t, n, d, s, se in plain_km(GEHAN_T, GEHAN_OBS):
        # log-log limits written as S ** exp(+-z * se(log S) / log S), se(log S) = se / S
        w = z * (se / s) / math.log(s)
        lo, hi = s ** math.exp(-w), s ** math.exp(w)
        assert table.loc[t, "lower"] == pytest.approx(lo, rel=1e-10)
        assert table.loc[t, "upper"] == pytest.approx(hi, rel=1e-10)
        assert (round(table.loc[t, "lower"], 3), round(table.loc[t, "upper"], 3)) == r_values[int(t)]


def test_gehan_placebo_without_censoring_is_the_empirical_survival() -> None:
    table = kaplan_meier(*km_from_individuals(GEHAN_PLACEBO, [1] * 21))
    durations = np.array(GEHAN_PLACEBO)
    np.testing.assert_allclose(table["survival"], [(durations > t).mean() for t in table["time"]])
    assert km_median(table) == 8.0
    last = table.iloc[-1]
    assert last["survival"] == 0.0 and np.isnan(last["std_err"]) and np.isnan(last["lower"])
    assert survival_at(table, 100.0) == 0.0


def test_survival_at_is_a_right_continuous_step_function() -> None:
    table = gehan_table()
    got = survival_at(table, [0.0, 5.99, 6.0, 6.5, 7.0, 22.9, 23.0, 35.0, 35.01])
    expected = [1.0, 1.0, 18 / 21, 18 / 21, 18 / 21 * 16 / 17]
    np.testing.assert_allclose(got[:5], expected)
    assert got[5] == pytest.approx(table.set_index("time").loc[22.0, "survival"])
    assert got[6] == got[7] == pytest.approx(table.set_index("time").loc[23.0, "survival"])
    assert np.isnan(got[8])  # after the last follow-up (censored): undefined
    assert math.isnan(km_median(table.iloc[:3]))  # never <= 0.5 -> NaN


def test_kaplan_meier_unsorted_repeated_times_are_summed() -> None:
    a = kaplan_meier([10, 3, 3, 5], [1, 1, 0, 0], [0, 0, 1, 2])
    b = kaplan_meier([3, 5, 10], [1, 0, 1], [1, 2, 0])
    pd.testing.assert_frame_equal(a, b)
    assert b["at_risk"].tolist() == [5, 3, 1]


def test_kaplan_meier_with_given_at_risk_and_its_errors() -> None:
    # delayed entry computed elsewhere: risk set sizes need not be monotone
    table = kaplan_meier([2, 1], [1, 1], [0, 1], at_risk=[6, 4])
    assert table["time"].tolist() == [1.0, 2.0]
    assert table["survival"].tolist() == pytest.approx([0.75, 0.75 * 5 / 6])
    with pytest.raises(StatsInputError, match=r"events \(3\) \+ censored \(2\) exceed at_risk \(4\) at time 1"):
        kaplan_meier([1], [3], [2], at_risk=[4])
    with pytest.raises(StatsInputError, match="repeated time"):
        kaplan_meier([1, 1], [1, 0], [0, 1], at_risk=[4, 4])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([1, 2], [1, -1], [0, 0]), "events: negative"),
        (([1, 2], [1, 1], [0, float("nan")]), "censored: NaN"),
        (([1, float("nan")], [1, 1], [0, 0]), "times: NaN"),
        (([1, 2], [1, 1], [0]), "not aligned"),
    ],
)
def test_kaplan_meier_rejects_bad_aggregates(args, message) -> None:
    with pytest.raises(StatsInputError, match=message):
        kaplan_meier(*args)


def test_km_from_individuals_rejects_bad_flags() -> None:
    with pytest.raises(StatsInputError, match="observed"):
        km_from_individuals([1, 2], [1, 2])
    with pytest.raises(StatsInputError, match="not aligned"):
        km_from_individuals([1, 2], [1])
    with pytest.raises(StatsInputError, match="durations: negative"):
        km_from_individuals([-1], [1])


# --------------------------------------------------------------------------- Kaplan-Meier: random data


def pandas_km(frame: pd.DataFrame) -> pd.DataFrame:
    """Independent KM on individuals with pandas: risk set by comparison, S by cumprod."""
    times = np.sort(frame["duration"].unique())
    at_risk = np.array([(frame["duration"] >= t).sum() for t in times])
    per_time = frame.groupby("duration")["observed"].agg(["sum", "count"]).reindex(times)
    d = per_time["sum"].to_numpy()
    c = (per_time["count"] - per_time["sum"]).to_numpy()
    s = pd.Series(1 - d / at_risk).cumprod().to_numpy()
    return pd.DataFrame({"time": times.astype(float), "at_risk": at_risk, "events": d, "censored": c, "survival": s})


individuals = st.lists(
    st.tuples(st.integers(min_value=0, max_value=12), st.booleans(), st.sampled_from(["F", "M"])),
    min_size=1,
    max_size=60,
)


@given(rows=individuals)
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_kaplan_meier_matches_pandas_on_random_censored_data(rows) -> None:
    frame = pd.DataFrame(rows, columns=["duration", "observed", "sex"]).astype({"observed": int})
    table = kaplan_meier(*km_from_individuals(frame["duration"], frame["observed"]))
    ref = pandas_km(frame)
    pd.testing.assert_frame_equal(table[list(ref.columns)], ref, check_dtype=False, rtol=1e-12)
    inner = (table["survival"] > 0) & (table["survival"] < 1)
    assert (table.loc[inner, "lower"] < table.loc[inner, "survival"]).all()
    assert (table.loc[inner, "survival"] < table.loc[inner, "upper"]).all()
    assert (table.loc[table["survival"] == 1, ["lower", "upper"]] == 1.0).all().all()
    assert table.loc[table["survival"] == 0, ["std_err", "lower", "upper"]].isna().all().all()
    plain = {t: (s, se) for t, _, _, s, se in plain_km(frame["duration"].tolist(), frame["observed"].tolist())}
    for t, (s, se) in plain.items():
        row = table.set_index("time").loc[t]
        assert row["survival"] == pytest.approx(s, abs=1e-12)
        if s > 0:
            assert row["std_err"] == pytest.approx(se, rel=1e-9)
    # stratified: one table per sex equals the table on that sex alone
    parts = []
    for sex, g in frame.groupby("sex"):
        times, events, censored = km_from_individuals(g["duration"], g["observed"])
        parts.append(pd.DataFrame({"sex": sex, "time": times, "events": events, "censored": censored}))
    agg = pd.concat(parts)
    by = kaplan_meier_by_stratum(agg, ["sex"])
    for sex, g in frame.groupby("sex"):
        got = by[by["sex"] == sex][["time", "at_risk", "events", "censored", "survival"]].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, pandas_km(g), check_dtype=False, rtol=1e-12)


# --------------------------------------------------------------------------- strata, windows


cohort = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=3000),  # entry day
        st.integers(min_value=0, max_value=2000),  # follow-up days
        st.booleans(),  # follow-up ends with the event
        st.sampled_from(["TW", "FI"]),
        st.sampled_from(["<50", "50+"]),
    ),
    min_size=1,
    max_size=80,
)


@given(rows=cohort, window=st.tuples(st.integers(0, 2500), st.integers(1, 2500)))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rates_by_stratum_match_pandas_with_windows_and_censoring(rows, window) -> None:
    frame = pd.DataFrame(rows, columns=["entry", "days", "event", "site", "age"])
    start, stop = window[0], window[0] + window[1]
    frame["exit"] = frame["entry"] + frame["days"]
    # person-time inside the window [start, stop); an event counts if it falls inside it
    frame["py"] = (frame["exit"].clip(upper=stop) - frame["entry"].clip(lower=start)).clip(lower=0) / 365.25
    frame["ev"] = (frame["event"] & (frame["exit"] >= start) & (frame["exit"] < stop)).astype(int)
    # aggregate per site x age x sex-less "row" -- then let the function sum again per stratum
    agg = frame.groupby(["site", "age", "event"], as_index=False)[["ev", "py"]].sum()
    out = rates_by_stratum(agg, ["site", "age"], "ev", "py", per=1000.0)
    ref = frame.groupby(["site", "age"], as_index=False).agg(ev=("ev", "sum"), py=("py", "sum"))
    assert out[["site", "age"]].values.tolist() == ref[["site", "age"]].values.tolist()
    np.testing.assert_array_equal(out["ev"], ref["ev"])
    np.testing.assert_allclose(out["py"], ref["py"])
    for row, (_, r) in zip(out.itertuples(), ref.iterrows(), strict=True):
        if r["py"] == 0:
            assert math.isnan(row.rate) and math.isnan(row.lower) and math.isnan(row.upper)
            continue
        lo, hi = poisson_limits(int(r["ev"]))
        assert row.rate == pytest.approx(r["ev"] / r["py"] * 1000.0)
        assert row.lower == pytest.approx(lo / r["py"] * 1000.0, rel=1e-8, abs=1e-12)
        assert row.upper == pytest.approx(hi / r["py"] * 1000.0, rel=1e-8)


def test_rates_and_proportions_by_stratum_layout() -> None:
    agg = pd.DataFrame(
        {
            "site": ["TW", "TW", "FI", "FI"],
            "sex": ["F", "M", "F", "M"],
            "events": [10, 0, 3, 5],
            "py": [1000.0, 500.0, 0.0, 250.0],
            "on_metformin": [81, 0, 2, 9],
            "diabetics": [263, 0, 4, 9],
        }
    )
    rates = rates_by_stratum(agg, ["site"], "events", "py")
    assert rates.columns.tolist() == ["site", "events", "py", "rate", "lower", "upper"]
    assert rates["site"].tolist() == ["FI", "TW"]
    assert rates["rate"].tolist() == pytest.approx([8 / 250 * 1000, 10 / 1500 * 1000])
    overall = rates_by_stratum(agg, [], "events", "py")
    assert overall[["events", "py"]].iloc[0].tolist() == [18, 1750.0]
    shares = proportions_by_stratum(agg, ["site", "sex"], "on_metformin", "diabetics")
    assert shares.columns.tolist() == ["site", "sex", "on_metformin", "diabetics", "proportion", "lower", "upper"]
    tw_f = shares[(shares["site"] == "TW") & (shares["sex"] == "F")].iloc[0]
    assert (round(tw_f["lower"], 4), round(tw_f["upper"], 4)) == (0.2553, 0.3662)
    assert np.isnan(shares[(shares["site"] == "TW") & (shares["sex"] == "M")]["proportion"]).all()
    with pytest.raises(StatsInputError, match="no columns"):
        rates_by_stratum(agg, ["region"], "events", "py")
