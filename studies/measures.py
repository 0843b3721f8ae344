"""A study's measures as SQL run in the OMOP database; only aggregates come back (docs/studies.md).

:func:`compute_measures` returns, per measure, the exact counts before disclosure control
(one row per stratum present; strata as labels: ``2016-2017``, ``45-64``, ``female``):

============== =====================================================
count          persons
feasibility    persons
prevalence     cases, persons
drug_utilisation users, persons
incidence      events, person_days
time_to_event  time, events, censored (per stratum and distinct time)
============== =====================================================

The SQL is one statement per measure built from shared CTEs (persons, deaths, the first
event per person of each concept set, the cohort), in the dialect subset of
:mod:`studies.database`.  Concept ids reach the database as one temporary table
(``set_name, concept_id``); years and strata as CASE expressions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from studies.database import StudyDatabase, StudyDatabaseError
from studies.spec import MeasureSpec, Study

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: event tables: (table, concept column, date column), and the OMOP domains they hold
EVENT_TABLES: dict[str, tuple[str, str]] = {
    "condition_occurrence": ("condition_concept_id", "condition_start_date"),
    "drug_exposure": ("drug_concept_id", "drug_exposure_start_date"),
    "procedure_occurrence": ("procedure_concept_id", "procedure_date"),
    "measurement": ("measurement_concept_id", "measurement_date"),
    "observation": ("observation_concept_id", "observation_date"),
    "device_exposure": ("device_concept_id", "device_exposure_start_date"),
}
DOMAIN_TABLES = {"Condition": "condition_occurrence", "Drug": "drug_exposure", "Procedure": "procedure_occurrence",
                 "Measurement": "measurement", "Observation": "observation", "Device": "device_exposure"}
CONSENT_GIVEN = "BIOBANK_BROAD_CONSENT"
CONSENT_WITHDRAWN = "BIOBANK_CONSENT_WITHDRAWN"
COUNT_COLUMNS = {
    "count": ("persons",), "feasibility": ("persons",), "prevalence": ("cases", "persons"),
    "drug_utilisation": ("users", "persons"), "incidence": ("events", "person_days"),
    "time_to_event": ("time", "events", "censored"),
}


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _case(expr: str, bands: Sequence[tuple[int, int]], labels: Sequence[str]) -> str:
    whens = " ".join(f"WHEN {expr} BETWEEN {lo} AND {hi} THEN {_lit(lab)}" for (lo, hi), lab in zip(bands, labels))
    return f"CASE {whens} END"


@dataclass
class _Sql:
    db: StudyDatabase
    study: Study
    sets_table: str
    tables: Mapping[str, tuple[str, ...]]  # set name -> event tables to read

    # ---- strata expressions ------------------------------------------------------------------------------
    def period_of_year(self, year_expr: str) -> str:
        return _case(year_expr, self.study.periods, [self.study.period_label(p) for p in self.study.periods])

    def age_group(self, age_expr: str) -> str:
        return _case(age_expr, self.study.age_groups, [self.study.age_label(b) for b in self.study.age_groups])

    @staticmethod
    def year(expr: str) -> str:
        return f"CAST(EXTRACT(YEAR FROM {expr}) AS INTEGER)"

    # ---- shared CTEs -------------------------------------------------------------------------------------
    def persons(self) -> str:
        return (f"persons AS (SELECT person_id, year_of_birth AS yob, CASE gender_concept_id WHEN 8532 THEN "
                f"'female' WHEN 8507 THEN 'male' ELSE 'other' END AS sex FROM {self.db.table('person')})")

    def deaths(self) -> str:
        if self.db.has("death"):
            return (f"deaths AS (SELECT person_id, MIN(death_date) AS death_date FROM {self.db.table('death')} "
                    "GROUP BY person_id)")
        return "deaths AS (SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS DATE) AS death_date WHERE 1 = 0)"

    def observation(self) -> str:
        t = self.db.table("observation_period")
        return (f"op AS (SELECT person_id, observation_period_start_date AS s, observation_period_end_date AS e "
                f"FROM {t} WHERE observation_period_start_date <= observation_period_end_date)")

    def events(self, name: str) -> str:
        """``ev_<name>(person_id, d)``: the events of concept set ``name``."""
        parts = []
        for table in self.tables[name]:
            concept_col, date_col = EVENT_TABLES[table]
            parts.append(f"SELECT person_id, {date_col} AS d FROM {self.db.table(table)} WHERE {concept_col} IN "
                         f"(SELECT concept_id FROM {self.sets_table} WHERE set_name = {_lit(name)}) "
                         f"AND {date_col} IS NOT NULL")
        if not parts:
            parts = ["SELECT CAST(NULL AS BIGINT) AS person_id, CAST(NULL AS DATE) AS d WHERE 1 = 0"]
        return f"ev_{name} AS ({' UNION ALL '.join(parts)})"

    def first(self, name: str) -> str:
        return f"first_{name} AS (SELECT person_id, MIN(d) AS f FROM ev_{name} GROUP BY person_id)"

    def cohort(self) -> list[str]:
        c = self.study.cohort
        assert c is not None
        lo, hi = c.age
        periods = " OR ".join(f"{self.year('fe.f')} BETWEEN {a} AND {b}" for a, b in self.study.periods)
        return [
            self.events(c.entry), self.first(c.entry),
            f"""cohort AS (
              SELECT fe.person_id, fe.f, MIN(op.s) AS s,
                     LEAST(MAX(op.e), COALESCE(MIN(dd.death_date), MAX(op.e))) AS x,
                     MIN(p.sex) AS sex, MIN({self.year('fe.f')} - p.yob) AS age, MIN({self.year('fe.f')}) AS entry_year
              FROM first_{c.entry} AS fe
              JOIN persons AS p ON p.person_id = fe.person_id
              JOIN op ON op.person_id = fe.person_id AND op.s + {c.prior_observation_days} <= fe.f AND fe.f <= op.e
              LEFT JOIN deaths AS dd ON dd.person_id = fe.person_id
              WHERE ({self.year('fe.f')} - p.yob) BETWEEN {lo} AND {hi} AND ({periods})
                AND (dd.death_date IS NULL OR dd.death_date >= fe.f)
              GROUP BY fe.person_id, fe.f)""",
            f"""cohort_s AS (SELECT cohort.*, {self.period_of_year('entry_year')} AS period,
                                    {self.age_group('age')} AS age_group FROM cohort)""",
        ]

    def with_(self, ctes: Sequence[str]) -> str:
        return "WITH " + ",\n".join(ctes)


def _dims(m: MeasureSpec) -> str:
    return ", ".join(m.by)


def _grouped(m: MeasureSpec, select: str, source: str, where: str = "") -> str:
    dims = _dims(m)
    keep = "period IS NOT NULL AND age_group IS NOT NULL" + (f" AND {where}" if where else "")
    if dims:
        return f"SELECT {dims}, {select} FROM {source} WHERE {keep} GROUP BY {dims} ORDER BY {dims}"
    return f"SELECT {select} FROM {source} WHERE {keep}"


# ---- one statement per measure ------------------------------------------------------------------------------
def _count(q: _Sql, m: MeasureSpec) -> str:
    return q.with_([q.persons(), q.deaths(), q.observation(), *q.cohort()]) + "\n" + \
        _grouped(m, "COUNT(*) AS persons", "cohort_s")


def _drug_utilisation(q: _Sql, m: MeasureSpec) -> str:
    a, b = m.window
    full = f"AND c.x >= c.f + {b}" if m.require_full_window else ""
    drug = m.drug
    ctes = [q.persons(), q.deaths(), q.observation(), *q.cohort()]
    q_drug = _Sql(q.db, q.study, q.sets_table, {drug: ("drug_exposure",) if q.db.has("drug_exposure") else ()})
    ctes.append(q_drug.events(drug).replace(f"ev_{drug} AS", f"dx_{drug} AS", 1))  # dispensings only
    ctes.append(f"""du AS (
        SELECT c.*, CASE WHEN EXISTS (SELECT 1 FROM dx_{drug} AS de WHERE de.person_id = c.person_id
                                      AND de.d BETWEEN c.f + {a} AND c.f + {b}) THEN 1 ELSE 0 END AS used
        FROM cohort_s AS c WHERE c.s <= c.f + {a} {full})""")
    return q.with_(ctes) + "\n" + _grouped(m, "SUM(used) AS users, COUNT(*) AS persons", "du")


def _time_to_event(q: _Sql, m: MeasureSpec) -> str:
    ev = m.event
    ctes = [q.persons(), q.deaths(), q.observation(), *q.cohort()]
    if ev != q.study.cohort.entry:
        ctes.append(q.events(ev))
    prior = (f"AND NOT EXISTS (SELECT 1 FROM ev_{ev} AS pe WHERE pe.person_id = c.person_id AND pe.d < c.f)"
             if m.exclude_prior else "")
    ctes += [
        f"""nxt AS (SELECT c.person_id, MIN(e.d) AS t_e FROM cohort_s AS c JOIN ev_{ev} AS e
                   ON e.person_id = c.person_id AND e.d >= c.f GROUP BY c.person_id)""",
        f"""tte AS (
            SELECT c.*, LEAST(c.x - c.f, {m.max_days}) AS cens, n.t_e - c.f AS t_ev
            FROM cohort_s AS c LEFT JOIN nxt AS n ON n.person_id = c.person_id
            WHERE 1 = 1 {prior})""",
        """tt AS (SELECT tte.*, CASE WHEN t_ev IS NOT NULL AND t_ev <= cens THEN t_ev ELSE cens END AS time,
                   CASE WHEN t_ev IS NOT NULL AND t_ev <= cens THEN 1 ELSE 0 END AS event FROM tte)""",
    ]
    dims = ", ".join([*m.by, "time"])
    return q.with_(ctes) + f"""
        SELECT {dims}, SUM(event) AS events, SUM(1 - event) AS censored FROM tt
        WHERE period IS NOT NULL AND age_group IS NOT NULL GROUP BY {dims} ORDER BY {dims}"""


def _incidence(q: _Sql, m: MeasureSpec, years_table: str) -> str:
    ev = m.event
    ctes = [q.persons(), q.deaths(), q.observation(), q.events(ev), q.first(ev),
            f"""risk AS (
              SELECT op.person_id, op.s + {m.washout_days} AS a,
                     LEAST(op.e, COALESCE(fe.f, op.e), COALESCE(dd.death_date, op.e)) AS b, fe.f
              FROM op LEFT JOIN first_{ev} AS fe ON fe.person_id = op.person_id
                      LEFT JOIN deaths AS dd ON dd.person_id = op.person_id)""",
            f"""split AS (
              SELECT r.person_id, y.y, p.sex,
                     LEAST(r.b, y.y_end) - GREATEST(r.a, y.y_start) + 1 AS days,
                     CASE WHEN r.f IS NOT NULL AND r.f = r.b AND r.f >= r.a AND r.f BETWEEN y.y_start AND y.y_end
                          THEN 1 ELSE 0 END AS event,
                     {q.period_of_year('y.y')} AS period, {q.age_group('y.y - p.yob')} AS age_group
              FROM risk AS r JOIN {years_table} AS y ON y.y_start <= r.b AND y.y_end >= r.a
                             JOIN persons AS p ON p.person_id = r.person_id
              WHERE r.a <= r.b)"""]
    return q.with_(ctes) + "\n" + _grouped(m, "SUM(event) AS events, SUM(days) AS person_days", "split")


def _prevalence(q: _Sql, m: MeasureSpec, periods_table: str) -> str:
    ev = m.event
    ctes = [q.persons(), q.observation(), q.events(ev),
            f"""den AS (SELECT DISTINCT op.person_id, pr.label AS period, pr.p_start, pr.p_end, pr.first_year
                       FROM op JOIN {periods_table} AS pr ON op.s <= pr.p_end AND op.e >= pr.p_start)""",
            f"""prev AS (
              SELECT d.person_id, d.period, p.sex, {q.age_group('d.first_year - p.yob')} AS age_group,
                     CASE WHEN EXISTS (SELECT 1 FROM ev_{ev} AS e WHERE e.person_id = d.person_id
                                       AND e.d BETWEEN d.p_start AND d.p_end) THEN 1 ELSE 0 END AS is_case
              FROM den AS d JOIN persons AS p ON p.person_id = d.person_id)"""]
    return q.with_(ctes) + "\n" + _grouped(m, "SUM(is_case) AS cases, COUNT(*) AS persons", "prev")


def _feasibility(q: _Sql, m: MeasureSpec) -> str:
    ctes = [q.persons()]
    conds = []
    if m.condition:
        ctes.append(q.events(m.condition))
        conds.append(f"EXISTS (SELECT 1 FROM ev_{m.condition} AS e WHERE e.person_id = p.person_id)")
    if m.specimen:
        if not q.db.has("specimen"):
            raise StudyDatabaseError(f"{q.db.label} has no specimen table: feasibility measure {m.name!r} "
                                     "asks for biobank samples")
        conds.append(f"EXISTS (SELECT 1 FROM {q.db.table('specimen')} AS sp WHERE sp.person_id = p.person_id "
                     f"AND sp.specimen_concept_id IN (SELECT concept_id FROM {q.sets_table} "
                     f"WHERE set_name = {_lit(m.specimen)}))")
    if m.consent == "required":
        if not q.db.has("observation"):
            raise StudyDatabaseError(f"{q.db.label} has no observation table: feasibility measure {m.name!r} "
                                     "requires consent records")
        ctes.append(f"""consent AS (
            SELECT person_id, observation_source_value AS v, observation_date AS d,
                   ROW_NUMBER() OVER (PARTITION BY person_id ORDER BY observation_date DESC,
                                      CASE observation_source_value WHEN {_lit(CONSENT_WITHDRAWN)} THEN 0 ELSE 1 END)
                     AS rn
            FROM {q.db.table('observation')}
            WHERE observation_source_value IN ({_lit(CONSENT_GIVEN)}, {_lit(CONSENT_WITHDRAWN)})
              AND observation_date IS NOT NULL)""")
        conds.append(f"EXISTS (SELECT 1 FROM consent AS k WHERE k.person_id = p.person_id AND k.rn = 1 "
                     f"AND k.v = {_lit(CONSENT_GIVEN)})")
    first_year = q.study.periods[0][0]
    ctes.append(f"""feas AS (SELECT p.person_id, p.sex, {_lit(q.study.period_label(q.study.periods[0]))} AS period,
                    {q.age_group(f'{first_year} - p.yob')} AS age_group FROM persons AS p
                    WHERE {' AND '.join(conds)})""")
    return q.with_(ctes) + "\n" + _grouped(m, "COUNT(*) AS persons", "feas")


def measure_sql(db: StudyDatabase, study: Study, m: MeasureSpec, sets_table: str,
                tables: Mapping[str, tuple[str, ...]], years_table: str, periods_table: str) -> str:
    """The SQL statement of measure ``m`` (exposed for the docs and for EXPLAIN)."""
    q = _Sql(db, study, sets_table, tables)
    if m.type == "count":
        return _count(q, m)
    if m.type == "drug_utilisation":
        return _drug_utilisation(q, m)
    if m.type == "time_to_event":
        return _time_to_event(q, m)
    if m.type == "incidence":
        return _incidence(q, m, years_table)
    if m.type == "prevalence":
        return _prevalence(q, m, periods_table)
    if m.type == "feasibility":
        return _feasibility(q, m)
    raise ValueError(f"unknown measure type {m.type!r}")


def _event_tables(db: StudyDatabase, concept_ids: Mapping[str, Sequence[int]],
                  domains: Mapping[str, Sequence[str]] | None) -> dict[str, tuple[str, ...]]:
    present = [t for t in EVENT_TABLES if db.has(t)]
    out = {}
    for name in concept_ids:
        if domains is None or name not in domains:
            out[name] = tuple(present)
        else:
            wanted = {DOMAIN_TABLES[d] for d in domains[name] if d in DOMAIN_TABLES}
            out[name] = tuple(t for t in present if t in wanted)
    return out


def compute_measures(db: StudyDatabase, study: Study, concept_ids: Mapping[str, Sequence[int]], *,
                     domains: Mapping[str, Sequence[str]] | None = None,
                     progress=None) -> dict[str, pd.DataFrame]:
    """Every measure of ``study`` on ``db``; ``concept_ids``: set name -> standard concept ids.

    ``domains`` (set name -> OMOP domain ids of its concepts) limits the event tables read per
    set; without it every event table present is read.  ``progress(name, i, n)`` is called
    before each measure.
    """
    import pandas as pd

    db.require("person", "observation_period")
    sets_table = db.upload("study_sets", {"set_name": "VARCHAR", "concept_id": "BIGINT"},
                           [(name, int(c)) for name, ids in concept_ids.items() for c in ids])
    years_table = db.upload("study_years", {"y": "INTEGER", "y_start": "DATE", "y_end": "DATE"},
                            [(y, date(y, 1, 1), date(y, 12, 31)) for a, b in study.periods for y in range(a, b + 1)])
    periods_table = db.upload(
        "study_periods", {"label": "VARCHAR", "p_start": "DATE", "p_end": "DATE", "first_year": "INTEGER"},
        [(study.period_label(p), date(p[0], 1, 1), date(p[1], 12, 31), p[0]) for p in study.periods])
    tables = _event_tables(db, concept_ids, domains)
    out: dict[str, pd.DataFrame] = {}
    for i, m in enumerate(study.measures):
        if progress is not None:
            progress(m.name, i, len(study.measures))
        frame = db.query(measure_sql(db, study, m, sets_table, tables, years_table, periods_table))
        cols = list(m.by) + list(COUNT_COLUMNS[m.type])
        frame = frame[cols] if len(frame) else pd.DataFrame(columns=cols)
        for c in COUNT_COLUMNS[m.type]:
            frame[c] = pd.to_numeric(frame[c]).fillna(0).astype("int64")
        for c in m.by:
            frame[c] = frame[c].astype("string")
        out[m.name] = frame.reset_index(drop=True)
    return out


__all__ = ["COUNT_COLUMNS", "DOMAIN_TABLES", "EVENT_TABLES", "compute_measures", "measure_sql"]
