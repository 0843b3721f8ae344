"""death: one row per person, from the cause-of-death file, else from an in-hospital death claim.

Sources, in priority: (1) stg_death (death_type 32815 death certificate):
death_date = D_DATE; cause = the underlying cause, from the ICD10 column
(WHO 'ICD10', dot after 3: I219 -> I21.9) when filled, else D_CODE read as
'ICD10' from 2008, 'ICD9CM' for 1981-2007 (dot after 3: 4109 -> 410.9, 410
stays 410), and left unmapped (ICD-8) before 1981; (2) an inpatient segment
with TRAN_CODE '4' (died) (death_type 32810 claim): death_date = OUT_DATE
(else APPL_END_DATE), no cause.  A person with several candidate rows keeps the
registry row, then the earliest date, then file/row order; so a person who
died in hospital and is in the death file has one row, from the death file.
cause_concept_id = the 'Maps to' target (the smallest concept id if several;
0 if none); cause_source_value = the code as staged; cause_source_concept_id =
the code's own concept, else 0.  Only the chosen row enters the lineage: a
person's other death rows are reported unused.
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .codes import ICD9_DEATH_FROM, ICD10_DEATH_FROM
from .columns import cdm_select
from .events import single_concept_sql
from .provenance import staged_sql
from .relations import shared_or_inline


def deaths_sql(shared=None) -> str:
    """One death per known person: person_key, date, type, vocabulary, raw and normalised cause, provenance."""
    s = shared_or_inline(shared)
    return f"""
WITH candidates AS (
    SELECT person_key, D_DATE AS death_date, {C.TYPE_DEATH_CERTIFICATE} AS type_concept_id,
           CASE WHEN cb_clean_code(ICD10) IS NOT NULL THEN 'ICD10'
                WHEN cb_clean_code(D_CODE) IS NULL THEN NULL
                WHEN D_DATE >= DATE '{ICD10_DEATH_FROM}' THEN 'ICD10'
                WHEN D_DATE >= DATE '{ICD9_DEATH_FROM}' THEN 'ICD9CM' END AS vocabulary_id,
           coalesce(cb_clean_code(ICD10), cb_clean_code(D_CODE)) AS raw_code,
           CASE WHEN cb_clean_code(ICD10) IS NOT NULL THEN 'ICD10' ELSE 'D_CODE' END AS column_group,
           1 AS prio, 'death' AS t, _source_file, _row_number, _src
    FROM ({staged_sql('death', s.files_rel())})
    UNION ALL
    SELECT person_key, coalesce(OUT_DATE, APPL_END_DATE), {C.TYPE_CLAIM}, NULL, NULL, NULL,
           2, 'ipdte', _source_file, _row_number, _src
    FROM {s.visits_rel('ipdte')} WHERE cb_clean_code(TRAN_CODE) = '4'
)
SELECT * FROM ({chosen_deaths_sql("candidates", s)})
"""


def chosen_deaths_sql(candidates: str, shared, order: str = "prio, death_date, _source_file, _row_number") -> str:
    """One death per known person from ``candidates`` (a relation or CTE name), with its cause mapped.

    ``candidates`` has person_key, death_date, type_concept_id, vocabulary_id,
    raw_code (the cause as staged, NULL if none), column_group, prio, t and
    provenance (_source_file, _row_number, _src); the first row per person by
    ``order`` wins.  Adds source_code, source_concept_id, cause_concept_id (see
    :func:`.events.single_concept_sql`) and ``prov``.  Shared by every site.
    """
    s = shared_or_inline(shared)
    chosen = f"""
SELECT *, cb_norm_code(vocabulary_id, raw_code) AS source_code FROM {candidates}
WHERE death_date IS NOT NULL AND person_key IN (SELECT person_key FROM {s.persons_rel()})
QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY {order}) = 1
"""
    mapped = single_concept_sql(chosen, "c.vocabulary_id", "c.source_code", "c.death_date", "c.raw_code IS NOT NULL")
    return f"SELECT * EXCLUDE (target_concept_id), target_concept_id AS cause_concept_id, [_src] AS prov FROM ({mapped})"


def death_to_death(shared=None, provenance: bool = False) -> str:
    """SELECT of the death table (one row per person)."""
    s = shared_or_inline(shared)
    exprs = {
        "person_id": ids.person_id_sql("person_key"),
        "death_date": "death_date",
        "death_type_concept_id": "type_concept_id",
        "cause_concept_id": "cause_concept_id",
        "cause_source_value": "raw_code",
        "cause_source_concept_id": "source_concept_id",
    }
    return cdm_select(
        "death", exprs, f"{s.deaths_rel()} d", provenance=provenance,
        key_sql=ids.key_sql("death", "person_key"), prov_sql="prov", order_by="person_id",
    )


