"""Finnish registers (and the FinnGen longitudinal layout) -> OMOP CDM v5.4, on the shared build engine.

Inputs: the ``stg_<file type>`` views of :mod:`connectors.finland.layout`
(consolidated staging), the vocabulary and the ``source_to_standard`` view.
Use ``build_omop(con, meta, site=FINLAND)`` (:mod:`..build`); the rules are in
:mod:`.visits`, :mod:`.events` and :mod:`.tables`.  Event tables (condition,
drug, procedure, measurement, device, observation) share the Taiwan site's
routing and table projections (:mod:`..events`), with Finnish families.
"""

from __future__ import annotations

from connectors.finland import layout

from .. import condition_occurrence, device_exposure, drug_exposure, measurement, observation, procedure_occurrence
from ..build import SiteMapping
from ..death import death_to_death
from ..events import routed_code_usage_sql, routed_table_select
from ..provenance import files_sql
from ..relations import Shared
from . import tables as T
from .events import fi_routed_events_sql
from .relations import SHARED, TABLES, known_persons_sql
from .visits import VISIT_SOURCES, unique_visits_sql

FAMILIES = ("hilmo", "avohilmo", "kela", "reimb", "cancer", "death", "biobank", "finngen")


def _routed(table: str, exprs: dict[str, str]):
    """A mapping of ``table`` from the Finnish routed events, with the table's projection shared with Taiwan."""

    def mapping(shared: Shared, provenance: bool = False) -> str:
        return routed_table_select(table, FAMILIES, exprs, shared, provenance)

    mapping.__name__ = f"registers_to_{table}"
    return mapping


TABLE_MAPPINGS = {
    "location": (T.population_to_location,),
    "care_site": (T.hilmo_to_care_site,),
    "person": (T.persons_to_person,),
    "observation_period": (T.persons_to_observation_period,),
    "visit_occurrence": (T.visits_to_visit_occurrence,),
    "condition_occurrence": (_routed("condition_occurrence", condition_occurrence.routed_exprs()),),
    "drug_exposure": (_routed("drug_exposure", drug_exposure.routed_exprs()),),
    "procedure_occurrence": (_routed("procedure_occurrence", procedure_occurrence.routed_exprs()),),
    "device_exposure": (_routed("device_exposure", device_exposure.routed_exprs()),),
    "measurement": (_routed("measurement", measurement.routed_exprs()),),
    "observation": (_routed("observation", observation.routed_exprs()),),
    "death": (death_to_death,),
    "specimen": (T.samples_to_specimen,),
}


def _view_columns(ft) -> list[str]:
    return [c for c, _ in layout.staging_columns(ft)]


def _shared_sql(s: Shared) -> list[tuple[str, str]]:
    return [
        (s.files, files_sql(TABLES)),
        (s.persons, known_persons_sql(s)),
        *((f"{s.visits}{v}", unique_visits_sql(v, s)) for v in VISIT_SOURCES),
        (s.deaths, T.deaths_sql(s)),
        (s.routed, fi_routed_events_sql(s)),
    ]


def _code_usage_sql(s: Shared) -> str:
    return f"""
SELECT * FROM (
{routed_code_usage_sql(s)}
    UNION ALL
    SELECT 'fi_bb_sample', 'NAYTETYYPPI', '{T.SPECIMEN_VOCABULARY}', source_code, source_concept_id,
           target_concept_id, count(*)
    FROM ({T.specimen_events_sql(s)}) GROUP BY ALL
)
ORDER BY source_table, source_column_group, vocabulary_id, source_code, target_concept_id
"""


FINLAND = SiteMapping(
    site="finland",
    file_types=layout.FILE_TYPES,
    view_columns=_view_columns,
    table_mappings=TABLE_MAPPINGS,
    shared=SHARED,
    shared_sql=_shared_sql,
    code_usage_sql=_code_usage_sql,
)

__all__ = ["FINLAND", "TABLE_MAPPINGS"]
