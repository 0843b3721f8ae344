"""The inbound FHIR feed (Kanta-style partner data): extract -> stage -> map -> validate -> load -> export_fhir -> summarise.

Landing files are FHIR R4 NDJSON (one resource per line, Bulk Data style) and JSON
documents (a resource or a Bundle), optionally gzipped (:mod:`connectors.fhir_in.layout`).
The stages are the sites' own (:mod:`crossbridge.pipeline.site`): the read step
pseudonymises identifiers and quarantines what cannot be staged, the resolve step
drops duplicates and superseded versions, the shared OMOP build translates the
codes (:data:`mappings.omop_cdm_v54.fhir_feed.FHIR_FEED`), and the run ledger
reconciles resources in against staging, merges, quarantine and OMOP rows.

The ledger's site name is ``fhir`` (runs ``fhir-...``, warehouse
``<workdir>/warehouse/fhir.duckdb``); the ``feed_site`` setting says whose national
identifiers and pseudonym system the feed carries (``taiwan`` / ``finland``, or
none), which also picks the national profiles of the run's FHIR export.
"""

from __future__ import annotations

from crossbridge.pipeline import site

SITE = "fhir"
PIPELINE = site.SitePipeline(
    site=SITE,
    dag_id="fhir_to_omop",
    layout_module="connectors.fhir_in.layout",
    stage_function="connectors.fhir_in.stage:stage_landing",
    consolidate_function="connectors.fhir_in.resolve:consolidate_landing",
    table_columns_function="connectors.fhir_in.layout:table_columns",
    site_mapping="mappings.omop_cdm_v54.fhir_feed:FHIR_FEED",
    encoding_setting=False,
    stage_settings=(("site", "feed_site"),),
)


_STAGES = site.Stages(PIPELINE)
start_run = _STAGES.start_run
extract = _STAGES.extract
stage = _STAGES.stage
map_to_omop = _STAGES.map_to_omop
validate = _STAGES.validate
load = _STAGES.load
export_fhir = _STAGES.export_fhir
summarise = _STAGES.summarise
run_all = _STAGES.run_all
