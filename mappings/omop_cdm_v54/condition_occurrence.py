"""condition_occurrence: routed events whose target domain is Condition (see :mod:`.events`).

Claims diagnoses (ICD9CM_1..n of opdte/ipdte): status 32902 primary diagnosis
for column 1, 32908 secondary for the others (condition_status_source_value =
the column name); type 32810 claim; start = visit FUNC_DATE / segment
APPL_BEG_DATE.  Unmapped codes: concept 0, condition_source_value = the raw
code as staged (no dot), source concept = the code's own concept if the
vocabulary has it, else 0.  Cancer registry tumours (ICDO3): type 32879
registry, start = diagnosis date (partial dates imputed, see
:mod:`.codes`), source value 'HISTBEH-CASITE'.
"""

from __future__ import annotations


from .events import routed_table_select

TABLE = "condition_occurrence"


def routed_exprs() -> dict[str, str]:
    """The table's columns over a routed event ``r`` (shared by every site's mapping of this table)."""
    return {
        "condition_concept_id": "r.target_concept_id",
        "condition_start_date": "r.start_date",
        "condition_end_date": "r.end_date",
        "condition_type_concept_id": "r.type_concept_id",
        "condition_status_concept_id": "r.status_concept_id",
        "condition_source_value": "r.raw_code",
        "condition_source_concept_id": "r.source_concept_id",
        "condition_status_source_value": "r.status_source_value",
    }


def claims_to_condition_occurrence(shared=None, provenance: bool = False) -> str:
    """Claims events (diagnoses, and any other claim code mapping to a Condition)."""
    return routed_table_select(TABLE, ("claims",), routed_exprs(), shared, provenance)


def cancer_to_condition_occurrence(shared=None, provenance: bool = False) -> str:
    """Cancer registry tumours (ICDO3 morphology/behaviour-topography)."""
    return routed_table_select(TABLE, ("cancer",), routed_exprs(), shared, provenance)


def biobank_to_condition_occurrence(shared=None, provenance: bool = False) -> str:
    """Biobank events mapping to a Condition (none with the standard consent codes)."""
    return routed_table_select(TABLE, ("biobank",), routed_exprs(), shared, provenance)


MAPPINGS = (claims_to_condition_occurrence, cancer_to_condition_occurrence, biobank_to_condition_occurrence)
