"""specimen: one row per biobank specimen; the person comes through its participant.

specimen_concept_id = the 'Maps to' target of SPECIMEN_TYPE in the local
'NBCT Specimen' vocabulary (the smallest concept id if several: a physical
specimen is one row; 0 if unmapped); specimen_source_value = SPECIMEN_TYPE;
specimen_source_id = SPECIMEN_ID; date = COLLECT_DATE; type 32879 registry
(the biobank's register).  A PARTICIPANT_ID listed twice uses its last row.
DIAG_CODE (linked diagnosis) is not mapped here.
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .columns import cdm_select
from .provenance import staged_sql
from .events import single_concept_sql
from .relations import shared_or_inline

SPECIMEN_VOCABULARY = "NBCT Specimen"


def specimen_events_sql(shared=None) -> str:
    """Specimens of known persons with their normalised type code, source concept and target concept."""
    s = shared_or_inline(shared)
    return f"""
WITH participant AS (
    SELECT cb_clean_code(PARTICIPANT_ID) AS participant_id, person_key FROM stg_bb_participant
    QUALIFY row_number() OVER (PARTITION BY cb_clean_code(PARTICIPANT_ID)
                               ORDER BY _source_file DESC, _row_number DESC) = 1
), sp AS (
    SELECT x.*, p.person_key, cb_norm_code('{SPECIMEN_VOCABULARY}', x.SPECIMEN_TYPE) AS source_code
    FROM ({staged_sql('bb_specimen', s.files_rel())}) x
    JOIN participant p ON p.participant_id = cb_clean_code(x.PARTICIPANT_ID)
    WHERE p.person_key IN (SELECT person_key FROM {s.persons_rel()}) AND x.COLLECT_DATE IS NOT NULL
)
{single_concept_sql("SELECT * FROM sp", f"'{SPECIMEN_VOCABULARY}'", "c.source_code", "c.COLLECT_DATE")}
"""


def bb_specimen_to_specimen(shared=None, provenance: bool = False) -> str:
    """SELECT of the specimen table from stg_bb_specimen (+ stg_bb_participant for the person)."""
    exprs = {
        "specimen_id": ids.id_sql("specimen", "cb_clean_code(SPECIMEN_ID)"),
        "person_id": ids.person_id_sql("person_key"),
        "specimen_concept_id": "target_concept_id",
        "specimen_type_concept_id": str(C.TYPE_REGISTRY),
        "specimen_date": "COLLECT_DATE",
        "specimen_source_id": "cb_clean_code(SPECIMEN_ID)",
        "specimen_source_value": "SPECIMEN_TYPE",
    }
    return cdm_select(
        "specimen", exprs, f"({specimen_events_sql(shared)}) s", provenance=provenance,
        key_sql=ids.key_sql("specimen", "cb_clean_code(SPECIMEN_ID)"),
        prov_sql="[_src]",
    )
