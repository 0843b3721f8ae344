"""Shared relations of the FHIR feed mappings (materialised once by the build, see :mod:`.`).

* ``files``: the staged-file dictionary of the ``fhir_*`` tables (:mod:`..provenance`);
* ``persons``: one row per person_key of ``stg_fhir_patient`` (see :func:`known_persons_sql`);
* ``visits<encounter>``: the staged encounters with their ``visit_occurrence_id``
  and visit concept (see :mod:`.tables`);
* ``deaths``: one death per person (Patient.deceased[x]);
* ``routed``: every coded clinical row translated and domain-routed (:mod:`.events`);
* :data:`DETAILS`: per coded staged row (by ``_src``) what the routed events
  do not carry: the source coding's own concept (``source_concept_id``), the
  observation value (number, string, value concept, unit concept, range).
"""

from __future__ import annotations

from connectors.fhir_in import layout

from ..events import maps_to_sql, source_concepts_sql
from ..provenance import files_sql, staged_sql
from ..relations import Shared

SHARED = Shared(
    persons="_cb_persons", routed="_cb_routed", deaths="_cb_deaths", files="_cb_files", visits="_cb_visits_"
)
#: the materialised details relation (see the module docstring)
DETAILS = "_cb_fhir_details"
#: staging tables of the FHIR feed
TABLES = tuple(ft.key for ft in layout.FILE_TYPES)
#: staging tables whose rows are coded clinical records routed through :mod:`..events`
EVENT_TABLES = ("fhir_condition", "fhir_medication", "fhir_procedure", "fhir_observation", "fhir_diagnostic_report")
#: vocabulary of UCUM units (unit_concept_id; absent from a vocabulary -> 0 where a unit is given)
UNIT_VOCABULARY = "UCUM"


def files_rel(s: Shared) -> str:
    return s.files or f"({files_sql(TABLES)})"


def staged(key: str, s: Shared) -> str:
    """``stg_<key>`` with its provenance id ``_src``, as a parenthesised sub-query."""
    if key not in TABLES:
        raise KeyError(f"not a FHIR feed staging table: {key!r}")
    return f"({staged_sql(key, files_rel(s), 's_')})"


def known_persons_sql(s: Shared) -> str:
    """One row per person: person_key, birth_date, gender, ``_src`` (the chosen row), ``prov`` (every Patient row).

    Several Patient resources may share a person_key (the same national
    identifier or pseudonym); the latest by (file, row) gives the demographics,
    and all of them are the person's provenance.
    """
    return f"""
SELECT person_key, c.birth_date AS birth_date, c.gender AS gender, c._src AS _src, prov
FROM (
    SELECT person_key,
           arg_max({{'birth_date': birth_date, 'gender': gender, '_src': _src}}, (_source_file, _row_number)) AS c,
           list(_src ORDER BY _src) AS prov
    FROM {staged('fhir_patient', s)} WHERE person_key IS NOT NULL AND birth_date IS NOT NULL GROUP BY person_key
)
"""


def use_standard_sql(alias: str) -> str:
    """SQL: true where the row's source coding has no 'Maps to' and another, standard coding is present.

    Needs a LEFT JOIN of :func:`mapped_codes_sql` as ``mc`` on the row's source coding.
    """
    a = alias
    return (f"(mc.source_code IS NULL AND {a}.std_code IS NOT NULL "
            f"AND NOT ({a}.std_vocabulary_id IS NOT DISTINCT FROM {a}.vocabulary_id AND {a}.std_code = {a}.code))")


def mapped_codes_sql() -> str:
    """Distinct (source_vocabulary_id, source_code) that have a 'Maps to' target."""
    return "SELECT DISTINCT source_vocabulary_id, source_code FROM source_to_standard"


def mapped_join(alias: str) -> str:
    """LEFT JOIN of the mapped source codes on the source coding of ``alias`` (as ``mc``)."""
    return (f"LEFT JOIN ({mapped_codes_sql()}) mc ON mc.source_vocabulary_id = {alias}.vocabulary_id "
            f"AND mc.source_code = cb_norm_code({alias}.vocabulary_id, {alias}.code)")


def details_sql(s: Shared) -> str:
    """The :data:`DETAILS` relation (module docstring), one row per coded staged row."""
    values = ("value_number", "value_unit", "value_unit_code", "value_string", "value_vocabulary_id", "value_code",
              "value_comparator", "range_low", "range_high")
    types = {"value_number": "DOUBLE", "range_low": "DOUBLE", "range_high": "DOUBLE"}
    parts = []
    for key in EVENT_TABLES:
        have = key == "fhir_observation"
        cols = ", ".join(v if have else f"CAST(NULL AS {types.get(v, 'VARCHAR')}) AS {v}" for v in values)
        parts.append(f"SELECT _src, vocabulary_id, code, {cols} FROM {staged(key, s)}")
    union = "\nUNION ALL\n".join(parts)
    return f"""
WITH r AS ({union})
SELECT r.*, coalesce(sc.concept_id, 0) AS source_concept_id,
       CASE WHEN r.value_code IS NOT NULL THEN coalesce(vm.target_concept_id, 0) END AS value_as_concept_id,
       CASE WHEN coalesce(r.value_unit_code, r.value_unit) IS NOT NULL THEN coalesce(uc.concept_id, 0) END
           AS unit_concept_id
FROM r
LEFT JOIN ({source_concepts_sql()}) sc
       ON sc.vocabulary_id = r.vocabulary_id AND sc.concept_code = cb_norm_code(r.vocabulary_id, r.code)
LEFT JOIN (SELECT source_vocabulary_id, source_code, min(target_concept_id) AS target_concept_id
           FROM ({maps_to_sql()}) GROUP BY ALL) vm
       ON vm.source_vocabulary_id = r.value_vocabulary_id
      AND vm.source_code = cb_norm_code(r.value_vocabulary_id, r.value_code)
LEFT JOIN (SELECT concept_code, min(concept_id) AS concept_id FROM concept
           WHERE vocabulary_id = '{UNIT_VOCABULARY}' GROUP BY ALL) uc
       ON uc.concept_code = r.value_unit_code
"""
