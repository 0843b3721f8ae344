"""OMOP ``condition_occurrence`` -> FHIR Condition.

code: source coding (national system: TW Core ICD-10-CM / ICD-9-CM, Finnish ICD-10 OID, ...)
then the standard (SNOMED) coding; unmapped codes keep their source value as text.
category ``encounter-diagnosis`` when the row belongs to a visit.  onsetDateTime = start;
an end date gives abatementDateTime and clinicalStatus ``resolved`` (con-4); otherwise no
clinical status is claimed.  recordedDate = start date.  The diagnosis rank
(condition_status_concept_id, primary/secondary) is written as a second ``category``
only when it is a known concept: it is not lost, and FHIR has no better home outside Encounter.diagnosis.
"""

from __future__ import annotations

from . import json_sql as J
from .common import (ResourceQuery, concept_codeable, concept_join, encounter_ref, head, meta, optional_ref,
                     person_filter, record_identifier, subject)
from .context import ExportContext

CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def condition_occurrence_to_condition(ctx: ExportContext) -> ResourceQuery:
    table = "condition_occurrence"
    ctx.require(table, "condition_occurrence_id", "person_id", "condition_concept_id", "condition_start_date")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    end = c("condition_end_date")
    visit = c("visit_occurrence_id")
    joins = [concept_join("sc", "t.condition_concept_id"), concept_join("ss", c("condition_source_concept_id")),
             concept_join("st", c("condition_status_concept_id"))]
    category = J.arr(
        f"CASE WHEN {visit} IS NOT NULL THEN {J.codeable(J.constant_coding(CATEGORY, 'encounter-diagnosis'))} END",
        J.codeable(J.coding("st.system", "st.code", "st.display")))
    resource = J.obj(
        *head("Condition", "t.condition_occurrence_id"), meta(ctx, "Condition"),
        record_identifier(ctx, table, "t.condition_occurrence_id"),
        J.field("clinicalStatus", f"CASE WHEN {end} IS NOT NULL THEN "
                                  f"{J.codeable(J.constant_coding(CLINICAL, 'resolved'))} END"),
        J.field("category", category),
        J.field("code", concept_codeable("sc", "ss", c("condition_source_value"))),
        subject(ctx), encounter_ref(ctx, table),
        J.field("onsetDateTime", J.datetime(c("condition_start_datetime"), "t.condition_start_date")),
        J.field("abatementDateTime", J.datetime(c("condition_end_datetime"), end)),
        J.field("recordedDate", J.date("t.condition_start_date")),
        J.field("recorder", optional_ref(ctx, table, "t", "provider_id", "provider", "provider_id", "Practitioner")),
    )
    sql = (f"SELECT CAST(t.condition_occurrence_id AS VARCHAR) AS id, t.person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)} WHERE {person_filter(ctx)}")
    return ResourceQuery("condition_occurrence_to_condition", "Condition", table, sql)
