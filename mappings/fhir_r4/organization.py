"""OMOP ``care_site`` -> FHIR Organization.

identifier: ``urn:crossbridge:organization:<site>`` | care_site_source_value (the register's
facility code) when present, plus the record identifier; name; type = place of service concept;
address = the care site's location (city, state, postal code, country; no street lines).
"""

from __future__ import annotations

from . import json_sql as J
from .common import ResourceQuery, concept_codeable, concept_join, head, meta, record_identifier_item
from .context import ExportContext


def care_site_to_organization(ctx: ExportContext) -> ResourceQuery:
    table = "care_site"
    ctx.require(table, "care_site_id")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    joins = [concept_join("ps", c("place_of_service_concept_id"))]
    address = "NULL"
    if c("location_id") != "NULL" and ctx.has("location"):
        joins.append(f"LEFT JOIN {ctx.t('location')} l ON l.location_id = t.location_id")
        lc = lambda col: ctx.col("location", "l", col)  # noqa: E731
        address = J.field("address", J.arr(J.obj(
            J.field("district", J.string(lc("county"))), J.field("city", J.string(lc("city"))),
            J.field("state", J.string(lc("state"))), J.field("postalCode", J.string(lc("zip"))),
            J.field("country", J.string(lc("country_source_value"))))))
    source = J.obj(J.field("system", J.lit(ctx.organization_system)), J.field("value", J.string(c("care_site_source_value"))))
    source = f"CASE WHEN NULLIF({c('care_site_source_value')}, '') IS NOT NULL THEN {source} END"
    resource = J.obj(
        *head("Organization", "t.care_site_id"), meta(ctx, "Organization"),
        J.field("identifier", J.arr(source, record_identifier_item(ctx, table, "t.care_site_id"))),
        J.field("active", "'true'"),
        J.field("type", J.arr(concept_codeable("ps", None, None))),
        J.field("name", J.string(c("care_site_name"))), address,
    )
    sql = (f"SELECT CAST(t.care_site_id AS VARCHAR) AS id, NULL::BIGINT AS person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)}")
    return ResourceQuery("care_site_to_organization", "Organization", table, sql, person_bound=False)
