"""OMOP ``visit_occurrence`` and ``visit_detail`` -> FHIR Encounter.

* class (v3-ActCode): 9201 / 262 / 8717 / 32037 -> IMP; 9203 / 8870 -> EMER; 581476 -> HH;
  5083 -> VR; everything else (9202 outpatient, 581458 pharmacy, 0) -> AMB.  The visit concept
  itself is kept as ``type`` (source coding first when there is one), so nothing is lost by the class.
* status ``finished`` when the visit has an end date, else ``unknown``.
* period: start/end datetimes, else dates.
* serviceProvider: the care site; participant: the provider; hospitalization admitSource /
  dischargeDisposition from admitted_from / discharged_to concepts (when present).
* visit_detail -> Encounter ``vd-<id>`` with ``partOf`` its visit's Encounter.
"""

from __future__ import annotations

from . import json_sql as J
from .common import (ResourceQuery, concept_codeable, concept_join, head, meta, optional_ref, person_filter,
                     record_identifier, subject)
from .context import ExportContext

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_CLASS = (("IMP", "inpatient encounter", (9201, 262, 8717, 32037)), ("EMER", "emergency", (9203, 8870)),
          ("HH", "home health", (581476,)), ("VR", "virtual", (5083,)))


def _class(concept: str) -> str:
    whens = " ".join(f"WHEN {concept} IN ({', '.join(map(str, ids))}) THEN {J.constant_coding(ACT_CODE, code, disp)}"
                     for code, disp, ids in _CLASS)
    return f"CASE {whens} ELSE {J.constant_coding(ACT_CODE, 'AMB', 'ambulatory')} END"


def _encounter(ctx: ExportContext, table: str, id_col: str, prefix: str, concept_col: str, name: str,
               part_of: str = "NULL") -> ResourceQuery:
    ctx.require(table, id_col, "person_id", f"{concept_col}_concept_id", f"{concept_col}_start_date")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    joins = [concept_join("vc", f"t.{concept_col}_concept_id"),
             concept_join("vs", c(f"{concept_col}_source_concept_id")),
             concept_join("af", c("admitted_from_concept_id")), concept_join("dt", c("discharged_to_concept_id"))]
    rid = f"'{prefix}' || CAST(t.{id_col} AS VARCHAR)"
    end_date = c(f"{concept_col}_end_date")
    resource = J.obj(
        *head("Encounter", rid), meta(ctx, "Encounter"), record_identifier(ctx, table, f"t.{id_col}"),
        J.field("status", f"""CASE WHEN {end_date} IS NOT NULL THEN '"finished"' ELSE '"unknown"' END"""),
        J.field("class", _class(f"t.{concept_col}_concept_id")),
        J.field("type", J.arr(concept_codeable("vc", "vs", c(f"{concept_col}_source_value")))),
        subject(ctx),
        J.field("participant", J.arr(J.obj(J.field("individual", optional_ref(
            ctx, table, "t", "provider_id", "provider", "provider_id", "Practitioner"))))),
        J.field("period", J.obj(
            J.field("start", J.datetime(c(f"{concept_col}_start_datetime"), f"t.{concept_col}_start_date")),
            J.field("end", J.datetime(c(f"{concept_col}_end_datetime"), end_date)))),
        J.field("hospitalization", J.obj(
            J.field("admitSource", concept_codeable("af", None, None)),
            J.field("dischargeDisposition", concept_codeable("dt", None, None)))),
        J.field("serviceProvider", optional_ref(ctx, table, "t", "care_site_id", "care_site", "care_site_id",
                                                "Organization")),
        part_of,
    )
    sql = (f"SELECT {rid} AS id, t.person_id, {resource} AS resource FROM {ctx.t(table)} t {' '.join(joins)} "
           f"WHERE {person_filter(ctx)}")
    return ResourceQuery(name, "Encounter", table, sql)


def visit_occurrence_to_encounter(ctx: ExportContext) -> ResourceQuery:
    return _encounter(ctx, "visit_occurrence", "visit_occurrence_id", "", "visit",
                      "visit_occurrence_to_encounter")


def visit_detail_to_encounter(ctx: ExportContext) -> ResourceQuery:
    part_of = J.field("partOf", optional_ref(ctx, "visit_detail", "t", "visit_occurrence_id", "visit_occurrence",
                                             "visit_occurrence_id", "Encounter"))
    return _encounter(ctx, "visit_detail", "visit_detail_id", "vd-", "visit_detail", "visit_detail_to_encounter",
                      part_of)
