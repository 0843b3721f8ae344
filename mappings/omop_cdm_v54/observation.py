"""observation: routed events whose target domain is Observation (or a domain without its own table).

* Claims codes mapping to Observation (e.g. ICD V/Z codes such as history of),
  type 32810 claim.
* Biobank consent (:func:`bb_participant_to_observation`): one row 'consent
  given' at CONSENT_DATE and, if withdrawn, one row 'consent withdrawn' at
  WITHDRAW_DATE, per participant; observation_source_value is the fixed code
  ``BIOBANK_BROAD_CONSENT`` / ``BIOBANK_CONSENT_WITHDRAWN`` (local vocabulary 'Crossbridge';
  concept 0 until the vocabulary maps them), value_as_string = CONSENT_TYPE
  (e.g. BROAD); type 32879 registry.  Releases filter persons on these rows.
"""

from __future__ import annotations

from .events import CONSENT_GIVEN_CODE, CONSENT_WITHDRAWN_CODE, routed_table_select  # noqa: F401

TABLE = "observation"


def routed_exprs() -> dict[str, str]:
    """The table's columns over a routed event ``r`` (shared by every site's mapping of this table)."""
    return {
        "observation_concept_id": "r.target_concept_id",
        "observation_date": "r.start_date",
        "observation_type_concept_id": "r.type_concept_id",
        "value_as_string": "r.value_as_string",
        "observation_source_value": "r.raw_code",
        "observation_source_concept_id": "r.source_concept_id",
    }


def claims_to_observation(shared=None, provenance: bool = False) -> str:
    """Claims codes routed to Observation."""
    return routed_table_select(TABLE, ("claims",), routed_exprs(), shared, provenance)


def cancer_to_observation(shared=None, provenance: bool = False) -> str:
    """Cancer registry codes routed to Observation (normally none)."""
    return routed_table_select(TABLE, ("cancer",), routed_exprs(), shared, provenance)


def bb_participant_to_observation(shared=None, provenance: bool = False) -> str:
    """Biobank consent given / withdrawn observations."""
    return routed_table_select(TABLE, ("biobank",), routed_exprs(), shared, provenance)


MAPPINGS = (claims_to_observation, cancer_to_observation, bb_participant_to_observation)
