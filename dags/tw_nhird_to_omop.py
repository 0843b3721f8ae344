"""Taiwan NHI claims, registries and biobank records to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone) → **stage** (read in chunks,
decode CP950, type, validate and pseudonymise national IDs, quarantine bad rows,
de-duplicate supplementary claims, link orders and admission segments) → **map**
(OMOP CDM v5.4 tables with terminology translation) → **validate** (quality gate: Great Expectations suites on
staging, DataQualityDashboard-grade OMOP checks; a fatal failure stops the run here,
reports in `runs/<run_id>/quality/`) → **load** (warehouse:
DuckDB or PostgreSQL) → **export_fhir** (FHIR R4 NDJSON with TW Core profiles in
`runs/<run_id>/fhir/`, validated) → **summarise** (`summary.json`: counts, reconciliation,
coverage, quality outcome).

Tasks pass only the run reference (runs folder + run id) through XCom; every
stage writes its report into `<workdir>/runs/<run_id>/`.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

from site_pipeline_dag import site_dag  # dags/site_pipeline_dag.py: the shape of every site's Airflow DAG

DAG_ID = Path(__file__).stem
dag = site_dag(DAG_ID, "crossbridge.pipeline.taiwan", __doc__, "taiwan")
