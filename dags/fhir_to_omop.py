"""Inbound FHIR R4 (partners' NDJSON and Bundles, Kanta-style) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone: `.ndjson`, `.jsonl`, `.json`, optionally
gzipped) → **stage** (read every resource, replace national identifiers by the site
pseudonym, flatten codings (source and standard), quarantine what cannot be staged with a
reason; then drop duplicates and superseded versions) → **map** (the shared OMOP build:
terminology translation, routing by domain) → **validate** (quality gate: staging suites and
DQD-grade OMOP checks; a fatal failure stops the run here) → **load** (warehouse
`fhir.duckdb` or PostgreSQL) → **export_fhir** (the OMOP tables back to FHIR R4 NDJSON,
validated) → **summarise** (`summary.json`: resources in per file, quarantined and merged
per reason, rows out, reconciliation, coverage, quality).

Tasks pass only the run reference (runs folder + run id) through XCom.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional),
`feed_site` (taiwan | finland | empty: whose national identifiers and pseudonyms the feed
carries), `feed_timezone` (unused by FHIR, whose date-times carry offsets).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

from site_pipeline_dag import site_dag  # dags/site_pipeline_dag.py: the shape of every site's Airflow DAG

DAG_ID = Path(__file__).stem
dag = site_dag(DAG_ID, "crossbridge.pipeline.fhir_feed", __doc__, "fhir", feed=True)
