"""Coded clinical rows of the FHIR feed as routed events (the shape of ``..events.EVENT_COLUMNS``).

====================  ======================  ==================  ===================  ===========================
stg table             code                    default domain      type concept         dates
====================  ======================  ==================  ===================  ===========================
fhir_condition        Condition.code          Condition           32817 EHR            start .. end (abatement)
fhir_medication       medication / vaccine    Drug                Dispense 32869        start .. end
                                                                  pharmacy claim;
                                                                  others 32817 EHR
fhir_procedure        Procedure.code          Procedure           32817 EHR            performed start .. end
fhir_observation      Observation.code        Measurement for     32817 EHR            effective / issued
                                              laboratory and
                                              vital-signs, else
                                              Observation
fhir_diagnostic_rep.  DiagnosticReport.code   Measurement         32817 EHR            effective / issued
====================  ======================  ==================  ===================  ===========================

**Code precedence**: the *source* coding (the national one, see
``connectors.fhir_in.layout``) is translated first; when it has no 'Maps to'
(an unknown system, or a code the vocabulary does not map) and the resource
also carries a *standard* coding (LOINC, SNOMED, RxNorm ...), the standard
coding is routed instead (column group ``<Type>.code (standard coding)``).
Either way the source value stays the source code as written and the
``*_source_concept_id`` is the source code's own concept (0 if the
vocabulary lacks it).  Neither maps -> the default table with concept 0.

Links: ``visit_occurrence_id`` of the staged encounter (``encounter_key``);
``event_key`` = ``fhir|<resource key>`` (stable across runs).  Condition:
``condition_status_source_value`` = verificationStatus.  Medication:
quantity, days_supply, sig as staged.
"""

from __future__ import annotations

from terminology import concepts as C

from .. import ids
from ..events import _event, _q, events_of_known_persons_sql, routed_events_sql
from ..relations import Shared
from .relations import mapped_join, staged, use_standard_sql

#: (stg table, coded element named in column groups, default domain SQL, type concept SQL)
SOURCES = (
    ("fhir_condition", "Condition.code", "'Condition'", str(C.TYPE_EHR)),
    ("fhir_medication", "medication", "'Drug'",
     f"CASE WHEN x.resource_type = 'MedicationDispense' THEN {C.TYPE_PHARMACY_CLAIM} ELSE {C.TYPE_EHR} END"),
    ("fhir_procedure", "Procedure.code", "'Procedure'", str(C.TYPE_EHR)),
    ("fhir_observation", "Observation.code",
     "CASE WHEN x.category IN ('laboratory', 'vital-signs') THEN 'Measurement' ELSE 'Observation' END",
     str(C.TYPE_EHR)),
    ("fhir_diagnostic_report", "DiagnosticReport.code", "'Measurement'", str(C.TYPE_EHR)),
)
FAMILY = "fhir"


def visit_id_sql(encounter_key_sql: str) -> str:
    """SQL: visit_occurrence_id of a staged encounter's resource key (NULL stays NULL)."""
    return ids.id_sql("visit_occurrence", f"'fhir|' || {encounter_key_sql}")


def fhir_events(s: Shared) -> list[str]:
    """One event SELECT per coded staging table."""
    parts = []
    for key, element, domain, type_sql in SOURCES:
        std = use_standard_sql("x")
        if key == "fhir_medication":
            element_sql = ("x.resource_type || CASE WHEN x.resource_type = 'Immunization' THEN '.vaccineCode' "
                           "ELSE '.medication' END")
            column_group = f"{element_sql} || CASE WHEN {std} THEN ' (standard coding)' ELSE '' END"
        else:
            column_group = f"CASE WHEN {std} THEN {_q(element + ' (standard coding)')} ELSE {_q(element)} END"
        values = {
            "family": _q(FAMILY),
            "stg_table": _q(key),
            "column_group": column_group,
            "column_name": "'code'",
            "person_key": "x.person_key",
            "visit_occurrence_id": visit_id_sql("x.encounter_key"),
            "start_date": "x.start_date",
            "type_concept_id": type_sql,
            "vocabulary_id": f"CASE WHEN {std} THEN x.std_vocabulary_id ELSE x.vocabulary_id END",
            "raw_code": "x.code",
            "source_code": f"CASE WHEN {std} THEN cb_norm_code(x.std_vocabulary_id, x.std_code) END",
            "default_domain": domain,
            "emit_unmapped": "TRUE",
            "event_key": "'fhir|' || x.resource_key",
            "_src": "x._src",
        }
        if key in ("fhir_condition", "fhir_procedure", "fhir_medication"):
            values["end_date"] = "x.end_date"
        if key == "fhir_condition":
            values["status_source_value"] = "x.verification_status"
        if key == "fhir_medication":
            values.update({"quantity": "x.quantity", "days_supply": "x.days_supply", "sig": "x.sig"})
        if key == "fhir_observation":
            values["value_as_string"] = "x.value_string"
        parts.append(_event(values, f"{staged(key, s)} x {mapped_join('x')}"))
    return parts


def source_events_sql(s: Shared) -> str:
    """All FHIR events of known persons, ``source_code`` normalised."""
    return events_of_known_persons_sql(fhir_events(s), s)


def fhir_routed_events_sql(s: Shared) -> str:
    """The routed events of the FHIR feed (see :func:`..events.routed_events_sql`)."""
    return routed_events_sql(s, source_events_sql(s))
