"""SQL for the DataQualityDashboard's 27 check types, for DuckDB and PostgreSQL.

:func:`check_sql` turns one :class:`~validators.dqd.spec.CheckSpec` into ONE query
that returns exactly one row ``(num_violated_rows, num_denominator_rows)``, both
BIGINT, with the DQD's numerator and denominator (OHDSI DataQualityDashboard
``inst/sql``; our own SQL).  Every check is one aggregate pushed down to the
database; nothing is looped over in Python.

Before running a check the caller decides whether it applies at all:

* list the schema with :func:`table_columns_sql` (and row counts with
  :func:`row_counts_sql`);
* ``cdmTable`` / ``cdmField``: a missing table / column is reported as 1 violated
  row out of 1 *without* running SQL (a query cannot count over a table that does
  not exist); when present their query returns 0 / 1;
* every other check: :func:`not_applicable_reason` (table or field missing, table
  empty, a table the query needs missing) and, after running,
  :func:`not_applicable_after_run` (field not populated, concept absent).

Conventions (where the DQD leaves room, see the notes per builder): dates and
datetimes compare as dates; ``'today'`` is the DQD's bound: tomorrow (``CURRENT_DATE + 1``)
on a date, next year on a number (year_of_birth); tables with a CDM
primary key (person, visit_occurrence, concept) are joined directly, death (no
key) is reduced to one row per person first, so a row is counted at most once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from terminology.omop_cdm import CDM
from validators.sql_text import quote_ident as _q
from validators.sql_text import quote_literal as _lit
from validators.dqd.spec import CheckSpec

DIALECTS: tuple[str, ...] = ("duckdb", "postgresql")
DEFAULT_SCHEMA = {"duckdb": "main", "postgresql": "public"}

MALE, FEMALE = 8507, 8532
DEATH_TOLERANCE_DAYS = 60  # plausibleDuringLife / plausibleBeforeDeath: events up to 60 days after death pass
VISIT_TOLERANCE_DAYS = 7  # withinVisitDates: one week either side of the visit


class UnsupportedCheck(ValueError):
    """A check this module cannot express: unknown check name or a missing/invalid parameter."""


class UnsupportedDialect(ValueError):
    """A SQL dialect other than duckdb or postgresql."""


# --------------------------------------------------------------------------- helpers


def _date(expr: str) -> str:
    return f"CAST({expr} AS DATE)"


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise UnsupportedDialect(f"unsupported SQL dialect {dialect!r}; expected one of {DIALECTS}")


_DUCKDB_INTEGER_TYPES = ", ".join(f"'{t}'" for t in (
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"))


@dataclass(frozen=True)
class _Ctx:
    spec: CheckSpec
    dialect: str
    cdm_schema: str | None
    vocab_schema: str | None

    def table(self, name: str) -> str:
        """Qualified name; vocabulary tables live in the vocabulary schema (default: the CDM schema)."""
        schema = self.cdm_schema
        if name in CDM.tables and CDM.tables[name].group == "vocabulary":
            schema = self.vocab_schema or self.cdm_schema
        return f"{_q(schema)}.{_q(name)}" if schema else _q(name)

    @property
    def t(self) -> str:
        """The checked table, aliased ``t``."""
        return f"{self.table(self.spec.table)} AS t"

    @property
    def f(self) -> str:
        """The checked field of ``t``."""
        return f"t.{_q(_need(self.spec, 'field'))}"

    def whole_number(self, expr: str) -> str:
        """True when the text of ``expr`` is a whole number (optional sign, digits, optional ``.0``)."""
        text = f"TRIM(CAST({expr} AS VARCHAR))"
        # an integer-typed column holds whole numbers only: skip the text test (DuckDB folds typeof
        # per column; the regex over every row of an integer column cost 1.3 s for 11 columns of 422k rows)
        if self.dialect == "duckdb":
            return (f"(CASE WHEN typeof({expr}) IN ({_DUCKDB_INTEGER_TYPES}) THEN true "
                    f"ELSE regexp_full_match({text}, '[+-]?[0-9]+(\\.0+)?') END)")
        return (f"(CASE WHEN pg_typeof({expr}) IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) "
                f"THEN true ELSE {text} ~ '^[+-]?[0-9]+(\\.0+)?$' END)")


def _need(spec: CheckSpec, attr: str):
    value = getattr(spec, attr)
    if value is None or value == "" or value == ():
        raise UnsupportedCheck(f"{spec.check_id}: check {spec.check_name} needs parameter {attr!r}")
    return value


class _Agg(str):
    """A check's query, remembering its parts: checks with the same ``body`` (FROM, joins, WHERE)
    can share one query (:func:`group_sql`)."""

    violated: str
    denominator: str
    body: str


def _agg(violated: str, denominator: str, body: str) -> str:
    query = _Agg(f"SELECT {violated} AS num_violated_rows, {denominator} AS num_denominator_rows\n{body}")
    query.violated, query.denominator, query.body = violated, denominator, body
    return query


def _count_if(condition: str) -> str:
    return f"COUNT(CASE WHEN {condition} THEN 1 END)"


def _field_kind(spec: CheckSpec, field: str) -> str | None:
    """'date' for CDM date/datetime fields, 'number' for other declared fields, None when undeclared."""
    table = CDM.tables.get(spec.table)
    if table is None or field not in table:
        return None
    return "date" if table.field(field).base_type in ("date", "datetime") else "number"


_DATE_TEXT = re.compile(r"^'?(\d{4})-?(\d{2})-?(\d{2})'?$")


def _bound(spec: CheckSpec, attr: str, kind: str | None) -> str:
    """SQL literal of plausibleValueLow/High: a number, a date, or 'today' (as the DQD: the run date plus one
    day, ``CURRENT_DATE + 1``; on a number the current year plus one)."""
    value = _need(spec, attr)
    text = value.strip().lower() if isinstance(value, str) else None
    if kind is None:  # undeclared field: judge by the value
        kind = "date" if text is not None and (text == "today" or _DATE_TEXT.match(text)) else "number"
    if kind == "date":
        if text == "today":
            return "(CURRENT_DATE + 1)"
        m = _DATE_TEXT.match(text) if text is not None else None
        if m is None:
            raise UnsupportedCheck(f"{spec.check_id}: {attr} {value!r} is not a date ('YYYY-MM-DD') or 'today' for a date field")
        try:
            day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            raise UnsupportedCheck(f"{spec.check_id}: {attr} {value!r} is not a valid date: {exc}") from None
        return f"DATE '{day.isoformat()}'"
    if text == "today":
        return "(EXTRACT(YEAR FROM CURRENT_DATE) + 1)"
    if isinstance(value, bool):
        raise UnsupportedCheck(f"{spec.check_id}: {attr} {value!r} is not a number")
    try:
        number = float(value) if isinstance(value, str) else value
    except ValueError:
        raise UnsupportedCheck(f"{spec.check_id}: {attr} {value!r} is not a number") from None
    if not isinstance(number, (int, float)) or not math.isfinite(number):
        raise UnsupportedCheck(f"{spec.check_id}: {attr} {value!r} is not a finite number")
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _gender(spec: CheckSpec) -> int:
    value = str(_need(spec, "plausible_gender")).strip().lower()
    if value not in ("male", "female"):
        raise UnsupportedCheck(f"{spec.check_id}: plausible_gender must be 'Male' or 'Female', got {spec.plausible_gender!r}")
    return MALE if value == "male" else FEMALE


def _birth_date(p: str) -> str:
    """Date of birth of person alias ``p``: birth_datetime, else year/month/day (missing or out-of-range month/day -> 1)."""
    y, m, d = (f"{p}.{_q(c)}" for c in ("year_of_birth", "month_of_birth", "day_of_birth"))
    month = f"CASE WHEN {m} BETWEEN 1 AND 12 THEN {m} ELSE 1 END"
    day = f"CASE WHEN {d} BETWEEN 1 AND 31 THEN {d} ELSE 1 END"
    from_parts = (
        f"CASE WHEN {y} BETWEEN 1 AND 9999 THEN "
        f"CAST(make_date(CAST({y} AS INTEGER), 1, 1) + CAST({month} - 1 AS INTEGER) * INTERVAL '1 month' AS DATE)"
        f" + CAST({day} - 1 AS INTEGER) END"
    )
    birth = _date(f"{p}.{_q('birth_datetime')}")
    return f"COALESCE({birth}, {from_parts})"


def _mid_year(p: str) -> str:
    """June 1st of year_of_birth (the DQD's fallback in plausibleTemporalAfter against PERSON)."""
    y = f"{p}.{_q('year_of_birth')}"
    return f"CASE WHEN {y} BETWEEN 1 AND 9999 THEN make_date(CAST({y} AS INTEGER), 6, 1) END"


def _death_per_person(c: _Ctx) -> str:
    """death reduced to one row per person with the earliest death date (death has no primary key)."""
    return (
        f"(SELECT {_q('person_id')} AS person_id, MIN({_date(_q('death_date'))}) AS death_date "
        f"FROM {c.table('death')} GROUP BY {_q('person_id')}) AS de"
    )


# Concept fields whose NULL counts as unmapped when their source value is given (DQD field_concept_record_completeness).
_COMPANION_SOURCE: dict[str, str] = {
    "unit_concept_id": "unit_source_value",
    "unit_source_concept_id": "unit_source_value",
    "admitted_from_concept_id": "admitted_from_source_value",
    "discharged_to_concept_id": "discharged_to_source_value",
    "condition_status_concept_id": "condition_status_source_value",
    "route_concept_id": "route_source_value",
    "modifier_concept_id": "modifier_source_value",
    "qualifier_concept_id": "qualifier_source_value",
    "cause_concept_id": "cause_source_value",
    "cause_source_concept_id": "cause_source_value",
    "anatomic_site_concept_id": "anatomic_site_source_value",
    "disease_status_concept_id": "disease_status_source_value",
    "country_concept_id": "country_source_value",
    "place_of_service_concept_id": "place_of_service_source_value",
    "specialty_concept_id": "specialty_source_value",
    "specialty_source_concept_id": "specialty_source_value",
    "payer_concept_id": "payer_source_value",
    "payer_source_concept_id": "payer_source_value",
    "plan_concept_id": "plan_source_value",
    "plan_source_concept_id": "plan_source_value",
    "sponsor_concept_id": "sponsor_source_value",
    "sponsor_source_concept_id": "sponsor_source_value",
    "stop_reason_concept_id": "stop_reason_source_value",
    "stop_reason_source_concept_id": "stop_reason_source_value",
}
_PROVIDER_GENDER = {"gender_concept_id", "gender_source_concept_id"}


def _companion(spec: CheckSpec) -> str | None:
    field = spec.field or ""
    source = _COMPANION_SOURCE.get(field)
    if spec.table == "provider" and field in _PROVIDER_GENDER:
        source = "gender_source_value"
    table = CDM.tables.get(spec.table)
    if source is None or table is None or source not in table:
        return None  # e.g. dose_era.unit_concept_id: dose_era has no unit_source_value
    return source


def _is_concept_value_check(spec: CheckSpec) -> bool:
    return spec.check_name in ("plausibleValueLow", "plausibleValueHigh") and spec.concept_id is not None


# --------------------------------------------------------------------------- builders (one per check type)


def _cdm_table(c: _Ctx) -> str:
    # Only proves the table can be read; the caller reports a missing table without running SQL.
    # (Written over the table itself, so that it shares the query of the table's other checks.)
    return _agg("COUNT(*) * 0", "1", f"FROM {c.t}")


def _cdm_field(c: _Ctx) -> str:
    return _agg(f"COUNT({c.f}) * 0", "1", f"FROM {c.t}")


def _is_null(c: _Ctx) -> str:  # isRequired, measureValueCompleteness: NULLs / all rows
    return _agg(_count_if(f"{c.f} IS NULL"), "COUNT(*)", f"FROM {c.t}")


def _cdm_datatype(c: _Ctx) -> str:
    spec = c.spec
    declared = spec.datatype
    if declared is None and spec.table in CDM.tables and spec.field in CDM.tables[spec.table]:
        declared = CDM.tables[spec.table].field(spec.field).datatype
    if declared is None:
        raise UnsupportedCheck(f"{spec.check_id}: cdmDatatype needs parameter 'datatype'")
    if declared.lower() not in ("integer", "bigint"):
        raise UnsupportedCheck(f"{spec.check_id}: cdmDatatype checks integer fields only (DQD), not {declared!r}")
    return _agg(_count_if(f"{c.f} IS NOT NULL AND NOT ({c.whole_number(c.f)})"), "COUNT(*)", f"FROM {c.t}")


def _is_primary_key(c: _Ctx) -> str:
    f = _q(_need(c.spec, "field"))
    dup = f"(SELECT {f} AS k FROM {c.table(c.spec.table)} WHERE {f} IS NOT NULL GROUP BY {f} HAVING COUNT(*) > 1) AS dup"
    return _agg("COUNT(dup.k)", "COUNT(*)", f"FROM {c.t}\nLEFT JOIN {dup} ON {c.f} = dup.k")


def _is_foreign_key(c: _Ctx) -> str:
    fk_table, fk_field = _need(c.spec, "fk_table"), _need(c.spec, "fk_field")
    ref = f"(SELECT DISTINCT {_q(fk_field)} AS k FROM {c.table(fk_table)}) AS ref"
    return _agg(_count_if(f"{c.f} IS NOT NULL AND ref.k IS NULL"), "COUNT(*)", f"FROM {c.t}\nLEFT JOIN {ref} ON {c.f} = ref.k")


def _bad_concepts(c: _Ctx, condition: str) -> str:
    return (
        f"(SELECT DISTINCT {_q('concept_id')} AS k FROM {c.table('concept')} "
        f"WHERE {_q('concept_id')} <> 0 AND ({condition})) AS bad"
    )


def _fk_domain(c: _Ctx) -> str:
    domains = [d.strip() for d in str(_need(c.spec, "fk_domain")).split(",") if d.strip()]
    if not domains:
        raise UnsupportedCheck(f"{c.spec.check_id}: fkDomain needs parameter 'fk_domain'")
    bad = _bad_concepts(c, f"{_q('domain_id')} NOT IN ({', '.join(_lit(d) for d in domains)})")
    return _agg("COUNT(bad.k)", "COUNT(*)", f"FROM {c.t}\nLEFT JOIN {bad} ON {c.f} = bad.k")


def _fk_class(c: _Ctx) -> str:
    bad = _bad_concepts(c, f"{_q('concept_class_id')} <> {_lit(str(_need(c.spec, 'fk_class')))}")
    return _agg("COUNT(bad.k)", "COUNT(*)", f"FROM {c.t}\nLEFT JOIN {bad} ON {c.f} = bad.k")


def _is_standard_valid_concept(c: _Ctx) -> str:
    s, r = _q("standard_concept"), _q("invalid_reason")
    bad = _bad_concepts(c, f"{s} IS NULL OR {s} <> 'S' OR {r} IS NOT NULL")
    return _agg("COUNT(bad.k)", f"COUNT({c.f})", f"FROM {c.t}\nLEFT JOIN {bad} ON {c.f} = bad.k")


def _concept_record_completeness(c: _Ctx) -> str:
    violated, denominator = f"{c.f} = 0", f"{c.f} IS NOT NULL"
    source = _companion(c.spec)
    if source is not None:
        violated += f" OR ({c.f} IS NULL AND t.{_q(source)} IS NOT NULL)"
        denominator += f" OR t.{_q(source)} IS NOT NULL"
    return _agg(_count_if(violated), _count_if(denominator), f"FROM {c.t}")


def _source_value_completeness(c: _Ctx) -> str:
    std = f"t.{_q(_need(c.spec, 'standard_concept_field'))}"
    violated = f"COUNT(DISTINCT CASE WHEN {std} = 0 THEN {c.f} END) + COUNT(DISTINCT CASE WHEN {std} = 0 AND {c.f} IS NULL THEN 1 END)"
    denominator = f"COUNT(DISTINCT {c.f}) + COUNT(DISTINCT CASE WHEN {c.f} IS NULL THEN 1 END)"
    return _agg(violated, denominator, f"FROM {c.t}")


def _plausible_value(c: _Ctx) -> str:
    low = c.spec.check_name == "plausibleValueLow"
    attr, op = ("plausible_value_low", "<") if low else ("plausible_value_high", ">")
    spec = c.spec
    if spec.concept_id is not None:  # CONCEPT level: value_as_number of one concept in one unit
        unit = _need(spec, "unit_concept_id")
        bound = _bound(spec, attr, "number")
        v = f"t.{_q('value_as_number')}"
        rows = f"{c.f} = {int(spec.concept_id)} AND t.{_q('unit_concept_id')} = {int(unit)} AND {v} IS NOT NULL"
        return _agg(_count_if(f"{rows} AND {v} {op} {bound}"), _count_if(rows), f"FROM {c.t}")
    kind = _field_kind(spec, _need(spec, "field"))
    bound = _bound(spec, attr, kind)
    value = _date(c.f) if (kind == "date" or (kind is None and bound.startswith(("DATE", "CURRENT_DATE", "(CURRENT_DATE")))) else c.f
    return _agg(_count_if(f"{value} {op} {bound}"), f"COUNT({c.f})", f"FROM {c.t}")


def _plausible_temporal_after(c: _Ctx) -> str:
    spec = c.spec
    other, other_field = _need(spec, "temporal_after_table"), _q(_need(spec, "temporal_after_field"))
    mine = _date(c.f)
    if other == spec.table:
        return _agg(_count_if(f"{_date(f't.{other_field}')} > {mine}"), "COUNT(*)", f"FROM {c.t}")
    pid = _q("person_id")
    if other == "person":
        after = f"COALESCE({_date(f'o.{other_field}')}, {_mid_year('o')})"
        join = f"LEFT JOIN {c.table('person')} AS o ON t.{pid} = o.{pid}"
    else:  # another event table: the person's latest date there (a row counts once)
        after = "o.after_date"
        join = (
            f"LEFT JOIN (SELECT {pid} AS {pid}, MAX({_date(other_field)}) AS after_date "
            f"FROM {c.table(other)} GROUP BY {pid}) AS o ON t.{pid} = o.{pid}"
        )
    return _agg(_count_if(f"{after} > {mine}"), "COUNT(*)", f"FROM {c.t}\n{join}")


def _plausible_during_life(c: _Ctx) -> str:
    # DQD: denominator = rows of persons with a death record (NULL dates included).
    violated = _count_if(f"{_date(c.f)} > de.death_date + {DEATH_TOLERANCE_DAYS}")
    return _agg(violated, "COUNT(*)", f"FROM {c.t}\nJOIN {_death_per_person(c)} ON t.{_q('person_id')} = de.person_id")


def _plausible_before_death(c: _Ctx) -> str:
    # DQD: like plausibleDuringLife, but only rows whose date is given count.
    violated = _count_if(f"{_date(c.f)} > de.death_date + {DEATH_TOLERANCE_DAYS}")
    return _agg(violated, f"COUNT({c.f})", f"FROM {c.t}\nJOIN {_death_per_person(c)} ON t.{_q('person_id')} = de.person_id")


def _within_visit_dates(c: _Ctx) -> str:
    vid, mine = _q("visit_occurrence_id"), _date(c.f)
    start, end = _date(f"vo.{_q('visit_start_date')}"), _date(f"vo.{_q('visit_end_date')}")
    days = VISIT_TOLERANCE_DAYS
    violated = _count_if(f"{mine} < {start} - {days} OR {mine} > {end} + {days}")
    return _agg(violated, "COUNT(*)", f"FROM {c.t}\nJOIN {c.table('visit_occurrence')} AS vo ON t.{vid} = vo.{vid}")


def _plausible_after_birth(c: _Ctx) -> str:
    pid = _q("person_id")
    violated = _count_if(f"{_date(c.f)} < {_birth_date('p')}")
    return _agg(violated, f"COUNT({c.f})", f"FROM {c.t}\nLEFT JOIN {c.table('person')} AS p ON t.{pid} = p.{pid}")


def _plausible_start_before_end(c: _Ctx) -> str:
    end = f"t.{_q(_need(c.spec, 'start_before_end_field'))}"
    both = f"{c.f} IS NOT NULL AND {end} IS NOT NULL"
    return _agg(_count_if(f"{both} AND {_date(c.f)} > {_date(end)}"), _count_if(both), f"FROM {c.t}")


def _measure_person_completeness(c: _Ctx) -> str:
    pid = _q("person_id")
    present = f"(SELECT DISTINCT {pid} AS k FROM {c.table(c.spec.table)}) AS e"
    return _agg("COUNT(*) - COUNT(e.k)", "COUNT(*)", f"FROM {c.table('person')} AS p\nLEFT JOIN {present} ON p.{pid} = e.k")


def _measure_condition_era_completeness(c: _Ctx) -> str:
    pid = _q("person_id")
    persons = (
        f"(SELECT DISTINCT {pid} AS k FROM {c.table('condition_occurrence')} "
        f"WHERE {_q('condition_concept_id')} <> 0 AND {pid} IS NOT NULL) AS co"
    )
    eras = f"(SELECT DISTINCT {pid} AS k FROM {c.table(c.spec.table)}) AS ce"
    return _agg("COUNT(*) - COUNT(ce.k)", "COUNT(*)", f"FROM {persons}\nLEFT JOIN {eras} ON co.k = ce.k")


def _measure_observation_period_overlap(c: _Ctx) -> str:
    op = c.table(c.spec.table)
    pid, oid = _q("person_id"), _q("observation_period_id")
    a_s, a_e = _date(f"a.{_q('observation_period_start_date')}"), _date(f"a.{_q('observation_period_end_date')}")
    b_s, b_e = _date(f"b.{_q('observation_period_start_date')}"), _date(f"b.{_q('observation_period_end_date')}")
    overlapping = (
        f"(SELECT COUNT(DISTINCT a.{pid}) FROM {op} AS a JOIN {op} AS b "
        f"ON a.{pid} = b.{pid} AND a.{oid} <> b.{oid} "
        f"WHERE ({a_s} <= {b_e} AND {a_e} >= {b_s}) OR {a_e} + 1 = {b_s} OR {b_e} + 1 = {a_s})"
    )
    return _agg(overlapping, f"(SELECT COUNT(DISTINCT {pid}) FROM {op})", "")


def _plausible_gender(c: _Ctx) -> str:
    spec, pid = c.spec, _q("person_id")
    gender = _gender(spec)
    # the concept's rows as a condition, not a WHERE: every concept's check shares one query
    concept = f"{c.f} = {int(_need(spec, 'concept_id'))}"
    join = f"LEFT JOIN {c.table('person')} AS p ON t.{pid} = p.{pid}"
    return _agg(_count_if(f"{concept} AND p.{_q('gender_concept_id')} <> {gender}"), _count_if(concept),
                f"FROM {c.t}\n{join}")


def _plausible_gender_use_descendants(c: _Ctx) -> str:
    spec, pid = c.spec, _q("person_id")
    gender = _gender(spec)
    descendants = (
        f"(SELECT DISTINCT {_q('descendant_concept_id')} AS k FROM {c.table('concept_ancestor')} "
        f"WHERE {_q('ancestor_concept_id')} = {int(_need(spec, 'concept_id'))}) AS d"
    )
    body = f"FROM {c.t}\nJOIN {descendants} ON {c.f} = d.k\nLEFT JOIN {c.table('person')} AS p ON t.{pid} = p.{pid}"
    return _agg(_count_if(f"p.{_q('gender_concept_id')} <> {gender}"), "COUNT(*)", body)


def _plausible_unit_concept_ids(c: _Ctx) -> str:
    spec = c.spec
    units = [int(u) for u in _need(spec, "unit_concept_ids")]
    unit = f"t.{_q('unit_concept_id')}"
    if units == [-1]:  # DQD: -1 = the only plausible unit is "no unit"
        bad = f"{unit} <> 0"
    else:
        bad = f"{unit} NOT IN ({', '.join(str(u) for u in sorted(set(units)) + [0])})"
    rows = f"{c.f} = {int(_need(spec, 'concept_id'))} AND ({unit} <> 0 OR {unit} IS NULL)"  # a condition: shared query
    return _agg(_count_if(f"{rows} AND {unit} IS NOT NULL AND {bad}"), _count_if(rows), f"FROM {c.t}")


_BUILDERS: dict[str, Callable[[_Ctx], str]] = {
    "cdmTable": _cdm_table,
    "cdmField": _cdm_field,
    "isRequired": _is_null,
    "cdmDatatype": _cdm_datatype,
    "isPrimaryKey": _is_primary_key,
    "isForeignKey": _is_foreign_key,
    "fkDomain": _fk_domain,
    "fkClass": _fk_class,
    "isStandardValidConcept": _is_standard_valid_concept,
    "measureValueCompleteness": _is_null,
    "standardConceptRecordCompleteness": _concept_record_completeness,
    "sourceConceptRecordCompleteness": _concept_record_completeness,
    "sourceValueCompleteness": _source_value_completeness,
    "plausibleValueLow": _plausible_value,
    "plausibleValueHigh": _plausible_value,
    "plausibleTemporalAfter": _plausible_temporal_after,
    "plausibleDuringLife": _plausible_during_life,
    "withinVisitDates": _within_visit_dates,
    "plausibleAfterBirth": _plausible_after_birth,
    "plausibleBeforeDeath": _plausible_before_death,
    "plausibleStartBeforeEnd": _plausible_start_before_end,
    "measurePersonCompleteness": _measure_person_completeness,
    "measureConditionEraCompleteness": _measure_condition_era_completeness,
    "measureObservationPeriodOverlap": _measure_observation_period_overlap,
    "plausibleGender": _plausible_gender,
    "plausibleGenderUseDescendants": _plausible_gender_use_descendants,
    "plausibleUnitConceptIds": _plausible_unit_concept_ids,
}

#: The 27 DQD check types this module expresses.
CHECK_NAMES: tuple[str, ...] = tuple(_BUILDERS)
_TABLE_LEVEL = {"cdmTable", "measurePersonCompleteness", "measureConditionEraCompleteness", "measureObservationPeriodOverlap"}
_CONCEPT_LEVEL = {"plausibleGender", "plausibleGenderUseDescendants", "plausibleUnitConceptIds"}


def _validate(spec: CheckSpec) -> None:
    if spec.check_name not in _BUILDERS:
        raise UnsupportedCheck(f"{spec.check_id}: unknown check type {spec.check_name!r}; known: {', '.join(CHECK_NAMES)}")
    if not spec.table:
        raise UnsupportedCheck(f"{spec.check_id}: check {spec.check_name} needs parameter 'table'")
    if spec.check_name not in _TABLE_LEVEL:
        _need(spec, "field")
    if spec.check_name in _CONCEPT_LEVEL:
        _need(spec, "concept_id")


# --------------------------------------------------------------------------- public API


def check_sql(spec: CheckSpec, dialect: str, *, cdm_schema: str | None = None, vocab_schema: str | None = None) -> str:
    """One query returning one row ``(num_violated_rows, num_denominator_rows)`` (BIGINT) for ``spec``.

    ``cdm_schema`` qualifies the CDM tables, ``vocab_schema`` the vocabulary tables
    (concept, concept_ancestor ...; default: ``cdm_schema``); unqualified when None.
    For cdmTable / cdmField the query only succeeds (0 of 1) when the table / column
    exists: check existence first with :func:`table_columns_sql` and report a missing
    one as 1 violated row of 1 without running SQL.
    Raises :class:`UnsupportedCheck` (unknown check, missing parameter) or
    :class:`UnsupportedDialect`.
    """
    _check_dialect(dialect)
    _validate(spec)
    inner = _BUILDERS[spec.check_name](_Ctx(spec, dialect, cdm_schema, vocab_schema)).rstrip()
    return (
        "SELECT CAST(num_violated_rows AS BIGINT) AS num_violated_rows, "
        "CAST(num_denominator_rows AS BIGINT) AS num_denominator_rows\n"
        f"FROM (\n{inner}\n) AS dqd_check"
    )


@dataclass(frozen=True)
class CheckParts:
    """A check's query in parts: ``SELECT <violated>, <denominator> <body>``."""

    violated: str
    denominator: str
    body: str


def check_parts(spec: CheckSpec, dialect: str, *, cdm_schema: str | None = None,
                vocab_schema: str | None = None) -> CheckParts:
    """The parts of :func:`check_sql`'s query (same arguments, same errors)."""
    _check_dialect(dialect)
    _validate(spec)
    query = _BUILDERS[spec.check_name](_Ctx(spec, dialect, cdm_schema, vocab_schema))
    if not isinstance(query, _Agg):
        raise UnsupportedCheck(f"{spec.check_id}: check {spec.check_name} has no aggregate parts")
    return CheckParts(query.violated, query.denominator, query.body.rstrip())


def grouped(specs: Iterable[CheckSpec], dialect: str, *, cdm_schema: str | None = None,
            vocab_schema: str | None = None) -> tuple[dict[str, list[tuple[CheckSpec, CheckParts]]], dict[str, str]]:
    """The checks of ``specs`` by the body (FROM/JOIN/WHERE) their queries share, in order — each
    group is one :func:`group_sql` query per table — and the checks that have no parts, with why."""
    groups: dict[str, list[tuple[CheckSpec, CheckParts]]] = {}
    unsupported: dict[str, str] = {}
    for spec in specs:
        try:
            parts = check_parts(spec, dialect, cdm_schema=cdm_schema, vocab_schema=vocab_schema)
        except UnsupportedCheck as exc:
            unsupported[spec.check_id] = str(exc)
            continue
        groups.setdefault(parts.body, []).append((spec, parts))
    return groups, unsupported


def group_sql(parts: Iterable[CheckParts]) -> str:
    """ONE query for checks sharing one body: one row ``(v_0, d_0, v_1, d_1, ...)`` (BIGINT), check
    *i*'s numerator and denominator -- the values each check's own query gives, since every
    aggregate runs over the same rows; the table is scanned once instead of once per check."""
    parts = list(parts)
    if not parts:
        raise ValueError("group_sql needs at least one check")
    bodies = {p.body for p in parts}
    if len(bodies) != 1:
        raise ValueError(f"checks of one group must share their body; got {len(bodies)} different ones")
    inner = ",\n       ".join(f"{p.violated} AS v_{i}, {p.denominator} AS d_{i}" for i, p in enumerate(parts))
    outer = ", ".join(f"CAST(v_{i} AS BIGINT) AS v_{i}, CAST(d_{i} AS BIGINT) AS d_{i}" for i in range(len(parts)))
    return f"SELECT {outer}\nFROM (\nSELECT {inner}\n{parts[0].body}\n) AS dqd_group"


def table_columns_sql(dialect: str, schema: str | None = None) -> str:
    """Query listing ``(table_name, column_name)``, lower-cased, of one schema (DuckDB 'main', PostgreSQL 'public' by default)."""
    _check_dialect(dialect)
    where = f"table_schema = {_lit(schema or DEFAULT_SCHEMA[dialect])}"
    if dialect == "duckdb":
        where += " AND table_catalog = current_database()"
    return (
        "SELECT lower(table_name) AS table_name, lower(column_name) AS column_name\n"
        f"FROM information_schema.columns\nWHERE {where}\nORDER BY table_name, ordinal_position"
    )


def row_counts_sql(dialect: str, tables: Iterable[str], schema: str | None = None) -> str:
    """One query returning ``(table_name, num_rows)`` for the given (existing) tables of a schema."""
    _check_dialect(dialect)
    names = list(tables)
    if isinstance(tables, str) or not names:
        raise ValueError("row_counts_sql needs a non-empty iterable of table names")
    parts = [
        f"SELECT {_lit(n)} AS table_name, CAST(COUNT(*) AS BIGINT) AS num_rows FROM {_q(schema) + '.' if schema else ''}{_q(n)}"
        for n in names
    ]
    return "\nUNION ALL\n".join(parts)


def _requirements(spec: CheckSpec) -> list[tuple[str, tuple[str, ...]]]:
    """Tables and columns besides ``spec.table``/``spec.field`` that the check's query reads."""
    name, f = spec.check_name, spec.field
    own: list[str] = []
    other: list[tuple[str, tuple[str, ...]]] = []
    if name == "isForeignKey":
        other.append((_need(spec, "fk_table"), (_need(spec, "fk_field"),)))
    elif name == "fkDomain":
        other.append(("concept", ("concept_id", "domain_id")))
    elif name == "fkClass":
        other.append(("concept", ("concept_id", "concept_class_id")))
    elif name == "isStandardValidConcept":
        other.append(("concept", ("concept_id", "standard_concept", "invalid_reason")))
    elif name in ("standardConceptRecordCompleteness", "sourceConceptRecordCompleteness"):
        own += [s for s in [_companion(spec)] if s]
    elif name == "sourceValueCompleteness":
        own.append(_need(spec, "standard_concept_field"))
    elif _is_concept_value_check(spec):
        own += ["unit_concept_id", "value_as_number"]
    elif name == "plausibleTemporalAfter":
        t_other, f_other = _need(spec, "temporal_after_table"), _need(spec, "temporal_after_field")
        if t_other == spec.table:
            own.append(f_other)
        else:
            own.append("person_id")
            extra = ("year_of_birth",) if t_other == "person" else ()
            other.append((t_other, ("person_id", f_other, *extra)))
    elif name in ("plausibleDuringLife", "plausibleBeforeDeath"):
        own.append("person_id")
        other.append(("death", ("person_id", "death_date")))
    elif name == "withinVisitDates":
        own.append("visit_occurrence_id")
        other.append(("visit_occurrence", ("visit_occurrence_id", "visit_start_date", "visit_end_date")))
    elif name == "plausibleAfterBirth":
        own.append("person_id")
        other.append(("person", ("person_id", "birth_datetime", "year_of_birth", "month_of_birth", "day_of_birth")))
    elif name == "plausibleStartBeforeEnd":
        own.append(_need(spec, "start_before_end_field"))
    elif name == "measurePersonCompleteness":
        own.append("person_id")
        other.append(("person", ("person_id",)))
    elif name == "measureConditionEraCompleteness":
        own.append("person_id")
        other.append(("condition_occurrence", ("person_id", "condition_concept_id")))
    elif name == "measureObservationPeriodOverlap":
        own += ["person_id", "observation_period_id", "observation_period_start_date", "observation_period_end_date"]
    elif name in ("plausibleGender", "plausibleGenderUseDescendants"):
        own.append("person_id")
        other.append(("person", ("person_id", "gender_concept_id")))
        if name == "plausibleGenderUseDescendants":
            other.append(("concept_ancestor", ("ancestor_concept_id", "descendant_concept_id")))
    elif name == "plausibleUnitConceptIds":
        own.append("unit_concept_id")
    if f:
        own.insert(0, f)
    return [(spec.table, tuple(own)), *other]


def not_applicable_reason(spec: CheckSpec, columns: Mapping[str, set[str]], row_counts: Mapping[str, int]) -> str | None:
    """Why ``spec`` is not applicable (DQD rules decided before running SQL), or None when it should run.

    ``columns`` maps every existing table (CDM and vocabulary schemas together) to
    its column names, lower-case (from :func:`table_columns_sql`); ``row_counts``
    maps tables to their row count (a table without a count is taken as non-empty).
    DQD rules: cdmTable is never not-applicable; cdmField only when its table is
    missing; measurePersonCompleteness only when its table is missing (an empty table
    is a finding); measureConditionEraCompleteness when condition_occurrence is
    missing or empty; every other check when its table or field is missing or its
    table is empty.  In addition any other table or column the query reads missing
    makes a check not applicable (the DQD would report an error).
    """
    _validate(spec)
    name, table = spec.check_name, spec.table
    if name == "cdmTable":
        return None
    if table not in columns:
        return f"Table {table} does not exist."
    if name == "cdmField":
        return None
    if spec.field and spec.field not in columns[table]:
        return f"Field {table}.{spec.field} does not exist."
    if name == "measureConditionEraCompleteness":
        if "condition_occurrence" not in columns or row_counts.get("condition_occurrence", 1) == 0:
            return "Table condition_occurrence is empty."
    elif name != "measurePersonCompleteness" and row_counts.get(table, 1) == 0:
        return f"Table {table} is empty."
    for needed_table, needed_columns in _requirements(spec):
        if needed_table not in columns:
            return f"Table {needed_table} (needed by {name}) does not exist."
        for col in needed_columns:
            if col not in columns[needed_table]:
                return f"Field {needed_table}.{col} (needed by {name}) does not exist."
    return None


def not_applicable_after_run(spec: CheckSpec, num_denominator_rows: int, *, field_is_empty: bool = False) -> str | None:
    """DQD not-applicable rules that need results: an unpopulated field, or a concept (and unit) absent from the table.

    ``field_is_empty``: the measureValueCompleteness check of the same table and
    field found every row NULL.  Does not apply to cdmTable, cdmField,
    measureValueCompleteness and the table-level checks.
    """
    _validate(spec)
    name = spec.check_name
    if name in ("cdmTable", "cdmField", "measureValueCompleteness") or name in _TABLE_LEVEL:
        return None
    if field_is_empty:
        return f"Field {spec.table}.{spec.field} is not populated."
    if spec.concept_id is not None and num_denominator_rows == 0:
        if spec.unit_concept_id is None:
            return f"{spec.field}={spec.concept_id} is missing from the {spec.table} table."
        return (
            f"Combination of {spec.field}={spec.concept_id}, unit_concept_id={spec.unit_concept_id} "
            f"and value_as_number IS NOT NULL is missing from the {spec.table} table."
        )
    return None
