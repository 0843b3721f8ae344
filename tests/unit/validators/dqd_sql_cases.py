"""Hand-computed DQD check cases shared by the DuckDB and PostgreSQL tests of validators.dqd.sql.

Each :class:`Case` is one check with a tiny CDM: ``good`` rows that pass (the
query must report 0 violated rows out of ``good_denominator``) and ``bad`` rows
added on purpose (the query must then report ``expected``).  The expected counts
are worked out by hand in the comments next to the rows, independently of the SQL.
Tables are created from the CDM declaration without NOT NULL / PRIMARY KEY (so
violating rows can be inserted); vocabulary tables go to the vocabulary schema.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connectors.warehouse.ddl import create_table
from terminology.omop_cdm import CDM
from validators.dqd.spec import CheckSpec

D = dt.date
T = dt.datetime
Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Case:
    id: str
    spec: CheckSpec
    good: Rows
    good_denominator: int
    bad: Rows
    expected: tuple[int, int]  # (num_violated_rows, num_denominator_rows) with good + bad rows
    empty_tables: tuple[str, ...] = ()
    custom: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # table -> [(column, type)]


def is_vocab(table: str) -> bool:
    return CDM.tables[table].group == "vocabulary" if table in CDM.tables else False


def schema_of(table: str, cdm: str, vocab: str) -> str:
    return vocab if is_vocab(table) else cdm


def loose_create(table: str, dialect: str, schema: str, custom: list[tuple[str, str]] | None = None) -> str:
    """CREATE TABLE for a CDM table without NOT NULL and PRIMARY KEY, or a hand-typed one."""
    if custom:
        types = {"DOUBLE": "DOUBLE PRECISION"} if dialect == "postgresql" else {}
        cols = ", ".join(f'"{c}" {types.get(t, t)}' for c, t in custom)
        return f'CREATE TABLE "{schema}"."{table}" ({cols})'
    stmt = create_table(table, dialect, schema)
    stmt = stmt.replace(" NOT NULL", "")
    return re.sub(r",\n  PRIMARY KEY \([^)]*\)", "", stmt)


def insert_sql(table: str, schema: str, columns: list[str], placeholder: str) -> str:
    cols = ", ".join(f'"{c}"' for c in columns)
    return f'INSERT INTO "{schema}"."{table}" ({cols}) VALUES ({", ".join([placeholder] * len(columns))})'


def rows_as_tuples(rows: list[dict[str, Any]]) -> tuple[list[str], list[tuple]]:
    columns = sorted({k for r in rows for k in r})
    return columns, [tuple(r.get(c) for c in columns) for r in rows]


def tables_of(case: Case) -> list[str]:
    return sorted(set(case.good) | set(case.bad) | set(case.empty_tables))


def materialise(
    execute: Callable[[str], Any],
    executemany: Callable[[str, list[tuple]], Any],
    case: Case,
    dialect: str,
    cdm: str,
    vocab: str,
    placeholder: str,
) -> Callable[[Rows], None]:
    """Create the case's tables and return a loader for a Rows mapping."""
    for t in tables_of(case):
        execute(loose_create(t, dialect, schema_of(t, cdm, vocab), case.custom.get(t)))

    def load(data: Rows) -> None:
        for t, rows in data.items():
            if rows:
                columns, values = rows_as_tuples(rows)
                executemany(insert_sql(t, schema_of(t, cdm, vocab), columns, placeholder), values)

    return load


# --------------------------------------------------------------------------- rows used by several cases


def person(pid, gender=8507, year=1980, month=None, day=None, birth=None):
    return {"person_id": pid, "gender_concept_id": gender, "year_of_birth": year, "month_of_birth": month,
            "day_of_birth": day, "birth_datetime": birth}  # fmt: skip


def concept(cid, domain="Condition", klass="Clinical Finding", standard="S", invalid=None):
    return {"concept_id": cid, "concept_name": f"c{cid}", "domain_id": domain, "vocabulary_id": "Test",
            "concept_class_id": klass, "standard_concept": standard, "concept_code": str(cid),
            "valid_start_date": D(1970, 1, 1), "valid_end_date": D(2099, 12, 31), "invalid_reason": invalid}  # fmt: skip


def cond(pid=1, start=None, *, cid=100, end=None, visit=None, start_dt=None, oid=None, src=None):
    return {"condition_occurrence_id": oid, "person_id": pid, "condition_concept_id": cid,
            "condition_start_date": start, "condition_start_datetime": start_dt, "condition_end_date": end,
            "visit_occurrence_id": visit, "condition_source_value": src}  # fmt: skip


def drug(pid=1, start=None, end=None, **extra):
    return {"person_id": pid, "drug_concept_id": 1, "drug_exposure_start_date": start, "drug_exposure_end_date": end, **extra}


def op(oid, pid, start, end):
    return {"observation_period_id": oid, "person_id": pid, "observation_period_start_date": start,
            "observation_period_end_date": end}  # fmt: skip


def meas(cid, unit, value=None, src=None):
    return {"person_id": 1, "measurement_concept_id": cid, "unit_concept_id": unit, "value_as_number": value,
            "unit_source_value": src}  # fmt: skip


def obs(cid, unit, value):
    return {"person_id": 1, "observation_concept_id": cid, "unit_concept_id": unit, "value_as_number": value}


def cases(today: dt.date) -> list[Case]:
    """All cases; ``today`` is the database's CURRENT_DATE."""
    tomorrow = today + dt.timedelta(days=1)
    after_tomorrow = today + dt.timedelta(days=2)  # 'today' is the DQD's bound: the run date plus one day
    return [
        # ---- table / field presence: 0 of 1 when present
        Case("cdmTable", CheckSpec("cdmTable", "person"), {}, 1, {}, (0, 1), empty_tables=("person",)),
        Case("cdmField", CheckSpec("cdmField", "person", "year_of_birth"), {"person": [person(1)]}, 1, {}, (0, 1)),
        # ---- isRequired: NULLs / all rows
        Case("isRequired", CheckSpec("isRequired", "person", "year_of_birth"),
             {"person": [person(1), person(2)]}, 2,
             {"person": [person(3, year=None), person(4, year=None)]}, (2, 4)),  # 2 NULLs of 4 rows
        # ---- cdmDatatype: whole numbers only; typed BIGINT always passes
        Case("cdmDatatype.bigint", CheckSpec("cdmDatatype", "person", "person_id", datatype="integer"),
             {"person": [person(1), person(2), person(3)]}, 3, {}, (0, 3)),
        Case("cdmDatatype.varchar", CheckSpec("cdmDatatype", "person", "person_id", datatype="integer"),
             {"person": [{"person_id": v} for v in ["12", " 7 ", "-3", "+4", "3.0", None]]}, 6,
             {"person": [{"person_id": v} for v in ["1.5", "abc", ""]]}, (3, 9),  # '1.5', 'abc', '' not whole
             custom={"person": [("person_id", "VARCHAR")]}),
        Case("cdmDatatype.double", CheckSpec("cdmDatatype", "person", "person_id"),  # datatype from the CDM
             {"person": [{"person_id": v} for v in [1.0, -4.0, None]]}, 3,
             {"person": [{"person_id": 2.5}]}, (1, 4),
             custom={"person": [("person_id", "DOUBLE")]}),
        # ---- isPrimaryKey: every row of a duplicated value; NULLs are not duplicates
        Case("isPrimaryKey", CheckSpec("isPrimaryKey", "person", "person_id"),
             {"person": [person(1), person(2), person(None), person(None)]}, 4,
             {"person": [person(2), person(3), person(3), person(3)]}, (5, 8)),  # 2 x2 + 3 x3
        # ---- isForeignKey: non-null values without a match / all rows
        Case("isForeignKey.person", CheckSpec("isForeignKey", "condition_occurrence", "person_id",
                                              fk_table="person", fk_field="person_id"),
             {"person": [person(1), person(2)], "condition_occurrence": [cond(1), cond(2), cond(None)]}, 3,
             {"condition_occurrence": [cond(99), cond(99)]}, (2, 5)),
        Case("isForeignKey.concept", CheckSpec("isForeignKey", "condition_occurrence", "condition_concept_id",
                                               fk_table="concept", fk_field="concept_id"),
             {"concept": [concept(0, "Metadata"), concept(100)],
              "condition_occurrence": [cond(cid=100), cond(cid=0), cond(cid=None)]}, 3,
             {"condition_occurrence": [cond(cid=555)]}, (1, 4)),
        # ---- fkDomain: known concepts (not 0) of another domain / all rows
        Case("fkDomain", CheckSpec("fkDomain", "condition_occurrence", "condition_concept_id", fk_domain="Condition"),
             {"concept": [concept(0, "Metadata"), concept(100), concept(200, "Drug"), concept(300, None)],
              "condition_occurrence": [cond(cid=c) for c in (100, 0, 999, None, 300)]}, 5,
             {"condition_occurrence": [cond(cid=200), cond(cid=200)]}, (2, 7)),
        Case("fkDomain.list", CheckSpec("fkDomain", "episode", "episode_object_concept_id", fk_domain="Procedure, Regimen"),
             {"concept": [concept(400, "Procedure"), concept(401, "Regimen"), concept(402, "Drug")],
              "episode": [{"episode_object_concept_id": 400}, {"episode_object_concept_id": 401}]}, 2,
             {"episode": [{"episode_object_concept_id": 402}] * 2}, (2, 4)),
        # ---- fkClass
        Case("fkClass", CheckSpec("fkClass", "drug_era", "drug_concept_id", fk_class="Ingredient"),
             {"concept": [concept(0, "Metadata", "Undefined"), concept(500, "Drug", "Ingredient"),
                          concept(501, "Drug", "Clinical Drug")],
              "drug_era": [{"drug_concept_id": c} for c in (500, 0, 777, None)]}, 4,
             {"drug_era": [{"drug_concept_id": 501}]}, (1, 5)),
        # ---- isStandardValidConcept: non-standard or invalid (concept 0 exempt) / non-null values
        Case("isStandardValidConcept", CheckSpec("isStandardValidConcept", "condition_occurrence", "condition_concept_id"),
             {"concept": [concept(0, standard=None), concept(100), concept(101, invalid="D"),
                          concept(102, standard="C"), concept(103, standard=None)],
              "condition_occurrence": [cond(cid=c) for c in (100, 0, 999, None)]}, 3,  # NULL not counted
             {"condition_occurrence": [cond(cid=c) for c in (101, 102, 103)]}, (3, 6)),
        # ---- measureValueCompleteness: NULLs / all rows
        Case("measureValueCompleteness", CheckSpec("measureValueCompleteness", "condition_occurrence", "condition_end_date"),
             {"condition_occurrence": [cond(end=D(2020, 1, 1))]}, 1,
             {"condition_occurrence": [cond(end=None), cond(end=None)]}, (2, 3)),
        # ---- concept record completeness: 0, or NULL with a source value for the listed fields
        Case("standardConceptRecordCompleteness", CheckSpec("standardConceptRecordCompleteness", "condition_occurrence",
                                                            "condition_concept_id"),
             {"condition_occurrence": [cond(cid=5), cond(cid=None, src="x")]}, 1,  # no companion: NULL not counted
             {"condition_occurrence": [cond(cid=0), cond(cid=0)]}, (2, 3)),
        Case("standardConceptRecordCompleteness.unit", CheckSpec("standardConceptRecordCompleteness", "measurement",
                                                                 "unit_concept_id"),
             {"measurement": [meas(1, 8576, src="mg"), meas(1, None)]}, 1,  # (NULL, NULL) outside the denominator
             {"measurement": [meas(1, 0, src="mg"), meas(1, None, src="mg"), meas(1, 0)]}, (3, 4)),
        Case("standardConceptRecordCompleteness.dose_era", CheckSpec("standardConceptRecordCompleteness", "dose_era",
                                                                     "unit_concept_id"),
             {"dose_era": [{"unit_concept_id": 5}, {"unit_concept_id": None}]}, 1,
             {"dose_era": [{"unit_concept_id": 0}]}, (1, 2)),
        Case("sourceConceptRecordCompleteness", CheckSpec("sourceConceptRecordCompleteness", "death",
                                                          "cause_source_concept_id"),
             {"death": [{"cause_source_concept_id": 44, "cause_source_value": "Z"}, {"cause_source_concept_id": None}]}, 1,
             {"death": [{"cause_source_concept_id": 0, "cause_source_value": "X"},
                        {"cause_source_concept_id": None, "cause_source_value": "Y"}]}, (2, 3)),
        # ---- sourceValueCompleteness: distinct source values mapped to 0 / distinct source values (NULL is one)
        Case("sourceValueCompleteness", CheckSpec("sourceValueCompleteness", "condition_occurrence", "condition_source_value",
                                                  standard_concept_field="condition_concept_id"),
             {"condition_occurrence": [cond(cid=5, src="b"), cond(cid=5, src=None), cond(cid=7, src="d")]}, 3,
             {"condition_occurrence": [cond(cid=0, src="a"), cond(cid=0, src="a"), cond(cid=0, src="c")]}, (2, 5)),
        # ---- plausibleValueLow / High (FIELD level): NULLs outside the denominator, dates compared as dates
        Case("plausibleValueLow.number", CheckSpec("plausibleValueLow", "drug_exposure", "quantity",
                                                   plausible_value_low=0.0000001),
             {"drug_exposure": [drug(quantity=0.5), drug(quantity=None), drug(quantity=1e-7)]}, 2,
             {"drug_exposure": [drug(quantity=0.0), drug(quantity=-1.0), drug(quantity=1e-8)]}, (3, 5)),
        Case("plausibleValueLow.date", CheckSpec("plausibleValueLow", "condition_occurrence", "condition_start_date",
                                                 plausible_value_low="'19500101'"),
             {"condition_occurrence": [cond(start=D(1950, 1, 1)), cond(start=D(2000, 1, 1))]}, 2,  # boundary passes
             {"condition_occurrence": [cond(start=D(1949, 12, 31))]}, (1, 3)),
        Case("plausibleValueLow.datetime", CheckSpec("plausibleValueLow", "condition_occurrence",
                                                     "condition_start_datetime", plausible_value_low="1950-01-01"),
             {"condition_occurrence": [cond(start_dt=T(1950, 1, 1)), cond(start_dt=T(1950, 1, 1, 12)),
                                       cond(start_dt=None)]}, 2,
             {"condition_occurrence": [cond(start_dt=T(1949, 12, 31, 23, 59, 59))]}, (1, 3)),
        Case("plausibleValueHigh.today", CheckSpec("plausibleValueHigh", "condition_occurrence", "condition_start_date",
                                                   plausible_value_high="today"),
             {"condition_occurrence": [cond(start=tomorrow), cond(start=D(2000, 1, 1)), cond(start=None)]}, 2,
             {"condition_occurrence": [cond(start=after_tomorrow)]}, (1, 3)),
        Case("plausibleValueHigh.today_datetime", CheckSpec("plausibleValueHigh", "condition_occurrence",
                                                            "condition_start_datetime", plausible_value_high="today"),
             {"condition_occurrence": [cond(start_dt=T(tomorrow.year, tomorrow.month, tomorrow.day, 23, 59))]}, 1,
             {"condition_occurrence": [cond(start_dt=T(after_tomorrow.year, after_tomorrow.month,
                                                       after_tomorrow.day))]}, (1, 2)),
        Case("plausibleValueHigh.year", CheckSpec("plausibleValueHigh", "person", "year_of_birth",
                                                  plausible_value_high="today"),  # next year on a number
             {"person": [person(1, year=today.year + 1), person(2, year=1900)]}, 2,
             {"person": [person(3, year=today.year + 2)]}, (1, 3)),
        Case("plausibleValueHigh.number", CheckSpec("plausibleValueHigh", "drug_exposure", "refills", plausible_value_high=24),
             {"drug_exposure": [drug(refills=24), drug(refills=0), drug(refills=None)]}, 2,
             {"drug_exposure": [drug(refills=25)]}, (1, 3)),
        # ---- plausibleValueLow / High (CONCEPT level): value_as_number of one concept in one unit
        Case("plausibleValueLow.concept", CheckSpec("plausibleValueLow", "observation", "observation_concept_id",
                                                    concept_id=3025315, unit_concept_id=9529, plausible_value_low=1),
             {"observation": [obs(3025315, 9529, 1.0), obs(3025315, 9529, None), obs(3025315, 8739, 0.1),
                              obs(999, 9529, 0.1)]}, 1,  # other unit / other concept / NULL value: outside
             {"observation": [obs(3025315, 9529, 0.5)]}, (1, 2)),
        Case("plausibleValueHigh.concept", CheckSpec("plausibleValueHigh", "observation", "observation_concept_id",
                                                     concept_id=3025315, unit_concept_id=9529, plausible_value_high=200),
             {"observation": [obs(3025315, 9529, 200.0), obs(3025315, 8739, 900.0)]}, 1,
             {"observation": [obs(3025315, 9529, 200.5)]}, (1, 2)),
        # ---- plausibleTemporalAfter
        Case("plausibleTemporalAfter.same_table", CheckSpec("plausibleTemporalAfter", "visit_occurrence", "visit_end_date",
                                                            temporal_after_table="visit_occurrence",
                                                            temporal_after_field="visit_start_date"),
             {"visit_occurrence": [{"visit_start_date": D(2020, 1, 1), "visit_end_date": D(2020, 1, 1)},
                                   {"visit_start_date": D(2020, 1, 5), "visit_end_date": None}]}, 2,
             {"visit_occurrence": [{"visit_start_date": D(2020, 1, 5), "visit_end_date": D(2020, 1, 3)}]}, (1, 3)),
        Case("plausibleTemporalAfter.person", CheckSpec("plausibleTemporalAfter", "condition_occurrence",
                                                        "condition_start_date", temporal_after_table="person",
                                                        temporal_after_field="birth_datetime"),
             {"person": [person(1, birth=T(1980, 5, 10, 10)), person(2, year=1990, month=1, day=1)],
              "condition_occurrence": [cond(1, D(1980, 5, 10)), cond(2, D(1990, 6, 1)), cond(9, D(1900, 1, 1))]}, 3,
             # person 2 has no birth_datetime: the DQD falls back to June 1st of year_of_birth
             {"condition_occurrence": [cond(1, D(1980, 5, 9)), cond(2, D(1990, 5, 31))]}, (2, 5)),
        Case("plausibleTemporalAfter.other_table", CheckSpec("plausibleTemporalAfter", "drug_exposure",
                                                             "drug_exposure_start_date",
                                                             temporal_after_table="observation_period",
                                                             temporal_after_field="observation_period_start_date"),
             {"observation_period": [op(1, 1, D(2000, 1, 1), D(2000, 12, 31)), op(2, 1, D(2005, 1, 1), D(2006, 1, 1))],
              "drug_exposure": [drug(1, D(2005, 1, 1)), drug(2, D(1999, 1, 1))]}, 2,
             {"drug_exposure": [drug(1, D(2003, 1, 1))]}, (1, 3)),  # before person 1's latest period start
        # ---- plausibleDuringLife: > 60 days after the (earliest) death; rows of persons with a death record
        Case("plausibleDuringLife", CheckSpec("plausibleDuringLife", "drug_exposure", "drug_exposure_end_date"),
             {"death": [{"person_id": 1, "death_date": D(2020, 1, 1)}, {"person_id": 3, "death_date": D(2020, 1, 1)},
                        {"person_id": 3, "death_date": D(2021, 1, 1)}, {"person_id": 4, "death_date": None}],
              "drug_exposure": [drug(1, end=D(2020, 3, 1)),  # exactly 60 days after death: passes
                                drug(1, end=D(2019, 6, 1)), drug(1, end=None),  # NULL date still in the denominator
                                drug(2, end=D(2030, 1, 1)),  # no death record: outside
                                drug(4, end=D(2030, 1, 1))]}, 4,  # death_date NULL: never violates
             {"drug_exposure": [drug(1, end=D(2020, 3, 2)), drug(3, end=D(2020, 6, 1))]}, (2, 6)),
        Case("plausibleDuringLife.no_deaths", CheckSpec("plausibleDuringLife", "drug_exposure", "drug_exposure_end_date"),
             {"drug_exposure": [drug(1, end=D(2020, 1, 1))]}, 0, {}, (0, 0), empty_tables=("death",)),
        Case("plausibleBeforeDeath", CheckSpec("plausibleBeforeDeath", "drug_exposure", "drug_exposure_end_date"),
             {"death": [{"person_id": 1, "death_date": D(2020, 1, 1)}, {"person_id": 3, "death_date": D(2020, 1, 1)},
                        {"person_id": 3, "death_date": D(2021, 1, 1)}],
              "drug_exposure": [drug(1, end=D(2020, 3, 1)), drug(1, end=D(2019, 6, 1)),
                                drug(1, end=None),  # NULL date: outside the denominator here
                                drug(2, end=D(2030, 1, 1))]}, 2,
             {"drug_exposure": [drug(1, end=D(2020, 3, 2)), drug(3, end=D(2020, 6, 1))]}, (2, 4)),
        # ---- withinVisitDates: more than 7 days before the visit start or after its end / rows with a visit
        Case("withinVisitDates", CheckSpec("withinVisitDates", "condition_occurrence", "condition_start_date"),
             {"visit_occurrence": [{"visit_occurrence_id": 10, "visit_start_date": D(2020, 1, 10),
                                    "visit_end_date": D(2020, 1, 12)}],
              "condition_occurrence": [cond(start=D(2020, 1, 3), visit=10),  # exactly 7 days before: passes
                                       cond(start=D(2020, 1, 19), visit=10),  # exactly 7 days after: passes
                                       cond(start=D(2020, 1, 11), visit=10),
                                       cond(start=D(2000, 1, 1), visit=None),  # no visit: outside
                                       cond(start=D(2000, 1, 1), visit=77)]}, 3,  # unknown visit: outside
             {"condition_occurrence": [cond(start=D(2020, 1, 2), visit=10), cond(start=D(2020, 1, 20), visit=10)]}, (2, 5)),
        # ---- plausibleAfterBirth: before birth_datetime, else year/month/day (missing -> 1)
        Case("plausibleAfterBirth", CheckSpec("plausibleAfterBirth", "condition_occurrence", "condition_end_date"),
             {"person": [person(1, birth=T(1980, 5, 10, 10)), person(2, year=1990, month=3),
                         person(3, year=2000), person(4, year=1970, month=13, day=40),
                         person(5, year=2001, month=2, day=30)],
              "condition_occurrence": [cond(1, end=D(1980, 5, 10)),  # birth day itself passes
                                       cond(2, end=D(1990, 3, 1)), cond(4, end=D(1970, 1, 1)),
                                       cond(5, end=D(2001, 3, 2)),  # Feb 30th rolls over to March 2nd
                                       cond(9, end=D(1800, 1, 1)),  # no person row: not a violation
                                       cond(1, end=None)]}, 5,  # NULL: outside the denominator
             {"condition_occurrence": [cond(1, end=D(1980, 5, 9)), cond(2, end=D(1990, 2, 28)),
                                       cond(3, end=D(1999, 12, 31)), cond(4, end=D(1969, 12, 31)),
                                       cond(5, end=D(2001, 3, 1))]}, (5, 10)),
        # ---- plausibleStartBeforeEnd: start date after end date / rows with both
        Case("plausibleStartBeforeEnd", CheckSpec("plausibleStartBeforeEnd", "drug_exposure", "drug_exposure_start_date",
                                                  start_before_end_field="drug_exposure_end_date"),
             {"drug_exposure": [drug(start=D(2020, 1, 1), end=D(2020, 1, 1)), drug(start=D(2020, 1, 5), end=None)]}, 1,
             {"drug_exposure": [drug(start=D(2020, 1, 5), end=D(2020, 1, 3))]}, (1, 2)),
        Case("plausibleStartBeforeEnd.datetime", CheckSpec("plausibleStartBeforeEnd", "drug_exposure",
                                                           "drug_exposure_start_datetime",
                                                           start_before_end_field="drug_exposure_end_datetime"),
             {"drug_exposure": [drug(drug_exposure_start_datetime=T(2020, 1, 1, 18),
                                     drug_exposure_end_datetime=T(2020, 1, 1, 8))]}, 1,  # same day: passes
             {"drug_exposure": [drug(drug_exposure_start_datetime=T(2020, 1, 2),
                                     drug_exposure_end_datetime=T(2020, 1, 1, 23, 59))]}, (1, 2)),
        # ---- measurePersonCompleteness: persons without a record / persons
        Case("measurePersonCompleteness", CheckSpec("measurePersonCompleteness", "observation_period"),
             {"person": [person(1), person(2)],
              "observation_period": [op(1, 1, D(2000, 1, 1), D(2001, 1, 1)), op(2, 1, D(2002, 1, 1), D(2003, 1, 1)),
                                     op(3, 2, D(2000, 1, 1), D(2001, 1, 1)), op(4, 99, D(2000, 1, 1), D(2001, 1, 1))]}, 2,
             {"person": [person(3)]}, (1, 3)),
        Case("measurePersonCompleteness.empty_table", CheckSpec("measurePersonCompleteness", "observation_period"),
             {}, 0, {"person": [person(1), person(2), person(3)]}, (3, 3), empty_tables=("observation_period",)),
        # ---- measureConditionEraCompleteness: persons with a mapped condition but no era / such persons
        Case("measureConditionEraCompleteness", CheckSpec("measureConditionEraCompleteness", "condition_era"),
             {"condition_occurrence": [cond(1, cid=5), cond(1, cid=0), cond(2, cid=0), cond(None, cid=5)],
              "condition_era": [{"person_id": 1, "condition_concept_id": 5}]}, 1,
             {"condition_occurrence": [cond(3, cid=7), cond(3, cid=8)]}, (1, 2)),
        # ---- measureObservationPeriodOverlap: persons with overlapping or back-to-back periods / persons
        Case("measureObservationPeriodOverlap", CheckSpec("measureObservationPeriodOverlap", "observation_period"),
             {"observation_period": [op(5, 3, D(2000, 1, 1), D(2000, 1, 31)),
                                     op(6, 3, D(2000, 2, 2), D(2000, 3, 1)),  # one-day gap: fine
                                     op(7, 4, D(2000, 1, 1), D(2000, 12, 31))]}, 2,
             {"observation_period": [op(1, 1, D(2000, 1, 1), D(2000, 12, 31)), op(2, 1, D(2000, 6, 1), D(2001, 6, 1)),
                                     op(3, 2, D(2000, 1, 1), D(2000, 1, 31)), op(4, 2, D(2000, 2, 1), D(2000, 3, 1)),
                                     op(8, 5, D(2000, 1, 1), D(2000, 1, 31)), op(9, 5, D(2000, 1, 31), D(2000, 3, 1))]},
             (3, 5)),  # persons 1 (overlap), 2 (back-to-back), 5 (same day) of 1..5
        # ---- plausibleGender: records of the concept whose person has another gender / records of the concept
        Case("plausibleGender", CheckSpec("plausibleGender", "condition_occurrence", "condition_concept_id",
                                          concept_id=100, plausible_gender="Male"),
             {"person": [person(1, 8507), person(2, 8532), person(3, 0), person(5, None)],
              "condition_occurrence": [cond(1, cid=100), cond(2, cid=200), cond(5, cid=100),  # NULL gender: no
                                       cond(99, cid=100)]}, 3,  # no person row: not a violation
             {"condition_occurrence": [cond(2, cid=100), cond(3, cid=100)]}, (2, 5)),
        Case("plausibleGenderUseDescendants", CheckSpec("plausibleGenderUseDescendants", "condition_occurrence",
                                                        "condition_concept_id", concept_id=300, plausible_gender="Female"),
             {"person": [person(1, 8507), person(2, 8532), person(3, 8507)],
              "concept_ancestor": [{"ancestor_concept_id": a, "descendant_concept_id": d}
                                   for a, d in [(300, 300), (300, 301), (300, 301), (300, 302), (400, 303)]],
              "condition_occurrence": [cond(2, cid=301), cond(3, cid=303), cond(1, cid=999)]}, 1,
             {"condition_occurrence": [cond(1, cid=302), cond(1, cid=300), cond(1, cid=301)]}, (3, 4)),
        # ---- plausibleUnitConceptIds: other units (not 0, not NULL) / records of the concept with unit not 0
        Case("plausibleUnitConceptIds", CheckSpec("plausibleUnitConceptIds", "measurement", "measurement_concept_id",
                                                  concept_id=3000, unit_concept_ids=(8840, 8753)),
             {"measurement": [meas(3000, 8840), meas(3000, 8753), meas(3000, 0), meas(3000, None), meas(4000, 9999)]}, 3,
             {"measurement": [meas(3000, 9999)]}, (1, 4)),
        Case("plausibleUnitConceptIds.no_unit", CheckSpec("plausibleUnitConceptIds", "measurement",
                                                          "measurement_concept_id", concept_id=3000,
                                                          unit_concept_ids=(-1,)),
             {"measurement": [meas(3000, 0), meas(3000, None)]}, 1,
             {"measurement": [meas(3000, 8840)]}, (1, 2)),
    ]  # fmt: skip
