"""device_exposure: routed events whose target domain is Device (see :mod:`.events`).

Special-material orders (ORDER_TYPE 3, NHI Fee codes such as FBN0201A stents)
land here, mapped or not (concept 0); other codes mapping to a Device too.
Type 32810 claim; start = the visit's (segment's) date; quantity = the order
quantity rounded to an integer.
"""

from __future__ import annotations

from .events import routed_table_select

TABLE = "device_exposure"


def routed_exprs() -> dict[str, str]:
    """The table's columns over a routed event ``r`` (shared by every site's mapping of this table)."""
    return {
        "device_concept_id": "r.target_concept_id",
        "device_exposure_start_date": "r.start_date",
        "device_exposure_end_date": "r.end_date",
        "device_type_concept_id": "r.type_concept_id",
        "quantity": "CAST(round(r.quantity) AS BIGINT)",
        "device_source_value": "r.raw_code",
        "device_source_concept_id": "r.source_concept_id",
    }


def claims_to_device_exposure(shared=None, provenance: bool = False) -> str:
    """Claims special-material orders and other codes routed to Device."""
    return routed_table_select(TABLE, ("claims",), routed_exprs(), shared, provenance)


def cancer_to_device_exposure(shared=None, provenance: bool = False) -> str:
    """Cancer registry codes routed to Device (normally none)."""
    return routed_table_select(TABLE, ("cancer",), routed_exprs(), shared, provenance)


MAPPINGS = (claims_to_device_exposure, cancer_to_device_exposure)
