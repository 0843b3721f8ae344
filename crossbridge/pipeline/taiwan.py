"""The Taiwan site pipeline: extract -> stage -> map -> validate -> load -> export_fhir -> summarise (see :mod:`.site`).

The CLI calls the stages in sequence; the Airflow DAG ``tw_nhird_to_omop``
calls the same functions, one task each, passing only the run reference.
"""

from __future__ import annotations

from crossbridge.pipeline import site

SITE = "taiwan"
PIPELINE = site.SitePipeline(
    site=SITE,
    dag_id="tw_nhird_to_omop",
    layout_module="connectors.taiwan.layout",
    stage_function="connectors.taiwan.stage:stage_taiwan",
    consolidate_function="connectors.taiwan.consolidate:consolidate_taiwan",
    table_columns_function="connectors.taiwan.consolidate:table_columns",
    site_mapping="mappings.omop_cdm_v54.build:TAIWAN",
    encoding_setting=True,
)


(start_run, extract, stage, map_to_omop, validate, load, export_fhir, summarise,
 run_all) = site.stage_functions(PIPELINE)
