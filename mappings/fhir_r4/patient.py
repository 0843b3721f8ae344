"""OMOP ``person`` (+ ``death``, ``location``) -> FHIR Patient.

* id = person_id; identifier: the site pseudonym (``urn:crossbridge:pseudonym:<site>``,
  type v2-0203 ``PI``) when the hub knows it (``_fx_person_identity``), plus the
  record identifier.  ``person_source_value`` is never written: in databases the
  hub did not write it may hold a raw national identifier or a hospital number.
* gender: 8507 male, 8532 female, 8551 (unknown) / 0 / other -> ``unknown``; no concept -> absent.
* birthDate: birth_datetime, else year-month-day, else year-month, else the year (FHIR allows all three).
* deceasedDateTime: the earliest death_date (``death`` may hold several rows in a foreign database).
* address: district (county), city, state, postalCode, country of the person's location (no street lines).
* managingOrganization: the care site; generalPractitioner: the provider (only when they exist).
"""

from __future__ import annotations

from . import json_sql as J
from .common import ResourceQuery, head, meta, optional_ref, record_identifier_item
from .context import ExportContext


def _birth_date(ctx: ExportContext) -> str:
    y, m, d = (ctx.col("person", "t", c) for c in ("year_of_birth", "month_of_birth", "day_of_birth"))
    bdt = ctx.col("person", "t", "birth_datetime")
    ymd = (f"try_strptime(printf('%04d-%02d-%02d', CAST({y} AS BIGINT), CAST({m} AS BIGINT), "
           f"CAST({d} AS BIGINT)), '%Y-%m-%d')")
    return f"""CASE
        WHEN {bdt} IS NOT NULL THEN {J.date(bdt)}
        WHEN {ymd} IS NOT NULL THEN {J.date(ymd)}
        WHEN {y} IS NOT NULL AND {m} BETWEEN 1 AND 12
            THEN '"' || lpad(CAST({y} AS VARCHAR), 4, '0') || '-' || lpad(CAST({m} AS VARCHAR), 2, '0') || '"'
        WHEN {y} IS NOT NULL THEN '"' || lpad(CAST({y} AS VARCHAR), 4, '0') || '"'
    END"""


def person_to_patient(ctx: ExportContext) -> ResourceQuery:
    ctx.require("person", "person_id")
    gender = ctx.col("person", "t", "gender_concept_id")
    death = "NULL"
    joins = ["LEFT JOIN _fx_person_identity pi ON pi.person_id = t.person_id"]
    if ctx.has("death") and "death_date" in ctx.columns["death"]:
        joins.append(f"LEFT JOIN (SELECT person_id, min(death_date) AS death_date FROM {ctx.t('death')} "
                     "GROUP BY person_id) d ON d.person_id = t.person_id")
        death = J.field("deceasedDateTime", J.date("d.death_date"))
    address = "NULL"
    loc = ctx.col("person", "t", "location_id")
    if loc != "NULL" and ctx.has("location"):
        lc = {c: ctx.col("location", "l", c) for c in ("county", "city", "state", "zip", "country_source_value")}
        joins.append(f"LEFT JOIN {ctx.t('location')} l ON l.location_id = {loc}")
        address = J.field("address", J.arr(J.obj(
            J.field("district", J.string(lc["county"])), J.field("city", J.string(lc["city"])),
            J.field("state", J.string(lc["state"])), J.field("postalCode", J.string(lc["zip"])),
            J.field("country", J.string(lc["country_source_value"])))))
    pseudonym = J.obj(
        J.field("type", J.codeable(J.constant_coding("http://terminology.hl7.org/CodeSystem/v2-0203", "PI"))),
        J.field("system", J.lit(ctx.pseudonym_system)), J.field("value", J.string("pi.pseudonym")))
    pseudonym = f"CASE WHEN pi.pseudonym IS NOT NULL THEN {pseudonym} END"
    identifiers = J.field("identifier", J.arr(pseudonym, record_identifier_item(ctx, "person", "t.person_id")))
    resource = J.obj(
        *head("Patient", "t.person_id"), meta(ctx, "Patient"), identifiers,
        J.field("gender", f"""CASE WHEN {gender} IS NULL THEN NULL WHEN {gender} = 8507 THEN '"male"'
                              WHEN {gender} = 8532 THEN '"female"' ELSE '"unknown"' END"""),
        J.field("birthDate", _birth_date(ctx)), death, address,
        J.field("generalPractitioner", J.arr(optional_ref(ctx, "person", "t", "provider_id", "provider",
                                                          "provider_id", "Practitioner"))),
        J.field("managingOrganization", optional_ref(ctx, "person", "t", "care_site_id", "care_site",
                                                     "care_site_id", "Organization")),
    )
    sql = (f"SELECT CAST(t.person_id AS VARCHAR) AS id, t.person_id, {resource} AS resource "
           f"FROM {ctx.t('person')} t {' '.join(joins)}")
    return ResourceQuery("person_to_patient", "Patient", "person", sql, person_bound=False)
