"""OMOP ``provider`` -> FHIR Practitioner.

Names, NPI/DEA numbers and provider_source_value are not written (they identify a person);
gender from gender_concept_id; qualification = the specialty concept.  The record identifier
lets references and conditional creates work.
"""

from __future__ import annotations

from . import json_sql as J
from .common import ResourceQuery, concept_codeable, concept_join, head, meta, record_identifier
from .context import ExportContext


def provider_to_practitioner(ctx: ExportContext) -> ResourceQuery:
    table = "provider"
    ctx.require(table, "provider_id")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    gender = c("gender_concept_id")
    joins = [concept_join("sp", c("specialty_concept_id"))]
    resource = J.obj(
        *head("Practitioner", "t.provider_id"), meta(ctx, "Practitioner"),
        record_identifier(ctx, table, "t.provider_id"),
        J.field("gender", f"""CASE WHEN {gender} IS NULL THEN NULL WHEN {gender} = 8507 THEN '"male"'
                              WHEN {gender} = 8532 THEN '"female"' ELSE '"unknown"' END"""),
        J.field("qualification", J.arr(J.obj(J.field("code", concept_codeable("sp", None, c("specialty_source_value")))))),
    )
    sql = (f"SELECT CAST(t.provider_id AS VARCHAR) AS id, NULL::BIGINT AS person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)}")
    return ResourceQuery("provider_to_practitioner", "Practitioner", table, sql, person_bound=False)
