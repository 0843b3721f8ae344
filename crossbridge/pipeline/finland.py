"""The Finnish site pipeline (registers, FinnGen layout): extract -> stage -> map -> validate -> load -> export_fhir -> summarise.

The CLI calls the stages in sequence; the Airflow DAG ``fi_registers_to_omop``
calls the same functions, one task each, passing only the run reference.
"""

from __future__ import annotations

from crossbridge.pipeline import site

SITE = "finland"
PIPELINE = site.SitePipeline(
    site=SITE,
    dag_id="fi_registers_to_omop",
    layout_module="connectors.finland.layout",
    stage_function="connectors.finland.stage:stage_finland",
    consolidate_function="connectors.finland.consolidate:consolidate_finland",
    table_columns_function="connectors.finland.consolidate:table_columns",
    site_mapping="mappings.omop_cdm_v54.finland:FINLAND",
    encoding_setting=False,
)


(start_run, extract, stage, map_to_omop, validate, load, export_fhir, summarise,
 run_all) = site.stage_functions(PIPELINE)
