"""FHIR feed staging (``connectors.fhir_in``) -> OMOP CDM v5.4, on the shared build engine.

Inputs: the ``stg_fhir_*`` views of :data:`connectors.fhir_in.FILE_TYPES`, the
vocabulary and the ``source_to_standard`` view.  Use
``build_omop(con, meta, site=FHIR_FEED)`` (:mod:`..build`).  The rules are in
:mod:`.events` (coded rows: translation, code precedence, routing by the
target's domain, shared with the sites) and :mod:`.tables` (person,
observation_period, visit_occurrence, care_site, death, specimen).

Event tables take their table-specific columns from the sites' projections
(``..condition_occurrence.routed_exprs()`` ...), with, from the details
relation (:data:`.relations.DETAILS`): ``*_source_concept_id`` = the source
coding's own concept (also when the standard coding was routed), and for
measurement / observation the value (value_as_number, value_as_concept_id =
the 'Maps to' of valueCodeableConcept, unit_concept_id from the UCUM code,
range_low/high, unit_source_value, value_source_value).  drug_exposure_end_date
= effectivePeriod.end, else start + days_supply - 1, else the start (never
before the start).

Every staged row reaches the CDM: the read step quarantines what could not
(no date, no person, a void status, a Patient without records), so
``BuildResult.unused_rows`` is all zero on any staging it wrote.
"""

from __future__ import annotations

from connectors.fhir_in import layout

from .. import condition_occurrence, device_exposure, drug_exposure, measurement, observation, procedure_occurrence
from ..build import SiteMapping
from ..death import death_to_death
from ..events import routed_table_select
from ..provenance import files_sql
from ..relations import Shared
from . import tables as T
from .events import FAMILY, fhir_routed_events_sql
from .relations import DETAILS, SHARED, TABLES, details_sql, known_persons_sql

_DETAILS_JOIN = f"LEFT JOIN {DETAILS} d ON d._src = r._src"
_DRUG_END = ("greatest(coalesce(r.end_date, CASE WHEN r.days_supply >= 1 THEN r.start_date + CAST(r.days_supply - 1 "
             "AS INTEGER) ELSE r.start_date END), r.start_date)")
_VALUE_SOURCE = ("coalesce(d.value_comparator || CAST(d.value_number AS VARCHAR), CAST(d.value_number AS VARCHAR), "
                 "d.value_code, d.value_string)")


def _exprs(table: str) -> dict[str, str]:
    """The table's columns over a routed event ``r`` and its details ``d``."""
    if table == "condition_occurrence":
        return {**condition_occurrence.routed_exprs(), "condition_source_concept_id": "d.source_concept_id"}
    if table == "drug_exposure":
        return {**drug_exposure.routed_exprs(), "drug_exposure_end_date": _DRUG_END, "verbatim_end_date": "r.end_date",
                "drug_source_concept_id": "d.source_concept_id"}
    if table == "procedure_occurrence":
        return {**procedure_occurrence.routed_exprs(), "procedure_source_concept_id": "d.source_concept_id"}
    if table == "device_exposure":
        return {**device_exposure.routed_exprs(), "device_source_concept_id": "d.source_concept_id"}
    if table == "measurement":
        return {
            **measurement.routed_exprs(), "measurement_source_concept_id": "d.source_concept_id",
            "value_as_number": "d.value_number", "value_as_concept_id": "d.value_as_concept_id",
            "unit_concept_id": "d.unit_concept_id", "range_low": "d.range_low", "range_high": "d.range_high",
            "unit_source_value": "coalesce(d.value_unit_code, d.value_unit)", "value_source_value": _VALUE_SOURCE,
        }
    if table == "observation":
        return {
            **observation.routed_exprs(), "observation_source_concept_id": "d.source_concept_id",
            "value_as_number": "d.value_number", "value_as_concept_id": "d.value_as_concept_id",
            "unit_concept_id": "d.unit_concept_id", "unit_source_value": "coalesce(d.value_unit_code, d.value_unit)",
            "value_source_value": _VALUE_SOURCE,
        }
    raise KeyError(table)


def _routed(table: str):
    """A mapping of ``table`` from the FHIR feed's routed events."""

    def mapping(shared: Shared, provenance: bool = False) -> str:
        return routed_table_select(table, (FAMILY,), _exprs(table), shared, provenance, extra_from=_DETAILS_JOIN)

    mapping.__name__ = f"fhir_to_{table}"
    return mapping


EVENT_TABLES = ("condition_occurrence", "drug_exposure", "procedure_occurrence", "device_exposure", "measurement",
                "observation")
TABLE_MAPPINGS = {
    "care_site": (T.encounters_to_care_site,),
    "person": (T.persons_to_person,),
    "observation_period": (T.persons_to_observation_period,),
    "visit_occurrence": (T.encounters_to_visit_occurrence,),
    **{t: (_routed(t),) for t in EVENT_TABLES},
    "death": (death_to_death,),
    "specimen": (T.samples_to_specimen,),
}


def _view_columns(ft) -> list[str]:
    return [c for c, _ in layout.table_columns(ft)]


def _shared_sql(s: Shared) -> list[tuple[str, str]]:
    return [
        (s.files, files_sql(TABLES)),
        (s.persons, known_persons_sql(s)),
        (f"{s.visits}encounter", T.visits_sql(s)),
        (s.deaths, T.deaths_sql(s)),
        (DETAILS, details_sql(s)),
        (s.routed, fhir_routed_events_sql(s)),
    ]


FHIR_FEED = SiteMapping(
    site="fhir",
    file_types=layout.FILE_TYPES,
    view_columns=_view_columns,
    table_mappings=TABLE_MAPPINGS,
    shared=SHARED,
    shared_sql=_shared_sql,
    code_usage_sql=T.code_usage_sql,
)

__all__ = ["FHIR_FEED", "TABLE_MAPPINGS"]
