"""measurement: routed events whose target domain is Measurement (see :mod:`.events`).

Mainly NHI Fee lab codes (e.g. 09005C blood glucose) that map to a LOINC
measurement: the claim records that the test was done, not its result, so
value_as_number / value_as_concept_id stay NULL.  Type 32810 claim; date = the
visit's (segment's) date; measurement_source_value = the fee code.
"""

from __future__ import annotations

from .events import routed_table_select

TABLE = "measurement"


def routed_exprs() -> dict[str, str]:
    """The table's columns over a routed event ``r`` (shared by every site's mapping of this table)."""
    return {
        "measurement_concept_id": "r.target_concept_id",
        "measurement_date": "r.start_date",
        "measurement_type_concept_id": "r.type_concept_id",
        "measurement_source_value": "r.raw_code",
        "measurement_source_concept_id": "r.source_concept_id",
    }


def claims_to_measurement(shared=None, provenance: bool = False) -> str:
    """Claims codes (lab fee orders, diagnoses) routed to Measurement."""
    return routed_table_select(TABLE, ("claims",), routed_exprs(), shared, provenance)


def cancer_to_measurement(shared=None, provenance: bool = False) -> str:
    """Cancer registry codes routed to Measurement (normally none)."""
    return routed_table_select(TABLE, ("cancer",), routed_exprs(), shared, provenance)


def biobank_to_measurement(shared=None, provenance: bool = False) -> str:
    """Biobank events routed to Measurement (normally none)."""
    return routed_table_select(TABLE, ("biobank",), routed_exprs(), shared, provenance)


MAPPINGS = (claims_to_measurement, cancer_to_measurement, biobank_to_measurement)
