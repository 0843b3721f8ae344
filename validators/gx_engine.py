"""Great Expectations over the hub's databases: one ephemeral context per validation.

GX 1.x runs SQL expectations through SQLAlchemy.  PostgreSQL is supported out of
the box; DuckDB goes through the ``duckdb_engine`` dialect, with one adjustment:
GX reads a query's result *after* returning the connection to the pool, which
works for drivers that buffer results but not for DuckDB, whose result set dies
with the cursor.  GX already keeps one persistent connection for SQLite and a
few others for a similar reason (temporary tables); :func:`_enable_duckdb`
adds DuckDB to that list.  A test (``tests/unit/validators/test_gx_engine.py``)
fails loudly if a GX upgrade changes this.

GX takes about 5-7 s to import, so this module imports it only inside functions.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_DUCKDB_ENABLED = False
_MEMO_LOCK = threading.Lock()
_MEMO: dict[str, Any] = {"depth": 0, "cache": {}, "plain": None}  # see configurations_memoised


class ValidationSetupError(RuntimeError):
    """The validation could not be set up (unknown database URL, GX incompatibility)."""


class _DialectName(str):
    """A dialect name GX's persisted-connection check can compare (it reads ``.value``)."""

    @property
    def value(self) -> str:
        return str(self)


def _enable_duckdb() -> None:
    global _DUCKDB_ENABLED
    if _DUCKDB_ENABLED:
        return
    from great_expectations.execution_engine import sqlalchemy_execution_engine as se

    dialects = getattr(se, "_PERSISTED_CONNECTION_DIALECTS", None)
    if dialects is None:
        raise ValidationSetupError(
            "great_expectations no longer has _PERSISTED_CONNECTION_DIALECTS; "
            "validators/gx_engine.py must be adapted to this GX version"
        )
    if not any(str(getattr(d, "value", d)) == "duckdb" for d in dialects):
        se._PERSISTED_CONNECTION_DIALECTS = (*dialects, _DialectName("duckdb"))
    _DUCKDB_ENABLED = True


def gx():
    """The ``great_expectations`` module, imported on first use (quietly)."""
    import great_expectations

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    _enable_duckdb()
    return great_expectations


@contextmanager
def configurations_memoised() -> Iterator[None]:
    """While validating, build each expectation's ``configuration`` once instead of on every read.

    GX 1.x builds an ``Expectation.configuration`` afresh (a pydantic ``dict()`` and an
    ``ExpectationConfiguration``) each time it is read, and validation reads it about 38 times per
    expectation, once per domain, success and runtime key (``_get_success_kwargs``): on the 1M-row
    Taiwan run that was a third of GX's own time.  Nothing changes an expectation while a batch
    is validated, so the first configuration built is the one every later read would build.

    The memoised property is class-wide: it is installed when the first validation (of any
    thread) starts and GX's own restored when the last one ends.  Each cached value is held with
    its expectation, so an id is never confused with a later object's.
    ``tests/unit/validators/test_gx_engine.py`` checks that results are the same with and
    without, and fails loudly if a GX upgrade removes the property.
    """
    from great_expectations.expectations.expectation import Expectation

    with _MEMO_LOCK:
        if _MEMO["depth"] == 0:
            plain = Expectation.__dict__.get("configuration")
            if not isinstance(plain, property) or plain.fget is None:
                raise ValidationSetupError("great_expectations' Expectation.configuration is no longer a property; "
                                           "validators/gx_engine.py must be adapted to this GX version")
            build = plain.fget
            cache: dict[int, tuple[Any, Any]] = _MEMO["cache"]

            def configuration(self):
                hit = cache.get(id(self))
                if hit is None or hit[0] is not self:
                    hit = (self, build(self))
                    cache[id(self)] = hit
                return hit[1]

            _MEMO["plain"] = plain
            Expectation.configuration = property(configuration, doc=plain.__doc__)
        _MEMO["depth"] += 1
    try:
        yield
    finally:
        with _MEMO_LOCK:
            _MEMO["depth"] -= 1
            if _MEMO["depth"] == 0:
                Expectation.configuration = _MEMO["plain"]
                _MEMO["cache"].clear()


def exception_message(info: dict | None) -> str | None:
    """The first raised exception's message in a GX result's ``exception_info``, else None.

    GX gives it flat (``raised_exception``, ``exception_message``) or, when a metric
    failed, one such dict per metric configuration.
    """
    if not info:
        return None
    if "raised_exception" in info:
        return str(info.get("exception_message") or "error") if info.get("raised_exception") else None
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")
    return None


def sqlalchemy_url(database: str | os.PathLike) -> str:
    """SQLAlchemy URL for a DuckDB file path / ``duckdb:PATH`` or a ``postgresql://`` URL."""
    s = os.fspath(database)
    if s.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        # the hub's ``schema=`` / ``vocab_schema=`` parameters are not libpq's: callers pass schemas separately
        parts = urlsplit(s)
        query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                           if k not in ("schema", "vocab_schema")])
        return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=query))
    if s.startswith("duckdb:///"):
        return s
    if s.startswith("duckdb:"):
        s = s[len("duckdb:"):]
    if "://" in s:
        raise ValidationSetupError(f"unsupported database for validation: {s!r} (use a DuckDB path or postgresql://)")
    return "duckdb:///" + str(Path(s).resolve())


#: suffix of the Data Docs suites that show checks counted in the person partitions (``<suite>.<suffix>``)
COUNTED_SUITE_SUFFIX = "counted_in_partitions"


@dataclass
class GxSession:
    """An ephemeral GX context with one SQL data source (one database), and the context that keeps
    results and Data Docs (``docs_context``: a file-mode project, or the ephemeral context itself).

    The data source lives in the ephemeral context even with a project: in a file-mode context
    every table asset added rewrites ``great_expectations.yml`` with all assets so far (5.3 s
    for the 27 tables of a 1M-row Taiwan run), and the Data Docs need only the stored results.
    """

    context: Any
    datasource: Any
    dialect: str  # "duckdb" | "postgresql"
    docs_context: Any = None
    url: str = ""  # the SQLAlchemy URL (what sibling sessions connect to)
    connect_kwargs: dict = field(default_factory=dict)
    docs_lock: Any = field(default_factory=threading.Lock)  # shared by siblings: one writer of the results store

    def __post_init__(self) -> None:
        if self.docs_context is None:
            self.docs_context = self.context

    def sibling(self) -> GxSession:
        """A second session on the same database, context and Data Docs, with its own connection:
        another thread can validate with it while this one does (a DuckDB connection runs one
        query at a time).  On DuckDB both connections share the database instance, so what
        ``init_sql`` attached is visible to both.  Close it like any session."""
        datasource = _add_datasource(self.context, self.url, self.connect_kwargs)
        session = GxSession(context=self.context, datasource=datasource, dialect=self.dialect,
                            docs_context=self.docs_context, url=self.url, connect_kwargs=self.connect_kwargs,
                            docs_lock=self.docs_lock)
        if self.dialect == "duckdb":
            _roll_back_after_errors(datasource.get_execution_engine())
        return session

    def batch_definition(self, table: str, schema: str | None = None):
        """Whole-table batch definition for ``table`` (asset created on first use)."""
        name = f"{schema}.{table}" if schema else table
        try:
            asset = self.datasource.get_asset(name)
        except LookupError:
            asset = self.datasource.add_table_asset(name=name, table_name=table, schema_name=schema)
        try:
            return asset.get_batch_definition("all")
        except KeyError:
            return asset.add_batch_definition_whole_table("all")

    def validate(self, suite, table: str, schema: str | None = None, result_format: str = "SUMMARY"):
        """Run ``suite`` on the whole of ``table``; returns the GX suite validation result.

        Validates the batch directly (``Batch.validate``): a validation
        definition or checkpoint would also store the suite and compare it with
        the stored copy on every run, which costs more than the checks
        themselves on suites of hundreds of SQL expectations (measured: 1.8 s
        against 0.9 s for 308 checks whose SQL alone takes 0.65 s).  Results
        reach the Data Docs through :meth:`publish`.
        """
        batch = self.batch_definition(table, schema).get_batch()
        with configurations_memoised():
            return batch.validate(suite, result_format=result_format)

    def publish(self, suite, result, run_name: str, batch_name: str) -> None:
        """Keep the ``result`` of ``suite`` in the (file-mode) project so the Data Docs show it."""
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        # only the result is stored: the result pages of the Data Docs render from it alone, and storing
        # the suite (suites.add_or_update) compares expectations pairwise, quadratic in the suite's size
        run_id = RunIdentifier(run_name=run_name)
        result.meta["run_id"] = run_id
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
            run_id=run_id,
            batch_identifier=batch_name,
        )
        with self.docs_lock:
            self.docs_context.validation_results_store.set(key, result)

    def publish_counted(self, name: str, expectations: list, results: list, asset: str, run_name: str,
                        batch_name: str) -> None:
        """Publish, as suite ``name`` on the data asset ``asset``, results GX did not compute itself
        (checks counted in the person partitions): ``results`` are the ``ExpectationValidationResult``
        of ``expectations``, in order; the suite's statistics are derived from them."""
        from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult

        passed = sum(1 for r in results if r.success)
        suite = gx().ExpectationSuite(name=name, expectations=list(expectations))
        result = ExpectationSuiteValidationResult(
            success=passed == len(results), results=list(results), suite_name=name,
            statistics={"evaluated_expectations": len(results), "successful_expectations": passed,
                        "unsuccessful_expectations": len(results) - passed,
                        "success_percent": 100.0 * passed / len(results) if results else None},
            meta={"active_batch_definition": {"datasource_name": "person partitions", "data_asset_name": asset},
                  "batch_markers": {}, "batch_spec": {"counted_in": "person partitions", "table_name": asset,
                                                      "data_asset_name": asset}})
        self.publish(suite, result, run_name=run_name, batch_name=batch_name)

    def build_data_docs(self) -> Path | None:
        """Render the Data Docs of everything published; the index page's path."""
        with self.docs_lock:
            self.docs_context.build_data_docs()
        return self.data_docs_index()

    def data_docs_index(self) -> Path | None:
        """Path of the Data Docs index page (file-mode contexts), if it was built."""
        for site in self.docs_context.get_docs_sites_urls():
            url = site.get("site_url") or ""
            if url.startswith("file://"):
                path = Path(url[len("file://"):])
                if path.exists():
                    return path
        return None

    def execute(self, sql: str) -> list[tuple]:
        """Run one SQL statement on the session's connection; rows as tuples."""
        from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa

        result = self.datasource.get_execution_engine().execute_query(sa.text(sql))
        return [tuple(r) for r in result.fetchall()] if result.returns_rows else []

    def close(self) -> None:
        """Close every database connection GX holds for this session (the DuckDB file is free after)."""
        execution_engine = getattr(self.datasource, "_execution_engine", None)
        if execution_engine is not None:
            conn = getattr(execution_engine, "_connection", None)
            if conn is not None:
                conn.close()
                execution_engine._connection = None
            execution_engine.engine.dispose()
        engine = getattr(self.datasource, "_engine", None)  # the engine GX tested the connection with
        if engine is not None:
            engine.dispose()


def open_session(database: str | os.PathLike, *, read_only: bool = True, project_dir: str | os.PathLike | None = None,
                 init_sql: tuple[str, ...] = ()) -> GxSession:
    """A GX context validating ``database`` (DuckDB path / URL or PostgreSQL URL).

    Ephemeral by default; with ``project_dir`` a file-mode GX project there (it
    keeps suites, results and Data Docs).  ``init_sql`` statements run first on
    the session's connection (DuckDB: e.g. ``ATTACH`` the vocabulary store; the
    connection is persistent, see the module docstring).
    """
    g = gx()
    url = sqlalchemy_url(database)
    dialect = "postgresql" if url.startswith("postgresql") else "duckdb"
    if init_sql and dialect != "duckdb":
        raise ValidationSetupError("init_sql is only supported on DuckDB sessions")
    context = g.get_context(mode="ephemeral")
    _quiet(context)
    docs_context = None
    if project_dir is not None:
        Path(project_dir).mkdir(parents=True, exist_ok=True)
        docs_context = g.get_context(mode="file", project_root_dir=str(project_dir))
        _quiet(docs_context)
    kwargs: dict[str, Any] = {}
    if dialect == "duckdb":
        kwargs["connect_args"] = {"read_only": read_only}
    datasource = _add_datasource(context, url, kwargs)
    session = GxSession(context=context, datasource=datasource, dialect=dialect, docs_context=docs_context,
                        url=url, connect_kwargs=kwargs)
    if dialect == "duckdb":
        _roll_back_after_errors(datasource.get_execution_engine())
    for stmt in init_sql:
        session.execute(stmt)
    if init_sql:  # DuckDB undoes an ATTACH with the transaction it ran in: make it stick
        session.datasource.get_execution_engine()._connection.commit()
    return session


def _add_datasource(context, url: str, kwargs: dict):
    name = f"db-{uuid.uuid4().hex[:8]}"
    with warnings.catch_warnings():  # "a more specific PostgresDatasource may be more appropriate": same engine
        warnings.simplefilter("ignore")
        return context.data_sources.add_sql(name=name, connection_string=url, kwargs=kwargs)


def _roll_back_after_errors(execution_engine) -> None:
    """A failed statement leaves DuckDB's transaction aborted, and every later query on the
    persistent connection would fail with it; GX only recovers from SQLAlchemy's own rollback
    errors.  An engine-level error hook rolls the DuckDB connection back after any failed
    statement (whichever GX path ran it), so one broken check stays one error."""
    import duckdb
    from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa

    def roll_back(context) -> None:
        conn = context.connection
        if conn is None:
            return
        try:
            conn.connection.dbapi_connection.rollback()
        except duckdb.TransactionException:  # no transaction was open: nothing to undo
            pass

    sa.event.listen(execution_engine.engine, "handle_error", roll_back)


def _quiet(context) -> None:
    """No progress bars on stderr (runs are logged, not watched on a terminal)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
