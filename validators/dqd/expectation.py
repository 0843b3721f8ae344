"""The DQD check as a Great Expectations expectation: ``expect_dqd_check_to_pass``.

One expectation per check instance.  Its metric runs the check's SQL (from
:mod:`validators.dqd.sql`, one aggregate query returning ``num_violated_rows``
and ``num_denominator_rows``) through GX's SQLAlchemy execution engine, so the
work is pushed down to the database; the expectation succeeds when the share of
violated rows, in percent, is at most the threshold (the DQD rule).

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

    class DqdCheckCounts(QueryMetricProvider):
        """``(num_violated_rows, num_denominator_rows)`` of one DQD check query."""

        metric_name = METRIC_NAME
        value_keys = ("dqd_query",)

        @metric_value(engine=SqlAlchemyExecutionEngine)
        def _sqlalchemy(cls, execution_engine, metric_domain_kwargs, metric_value_kwargs, metrics,
                        runtime_configuration) -> tuple[int, int]:
            row = execution_engine.execute_query(sa.text(metric_value_kwargs["dqd_query"])).fetchone()
            if row is None:
                raise RuntimeError("the check query returned no row")
            return int(row[0] or 0), int(row[1] or 0)

    class ExpectDqdCheckToPass(BatchExpectation):
        """Expect a DataQualityDashboard check to pass: violated rows, in percent, at most ``threshold``."""

        check_id: str
        check_name: str
        dqd_query: str
        threshold: float = 0.0
        severity_level: str = "fatal"

        metric_dependencies = (METRIC_NAME,)
        success_keys = ("dqd_query", "threshold")
        domain_keys = ("batch_id",)
        args_keys = ("check_id",)

        def _validate(self, metrics: dict, runtime_configuration: dict | None = None,
                      execution_engine: Any = None) -> dict:
            violated, denominator = metrics[METRIC_NAME]
            pct = violated / denominator if denominator else 0.0
            return {
                "success": pct * 100.0 <= float(self.threshold),
                "result": {
                    "observed_value": pct,
                    "details": {
                        "check_id": self.check_id,
                        "num_violated_rows": violated,
                        "num_denominator_rows": denominator,
                        "threshold_value": float(self.threshold),
                    },
                },
            }

    _CLASSES["metric"] = DqdCheckCounts
    _CLASSES["expectation"] = ExpectDqdCheckToPass
    return ExpectDqdCheckToPass
