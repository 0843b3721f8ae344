"""Great Expectations suites for the staged source tables, generated from the connectors' declarations.

A site's file types (``connectors/<site>/layout.py``) already say what a staged
table must look like: its columns and their kinds, required columns, code
widths, the earliest plausible year of a date, and (optional declarations made
for these suites) code shapes per era (``Column.formats`` / ``era_column``),
allowed values (``Column.values``), the key of a table after consolidation
(``unique_key``) and the parent rows a row refers to (``links``).  This module
turns those declarations into one GX suite per staging view ``stg_<key>`` so
the rules are written once, in the layout.  It never imports ``connectors``:
the caller hands in the file types and the site's ``table_columns(ft)`` (the
consolidated schema, with link and provenance columns).

Every expectation carries ``meta = {"id", "check", "column", "why"}``; ``id`` is
stable (``check.column[.qualifier]``) and is what a staging record names.

GX's regex expectations do not run on DuckDB, so shapes, eras and references
are unexpected-rows queries in DuckDB SQL (``regexp_full_match``), as
:func:`counted_rows_class` expectations (GX's ``UnexpectedRowsExpectation``
without its row fetch); the rest are built-in expectations.  A suite that lost expectations on the way
(GX drops an expectation equal to one already in the suite) raises
:class:`StagingSuiteError` instead of passing with fewer checks.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from validators.gx_engine import COUNTED_SUITE_SUFFIX, exception_message, gx, open_session
from validators.sql_text import quote_ident as _q
from validators.sql_text import quote_literal as _lit

PERSON_KEY = "person_key"
#: site pseudonym: hex HMAC-SHA256 (connectors.pseudonym), lower case
PERSON_KEY_PATTERN = "[0-9a-f]{64}"
PROVENANCE = ("_source_file", "_row_number")
IDENTITY_KINDS = frozenset({"national_id", "hetu", "study_id"})
DATE_KINDS = frozenset({"date", "roc_date", "fi_date", "iso_date", "partial_date"})
HETU_BIRTH_EARLIEST = 1800  # the henkilötunnus century sign '+' gives births in the 1800s
PARTIAL_RAW_PATTERN = "[0-9]{4}(0[1-9]|1[0-2]|99)(0[1-9]|[12][0-9]|3[01]|99)"
YM_PATTERN = "[0-9]{4}(0[1-9]|1[0-2])"
#: Arrow type names of the staging schema -> DuckDB column types
DUCKDB_TYPES = {"string": "VARCHAR", "date32": "DATE", "int32": "INTEGER", "int64": "BIGINT",
                "float64": "DOUBLE", "bool": "BOOLEAN"}
# placeholder for GX's {batch} while the SQL is escaped.  GX renders {batch} as the table, as an
# aliased subquery or (in a query with a JOIN) as an unaliased one: queries read it as
# ``(SELECT * FROM {batch}) c`` to be valid in every case.
_BATCH = "\x00batch\x00"


class StagingSuiteError(RuntimeError):
    """A staging suite cannot be built as declared (bad declaration, or expectations lost)."""


@dataclass(frozen=True)
class _Table:
    """One file type with its consolidated schema (what the generator reads)."""

    ft: Any
    types: dict[str, str]  # column -> Arrow type name, in table order
    layout: dict[str, Any]  # staged column name -> the layout Column it comes from

    @property
    def view(self) -> str:
        return f"stg_{self.ft.key}"


# ---------------------------------------------------------------------------------------------- SQL helpers
# what SQLAlchemy's text() would read as a bind parameter, or unescape (sqlalchemy.sql.elements.TextClause)
_SA_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")
_SA_ESCAPED = re.compile(r"\\(:\w*)(?![:\w])")


def _gx_sql(sql: str) -> str:
    """SQL as GX needs it: braces doubled (GX formats ``{batch}`` with ``str.format``).

    GX runs the query through SQLAlchemy's ``text()``, which would read ``:name`` as a bind
    parameter (and ``\\:name`` as an escaped colon): such SQL is refused, not silently changed
    (write a colon in a pattern as ``[:]``).
    """
    found = _SA_BIND.search(sql) or _SA_ESCAPED.search(sql)
    if found:
        raise StagingSuiteError(f"generated SQL holds {found.group(0)!r}, which SQLAlchemy would read as a bind "
                                f"parameter; write a colon in a code pattern as [:]: {sql}")
    return sql.replace("{", "{{").replace("}", "}}").replace(_BATCH, "{batch}")


def _matches_any(value_sql: str, patterns: Iterable[str]) -> str:
    return "(" + " OR ".join(f"regexp_full_match({value_sql}, {_lit(p)})" for p in patterns) + ")"


# ---------------------------------------------------------------------------------------------- building
@dataclass(frozen=True)
class StagingSpec:
    """An expectation as declared, without Great Expectations: its GX class name, keyword arguments
    and meta (what :func:`staging_expectations` gives with ``specs=True``)."""

    expectation: str  # the GX class name, e.g. ExpectColumnValuesToNotBeNull
    kwargs: dict
    meta: dict
    description: str


class _SpecNamespace:
    """Stands for ``gx.expectations``: each ``Expect…`` attribute builds a :class:`StagingSpec`."""

    def __getattr__(self, name: str):
        if not name.startswith("Expect"):
            raise AttributeError(name)

        def build(*, meta: dict, description: str, **kwargs) -> StagingSpec:
            return StagingSpec(name, kwargs, meta, description)

        return build


def staging_expectations(
    file_types: Iterable, table_columns: Callable[[Any], list[tuple[str, str]]], *, today: dt.date | None = None,
    specs: bool = False,
) -> dict[str, list]:
    """Per staging view (``stg_<key>``), the GX expectations generated from the file type's declarations.

    ``table_columns(ft)`` gives the consolidated schema ``[(name, arrow type)]``;
    ``today`` bounds dates ("not in the future"; default: today).  Raises
    :class:`StagingSuiteError` for a declaration that names a missing column or
    file type.  ``specs``: the same declarations as :class:`StagingSpec` objects, without
    importing Great Expectations (what the person-partition tasks count,
    :mod:`validators.staging_partitions`).
    """
    today = today or dt.date.today()
    tables = {ft.key: _table(ft, table_columns) for ft in file_types}
    E = _SpecNamespace() if specs else gx().expectations
    out: dict[str, list] = {}
    for t in tables.values():
        exps = _columns_checks(E, t) + _value_checks(E, t, today) + _key_checks(E, t) + _link_checks(E, t, tables)
        ids = [e.meta["id"] for e in exps]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:  # a record names its expectation by id
            raise StagingSuiteError(f"{t.ft.key}: declarations give the same expectation twice: {repeated}")
        out[t.view] = exps
    return out


def _table(ft, table_columns) -> _Table:
    types = dict(table_columns(ft))
    layout: dict[str, Any] = {}
    for c in ft.columns:
        name = PERSON_KEY if c.kind in IDENTITY_KINDS else c.name
        if name not in types:
            raise StagingSuiteError(f"{ft.key}: layout column {c.name} has no staged column {name} in table_columns")
        layout[name] = c
    unknown = set(types.values()) - set(DUCKDB_TYPES)
    if unknown:
        raise StagingSuiteError(f"{ft.key}: table_columns has types {sorted(unknown)} without a DuckDB type")
    return _Table(ft, types, layout)


def _exp(cls, check: str, subject: str | None, why: str, qualifier: str | None = None, **kwargs):
    """A GX expectation with its meta: ``subject`` is the column (or key) it is about."""
    ident = ".".join(p for p in (check, subject, qualifier) if p)
    return cls(**kwargs, meta={"id": ident, "check": check, "column": subject, "why": why}, description=why)


def _rows(E, check: str, subject: str | None, why: str, sql: str, qualifier: str | None = None):
    cls = E.ExpectNoUnexpectedRows if isinstance(E, _SpecNamespace) else counted_rows_class()
    return _exp(cls, check, subject, why, qualifier, unexpected_rows_query=_gx_sql(sql))


_CLASSES: dict[str, Any] = {}


def counted_rows_class():
    """``ExpectNoUnexpectedRows``: GX's ``UnexpectedRowsExpectation`` without its row fetch.

    GX's class always computes two metrics, the number of unexpected rows *and* the rows
    themselves (up to 200), each its own query over the whole table; staging records keep the
    number only (results are BASIC), so the second scan was wasted: 67 queries on a 1M-row Taiwan
    run.  This subclass depends on the count alone and gives the same result
    (``observed_value`` = the count; success when it is 0).  Defined on first use, to keep GX
    out of module import; GX registers it by its class name.
    """
    if "counted_rows" not in _CLASSES:
        from great_expectations.expectations.core.unexpected_rows_expectation import UnexpectedRowsExpectation

        class ExpectNoUnexpectedRows(UnexpectedRowsExpectation):
            """The unexpected rows query returns no rows (counted, not fetched)."""

            metric_dependencies = ("unexpected_rows_query.row_count",)

            def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                          execution_engine=None) -> dict:
                count = metrics["unexpected_rows_query.row_count"]
                result_format = self._get_result_format(runtime_configuration=runtime_configuration)
                if isinstance(result_format, dict):
                    result_format = result_format.get("result_format")
                if result_format == "BOOLEAN_ONLY":
                    return {"success": count == 0}
                return {"success": count == 0, "result": {"observed_value": count}}

        _CLASSES["counted_rows"] = ExpectNoUnexpectedRows
    return _CLASSES["counted_rows"]


def _columns_checks(E, t: _Table) -> list:
    names = list(t.types)
    expected = ", ".join(f"({_lit(n)}, {_lit(DUCKDB_TYPES[a])})" for n, a in t.types.items())
    types_sql = (f"SELECT d.column_name, d.column_type, e.expected FROM (DESCRIBE SELECT * FROM {_BATCH}) d "
                 f"JOIN (VALUES {expected}) e(name, expected) ON e.name = d.column_name "
                 f"WHERE d.column_type <> e.expected")
    return [
        _exp(E.ExpectTableColumnsToMatchSet, "columns", None,
             f"{t.view} has exactly the consolidated staging columns of {t.ft.source_name}",
             column_set=names, exact_match=True),
        _rows(E, "column_types", None, f"every column of {t.view} has its declared type", types_sql),
        _exp(E.ExpectCompoundColumnsToBeUnique, "unique", "+".join(PROVENANCE),
             "a staged row is one source line: (_source_file, _row_number) is unique", column_list=list(PROVENANCE)),
    ]


def _value_checks(E, t: _Table, today: dt.date) -> list:
    out: list = []
    for name, arrow in t.types.items():
        col = t.layout.get(name)
        if name in PROVENANCE:
            out.append(_exp(E.ExpectColumnValuesToNotBeNull, "not_null", name,
                            "every staged row names its source file and line", column=name))
        elif name == PERSON_KEY:
            out += _person_key_checks(E, t, col)
        elif col is None:
            out += _derived_checks(E, t, name, arrow, today)
        else:
            out += _layout_checks(E, t, col, today)
    return out


def _person_key_checks(E, t: _Table, col) -> list:
    bad = (f"SELECT _source_file, _row_number FROM {_BATCH} "
           f"WHERE NOT regexp_full_match({PERSON_KEY}, {_lit(PERSON_KEY_PATTERN)})")
    return [
        _exp(E.ExpectColumnValuesToNotBeNull, "not_null", PERSON_KEY,
             f"every row has a person: {col.name} was validated and pseudonymised", column=PERSON_KEY),
        _rows(E, "person_key_format", PERSON_KEY,
              "person_key is a site pseudonym (64 lower-case hex digits), never a raw identifier", bad),
    ]


def _derived_checks(E, t: _Table, name: str, arrow: str, today: dt.date) -> list:
    """Columns not named in the layout: what a henkilötunnus states, raw partial dates, link columns."""
    if name == PERSON_KEY + "_temporary":
        return [_exp(E.ExpectColumnValuesToNotBeNull, "not_null", name,
                     "the henkilötunnus always says whether it is temporary", column=name)]
    if name == "hetu_sex":
        return [_exp(E.ExpectColumnValuesToBeInSet, "value_set", name,
                     "sex from the henkilötunnus is 1 (male) or 2 (female)", column=name, value_set=["1", "2"]),
                _exp(E.ExpectColumnValuesToNotBeNull, "not_null", name,
                     "the henkilötunnus always gives a sex", column=name)]
    if name == "hetu_birth_date":
        return [_exp(E.ExpectColumnValuesToNotBeNull, "not_null", name,
                     "the henkilötunnus always gives a birth date", column=name),
                _date_range(E, name, HETU_BIRTH_EARLIEST, today)]
    if name.endswith("_RAW") and t.layout.get(name[:-4]) is not None and t.layout[name[:-4]].kind == "partial_date":
        sql = (f"SELECT _source_file, _row_number, {_q(name)} FROM {_BATCH} "
               f"WHERE NOT regexp_full_match({_q(name)}, {_lit(PARTIAL_RAW_PATTERN)})")
        return [_rows(E, "code_format", name, "a partial date is YYYYMMDD with unknown month/day written 99", sql)]
    return []  # link columns added by consolidation: their type is checked by column_types


def _date_range(E, name: str, earliest_year: int, today: dt.date):
    return _exp(E.ExpectColumnValuesToBeBetween, "date_range", name,
                f"{name} lies in {earliest_year}..today (not earlier, not in the future)",
                column=name, min_value=dt.date(earliest_year, 1, 1), max_value=today)


def _layout_checks(E, t: _Table, col, today: dt.date) -> list:
    out: list = []
    name = col.name
    if col.required:
        out.append(_exp(E.ExpectColumnValuesToNotBeNull, "not_null", name,
                        f"{name} is required: an empty value quarantines the row", column=name))
    if col.kind in DATE_KINDS:
        out.append(_date_range(E, name, col.earliest_year, today))
    elif col.kind == "year":
        out.append(_exp(E.ExpectColumnValuesToBeBetween, "date_range", name,
                        f"{name} is a year in {col.earliest_year}..{today.year}",
                        column=name, min_value=col.earliest_year, max_value=today.year))
    elif col.kind == "ym":
        sql = (f"SELECT _source_file, _row_number, {_q(name)} FROM {_BATCH} WHERE "
               f"NOT regexp_full_match({_q(name)}, {_lit(YM_PATTERN)}) "
               f"OR {_q(name)} < {_lit(f'{col.earliest_year:04d}01')} OR {_q(name)} > {_lit(today.strftime('%Y%m'))}")
        out.append(_rows(E, "date_range", name, f"{name} is a month YYYYMM in {col.earliest_year}..today", sql))
    elif col.kind == "code":
        if col.width:
            out.append(_exp(E.ExpectColumnValueLengthsToBeBetween, "code_length", name,
                            f"{name} fits its declared width {col.width} (padding stripped)",
                            column=name, min_value=1, max_value=col.width))
        if col.values:
            out.append(_exp(E.ExpectColumnValuesToBeInSet, "value_set", name,
                            f"{name} is one of {', '.join(col.values)}", column=name, value_set=list(col.values)))
        if col.formats:
            out.append(_code_format(E, t, col))
    return out


def _code_format(E, t: _Table, col):
    """Codes match a declared shape of their era (the era from ``era_column``, here or in a linked parent)."""
    eras: dict[tuple, list] = {}
    for f in col.formats:
        eras.setdefault((f.since, f.until), []).append(f)
    v = f"c.{_q(col.name)}"
    join, era = "", None
    if col.era_column:
        join, era = _era_source(t, col)
    alternatives = []
    for (since, until), formats in eras.items():
        conds = [f"{era} >= DATE {_lit(since)}" if since else "", f"{era} < DATE {_lit(until)}" if until else ""]
        window = " AND ".join(c for c in conds if c) or "TRUE"
        alternatives.append(f"coalesce({window} AND {_matches_any(v, [f.pattern for f in formats])}, FALSE)")
    if era is not None:  # no date to decide the era: any declared shape will do
        alternatives.append(f"({era} IS NULL AND {_matches_any(v, [f.pattern for f in col.formats])})")
    sql = (f"SELECT c._source_file, c._row_number, {v} FROM (SELECT * FROM {_BATCH}) c{join} "
           f"WHERE {v} IS NOT NULL AND NOT ({' OR '.join(alternatives)})")
    described = "; ".join(
        f"{'/'.join(f.system for f in fs)}" + (f" {s or '…'}..{u or '…'}" if s or u else "")
        for (s, u), fs in eras.items())
    if col.era_column:
        by = col.era_column if isinstance(col.era_column, str) else " else ".join(col.era_column)
        why = f"{col.name} has the code shape of its era (by {by}): {described}"
    else:
        why = f"{col.name} has the code shape of: {described}"
    return _rows(E, "code_format", col.name, why, sql)


def _era_source(t: _Table, col) -> tuple[str, str]:
    """(JOIN clause, SQL of the era date) for ``col.era_column``."""
    refs = (col.era_column,) if isinstance(col.era_column, str) else tuple(col.era_column)
    parents = {r.split(".", 1)[0] for r in refs if "." in r}
    if len(parents) > 1:
        raise StagingSuiteError(f"{t.ft.key}.{col.name}: era_column {refs} names more than one parent")
    join, exprs = "", []
    if parents:
        parent = parents.pop()
        link = next((lk for lk in getattr(t.ft, "links", ()) if lk.parent == parent), None)
        if link is None:
            raise StagingSuiteError(f"{t.ft.key}.{col.name}: era_column {refs} names {parent}, "
                                    f"but {t.ft.key} declares no link to {parent}")
        pcols = [r.split(".", 1)[1] for r in refs if "." in r]
        on = " AND ".join(f"p.{_q(pc)} = c.{_q(cc)}" for cc, pc in zip(link.columns, link.parent_key, strict=True))
        keys = ", ".join(_q(pc) for pc in link.parent_key)
        dates = ", ".join(f"min({_q(pc)}) AS {_q(pc)}" for pc in pcols)
        join = f" LEFT JOIN (SELECT {keys}, {dates} FROM stg_{parent} GROUP BY {keys}) p ON {on}"
    for r in refs:
        if "." in r:
            exprs.append(f"p.{_q(r.split('.', 1)[1])}")
        elif r in t.types:
            exprs.append(f"c.{_q(r)}")
        else:
            raise StagingSuiteError(f"{t.ft.key}.{col.name}: era_column {r} is not a column of {t.view}")
    return join, (exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})")


def _key_checks(E, t: _Table) -> list:
    key = tuple(getattr(t.ft, "unique_key", ()) or ())
    if not key:
        return []
    missing = [c for c in key if c not in t.types]
    if missing:
        raise StagingSuiteError(f"{t.ft.key}: unique_key columns {missing} are not columns of {t.view}")
    why = f"after consolidation ({', '.join(key)}) identifies one row of {t.view}"
    if len(key) == 1:
        return [_exp(E.ExpectColumnValuesToBeUnique, "unique", key[0], why, column=key[0])]
    return [_exp(E.ExpectCompoundColumnsToBeUnique, "unique", "+".join(key), why, column_list=list(key))]


def _link_checks(E, t: _Table, tables: dict[str, _Table]) -> list:
    out = []
    for link in getattr(t.ft, "links", ()) or ():
        parent = tables.get(link.parent)
        if parent is None:
            raise StagingSuiteError(f"{t.ft.key}: links to {link.parent}, which is not among the site's file types")
        if len(link.columns) != len(link.parent_key):
            raise StagingSuiteError(f"{t.ft.key}: link to {link.parent} pairs {link.columns} with {link.parent_key}")
        for c, where in [(c, t) for c in link.columns] + [(c, parent) for c in link.parent_key]:
            if c not in where.types:
                raise StagingSuiteError(f"{t.ft.key}: link column {c} is not a column of {where.view}")
        on = " AND ".join(f"p.{_q(pc)} = c.{_q(cc)}" for cc, pc in zip(link.columns, link.parent_key, strict=True))
        present = " AND ".join(f"c.{_q(cc)} IS NOT NULL" for cc in link.columns)
        sql = (f"SELECT c._source_file, c._row_number FROM (SELECT * FROM {_BATCH}) c WHERE {present} "
               f"AND NOT EXISTS (SELECT 1 FROM {parent.view} p WHERE {on})")
        out.append(_rows(E, "link", "+".join(link.columns),
                         f"every {t.view} row refers to an existing {parent.view} row by {', '.join(link.columns)}",
                         sql, qualifier=link.parent))
    return out


# ---------------------------------------------------------------------------------------------- suites
def expected_count(expectations) -> int:
    """How many expectations were declared: a list, or a dict of lists (all suites)."""
    if isinstance(expectations, dict):
        return sum(len(v) for v in expectations.values())
    return len(expectations)


def verify_suite(suite, declared: int) -> None:
    """Raise :class:`StagingSuiteError` unless ``suite`` holds ``declared`` expectations."""
    have = len(suite.expectations)
    if have != declared:
        raise StagingSuiteError(
            f"suite {suite.name}: {have} expectations but {declared} declared; a suite that lost "
            "expectations would pass with fewer checks")


def build_suite(name: str, expectations: list):
    """A GX ExpectationSuite holding ``expectations``, checked to have lost none of them.

    Needs an active GX context (:func:`validators.gx_engine.open_session` makes one).
    """
    # built in one go (add_expectation compares each new expectation with all before it); the constructor
    # drops what it cannot take, and GX treats equal expectations as one: verify_suite catches both
    expectations = list(expectations)
    seen: set[str] = set()
    for e in expectations:
        key = json.dumps(e.configuration.to_json_dict(), sort_keys=True, default=str)
        if key in seen:
            raise StagingSuiteError(f"suite {name}: the same expectation is declared twice: {e.expectation_type} "
                                    f"{e.meta or ''}")
        seen.add(key)
    suite = gx().ExpectationSuite(name=name, expectations=expectations)
    verify_suite(suite, expected_count(expectations))
    return suite


# ---------------------------------------------------------------------------------------------- running
def run_staging_suites(
    database, file_types: Iterable, table_columns, *, today: dt.date | None = None,
    data_docs_run: str | None = None, counted: dict | None = None,
) -> list[dict]:
    """Validate every ``stg_<key>`` view of ``database`` (a run's work DuckDB) with its generated suite.

    ``database``: a DuckDB path / URL, or an open :class:`validators.gx_engine.GxSession`
    (used as it is and left open, e.g. the run's file-mode GX project).

    Returns one record per expectation: ``table, expectation (meta id), column,
    status (passed | failed | error), unexpected_count, element_count, detail``.
    Raises :class:`StagingSuiteError` when a suite or its result has fewer
    expectations than declared.  With ``data_docs_run`` the results are also
    published to the session's GX Data Docs under that run name.

    ``counted``: expectations already counted in the person partitions
    (:mod:`validators.staging_partitions`), ``{"counts": {"<view>|<id>": (unexpected, elements)},
    "errors": {"<view>|<id>": message}}``, added up: they are not run again; their records come
    from the counts (and, with ``data_docs_run``, their results go into the Data Docs as the
    suite ``staging.<view>.counted_in_partitions``).  Records keep the declared order.
    """
    from validators.staging_partitions import count_key, counted_record

    file_types = list(file_types)
    declared = staging_expectations(file_types, table_columns, today=today)
    counts = dict((counted or {}).get("counts", {}))
    errors = dict((counted or {}).get("errors", {}))
    counted_keys = counts.keys() | errors.keys()
    records: list[dict] = []
    opened = isinstance(database, (str, os.PathLike))
    session = open_session(database) if opened else database
    try:
        for view, exps in declared.items():
            done = {e.meta["id"]: e for e in exps if count_key(view, e.meta["id"]) in counted_keys}
            run = [e for e in exps if e.meta["id"] not in done]
            by_id: dict[str, dict] = {}
            if run:
                suite = build_suite(f"staging.{view}", run)
                by_id = {r["expectation"]: r for r in _validate(session, view, suite, len(run), run, data_docs_run)}
            for ident, e in done.items():
                key = count_key(view, ident)
                if key in errors:
                    by_id[ident] = staging_record(view, e.meta, "error", None, None,
                                           f"{e.meta.get('why', '')}: counted in the person partitions: {errors[key]}")
                else:
                    by_id[ident] = counted_record(view, e.meta, type(e).__name__, *counts[key])
            if done and data_docs_run:
                _publish_counted(session, view, list(done.values()), by_id, data_docs_run)
            records += [by_id[e.meta["id"]] for e in exps]
    finally:
        if opened:
            session.close()
    return records




def _publish_counted(session, view: str, exps: list, by_id: dict[str, dict], run_name: str) -> None:
    """Put the expectations of ``view`` counted in the person partitions into the Data Docs: a suite
    ``staging.<view>.counted_in_partitions`` of the same expectations, whose results are the summed counts."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    results = []
    for e in exps:
        rec = by_id[e.meta["id"]]
        if rec["status"] == "error":
            results.append(ExpectationValidationResult(
                success=False, expectation_config=e.configuration, result={},
                exception_info={"raised_exception": True, "exception_message": rec["detail"],
                                "exception_traceback": f"counted in the person partitions: {rec['detail']}"}))
            continue
        unexpected, elements = rec["unexpected_count"], rec["element_count"]
        if type(e).__name__ == counted_rows_class().__name__:
            result = {"observed_value": unexpected}
        else:
            result = {"element_count": elements, "unexpected_count": unexpected, "partial_unexpected_list": [],
                      "unexpected_percent": (100.0 * unexpected / elements) if elements and unexpected is not None
                      else None}
        results.append(ExpectationValidationResult(success=rec["status"] == "passed", expectation_config=e.configuration,
                                                   result=result))
    session.publish_counted(f"staging.{view}.{COUNTED_SUITE_SUFFIX}", exps, results, view, run_name,
                            batch_name=f"{view}.{COUNTED_SUITE_SUFFIX}")


#: BASIC results without examples: GX fetches a column check's examples with a query of their own over
#: the whole table, for passing checks too (173 queries on a 1M-row Taiwan run); failed checks are run
#: again with examples (:func:`_with_examples`)
COUNTS_ONLY = {"result_format": "BASIC", "partial_unexpected_count": 0}


def _validate(session, view: str, suite, declared: int, exps: list, data_docs_run: str | None) -> list[dict]:
    try:
        result = session.validate(suite, view, result_format=COUNTS_ONLY)
        if len(result.results) == declared:
            result = _with_examples(session, view, suite, result)
    except Exception as exc:  # noqa: BLE001  (any failure to run a suite is reported as its records' error)
        msg = f"{view}: suite could not run: {type(exc).__name__}: {exc}"
        return [staging_record(view, e.meta, "error", None, None, msg) for e in exps]
    if len(result.results) != declared:
        raise StagingSuiteError(f"{view}: {len(result.results)} expectation results but {declared} declared")
    if data_docs_run:
        session.publish(suite, result, run_name=data_docs_run, batch_name=view)
    rows = next((r.result.get("element_count") for r in result.results
                 if r.result and r.result.get("element_count") is not None), None)
    return [_result_record(view, r, rows) for r in result.results]


def _with_examples(session, view: str, suite, result):
    """``result`` with each failed column check's result replaced by a BASIC one (up to 20 examples of
    unexpected values); the checks run again, so their counts are those of the same data.  If that
    second pass cannot run, or a check does not fail again, the first result stands (no examples)."""
    failed = {(r.expectation_config.meta or {}).get("id") for r in result.results
              if not r.success and exception_message(r.exception_info) is None
              and "partial_unexpected_list" in (r.result or {})}
    if not failed:
        return result
    again = gx().ExpectationSuite(name=suite.name, expectations=[
        e for e in suite.expectations if (e.meta or {}).get("id") in failed])
    try:
        rerun = session.validate(again, view, result_format="BASIC").results
    except Exception:  # noqa: BLE001  (the counts stand; only the examples are missing)
        return result
    by_id = {(r.expectation_config.meta or {}).get("id"): r for r in rerun
             if r.success is False and exception_message(r.exception_info) is None}
    result.results = [by_id.get((r.expectation_config.meta or {}).get("id"), r) for r in result.results]
    return result


def staging_record(view, meta, status, unexpected, elements, detail) -> dict:
    """One staging record (what :func:`run_staging_suites` returns per expectation)."""
    return {"table": view, "expectation": meta["id"], "column": meta.get("column"), "status": status,
            "unexpected_count": unexpected, "element_count": elements, "detail": detail}


def _result_record(view: str, r, rows: int | None) -> dict:
    meta = r.expectation_config.meta or {}
    res = r.result or {}
    why = meta.get("why", "")
    error = exception_message(r.exception_info)
    if error is not None:
        return staging_record(view, meta, "error", None, rows, f"{why}: {error}")
    unexpected = res.get("unexpected_count")
    if unexpected is None and isinstance(res.get("observed_value"), int):  # UnexpectedRowsExpectation
        unexpected = res["observed_value"]
    elements = res.get("element_count", rows)
    if r.success:
        return staging_record(view, meta, "passed", unexpected, elements, why)
    detail = why
    if unexpected is not None:
        detail = f"{unexpected} of {elements if elements is not None else '?'} rows break: {why}"
    sample = res.get("partial_unexpected_list")
    if sample:
        detail += f"; e.g. {sample[:5]}"
    mismatched = (res.get("details") or {}).get("mismatched")
    if mismatched:
        detail += f"; columns {mismatched}"
    return staging_record(view, meta, "failed", unexpected, elements, detail)
