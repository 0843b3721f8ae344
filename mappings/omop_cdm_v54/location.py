"""location: one row per region code (enrolment AREA_NO_I, facility AREA_NO_H).

The Taiwan files give only a 4-digit region code, so a location is that code:
``location_source_value`` = the code, ``country_source_value`` = 'TW'; address,
city and concept fields stay NULL (no country concept is asserted).
"""

from __future__ import annotations

from . import ids
from .columns import cdm_select
from .provenance import staged_sql
from .relations import shared_or_inline

COUNTRY_SOURCE_VALUE = "TW"


def areas_to_location(shared=None, provenance: bool = False) -> str:
    """SELECT of the location table from the region codes of enrolment and facilities."""
    s = shared_or_inline(shared)
    with_sql = f"""areas AS (
    SELECT cb_clean_code(AREA_NO_I) AS area, _src AS p FROM ({staged_sql('enrol', s.files_rel())})
    UNION ALL
    SELECT cb_clean_code(AREA_NO_H), _src FROM ({staged_sql('hosb', s.files_rel())})
), grouped AS (
    SELECT area, list(p) AS prov FROM areas WHERE area IS NOT NULL GROUP BY area
)"""
    exprs = {
        "location_id": ids.id_sql("location", "area"),
        "location_source_value": "area",
        "country_source_value": f"'{COUNTRY_SOURCE_VALUE}'",
    }
    return cdm_select(
        "location", exprs, "grouped", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("location", "area"), prov_sql="prov",
    )
