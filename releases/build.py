"""Row-level release tables from a site's OMOP CDM v5.4: filters, k-anonymity, study pseudonyms, dates.

Input: a DuckDB connection with the source OMOP tables in catalog ``src`` (schema ``main``),
a relation ``person_identity(person_id, pseudonym)`` (the site pseudonym of every person),
and :func:`releases.keys.install_study_key` done.  Output: the released tables in the
connection's own ``main`` schema, and a :class:`ReleaseTables` report.  All of it is SQL in
DuckDB except the k-anonymity search, which runs on one row per person.

Order of the steps (each recorded with the persons and rows it removed):

1. ``permit.tables``: tables the permit does not list are not released (their rows counted).
2. ``consent_withdrawn``: persons with a biobank consent withdrawal (an observation with
   ``observation_source_value = 'BIOBANK_CONSENT_WITHDRAWN'``, as the hub writes it) are removed
   with all their rows.
3. ``permit.population``: age at the start of the permit years, gender concepts.
4. ``permit.years``: event rows whose first date lies outside the permit years are removed;
   observation periods are clipped to the years (removed when they do not overlap).
5. ``k_anonymity``: quasi-identifiers per person -- ``year_of_birth``, ``gender``
   (gender_concept_id), ``region`` (the person's location_source_value), ``rare_diagnosis``
   (the person's rarest condition_source_value held by fewer than k persons, else none) --
   generalised (:mod:`releases.disclosure`: year -> 5-year -> 10-year band, never removed; gender -> any;
   region -> any; rare code -> its first 3 characters -> removed) with the least information
   loss such that at most ``max_suppression`` of the persons must be suppressed; those persons
   are removed.  Applied to the tables: a band keeps its first year in ``year_of_birth``
   (month and day of birth removed); gender 'any' -> concept 0; region 'any' ->
   ``location_id`` NULL; a rare code's 3-character category replaces it in
   ``condition_source_value`` (concepts 0), or at the top level the rare rows are removed.
   Verified afterwards on the released person table.
6. Study pseudonyms and ids: ``person_id`` = first 60 bits of HMAC(study key, site pseudonym);
   every other id (primary keys, and foreign keys to non-vocabulary tables) = first 60 bits
   of HMAC(study key, '<table>|<old id>'), so two studies' releases share no identifier.
   Polymorphic event ids (``*_event_id``) and ``person_source_value`` /
   ``provider_source_value`` are NULL.  Collisions fail the build.
7. Dates (``release.dates``): ``keep``; ``month`` (every date and datetime to the first of its
   month); ``shift`` (every event date of a person moved by the same secret number of days in
   [-shift_days, +shift_days]).  Year and month of birth are governed by k-anonymity, not
   shifted (a shifted birth year would move persons between the classes step 5 checked);
   day of birth and birth datetime are never released.
8. ``permit.variables``: columns not allowed are released as NULL (the tables keep the CDM
   shape); a required CDM column cannot be withheld (the build stops and says which).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from releases.spec import StudySpec

#: observation_source_value of a withdrawn biobank consent (mappings.omop_cdm_v54.events.CONSENT_WITHDRAWN_CODE)
CONSENT_WITHDRAWN = "BIOBANK_CONSENT_WITHDRAWN"
#: source values never released (pseudonym-derived or naming people)
ALWAYS_NULL = ("person_source_value", "provider_source_value")
ID_BITS_HEX = 15  # 60 bits, as the hub's own ids (mappings.omop_cdm_v54.ids)
YOB_BANDS = (5, 10)


class ReleaseBuildError(RuntimeError):
    """The release cannot be built as the study asks (the message says what to change)."""


@dataclass
class FilterStep:
    name: str
    detail: str
    persons_removed: int = 0
    rows_removed: dict[str, int] = field(default_factory=dict)


@dataclass
class ReleaseTables:
    tables: dict[str, int]  # released rows per table
    persons: int
    persons_in_source: int
    filters: list[FilterStep]
    k_anonymity: dict[str, Any]
    columns_withheld: dict[str, list[str]]
    dates: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["filters"] = [asdict(f) for f in self.filters]
        return d


def _cdm():
    from terminology.omop_cdm import load_cdm, vocabulary_tables

    return load_cdm(), set(vocabulary_tables())


def _present(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_catalog = 'src' AND table_schema = 'main'").fetchall()
    out: dict[str, set[str]] = {}
    for t, c in rows:
        out.setdefault(t, set()).add(c)
    return out


def _count(con, sql: str, params: list | None = None) -> int:
    return int(con.execute(sql, params or []).fetchall()[0][0])


def _id_expr(table: str, col: str) -> str:
    return f"('0x' || substr(study_hmac('{table}|' || CAST({col} AS VARCHAR)), 1, {ID_BITS_HEX}))::BIGINT"


def build_release_tables(con: duckdb.DuckDBPyConnection, spec: StudySpec) -> ReleaseTables:
    """Build the released tables on ``con`` (see the module docstring)."""
    cdm, vocab_tables = _cdm()
    con.execute("SET enable_progress_bar = false")
    present = _present(con)
    unknown = sorted(set(spec.permit.tables) - set(cdm.tables))
    if unknown:
        raise ReleaseBuildError(f"permit.tables names tables that are not OMOP CDM v5.4 tables: {unknown}")
    if "person" not in present:
        raise ReleaseBuildError("the source has no person table")
    released = [t for t in spec.permit.tables if t in present and t not in vocab_tables and t != "fact_relationship"]
    notes = [f"permit.tables lists {t}, which the source does not have" for t in spec.permit.tables
             if t not in present]
    if "fact_relationship" in spec.permit.tables and "fact_relationship" in present:
        notes.append("fact_relationship is not released: its ids are polymorphic and cannot be re-keyed safely")
    person_tables = [t for t in released if "person_id" in present[t]]
    filters: list[FilterStep] = []

    # 1. tables outside the permit
    outside = {t: _count(con, f"SELECT count(*) FROM src.main.{t}") for t in sorted(present)
               if t not in released and t not in vocab_tables and t in cdm.tables}
    filters.append(FilterStep("permit.tables", f"only {', '.join(released)} released",
                              rows_removed={t: n for t, n in outside.items() if n}))

    # persons and their site pseudonyms
    con.execute("""CREATE OR REPLACE TEMP TABLE _persons AS
                   SELECT p.person_id, i.pseudonym FROM src.main.person p
                   LEFT JOIN (SELECT DISTINCT person_id, pseudonym FROM person_identity) i USING (person_id)""")
    n_source = _count(con, "SELECT count(*) FROM _persons")
    missing = _count(con, "SELECT count(*) FROM _persons WHERE pseudonym IS NULL")
    if missing:
        raise ReleaseBuildError(f"{missing} persons of the source have no site pseudonym in its staging; "
                                "study pseudonyms are derived from it")
    if _count(con, "SELECT count(*) - count(DISTINCT person_id) FROM _persons"):
        raise ReleaseBuildError("a person has two site pseudonyms in the source staging")
    con.execute("CREATE OR REPLACE TEMP TABLE _keep AS SELECT person_id FROM _persons")

    working: set[str] = set()  # tables copied to _t_<table> (rows are then counted there)

    def rows_of(person_sql: str) -> dict[str, int]:
        out = {}
        for t in person_tables:
            rel = f"_t_{t}" if t in working else f"src.main.{t}"
            n = _count(con, f"SELECT count(*) FROM {rel} WHERE person_id IN ({person_sql})")
            if n:
                out[t] = n
        return out

    def remove_persons(name: str, detail: str, person_sql: str) -> None:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gone AS SELECT person_id FROM _keep "
                    f"WHERE person_id IN ({person_sql})")
        step = FilterStep(name, detail, _count(con, "SELECT count(*) FROM _gone"), rows_of("SELECT person_id FROM _gone"))
        con.execute("DELETE FROM _keep WHERE person_id IN (SELECT person_id FROM _gone)")
        filters.append(step)

    # 2. consent
    if "observation" in present:
        remove_persons("consent_withdrawn", "biobank consent withdrawn (all their rows removed)",
                       f"SELECT person_id FROM src.main.observation WHERE observation_source_value = "
                       f"'{CONSENT_WITHDRAWN}'")
    else:
        filters.append(FilterStep("consent_withdrawn", "not applicable: the source has no observation table"))
    # 3. population
    pop = spec.permit.population
    y1, y2 = spec.permit.years or (None, None)
    if pop.age is not None:
        ref = y1 if y1 is not None else "year(current_date)"
        lo, hi = pop.age
        remove_persons("permit.population.age", f"age {lo}-{hi} at the start of {ref}",
                       f"SELECT person_id FROM src.main.person WHERE year_of_birth IS NULL OR "
                       f"{ref} - year_of_birth NOT BETWEEN {int(lo)} AND {int(hi)}")
    if pop.gender_concept_ids is not None:
        ids = ", ".join(str(int(g)) for g in pop.gender_concept_ids) or "NULL"
        remove_persons("permit.population.gender", f"gender_concept_id in ({ids})",
                       f"SELECT person_id FROM src.main.person WHERE gender_concept_id IS NULL "
                       f"OR gender_concept_id NOT IN ({ids})")

    # working copies of the permitted tables, for the persons kept
    for t in released:
        where = " WHERE person_id IN (SELECT person_id FROM _keep)" if t in person_tables else ""
        con.execute(f"CREATE OR REPLACE TEMP TABLE _t_{t} AS SELECT * FROM src.main.{t}{where}")
        working.add(t)

    # 4. permit years
    if y1 is not None:
        lo_d, hi_d = f"DATE '{y1:04d}-01-01'", f"DATE '{y2:04d}-12-31'"
        removed: dict[str, int] = {}
        for t in person_tables:
            if t == "person":
                continue
            if t == "observation_period":
                before = _count(con, "SELECT count(*) FROM _t_observation_period")
                con.execute(f"""DELETE FROM _t_observation_period WHERE observation_period_end_date < {lo_d}
                                OR observation_period_start_date > {hi_d}""")
                con.execute(f"""UPDATE _t_observation_period SET
                                observation_period_start_date = greatest(observation_period_start_date, {lo_d}),
                                observation_period_end_date = least(observation_period_end_date, {hi_d})""")
                n = before - _count(con, "SELECT count(*) FROM _t_observation_period")
            else:
                date_col = next((f.name for f in cdm.tables[t].fields if f.base_type == "date"), None)
                if date_col is None or date_col not in present[t]:
                    notes.append(f"permit.years: {t} has no date column; not filtered by year")
                    continue
                n = _count(con, f"SELECT count(*) FROM _t_{t} WHERE {date_col} NOT BETWEEN {lo_d} AND {hi_d} "
                                f"OR {date_col} IS NULL")
                con.execute(f"DELETE FROM _t_{t} WHERE {date_col} NOT BETWEEN {lo_d} AND {hi_d} OR {date_col} IS NULL")
            if n:
                removed[t] = n
        filters.append(FilterStep("permit.years", f"events dated {y1}-{y2} (observation periods clipped)",
                                  rows_removed=removed))

    # 5. k-anonymity
    kanon = _k_anonymity(con, spec, released, present, remove_persons, filters, notes)

    # 6-8. study pseudonyms, ids, dates, withheld columns -> the released tables
    withheld = _write_released(con, spec, cdm, vocab_tables, released, person_tables, present)
    if kanon.get("applied"):  # checked again on the released person table, independently of the search
        k = int(spec.release.k)
        small = _count(con, f"""SELECT count(*) FROM (SELECT count(*) AS n FROM main.person
                                GROUP BY year_of_birth, gender_concept_id, location_id) WHERE n < {k}""")
        if small:
            raise ReleaseBuildError(f"{small} classes (year of birth, gender, location) of the released person table "
                                    f"have fewer than {k} persons (a bug: the release is not written)")
    tables = {t: _count(con, f'SELECT count(*) FROM main."{t}"') for t in released}
    persons = tables.get("person", 0)
    # nothing lost: per source table, rows in = rows released + rows each filter removed
    problems = []
    for t in sorted(set(released) | {t for f in filters for t in f.rows_removed}):
        n_in = _count(con, f"SELECT count(*) FROM src.main.{t}")
        removed = sum(f.rows_removed.get(t, 0) for f in filters)
        if n_in != tables.get(t, 0) + removed:
            problems.append(f"{t}: {n_in} rows in the source, {tables.get(t, 0)} released + {removed} removed")
    if persons + sum(f.persons_removed for f in filters) != n_source:
        problems.append(f"person: {n_source} in the source, {persons} released + "
                        f"{sum(f.persons_removed for f in filters)} removed")
    if problems:
        raise ReleaseBuildError("the release does not reconcile with its source (a bug; nothing written): "
                                + "; ".join(problems))
    return ReleaseTables(tables=tables, persons=persons, persons_in_source=n_source, filters=filters,
                         k_anonymity=kanon, columns_withheld=withheld, dates=spec.release.dates, notes=notes)


def _k_anonymity(con, spec: StudySpec, released, present, remove_persons, filters, notes) -> dict[str, Any]:
    import pandas as pd

    from releases.disclosure import k_anonymise, region, sex, year_of_birth
    from releases.disclosure.errors import KAnonymityUnattainable
    from releases.disclosure.hierarchies import TOP, QuasiIdentifier

    k = int(spec.release.k)
    wanted = list(spec.release.quasi_identifiers)
    if k <= 1 or not wanted:
        return {"k": k, "applied": False, "reason": "k <= 1 or no quasi-identifiers declared"}
    has_location = "location" in present and "location_id" in present["person"]
    has_conditions = "condition_occurrence" in released and "condition_source_value" in present["condition_occurrence"]
    region_sql = ("(SELECT l.location_source_value FROM src.main.location l WHERE l.location_id = p.location_id)"
                  if has_location else "NULL")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _qi AS
        SELECT p.person_id, p.year_of_birth, CAST(p.gender_concept_id AS VARCHAR) AS gender,
               {region_sql} AS region
        FROM _t_person p""")
    if "rare_diagnosis" in wanted and has_conditions:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _rare AS
            SELECT condition_source_value AS code, count(DISTINCT person_id) AS persons
            FROM _t_condition_occurrence WHERE condition_source_value IS NOT NULL
            GROUP BY 1 HAVING count(DISTINCT person_id) < {k}""")
        con.execute("""CREATE OR REPLACE TEMP TABLE _qi AS
            SELECT q.*, r.code AS rare_diagnosis FROM _qi q LEFT JOIN (
                SELECT person_id, arg_min(c.condition_source_value, (r.persons, c.condition_source_value)) AS code
                FROM _t_condition_occurrence c JOIN _rare r ON r.code = c.condition_source_value GROUP BY 1
            ) r USING (person_id)""")
    elif "rare_diagnosis" in wanted:
        notes.append("rare_diagnosis is not a quasi-identifier of this release: condition_occurrence is not released")
        wanted.remove("rare_diagnosis")
    frame = con.execute("SELECT * FROM _qi ORDER BY person_id").df()
    frame["year_of_birth"] = frame["year_of_birth"].astype("Int64")

    def first3(values: pd.Series) -> pd.Series:
        return values.astype(str).str.slice(0, 3)

    make = {"year_of_birth": lambda: year_of_birth("year_of_birth", YOB_BANDS), "gender": lambda: sex("gender"),
            "region": lambda: region("region"),
            "rare_diagnosis": lambda: QuasiIdentifier("rare_diagnosis", ("code", "category", TOP), (first3,))}
    qis = [make[q]() for q in wanted]
    try:
        res = k_anonymise(frame, qis, k, max_suppression=float(spec.release.max_suppression),
                          max_levels={"year_of_birth": len(YOB_BANDS)})  # OMOP requires a year of birth
    except KAnonymityUnattainable as exc:
        raise ReleaseBuildError(f"k={k} cannot be reached with at most {spec.release.max_suppression:.0%} of the "
                                f"persons suppressed: {exc}; lower k, allow more suppression or declare fewer "
                                "quasi-identifiers") from None
    levels = dict(res.levels)
    suppressed = frame.loc[res.suppressed_index, "person_id"].astype("int64").tolist()
    con.execute("CREATE OR REPLACE TEMP TABLE _suppressed (person_id BIGINT)")
    if suppressed:
        con.executemany("INSERT INTO _suppressed VALUES (?)", [[p] for p in suppressed])
    remove_persons("k_anonymity", f"persons suppressed so that every quasi-identifier class has >= {k} persons",
                   "SELECT person_id FROM _suppressed")
    for t in released:
        if t != "person" and "person_id" in present[t]:
            con.execute(f"DELETE FROM _t_{t} WHERE person_id NOT IN (SELECT person_id FROM _keep)")
    con.execute("DELETE FROM _t_person WHERE person_id NOT IN (SELECT person_id FROM _keep)")

    generalised: dict[str, str] = {}
    yl = levels.get("year_of_birth", 0)
    if yl >= 1:
        w = YOB_BANDS[yl - 1]
        con.execute(f"UPDATE _t_person SET year_of_birth = year_of_birth - (year_of_birth % {w}), "
                    "month_of_birth = NULL, day_of_birth = NULL, birth_datetime = NULL")
        generalised["year_of_birth"] = f"{w}-year bands (the band's first year)"
    if levels.get("gender", 0) >= 1:
        con.execute("UPDATE _t_person SET gender_concept_id = 0, gender_source_value = NULL, "
                    "gender_source_concept_id = 0")
        generalised["gender"] = "withheld (concept 0)"
    if levels.get("region", 0) >= 1:
        con.execute("UPDATE _t_person SET location_id = NULL")
        generalised["region"] = "withheld (location_id NULL)"
    rare_rows = 0
    rl = levels.get("rare_diagnosis", 0)
    if rl >= 1:
        rare_rows = _count(con, "SELECT count(*) FROM _t_condition_occurrence WHERE condition_source_value IN "
                                "(SELECT code FROM _rare)")
        if rl == 1:
            con.execute("""UPDATE _t_condition_occurrence SET condition_source_value = left(condition_source_value, 3),
                           condition_source_concept_id = 0, condition_concept_id = 0
                           WHERE condition_source_value IN (SELECT code FROM _rare)""")
            generalised["rare_diagnosis"] = "rare codes replaced by their first 3 characters (concepts 0)"
        else:
            con.execute("DELETE FROM _t_condition_occurrence WHERE condition_source_value IN (SELECT code FROM _rare)")
            filters.append(FilterStep("k_anonymity.rare_diagnosis", "condition rows with a rare code removed",
                                      rows_removed={"condition_occurrence": rare_rows}))
            generalised["rare_diagnosis"] = "rare codes removed"
    return {"k": k, "applied": True, "quasi_identifiers": wanted, "levels": dict(res.level_names),
            "generalised": generalised, "persons_suppressed": len(suppressed), "classes": res.n_classes,
            "min_class_size": res.min_class_size, "rare_codes": _count(con, "SELECT count(*) FROM _rare")
            if "rare_diagnosis" in wanted else 0, "rare_condition_rows": rare_rows,
            "information_loss": round(float(res.information_loss), 4)}


def _write_released(con, spec: StudySpec, cdm, vocab_tables, released, person_tables, present) -> dict[str, list[str]]:
    from connectors.warehouse.ddl import sql_type

    mode, days = spec.release.dates, int(spec.release.shift_days or 0)
    span = 2 * days + 1
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _pmap AS
        SELECT p.person_id, ('0x' || substr(study_hmac(p.pseudonym), 1, {ID_BITS_HEX}))::BIGINT AS new_person_id,
               CASE WHEN {span} > 1 THEN (('0x' || substr(study_hmac('date-shift|' || p.pseudonym), 1, 8))::BIGINT
                                          % {span}) - {days} ELSE 0 END AS shift_days
        FROM _persons p JOIN _keep USING (person_id)""")
    if _count(con, "SELECT count(*) - count(DISTINCT new_person_id) FROM _pmap"):
        raise ReleaseBuildError("two persons got the same study person_id (a 60-bit collision); use another study key")
    withheld: dict[str, list[str]] = {}
    for t in released:
        table = cdm.tables[t]
        allowed = spec.permit.variables.get(t)
        cols = [f for f in table.fields if f.name in present[t]]
        exprs, nulls = [], []
        for f in cols:
            name, x = f.name, f"x.{f.name}"
            is_id = f.primary_key or (f.fk_table is not None and f.fk_table not in vocab_tables)
            if allowed is not None and name not in allowed and not is_id and name != "person_id":
                if f.required:
                    raise ReleaseBuildError(f"permit.variables.{t} withholds {name}, a required OMOP column; "
                                            "allow it or leave the table out of permit.tables")
                nulls.append(name)
                expr = "NULL"
            elif name == "person_id":
                expr = "m.new_person_id"
            elif f.primary_key:
                expr = _id_expr(t, x)
            elif f.fk_table is not None and f.fk_table not in vocab_tables:
                expr = _id_expr(f.fk_table, x)
            elif name.endswith("_event_id") or name in ALWAYS_NULL or name in ("day_of_birth", "birth_datetime"):
                expr = "NULL"
            elif f.base_type in ("date", "datetime") and t in person_tables:
                expr = _date_expr(x, f.base_type, mode)
            else:
                expr = x
            exprs.append(f"CAST({expr} AS {sql_type(f, 'duckdb')}) AS {name}")
        if nulls:
            withheld[t] = nulls
        join = " JOIN _pmap m USING (person_id)" if t in person_tables else ""
        con.execute(f'CREATE OR REPLACE TABLE main."{t}" AS SELECT {", ".join(exprs)} FROM _t_{t} x{join}')
        pk = next((f.name for f in cols if f.primary_key), None)
        if pk and _count(con, f'SELECT count(*) - count(DISTINCT {pk}) FROM main."{t}"'):
            raise ReleaseBuildError(f"re-keyed {t}.{pk} has a collision; use another study key")
    return withheld


def _date_expr(x: str, base: str, mode: str) -> str:
    if mode == "keep":
        return x
    if mode == "month":
        return f"date_trunc('month', {x})"
    return f"{x} + to_days(CAST(m.shift_days AS INTEGER))"


__all__ = ["CONSENT_WITHDRAWN", "FilterStep", "ReleaseBuildError", "ReleaseTables", "build_release_tables"]
