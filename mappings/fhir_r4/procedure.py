"""OMOP ``procedure_occurrence`` -> FHIR Procedure.

status ``completed``; code: source coding (ICD-9-CM vol. 3, ICD-10-PCS, NHI fee codes, NCSP
``urn:oid:1.2.246.537.6.2``, ...) then the standard coding, else the source value as text;
performedPeriod start..end when an end date is known, else performedDateTime; performer the
provider; quantity and modifier are not expressible in R4 Procedure and are counted in the
export report when present.
"""

from __future__ import annotations

from . import json_sql as J
from .common import (ResourceQuery, concept_codeable, concept_join, encounter_ref, head, meta, optional_ref,
                     person_filter, record_identifier, subject)
from .context import ExportContext


def procedure_occurrence_to_procedure(ctx: ExportContext) -> ResourceQuery:
    table = "procedure_occurrence"
    ctx.require(table, "procedure_occurrence_id", "person_id", "procedure_concept_id", "procedure_date")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    joins = [concept_join("pc", "t.procedure_concept_id"), concept_join("ps", c("procedure_source_concept_id"))]
    start = J.datetime(c("procedure_datetime"), "t.procedure_date")
    end_date = c("procedure_end_date")
    end = J.datetime(c("procedure_end_datetime"), end_date)
    resource = J.obj(
        *head("Procedure", "t.procedure_occurrence_id"), meta(ctx, "Procedure"),
        record_identifier(ctx, table, "t.procedure_occurrence_id"),
        J.field("status", J.lit("completed")),
        J.field("code", concept_codeable("pc", "ps", c("procedure_source_value"))),
        subject(ctx), encounter_ref(ctx, table),
        J.field("performedDateTime", f"CASE WHEN {end_date} IS NULL THEN {start} END"),
        J.field("performedPeriod", f"CASE WHEN {end_date} IS NOT NULL THEN "
                                   f"{J.obj(J.field('start', start), J.field('end', end))} END"),
        J.field("performer", J.arr(J.obj(J.field("actor", optional_ref(
            ctx, table, "t", "provider_id", "provider", "provider_id", "Practitioner"))))),
    )
    sql = (f"SELECT CAST(t.procedure_occurrence_id AS VARCHAR) AS id, t.person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)} WHERE {person_filter(ctx)}")
    return ResourceQuery("procedure_occurrence_to_procedure", "Procedure", table, sql)
