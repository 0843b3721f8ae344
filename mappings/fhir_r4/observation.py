"""OMOP ``measurement`` and ``observation`` -> FHIR Observation.

* measurement -> ``m-<id>``, category ``laboratory`` (TW Core laboratory-result profile);
  observation -> ``o-<id>``, no category (TW Core screening-assessment profile).
* status ``final``; code: source coding then standard (LOINC, SNOMED), else source value as text.
* value: value_as_number -> valueQuantity (unit: UCUM code when the unit concept is UCUM, else
  the unit source value as ``unit`` text); value_as_concept_id -> valueCodeableConcept;
  value_as_string (observation) -> valueString; a measurement's value_source_value alone ->
  valueString.  One value[x] only, in that order of preference.
* referenceRange low/high from range_low/range_high (measurement); interpretation none
  (OMOP has no abnormal flag).
* effectiveDateTime: datetime, else date; performer the provider.
"""

from __future__ import annotations

from . import json_sql as J
from .common import (ResourceQuery, concept_codeable, concept_join, encounter_ref, head, meta_expr, optional_ref,
                     person_filter, record_identifier, subject)
from .context import ExportContext

CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
UCUM = "http://unitsofmeasure.org"


def _quantity(ctx: ExportContext, table: str, value_expr: str) -> str:
    unit_src = ctx.col(table, "t", "unit_source_value")
    ucum = "u.vocabulary_id = 'UCUM'"
    return J.obj(
        J.field("value", J.number(value_expr)),
        J.field("unit", J.string(f"coalesce({unit_src}, u.code)")),
        J.field("system", f"CASE WHEN {ucum} THEN {J.lit(UCUM)} END"),
        J.field("code", f"CASE WHEN {ucum} THEN {J.string('u.code')} END"),
    )


def _observation(ctx: ExportContext, table: str, prefix: str, laboratory: bool) -> ResourceQuery:
    key = f"{table}_id"
    date_col = f"{table}_date"
    ctx.require(table, key, "person_id", f"{table}_concept_id", date_col)
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    joins = [concept_join("oc", f"t.{table}_concept_id"), concept_join("os", c(f"{table}_source_concept_id")),
             concept_join("u", c("unit_concept_id")), concept_join("vc", c("value_as_concept_id"))]
    number, string = c("value_as_number"), c("value_as_string")
    value_src = c("value_source_value") if table == "measurement" else "NULL"
    rid = f"'{prefix}' || CAST(t.{key} AS VARCHAR)"
    values = [
        J.field("valueQuantity", f"CASE WHEN {number} IS NOT NULL THEN {_quantity(ctx, table, number)} END"),
        J.field("valueCodeableConcept", f"CASE WHEN {number} IS NULL AND vc.concept_id IS NOT NULL THEN "
                                        f"{concept_codeable('vc', None, None)} END"),
        J.field("valueString", f"CASE WHEN {number} IS NULL AND vc.concept_id IS NULL "
                               f"THEN coalesce({J.string(string)}, {J.string(value_src)}) END"),
    ]
    ranges = "NULL"
    if table == "measurement":
        low, high = c("range_low"), c("range_high")
        simple = lambda v: J.obj(J.field("value", J.number(v)))  # noqa: E731
        ranges = J.field("referenceRange", J.arr(J.obj(J.field("low", simple(low)), J.field("high", simple(high)))))
    category = "NULL"
    if laboratory:
        category = J.field("category", J.arr(J.codeable(J.constant_coding(CATEGORY, "laboratory", "Laboratory"))))
    resource = J.obj(
        *head("Observation", rid), meta_expr(ctx, "Observation", "true" if laboratory else "false"),
        record_identifier(ctx, table, f"t.{key}"),
        J.field("status", J.lit("final")), category,
        J.field("code", concept_codeable("oc", "os", c(f"{table}_source_value"))),
        subject(ctx), encounter_ref(ctx, table),
        J.field("effectiveDateTime", J.datetime(c(f"{table}_datetime"), f"t.{date_col}")),
        J.field("performer", J.arr(optional_ref(ctx, table, "t", "provider_id", "provider", "provider_id",
                                                "Practitioner"))),
        *values, ranges,
    )
    sql = (f"SELECT {rid} AS id, t.person_id, {resource} AS resource FROM {ctx.t(table)} t {' '.join(joins)} "
           f"WHERE {person_filter(ctx)}")
    return ResourceQuery(f"{table}_to_observation", "Observation", table, sql)


def measurement_to_observation(ctx: ExportContext) -> ResourceQuery:
    return _observation(ctx, "measurement", "m-", laboratory=True)


def observation_to_observation(ctx: ExportContext) -> ResourceQuery:
    return _observation(ctx, "observation", "o-", laboratory=False)
