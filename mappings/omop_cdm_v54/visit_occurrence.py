"""visit_occurrence: outpatient visits, inpatient stays and pharmacy dispensings.

* opdte: one visit per claim (visit_key); 9203 emergency room when CASE_TYPE is
  '02', else 9202 outpatient; start = end = FUNC_DATE; type 32810 claim.
* ipdte: one visit per stay (stay_key) over its monthly billing segments;
  9201 inpatient; start = earliest IN_DATE; end = the stay's OUT_DATE, else
  (still admitted when the data end) the last APPL_END_DATE; discharged_to from
  the TRAN_CODE of the segment that carries OUT_DATE (:data:`DISCHARGE_CONCEPTS`;
  another code -> 0 with the source value kept; no OUT_DATE -> NULL); care
  site = hospital of the first segment; type 32810.
* druge: one pharmacy visit 581458 per dispensing claim; start = end =
  FUNC_DATE; type 32869 pharmacy claim.

visit_source_value is '<file type>:<CASE_TYPE>'.  Business keys (ids):
'opdte|<visit_key>', 'ipdte|<stay_key>', 'druge|<visit_key>' (a visit_key
carried by several visit rows gets '#2', '#3' ... on the later rows, see
:func:`.events.unique_visits_sql`).
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .care_site import hosb_ids_sql
from .columns import cdm_select
from .relations import shared_or_inline

#: TRAN_CODE -> discharged_to concept (CDM conventions: 8536 Home, 8717 Inpatient
#: Hospital for a transfer, 4216643 'Patient died').  Not in terminology.concepts yet.
DISCHARGE_CONCEPTS = {"1": 8536, "4": 4216643, "6": 8717}


def discharged_to_sql(tran_code_sql: str) -> str:
    """SQL: discharged_to_concept_id for a TRAN_CODE expression (NULL when the code is NULL)."""
    whens = " ".join(f"WHEN '{k}' THEN {v}" for k, v in DISCHARGE_CONCEPTS.items())
    return (
        f"CASE WHEN {tran_code_sql} IS NULL THEN NULL "
        f"ELSE CASE {tran_code_sql} {whens} ELSE {C.NO_MATCHING_CONCEPT} END END"
    )


def stays_sql(shared=None) -> str:
    """One row per inpatient stay: key, person, dates, first hospital, discharge code, segment provenance."""
    s = shared_or_inline(shared)
    return f"""
SELECT stay_key,
       min(person_key) AS person_key,
       min(IN_DATE) AS start_date,
       coalesce(max(OUT_DATE), max(APPL_END_DATE)) AS end_date,
       arg_min(cb_clean_code(HOSP_ID), APPL_BEG_DATE) AS hosp_id,
       arg_min(CASE_TYPE, APPL_BEG_DATE) AS case_type,
       CASE WHEN max(OUT_DATE) IS NOT NULL THEN arg_max(cb_clean_code(TRAN_CODE), OUT_DATE) END AS tran_code,
       list(_src) AS prov
FROM {s.visits_rel('ipdte')}
WHERE person_key IN (SELECT person_key FROM {s.persons_rel()})
GROUP BY stay_key
"""


def visits_to_visit_occurrence(shared=None, provenance: bool = False) -> str:
    """SELECT of visit_occurrence from stg_opdte, stg_ipdte (stays) and stg_druge."""
    s = shared_or_inline(shared)
    persons = f"person_key IN (SELECT person_key FROM {s.persons_rel()})"
    with_sql = f"""hosb AS ({hosb_ids_sql()}),
visits AS (
    SELECT 'opdte|' || visit_uid AS vkey, visit_occurrence_id AS vid, person_key,
           CASE WHEN CASE_TYPE = '02' THEN {C.VISIT_EMERGENCY} ELSE {C.VISIT_OUTPATIENT} END AS concept_id,
           FUNC_DATE AS start_date, FUNC_DATE AS end_date, {C.TYPE_CLAIM} AS type_concept_id,
           cb_clean_code(HOSP_ID) AS hosp_id, 'opdte:' || CASE_TYPE AS source_value,
           NULL AS tran_code, [_src] AS prov
    FROM {s.visits_rel('opdte')} WHERE {persons}
    UNION ALL
    SELECT 'ipdte|' || stay_key, {ids.id_sql('visit_occurrence', "'ipdte|' || stay_key")}, person_key,
           {C.VISIT_INPATIENT}, start_date, end_date, {C.TYPE_CLAIM},
           hosp_id, 'ipdte:' || case_type, tran_code, prov
    FROM ({stays_sql(s)})
    UNION ALL
    SELECT 'druge|' || visit_uid, visit_occurrence_id, person_key, {C.VISIT_PHARMACY}, FUNC_DATE, FUNC_DATE,
           {C.TYPE_PHARMACY_CLAIM}, cb_clean_code(HOSP_ID), 'druge:' || CASE_TYPE, NULL, [_src]
    FROM {s.visits_rel('druge')} WHERE {persons}
)"""
    exprs = {
        "visit_occurrence_id": "vid",  # = id of 'visit_occurrence|' || vkey (computed with the unique visits)
        "person_id": ids.person_id_sql("person_key"),
        "visit_concept_id": "concept_id",
        "visit_start_date": "start_date",
        "visit_end_date": "end_date",
        "visit_type_concept_id": "type_concept_id",
        "care_site_id": "hosb.care_site_id",
        "visit_source_value": "source_value",
        "discharged_to_concept_id": discharged_to_sql("tran_code"),
        "discharged_to_source_value": "tran_code",
    }
    return cdm_select(
        "visit_occurrence",
        exprs,
        "visits LEFT JOIN hosb ON hosb.hosp_id = visits.hosp_id",
        with_sql=with_sql,
        provenance=provenance,
        key_sql=ids.key_sql("visit_occurrence", "vkey"),
        prov_sql="prov",
    )
