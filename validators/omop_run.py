"""Run the DataQualityDashboard-grade checks on one OMOP CDM v5.4 database with Great Expectations.

Steps: read which tables and columns exist and how many rows each table has;
take the declared check instances (:mod:`validators.dqd.catalogue`) for the
tables asked for; decide the structural outcomes without SQL (a missing table
or field fails ``cdmTable`` / ``cdmField``; other checks on it are not
applicable, as in the DQD); build one GX suite per table holding an
``expect_dqd_check_to_pass`` expectation per remaining check, assert that the
suite holds as many expectations as were declared, and run all suites as one
batch validation each (the results also go to the GX Data Docs when the
session has a project folder).
Each check's SQL is one aggregate pushed down to the database; checks of a table that share
their FROM/JOIN/WHERE share one query (one scan), each still its own expectation.

The result records follow the DQD's vocabulary: status ``passed``, ``failed``,
``not_applicable`` or ``error``, with ``num_violated_rows``,
``pct_violated_rows`` (0..1), ``num_denominator_rows`` and ``threshold_value``.
The outcome is ``failed`` when a check of severity *fatal* failed or errored,
``warn`` when any other check failed or errored, else ``passed``.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from terminology.omop_cdm import CDM
from validators.dqd import catalogue, sql
from validators.dqd.expectation import check_result, passes
from validators.dqd.spec import CheckSpec
from validators.gx_engine import COUNTED_SUITE_SUFFIX, GxSession, exception_message, gx
from validators.sql_text import quote_ident

#: tables the DQD skips by default (vocabulary tables: checked when the vocabulary is built)
DEFAULT_EXCLUDED_TABLES = (
    "concept", "vocabulary", "concept_ancestor", "concept_relationship", "concept_class",
    "concept_synonym", "relationship", "domain",
)

STATUSES = ("passed", "failed", "not_applicable", "error")


class QualitySuiteError(RuntimeError):
    """A built suite holds fewer expectations than were declared for it (checks were lost)."""


@dataclass
class OmopQualityResult:
    database: str
    checks: list[dict[str, Any]]
    started: str
    finished: str
    seconds: float
    row_counts: dict[str, int]
    data_docs: str | None = None
    suites: dict[str, int] = field(default_factory=dict)  # table -> expectations in its GX suite

    @property
    def outcome(self) -> str:
        return outcome_of(self.checks)

    def overview(self) -> dict[str, Any]:
        return overview_of(self.checks)

    def failed(self, severity: str | None = None) -> list[dict[str, Any]]:
        """Failed or errored checks (of one severity when given)."""
        return [c for c in self.checks if c["status"] in ("failed", "error")
                and (severity is None or c["severity"] == severity)]

    def quality_doc(self, *, run_id: str | None, site: str, staging: list[dict[str, Any]] | None = None,
                    rows_out: Mapping[str, int] | None = None, thresholds: Mapping[str, Any] | None = None,
                    data_docs: str | None = None) -> dict[str, Any]:
        """The quality document (``quality.json``; what history and the HTML report read).

        Failed staging expectations turn a ``passed`` outcome into ``warn``.
        """
        staging = list(staging or [])
        outcome = self.outcome
        if outcome == "passed" and any(s["status"] != "passed" for s in staging):
            outcome = "warn"
        return {
            "run_id": run_id, "site": site, "database": self.database, "started": self.started,
            "finished": self.finished, "seconds": round(self.seconds, 3), "outcome": outcome,
            "overview": self.overview(), "checks": self.checks, "staging": staging,
            "rows_out": dict(rows_out if rows_out is not None else self.row_counts),
            "row_counts": self.row_counts, "thresholds": dict(thresholds or {}),
            "data_docs": data_docs if data_docs is not None else self.data_docs,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "database": self.database, "started": self.started, "finished": self.finished,
            "seconds": round(self.seconds, 3), "outcome": self.outcome, "overview": self.overview(),
            "row_counts": self.row_counts, "suites": self.suites, "data_docs": self.data_docs,
            "checks": self.checks,
        }


def outcome_of(checks: Iterable[Mapping[str, Any]]) -> str:
    bad = [c for c in checks if c["status"] in ("failed", "error")]
    if any(c["severity"] == "fatal" for c in bad):
        return "failed"
    return "warn" if bad else "passed"


def overview_of(checks: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    checks = list(checks)
    out: dict[str, Any] = {s: 0 for s in STATUSES}
    out.update(Counter(c["status"] for c in checks))
    out["total"] = len(checks)
    out["fatal_failed"] = sum(1 for c in checks if c["status"] in ("failed", "error") and c["severity"] == "fatal")
    by_cat: dict[str, dict[str, int]] = {}
    for c in checks:
        cat = by_cat.setdefault(c["kahn_category"], {s: 0 for s in STATUSES})
        cat[c["status"]] += 1
    out["by_category"] = dict(sorted(by_cat.items()))
    decided = out["passed"] + out["failed"]
    out["pass_rate"] = round(out["passed"] / decided, 4) if decided else None
    return out


def _utc() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _record(spec: CheckSpec, **values: Any) -> dict[str, Any]:
    ct = catalogue.CHECK_TYPES[spec.check_name]
    rec = {
        "check_id": spec.check_id, "check_name": spec.check_name, "check_level": ct.level,
        "cdm_table": spec.table, "cdm_field": spec.field, "concept_id": spec.concept_id,
        "unit_concept_id": spec.unit_concept_id, "kahn_context": ct.kahn_context,
        "kahn_category": ct.kahn_category, "kahn_subcategory": ct.kahn_subcategory,
        "severity": catalogue.severity_of(spec), "description": catalogue.render_description(spec),
        "status": None, "num_violated_rows": None, "pct_violated_rows": None, "num_denominator_rows": None,
        "threshold_value": float(spec.threshold), "not_applicable_reason": None, "error": None,
        "execution_seconds": None,  # GX reports no per-expectation time; the run's total is in `seconds`
    }
    rec.update(values)
    return rec


def database_structure(session: GxSession, schema: str | None,
                       vocab_schema: str | None = None) -> tuple[dict[str, set[str]], dict[str, int]]:
    """(table -> lower-case columns, table -> row count) for the CDM tables present; vocabulary
    tables are looked up in ``vocab_schema`` when it differs from ``schema``."""
    columns: dict[str, set[str]] = {}
    places: dict[str, str | None] = {}
    lookups = [(schema, None)]
    if vocab_schema and vocab_schema != schema:
        lookups.append((vocab_schema, set(CDM.group("vocabulary"))))
    for where, only in lookups:
        for table, column in session.execute(sql.table_columns_sql(session.dialect, where)):
            t = str(table).lower()
            if t in CDM.tables and (only is None or t in only):
                columns.setdefault(t, set()).add(str(column).lower())
                places[t] = where
    counts: dict[str, int] = {}
    if columns:
        union = " UNION ALL ".join(
            f"SELECT '{t}', COUNT(*) FROM {quote_ident(places[t]) + '.' if places[t] else ''}{quote_ident(t)}"
            for t in sorted(columns))
        counts = {str(t): int(n) for t, n in session.execute(union)}
    return columns, counts


def validate_omop(
    session: GxSession,
    *,
    database_label: str,
    cdm_schema: str | None = None,
    vocab_schema: str | None = None,
    tables: Iterable[str] | None = None,
    exclude_tables: Iterable[str] = DEFAULT_EXCLUDED_TABLES,
    overrides: Mapping[str, Any] | None = None,
    specs: Iterable[CheckSpec] | None = None,
    data_docs: bool = False,
    build_data_docs: bool = True,
    run_name: str | None = None,
    progress: Callable[[str], None] | None = None,
    share_queries: bool = True,
    counted: Mapping[str, tuple[int, int]] | None = None,
    counted_errors: Mapping[str, str] | None = None,
) -> OmopQualityResult:
    """Run every declared DQD check for ``tables`` (default: all CDM tables but ``exclude_tables``),
    or exactly the given ``specs``.

    With ``share_queries`` (the default), checks of a table whose queries differ only in their
    aggregates share one query (:func:`validators.dqd.sql.group_sql`); the counts are the same.

    ``counted`` gives the (violated, denominator) counts of checks already counted elsewhere (the
    person partitions of the run, :mod:`validators.partition_checks`), ``counted_errors`` the
    checks that failed to run there: they are judged from those (same threshold rule) and not run
    again.  A check the structure makes not applicable stays so whatever ``counted`` says.

    ``data_docs`` publishes the results to the session's Data Docs and builds them, unless
    ``build_data_docs`` is false (the caller builds them once other results are in)."""
    from validators.dqd.expectation import forget_groups, register, register_group

    expectation_class = register()
    g = gx()
    started, t0 = _utc(), time.perf_counter()
    say = progress or (lambda _msg: None)
    columns, counts = database_structure(session, cdm_schema, vocab_schema)
    wanted = list(tables) if tables is not None else [t for t in CDM.tables if t not in set(exclude_tables)]
    unknown = sorted(set(wanted) - set(CDM.tables))
    if unknown:
        raise catalogue.CatalogueError(f"not OMOP CDM v5.4 tables: {unknown}")
    specs = list(specs) if specs is not None else catalogue.declared_checks(wanted, overrides=overrides)
    if len({s.check_id for s in specs}) != len(specs):
        raise ValueError("duplicate check ids among the checks to run")
    say(f"{len(specs)} checks declared for {len(wanted)} tables; {len(counts)} CDM tables present")

    records: dict[str, dict[str, Any]] = {}
    per_table: dict[str, list[CheckSpec]] = {}
    for spec in specs:
        if spec.check_name == "cdmTable" and spec.table not in columns:
            records[spec.check_id] = _record(spec, status="failed", num_violated_rows=1, pct_violated_rows=1.0,
                                             num_denominator_rows=1)
            continue
        if spec.check_name == "cdmField" and spec.table in columns and spec.field not in columns[spec.table]:
            records[spec.check_id] = _record(spec, status="failed", num_violated_rows=1, pct_violated_rows=1.0,
                                             num_denominator_rows=1)
            continue
        reason = sql.not_applicable_reason(spec, columns, counts)
        if reason is not None:
            records[spec.check_id] = _record(spec, status="not_applicable", not_applicable_reason=reason)
            continue
        if counted_errors and spec.check_id in counted_errors:
            records[spec.check_id] = _record(spec, status="error", error=_first_line(counted_errors[spec.check_id]))
            continue
        if counted and spec.check_id in counted:
            violated, denominator = counted[spec.check_id]
            records[spec.check_id] = _judged(spec, int(violated), int(denominator))
            continue
        per_table.setdefault(spec.table, []).append(spec)

    suites: dict[str, Any] = {}
    forget_groups()
    for table, table_specs in per_table.items():
        expectations = []
        queries: dict[str, tuple[str, int]] = {}  # check_id -> (query, index in its row)
        groups, unsupported = sql.grouped(table_specs, session.dialect, cdm_schema=cdm_schema,
                                          vocab_schema=vocab_schema)
        for spec in table_specs:
            if spec.check_id in unsupported:
                records[spec.check_id] = _record(spec, status="error", error=unsupported[spec.check_id])
            else:
                queries[spec.check_id] = (sql.check_sql(spec, session.dialect, cdm_schema=cdm_schema,
                                                        vocab_schema=vocab_schema), 0)
        if share_queries:
            for members in groups.values():
                if len(members) < 2:
                    continue
                group = sql.group_sql([p for _, p in members])
                register_group(group, [queries[spec.check_id][0] for spec, _ in members])
                for i, (spec, _) in enumerate(members):
                    queries[spec.check_id] = (group, i)
        for spec in table_specs:
            if spec.check_id in queries:
                query, index = queries[spec.check_id]
                expectations.append(_expectation(expectation_class, spec, query, index))
        # built in one go: add_expectation compares each new expectation with all before it (quadratic);
        # the constructor logs and drops an invalid expectation, which the count below turns into an error
        suite = g.ExpectationSuite(name=f"omop.{table}", expectations=expectations)
        declared = sum(1 for s in table_specs if s.check_id not in records)
        if len(suite.expectations) != declared:
            raise QualitySuiteError(f"suite omop.{table} holds {len(suite.expectations)} expectations, "
                                    f"{declared} declared")
        if declared:
            suites[table] = suite
    say(f"running {sum(len(s.expectations) for s in suites.values())} checks in {len(suites)} GX suites")
    by_id = {s.check_id: s for s in specs}
    vocabulary = set(CDM.group("vocabulary"))
    for i, (table, suite) in enumerate(suites.items(), 1):
        say(f"[{i}/{len(suites)}] {table}: {len(suite.expectations)} checks")
        schema = vocab_schema if table in vocabulary and vocab_schema else cdm_schema
        result = session.validate(suite, table, schema)
        _collect(result, by_id, records)
        if data_docs:
            session.publish(suite, result, run_name=run_name or "omop", batch_name=table)
    if data_docs and (counted or counted_errors):
        _publish_counted(session, specs, records, set(counted or ()) | set(counted_errors or ()),
                         run_name or "omop", cdm_schema=cdm_schema, vocab_schema=vocab_schema)
    _not_applicable_after_run(specs, records)
    missing = [s.check_id for s in specs if s.check_id not in records]
    if missing:
        raise QualitySuiteError(f"{len(missing)} declared checks have no result, e.g. {missing[:5]}")
    checks = [records[s.check_id] for s in specs]
    docs = session.build_data_docs() if data_docs and build_data_docs else None
    return OmopQualityResult(database=database_label, checks=checks, started=started, finished=_utc(),
                             seconds=time.perf_counter() - t0, row_counts=dict(sorted(counts.items())),
                             data_docs=str(docs) if docs else None,
                             suites={t: len(s.expectations) for t, s in suites.items()})




def _publish_counted(session: GxSession, specs: list[CheckSpec], records: dict[str, dict[str, Any]],
                     counted_ids: set[str], run_name: str, *, cdm_schema: str | None,
                     vocab_schema: str | None) -> None:
    """Put the checks counted in the person partitions into the Data Docs beside those GX ran: per
    table one suite ``omop.<table>.counted_in_partitions`` of the same expectations, whose results
    are the summed counts (what the DQD expectation would have given on the merged database; the
    partition tasks ran the same SQL, :mod:`validators.partition_checks`)."""
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

    from validators.dqd.expectation import register

    expectation_class = register()
    per_table: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
    for spec in specs:
        rec = records.get(spec.check_id)
        if spec.check_id not in counted_ids or rec is None or rec["status"] not in ("passed", "failed", "error"):
            continue
        try:
            query = sql.check_sql(spec, session.dialect, cdm_schema=cdm_schema, vocab_schema=vocab_schema)
        except sql.UnsupportedCheck:
            query = "-"
        expectation = _expectation(expectation_class, spec, query, counted_in="person partitions")
        per_table.setdefault(spec.table, []).append((expectation, rec))
    for table, items in per_table.items():
        results = []
        for expectation, rec in items:
            if rec["status"] == "error":
                error = rec.get("error") or "error"
                results.append(ExpectationValidationResult(
                    success=False, expectation_config=expectation.configuration, result={},
                    exception_info={"raised_exception": True, "exception_message": error,
                                    "exception_traceback": f"counted in the person partitions: {error}"}))
            else:
                results.append(ExpectationValidationResult(
                    expectation_config=expectation.configuration,
                    **check_result(rec["check_id"], rec["num_violated_rows"], rec["num_denominator_rows"],
                                   rec["threshold_value"])))
        session.publish_counted(f"omop.{table}.{COUNTED_SUITE_SUFFIX}", [e for e, _ in items], results, table,
                                run_name, batch_name=f"{table}.{COUNTED_SUITE_SUFFIX}")


def _expectation(expectation_class, spec: CheckSpec, query: str, index: int = 0, *, counted_in: str | None = None):
    """The DQD expectation of ``spec`` over ``query`` (its counts at ``index`` of the query's row);
    ``counted_in`` names where a check counted outside GX was counted (Data Docs only)."""
    meta = {"check_id": spec.check_id, "kahn_category": catalogue.CHECK_TYPES[spec.check_name].kahn_category}
    description = catalogue.render_description(spec)
    if counted_in:
        meta["counted_in"] = counted_in
        description += f" (counted in the {counted_in})"
    return expectation_class(check_id=spec.check_id, check_name=spec.check_name, dqd_query=query, dqd_index=index,
                             threshold=float(spec.threshold), severity_level=catalogue.severity_of(spec),
                             description=description[:1000], meta=meta)


def _collect(suite_result, specs: Mapping[str, CheckSpec], records: dict[str, dict[str, Any]]) -> None:
    """Turn GX expectation results into check records."""
    for r in suite_result.results:
        cfg = r.expectation_config
        check_id = cfg.kwargs["check_id"]
        spec = specs[check_id]
        message = exception_message(r.exception_info)
        if message is not None or not r.result:
            records[check_id] = _record(spec, status="error", error=_first_line(message or "no result"))
            continue
        details = r.result["details"]
        records[check_id] = _judged(spec, int(details["num_violated_rows"]), int(details["num_denominator_rows"]),
                                    success=r.success)


def _judged(spec: CheckSpec, violated: int, denominator: int, success: bool | None = None) -> dict[str, Any]:
    """A check's record from its counts: not applicable without rows, else passed when the share of
    violated rows, in percent, is at most the threshold (``success``: GX's verdict, the same rule)."""
    if denominator == 0:
        reason = sql.not_applicable_after_run(spec, 0) or "no rows to check"
        return _record(spec, status="not_applicable", num_violated_rows=0, num_denominator_rows=0,
                       not_applicable_reason=reason)
    if success is None:
        success = passes(violated, denominator, spec.threshold)
    return _record(spec, status="passed" if success else "failed", num_violated_rows=violated,
                   pct_violated_rows=round(violated / denominator, 6), num_denominator_rows=denominator)


def _not_applicable_after_run(specs: list[CheckSpec], records: dict[str, dict[str, Any]]) -> None:
    """The DQD's not-applicable rules that need results: unpopulated fields, concepts absent from the table."""
    empty = {(r["cdm_table"], r["cdm_field"]) for r in records.values()
             if r["check_name"] == "measureValueCompleteness" and r["status"] in ("passed", "failed")
             and r["num_denominator_rows"] and r["num_violated_rows"] == r["num_denominator_rows"]}
    for spec in specs:
        rec = records.get(spec.check_id)
        if rec is None or rec["status"] not in ("passed", "failed"):
            continue
        reason = sql.not_applicable_after_run(spec, rec["num_denominator_rows"] or 0,
                                              field_is_empty=(spec.table, spec.field) in empty)
        if reason is not None:
            rec.update(status="not_applicable", not_applicable_reason=reason)


def _first_line(message: str) -> str:
    message = str(message).strip()
    return message.splitlines()[0][:500] if message else "error"
