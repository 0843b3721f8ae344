"""Study measures (docs/studies.md, "Definitions"): the SQL engine against an independent pandas reference.

The reference below is written from docs/studies.md alone, on individual rows in pandas:
first events, observation periods, time at risk split by calendar year, windows, censoring,
latest consent.  It is compared with :func:`studies.measures.compute_measures` on

* hand-made populations whose expected values are worked out by hand in the comments (the
  reference must give them too), and
* random populations and random study parameters (hypothesis): 1-25 persons observed in
  2008-2020, with events outside observation, before birth, after death, of other concepts,
  in two tables, persons with two observation periods, consent given then withdrawn.

Frames are compared raw (before disclosure control) after dropping rows whose counts are all
zero, sorting, and casting counts to int64.  Dates are held as day numbers (days since
1970-01-01) here and written to DuckDB as DATE.

Two rules were settled in docs/studies.md after this reference was first written from it: a
person dead before F is not in the cohort, and persons outside every declared age group are
never counted whatever ``by`` says.  They are the constants ``COHORT_NEEDS_ALIVE_AT_ENTRY`` and
``FEASIBILITY_ALWAYS_IN_AGE_GROUPS`` (one hand-made test each shows the difference).
Also unspecified, and kept out of the random data: observation periods ending before they
start, two consent records of one person on the same day, feasibility by period.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from studies.spec import Study, parse_study

# --------------------------------------------------------------------------- data

FEMALE, MALE = 8532, 8507
GIVEN, WITHDRAWN = "BIOBANK_BROAD_CONSENT", "BIOBANK_CONSENT_WITHDRAWN"
T2D_A, T2D_B, MI, OTHER_COND = 201826, 443238, 4329847, 999
METFORMIN, OTHER_DRUG = 1503297, 888
BLOOD, OTHER_SPECIMEN = 4001225, 777
CONCEPT_IDS = {"t2d": [T2D_A, T2D_B], "mi": [MI], "metformin": [METFORMIN], "blood": [BLOOD]}
CONCEPT_SETS = {name: {"system": "concept_id", "codes": [str(c) for c in ids]} for name, ids in CONCEPT_IDS.items()}

SCHEMA: dict[str, dict[str, str]] = {
    "person": {"person_id": "BIGINT", "gender_concept_id": "INTEGER", "year_of_birth": "INTEGER"},
    "observation_period": {"person_id": "BIGINT", "observation_period_start_date": "DATE",
                           "observation_period_end_date": "DATE"},
    "death": {"person_id": "BIGINT", "death_date": "DATE"},
    "condition_occurrence": {"person_id": "BIGINT", "condition_concept_id": "INTEGER",
                             "condition_start_date": "DATE"},
    "drug_exposure": {"person_id": "BIGINT", "drug_concept_id": "INTEGER", "drug_exposure_start_date": "DATE"},
    "observation": {"person_id": "BIGINT", "observation_concept_id": "INTEGER", "observation_date": "DATE",
                    "observation_source_value": "VARCHAR"},
    "specimen": {"person_id": "BIGINT", "specimen_concept_id": "INTEGER", "specimen_date": "DATE"},
}
#: event tables of this test schema: (concept column, date column)
EVENT_TABLES = {
    "condition_occurrence": ("condition_concept_id", "condition_start_date"),
    "drug_exposure": ("drug_concept_id", "drug_exposure_start_date"),
    "observation": ("observation_concept_id", "observation_date"),
}
Tables = dict[str, pd.DataFrame]


def day(iso: str) -> int:
    """Day number of an ISO date."""
    return (dt.date.fromisoformat(iso) - dt.date(1970, 1, 1)).days


class Population:
    """Hand-made OMOP rows; dates as ISO strings."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple]] = defaultdict(list)

    def person(self, pid: int, gender: int, yob: int, periods: Iterable[tuple[str, str]] = (),
               death: str | None = None) -> Population:
        self.rows["person"].append((pid, gender, yob))
        for s, e in periods:
            self.rows["observation_period"].append((pid, day(s), day(e)))
        if death:
            self.rows["death"].append((pid, day(death)))
        return self

    def condition(self, pid: int, concept: int, date: str) -> Population:
        self.rows["condition_occurrence"].append((pid, concept, day(date)))
        return self

    def drug(self, pid: int, concept: int, date: str) -> Population:
        self.rows["drug_exposure"].append((pid, concept, day(date)))
        return self

    def observation(self, pid: int, concept: int, date: str, source: str = "") -> Population:
        self.rows["observation"].append((pid, concept, day(date), source))
        return self

    def consent(self, pid: int, given: bool, date: str, concept: int = 0) -> Population:
        return self.observation(pid, concept, date, GIVEN if given else WITHDRAWN)

    def specimen(self, pid: int, concept: int, date: str) -> Population:
        self.rows["specimen"].append((pid, concept, day(date)))
        return self

    def tables(self) -> Tables:
        return make_tables(self.rows)


def make_tables(rows: Mapping[str, list[tuple]]) -> Tables:
    out = {}
    for name, cols in SCHEMA.items():
        frame = pd.DataFrame(list(rows.get(name, [])), columns=list(cols))
        for col, kind in cols.items():
            frame[col] = frame[col].astype(object if kind == "VARCHAR" else "int64")
        out[name] = frame
    return out


def write_duckdb(tables: Tables, path: Path) -> Path:
    """The tables as an OMOP-named DuckDB file (day numbers become DATE)."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for name, cols in SCHEMA.items():
            con.execute(f"CREATE TABLE {name} ({', '.join(f'{c} {t}' for c, t in cols.items())})")
            frame = tables[name]
            if frame.empty:
                continue
            src = frame[list(cols)].copy()
            exprs = [f"DATE '1970-01-01' + CAST({c} AS INTEGER)" if t == "DATE" else f"CAST({c} AS {t})"
                     for c, t in cols.items()]
            con.register("src_frame", src)
            con.execute(f"INSERT INTO {name} SELECT {', '.join(exprs)} FROM src_frame")
            con.unregister("src_frame")
    finally:
        con.close()
    return path


def make_study(measures: list[dict], *, periods: list, age: list | None = None, sex: bool = True,
               cohort: dict | None = None) -> Study:
    strata: dict = {"sex": sex}
    if age is not None:
        strata["age"] = age
    data = {"study_id": "ref-test", "title": "reference", "concept_sets": CONCEPT_SETS, "periods": periods,
            "strata": strata, "measures": measures, "sites": {"test": {"permit": "P1"}}}
    if cohort is not None:
        data["cohort"] = cohort
    return parse_study(data)


def run_engine(tables: Tables, study: Study, directory: Path) -> dict[str, pd.DataFrame]:
    from studies.database import open_study_database
    from studies.measures import compute_measures

    directory.mkdir(parents=True, exist_ok=True)
    path = write_duckdb(tables, directory / "omop.duckdb")
    with open_study_database(f"duckdb:{path}") as db:
        return compute_measures(db, study, CONCEPT_IDS)


# --------------------------------------------------------------------------- the reference (docs/studies.md)

COUNTS = {
    "count": ("persons",), "feasibility": ("persons",), "prevalence": ("cases", "persons"),
    "drug_utilisation": ("users", "persons"), "incidence": ("events", "person_days"),
    "time_to_event": ("events", "censored"),
}
NEVER = 10 ** 7  # a day number later than any date (no event / no death)

# Two rules docs/studies.md states ("did not die before F"; "the strata declare the study
# population"); the hand-made tests at the end of the cases show each one's effect.
#: a person recorded dead before their first event F is not in the cohort
COHORT_NEEDS_ALIVE_AT_ENTRY = True
#: feasibility counts only persons whose age at the first period's start is in a declared age group,
#: even when ``by`` has no age_group (the overall count)
FEASIBILITY_ALWAYS_IN_AGE_GROUPS = True


def _year(days) -> np.ndarray:
    return np.asarray(days, dtype="int64").astype("datetime64[D]").astype("datetime64[Y]").astype("int64") + 1970


def _jan1(years) -> np.ndarray:
    return (np.asarray(years, dtype="int64") - 1970).astype("datetime64[Y]").astype("datetime64[D]").astype("int64")


def _label(values, bands, label) -> np.ndarray:
    """The label of the band each value falls in, None outside every band."""
    values = np.asarray(values)
    out = np.full(len(values), None, dtype=object)
    for band in bands:
        out[(values >= band[0]) & (values <= band[1])] = label(band)
    return out


def _persons(t: Tables) -> pd.DataFrame:
    p = t["person"]
    g = p["gender_concept_id"].to_numpy()
    sex = np.select([g == FEMALE, g == MALE], ["female", "male"], "other").astype(object)
    return pd.DataFrame({"person_id": p["person_id"].to_numpy(), "sex": sex, "yob": p["year_of_birth"].to_numpy()})


def _periods(t: Tables) -> pd.DataFrame:
    op = t["observation_period"]
    return pd.DataFrame({"person_id": op["person_id"].to_numpy(), "S": op["observation_period_start_date"].to_numpy(),
                         "E": op["observation_period_end_date"].to_numpy()})


def _death(t: Tables) -> pd.Series:
    d = t["death"]
    return d.groupby("person_id")["death_date"].min().rename("death")


def _events(t: Tables, ids: Iterable[int]) -> pd.DataFrame:
    """Every row of an event table whose concept is in the set: person_id, day (its start date)."""
    ids = list(ids)
    parts = [t[name].loc[t[name][concept].isin(ids), ["person_id", date]].set_axis(["person_id", "day"], axis=1)
             for name, (concept, date) in EVENT_TABLES.items()]
    return pd.concat(parts, ignore_index=True).astype("int64")


def _aggregate(frame: pd.DataFrame, keys: list[str], counts: Iterable[str]) -> pd.DataFrame:
    counts = list(counts)
    if keys:
        return frame.groupby(keys, as_index=False)[counts].sum()
    return pd.DataFrame({c: [int(frame[c].sum())] for c in counts})


def reference_cohort(t: Tables, study: Study, ids: Mapping[str, list[int]]) -> pd.DataFrame:
    """person_id, F, S, E, X and the strata of each cohort person."""
    c = study.cohort
    first = _events(t, ids[c.entry]).groupby("person_id", as_index=False)["day"].min().rename(columns={"day": "F"})
    m = first.merge(_periods(t), on="person_id")  # at most one period holds F (periods do not overlap)
    m = m[(m["S"] + c.prior_observation_days <= m["F"]) & (m["F"] <= m["E"])]
    m = m.merge(_persons(t), on="person_id")
    year = _year(m["F"])
    age = year - m["yob"].to_numpy()
    m = m.assign(age=age, period=_label(year, study.periods, study.period_label),
                 age_group=_label(age, study.age_groups, study.age_label))
    m = m[(m["age"] >= c.age[0]) & (m["age"] <= c.age[1]) & m["period"].notna() & m["age_group"].notna()]
    m = m.merge(_death(t), left_on="person_id", right_index=True, how="left")
    m["X"] = np.minimum(m["E"].to_numpy(), m["death"].fillna(NEVER).to_numpy()).astype("int64")
    if COHORT_NEEDS_ALIVE_AT_ENTRY:
        m = m[m["X"] >= m["F"]]
    return m.reset_index(drop=True)


def reference_incidence(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    first = _events(t, ids[measure.event]).groupby("person_id")["day"].min().rename("F")
    r = _periods(t).merge(_persons(t), on="person_id")
    r = r.merge(first, left_on="person_id", right_index=True, how="left")
    r = r.merge(_death(t), left_on="person_id", right_index=True, how="left")
    r["start"] = r["S"] + measure.washout_days
    r["end"] = np.minimum.reduce([r["E"].to_numpy(), r["F"].fillna(NEVER).to_numpy(),
                                  r["death"].fillna(NEVER).to_numpy()]).astype("int64")
    r = r[r["start"] <= r["end"]].reset_index(drop=True)
    # person-time split by calendar year, at the age in that year
    ys, ye = _year(r["start"]), _year(r["end"])
    n = ye - ys + 1
    offset = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    pt = r.loc[r.index.repeat(n)].reset_index(drop=True)
    year = np.repeat(ys, n) + offset
    lo = np.maximum(pt["start"].to_numpy(), _jan1(year))
    hi = np.minimum(pt["end"].to_numpy(), _jan1(year + 1) - 1)
    pt = pt.assign(year=year, person_days=hi - lo + 1, events=0)
    # an event in the year of F when F is in the time at risk
    ev = r[r["F"].notna() & (r["F"] >= r["start"]) & (r["F"] <= r["end"])]
    ev = ev.assign(year=_year(ev["F"].astype("int64")), person_days=0, events=1)
    rows = pd.concat([pt, ev], ignore_index=True)
    age = rows["year"].to_numpy() - rows["yob"].to_numpy()
    rows["period"] = _label(rows["year"], study.periods, study.period_label)
    rows["age_group"] = _label(age, study.age_groups, study.age_label)
    rows = rows[rows["period"].notna() & rows["age_group"].notna()]
    return _aggregate(rows, list(measure.by), COUNTS["incidence"])


def reference_prevalence(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    op, persons, ev = _periods(t), _persons(t), _events(t, ids[measure.event])
    parts = []
    for first, last in study.periods:
        lo, hi = int(_jan1([first])[0]), int(_jan1([last + 1])[0]) - 1
        observed = op.loc[(op["S"] <= hi) & (op["E"] >= lo), "person_id"]
        cases = ev.loc[(ev["day"] >= lo) & (ev["day"] <= hi), "person_id"]
        d = persons[persons["person_id"].isin(observed)]
        parts.append(d.assign(period=study.period_label((first, last)),
                              age_group=_label(first - d["yob"].to_numpy(), study.age_groups, study.age_label),
                              cases=d["person_id"].isin(cases).astype("int64"), persons=1))
    rows = pd.concat(parts, ignore_index=True)
    rows = rows[rows["age_group"].notna()]
    return _aggregate(rows, list(measure.by), COUNTS["prevalence"])


def reference_drug_utilisation(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    a, b = measure.window
    coh = reference_cohort(t, study, ids)
    keep = coh["S"] <= coh["F"] + a
    if measure.require_full_window:
        keep &= coh["X"] >= coh["F"] + b
    den = coh[keep]
    de = t["drug_exposure"]
    drugs = de.loc[de["drug_concept_id"].isin(ids[measure.drug]), ["person_id", "drug_exposure_start_date"]]
    j = den[["person_id", "F"]].merge(drugs, on="person_id")
    start = j["drug_exposure_start_date"]
    users = j.loc[(start >= j["F"] + a) & (start <= j["F"] + b), "person_id"]
    den = den.assign(users=den["person_id"].isin(users).astype("int64"), persons=1)
    return _aggregate(den, list(measure.by), COUNTS["drug_utilisation"])


def reference_time_to_event(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    coh = reference_cohort(t, study, ids)
    j = coh[["person_id", "F"]].merge(_events(t, ids[measure.event]), on="person_id")
    if measure.exclude_prior:
        coh = coh[~coh["person_id"].isin(j.loc[j["day"] < j["F"], "person_id"])]
    first_after = j[j["day"] >= j["F"]].groupby("person_id")["day"].min()
    T = coh["person_id"].map(first_after).to_numpy(dtype=float)  # NaN: no event on or after F
    F, X = coh["F"].to_numpy(), coh["X"].to_numpy()
    censor = np.minimum(X - F, measure.max_days)
    is_event = ~np.isnan(T) & (T - F <= censor)
    time = np.where(is_event, np.nan_to_num(T - F), censor).astype("int64")
    coh = coh.assign(time=time, events=is_event.astype("int64"), censored=(~is_event).astype("int64"))
    return _aggregate(coh, [*measure.by, "time"], COUNTS["time_to_event"])


def reference_feasibility(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    p = _persons(t)
    keep = np.ones(len(p), dtype=bool)
    if measure.condition:
        keep &= p["person_id"].isin(_events(t, ids[measure.condition])["person_id"]).to_numpy()
    if measure.specimen:
        sp = t["specimen"]
        sampled = sp.loc[sp["specimen_concept_id"].isin(ids[measure.specimen]), "person_id"]
        keep &= p["person_id"].isin(sampled).to_numpy()
    if measure.consent == "required":
        o = t["observation"]
        o = o[o["observation_source_value"].isin([GIVEN, WITHDRAWN])]
        latest = o.sort_values(["person_id", "observation_date"]).groupby("person_id").tail(1)
        keep &= p["person_id"].isin(latest.loc[latest["observation_source_value"] == GIVEN, "person_id"]).to_numpy()
    d = p[keep]
    if "period" in measure.by:
        raise NotImplementedError("feasibility by period is not defined in docs/studies.md")
    d = d.assign(persons=1, age_group=_label(study.periods[0][0] - d["yob"].to_numpy(), study.age_groups,
                                             study.age_label))
    if "age_group" in measure.by or FEASIBILITY_ALWAYS_IN_AGE_GROUPS:
        d = d[d["age_group"].notna()]
    return _aggregate(d, list(measure.by), COUNTS["feasibility"])


def reference_count(t: Tables, study: Study, measure, ids) -> pd.DataFrame:
    return _aggregate(reference_cohort(t, study, ids).assign(persons=1), list(measure.by), COUNTS["count"])


REFERENCE = {
    "count": reference_count, "prevalence": reference_prevalence, "incidence": reference_incidence,
    "drug_utilisation": reference_drug_utilisation, "time_to_event": reference_time_to_event,
    "feasibility": reference_feasibility,
}


def reference_measures(t: Tables, study: Study, ids: Mapping[str, list[int]]) -> dict[str, pd.DataFrame]:
    """Every measure of ``study`` recomputed in pandas from docs/studies.md."""
    return {m.name: REFERENCE[m.type](t, study, m, ids) for m in study.measures}


# --------------------------------------------------------------------------- comparison


def normalise(frame: pd.DataFrame, measure) -> pd.DataFrame:
    """Keys as text (time as int), counts as int64, all-zero rows dropped, sorted."""
    keys = [*measure.by, *(["time"] if measure.type == "time_to_event" else [])]
    counts = list(COUNTS[measure.type])
    missing = [c for c in [*keys, *counts] if c not in frame.columns]
    assert not missing, f"{measure.name}: columns {missing} missing from {list(frame.columns)}"
    out = frame.loc[:, [*keys, *counts]].copy()
    for k in keys:
        out[k] = out[k].astype("int64") if k == "time" else out[k].astype(str).astype(object)
    for c in counts:
        values = pd.to_numeric(out[c]).astype(float)
        assert np.all(values == np.round(values)), f"{measure.name}.{c}: not integer: {values.tolist()}"
        out[c] = values.astype("int64")
    out = out[(out[counts] != 0).any(axis=1)]
    return out.sort_values(keys).reset_index(drop=True) if keys else out.reset_index(drop=True)


def expected_frame(measure, rows: list[tuple]) -> pd.DataFrame:
    keys = [*measure.by, *(["time"] if measure.type == "time_to_event" else [])]
    return normalise(pd.DataFrame(rows, columns=[*keys, *COUNTS[measure.type]]), measure)


def assert_same(got: pd.DataFrame, want: pd.DataFrame, measure, what: str) -> None:
    g, w = normalise(got, measure), normalise(want, measure)
    assert g.equals(w), f"{measure.name} ({measure.type}) {what}:\ngot\n{g}\nexpected\n{w}"


def check_by_hand(t: Tables, study: Study, expected: Mapping[str, list[tuple]], tmp_path: Path) -> None:
    """The reference and the engine both give the hand-worked values."""
    ref = reference_measures(t, study, CONCEPT_IDS)
    got = run_engine(t, study, tmp_path)
    for name, rows in expected.items():
        m = study.measure(name)
        want = expected_frame(m, rows)
        assert_same(ref[name], want, m, "reference vs hand-worked")
        assert_same(got[name], want, m, "engine vs hand-worked")


# --------------------------------------------------------------------------- hand-made cases


def test_incidence_washout_year_and_age_boundaries_and_prevalence(tmp_path: Path) -> None:
    study = make_study([
        {"name": "inc", "type": "incidence", "event": "t2d", "washout_days": 365},
        {"name": "inc0", "type": "incidence", "event": "t2d", "washout_days": 0},
        {"name": "prev", "type": "prevalence", "event": "t2d"},
    ], periods=[[2014, 2014], [2015, 2016]], age=[[18, 44], [45, 64]])
    t = (Population()
         # P1 F 1970: observed 2013-06-01..; first T2D 2014-03-01 lies in the washout (time at risk would
         # start 2014-06-01): a prevalent case, no time, no event.  Washout 0: [2013-06-01, 2014-03-01],
         # 2013 outside the periods, 2014-01-01..03-01 = 31+28+1 = 60 days at 44, and the event.
         .person(1, FEMALE, 1970, [("2013-06-01", "2016-12-31")]).condition(1, T2D_A, "2014-03-01")
         # P2 M 1970, never a case: [2014-07-01, 2016-06-30]: 2014 Jul-Dec 184 days at 44 (18-44),
         # 2015 365 days at 45 and 2016 Jan-Jun 182 days (leap year) at 46 (45-64).
         # Washout 0: from 2013-07-01, so 2014 is whole: 365 days.
         .person(2, MALE, 1970, [("2013-07-01", "2016-06-30")]).condition(2, OTHER_COND, "2015-01-01")
         # P3 F 1970: [2013-01-01, 2015-03-10]: 2013 dropped (no period), 2014 365 days at 44, 2015
         # Jan 1..Mar 10 = 31+28+10 = 69 days at 45 with the event (set's second concept).
         .person(3, FEMALE, 1970, [("2012-01-01", "2016-12-31")]).condition(3, T2D_B, "2015-03-10")
         # P4 other sex 1950, dies 2015-06-15: [2014-01-01, 2015-06-15]: 2014 365 days at 64; 2015 at 65
         # is outside the age groups (dropped).
         .person(4, 0, 1950, [("2013-01-01", "2016-12-31")], death="2015-06-15")
         # P5 F 1980, two periods, first T2D 2015-03-01 between them (not observed):
         # washout 365: period 1 [2015-01-01, 2014-12-31] empty, period 2 [2016-06-01, 2015-03-01] empty.
         # washout 0: period 1 is 2014 whole, 365 days at 34; period 2 starts after F; no event anywhere.
         .person(5, FEMALE, 1980, [("2014-01-01", "2014-12-31"), ("2015-06-01", "2016-12-31")])
         .condition(5, T2D_A, "2015-03-01").condition(5, T2D_A, "2016-08-01")
         # P6 M 2010: 4 years old in 2014, outside every age group.
         .person(6, MALE, 2010, [("2010-01-01", "2016-12-31")]).condition(6, T2D_A, "2015-05-05")
         ).tables()
    check_by_hand(t, study, {
        "inc": [("2014", "18-44", "female", 0, 365), ("2014", "18-44", "male", 0, 184),
                ("2014", "45-64", "other", 0, 365), ("2015-2016", "45-64", "female", 1, 69),
                ("2015-2016", "45-64", "male", 0, 547)],
        "inc0": [("2014", "18-44", "female", 1, 60 + 365 + 365), ("2014", "18-44", "male", 0, 365),
                 ("2014", "45-64", "other", 0, 365), ("2015-2016", "45-64", "female", 1, 69),
                 ("2015-2016", "45-64", "male", 0, 547)],
        # prevalence by age at the period's start (2014 - yob, 2015 - yob); P5's T2D of 2015-03-01 is dated
        # in 2015-2016 (an event need not be observed); P4 is 65 on 2015-01-01 (no age group); P6 a child.
        "prev": [("2014", "18-44", "female", 1, 3), ("2014", "18-44", "male", 0, 1),
                 ("2014", "45-64", "other", 0, 1), ("2015-2016", "18-44", "female", 1, 1),
                 ("2015-2016", "45-64", "female", 1, 2), ("2015-2016", "45-64", "male", 0, 1)],
    }, tmp_path)


def test_cohort_entry_and_drug_utilisation_full_window(tmp_path: Path) -> None:
    study = make_study([
        {"name": "n", "type": "count"},
        {"name": "du_full", "type": "drug_utilisation", "drug": "metformin", "window": [0, 365]},
        {"name": "du_any", "type": "drug_utilisation", "drug": "metformin", "window": [0, 365],
         "require_full_window": False},
    ], periods=[[2015, 2016]], cohort={"entry": "t2d", "prior_observation_days": 365, "age": [18, 120]})
    t = (Population()
         # P1: first T2D 2015-01-10 is 223 days after the period start (< 365): rejected; the later
         # T2D of 2016-03-01 (which would be eligible) does not make P1 a cohort member.
         .person(1, FEMALE, 1960, [("2014-06-01", "2018-12-31")])
         .condition(1, T2D_A, "2015-01-10").condition(1, T2D_A, "2016-03-01").drug(1, METFORMIN, "2016-03-05")
         # P2: entry 2015-05-01 (second concept of the set), X = 2018-12-31 >= F+365; metformin on
         # 2016-05-01 = F+366 (2016 is a leap year; F+365 = 2016-04-30): not a user.
         .person(2, MALE, 1960, [("2010-01-01", "2018-12-31")])
         .condition(2, T2D_B, "2015-05-01").drug(2, METFORMIN, "2016-05-01")
         # P3: entry 2015-06-01, metformin the same day (a user); observation ends 2015-12-31 < F+365:
         # only in the denominator without the full window.
         .person(3, FEMALE, 1970, [("2012-01-01", "2015-12-31")])
         .condition(3, T2D_A, "2015-06-01").drug(3, METFORMIN, "2015-06-01")
         # P4: entry 2015-03-01, dies 2015-09-01 (X < F+365); metformin 2015-08-01: user without full window.
         .person(4, MALE, 1970, [("2012-01-01", "2019-12-31")], death="2015-09-01")
         .condition(4, T2D_A, "2015-03-01").drug(4, METFORMIN, "2015-08-01")
         # P5: entry 2016-02-01, metformin 2017-01-31 = F+365 (last day of the window): a user; another
         # drug earlier does not count.
         .person(5, FEMALE, 1955, [("2010-01-01", "2019-12-31")])
         .condition(5, T2D_A, "2016-02-01").drug(5, OTHER_DRUG, "2016-02-02").drug(5, METFORMIN, "2017-01-31")
         # P6: 15 at entry (< 18).  P7: first T2D in 2014 (no period).  P8: first T2D unobserved.
         # P9: only another condition.
         .person(6, 0, 2000, [("2010-01-01", "2019-12-31")]).condition(6, T2D_A, "2015-06-01")
         .person(7, MALE, 1960, [("2010-01-01", "2019-12-31")])
         .condition(7, T2D_A, "2014-05-01").condition(7, T2D_A, "2015-05-01")
         .person(8, FEMALE, 1960, [("2016-01-01", "2019-12-31")])
         .condition(8, T2D_A, "2015-04-01").condition(8, T2D_A, "2016-06-01")
         .person(9, MALE, 1960, [("2010-01-01", "2019-12-31")]).condition(9, OTHER_COND, "2015-06-01")
         ).tables()
    check_by_hand(t, study, {
        "n": [("2015-2016", "female", 2), ("2015-2016", "male", 2)],  # P3, P5; P2, P4
        "du_full": [("2015-2016", "female", 1, 1), ("2015-2016", "male", 0, 1)],  # P5; P2
        "du_any": [("2015-2016", "female", 2, 2), ("2015-2016", "male", 1, 2)],  # P3, P5; P2, P4 (P4 user)
    }, tmp_path)


def test_time_to_event_entry_day_death_max_days_and_prior_events(tmp_path: Path) -> None:
    study = make_study([
        {"name": "tte", "type": "time_to_event", "event": "metformin", "max_days": 365, "interval_days": 30},
        {"name": "tte_all", "type": "time_to_event", "event": "metformin", "max_days": 365, "interval_days": 30,
         "exclude_prior": False},
    ], periods=[[2015, 2016]], cohort={"entry": "t2d", "prior_observation_days": 0})
    t = (Population()
         # P1 F: metformin on the entry day: event at 0.
         .person(1, FEMALE, 1960, [("2014-01-01", "2019-12-31")])
         .condition(1, T2D_A, "2015-03-01").drug(1, METFORMIN, "2015-03-01")
         # P2 F: dies 40 days after entry (2015-04-10); metformin after death (F+61): censored at 40.
         .person(2, FEMALE, 1960, [("2014-01-01", "2019-12-31")], death="2015-04-10")
         .condition(2, T2D_A, "2015-03-01").drug(2, METFORMIN, "2015-05-01")
         # P3 F: no metformin, observed for years: censored at max_days 365.
         .person(3, FEMALE, 1960, [("2014-01-01", "2019-12-31")]).condition(3, T2D_A, "2015-01-01")
         # P4 M: metformin before entry and 30 days after: left out with exclude_prior, else event at 30.
         .person(4, MALE, 1960, [("2014-01-01", "2019-12-31")])
         .condition(4, T2D_A, "2015-06-01").drug(4, METFORMIN, "2015-01-01").drug(4, METFORMIN, "2015-07-01")
         # P5 M: metformin at F+366 (2016-06-01): censored at 365.
         .person(5, MALE, 1960, [("2014-01-01", "2019-12-31")])
         .condition(5, T2D_A, "2015-06-01").drug(5, METFORMIN, "2016-06-01")
         # P6 M: metformin on the last observed day, F+30 = X-F: an event at 30.
         .person(6, MALE, 1960, [("2014-01-01", "2015-07-31")])
         .condition(6, T2D_A, "2015-07-01").drug(6, METFORMIN, "2015-07-31")
         ).tables()
    female = [("female", 0, 1, 0), ("female", 40, 0, 1), ("female", 365, 0, 1)]
    check_by_hand(t, study, {
        "tte": female + [("male", 30, 1, 0), ("male", 365, 0, 1)],
        "tte_all": female + [("male", 30, 2, 0), ("male", 365, 0, 1)],
    }, tmp_path)


def test_feasibility_consent_latest_record_and_modes(tmp_path: Path) -> None:
    study = make_study([
        {"name": "req", "type": "feasibility", "condition": "t2d", "specimen": "blood", "consent": "required"},
        {"name": "any", "type": "feasibility", "condition": "t2d", "specimen": "blood", "consent": "any"},
        {"name": "blood_only", "type": "feasibility", "specimen": "blood"},
        {"name": "req_sex", "type": "feasibility", "condition": "t2d", "specimen": "blood", "by": ["sex"]},
    ], periods=[[2015, 2016]])
    t = (Population()
         # P1 F: T2D, blood, consent given: counted in every measure.
         .person(1, FEMALE, 1960, [("2010-01-01", "2019-12-31")]).condition(1, T2D_A, "2015-01-01")
         .specimen(1, BLOOD, "2015-02-01").consent(1, True, "2015-01-01")
         # P2 M: consent given then withdrawn (latest record): only with consent 'any'.
         .person(2, MALE, 1960, [("2010-01-01", "2019-12-31")]).condition(2, T2D_A, "2015-01-01")
         .specimen(2, BLOOD, "2015-02-01").consent(2, True, "2015-01-01", 2_000_000_001)
         .consent(2, False, "2016-01-01", 2_000_000_002)
         # P3 F: withdrawn in 2014, consented again in 2017 (latest): counted.
         .person(3, FEMALE, 1960, [("2010-01-01", "2019-12-31")]).condition(3, T2D_B, "2015-01-01")
         .specimen(3, BLOOD, "2015-02-01").consent(3, True, "2017-01-01").consent(3, False, "2014-01-01")
         # P4 M: no consent record at all: only with 'any'.
         .person(4, MALE, 1960, [("2010-01-01", "2019-12-31")]).condition(4, T2D_A, "2015-01-01")
         .specimen(4, BLOOD, "2015-02-01")
         # P5 F: T2D, consent, but a specimen of another type: never.
         .person(5, FEMALE, 1960, [("2010-01-01", "2019-12-31")]).condition(5, T2D_A, "2015-01-01")
         .specimen(5, OTHER_SPECIMEN, "2015-02-01").consent(5, True, "2015-01-01")
         # P6 other: blood and consent, no T2D: only in the specimen-only count.
         .person(6, 0, 1960, [("2010-01-01", "2019-12-31")]).condition(6, OTHER_COND, "2015-01-01")
         .specimen(6, BLOOD, "2015-02-01").consent(6, True, "2015-01-01")
         # P7 M: T2D, blood and consent but never observed: feasibility does not ask for observation.
         .person(7, MALE, 1960).condition(7, T2D_A, "2015-01-01").specimen(7, BLOOD, "2015-02-01")
         .consent(7, True, "2015-01-01")
         ).tables()
    check_by_hand(t, study, {
        "req": [(3,)],  # P1, P3, P7
        "any": [(5,)],  # P1, P2, P3, P4, P7
        "blood_only": [(4,)],  # P1, P3, P6, P7
        "req_sex": [("female", 2), ("male", 1)],
    }, tmp_path)


def test_cohort_person_recorded_dead_before_entry(tmp_path: Path) -> None:
    """docs/studies.md's cohort has no condition on death: a T2D recorded after the death date still
    makes an entry, with X = death < F (negative follow-up).  The engine leaves such persons out."""
    study = make_study([
        {"name": "n", "type": "count"},
        {"name": "du", "type": "drug_utilisation", "drug": "metformin", "window": [0, 365],
         "require_full_window": False},
        {"name": "tte", "type": "time_to_event", "event": "metformin", "max_days": 365, "interval_days": 30},
    ], periods=[[2015, 2015]], cohort={"entry": "t2d", "prior_observation_days": 365})
    # F = 2015-06-01, death 2015-01-01: X - F = -151 days
    t = (Population().person(1, FEMALE, 1960, [("2010-01-01", "2019-12-31")], death="2015-01-01")
         .condition(1, T2D_A, "2015-06-01")).tables()
    if COHORT_NEEDS_ALIVE_AT_ENTRY:
        expected: dict = {"n": [], "du": [], "tte": []}
    else:
        expected = {"n": [("2015", "female", 1)], "du": [("2015", "female", 0, 1)], "tte": [("female", -151, 0, 1)]}
    check_by_hand(t, study, expected, tmp_path)


def test_feasibility_overall_count_ignores_age(tmp_path: Path) -> None:
    """docs/studies.md: feasibility is "persons with an event of condition and a specimen row"; age (as of
    the first period's start) only defines the age_group stratum when ``by`` asks for it.  The engine
    also drops, from the overall count, persons outside every age group: here a child born after the
    first period started (age -1 outside the implicit [0, 150]) and one aged 10 (outside [18, 44])."""
    measures = [{"name": "feas", "type": "feasibility", "condition": "t2d", "specimen": "blood", "consent": "any"},
                {"name": "feas_sex", "type": "feasibility", "condition": "t2d", "specimen": "blood",
                 "consent": "any", "by": ["sex"]}]
    t = (Population()
         .person(1, FEMALE, 2016).condition(1, T2D_A, "2018-01-01").specimen(1, BLOOD, "2018-02-01")
         .person(2, MALE, 2005).condition(2, T2D_A, "2018-01-01").specimen(2, BLOOD, "2018-02-01")
         .person(3, MALE, 1980).condition(3, T2D_A, "2018-01-01").specimen(3, BLOOD, "2018-02-01")).tables()
    no_age = make_study(measures, periods=[[2015, 2015]])
    adults = make_study(measures, periods=[[2015, 2015]], age=[[18, 44]])
    if FEASIBILITY_ALWAYS_IN_AGE_GROUPS:
        check_by_hand(t, no_age, {"feas": [(2,)], "feas_sex": [("male", 2)]}, tmp_path / "a")
        check_by_hand(t, adults, {"feas": [(1,)], "feas_sex": [("male", 1)]}, tmp_path / "b")
    else:
        check_by_hand(t, no_age, {"feas": [(3,)], "feas_sex": [("female", 1), ("male", 2)]}, tmp_path / "a")
        check_by_hand(t, adults, {"feas": [(3,)], "feas_sex": [("female", 1), ("male", 2)]}, tmp_path / "b")


# --------------------------------------------------------------------------- property-based

D_LO, D_HI = day("2006-01-01"), day("2021-12-31")  # events
OBS_LO, OBS_HI = day("2008-01-01"), day("2020-12-31")  # observation


def _bands(draw, lo: int, hi: int, most: int) -> list[list[int]]:
    """Non-overlapping inclusive bands [a, b] within [lo, hi], at most ``most``."""
    values = sorted(draw(st.sets(st.integers(lo, hi), min_size=1, max_size=2 * most)))
    bands, i = [], 0
    while i < len(values) and len(bands) < most:
        if i + 1 < len(values) and draw(st.integers(0, 3)) > 0:  # mostly ranges, some single values
            bands.append([values[i], values[i + 1]])
            i += 2
        else:
            bands.append([values[i], values[i]])
            i += 1
    return bands


def _by(draw, declared: list[str]) -> dict:
    if draw(st.booleans()):
        return {}  # the default
    return {"by": [s for s in declared if draw(st.booleans())]}


@st.composite
def scenarios(draw) -> tuple[dict, dict]:
    """(study data for parse_study, OMOP rows) with dates aimed at the study's edges."""
    periods = _bands(draw, 2008, 2020, 3)
    cohort_age = sorted([draw(st.integers(0, 70)), draw(st.sampled_from([60, 80, 100, 120, 150]))])
    strata: dict = {"sex": draw(st.booleans())}
    if draw(st.booleans()):
        groups = _bands(draw, 0, 100, 3)
        if draw(st.booleans()):
            groups[-1][1] = 150
        groups = [g for g in groups if g[1] >= cohort_age[0] and g[0] <= cohort_age[1]] or [list(cohort_age)]
        strata["age"] = groups
    declared = ["period"] + (["age_group"] if "age" in strata else []) + (["sex"] if strata["sex"] else [])
    prior = draw(st.sampled_from([0, 30, 365, draw(st.integers(0, 800))]))
    washout = draw(st.sampled_from([0, 365, draw(st.integers(0, 800))]))
    a = draw(st.integers(-200, 400))
    b = a + draw(st.integers(0, 800))
    max_days = draw(st.integers(1, 1500))
    feasibility: dict = {"name": "feas", "type": "feasibility", "consent": draw(st.sampled_from(["required", "any"]))}
    which = draw(st.sampled_from(["condition", "specimen", "both"]))
    if which != "specimen":
        feasibility["condition"] = draw(st.sampled_from(["t2d", "mi"]))
    if which != "condition":
        feasibility["specimen"] = "blood"
    if draw(st.booleans()):
        feasibility["by"] = [s for s in declared if s != "period" and draw(st.booleans())]
    measures = [
        {"name": "n", "type": "count", **_by(draw, declared)},
        {"name": "prev", "type": "prevalence", "event": draw(st.sampled_from(["t2d", "mi"])), **_by(draw, declared)},
        {"name": "inc", "type": "incidence", "event": draw(st.sampled_from(["t2d", "mi"])), "washout_days": washout,
         **_by(draw, declared)},
        {"name": "du", "type": "drug_utilisation", "drug": "metformin", "window": [a, b],
         "require_full_window": draw(st.booleans()), **_by(draw, declared)},
        {"name": "tte", "type": "time_to_event", "event": draw(st.sampled_from(["metformin", "mi", "t2d"])),
         "max_days": max_days, "interval_days": draw(st.integers(1, max_days)),
         "exclude_prior": draw(st.booleans()), **_by(draw, [s for s in declared if s != "period"])},
        feasibility,
    ]
    study = {"study_id": "ref-prop", "title": "random", "concept_sets": CONCEPT_SETS,
             "cohort": {"entry": "t2d", "prior_observation_days": prior, "age": cohort_age},
             "periods": periods, "strata": strata, "measures": measures, "sites": {"test": {"permit": "P1"}}}

    year_starts = [day(f"{y}-01-01") for y in range(2008, 2022)]
    rows: dict[str, list[tuple]] = defaultdict(list)
    for pid in range(1, draw(st.integers(1, 25)) + 1):
        gender, yob = draw(st.sampled_from([FEMALE, MALE, FEMALE, MALE, 0, 8551])), draw(st.integers(1925, 2015))
        planned = []  # a likely cohort entry: T2D in a period, observed with about the prior observation
        if draw(st.booleans()):
            first, last = draw(st.sampled_from(periods))
            f = day(f"{first}-01-01") + draw(st.integers(0, 365 * (last - first + 1) - 1))
            planned = [f]
            yob = first - draw(st.integers(cohort_age[0] - 1, min(cohort_age[1], 95) + 1))
            end = f + draw(st.sampled_from([0, 1, draw(st.integers(0, 2500))]))
            spans = [(min(f - prior - draw(st.sampled_from([-1, 0, 1, draw(st.integers(0, 1000))])), end), end)]
            if draw(st.booleans()):
                gap = spans[0][1] + draw(st.integers(1, 400))
                spans.append((gap, gap + draw(st.integers(0, 1500))))
        else:
            k = draw(st.sampled_from([0, 1, 1, 1, 2, 2]))
            cuts = sorted(draw(st.lists(st.integers(OBS_LO, OBS_HI), min_size=2 * k, max_size=2 * k)))
            spans = [(cuts[i], cuts[i + 1]) for i in range(0, 2 * k, 2)]
            if k == 2 and cuts[1] >= cuts[2]:
                spans = spans[:1]
        rows["person"].append((pid, gender, yob))
        for s, e in spans:
            rows["observation_period"].append((pid, s, e))
        anchors = [s + o for s, e in spans for o in (0, prior, washout)] + [e for _, e in spans]

        def when(anchors=anchors) -> int:
            how = draw(st.sampled_from(["any", "period", "year", "near", "edge", "edge"]))
            if how == "any" or not anchors:
                return draw(st.integers(D_LO, D_HI))
            if how == "period":  # inside a declared period
                first, last = draw(st.sampled_from(periods))
                return day(f"{first}-01-01") + draw(st.integers(0, 365 * (last - first + 1) - 1))
            if how == "year":
                return draw(st.sampled_from(year_starts)) + draw(st.integers(-2, 1))
            spread = 3 if how == "edge" else 400
            return draw(st.sampled_from(anchors)) + draw(st.integers(-spread, spread))

        entries = list(planned)  # T2D dates: anchors for drugs and deaths
        for f in planned:
            rows["condition_occurrence"].append((pid, draw(st.sampled_from([T2D_A, T2D_B])), f))
            if draw(st.booleans()):  # metformin around the window
                rows["drug_exposure"].append((pid, METFORMIN, f + draw(st.integers(min(a, 0) - 3, b + 3))))
        for _ in range(draw(st.integers(0, 4))):
            concept, when_ = draw(st.sampled_from([T2D_A, T2D_B, MI, OTHER_COND])), when()
            rows["condition_occurrence"].append((pid, concept, when_))
            entries += [when_] if concept in (T2D_A, T2D_B) else []
        for _ in range(draw(st.integers(0, 1))):
            rows["observation"].append((pid, draw(st.sampled_from([T2D_A, MI, OTHER_COND])), when(), ""))
        drug_anchors = [f + o for f in entries for o in (0, a, b, max_days)] or anchors
        for _ in range(draw(st.integers(0, 3))):
            rows["drug_exposure"].append((pid, draw(st.sampled_from([METFORMIN, METFORMIN, OTHER_DRUG])),
                                          when(drug_anchors)))
        if draw(st.integers(0, 3)) == 0:
            rows["death"].append((pid, when(drug_anchors)))
        consent_days = draw(st.sets(st.integers(D_LO, D_HI), max_size=3))
        for d in consent_days:
            rows["observation"].append((pid, draw(st.sampled_from([0, 2_000_000_001, 2_000_000_002])), d,
                                        draw(st.sampled_from([GIVEN, WITHDRAWN]))))
        for _ in range(draw(st.integers(0, 2))):
            rows["specimen"].append((pid, draw(st.sampled_from([BLOOD, OTHER_SPECIMEN])), when()))
    return study, dict(rows)


@given(scenario=scenarios())
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large])
def test_every_measure_matches_the_reference_on_random_populations(scenario) -> None:
    data, rows = scenario
    study = parse_study(data)
    t = make_tables(rows)
    ref = reference_measures(t, study, CONCEPT_IDS)
    with tempfile.TemporaryDirectory(prefix="measures-ref-") as tmp:
        got = run_engine(t, study, Path(tmp))
    assert set(got) == {m.name for m in study.measures}
    problems = []
    for m in study.measures:
        try:
            assert_same(got[m.name], ref[m.name], m, "engine vs reference")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, "\n\n".join(problems)


def test_reference_helpers_split_years_inclusively() -> None:
    """The reference's own calendar arithmetic (leap years, inclusive ends)."""
    assert _year([day("2016-12-31"), day("2017-01-01"), day("1969-12-31")]).tolist() == [2016, 2017, 1969]
    assert (_jan1([2017]) - _jan1([2016])).tolist() == [366]
    assert _label(np.array([17, 18, 44, 45, 200]), [(18, 44), (45, 150)], lambda b: f"{b}").tolist() == \
        [None, "(18, 44)", "(18, 44)", "(45, 150)", None]


@pytest.mark.parametrize("band, label", [((65, 150), "65+"), ((65, 120), "65-120"), ((18, 44), "18-44")])
def test_age_labels_follow_the_spec(band, label) -> None:
    study = make_study([{"name": "n", "type": "prevalence", "event": "t2d"}], periods=[[2015, 2015]], age=[list(band)])
    assert study.age_label(band) == label
