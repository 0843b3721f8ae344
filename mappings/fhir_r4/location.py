"""OMOP ``location`` -> FHIR Location (mode ``kind``: an area, as OMOP locations of registers are).

address: county -> district, city, state, zip -> postalCode, country (source value); no street
lines are written; latitude/longitude -> position when both are present.
"""

from __future__ import annotations

from . import json_sql as J
from .common import ResourceQuery, head, meta, record_identifier
from .context import ExportContext


def location_to_location(ctx: ExportContext) -> ResourceQuery:
    table = "location"
    ctx.require(table, "location_id")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    lat, lon = c("latitude"), c("longitude")
    resource = J.obj(
        *head("Location", "t.location_id"), meta(ctx, "Location"), record_identifier(ctx, table, "t.location_id"),
        J.field("mode", J.lit("kind")),
        J.field("address", J.obj(
            J.field("district", J.string(c("county"))), J.field("city", J.string(c("city"))),
            J.field("state", J.string(c("state"))), J.field("postalCode", J.string(c("zip"))),
            J.field("country", J.string(c("country_source_value"))))),
        J.field("position", f"CASE WHEN {lat} IS NOT NULL AND {lon} IS NOT NULL THEN "
                            f"{J.obj(J.field('longitude', J.number(lon)), J.field('latitude', J.number(lat)))} END"),
    )
    sql = (f"SELECT CAST(t.location_id AS VARCHAR) AS id, NULL::BIGINT AS person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t")
    return ResourceQuery("location_to_location", "Location", table, sql, person_bound=False)
