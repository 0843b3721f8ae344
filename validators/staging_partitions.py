"""Staging expectations counted in the person partitions (issues 6 and 9).

In a person-partitioned run each partition task sees its partition's staged rows as the views
``stg_<key>`` (replicated reference tables whole).  The staging expectations that judge a row by
itself, or by its own parent row, give counts that add up over the partitions to the counts over
the whole staging:

* ``not_null``, ``value_set``, ``code_length``, ``date_range``, ``code_format``,
  ``person_key_format``: the row alone (a code's era may come from its parent row, see below);
* ``link``: the split places a row in its parent row's partition, and a row without a parent in
  partition 0, where no parent is found either (:mod:`connectors.partitioning`).

These are counted here, in plain SQL that gives Great Expectations' own counts (GX is not imported:
a partition task stays light), and the validate stage adds them up
(:func:`validators.partition_checks.added_up`).  What stays with the validate stage, on the whole
staging: the table structure (``columns``, ``column_types``: the same in every partition), unique keys
(two rows with one key may sit in two partitions) and every expectation of a replicated table.

The SQL of each kind, as GX counts on DuckDB (unexpected values are never NULL except for
``not_null``; ``element_count`` is the view's rows):

* ``ExpectColumnValuesToNotBeNull``: ``col IS NULL``;
* ``ExpectColumnValuesToBeInSet``: ``col IS NOT NULL AND col NOT IN (set)``;
* ``ExpectColumnValueLengthsToBeBetween``: ``col IS NOT NULL AND length(col) NOT BETWEEN min AND max``;
* ``ExpectColumnValuesToBeBetween``: ``col IS NOT NULL AND (col < min OR col > max)``;
* ``ExpectNoUnexpectedRows``: the rows of the expectation's own query, ``{batch}`` = the view.

``tests/unit/validators/test_staging_partitions.py`` checks each against GX's results on the same
data, with violations of every kind.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import duckdb

from validators.sql_text import quote_ident as _q
from validators.sql_text import quote_literal as _lit
from validators.staging_suites import StagingSpec, staging_expectations

#: staging checks (``meta["check"]``) whose counts add up over person partitions
PARTITION_CHECKS = frozenset({"not_null", "value_set", "code_length", "date_range", "code_format",
                              "person_key_format", "link"})
_COLUMN_KINDS = frozenset({"ExpectColumnValuesToNotBeNull", "ExpectColumnValuesToBeInSet",
                           "ExpectColumnValueLengthsToBeBetween", "ExpectColumnValuesToBeBetween"})


class StagingCountError(ValueError):
    """An expectation of a kind this module cannot count was selected for the partitions."""


def count_key(view: str, expectation_id: str) -> str:
    """How a staging expectation is named among counted checks: ``<view>|<expectation id>``."""
    return f"{view}|{expectation_id}"


def split_key(key: str) -> tuple[str, str]:
    view, _, ident = key.partition("|")
    return view, ident


def counted_in_partitions(view: str, meta: dict, replicated_views: Iterable[str]) -> bool:
    """Whether the expectation (its ``meta``) of ``view`` is counted in the partitions."""
    return view not in set(replicated_views) and meta.get("check") in PARTITION_CHECKS


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        raise StagingCountError(f"no SQL literal for a boolean bound {value!r}")
    if isinstance(value, dt.date):
        return f"DATE {_lit(value.isoformat())}"
    if isinstance(value, int | float):
        return repr(value)
    return _lit(str(value))


def unexpected_condition(spec: StagingSpec) -> str:
    """SQL condition true for a row that a column expectation counts as unexpected."""
    kw = spec.kwargs
    col = _q(kw["column"])
    if spec.expectation == "ExpectColumnValuesToNotBeNull":
        return f"{col} IS NULL"
    if spec.expectation == "ExpectColumnValuesToBeInSet":
        values = ", ".join(_literal(v) for v in kw["value_set"])
        return f"({col} IS NOT NULL AND {col} NOT IN ({values}))" if values else f"({col} IS NOT NULL)"
    if spec.expectation == "ExpectColumnValueLengthsToBeBetween":
        return (f"({col} IS NOT NULL AND (length({col}) < {_literal(kw['min_value'])} "
                f"OR length({col}) > {_literal(kw['max_value'])}))")
    if spec.expectation == "ExpectColumnValuesToBeBetween":
        return (f"({col} IS NOT NULL AND ({col} < {_literal(kw['min_value'])} "
                f"OR {col} > {_literal(kw['max_value'])}))")
    raise StagingCountError(f"{spec.meta.get('id')}: {spec.expectation} is not a column expectation counted here")


def rows_query(spec: StagingSpec, view: str) -> str:
    """The unexpected-rows query of an ``ExpectNoUnexpectedRows`` expectation, on ``view``."""
    return spec.kwargs["unexpected_rows_query"].format(batch=_q(view))


def partition_specs(declared: dict[str, list[StagingSpec]], replicated_views: Iterable[str]
                    ) -> dict[str, list[StagingSpec]]:
    """Per view, the expectations counted in the partitions."""
    replicated = set(replicated_views)
    out: dict[str, list[StagingSpec]] = {}
    for view, specs in declared.items():
        chosen = [s for s in specs if counted_in_partitions(view, s.meta, replicated)]
        for s in chosen:
            if s.expectation not in _COLUMN_KINDS and s.expectation != "ExpectNoUnexpectedRows":
                raise StagingCountError(f"{view}: {s.meta.get('id')} ({s.expectation}) cannot be counted in "
                                        "the partitions")
        if chosen:
            out[view] = chosen
    return out


def count_view(con: duckdb.DuckDBPyConnection, view: str, specs: list[StagingSpec]
               ) -> tuple[dict[str, list[int]], dict[str, str]]:
    """``({key: [unexpected, elements]}, {key: error})`` of ``specs`` on ``view``: the column
    expectations in one scan (each on its own if that scan fails), each rows query on its own."""
    counts: dict[str, list[int]] = {}
    errors: dict[str, str] = {}
    columns = [s for s in specs if s.expectation in _COLUMN_KINDS]
    rows = [s for s in specs if s.expectation == "ExpectNoUnexpectedRows"]
    try:
        elements = int(con.execute(f"SELECT count(*) FROM {_q(view)}").fetchall()[0][0])
    except duckdb.Error as exc:
        msg = f"{view} cannot be read: {exc}"
        return {}, {count_key(view, s.meta["id"]): msg for s in specs}
    if columns:
        try:
            select = ", ".join(f"count(*) FILTER (WHERE {unexpected_condition(s)})" for s in columns)
            got = con.execute(f"SELECT {select} FROM {_q(view)}").fetchall()[0]
            for s, n in zip(columns, got, strict=True):
                counts[count_key(view, s.meta["id"])] = [int(n), elements]
        except duckdb.Error:
            for s in columns:  # one at a time: name the expectation that cannot run
                key = count_key(view, s.meta["id"])
                try:
                    n = con.execute(f"SELECT count(*) FILTER (WHERE {unexpected_condition(s)}) "
                                    f"FROM {_q(view)}").fetchall()[0][0]
                    counts[key] = [int(n), elements]
                except duckdb.Error as exc:
                    errors[key] = f"{type(exc).__name__}: {exc}"
    for s in rows:
        key = count_key(view, s.meta["id"])
        try:
            n = con.execute(f"SELECT count(*) FROM ({rows_query(s, view)})").fetchall()[0][0]
            counts[key] = [int(n), elements]
        except duckdb.Error as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
    return counts, errors


def counted_record(view: str, meta: dict, kind: str, unexpected: int, elements: int) -> dict[str, Any]:
    """The staging record (as :func:`validators.staging_suites.run_staging_suites` gives) of an
    expectation (its ``meta`` and GX class name ``kind``) from its counts added up over the partitions.
    A column expectation on a view with no rows has no unexpected count (GX gives none); the detail of
    a failure has no examples."""
    from validators.staging_suites import staging_record

    if kind in _COLUMN_KINDS and not elements:
        unexpected = None
    why = meta.get("why", "")
    if not unexpected:
        return staging_record(view, meta, "passed", unexpected, elements, why)
    return staging_record(view, meta, "failed", unexpected, elements,
                   f"{unexpected} of {elements} rows break: {why} (counted in the person partitions)")


def staging_partition_counts(con: duckdb.DuckDBPyConnection, file_types: Iterable, table_columns,
                             replicated: Iterable[str], *, today: dt.date) -> dict[str, Any]:
    """Counts of the partition-counted staging expectations on the ``stg_<key>`` views of ``con`` (a
    partition's database): ``{"counts": {"<view>|<id>": [unexpected, elements]}, "errors": {...},
    "today": ISO date}`` (``today`` bounds the dates, as in the validate stage's suites)."""
    declared = staging_expectations(list(file_types), table_columns, today=today, specs=True)
    chosen = partition_specs(declared, [f"stg_{t}" for t in replicated])
    counts: dict[str, list[int]] = {}
    errors: dict[str, str] = {}
    for view, specs in chosen.items():
        c, e = count_view(con, view, specs)
        counts.update(c)
        errors.update(e)
    return {"counts": counts, "errors": errors, "today": today.isoformat()}


__all__ = ["PARTITION_CHECKS", "StagingCountError", "count_key", "count_view", "counted_in_partitions", "counted_record",
           "partition_specs", "rows_query", "split_key", "staging_partition_counts", "unexpected_condition"]
