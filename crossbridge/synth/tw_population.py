"""Synthetic Taiwan population: persons, national IDs, chronic conditions, cancers, deaths.

All functions work on one block of persons at a time, vectorised with numpy.
Dates are int64 days since 1970-01-01.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connectors.taiwan.national_id import make_ids
from crossbridge.synth import catalogue

DAYS_PER_YEAR = 365.25
# Taiwan 2015, share of the population per 5-year age group 0-4 .. 95-99 (percent).
AGE_PYRAMID = np.array(
    [4.4, 4.4, 5.0, 6.6, 6.8, 7.0, 8.2, 8.2, 7.8, 7.8, 7.9, 7.3, 6.2, 4.2, 3.0, 2.6, 1.9, 1.0, 0.4, 0.1]
)
BIRTH_RATE = 0.008  # births per person-year
MALE_SHARE = 0.497
GOMPERTZ_A = 3.0e-5  # yearly death hazard a * exp(b * age)
GOMPERTZ_B = 0.09

CHRONIC = [i for i, c in enumerate(catalogue.CONDITIONS) if c.chronic]
ACUTE = [i for i, c in enumerate(catalogue.CONDITIONS) if not c.chronic]
COND_INDEX = {c.key: i for i, c in enumerate(catalogue.CONDITIONS)}
N_COND = len(catalogue.CONDITIONS)
# age (years) from which an adult-type chronic condition ramps up over 15 years
_ONSET_AGE = {"asthma": -100.0, "hbv": 5.0, "depr": 10.0}
_ID_LETTERS = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
_ID_BODY_MULT = 7_919_413  # coprime with 10**7: p -> body is a bijection on 0..10**7-1


def days(y: int, m: int = 1, d: int = 1) -> int:
    """Days since 1970-01-01 of a calendar date."""
    return int(np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D").astype(np.int64))


def ymd(day: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day arrays of day numbers."""
    dt = np.asarray(day, dtype=np.int64).astype("M8[D]")
    mo = dt.astype("M8[M]")
    y = mo.astype(np.int64) // 12 + 1970
    m = mo.astype(np.int64) % 12 + 1
    d = (dt - mo.astype("M8[D]")).astype(np.int64) + 1
    return y, m, d


def month_index(day: np.ndarray) -> np.ndarray:
    """Months since 1970-01 of day numbers."""
    return np.asarray(day, dtype=np.int64).astype("M8[D]").astype("M8[M]").astype(np.int64)


def month_start(mi: np.ndarray) -> np.ndarray:
    return np.asarray(mi, dtype=np.int64).astype("M8[M]").astype("M8[D]").astype(np.int64)


@dataclass
class Persons:
    """One block of persons (index i of every array = block-local person i)."""

    gidx: np.ndarray  # global person number
    national_id: np.ndarray  # str
    male: np.ndarray  # bool
    birth: np.ndarray  # day
    entry: np.ndarray  # day observation starts (period start or birth)
    exit: np.ndarray  # day observation ends (period end or death)
    died: np.ndarray  # bool (death within the period)
    area: np.ndarray  # int index into tw_masters.AREAS
    chronic_onset: np.ndarray  # (n, N_COND) day of onset, large = never
    cancer: np.ndarray  # int index into catalogue.CANCERS, -1 none
    cancer_date: np.ndarray  # day of diagnosis
    death_cause: np.ndarray  # index into catalogue.DEATH_CAUSES, -1 alive

    @property
    def n(self) -> int:
        return self.gidx.size

    def age_at(self, day: np.ndarray, pid: np.ndarray | None = None) -> np.ndarray:
        """Age in years at ``day`` of all persons, or of persons ``pid`` (one day each)."""
        birth = self.birth if pid is None else self.birth[pid]
        return (np.asarray(day) - birth) / DAYS_PER_YEAR


NEVER = np.int64(10**9)


def national_ids(gidx: np.ndarray, male: np.ndarray, rng: np.random.Generator, seed: int) -> np.ndarray:
    """Unique, valid IDs: ~97.5% citizens [A-Z][12], ~2% new resident [A-Z][89], ~0.5% old [A-Z][A-D]."""
    n = gidx.size
    low = gidx % 10**7
    body = (low * _ID_BODY_MULT + (seed * 104_729) % 10**7) % 10**7
    h = (low * 2_654_435_761 + seed) % 2**32
    letter = _ID_LETTERS[((h >> 7) + gidx // 10**7) % 26]
    u = rng.random(n)
    second = np.where(male, ord("1"), ord("2")).astype(np.uint8)
    res = u < 0.02
    second[res] = np.where(male[res], ord("8"), ord("9"))
    old = (u >= 0.02) & (u < 0.025)
    pick = rng.integers(0, 2, n)
    second[old] = np.where(male[old], np.where(pick[old] == 0, ord("A"), ord("C")),
                           np.where(pick[old] == 0, ord("B"), ord("D")))
    return make_ids(letter, second, body)


def chronic_prevalence(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """(n, N_COND) probability of having each chronic condition (0 for acute ones)."""
    p = np.zeros((age.size, N_COND))
    for i in CHRONIC:  # loop over conditions
        c = catalogue.CONDITIONS[i]
        a0 = _ONSET_AGE.get(c.key, 20.0)
        ramp = np.clip((age - a0) / 15.0, 0.0, 1.0)
        pi = c.prevalence_60 * c.age_slope ** ((np.maximum(age, 15.0) - 60.0) / 10.0) * ramp
        if c.key == "gout":
            pi = pi * np.where(male, 1.6, 0.4)
        if c.key == "depr":
            pi = pi * np.where(male, 0.7, 1.3)
        p[:, i] = np.minimum(pi, 0.85)
    return p


def cancer_incidence(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    """(n, n_cancers) yearly incidence."""
    out = np.zeros((age.size, len(catalogue.CANCERS)))
    f = np.exp(0.045 * (age - 60.0)) * (age >= 20)
    for j, ca in enumerate(catalogue.CANCERS):
        inc = ca.incidence_60 * f
        if ca.key == "breast":
            inc = inc * np.where(male, 0.01, 1.99)
        elif ca.key == "prostate":
            inc = inc * np.where(male, 2.0, 0.0)
        out[:, j] = inc
    return out


def make_persons(gidx: np.ndarray, start: int, end: int, seed: int, rng: np.random.Generator) -> Persons:
    """Draw one block of persons observed between day ``start`` and ``end`` (inclusive)."""
    n = gidx.size
    span_years = (end - start + 1) / DAYS_PER_YEAR
    male = rng.random(n) < MALE_SHARE
    born_in = rng.random(n) < min(0.5, BIRTH_RATE * span_years)
    grp = rng.choice(AGE_PYRAMID.size, size=n, p=AGE_PYRAMID / AGE_PYRAMID.sum())
    age0 = (grp * 5 + rng.random(n) * 5) * DAYS_PER_YEAR
    birth = np.where(born_in, start + rng.integers(0, end - start + 1, n), start - age0.astype(np.int64))
    entry = np.maximum(birth, start)
    # Gompertz death time from entry age
    x0 = (entry - birth) / DAYS_PER_YEAR
    e = rng.exponential(1.0, n)
    t = np.log(e * GOMPERTZ_B / GOMPERTZ_A + np.exp(GOMPERTZ_B * x0)) / GOMPERTZ_B - x0
    death = entry + (t * DAYS_PER_YEAR).astype(np.int64)
    aw = np.array([0.115, 0.170, 0.092, 0.118, 0.080, 0.118, 0.016, 0.040, 0.024, 0.054, 0.021,
                   0.029, 0.030, 0.035, 0.019, 0.014, 0.009, 0.004])
    area = rng.choice(aw.size, size=n, p=aw / aw.sum())

    # cancers (one at most per person), before death is final
    exit0 = np.minimum(death, end)
    mid_age = ((entry + exit0) / 2 - birth) / DAYS_PER_YEAR
    expo = np.maximum(exit0 - entry + 1, 0) / DAYS_PER_YEAR
    inc = cancer_incidence(mid_age, male)
    p_any = 1.0 - np.exp(-inc.sum(axis=1) * expo)
    has_cancer = rng.random(n) < p_any
    cum = np.cumsum(inc, axis=1) / np.maximum(inc.sum(axis=1, keepdims=True), 1e-300)
    which = (rng.random(n)[:, None] > cum).sum(axis=1)
    cancer = np.where(has_cancer, np.minimum(which, len(catalogue.CANCERS) - 1), -1)
    cancer_date = entry + (rng.random(n) * np.maximum(exit0 - entry, 0)).astype(np.int64)
    cancer_date = np.where(has_cancer, cancer_date, NEVER)
    # lethal cancers (lung, liver) shorten life
    lethal = np.isin(cancer, [j for j, c in enumerate(catalogue.CANCERS) if c.key in ("lung", "liver")])
    cdeath = cancer_date + (rng.exponential(1.5, n) * DAYS_PER_YEAR).astype(np.int64) + 30
    cancer_death = lethal & (cdeath < death)
    death = np.where(cancer_death, cdeath, death)
    died = death <= end
    exit_ = np.minimum(death, end)

    # chronic conditions: prevalent at entry (most) or incident during the period
    mid_age = ((entry + exit_) / 2 - birth) / DAYS_PER_YEAR
    prev = chronic_prevalence(mid_age, male)
    has = rng.random((n, N_COND)) < prev
    prevalent = rng.random((n, N_COND)) < np.where(born_in, 0.0, 0.85)[:, None]
    onset_in = entry[:, None] + (rng.random((n, N_COND)) * np.maximum(exit_ - entry, 1)[:, None]).astype(np.int64)
    onset = np.where(prevalent, entry[:, None] - 1, onset_in)
    onset = np.where(has, onset, NEVER)

    # cause of death
    n_causes = len(catalogue.DEATH_CAUSES)
    # lung / liver cancer causes are reserved for the cancer deaths below
    w = np.tile(np.array([0.17, 0.0, 0.0, 0.28, 0.14, 0.12, 0.12, 0.09]), (n, 1))[:, :n_causes]
    w[:, 0] *= np.where(onset[:, COND_INDEX["cad"]] < NEVER, 3.0, 1.0)
    w[:, 5] *= np.where(onset[:, COND_INDEX["t2dm"]] < NEVER, 3.0, 1.0)
    w[:, 7] *= np.where(onset[:, COND_INDEX["copd"]] < NEVER, 6.0, 1.0)
    cw = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    cause = np.minimum((rng.random(n)[:, None] > cw).sum(axis=1), n_causes - 1)
    lung = [j for j, c in enumerate(catalogue.CANCERS) if c.key == "lung"][0]
    cause = np.where(cancer_death & (cancer == lung), 1, np.where(cancer_death, 2, cause))
    cause = np.where(died, cause, -1)

    ids = national_ids(gidx, male, rng, seed)
    return Persons(gidx, ids, male, birth, entry, exit_, died, area, onset, cancer,
                   cancer_date, cause)
