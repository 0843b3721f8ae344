"""person: one row per known person, demographics from enrolment first, then claims, then death.

Who is a person: every person_key that appears with a birth year in enrolment
(stg_enrol), in a claim visit (opdte, ipdte, druge: they carry ID_BIRTH_Y and
ID_S) or in the cause-of-death file.  Claims persons without an enrolment row
therefore still get a person row.  A person_key with no birth year anywhere
gets no person row (year_of_birth is required) and its records are left out of
every table (the lineage counts show them).

Demographics come from one chosen staged row per person: the source with the
highest priority (enrol > opdte/ipdte/druge > death), then its latest record
(PREM_YM for enrolment, the visit/death date otherwise), ties broken by file and
row number.  gender: ID_S '1' -> 8507, '2' -> 8532, else 0 with
gender_source_value kept; race/ethnicity 0 (not recorded); location = region of
the chosen enrolment row (AREA_NO_I).  person_source_value is left NULL: the
64-hex pseudonym exceeds varchar(50), and person_id is derived from it.
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .columns import cdm_select
from .provenance import staged_sql
from .relations import shared_or_inline


def demographics_sql(shared=None) -> str:
    """Every staged row carrying demographics: person_key, ID_BIRTH_Y, ID_S, AREA_NO_I, priority, date, provenance.

    Provenance: ``_source_file``, ``_row_number`` (tie-breakers) and ``_src`` (provenance id).
    """
    s = shared_or_inline(shared)
    enrol_date = "CAST(strptime(PREM_YM || '01', '%Y%m%d') AS DATE)"
    files = s.files_rel()
    parts = [
        f"SELECT person_key, ID_BIRTH_Y, ID_S, AREA_NO_I, 1 AS prio, {enrol_date} AS d, "
        f"_source_file, _row_number, _src FROM ({staged_sql('enrol', files)})",
        f"SELECT person_key, ID_BIRTH_Y, ID_S, NULL, 2, FUNC_DATE, _source_file, _row_number, _src "
        f"FROM {s.visits_rel('opdte')}",
        f"SELECT person_key, ID_BIRTH_Y, ID_S, NULL, 2, IN_DATE, _source_file, _row_number, _src "
        f"FROM {s.visits_rel('ipdte')}",
        f"SELECT person_key, ID_BIRTH_Y, ID_S, NULL, 2, FUNC_DATE, _source_file, _row_number, _src "
        f"FROM {s.visits_rel('druge')}",
        f"SELECT person_key, ID_BIRTH_Y, ID_S, NULL, 3, D_DATE, _source_file, _row_number, _src "
        f"FROM ({staged_sql('death', files)})",
    ]
    return "\nUNION ALL\n".join(parts)


def known_persons_sql() -> str:
    """person_keys that get a person row (a birth year is known from enrolment, a claim visit or the death file)."""
    union = "\nUNION ALL\n".join(
        f"SELECT person_key, ID_BIRTH_Y FROM stg_{t}" for t in ("enrol", "opdte", "ipdte", "druge", "death")
    )
    return f"SELECT DISTINCT person_key FROM ({union}) WHERE ID_BIRTH_Y IS NOT NULL AND person_key IS NOT NULL"


def enrol_to_person(shared=None, provenance: bool = False) -> str:
    """SELECT of the person table (enrolment plus claims/death persons without enrolment)."""
    with_sql = f"""chosen AS (
    SELECT * FROM ({demographics_sql(shared)}) d
    WHERE ID_BIRTH_Y IS NOT NULL AND person_key IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY person_key ORDER BY prio, d DESC NULLS LAST, _source_file DESC, _row_number DESC) = 1
)"""
    exprs = {
        "person_id": ids.person_id_sql("person_key"),
        "gender_concept_id": (
            f"CASE ID_S WHEN '1' THEN {C.GENDER_MALE} WHEN '2' THEN {C.GENDER_FEMALE} "
            f"ELSE {C.NO_MATCHING_CONCEPT} END"
        ),
        "year_of_birth": "ID_BIRTH_Y",
        "race_concept_id": str(C.NO_MATCHING_CONCEPT),
        "ethnicity_concept_id": str(C.NO_MATCHING_CONCEPT),
        "location_id": ids.id_sql("location", "cb_clean_code(AREA_NO_I)"),
        "gender_source_value": "ID_S",
        "gender_source_concept_id": str(C.NO_MATCHING_CONCEPT),
    }
    return cdm_select(
        "person",
        exprs,
        "chosen",
        with_sql=with_sql,
        provenance=provenance,
        key_sql=ids.key_sql("person", "person_key"),
        prov_sql="[_src]",
    )
