"""care_site: one row per facility of the HOSB file.

care_site_id from HOSP_ID; name HOSP_NAME; location = region AREA_NO_H;
place_of_service_source_value = HOSP_CONT_TYPE (1 medical centre, 2 regional,
3 district hospital, 4 clinic, 5 pharmacy; no concept asserted).  A HOSP_ID
listed twice keeps its last row (file, row number).  Visits point to a care site
only when their HOSP_ID is in HOSB (see :func:`hosb_ids_sql`).
"""

from __future__ import annotations

from . import ids
from .columns import cdm_select
from .provenance import staged_sql
from .relations import shared_or_inline


def hosb_ids_sql() -> str:
    """Distinct cleaned HOSP_IDs present in the facility file, with their ``care_site_id``."""
    return (
        f"SELECT hosp_id, {care_site_id_sql('hosp_id')} AS care_site_id FROM "
        "(SELECT DISTINCT cb_clean_code(HOSP_ID) AS hosp_id FROM stg_hosb WHERE cb_clean_code(HOSP_ID) IS NOT NULL)"
    )


def care_site_id_sql(hosp_sql: str) -> str:
    """SQL: care_site_id of a HOSP_ID expression."""
    return ids.id_sql("care_site", f"cb_clean_code({hosp_sql})")


def hosb_to_care_site(shared=None, provenance: bool = False) -> str:
    """SELECT of the care_site table from stg_hosb."""
    s = shared_or_inline(shared)
    with_sql = f"""h AS (
    SELECT cb_clean_code(HOSP_ID) AS hosp_id, * EXCLUDE (HOSP_ID) FROM ({staged_sql('hosb', s.files_rel())})
    WHERE cb_clean_code(HOSP_ID) IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY cb_clean_code(HOSP_ID) ORDER BY _source_file DESC, _row_number DESC) = 1
)"""
    exprs = {
        "care_site_id": ids.id_sql("care_site", "hosp_id"),
        "care_site_name": "HOSP_NAME",
        "location_id": ids.id_sql("location", "cb_clean_code(AREA_NO_H)"),
        "care_site_source_value": "hosp_id",
        "place_of_service_source_value": "HOSP_CONT_TYPE",
    }
    return cdm_select(
        "care_site", exprs, "h", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("care_site", "hosp_id"), prov_sql="[_src]",
    )
