"""OMOP ``specimen`` -> FHIR Specimen.

type: the specimen concept (source value as text when unmapped; the source value is the
biobank's sample type code, e.g. NBCT / Finnish biobank types); collection.collectedDateTime,
collection.quantity (+ unit), collection.bodySite (anatomic site concept).  specimen_source_id
(the biobank's sample number) is not written: it links back to a biobank record.
"""

from __future__ import annotations

from . import json_sql as J
from .common import ResourceQuery, concept_codeable, concept_join, head, meta, person_filter, record_identifier, subject
from .context import ExportContext


def specimen_to_specimen(ctx: ExportContext) -> ResourceQuery:
    table = "specimen"
    ctx.require(table, "specimen_id", "person_id", "specimen_concept_id", "specimen_date")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    joins = [concept_join("sc", "t.specimen_concept_id"), concept_join("u", c("unit_concept_id")),
             concept_join("an", c("anatomic_site_concept_id"))]
    quantity = J.obj(J.field("value", J.number(c("quantity"))),
                     J.field("unit", J.string(f"coalesce({c('unit_source_value')}, u.code)")))
    resource = J.obj(
        *head("Specimen", "t.specimen_id"), meta(ctx, "Specimen"), record_identifier(ctx, table, "t.specimen_id"),
        J.field("type", concept_codeable("sc", None, c("specimen_source_value"))),
        subject(ctx),
        J.field("collection", J.obj(
            J.field("collectedDateTime", J.datetime(c("specimen_datetime"), "t.specimen_date")),
            J.field("quantity", f"CASE WHEN {c('quantity')} IS NOT NULL THEN {quantity} END"),
            J.field("bodySite", concept_codeable("an", None, c("anatomic_site_source_value"))))),
    )
    sql = (f"SELECT CAST(t.specimen_id AS VARCHAR) AS id, t.person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)} WHERE {person_filter(ctx)}")
    return ResourceQuery("specimen_to_specimen", "Specimen", table, sql)
