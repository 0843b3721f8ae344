"""The validate stage: staging suites and OMOP checks on the run's work database, reports, history, gate.

Runs after ``map`` and before ``load``: nothing reaches the warehouse (or, later,
a release) unless no fatal check failed.  Writes, in ``runs/<run_id>/quality/``:

* ``quality.json`` — every check record (DQD vocabulary), the staging
  expectation results, the overview and the outcome;
* ``quality_summary.html`` — the one-page summary with the changes since the
  previous run of the same site and the figures over runs;
* ``gx/`` — the Great Expectations project of the run, with its Data Docs
  (``gx/uncommitted/data_docs/local_site/index.html``).

and appends the run to the site's history in ``<workdir>/quality/<site>/``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from crossbridge.ledger import Run, write_json_atomic
from crossbridge.settings import Settings


def quality_dir(run: Run) -> Path:
    return run.path("quality")


def history_dir(settings: Settings, site: str) -> Path:
    return settings.workdir / "quality" / site


def validate_run(run: Run, settings: Settings, site: str, file_types, table_columns) -> dict[str, Any]:
    """Validate the run's staging and OMOP tables; write reports; raise QualityGateFailed on fatal failures."""
    from crossbridge.pipeline import common
    from crossbridge.pipeline.partitions import partition_check_totals
    from validators import history, quality_report
    from validators.gate import gate, load_thresholds
    from validators.gx_engine import open_session
    from validators.omop_run import validate_omop
    from validators.sql_text import quote_literal
    from validators.staging_suites import run_staging_suites

    qdir = quality_dir(run)
    qdir.mkdir(parents=True, exist_ok=True)
    vocab_path, _ = common.ensure_vocabulary(settings)
    mapped = run.stage_report("map")
    written = sorted(t for t in mapped["rows_out"])
    overrides = load_thresholds(settings.quality_thresholds, site)

    counted = partition_check_totals(run)
    session = open_session(run.path("omop.duckdb"), project_dir=qdir / "gx",
                           init_sql=(f"ATTACH {quote_literal(str(vocab_path))} AS vocab (READ_ONLY)",))
    try:
        # the staging suites run in a second thread, on their own connection, while this one runs the
        # OMOP checks: each spends about half its time in DuckDB (which releases the GIL), so on two
        # cores the two overlap (docs/performance.md)
        staging_session = session.sibling()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="staging-suites") as pool:
                staging_job = pool.submit(run_staging_suites, staging_session, file_types, table_columns,
                                          today=common.staging_day(run), data_docs_run=run.run_id,
                                          counted=counted["staging"])
                try:
                    result = validate_omop(session, database_label=str(run.path("omop.duckdb")), tables=written,
                                           overrides=overrides, data_docs=True, build_data_docs=False,
                                           run_name=run.run_id, counted=counted["counts"],
                                           counted_errors=counted["errors"])
                finally:
                    wait([staging_job])  # never leave the staging thread running on a closing session
                staging = staging_job.result()
        finally:
            staging_session.close()
        docs = session.build_data_docs()  # staging and OMOP results together
        result.data_docs = str(docs) if docs else None
    finally:
        session.close()

    staging_failed = [s for s in staging if s["status"] != "passed"]
    doc = result.quality_doc(run_id=run.run_id, site=site, staging=staging,
                             rows_out={k: int(v) for k, v in mapped["rows_out"].items()},
                             thresholds=overrides, data_docs=_relative(result.data_docs, qdir))
    outcome = doc["outcome"]
    write_json_atomic(qdir / "quality.json", doc)
    hist_dir = history_dir(settings, site)
    previous = history.previous_entry(history.load_history(hist_dir), run.run_id)
    history.record_run(hist_dir, doc)
    entries = history.load_history(hist_dir)
    changes = history.compare(previous, doc)
    page = quality_report.write_summary(qdir, doc, entries, changes, data_docs_href=doc["data_docs"])
    report = {
        "outcome": outcome,
        "overview": doc["overview"],
        "staging": {"expectations": len(staging), "failed": len(staging_failed)},
        "fatal_failed": [c["check_id"] for c in result.failed("fatal")],
        "report": str(page),
        "data_docs": result.data_docs,
        "quality_json": str(qdir / "quality.json"),
        "seconds": round(result.seconds, 3),
        "counted_in_partitions": len(counted["counts"]) + len(counted["errors"]),
        "staging_counted_in_partitions": len(counted["staging"]["counts"]) + len(counted["staging"]["errors"]),
    }
    if result.outcome == "failed":  # keep the verdict in summary.json: the gate fails the stage below
        data = run.summary()
        data["quality"] = {"outcome": "failed", "validation": report}
        write_json_atomic(run.summary_path, data)
    gate(result.checks, site=site, run_id=run.run_id, report=str(page))
    return report


def _relative(path: str | None, base: Path) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path
