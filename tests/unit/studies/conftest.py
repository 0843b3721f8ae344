"""A small OMOP CDM in DuckDB with the demo vocabulary: persons, observation, type 2 diabetes,
metformin, biobank samples and consents, deaths (seeded, vectorised)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

T2D, HYPERTENSION, METFORMIN, LOSARTAN = 201826, 320128, 1503297, 1367500
BLOOD, URINE = 4001225, 4046280
UNMAPPED_E11 = 7
E11_SOURCE_SQL = "SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD10CM' AND concept_code = 'E11.9'"

STUDY_YAML = """
study_id: t2d-test
title: Test study
concept_sets:
  t2d: {system: ICD10CM, codes: ["E11%"]}
  metformin: {system: ATC, codes: [A10BA02]}
  blood: {system: standard, codes: ["119297000"], include_descendants: false}
cohort: {entry: t2d, prior_observation_days: 365, age: [18, 120]}
periods: [[2012, 2013], [2014, 2015]]
strata: {age: [[18, 49], [50, 120]], sex: true}
measures:
  - {name: inc, type: incidence, event: t2d, washout_days: 365}
  - {name: prev, type: prevalence, event: t2d}
  - {name: n, type: count}
  - {name: du, type: drug_utilisation, drug: metformin, window: [0, 365]}
  - {name: tte, type: time_to_event, event: metformin, max_days: 720, interval_days: 90}
  - {name: feas, type: feasibility, condition: t2d, specimen: blood}
disclosure: {threshold: 5}
sites:
  test: {jurisdiction: ohdsi, permit: TEST-1}
"""


def _population(n: int, seed: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    pid = np.arange(1, n + 1, dtype=np.int64)
    yob = rng.integers(1930, 1995, n)
    gender = rng.choice([8507, 8532, 0], n, p=[0.48, 0.5, 0.02])
    start = pd.Timestamp("2009-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D")
    end = start + pd.to_timedelta(rng.integers(200, 2600, n), unit="D")
    person = pd.DataFrame({"person_id": pid, "gender_concept_id": gender, "year_of_birth": yob})
    op = pd.DataFrame({"observation_period_id": pid, "person_id": pid,
                       "observation_period_start_date": start.date, "observation_period_end_date": end.date})
    span = (end - start).days.to_numpy()
    has_t2d = rng.random(n) < 0.35
    t2d_day = start + pd.to_timedelta((rng.random(n) * span).astype(int), unit="D")
    cond = pd.DataFrame({"person_id": pid[has_t2d], "condition_concept_id": T2D,
                         "condition_start_date": t2d_day[has_t2d].date})
    other = pd.DataFrame({"person_id": pid, "condition_concept_id": HYPERTENSION,
                          "condition_start_date": (start + pd.to_timedelta(30, unit="D")).date})
    cond = pd.concat([cond, cond.assign(condition_start_date=lambda d: pd.to_datetime(d.condition_start_date)
                                        + pd.Timedelta(days=100)).assign(
                                            condition_start_date=lambda d: d.condition_start_date.dt.date), other])
    cond.insert(0, "condition_occurrence_id", np.arange(1, len(cond) + 1))
    on_met = has_t2d & (rng.random(n) < 0.6)
    met_day = t2d_day + pd.to_timedelta(rng.integers(-60, 500, n), unit="D")
    drug = pd.concat([
        pd.DataFrame({"person_id": pid[on_met], "drug_concept_id": METFORMIN,
                      "drug_exposure_start_date": met_day[on_met].date}),
        pd.DataFrame({"person_id": pid[::3], "drug_concept_id": LOSARTAN,
                      "drug_exposure_start_date": start[::3].date})])
    drug.insert(0, "drug_exposure_id", np.arange(1, len(drug) + 1))
    drug["drug_source_concept_id"] = 0  # unmapped source codes: coverage counts them as '(none)'

    sampled = rng.random(n) < 0.4
    specimen = pd.DataFrame({"specimen_id": np.arange(1, sampled.sum() + 1), "person_id": pid[sampled],
                             "specimen_concept_id": rng.choice([BLOOD, URINE], sampled.sum()),
                             "specimen_date": start[sampled].date})
    consented = rng.random(n) < 0.5
    withdrawn = consented & (rng.random(n) < 0.2)
    obs = pd.concat([
        pd.DataFrame({"person_id": pid[consented], "observation_concept_id": 0,
                      "observation_date": start[consented].date, "observation_source_value": "BIOBANK_BROAD_CONSENT"}),
        pd.DataFrame({"person_id": pid[withdrawn], "observation_concept_id": 0,
                      "observation_date": end[withdrawn].date, "observation_source_value": "BIOBANK_CONSENT_WITHDRAWN"})])
    obs.insert(0, "observation_id", np.arange(1, len(obs) + 1))
    dead = rng.random(n) < 0.05
    death = pd.DataFrame({"person_id": pid[dead], "death_date": end[dead].date})
    return {"person": person, "observation_period": op, "condition_occurrence": cond, "drug_exposure": drug,
            "specimen": specimen, "observation": obs, "death": death}


def build_omop(path: Path, n: int = 400, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Write the population and the demo vocabulary to a DuckDB file; returns the clinical tables."""
    from terminology.vocabulary import load_site_vocabulary

    tables = _population(n, seed)
    con = duckdb.connect(str(path))
    try:
        load_site_vocabulary(con)
        ((e11,),) = con.execute(E11_SOURCE_SQL).fetchall()
        cond = tables["condition_occurrence"]
        cond["condition_source_concept_id"] = np.where(cond["condition_concept_id"] == T2D, e11, 0)
        # E11.9 records whose mapping failed (standard concept 0): what coverage reports as missed
        missed = cond.head(UNMAPPED_E11).assign(condition_concept_id=0, condition_source_concept_id=e11)
        missed["condition_occurrence_id"] = np.arange(len(cond) + 1, len(cond) + 1 + len(missed))
        tables["condition_occurrence"] = pd.concat([cond, missed], ignore_index=True)
        for name, frame in tables.items():
            con.register("_t", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM _t")
            con.unregister("_t")
        for name, col in (("observation_period", "observation_period_start_date"),
                          ("observation_period", "observation_period_end_date"),
                          ("condition_occurrence", "condition_start_date"),
                          ("drug_exposure", "drug_exposure_start_date"), ("specimen", "specimen_date"),
                          ("observation", "observation_date"), ("death", "death_date")):
            con.execute(f"ALTER TABLE {name} ALTER {col} TYPE DATE")
        con.execute("CREATE TABLE cdm_source AS SELECT 'Test CDM' AS cdm_source_name, 'TEST' AS "
                    "cdm_source_abbreviation, 'v5.4' AS cdm_version, 'demo' AS vocabulary_version")
    finally:
        con.close()
    return tables


@pytest.fixture(scope="module")
def study_omop(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("omop") / "omop.duckdb"
    build_omop(path)
    return path


@pytest.fixture(scope="session")
def study_yaml() -> str:
    """A study file's text covering every measure type (site 'test', jurisdiction 'ohdsi')."""
    return STUDY_YAML
