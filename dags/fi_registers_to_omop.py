"""Finnish registers (Hilmo, Avohilmo, Kela, Cancer Registry, causes of death, population
register, biobanks; or a FinnGen longitudinal file) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone) → **stage** (read in chunks,
decode Latin-1, type, validate henkilötunnus (date, century sign, check
character) and pseudonymise it, flag temporary numbers, quarantine bad rows,
merge Hilmo episode updates, quarantine orphan diagnosis and visit-code rows) →
**map** (OMOP CDM v5.4 tables with Finnish ICD-10 combination codes, ICPC-2,
NCSP, VNR/ATC and ICD-O-3 translated) → **validate** (quality gate: Great Expectations suites on
staging, DataQualityDashboard-grade OMOP checks; a fatal failure stops the run here,
reports in `runs/<run_id>/quality/`) → **load** (warehouse:
DuckDB or PostgreSQL) → **export_fhir** (FHIR R4 NDJSON with Finnish Base Profiles in
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
dag = site_dag(DAG_ID, "crossbridge.pipeline.finland", __doc__, "finland")
