"""Inbound HL7 v2 hospital feeds (ADT A01-A13, A40 merges; ORU^R01 results) to OMOP CDM v5.4.

Stages: **extract** (inventory the landing zone: `.hl7`, `.hl7v2`, `.er7`, `.mllp` files of
one or many messages, any separators, MLLP framing, versions 2.3-2.8) → **stage** (split and
check every message with hl7apy's rules, pseudonymise identifiers, quarantine refused
messages with a reason; map the rest to FHIR R4 Patient, Encounter, Observation,
DiagnosticReport, then stage those like the FHIR feed) → **map** (the shared OMOP build:
visit_occurrence, measurement ...) → **validate** (quality gate) → **load** (warehouse
`hl7v2.duckdb` or PostgreSQL) → **export_fhir** → **summarise** (`summary.json`: messages in,
mapped, quarantined per reason, reconciled; then resources and OMOP rows as for the sites).

Tasks pass only the run reference (runs folder + run id) through XCom.
Parameters: `landing`, `workdir`, `warehouse` (optional), `demo_secret`, `run_id` (optional),
`feed_site` (taiwan | finland | empty: which national identifiers PID-3 `NI` means, the
pseudonym system, the default time zone), `feed_timezone` (IANA zone for date-times
without an offset; default the feed site's, else UTC).
The site secret comes from `CROSSBRIDGE_SITE_SECRET` in the worker environment.
"""

from __future__ import annotations

from pathlib import Path

from site_pipeline_dag import site_dag  # dags/site_pipeline_dag.py: the shape of every site's Airflow DAG

DAG_ID = Path(__file__).stem
dag = site_dag(DAG_ID, "crossbridge.pipeline.hl7v2", __doc__, "hl7v2", feed=True)
