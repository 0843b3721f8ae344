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


(start_run, extract, stage, map_to_omop, validate, load, export_fhir, summarise,
 run_all) = site.stage_functions(PIPELINE)
