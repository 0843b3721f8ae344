"""Pieces every OMOP -> FHIR resource query shares: header, meta, identifier, codings of OMOP concepts.

A :class:`ResourceQuery` is one SELECT over one CDM table giving ``id`` (the
resource id), ``person_id`` (NULL for non-person resources) and ``resource``
(the JSON text).  Resource ids are the OMOP ids as text, prefixed where two
tables feed one resource type (``vd-`` visit_detail, ``m-`` measurement,
``o-`` observation), so ``Condition/123`` is condition_occurrence_id 123.

Every resource gets ``identifier`` ``urn:crossbridge:<scope>:<table>|<id>``
(scope = the site, or ``omop``): what the transaction Bundles' conditional
creates (``ifNoneExist``) match on, so a server loads a re-export idempotently.

Codings of a concept (:func:`concept_codeable`): the source concept (national
code system) first, then the standard concept when it is another concept; a
record whose concepts are 0 or absent from the vocabulary keeps its source
value as ``text``, so nothing is dropped and nothing is invented.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import json_sql as J
from .context import ExportContext

#: Persons' rows: the person must exist in ``person`` (else the row is reported, not exported).
PERSON_EXISTS = "EXISTS (SELECT 1 FROM {person} p WHERE p.person_id = {alias}.person_id)"


@dataclass(frozen=True)
class ResourceQuery:
    name: str  # e.g. condition_occurrence_to_condition
    resource_type: str
    table: str  # the CDM table read
    sql: str  # SELECT id, person_id, resource
    person_bound: bool = True  # rows must belong to a known person


def scope(ctx: ExportContext) -> str:
    if ctx.study:
        return f"study:{ctx.study}"
    return ctx.site or "omop"


def head(resource_type: str, id_expr: str) -> list[str]:
    return [J.field("resourceType", J.lit(resource_type)), J.field("id", J.string(id_expr))]


def meta(ctx: ExportContext, resource_type: str, laboratory: bool = False) -> str:
    return J.field("meta", J.obj(J.field("profile", J.arr(J.lit(ctx.profile(resource_type, laboratory=laboratory))))))


def meta_expr(ctx: ExportContext, resource_type: str, lab_condition: str) -> str:
    """meta with the profile chosen per row (laboratory observation or not)."""
    lab = J.lit(ctx.profile(resource_type, laboratory=True))
    other = J.lit(ctx.profile(resource_type, laboratory=False))
    return J.field("meta", J.obj(J.field("profile", J.arr(f"CASE WHEN {lab_condition} THEN {lab} ELSE {other} END"))))


def record_identifier_item(ctx: ExportContext, table: str, id_expr: str) -> str:
    system = f"urn:crossbridge:{scope(ctx)}:{table}"
    return J.obj(J.field("system", J.lit(system)), J.field("value", J.string(id_expr)))


def record_identifier(ctx: ExportContext, table: str, id_expr: str) -> str:
    return J.field("identifier", J.arr(record_identifier_item(ctx, table, id_expr)))


def concept_join(alias: str, concept_id_expr: str) -> str:
    return f"LEFT JOIN _fx_concept {alias} ON {alias}.concept_id = {concept_id_expr}"


def concept_coding(alias: str) -> str:
    return J.coding(f"{alias}.system", f"{alias}.code", f"{alias}.display")


def concept_codeable(std: str, src: str | None, source_value_expr: str | None,
                     extra_codings: tuple[str, ...] | list[str] = ()) -> str:
    """CodeableConcept: source coding, standard coding (when another concept), extra codings (JSON texts,
    comma-joined allowed), else the source value as text."""
    codings = []
    if src is not None:
        codings.append(concept_coding(src))
        codings.append(f"CASE WHEN {std}.concept_id IS DISTINCT FROM {src}.concept_id THEN {concept_coding(std)} END")
    else:
        codings.append(concept_coding(std))
    codings.extend(extra_codings)
    has_coding = f"{std}.concept_id IS NOT NULL" + (f" OR {src}.concept_id IS NOT NULL" if src else "")
    text = None
    if source_value_expr is not None:
        text = f"CASE WHEN NOT ({has_coding}) THEN {source_value_expr} END"
    return J.codeable(*codings, text_expr=text)


def subject(ctx: ExportContext, alias: str = "t") -> str:
    return J.field("subject", J.reference("Patient", f"{alias}.person_id"))


def encounter_ref(ctx: ExportContext, table: str, alias: str = "t", name: str = "encounter") -> str:
    """Reference to the visit's Encounter when the row has a visit_occurrence_id that exists."""
    col = ctx.col(table, alias, "visit_occurrence_id")
    if col == "NULL" or not ctx.has("visit_occurrence"):
        return "NULL"
    vo = ctx.t("visit_occurrence")
    return J.field(name, f"CASE WHEN EXISTS (SELECT 1 FROM {vo} v WHERE v.visit_occurrence_id = {col}) "
                         f"THEN {J.reference('Encounter', col)} END")


def optional_ref(ctx: ExportContext, table: str, alias: str, column: str, target_table: str, target_id: str,
                 resource_type: str) -> str:
    """A reference to another exported resource, only when the target row exists (never a dangling one)."""
    col = ctx.col(table, alias, column)
    if col == "NULL" or not ctx.has(target_table):
        return "NULL"
    return (f"CASE WHEN EXISTS (SELECT 1 FROM {ctx.t(target_table)} x WHERE x.{target_id} = {col}) "
            f"THEN {J.reference(resource_type, col)} END")


def person_filter(ctx: ExportContext, alias: str = "t") -> str:
    return PERSON_EXISTS.format(person=ctx.t("person"), alias=alias)


__all__ = [
    "ResourceQuery", "concept_codeable", "concept_coding", "concept_join", "encounter_ref", "head", "meta",
    "meta_expr", "optional_ref", "person_filter", "record_identifier", "record_identifier_item", "scope", "subject",
]
