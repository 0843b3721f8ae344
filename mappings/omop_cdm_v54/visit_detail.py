"""visit_detail: one row per inpatient billing segment (ipdte row), under its stay's visit_occurrence.

9201 inpatient; start APPL_BEG_DATE, end APPL_END_DATE; type 32810 claim;
preceding_visit_detail_id = the previous segment of the same stay (by
APPL_BEG_DATE); discharged_to only on the segment carrying OUT_DATE;
visit_occurrence_id = the stay ('ipdte|<stay_key>').  Key: 'ipdte|<visit_key>'.
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .care_site import hosb_ids_sql
from .columns import cdm_select
from .relations import shared_or_inline
from .visit_occurrence import discharged_to_sql


def ipdte_to_visit_detail(shared=None, provenance: bool = False) -> str:
    """SELECT of visit_detail from stg_ipdte segments."""
    s = shared_or_inline(shared)
    with_sql = f"""hosb AS ({hosb_ids_sql()}),
seg AS (
    SELECT *, cb_clean_code(HOSP_ID) AS seg_hosp,
           lag(visit_uid) OVER (PARTITION BY stay_key
                                ORDER BY APPL_BEG_DATE, APPL_END_DATE, visit_uid) AS prev_visit_uid,
           CASE WHEN OUT_DATE IS NOT NULL THEN cb_clean_code(TRAN_CODE) END AS disch_code
    FROM {s.visits_rel('ipdte')}
    WHERE person_key IN (SELECT person_key FROM {s.persons_rel()})
)"""
    exprs = {
        "visit_detail_id": "seg.visit_detail_id",  # = id of 'visit_detail|ipdte|' || visit_uid
        "person_id": ids.person_id_sql("person_key"),
        "visit_detail_concept_id": str(C.VISIT_INPATIENT),
        "visit_detail_start_date": "APPL_BEG_DATE",
        "visit_detail_end_date": "APPL_END_DATE",
        "visit_detail_type_concept_id": str(C.TYPE_CLAIM),
        "care_site_id": "hosb.care_site_id",
        "visit_detail_source_value": "'ipdte:' || CASE_TYPE",
        "discharged_to_source_value": "disch_code",
        "discharged_to_concept_id": discharged_to_sql("disch_code"),
        "preceding_visit_detail_id": ids.id_sql("visit_detail", "'ipdte|' || prev_visit_uid"),
        "visit_occurrence_id": "seg.visit_occurrence_id",  # the stay: 'visit_occurrence|ipdte|' || stay_key
    }
    return cdm_select(
        "visit_detail",
        exprs,
        "seg LEFT JOIN hosb ON hosb.hosp_id = seg.seg_hosp",
        with_sql=with_sql,
        provenance=provenance,
        key_sql=ids.key_sql("visit_detail", "'ipdte|' || visit_uid"),
        prov_sql="[_src]",
    )
