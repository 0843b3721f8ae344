"""Staging tables of the FHIR inbound feed, declared like a site's file types.

Each :class:`FhirTable` has what the site-independent machinery reads from a
file type (``key``, ``columns`` of :class:`connectors.layout.Column`,
``column_names``, ``source_name``, ``description``, ``unique_key``,
``links``), so :func:`crossbridge.pipeline.common.register_staging_views`
makes ``stg_<key>`` views of them and :mod:`validators.staging_suites`
generates their Great Expectations suites.  :func:`table_columns` is their
staged schema (``connectors.layout.staging_columns``: ``person_key`` for the
identity column, ``date32`` for dates, provenance last).

=======================  ====================================================  ==============================
table                    one row per                                           resource types
=======================  ====================================================  ==============================
fhir_patient             Patient (several may share a person_key)              Patient
fhir_encounter           Encounter with a start date                           Encounter
fhir_condition           Condition                                             Condition
fhir_medication          medication record (``resource_type`` says which)      MedicationDispense,
                                                                               MedicationRequest,
                                                                               MedicationStatement,
                                                                               MedicationAdministration,
                                                                               Immunization
fhir_procedure           Procedure                                             Procedure
fhir_observation         Observation (its components are counted, not          Observation
                         staged: ``component_count``)
fhir_specimen            Specimen                                              Specimen
fhir_diagnostic_report   DiagnosticReport                                      DiagnosticReport
=======================  ====================================================  ==============================

Coded elements are staged twice: the *source* coding (the first coding whose
system is not a standard OMOP vocabulary, i.e. the national one; if every
coding is standard, the first coding) as ``code_system`` / ``vocabulary_id``
/ ``code``, and the first *standard* coding (SNOMED, LOINC, RxNorm ...) as
``std_vocabulary_id`` / ``std_code``.  ``vocabulary_id`` comes from
:func:`terminology.systems.vocabulary_for_uri` (NULL for an unknown system:
the code is still staged and maps to concept 0 later).

Resource types that are read only to resolve references (:data:`REFERENCE_TYPES`:
Organization, Location, Medication ...) are not staged: they are accounted
for in ``merged/`` with reason ``reference_data``.  Every other type is
quarantined as ``unsupported_resource_type``.

:func:`identify` names the *input* kind of a landing file (NDJSON or JSON
document), which is what the pipeline's extract stage inventories.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.layout import PERSON_KEY, C, Column, Link, staging_columns

__all__ = [
    "BY_KEY", "FILE_TYPES", "FhirInput", "FhirTable", "INPUT_KINDS", "MERGE_REASONS", "QUARANTINE_REASONS",
    "REFERENCE_TYPES", "RESOURCE_TABLES", "STANDARD_VOCABULARIES", "identify", "table_columns",
]


@dataclass(frozen=True)
class FhirTable:
    """One staging table of the FHIR feed (the file-type interface of :mod:`connectors.layout`)."""

    key: str  # staging table name, e.g. "fhir_condition"
    resource_types: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str
    unique_key: tuple[str, ...] = ("resource_key",)
    links: tuple[Link, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_name(self) -> str:
        return "FHIR " + "/".join(self.resource_types)


@dataclass(frozen=True)
class FhirInput:
    """An input kind of the landing zone (what :func:`identify` returns)."""

    key: str  # "fhir_ndjson" | "fhir_json"
    description: str
    suffixes: tuple[str, ...]

    @property
    def file_pattern(self) -> re.Pattern[str]:
        alts = "|".join(re.escape(s) for s in self.suffixes)
        return re.compile(rf"^[^.].*({alts})$")


NDJSON = FhirInput("fhir_ndjson", "FHIR Bulk Data NDJSON: one resource (or Bundle) per line",
                   (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz"))
JSON_DOCUMENT = FhirInput("fhir_json", "one FHIR JSON document: a Bundle (entries are the resources) or a resource",
                          (".json", ".json.gz"))
INPUT_KINDS = (NDJSON, JSON_DOCUMENT)


def identify(file_name: str) -> FhirInput | None:
    """The input kind of a landing file name (case-insensitive), or None."""
    low = file_name.lower()
    for kind in INPUT_KINDS:  # two kinds
        if kind.file_pattern.match(low):
            return kind
    return None


#: vocabularies whose codings count as *standard* (the OMOP target vocabularies)
STANDARD_VOCABULARIES = frozenset({"SNOMED", "LOINC", "RxNorm", "RxNorm Extension", "CVX", "UCUM", "HCPCS", "CPT4"})

_ID = C("resource_key", "str", required=True)  # "<type>/<id>" (or "<type>/<fullUrl>" for a bundle entry without id)
_PERSON = C(PERSON_KEY, "study_id", required=True)  # site pseudonym (never a raw identifier)
_ENCOUNTER = C("encounter_key", "str")  # resource_key of the staged Encounter of the same person, if any
_CODE = (
    C("code_system", "str"),  # FHIR system URI of the source coding
    C("vocabulary_id", "code", 20),  # OMOP vocabulary of the source coding (NULL: unknown system)
    C("code", "code", required=True),  # the source code as written
    C("std_vocabulary_id", "code", 20),  # first standard coding (SNOMED, LOINC, RxNorm ...), if any
    C("std_code", "code"),
)
_START = C("start_date", "iso_date", required=True)

_PERSON_LINK = Link("fhir_patient", (PERSON_KEY,))
_ENCOUNTER_LINK = Link("fhir_encounter", ("encounter_key",), ("resource_key",))

PATIENT = FhirTable(
    "fhir_patient", ("Patient",),
    (
        _ID, _PERSON,
        # how person_key was made: national_id (validated, pseudonymised), temporary_id (a temporary henkilötunnus),
        # pseudonym (a Crossbridge pseudonym kept), identifier (HMAC of system|value), resource (HMAC of file|key)
        C("identity_source", "code", 12, required=True,
          values=("national_id", "temporary_id", "pseudonym", "identifier", "resource")),
        C("gender", "code", 7, values=("male", "female", "other", "unknown")),
        C("birth_date", "iso_date", required=True, earliest_year=1800),
        C("deceased_date", "iso_date"),
    ),
    "FHIR Patient: the person's pseudonym, gender, birth date and date of death.",
)
ENCOUNTER = FhirTable(
    "fhir_encounter", ("Encounter",),
    (
        _ID, _PERSON,
        C("status", "code", 16),
        C("class_system", "str"),
        C("class_code", "code", 16),  # v3 ActCode: AMB, IMP, EMER, ACUTE, NONAC, OBSENC, SS, HH, VR, ...
        C("admit_source", "code", 32),  # hospitalization.admitSource (emd = from the emergency department)
        _START,
        C("end_date", "iso_date"),
        C("service_provider", "str"),  # resource_key of the Organization (or the reference as written)
        C("service_provider_name", "str"),  # the Organization's name, when it was in the input
    ),
    "FHIR Encounter: a visit with its class, period and provider.",
    links=(_PERSON_LINK,),
)
CONDITION = FhirTable(
    "fhir_condition", ("Condition",),
    (
        _ID, _PERSON, _ENCOUNTER, *_CODE,
        _START,  # onset[x] (dateTime or period start), else recordedDate
        C("recorded_date", "iso_date"),
        C("end_date", "iso_date"),  # abatement[x]
        C("clinical_status", "code", 16),
        C("verification_status", "code", 20),
        C("category", "code", 32),
    ),
    "FHIR Condition: a diagnosis or problem.",
    links=(_PERSON_LINK, _ENCOUNTER_LINK),
)
MEDICATION_TYPES = ("MedicationDispense", "MedicationRequest", "MedicationStatement", "MedicationAdministration",
                    "Immunization")
MEDICATION = FhirTable(
    "fhir_medication", MEDICATION_TYPES,
    (
        _ID,
        C("resource_type", "code", 24, required=True, values=MEDICATION_TYPES),
        _PERSON, _ENCOUNTER,
        C("status", "code", 20),
        *_CODE,  # medicationCodeableConcept, the contained or referenced Medication's code, or vaccineCode
        C("medication_key", "str"),  # resource_key of a referenced Medication (reference data)
        _START,  # whenHandedOver / authoredOn / effective[x] / occurrenceDateTime
        C("end_date", "iso_date"),  # effectivePeriod.end
        C("quantity", "decimal"),
        C("quantity_unit", "str"),
        C("days_supply", "int"),
        C("sig", "str"),
    ),
    "FHIR medication records (dispensed, prescribed, stated, administered; immunisations).",
    links=(_PERSON_LINK, _ENCOUNTER_LINK),
)
PROCEDURE = FhirTable(
    "fhir_procedure", ("Procedure",),
    (
        _ID, _PERSON, _ENCOUNTER,
        C("status", "code", 20),
        *_CODE,
        _START,  # performedDateTime / performedPeriod.start
        C("end_date", "iso_date"),
    ),
    "FHIR Procedure.",
    links=(_PERSON_LINK, _ENCOUNTER_LINK),
)
SPECIMEN = FhirTable(
    "fhir_specimen", ("Specimen",),
    (
        _ID, _PERSON,
        C("status", "code", 20),
        C("code_system", "str"),
        C("vocabulary_id", "code", 20),
        C("code", "code"),  # Specimen.type (optional)
        C("std_vocabulary_id", "code", 20),
        C("std_code", "code"),
        _START,  # collection.collected[x], else receivedTime
    ),
    "FHIR Specimen: a sample with its type and collection date.",
    links=(_PERSON_LINK,),
)
OBSERVATION = FhirTable(
    "fhir_observation", ("Observation",),
    (
        _ID, _PERSON, _ENCOUNTER,
        C("status", "code", 20),
        C("category", "code", 32),  # laboratory, vital-signs, social-history, ...
        *_CODE,
        _START,  # effective[x], else issued
        C("value_number", "decimal"),  # valueQuantity.value / valueInteger
        C("value_comparator", "code", 2, values=("<", "<=", ">=", ">")),
        C("value_unit", "str"),  # valueQuantity.unit
        C("value_unit_code", "str"),  # valueQuantity.code (UCUM)
        C("value_string", "str"),  # valueString / valueBoolean / valueDateTime / valueRange / valueRatio as text
        C("value_code_system", "str"),
        C("value_vocabulary_id", "code", 20),
        C("value_code", "code"),  # valueCodeableConcept (first coding)
        C("range_low", "decimal"),
        C("range_high", "decimal"),
        C("specimen_key", "str"),  # resource_key of the staged Specimen, if any
        C("component_count", "int"),  # components of the resource (not staged: see the module docstring)
    ),
    "FHIR Observation: a laboratory result, vital sign or other observation.",
    links=(_PERSON_LINK, _ENCOUNTER_LINK, Link("fhir_specimen", ("specimen_key",), ("resource_key",))),
)
DIAGNOSTIC_REPORT = FhirTable(
    "fhir_diagnostic_report", ("DiagnosticReport",),
    (
        _ID, _PERSON, _ENCOUNTER,
        C("status", "code", 20),
        C("category", "code", 32),
        *_CODE,
        _START,  # effective[x], else issued
    ),
    "FHIR DiagnosticReport: that a report (panel, study) was made; its results are Observations.",
    links=(_PERSON_LINK, _ENCOUNTER_LINK),
)

FILE_TYPES: tuple[FhirTable, ...] = (
    PATIENT, ENCOUNTER, CONDITION, MEDICATION, PROCEDURE, SPECIMEN, OBSERVATION, DIAGNOSTIC_REPORT,
)
BY_KEY = {ft.key: ft for ft in FILE_TYPES}
#: resource type -> its staging table
RESOURCE_TABLES: dict[str, FhirTable] = {rt: ft for ft in FILE_TYPES for rt in ft.resource_types}
#: resource types read only to resolve references (accounted as merged ``reference_data``)
REFERENCE_TYPES = frozenset({
    "Organization", "Location", "Practitioner", "PractitionerRole", "Provenance", "Medication", "Device",
    "HealthcareService", "Endpoint", "Composition", "MessageHeader", "OperationOutcome", "RelatedPerson", "Group",
})


def table_columns(ft) -> list[tuple[str, str]]:
    """(name, Arrow type name) of ``staging/tables/<key>/*.parquet`` (what ``stg_<key>`` holds)."""
    return staging_columns(ft)


QUARANTINE_REASONS = {
    "invalid_json": "a line (or document) is not valid UTF-8 JSON, or not a JSON object",
    "not_a_resource": "a JSON object without a resourceType, or a bundle entry without a resource",
    "unsupported_resource_type": "a resource type the feed neither stages nor keeps as reference data",
    "invalid_resource": "a required element is missing or malformed, or structural validation (R4B) failed",
    "bad_date": "a date element is not a FHIR date/dateTime, or lies outside its plausible range",
    "invalid_national_id": "a national identifier fails the format or check-character rule",
    "invalid_pseudonym": "an identifier of a Crossbridge pseudonym system is not 64 hexadecimal digits",
    "void_status": "the status says the record is void or the act did not happen (entered-in-error, cancelled, ...)",
    "unresolved_reference": "the subject (or the referenced Medication) is not among the staged resources",
    "duplicate_id": "same type and id as a kept resource, other content, and no newer version stated",
    "no_clinical_data": "a Patient no staged resource refers to and without a date of death (no observation time)",
}
MERGE_REASONS = {
    "reference_data": "a resource read to resolve references (Organization, Location, Medication ...), not staged",
    "duplicate_resource": "an exact repeat of a kept resource (same type, id and content)",
    "superseded_version": "an older version (meta.lastUpdated, else meta.versionId) of a kept resource",
    "replaced_patient": "a Patient replaced by another (link replaced-by, an A40 merge) with no data of its own",
}
#: the internal work tables of the read step (``staging/raw/<name>/``), besides the staging tables
WORK_TABLES = ("fhir_index", "fhir_reference")
