"""Synthetic Finnish population: persons, henkilötunnus, municipality, conditions, cancers, deaths.

One block of persons at a time, vectorised with numpy; dates are int64 days since 1970-01-01.
Rules:

* Ages at the start of the period follow a Finnish-like age pyramid (5-year groups to 100-104),
  so for early periods the oldest persons are born before 1900 (henkilötunnus sign ``+``);
  about 1% of persons a year are born during the period.
* Deaths follow a Gompertz hazard; lung and liver cancers shorten life; some persons emigrate
  (observation ends at death, emigration or the period end).
* Chronic conditions reuse the Taiwan catalogue's prevalences and age slopes
  (:func:`crossbridge.synth.tw_population.chronic_prevalence`); heart failure, acute in the
  Taiwan catalogue, is treated as a chronic condition here (Kela right 201, furosemide).
* Prevalent conditions have an onset before the period (up to 15 years), incident ones inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from connectors.finland.hetu import individual_numbers, make_hetus
from crossbridge.synth import catalogue
from crossbridge.synth import fi_catalogue as FC
from crossbridge.synth.tw_population import DAYS_PER_YEAR, NEVER, cancer_incidence, chronic_prevalence

# Finland ~2015: share of the population per 5-year age group 0-4 .. 100-104 (percent)
AGE_PYRAMID = np.array([5.5, 5.6, 5.4, 5.7, 6.1, 6.5, 6.4, 6.0, 5.9, 6.6, 6.8, 6.8, 7.0, 6.6, 4.6, 3.4, 2.5, 1.5,
                        0.6, 0.13, 0.02])
BIRTH_RATE = 0.0095
MALE_SHARE = 0.493
GOMPERTZ_A = 2.6e-5
GOMPERTZ_B = 0.092
EMIGRATION_RATE = 0.002  # per person-year
NEW_SIGN_SHARE = 0.08  # share of codes with a 2023 century sign (Y..U, B..F)
MUNICIPALITY_WEIGHTS = np.array([0.30, 0.14, 0.12, 0.12, 0.10, 0.09, 0.07, 0.06, 0.06, 0.035, 0.035, 0.03])

COND = {c.key: i for i, c in enumerate(FC.FI_CONDITIONS)}
N_COND = len(FC.FI_CONDITIONS)
N_CANCER = len(FC.FI_CANCERS)
CHRONIC = [i for i, c in enumerate(catalogue.CONDITIONS) if c.chronic] + [COND["hf"]]
ACUTE = [i for i in range(N_COND) if i not in CHRONIC]
# causes of death (catalogue.DEATH_CAUSES order) as DX indices: conditions 0.., cancers N_COND..
DEATH_CAUSE_DX = np.array([COND["ami"], N_COND + 0, N_COND + 3, COND["pneu"], COND["stroke"], COND["t2dm"],
                           COND["hf"], COND["copd"]])
_LETHAL = [j for j, c in enumerate(FC.FI_CANCERS) if c[4] in ("lung", "liver")]


def days(y: int, m: int = 1, d: int = 1) -> int:
    return int(np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D").astype(np.int64))


@dataclass
class FiPersons:
    """One block of persons (index i of every array = block-local person i)."""

    gidx: np.ndarray  # global person number (FINNGENID = FG + gidx + 1)
    hetu: pa.Array  # henkilötunnus (string)
    male: np.ndarray
    birth: np.ndarray
    entry: np.ndarray  # first observed day (period start or birth)
    exit: np.ndarray  # last observed day (period end, death or emigration)
    died: np.ndarray  # death inside the period
    emigrated: np.ndarray  # emigration inside the period (and before death)
    mun: np.ndarray  # index into fi_catalogue.MUNICIPALITIES
    onset: np.ndarray  # (n, N_COND) onset day, NEVER = never
    cancer: np.ndarray  # index into FI_CANCERS, -1 none
    cancer_date: np.ndarray
    death_dx: np.ndarray  # DX index of the underlying cause, -1 alive

    @property
    def n(self) -> int:
        return self.gidx.size

    def age_at(self, day: np.ndarray, pid: np.ndarray | None = None) -> np.ndarray:
        birth = self.birth if pid is None else self.birth[pid]
        return (np.asarray(day) - birth) / DAYS_PER_YEAR

    def hetu_keys(self) -> np.ndarray:
        """Birth day * 1000 + NNN of every code (uniqueness key across blocks)."""
        return self.birth * 1000 + individual_numbers(self.hetu)


def _chronic_probability(age: np.ndarray, male: np.ndarray) -> np.ndarray:
    p = chronic_prevalence(age, male)  # catalogue order = FI order (checked at import)
    ramp = np.clip((age - 20.0) / 15.0, 0.0, 1.0)
    hf = catalogue.CONDITIONS[COND["hf"]]
    p[:, COND["hf"]] = np.minimum(hf.prevalence_60 * hf.age_slope ** ((np.maximum(age, 15.0) - 60.0) / 10.0) * ramp,
                                  0.85)
    return p


def make_persons(gidx: np.ndarray, start: int, end: int, rng: np.random.Generator,
                 taken: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None) -> FiPersons:
    """Draw one block of persons alive at some point between day ``start`` and ``end``."""
    n = gidx.size
    span_years = (end - start + 1) / DAYS_PER_YEAR
    male = rng.random(n) < MALE_SHARE
    born_in = rng.random(n) < min(0.5, BIRTH_RATE * span_years)
    grp = rng.choice(AGE_PYRAMID.size, size=n, p=AGE_PYRAMID / AGE_PYRAMID.sum())
    age0 = (grp * 5 + rng.random(n) * 5) * DAYS_PER_YEAR
    birth = np.where(born_in, start + rng.integers(0, end - start + 1, n), start - age0.astype(np.int64))
    birth = np.maximum(birth, days(1800, 1, 1))
    entry = np.maximum(birth, start)
    x0 = (entry - birth) / DAYS_PER_YEAR
    t = np.log(rng.exponential(1.0, n) * GOMPERTZ_B / GOMPERTZ_A + np.exp(GOMPERTZ_B * x0)) / GOMPERTZ_B - x0
    death = entry + (t * DAYS_PER_YEAR).astype(np.int64)
    emig = entry + (rng.exponential(1.0 / EMIGRATION_RATE, n) * DAYS_PER_YEAR).astype(np.int64)

    exit0 = np.minimum(np.minimum(death, emig), end)
    mid_age = ((entry + exit0) / 2 - birth) / DAYS_PER_YEAR
    expo = np.maximum(exit0 - entry + 1, 0) / DAYS_PER_YEAR
    inc = cancer_incidence(mid_age, male)
    has_cancer = rng.random(n) < 1.0 - np.exp(-inc.sum(axis=1) * expo)
    cum = np.cumsum(inc, axis=1) / np.maximum(inc.sum(axis=1, keepdims=True), 1e-300)
    which = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), N_CANCER - 1)
    cancer = np.where(has_cancer, which, -1)
    cancer_date = np.where(has_cancer, entry + (rng.random(n) * np.maximum(exit0 - entry, 0)).astype(np.int64), NEVER)
    cdeath = cancer_date + (rng.exponential(1.5, n) * DAYS_PER_YEAR).astype(np.int64) + 30
    cancer_death = np.isin(cancer, _LETHAL) & (cdeath < death)
    death = np.where(cancer_death, cdeath, death)
    emigrated = (emig <= end) & (emig < death)
    died = (death <= end) & ~emigrated
    exit_ = np.minimum(np.minimum(death, emig), end)
    mun = rng.choice(MUNICIPALITY_WEIGHTS.size, size=n, p=MUNICIPALITY_WEIGHTS / MUNICIPALITY_WEIGHTS.sum())

    # chronic conditions: prevalent at entry (onset up to 15 years earlier) or incident
    mid_age = ((entry + exit_) / 2 - birth) / DAYS_PER_YEAR
    has = rng.random((n, N_COND)) < _chronic_probability(mid_age, male)
    prevalent = rng.random((n, N_COND)) < np.where(born_in, 0.0, 0.85)[:, None]
    earliest = birth[:, None] + np.where(np.arange(N_COND) == COND["asthma"], 1, 15)[None, :] * 365
    back = (rng.random((n, N_COND)) * np.clip(entry[:, None] - earliest, 0, 15 * 365)).astype(np.int64)
    onset_in = entry[:, None] + (rng.random((n, N_COND)) * np.maximum(exit_ - entry, 1)[:, None]).astype(np.int64)
    onset = np.where(prevalent, entry[:, None] - 1 - back, onset_in)
    onset = np.where(has & np.isin(np.arange(N_COND), CHRONIC)[None, :], onset, NEVER)

    # underlying cause of death (catalogue.DEATH_CAUSES weights as in Taiwan)
    w = np.tile(np.array([0.17, 0.0, 0.0, 0.28, 0.14, 0.12, 0.12, 0.09]), (n, 1))
    w[:, 0] *= np.where(onset[:, COND["cad"]] < NEVER, 3.0, 1.0)
    w[:, 5] *= np.where(onset[:, COND["t2dm"]] < NEVER, 3.0, 1.0)
    w[:, 6] *= np.where(onset[:, COND["hf"]] < NEVER, 3.0, 1.0)
    w[:, 7] *= np.where(onset[:, COND["copd"]] < NEVER, 6.0, 1.0)
    cw = np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True)
    cause = np.minimum((rng.random(n)[:, None] > cw).sum(axis=1), w.shape[1] - 1)
    cause_dx = DEATH_CAUSE_DX[cause]
    cause_dx = np.where(cancer_death, N_COND + cancer, cause_dx)
    death_dx = np.where(died, cause_dx, -1)

    hetu = make_hetus(birth, male, rng, new_sign_share=NEW_SIGN_SHARE, taken=taken)
    return FiPersons(gidx, hetu, male, birth, entry, exit_, died, emigrated, mun, onset, cancer, cancer_date,
                     death_dx)


if [c.key for c in catalogue.CONDITIONS] != [c.key for c in FC.FI_CONDITIONS] or \
        [c.key for c in catalogue.CANCERS] != [c[4] for c in FC.FI_CANCERS]:
    raise ImportError("fi_catalogue conditions/cancers must follow the order of crossbridge.synth.catalogue")
