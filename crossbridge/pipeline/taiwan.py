"""The Taiwan site pipeline: extract -> stage -> map -> load -> summarise.

Each stage is a plain function of (run, settings) that reads what the previous
stage wrote in the run folder and writes its own report through the ledger.
The CLI calls them in sequence; the Airflow DAG ``tw_nhird_to_omop`` calls the
same functions, one task each, passing only the run reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from connectors.taiwan import layout
from crossbridge.ledger import Run
from crossbridge.pipeline import common
from crossbridge.settings import Settings

SITE = "taiwan"


def start_run(settings: Settings, run_id: str | None = None) -> Run:
    return common.start_run(settings, SITE, run_id)


def extract(run: Run, settings: Settings) -> dict[str, Any]:
    """Inventory the landing zone: which files, of which type, how large."""
    with run.stage("extract") as report:
        report.update(common.inventory(Path(settings.landing), layout.identify))
    return run.stage_report("extract")


def stage(run: Run, settings: Settings, progress=None) -> dict[str, Any]:
    """Read, type, validate and pseudonymise raw files; consolidate claims."""
    from connectors.taiwan.consolidate import consolidate_taiwan
    from connectors.taiwan.stage import stage_taiwan

    staging = run.path("staging")
    with run.stage("stage") as report:
        read = stage_taiwan(
            Path(settings.landing),
            staging,
            settings.require_secret(),
            encoding=settings.encoding,
            chunk_bytes=settings.chunk_bytes,
            progress=progress,
            workers=settings.stage_workers,
        )
        cons = consolidate_taiwan(
            staging, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads
        )
        report["read"] = read.to_dict()
        report["consolidate"] = cons.to_dict()
    return run.stage_report("stage")


def map_to_omop(run: Run, settings: Settings) -> dict[str, Any]:
    """Build the OMOP CDM v5.4 tables in the run's work database."""
    from mappings.omop_cdm_v54.build import build_omop

    with run.stage("map") as report:
        con, vocab = common.open_work_db(run, settings)
        try:
            common.register_staging_views(con, run.path("staging", "tables"), layout.FILE_TYPES)
            result = build_omop(con, common.cdm_source_meta(run, settings, SITE, vocab))
            report.update(result.to_dict())
            report["vocabulary"] = vocab
        finally:
            con.close()
    return run.stage_report("map")


def load(run: Run, settings: Settings) -> dict[str, Any]:
    """Replace the warehouse tables with this run's tables (per-table atomic)."""
    with run.stage("load") as report:
        vocab_path, _ = common.ensure_vocabulary(settings)
        report.update(common.load_warehouse(run, settings.warehouse_url(SITE), vocab_path))
    return run.stage_report("load")


def summarise(run: Run, settings: Settings) -> dict[str, Any]:
    """Reconcile counts, compute coverage and the quality outcome; finish the run."""
    return common.summarise(run, settings, SITE)


def run_all(settings: Settings, progress=None, run_id: str | None = None) -> Run:
    """Every stage in sequence in this process (the CLI's --no-airflow path)."""
    run = start_run(settings, run_id)
    extract(run, settings)
    stage(run, settings, progress=progress)
    map_to_omop(run, settings)
    load(run, settings)
    summarise(run, settings)
    return run
