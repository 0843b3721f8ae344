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
