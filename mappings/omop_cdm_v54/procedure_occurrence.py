"""procedure_occurrence: routed events whose target domain is Procedure (see :mod:`.events`).

Claims: ICD_OP_CODEn (ICD9Proc before 2016, ICD10PCS after), fee orders
(NHI Fee, ORDER_TYPE 2 and other non-drug, non-material types; unmapped ones
land here with concept 0) and any order code mapping to a Procedure; type 32810
claim; quantity = the order quantity rounded to an integer.  Cancer treatments
(SURG/RT/CHEMO codes of the local 'TCR Treatment' vocabulary; unmapped ones with concept 0);
type 32879 registry.
"""

from __future__ import annotations

from .events import routed_table_select

TABLE = "procedure_occurrence"


def routed_exprs() -> dict[str, str]:
    """The table's columns over a routed event ``r`` (shared by every site's mapping of this table)."""
    return {
        "procedure_concept_id": "r.target_concept_id",
        "procedure_date": "r.start_date",
        "procedure_end_date": "r.end_date",
        "procedure_type_concept_id": "r.type_concept_id",
        "quantity": "CAST(round(r.quantity) AS BIGINT)",
        "procedure_source_value": "r.raw_code",
        "procedure_source_concept_id": "r.source_concept_id",
    }


def claims_to_procedure_occurrence(shared=None, provenance: bool = False) -> str:
    """Claims procedure codes and fee orders routed to Procedure."""
    return routed_table_select(TABLE, ("claims",), routed_exprs(), shared, provenance)


def cancer_to_procedure_occurrence(shared=None, provenance: bool = False) -> str:
    """Cancer registry treatments whose local code maps to a Procedure."""
    return routed_table_select(TABLE, ("cancer",), routed_exprs(), shared, provenance)


def biobank_to_procedure_occurrence(shared=None, provenance: bool = False) -> str:
    """Biobank events mapping to a Procedure (normally none)."""
    return routed_table_select(TABLE, ("biobank",), routed_exprs(), shared, provenance)


MAPPINGS = (claims_to_procedure_occurrence, cancer_to_procedure_occurrence, biobank_to_procedure_occurrence)
