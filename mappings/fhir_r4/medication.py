"""OMOP ``drug_exposure`` -> FHIR MedicationDispense, MedicationRequest or MedicationStatement.

The record's type concept says what the source saw:

* dispensing -- 32869 pharmacy claim, 32825 EHR dispensing record, 38000175 / 38000176
  (prescription dispensed in pharmacy / through mail order): **MedicationDispense**
  (status completed, whenHandedOver = start, quantity, daysSupply in days);
* self-report -- 32865 patient self-report, 44787730 patient self-reported medication:
  **MedicationStatement** (status completed, effectivePeriod start..end);
* everything else (prescriptions, claims of orders, EHR): **MedicationRequest** (status
  completed, intent order, authoredOn = start, dispenseRequest quantity and expected supply
  duration).

medicationCodeableConcept: source coding (TW Core ``medication-nhi-tw``, VNR, ...), the standard
(RxNorm) coding, then the ATC classes the standard concept descends from (concept_ancestor,
when the vocabulary has them); unmapped products keep the source value as text.  ``sig`` ->
dosageInstruction text.
"""

from __future__ import annotations

from . import json_sql as J
from .common import (ResourceQuery, concept_codeable, concept_join, encounter_ref, head, meta, person_filter,
                     record_identifier, subject)
from .context import ExportContext

DISPENSE_TYPES = (32869, 32825, 38000175, 38000176)
STATEMENT_TYPES = (32865, 44787730)
UCUM = "http://unitsofmeasure.org"


def kind_sql(type_expr: str) -> str:
    """SQL: the FHIR resource type a drug_exposure row becomes."""
    return (f"CASE WHEN {type_expr} IN ({', '.join(map(str, DISPENSE_TYPES))}) THEN 'MedicationDispense' "
            f"WHEN {type_expr} IN ({', '.join(map(str, STATEMENT_TYPES))}) THEN 'MedicationStatement' "
            "ELSE 'MedicationRequest' END")


def _atc_join(ctx: ExportContext) -> tuple[str, str]:
    """Join giving ``atc.codings`` (list of ATC coding JSON) for the row's standard drug concept."""
    vocab = ctx.vocab_prefix
    if vocab is None:
        return "", "NULL"
    coding = J.coding("a.system", "a.code", "a.display")
    join = (f"LEFT JOIN (SELECT ca.descendant_concept_id AS concept_id, "
            f"list({coding} ORDER BY a.code) AS codings "
            f"FROM {vocab}.concept_ancestor ca JOIN _fx_concept a ON a.concept_id = ca.ancestor_concept_id "
            f"WHERE a.vocabulary_id = 'ATC' AND ca.ancestor_concept_id <> ca.descendant_concept_id "
            f"GROUP BY 1) atc ON atc.concept_id = t.drug_concept_id")
    return join, "array_to_string(atc.codings, ',')"


def _medication(ctx: ExportContext, kind: str) -> ResourceQuery:
    table = "drug_exposure"
    ctx.require(table, "drug_exposure_id", "person_id", "drug_concept_id", "drug_exposure_start_date",
                "drug_type_concept_id")
    c = lambda col: ctx.col(table, "t", col)  # noqa: E731
    atc_join, atc = _atc_join(ctx)
    joins = [concept_join("dc", "t.drug_concept_id"), concept_join("ds", c("drug_source_concept_id")), atc_join]
    code = concept_codeable("dc", "ds", c("drug_source_value"),
                            extra_codings=[f"NULLIF({atc}, '')"] if atc != "NULL" else ())
    start = J.datetime(c("drug_exposure_start_datetime"), "t.drug_exposure_start_date")
    end = J.datetime(c("drug_exposure_end_datetime"), c("drug_exposure_end_date"))
    quantity = J.obj(J.field("value", J.number(c("quantity"))))
    days = c("days_supply")
    duration = J.obj(J.field("value", J.number(days)), J.field("unit", J.lit("days")),
                     J.field("system", J.lit(UCUM)), J.field("code", J.lit("d")))
    sig = J.field("dosageInstruction", J.arr(J.obj(J.field("text", J.string(c("sig"))))))
    common = [*head(kind, "t.drug_exposure_id"), meta(ctx, kind), record_identifier(ctx, table, "t.drug_exposure_id")]
    if kind == "MedicationDispense":
        body = [J.field("status", J.lit("completed")), J.field("medicationCodeableConcept", code), subject(ctx),
                encounter_ref(ctx, table, name="context"), J.field("quantity", quantity),
                J.field("daysSupply", f"CASE WHEN {days} IS NOT NULL THEN {duration} END"),
                J.field("whenHandedOver", start), sig]
    elif kind == "MedicationStatement":
        body = [J.field("status", J.lit("completed")), J.field("medicationCodeableConcept", code), subject(ctx),
                encounter_ref(ctx, table, name="context"),
                J.field("effectivePeriod", J.obj(J.field("start", start), J.field("end", end))), sig]
    else:
        body = [J.field("status", J.lit("completed")), J.field("intent", J.lit("order")),
                J.field("medicationCodeableConcept", code), subject(ctx), encounter_ref(ctx, table),
                J.field("authoredOn", start), sig,
                J.field("dispenseRequest", J.obj(
                    J.field("quantity", quantity),
                    J.field("expectedSupplyDuration", f"CASE WHEN {days} IS NOT NULL THEN {duration} END")))]
    resource = J.obj(*common, *body)
    sql = (f"SELECT CAST(t.drug_exposure_id AS VARCHAR) AS id, t.person_id, {resource} AS resource "
           f"FROM {ctx.t(table)} t {' '.join(joins)} "
           f"WHERE {person_filter(ctx)} AND {kind_sql('t.drug_type_concept_id')} = '{kind}'")
    name = "drug_exposure_to_" + {"MedicationDispense": "medication_dispense",
                                  "MedicationStatement": "medication_statement",
                                  "MedicationRequest": "medication_request"}[kind]
    return ResourceQuery(name, kind, table, sql)


def drug_exposure_to_medication_dispense(ctx: ExportContext) -> ResourceQuery:
    return _medication(ctx, "MedicationDispense")


def drug_exposure_to_medication_request(ctx: ExportContext) -> ResourceQuery:
    return _medication(ctx, "MedicationRequest")


def drug_exposure_to_medication_statement(ctx: ExportContext) -> ResourceQuery:
    return _medication(ctx, "MedicationStatement")
