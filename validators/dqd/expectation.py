"""The DQD check as a Great Expectations expectation: ``expect_dqd_check_to_pass``.

One expectation per check instance.  Its metric runs the check's SQL (from
:mod:`validators.dqd.sql`, one aggregate query returning ``num_violated_rows``
and ``num_denominator_rows``) through GX's SQLAlchemy execution engine, so the
work is pushed down to the database; the expectation succeeds when the share of
violated rows, in percent, is at most the threshold (the DQD rule).  Checks whose
queries share their FROM/JOIN/WHERE (most checks of a table) share one query, each
expectation reading its own pair of counts from the row (``dqd_index``): the table is
scanned once, and the check is still its own expectation with its own result.

GX resolves custom expectations and metrics through registries filled at class
definition, so :func:`register` must run before a suite holding these
expectations is built or loaded (DESIGN: import custom expectations first).
Both classes are defined inside :func:`register` to keep GX out of module
import (it takes seconds).
"""

from __future__ import annotations

from typing import Any

from validators.gx_engine import gx

EXPECTATION_TYPE = "expect_dqd_check_to_pass"
METRIC_NAME = "crossbridge.dqd_check_counts"

_CLASSES: dict[str, Any] = {}
# group query -> its checks' own queries: when a group query fails, each check runs on its own, so
# one bad check errors alone (as it would without groups) and the others keep their counts
_GROUP_MEMBERS: dict[str, tuple[str, ...]] = {}


def register_group(group_query: str, member_queries: list[str]) -> None:
    """Remember the checks' own queries of ``group_query`` (see :func:`validators.dqd.sql.group_sql`)."""
    _GROUP_MEMBERS[group_query] = tuple(member_queries)


def forget_groups() -> None:
    _GROUP_MEMBERS.clear()


def passes(violated: int, denominator: int, threshold: float) -> bool:
    """The DQD rule: the share of violated rows, in percent, is at most the threshold."""
    return (violated / denominator if denominator else 0.0) * 100.0 <= float(threshold)


def check_result(check_id: str, violated: int, denominator: int, threshold: float) -> dict[str, Any]:
    """The expectation's result for a check's counts (also what the Data Docs show for checks
    counted outside GX, :func:`validators.omop_run.validate_omop`)."""
    return {
        "success": passes(violated, denominator, threshold),
        "result": {
            "observed_value": violated / denominator if denominator else 0.0,
            "details": {
                "check_id": check_id,
                "num_violated_rows": violated,
                "num_denominator_rows": denominator,
                "threshold_value": float(threshold),
            },
        },
    }


class CheckQueryError(RuntimeError):
    """A check's own query failed (after its group's query failed)."""


def register() -> Any:
    """Define (once) and return the ``ExpectDqdCheckToPass`` expectation class."""
    if "expectation" in _CLASSES:
        return _CLASSES["expectation"]
    gx()  # imports GX and enables DuckDB
    from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
    from great_expectations.execution_engine import SqlAlchemyExecutionEngine
    from great_expectations.expectations.expectation import BatchExpectation
    from great_expectations.expectations.metrics.metric_provider import metric_value
    from great_expectations.expectations.metrics.query_metric_provider import QueryMetricProvider

    def counts(execution_engine, query: str) -> tuple[int, ...]:
        row = execution_engine.execute_query(sa.text(query)).fetchone()
        if row is None:
            raise RuntimeError("the check query returned no row")
        return tuple(int(v or 0) for v in row)

    class DqdCheckCounts(QueryMetricProvider):
        """The row of one DQD check query ``(num_violated_rows, num_denominator_rows)``, or of a group
        query ``(v_0, d_0, v_1, d_1, ...)``; expectations of one group share it (GX computes a metric
        once per distinct query).  A failed group query falls back to each check's own query: its
        place in the row then holds a :class:`CheckQueryError` instead of the counts."""

        metric_name = METRIC_NAME
        value_keys = ("dqd_query",)

        @metric_value(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                        runtime_configuration) -> tuple:
            query = metric_value_kwargs["dqd_query"]
            members = _GROUP_MEMBERS.get(query)
            try:
                return counts(execution_engine, query)
            except Exception as exc:
                if not members:
                    raise
                group_error = exc
            row: list = []
            for member in members:  # checks, not rows: a group holds a table's checks
                try:
                    row.extend(counts(execution_engine, member)[:2])
                except Exception as exc:  # this check errors; the group's others keep their counts
                    error = CheckQueryError(f"{exc} (its group query failed too: {str(group_error)[:200]})")
                    row.extend((error, error))
            return tuple(row)

    class ExpectDqdCheckToPass(BatchExpectation):
        """Expect a DataQualityDashboard check to pass: violated rows, in percent, at most ``threshold``."""

        check_id: str
        check_name: str
        dqd_query: str
        threshold: float = 0.0
        severity_level: str = "fatal"
        dqd_index: int = 0  # the check's place in a group query's row (0: its own query)

        metric_dependencies = (METRIC_NAME,)
        success_keys = ("dqd_query", "dqd_index", "threshold")
        domain_keys = ("batch_id",)
        args_keys = ("check_id",)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                      execution_engine: Any = None) -> dict:
            row = metrics[METRIC_NAME]
            violated, denominator = row[2 * self.dqd_index], row[2 * self.dqd_index + 1]
            if isinstance(violated, Exception):
                raise violated
            return check_result(self.check_id, violated, denominator, self.threshold)

    _CLASSES["metric"] = DqdCheckCounts
    _CLASSES["expectation"] = ExpectDqdCheckToPass
    return ExpectDqdCheckToPass
