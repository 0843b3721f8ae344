"""Taiwan staging -> OMOP CDM v5.4, as SQL run inside DuckDB.

One module per CDM table; each exposes ``source_to_target`` functions that
return a SELECT string whose columns are exactly the table's CDM v5.4 columns
in specification order (from :mod:`terminology.omop_cdm`), ordered by the id:

========================  ===================================================
table                     functions
========================  ===================================================
location                  :func:`.location.areas_to_location`
care_site                 :func:`.care_site.hosb_to_care_site`
person                    :func:`.person.enrol_to_person`
observation_period        :func:`.observation_period.enrol_to_observation_period`
visit_occurrence          :func:`.visit_occurrence.visits_to_visit_occurrence`
visit_detail              :func:`.visit_detail.ipdte_to_visit_detail`
condition_occurrence      ``claims_to_`` / ``cancer_to_`` / ``biobank_to_condition_occurrence``
drug_exposure             ``orders_to_`` / ``cancer_to_drug_exposure``
procedure_occurrence      ``claims_to_`` / ``cancer_to_`` / ``biobank_to_procedure_occurrence``
device_exposure           ``claims_to_`` / ``cancer_to_device_exposure``
measurement               ``claims_to_`` / ``cancer_to_`` / ``biobank_to_measurement``
observation               ``claims_to_`` / ``cancer_to_observation``, ``bb_participant_to_observation``
death                     :func:`.death.death_to_death`
specimen                  :func:`.specimen.bb_specimen_to_specimen`
cdm_source                :func:`.cdm_source.cdm_source` (meta)
========================  ===================================================

Every function takes ``(shared=None, provenance=False)``: run stand-alone they
inline their shared sub-queries; the SELECTs need the TEMP macros of
:func:`.codes.register_macros` in the connection.  :func:`.build.build_omop`
runs them all, checks ids and required fields and records lineage.  Code
routing (source code -> 'Maps to' target -> table by the target's domain) is
implemented once in :mod:`.events`; ids in :mod:`.ids`.  See README.md for the
rules.
"""

from .build import BuildResult, MissingInput, RequiredFieldMissing, build_omop
from .cdm_source import SourceMeta
from .codes import register_macros
from .ids import IdCollision, find_id_collisions

__all__ = [
    "BuildResult",
    "IdCollision",
    "MissingInput",
    "RequiredFieldMissing",
    "SourceMeta",
    "build_omop",
    "find_id_collisions",
    "register_macros",
]
