"""validators.dqd.sql on DuckDB: every check type against hand-computed counts, plus the not-applicable rules."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from dqd_sql_cases import cases, loose_create, materialise
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from validators.dqd.spec import CheckSpec
from validators.dqd.sql import (
    CHECK_NAMES,
    UnsupportedCheck,
    UnsupportedDialect,
    check_parts,
    check_sql,
    group_sql,
    not_applicable_after_run,
    not_applicable_reason,
    row_counts_sql,
    table_columns_sql,
)

CDM_SCHEMA, VOCAB_SCHEMA = "cdm", "vocab"
TODAY: dt.date = duckdb.connect().execute("SELECT CURRENT_DATE").fetchone()[0]
CASES = cases(TODAY)


@pytest.fixture(scope="module")
def duck():
    """One in-memory database for the module (a connection costs ~35 ms; each test resets its schemas)."""
    c = duckdb.connect()
    yield c
    c.close()


def _reset(c) -> None:
    for (table,) in c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall():
        c.execute(f'DROP TABLE main."{table}"')
    for schema in (CDM_SCHEMA, VOCAB_SCHEMA):
        c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        c.execute(f'CREATE SCHEMA "{schema}"')


@pytest.fixture
def con(duck):
    _reset(duck)
    return duck


def run(con, spec: CheckSpec, **schemas) -> tuple[int, int]:
    schemas = schemas or {"cdm_schema": CDM_SCHEMA, "vocab_schema": VOCAB_SCHEMA}
    rows = con.execute(check_sql(spec, "duckdb", **schemas)).fetchall()
    assert len(rows) == 1
    return rows[0]


# --------------------------------------------------------------------------- every check type


def test_cases_cover_all_27_check_types():
    assert len(CHECK_NAMES) == 27
    assert {c.spec.check_name for c in CASES} == set(CHECK_NAMES)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_check_counts(con, case):
    load = materialise(con.execute, con.executemany, case, "duckdb", CDM_SCHEMA, VOCAB_SCHEMA, "?")
    load(case.good)
    assert run(con, case.spec) == (0, case.good_denominator), "passing rows only"
    load(case.bad)
    assert run(con, case.spec) == case.expected, "with violating rows"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_group_query_gives_each_checks_own_counts(con, case):
    """A check inside a group query (with the table's cdmTable check when they share the plain table
    scan, and with itself) gets the counts of its own query."""
    load = materialise(con.execute, con.executemany, case, "duckdb", CDM_SCHEMA, VOCAB_SCHEMA, "?")
    load(case.good)
    load(case.bad)
    schemas = {"cdm_schema": CDM_SCHEMA, "vocab_schema": VOCAB_SCHEMA}
    parts = check_parts(case.spec, "duckdb", **schemas)
    table_check = check_parts(CheckSpec(check_name="cdmTable", table=case.spec.table), "duckdb", **schemas)
    members = [table_check, parts, parts] if table_check.body == parts.body else [parts, parts]
    row = con.execute(group_sql(members)).fetchall()
    assert len(row) == 1 and len(row[0]) == 2 * len(members)
    own = tuple(row[0][2 * members.index(parts): 2 * members.index(parts) + 2])
    assert own == run(con, case.spec) == case.expected
    assert row[0][-2:] == own


def test_group_query_refuses_checks_of_different_bodies():
    a = check_parts(CheckSpec(check_name="cdmTable", table="person"), "duckdb")
    b = check_parts(CheckSpec(check_name="cdmTable", table="death"), "duckdb")
    with pytest.raises(ValueError, match="share their body"):
        group_sql([a, b])
    with pytest.raises(ValueError, match="at least one"):
        group_sql([])


def test_result_is_one_row_of_two_bigints(con):
    case = next(c for c in CASES if c.id == "isRequired")
    materialise(con.execute, con.executemany, case, "duckdb", CDM_SCHEMA, VOCAB_SCHEMA, "?")(case.good)
    rel = con.sql(check_sql(case.spec, "duckdb", cdm_schema=CDM_SCHEMA))
    assert rel.columns == ["num_violated_rows", "num_denominator_rows"]
    assert [str(t) for t in rel.types] == ["BIGINT", "BIGINT"]


def test_unqualified_tables_and_vocabulary_defaulting_to_cdm_schema(con):
    con.execute(loose_create("concept", "duckdb", "main"))
    con.execute(loose_create("condition_occurrence", "duckdb", "main"))
    con.execute("INSERT INTO concept (concept_id, domain_id) VALUES (1, 'Condition'), (2, 'Drug')")
    con.execute("INSERT INTO condition_occurrence (condition_concept_id) VALUES (1), (2), (2)")
    spec = CheckSpec("fkDomain", "condition_occurrence", "condition_concept_id", fk_domain="Condition")
    assert '"main"' not in check_sql(spec, "duckdb")
    assert run(con, spec, cdm_schema=None) == (2, 3)
    assert run(con, spec, cdm_schema="main") == (2, 3)  # concept found in the CDM schema when no vocab schema is given


def test_vocabulary_tables_are_read_from_the_vocabulary_schema():
    spec = CheckSpec("plausibleGenderUseDescendants", "condition_occurrence", "condition_concept_id",
                     concept_id=1, plausible_gender="Male")  # fmt: skip
    sql = check_sql(spec, "postgresql", cdm_schema="c", vocab_schema="v")
    assert '"v"."concept_ancestor"' in sql and '"c"."person"' in sql and '"c"."condition_occurrence"' in sql


def test_cdm_table_and_field_queries_fail_when_missing(con):
    with pytest.raises(duckdb.CatalogException):
        con.execute(check_sql(CheckSpec("cdmTable", "person"), "duckdb", cdm_schema=CDM_SCHEMA))
    con.execute(f'CREATE TABLE "{CDM_SCHEMA}"."person" ("person_id" BIGINT)')
    with pytest.raises(duckdb.BinderException):
        con.execute(check_sql(CheckSpec("cdmField", "person", "year_of_birth"), "duckdb", cdm_schema=CDM_SCHEMA))
    assert run(con, CheckSpec("cdmField", "person", "person_id")) == (0, 1)


def test_string_parameters_are_escaped(con):
    con.execute(loose_create("concept", "duckdb", VOCAB_SCHEMA))
    con.execute(loose_create("condition_occurrence", "duckdb", CDM_SCHEMA))
    con.execute(f"INSERT INTO {VOCAB_SCHEMA}.concept (concept_id, domain_id) VALUES (1, 'It''s'), (2, 'Drug')")
    con.execute(f"INSERT INTO {CDM_SCHEMA}.condition_occurrence (condition_concept_id) VALUES (1), (2)")
    spec = CheckSpec("fkDomain", "condition_occurrence", "condition_concept_id", fk_domain="It's")
    assert run(con, spec) == (1, 2)


# --------------------------------------------------------------------------- properties against Python


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=12),
    bound=st.one_of(st.integers(-60, 60), st.floats(-60, 60, allow_nan=False)),
    low=st.booleans(),
)
def test_plausible_value_matches_python(duck, values, bound, low):
    c = duck
    _reset(c)
    c.execute(loose_create("drug_exposure", "duckdb", "main"))
    if values:
        c.executemany("INSERT INTO drug_exposure (refills) VALUES (?)", [(v,) for v in values])
    if low:
        spec = CheckSpec("plausibleValueLow", "drug_exposure", "refills", plausible_value_low=bound)
        violated = sum(1 for v in values if v is not None and v < bound)
    else:
        spec = CheckSpec("plausibleValueHigh", "drug_exposure", "refills", plausible_value_high=bound)
        violated = sum(1 for v in values if v is not None and v > bound)
    assert c.execute(check_sql(spec, "duckdb")).fetchone() == (violated, sum(v is not None for v in values))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    visits=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 10)), min_size=1, max_size=4),
    events=st.lists(st.tuples(st.integers(0, 5), st.integers(-20, 60)), max_size=15),
)
def test_within_visit_dates_matches_python(duck, visits, events):
    base = dt.date(2020, 1, 1)
    c = duck
    _reset(c)
    c.execute(loose_create("visit_occurrence", "duckdb", "main"))
    c.execute(loose_create("measurement", "duckdb", "main"))
    spans = {i: (base + dt.timedelta(s), base + dt.timedelta(s + n)) for i, (s, n) in enumerate(visits)}
    c.executemany("INSERT INTO visit_occurrence (visit_occurrence_id, visit_start_date, visit_end_date) VALUES (?, ?, ?)",
                  [(i, s, e) for i, (s, e) in spans.items()])  # fmt: skip
    if events:
        c.executemany("INSERT INTO measurement (visit_occurrence_id, measurement_date) VALUES (?, ?)",
                      [(v, base + dt.timedelta(d)) for v, d in events])  # fmt: skip
    joined = [(base + dt.timedelta(d), spans[v]) for v, d in events if v in spans]
    week = dt.timedelta(days=7)
    violated = sum(1 for day, (s, e) in joined if day < s - week or day > e + week)
    spec = CheckSpec("withinVisitDates", "measurement", "measurement_date")
    assert c.execute(check_sql(spec, "duckdb")).fetchone() == (violated, len(joined))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(periods=st.lists(st.tuples(st.integers(1, 4), st.integers(0, 40), st.integers(0, 10)), max_size=10))
def test_observation_period_overlap_matches_python(duck, periods):
    base = dt.date(2000, 1, 1)
    rows = [(i, p, base + dt.timedelta(s), base + dt.timedelta(s + n)) for i, (p, s, n) in enumerate(periods)]
    c = duck
    _reset(c)
    c.execute(loose_create("observation_period", "duckdb", "main"))
    if rows:
        c.executemany("INSERT INTO observation_period (observation_period_id, person_id, observation_period_start_date, "
                      "observation_period_end_date) VALUES (?, ?, ?, ?)", rows)  # fmt: skip
    one = dt.timedelta(days=1)
    bad = {a[1] for a in rows for b in rows
           if a[1] == b[1] and a[0] != b[0] and ((a[2] <= b[3] and a[3] >= b[2]) or a[3] + one == b[2] or b[3] + one == a[2])}  # fmt: skip
    spec = CheckSpec("measureObservationPeriodOverlap", "observation_period")
    assert c.execute(check_sql(spec, "duckdb")).fetchone() == (len(bad), len({r[1] for r in rows}))


@settings(max_examples=40, deadline=None)
@given(day=st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)), compact=st.booleans(), quoted=st.booleans())
def test_date_bounds_are_parsed_to_date_literals(day, compact, quoted):
    text = day.strftime("%Y%m%d") if compact else day.isoformat()
    text = f"'{text}'" if quoted else text
    sql = check_sql(CheckSpec("plausibleValueLow", "death", "death_date", plausible_value_low=text), "duckdb")
    assert f"DATE '{day.isoformat()}'" in sql


# --------------------------------------------------------------------------- refused checks


def test_unknown_check_names_the_check_id():
    with pytest.raises(UnsupportedCheck, match=r"isBogus\.person\.person_id.*unknown check type"):
        check_sql(CheckSpec("isBogus", "person", "person_id"), "duckdb")


@pytest.mark.parametrize(
    "spec, missing",
    [
        (CheckSpec("isRequired", "person"), "field"),
        (CheckSpec("isForeignKey", "person", "care_site_id", fk_field="care_site_id"), "fk_table"),
        (CheckSpec("isForeignKey", "person", "care_site_id", fk_table="care_site"), "fk_field"),
        (CheckSpec("fkDomain", "person", "gender_concept_id"), "fk_domain"),
        (CheckSpec("fkDomain", "person", "gender_concept_id", fk_domain=" , "), "fk_domain"),
        (CheckSpec("fkClass", "drug_era", "drug_concept_id"), "fk_class"),
        (CheckSpec("sourceValueCompleteness", "measurement", "unit_source_value"), "standard_concept_field"),
        (CheckSpec("plausibleValueLow", "person", "year_of_birth"), "plausible_value_low"),
        (CheckSpec("plausibleValueHigh", "person", "year_of_birth"), "plausible_value_high"),
        (CheckSpec("plausibleValueLow", "observation", "observation_concept_id", concept_id=1, plausible_value_low=1),
         "unit_concept_id"),
        (CheckSpec("plausibleTemporalAfter", "death", "death_date", temporal_after_field="birth_datetime"),
         "temporal_after_table"),
        (CheckSpec("plausibleTemporalAfter", "death", "death_date", temporal_after_table="person"), "temporal_after_field"),
        (CheckSpec("plausibleStartBeforeEnd", "drug_era", "drug_era_start_date"), "start_before_end_field"),
        (CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id", plausible_gender="Male"),
         "concept_id"),
        (CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id", concept_id=1), "plausible_gender"),
        (CheckSpec("plausibleUnitConceptIds", "measurement", "measurement_concept_id", concept_id=1), "unit_concept_ids"),
        (CheckSpec("cdmDatatype", "no_such_table", "x"), "datatype"),
        (CheckSpec("measurePersonCompleteness", ""), "table"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.check_name,
)
def test_missing_parameters_are_refused(spec, missing):
    with pytest.raises(UnsupportedCheck, match=rf"{spec.check_name}.*'{missing}'"):
        check_sql(spec, "duckdb")


@pytest.mark.parametrize(
    "spec, message",
    [
        (CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id", concept_id=1,
                   plausible_gender="Other"), "'Male' or 'Female'"),
        (CheckSpec("plausibleValueLow", "death", "death_date", plausible_value_low="yesterday"), "not a date"),
        (CheckSpec("plausibleValueLow", "death", "death_date", plausible_value_low=1950), "not a date"),
        (CheckSpec("plausibleValueLow", "death", "death_date", plausible_value_low="2020-02-30"), "not a valid date"),
        (CheckSpec("plausibleValueHigh", "person", "year_of_birth", plausible_value_high="lots"), "not a number"),
        (CheckSpec("plausibleValueHigh", "person", "year_of_birth", plausible_value_high=float("nan")), "finite"),
        (CheckSpec("plausibleValueHigh", "person", "year_of_birth", plausible_value_high=True), "not a number"),
        (CheckSpec("cdmDatatype", "person", "person_source_value"), "integer fields only"),
    ],
    ids=lambda v: v if isinstance(v, str) else v.check_name,
)
def test_invalid_parameters_are_refused(spec, message):
    with pytest.raises(UnsupportedCheck, match=message):
        check_sql(spec, "duckdb")


def test_numeric_bounds_given_as_text_and_undeclared_fields():
    sql = check_sql(CheckSpec("plausibleValueLow", "drug_exposure", "quantity", plausible_value_low="0.0000001"), "duckdb")
    assert "< 1e-07" in sql
    undeclared = check_sql(CheckSpec("plausibleValueHigh", "person", "x_custom", plausible_value_high="today"), "duckdb")
    assert 'CAST(t."x_custom" AS DATE) > (CURRENT_DATE + 1)' in undeclared
    assert '> 12' in check_sql(CheckSpec("plausibleValueHigh", "person", "x_custom", plausible_value_high=12.0), "duckdb")


def test_unsupported_dialect():
    for fn in (lambda: check_sql(CheckSpec("isRequired", "person", "person_id"), "oracle"),
               lambda: table_columns_sql("sqlite"), lambda: row_counts_sql("mysql", ["person"])):  # fmt: skip
        with pytest.raises(UnsupportedDialect, match="unsupported SQL dialect"):
            fn()


# --------------------------------------------------------------------------- schema listing and row counts


def test_table_columns_lists_one_schema_lower_cased(con):
    con.execute('CREATE TABLE main."Person" ("PERSON_ID" BIGINT, "year_of_birth" BIGINT)')
    con.execute(f'CREATE TABLE "{CDM_SCHEMA}"."death" ("person_id" BIGINT)')
    assert con.execute(table_columns_sql("duckdb")).fetchall() == [("person", "person_id"), ("person", "year_of_birth")]
    assert con.execute(table_columns_sql("duckdb", CDM_SCHEMA)).fetchall() == [("death", "person_id")]
    assert "'public'" in table_columns_sql("postgresql")


def test_row_counts(con):
    con.execute(f'CREATE TABLE "{CDM_SCHEMA}"."person" ("person_id" BIGINT)')
    con.execute(f'CREATE TABLE "{CDM_SCHEMA}"."death" ("person_id" BIGINT)')
    con.execute(f'INSERT INTO "{CDM_SCHEMA}"."person" VALUES (1), (2)')
    assert sorted(con.execute(row_counts_sql("duckdb", ["person", "death"], CDM_SCHEMA)).fetchall()) == [
        ("death", 0), ("person", 2)]  # fmt: skip
    with pytest.raises(ValueError, match="non-empty"):
        row_counts_sql("duckdb", [])
    with pytest.raises(ValueError, match="non-empty"):
        row_counts_sql("duckdb", "person")


# --------------------------------------------------------------------------- not applicable


COLUMNS = {
    "person": {"person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "day_of_birth", "birth_datetime"},
    "condition_occurrence": {"person_id", "condition_concept_id", "condition_start_date", "visit_occurrence_id",
                             "condition_source_value"},
    "condition_era": {"person_id"},
    "observation_period": {"person_id", "observation_period_id", "observation_period_start_date",
                           "observation_period_end_date"},
    "measurement": {"person_id", "measurement_concept_id", "unit_concept_id"},
    "concept": {"concept_id", "domain_id", "concept_class_id", "standard_concept", "invalid_reason"},
}  # fmt: skip
COUNTS = {"person": 3, "condition_occurrence": 5, "condition_era": 0, "observation_period": 0, "measurement": 4,
          "concept": 10}  # fmt: skip


@pytest.mark.parametrize(
    "spec, columns, counts, reason",
    [
        (CheckSpec("cdmTable", "death"), COLUMNS, COUNTS, None),  # never N/A: a missing table fails
        (CheckSpec("cdmField", "death", "death_date"), COLUMNS, COUNTS, "Table death does not exist."),
        (CheckSpec("cdmField", "person", "race_concept_id"), COLUMNS, COUNTS, None),  # missing field fails
        (CheckSpec("cdmField", "condition_era", "person_id"), COLUMNS, COUNTS, None),  # empty table: still applies
        (CheckSpec("isRequired", "death", "person_id"), COLUMNS, COUNTS, "Table death does not exist."),
        (CheckSpec("isRequired", "person", "race_concept_id"), COLUMNS, COUNTS,
         "Field person.race_concept_id does not exist."),
        (CheckSpec("isRequired", "condition_era", "person_id"), COLUMNS, COUNTS, "Table condition_era is empty."),
        (CheckSpec("isRequired", "person", "person_id"), COLUMNS, COUNTS, None),
        (CheckSpec("isRequired", "person", "person_id"), COLUMNS, {}, None),  # no count: taken as non-empty
        (CheckSpec("measurePersonCompleteness", "observation_period"), COLUMNS, COUNTS, None),  # empty is a finding
        (CheckSpec("measurePersonCompleteness", "death"), COLUMNS, COUNTS, "Table death does not exist."),
        (CheckSpec("measurePersonCompleteness", "condition_era"), {k: v for k, v in COLUMNS.items() if k != "person"},
         COUNTS, "Table person (needed by measurePersonCompleteness) does not exist."),
        (CheckSpec("measureConditionEraCompleteness", "condition_era"), COLUMNS, COUNTS, None),
        (CheckSpec("measureConditionEraCompleteness", "condition_era"), COLUMNS, {**COUNTS, "condition_occurrence": 0},
         "Table condition_occurrence is empty."),
        (CheckSpec("measureConditionEraCompleteness", "condition_era"),
         {k: v for k, v in COLUMNS.items() if k != "condition_occurrence"}, COUNTS, "Table condition_occurrence is empty."),
        (CheckSpec("measureObservationPeriodOverlap", "observation_period"), COLUMNS, COUNTS,
         "Table observation_period is empty."),
        (CheckSpec("plausibleDuringLife", "condition_occurrence", "condition_start_date"), COLUMNS, COUNTS,
         "Table death (needed by plausibleDuringLife) does not exist."),
        (CheckSpec("plausibleBeforeDeath", "condition_occurrence", "condition_start_date"),
         {**COLUMNS, "death": {"person_id"}}, COUNTS, "Field death.death_date (needed by plausibleBeforeDeath) does not exist."),
        (CheckSpec("withinVisitDates", "condition_occurrence", "condition_start_date"), COLUMNS, COUNTS,
         "Table visit_occurrence (needed by withinVisitDates) does not exist."),
        (CheckSpec("plausibleAfterBirth", "condition_occurrence", "condition_start_date"), COLUMNS, COUNTS, None),
        (CheckSpec("plausibleAfterBirth", "condition_occurrence", "condition_start_date"),
         {**COLUMNS, "person": {"person_id", "year_of_birth"}}, COUNTS,
         "Field person.birth_datetime (needed by plausibleAfterBirth) does not exist."),
        (CheckSpec("isForeignKey", "condition_occurrence", "visit_occurrence_id", fk_table="visit_occurrence",
                   fk_field="visit_occurrence_id"), COLUMNS, COUNTS,
         "Table visit_occurrence (needed by isForeignKey) does not exist."),
        (CheckSpec("fkDomain", "condition_occurrence", "condition_concept_id", fk_domain="Condition"),
         {k: v for k, v in COLUMNS.items() if k != "concept"}, COUNTS, "Table concept (needed by fkDomain) does not exist."),
        (CheckSpec("isStandardValidConcept", "condition_occurrence", "condition_concept_id"), COLUMNS, COUNTS, None),
        (CheckSpec("sourceValueCompleteness", "condition_occurrence", "condition_source_value",
                   standard_concept_field="condition_status_concept_id"), COLUMNS, COUNTS,
         "Field condition_occurrence.condition_status_concept_id (needed by sourceValueCompleteness) does not exist."),
        (CheckSpec("standardConceptRecordCompleteness", "measurement", "unit_concept_id"), COLUMNS, COUNTS,
         "Field measurement.unit_source_value (needed by standardConceptRecordCompleteness) does not exist."),
        (CheckSpec("plausibleTemporalAfter", "condition_occurrence", "condition_start_date", temporal_after_table="person",
                   temporal_after_field="birth_datetime"), COLUMNS, COUNTS, None),
        (CheckSpec("plausibleTemporalAfter", "condition_occurrence", "condition_start_date",
                   temporal_after_table="condition_occurrence", temporal_after_field="condition_end_date"),
         COLUMNS, COUNTS, "Field condition_occurrence.condition_end_date (needed by plausibleTemporalAfter) does not exist."),
        (CheckSpec("plausibleStartBeforeEnd", "condition_occurrence", "condition_start_date",
                   start_before_end_field="condition_end_date"), COLUMNS, COUNTS,
         "Field condition_occurrence.condition_end_date (needed by plausibleStartBeforeEnd) does not exist."),
        (CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id", concept_id=1,
                   plausible_gender="Male"), COLUMNS, COUNTS, None),
        (CheckSpec("plausibleGenderUseDescendants", "condition_occurrence", "condition_concept_id", concept_id=1,
                   plausible_gender="Male"), COLUMNS, COUNTS,
         "Table concept_ancestor (needed by plausibleGenderUseDescendants) does not exist."),
        (CheckSpec("plausibleGender", "condition_era", "condition_concept_id", concept_id=1, plausible_gender="Male"),
         {**COLUMNS, "condition_era": {"person_id", "condition_concept_id"}}, COUNTS, "Table condition_era is empty."),
        (CheckSpec("plausibleUnitConceptIds", "measurement", "measurement_concept_id", concept_id=1,
                   unit_concept_ids=(2,)), COLUMNS, COUNTS, None),
        (CheckSpec("plausibleValueLow", "measurement", "measurement_concept_id", concept_id=1, unit_concept_id=2,
                   plausible_value_low=0), COLUMNS, COUNTS,
         "Field measurement.value_as_number (needed by plausibleValueLow) does not exist."),
    ],
    ids=lambda v: v.check_id if isinstance(v, CheckSpec) else "",
)
def test_not_applicable_reason(spec, columns, counts, reason):
    assert not_applicable_reason(spec, columns, counts) == reason


def test_not_applicable_reason_refuses_unknown_checks():
    with pytest.raises(UnsupportedCheck, match="unknown check type"):
        not_applicable_reason(CheckSpec("isBogus", "person", "person_id"), COLUMNS, COUNTS)


def test_not_applicable_after_run():
    gender = CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id", concept_id=7, plausible_gender="Male")
    assert not_applicable_after_run(gender, 0) == "condition_concept_id=7 is missing from the condition_occurrence table."
    assert not_applicable_after_run(gender, 3) is None
    low = CheckSpec("plausibleValueLow", "observation", "observation_concept_id", concept_id=7, unit_concept_id=9,
                    plausible_value_low=1)  # fmt: skip
    assert not_applicable_after_run(low, 0).startswith("Combination of observation_concept_id=7, unit_concept_id=9")
    required = CheckSpec("isRequired", "person", "year_of_birth")
    assert not_applicable_after_run(required, 5, field_is_empty=True) == "Field person.year_of_birth is not populated."
    assert not_applicable_after_run(required, 0) is None  # field-level: denominator 0 alone is no reason
    completeness = CheckSpec("measureValueCompleteness", "person", "year_of_birth")
    assert not_applicable_after_run(completeness, 5, field_is_empty=True) is None
    assert not_applicable_after_run(CheckSpec("measurePersonCompleteness", "death"), 0, field_is_empty=True) is None
