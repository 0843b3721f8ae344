"""One site's pipeline: extract -> stage -> map -> validate -> load -> export_fhir -> summarise, the same for every site.

Each stage is a plain function of (site, run, settings) that reads what the
previous stage wrote in the run folder and writes its own report through the
ledger.  A :class:`SitePipeline` names what differs between sites: how landing
files are recognised, the staging and consolidation functions, the staging
tables and the OMOP mappings.  ``crossbridge/pipeline/<site>.py`` declares one
and exposes the stages as module functions (what the DAGs and the CLI call).
"""

from __future__ import annotations

import inspect

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crossbridge.ledger import Run
from crossbridge.pipeline import common
from crossbridge.settings import Settings


@dataclass(frozen=True)
class SitePipeline:
    site: str
    dag_id: str
    layout_module: str  # e.g. "connectors.taiwan.layout" (identify, FILE_TYPES)
    stage_function: str  # "module:function" (landing, staging, secret, encoding, chunk_bytes, progress, workers)
    consolidate_function: str  # "module:function" (staging, memory_limit=, threads=)
    table_columns_function: str  # "module:function" (file type -> [(name, arrow type)]) of consolidated staging
    site_mapping: str  # "module:attribute" of the mappings.omop_cdm_v54 SiteMapping
    encoding_setting: bool  # whether settings.encoding applies to this site's raw files
    #: (keyword, setting name) pairs passed to the stage function as keywords (inbound feeds: their site)
    stage_settings: tuple[tuple[str, str], ...] = ()

    @property
    def layout(self):
        return importlib.import_module(self.layout_module)

    def profile_site(self, settings: Settings) -> str | None:
        """Whose national FHIR profiles the run's export declares: the site's own, or for an inbound
        feed the ``feed_site`` setting (no site: FHIR core profiles, ``urn:crossbridge:pseudonym:omop``)."""
        from terminology.fhir_profiles import IMPLEMENTATION_GUIDES

        return self.site if self.site in IMPLEMENTATION_GUIDES else (settings.feed_site or None)


def resolve_ref(ref: str) -> Any:
    """The object a ``module:attribute`` reference names."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def start_run(p: SitePipeline, settings: Settings, run_id: str | None = None) -> Run:
    return common.start_run(settings, p.site, run_id)


def extract(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """Inventory the landing zone: which files, of which type, how large (a remote landing zone,
    ``s3://...``, is first copied into the run folder, see :mod:`connectors.landing`)."""
    from connectors.landing import fetch_landing, is_remote

    with run.stage("extract") as report:
        if is_remote(settings.landing):
            report["fetch"] = fetch_landing(settings.landing, common.landing_dir(run, settings),
                                            endpoint_url=settings.s3_endpoint_url or None)
        report.update(common.inventory(common.landing_dir(run, settings), p.layout.identify))
        if is_remote(settings.landing):
            report["landing"] = settings.landing
    return run.stage_report("extract")


def stage(p: SitePipeline, run: Run, settings: Settings, progress: Callable | None = None) -> dict[str, Any]:
    """Read, type, validate and pseudonymise raw files; consolidate."""
    staging = run.path("staging")
    with run.stage("stage") as report:
        read = resolve_ref(p.stage_function)(
            common.landing_dir(run, settings),
            staging,
            settings.require_secret(),
            settings.encoding if p.encoding_setting else None,
            settings.chunk_bytes,
            progress,
            settings.stage_workers,
            **{kw: getattr(settings, name) or None for kw, name in p.stage_settings},
        )
        n = int(settings.partitions)
        consolidate = resolve_ref(p.consolidate_function)
        # a consolidation that can split tables/ into the person partitions as it writes them does so
        fused = n > 1 and "partitions" in inspect.signature(consolidate).parameters
        cons = consolidate(staging, memory_limit=settings.duckdb_memory_limit, threads=settings.duckdb_threads,
                           **({"partitions": n} if fused else {}))
        report["read"] = read.to_dict()
        report["consolidate"] = cons.to_dict()
        report["partitions"] = n
        if n > 1:
            from crossbridge.pipeline.partitions import split_staging

            report["partition"] = split_staging(p, run, settings, n, cons.partition if fused else None)
    return run.stage_report("stage")


def partition_numbers(run: Run) -> list[int]:
    """The partitions of a staged run, 0..N-1 (what the DAG's mapped map task expands over)."""
    from crossbridge.pipeline.partitions import partitions_of

    return list(range(partitions_of(run)))


def map_partition(p: SitePipeline, run: Run, settings: Settings, k: int) -> dict[str, Any]:
    """Build partition ``k``'s OMOP tables (a no-op when the run is not partitioned)."""
    from crossbridge.pipeline.partitions import map_partition as _map_partition

    return _map_partition(p, run, settings, k)


def map_to_omop(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """Build the OMOP CDM v5.4 tables in the run's work database; for a partitioned run, merge the
    tables every partition's :func:`map_partition` built (fails naming a partition that has not)."""
    from mappings.omop_cdm_v54.build import build_omop
    from crossbridge.pipeline import partitions

    with run.stage("map") as report:
        con, vocab = common.open_work_db(run, settings)
        try:
            common.register_staging_views(  # the whole staging (what the staging suites check)
                con, run.path("staging", "tables"), p.layout.FILE_TYPES, resolve_ref(p.table_columns_function)
            )
            if partitions.partitions_of(run) > 1:
                report.update(partitions.merge(p, run, settings, con, vocab))
                report["vocabulary"] = vocab
                return
            result = build_omop(con, common.cdm_source_meta(run, settings, p.site, vocab),
                                site=resolve_ref(p.site_mapping))
            report.update(result.to_dict())
            report["vocabulary"] = vocab
        finally:
            con.close()
    return run.stage_report("map")


def validate(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """The quality gate: staging suites and OMOP checks; fatal failures stop the run before ``load``."""
    from crossbridge.pipeline.quality import validate_run

    with run.stage("validate") as report:
        report.update(validate_run(run, settings, p.site, p.layout.FILE_TYPES, resolve_ref(p.table_columns_function)))
    return run.stage_report("validate")


def load(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """Replace the warehouse tables with this run's tables (per-table atomic)."""
    with run.stage("load") as report:
        vocab_path, _ = common.ensure_vocabulary(settings)
        report.update(common.load_warehouse(run, settings.warehouse_url(p.site), vocab_path))
    return run.stage_report("load")


def export_fhir(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """FHIR R4 NDJSON of the run's OMOP tables in ``runs/<id>/fhir/``, checked by the FHIR suite.

    Off when ``settings.fhir_export`` is false.  An export that fails the suite (a check
    failed, or could not run) fails the stage (:class:`~crossbridge.pipeline.fhir.FhirExportFailed`): it is the hub's own output.
    """
    from crossbridge.pipeline.fhir import FhirExportFailed, export_run

    with run.stage("export_fhir") as report:
        if not settings.fhir_export:
            report["skipped"] = "fhir_export is off"
        else:
            report.update(export_run(run, settings, p.profile_site(settings)))
            v = report.get("validation")
            if v is not None and v["outcome"] in ("failed", "error"):
                raise FhirExportFailed(
                    f"the FHIR export in {report['out_dir']} fails the FHIR quality suite: "
                    + "; ".join(f"{f['check']} [{f['resource_type']}]: {f['detail']}" for f in v["failed_checks"]))
    return run.stage_report("export_fhir")


def summarise(p: SitePipeline, run: Run, settings: Settings) -> dict[str, Any]:
    """Reconcile counts, compute coverage and the quality outcome; finish the run."""
    return common.summarise(run, settings, p.site)


def run_all(p: SitePipeline, settings: Settings, progress: Callable | None = None, run_id: str | None = None) -> Run:
    """Every stage in sequence in this process (the CLI's --no-airflow path)."""
    run = start_run(p, settings, run_id)
    extract(p, run, settings)
    stage(p, run, settings, progress=progress)
    for k in partition_numbers(run):  # one after the other here; Airflow runs them as mapped tasks
        map_partition(p, run, settings, k)
    map_to_omop(p, run, settings)
    validate(p, run, settings)
    load(p, run, settings)
    export_fhir(p, run, settings)
    summarise(p, run, settings)
    return run


def stage_functions(p: SitePipeline) -> tuple:
    """(start_run, extract, stage, map_to_omop, validate, load, export_fhir, summarise, run_all) bound to ``p``:
    what a site module exports (``crossbridge/pipeline/<site>.py``)."""
    s = Stages(p)
    return (s.start_run, s.extract, s.stage, s.map_to_omop, s.validate, s.load, s.export_fhir, s.summarise,
            s.run_all)


class Stages:
    """The stages of one site bound to its :class:`SitePipeline` (what a site module exports)."""

    def __init__(self, pipeline: SitePipeline):
        self.pipeline = pipeline

    def start_run(self, settings: Settings, run_id: str | None = None) -> Run:
        return start_run(self.pipeline, settings, run_id)

    def extract(self, run: Run, settings: Settings) -> dict[str, Any]:
        return extract(self.pipeline, run, settings)

    def stage(self, run: Run, settings: Settings, progress: Callable | None = None) -> dict[str, Any]:
        return stage(self.pipeline, run, settings, progress)

    def map_to_omop(self, run: Run, settings: Settings) -> dict[str, Any]:
        return map_to_omop(self.pipeline, run, settings)

    def validate(self, run: Run, settings: Settings) -> dict[str, Any]:
        return validate(self.pipeline, run, settings)

    def load(self, run: Run, settings: Settings) -> dict[str, Any]:
        return load(self.pipeline, run, settings)

    def export_fhir(self, run: Run, settings: Settings) -> dict[str, Any]:
        return export_fhir(self.pipeline, run, settings)

    def summarise(self, run: Run, settings: Settings) -> dict[str, Any]:
        return summarise(self.pipeline, run, settings)

    def run_all(self, settings: Settings, progress: Callable | None = None, run_id: str | None = None) -> Run:
        return run_all(self.pipeline, settings, progress, run_id)
