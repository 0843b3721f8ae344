"""cdm_source: one row describing this CDM instance.

cdm_version 'v5.4' with cdm_version_concept_id 756265 (OMOP CDM Version 5.4.0);
vocabulary_version from ``vocabulary`` where vocabulary_id = 'None' (Athena's
release row); names, holder and release dates from :class:`SourceMeta`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, fields

from .columns import cdm_select

CDM_VERSION = "v5.4"
CDM_VERSION_CONCEPT_ID = 756265


@dataclass(frozen=True)
class SourceMeta:
    """What the run knows about the source and this build (parameters of cdm_source)."""

    source_release_date: dt.date
    cdm_release_date: dt.date
    cdm_source_name: str = "Crossbridge Taiwan NHI claims and registries"
    cdm_source_abbreviation: str = "CB-TW"
    cdm_holder: str = "Crossbridge Taiwan site"
    source_description: str | None = (
        "Taiwan NHI claims (enrolment, outpatient, inpatient, pharmacy), cause of death, "
        "cancer registry and biobank files, converted by Crossbridge."
    )
    source_documentation_reference: str | None = None
    cdm_etl_reference: str | None = None  # e.g. code version / git commit of the ETL

    @classmethod
    def coerce(cls, meta: "SourceMeta | Mapping") -> "SourceMeta":
        """Accept a SourceMeta or a mapping with its field names (dates as date or ISO text).

        Keys of the mapping that are not cdm_source parameters (e.g. a run id the
        pipeline also records) are ignored; the two release dates are required.
        """
        if isinstance(meta, SourceMeta):
            return meta
        known = {f.name for f in fields(cls)}
        missing = [k for k in ("source_release_date", "cdm_release_date") if meta.get(k) is None]
        if missing:
            raise ValueError(f"cdm_source meta lacks {missing}")
        values = {k: v for k, v in meta.items() if k in known}
        for k in ("source_release_date", "cdm_release_date"):
            if isinstance(values.get(k), str):
                values[k] = dt.date.fromisoformat(values[k])
        return cls(**values)


def _lit(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def cdm_source(meta: "SourceMeta | Mapping", shared=None, provenance: bool = False) -> str:
    """SELECT of the one-row cdm_source table."""
    m = SourceMeta.coerce(meta)
    exprs = {
        "cdm_source_name": _lit(m.cdm_source_name),
        "cdm_source_abbreviation": _lit(m.cdm_source_abbreviation),
        "cdm_holder": _lit(m.cdm_holder),
        "source_description": _lit(m.source_description),
        "source_documentation_reference": _lit(m.source_documentation_reference),
        "cdm_etl_reference": _lit(m.cdm_etl_reference),
        "source_release_date": _lit(m.source_release_date),
        "cdm_release_date": _lit(m.cdm_release_date),
        "cdm_version": _lit(CDM_VERSION),
        "cdm_version_concept_id": str(CDM_VERSION_CONCEPT_ID),
        "vocabulary_version": "(SELECT max(vocabulary_version) FROM vocabulary WHERE vocabulary_id = 'None')",
    }
    return cdm_select(
        "cdm_source", exprs, "(SELECT 1) one", provenance=provenance,
        key_sql="'cdm_source'", prov_sql="[]", order_by="cdm_source_name",
    )
