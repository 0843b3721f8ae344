"""FHIR feed staging -> the non-event OMOP tables: person, observation_period, visit_occurrence,
care_site, death, specimen.  (Event tables come from :mod:`.events` through the shared routing.)

* **person**: one per person_key of ``stg_fhir_patient`` (:func:`.relations.known_persons_sql`);
  gender male -> 8507, female -> 8532, other/unknown -> 0 (gender_source_value
  kept); year/month/day and birth_datetime from the birth date; race and
  ethnicity 0 (FHIR core does not carry them).  Provenance: every Patient row
  of the person.
* **observation_period** (type 32817 EHR): one per person, from the earliest
  to the latest date of the person's records (visits, routed events,
  specimens, death).  The read step quarantines Patients without any record
  (``no_clinical_data``), so every person has one.
* **visit_occurrence** (type 32817 EHR): one per staged Encounter; class
  (v3 ActCode) IMP, ACUTE, NONAC -> 9201 inpatient (262 ER and inpatient when
  hospitalization.admitSource is ``emd``), EMER -> 9203, AMB, OBSENC, SS ->
  9202, any other class -> 0 with visit_source_value = the class code.  End =
  period.end, else the start.  care_site = the service provider.
* **care_site**: one per Encounter.serviceProvider (the Organization's key),
  named as the Organization (else its key).
* **death** (type 32817 EHR): Patient.deceasedDateTime, the earliest per
  person; no cause (FHIR Patient has none).  ``deceasedBoolean`` alone gives
  no death row (OMOP needs the date).
* **specimen** (type 32817 EHR): one per Specimen; concept = the 'Maps to' of
  the type coding (the standard coding when the source one does not map, as
  for events), 0 if none; specimen_source_id = the resource key (at most 50
  characters), specimen_source_value = the type code.
"""

from __future__ import annotations

from terminology import concepts as C

from .. import ids
from ..columns import cdm_select
from ..death import chosen_deaths_sql
from ..events import routed_code_usage_sql, single_concept_sql
from ..relations import Shared
from .events import visit_id_sql
from .relations import mapped_join, staged, use_standard_sql

#: Encounter.class code -> visit concept (others: 0)
VISIT_CLASSES = {
    "IMP": C.VISIT_INPATIENT, "ACUTE": C.VISIT_INPATIENT, "NONAC": C.VISIT_INPATIENT,
    "EMER": C.VISIT_EMERGENCY,
    "AMB": C.VISIT_OUTPATIENT, "OBSENC": C.VISIT_OUTPATIENT, "SS": C.VISIT_OUTPATIENT,
}
INPATIENT_CLASSES = ("IMP", "ACUTE", "NONAC")
#: hospitalization.admitSource code of an admission through the emergency department
ADMIT_FROM_EMERGENCY = "emd"
SPECIMEN_GROUP = "Specimen.type"


def visit_concept_sql(alias: str = "e") -> str:
    cases = " ".join(f"WHEN '{k}' THEN {v}" for k, v in VISIT_CLASSES.items())
    inpatient = ", ".join(f"'{c}'" for c in INPATIENT_CLASSES)
    return (f"CASE WHEN upper({alias}.class_code) IN ({inpatient}) AND {alias}.admit_source = '{ADMIT_FROM_EMERGENCY}' "
            f"THEN {C.VISIT_ER_AND_INPATIENT} ELSE CASE upper({alias}.class_code) {cases} "
            f"ELSE {C.NO_MATCHING_CONCEPT} END END")


def visits_sql(s: Shared) -> str:
    """Staged encounters of known persons with visit_occurrence_id, dates and concept (``<visits>encounter``)."""
    return f"""
SELECT e.*, {visit_id_sql('e.resource_key')} AS visit_occurrence_id,
       e.start_date AS visit_start, greatest(coalesce(e.end_date, e.start_date), e.start_date) AS visit_end,
       {visit_concept_sql('e')} AS visit_concept_id, {C.TYPE_EHR} AS visit_type_concept_id
FROM {staged('fhir_encounter', s)} e
WHERE e.person_key IN (SELECT person_key FROM {s.persons_rel()})"""


def deaths_sql(s: Shared) -> str:
    """One death per known person from Patient.deceasedDateTime (the earliest)."""
    return f"""
WITH candidates AS (
    SELECT person_key, deceased_date AS death_date, {C.TYPE_EHR} AS type_concept_id,
           NULL::VARCHAR AS vocabulary_id, NULL::VARCHAR AS raw_code, NULL::VARCHAR AS column_group, 1 AS prio,
           'fhir_patient' AS t, _source_file, _row_number, _src
    FROM {staged('fhir_patient', s)} WHERE deceased_date IS NOT NULL
)
SELECT * FROM ({chosen_deaths_sql("candidates", s)})
"""


def persons_to_person(shared: Shared, provenance: bool = False) -> str:
    exprs = {
        "person_id": ids.person_id_sql("person_key"),
        "gender_concept_id": (
            f"CASE gender WHEN 'male' THEN {C.GENDER_MALE} WHEN 'female' THEN {C.GENDER_FEMALE} "
            f"ELSE {C.NO_MATCHING_CONCEPT} END"
        ),
        "year_of_birth": "year(birth_date)",
        "month_of_birth": "month(birth_date)",
        "day_of_birth": "day(birth_date)",
        "birth_datetime": "CAST(birth_date AS TIMESTAMP)",
        "race_concept_id": str(C.NO_MATCHING_CONCEPT),
        "ethnicity_concept_id": str(C.NO_MATCHING_CONCEPT),
        "gender_source_value": "gender",
        "gender_source_concept_id": str(C.NO_MATCHING_CONCEPT),
    }
    return cdm_select(
        "person", exprs, f"{shared.persons_rel()} p", provenance=provenance,
        key_sql=ids.key_sql("person", "person_key"), prov_sql="prov",
    )


def specimen_events_sql(s: Shared) -> str:
    """Specimens of known persons with the coding used, its source concept and target concept."""
    std = use_standard_sql("x")
    rows = f"""
SELECT x.*, CASE WHEN {std} THEN x.std_vocabulary_id ELSE x.vocabulary_id END AS coding_vocabulary_id,
       CASE WHEN {std} THEN cb_norm_code(x.std_vocabulary_id, x.std_code)
            ELSE cb_norm_code(x.vocabulary_id, x.code) END AS source_code,
       CASE WHEN {std} THEN '{SPECIMEN_GROUP} (standard coding)' ELSE '{SPECIMEN_GROUP}' END AS column_group
FROM {staged('fhir_specimen', s)} x {mapped_join('x')}
WHERE x.person_key IN (SELECT person_key FROM {s.persons_rel()})"""
    return single_concept_sql(rows, "c.coding_vocabulary_id", "c.source_code", "c.start_date")


def samples_to_specimen(shared: Shared, provenance: bool = False) -> str:
    exprs = {
        "specimen_id": ids.id_sql("specimen", "'fhir|' || resource_key"),
        "person_id": ids.person_id_sql("person_key"),
        "specimen_concept_id": "coalesce(target_concept_id, 0)",
        "specimen_type_concept_id": str(C.TYPE_EHR),
        "specimen_date": "start_date",
        "specimen_source_id": "left(resource_key, 50)",
        "specimen_source_value": "code",
    }
    return cdm_select(
        "specimen", exprs, f"({specimen_events_sql(shared)}) s", provenance=provenance,
        key_sql=ids.key_sql("specimen", "'fhir|' || resource_key"), prov_sql="[_src]",
    )


def _care_site_id(provider_sql: str) -> str:
    return ids.id_sql("care_site", f"'fhir|' || {provider_sql}")


def encounters_to_care_site(shared: Shared, provenance: bool = False) -> str:
    with_sql = f"""p AS (
    SELECT service_provider AS provider, max(service_provider_name) AS name, min(_src) AS _src
    FROM {shared.visits_rel('encounter')} WHERE service_provider IS NOT NULL GROUP BY 1
)"""
    exprs = {
        "care_site_id": _care_site_id("provider"),
        "care_site_name": "coalesce(name, provider)",
        "care_site_source_value": "left(provider, 50)",
    }
    return cdm_select(
        "care_site", exprs, "p", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("care_site", "'fhir|' || provider"), prov_sql="[_src]",
    )


def encounters_to_visit_occurrence(shared: Shared, provenance: bool = False) -> str:
    exprs = {
        "visit_occurrence_id": "visit_occurrence_id",
        "person_id": ids.person_id_sql("person_key"),
        "visit_concept_id": "visit_concept_id",
        "visit_start_date": "visit_start",
        "visit_end_date": "visit_end",
        "visit_type_concept_id": "visit_type_concept_id",
        "care_site_id": f"CASE WHEN service_provider IS NOT NULL THEN {_care_site_id('service_provider')} END",
        "visit_source_value": "class_code",
        "admitted_from_source_value": "admit_source",
    }
    return cdm_select(
        "visit_occurrence", exprs, f"{shared.visits_rel('encounter')} v", provenance=provenance,
        key_sql=ids.key_sql("visit_occurrence", "'fhir|' || resource_key"), prov_sql="[_src]",
    )


def _dated_records_sql(s: Shared) -> str:
    """(person_key, d) of every dated record of a known person."""
    return f"""
SELECT person_key, visit_start AS d FROM {s.visits_rel('encounter')}
UNION ALL SELECT person_key, visit_end FROM {s.visits_rel('encounter')}
UNION ALL SELECT p.person_key, r.start_date FROM {s.routed_rel()} r JOIN {s.persons_rel()} p
          ON r.person_id = {ids.person_id_sql('p.person_key')}
UNION ALL SELECT p.person_key, r.end_date FROM {s.routed_rel()} r JOIN {s.persons_rel()} p
          ON r.person_id = {ids.person_id_sql('p.person_key')}
UNION ALL SELECT person_key, start_date FROM {staged('fhir_specimen', s)}
UNION ALL SELECT person_key, death_date FROM {s.deaths_rel()}"""


def persons_to_observation_period(shared: Shared, provenance: bool = False) -> str:
    s = shared
    with_sql = f"""spans AS (
    SELECT p.person_key, p._src, min(r.d) AS start_d, max(r.d) AS end_d
    FROM {s.persons_rel()} p JOIN ({_dated_records_sql(s)}) r USING (person_key)
    WHERE r.d IS NOT NULL GROUP BY p.person_key, p._src
)"""
    exprs = {
        "observation_period_id": ids.id_sql("observation_period", "person_key"),
        "person_id": ids.person_id_sql("person_key"),
        "observation_period_start_date": "start_d",
        "observation_period_end_date": "end_d",
        "period_type_concept_id": str(C.TYPE_EHR),
    }
    return cdm_select(
        "observation_period", exprs, "spans", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("observation_period", "person_key"), prov_sql="[_src]",
    )


def code_usage_sql(s: Shared) -> str:
    return f"""
SELECT * FROM (
{routed_code_usage_sql(s)}
    UNION ALL
    SELECT 'fhir_specimen', column_group, coding_vocabulary_id, source_code, source_concept_id, target_concept_id,
           count(*)
    FROM ({specimen_events_sql(s)}) WHERE code IS NOT NULL GROUP BY ALL
)
ORDER BY source_table, source_column_group, vocabulary_id, source_code, target_concept_id
"""
