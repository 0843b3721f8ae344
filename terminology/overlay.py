"""An overlay: vocabulary rows read from one non-Athena file, ready to load into the store.

Every importer (Usagi / usagi-extended, FHIR CodeSystem and ConceptMap,
OMOP SOURCE_TO_CONCEPT_MAP) turns its file into an :class:`OverlayVocabulary`:
Athena-shaped pyarrow tables (schemas :data:`terminology.usagi.ATHENA_SCHEMAS`)
plus the mapping equivalences the file states and the file line of every
concept and mapping, so that the loader (:func:`terminology.athena.load_athena`)
can name the file and line of a clash.

Some importers need the store to resolve codes to concept ids (a ConceptMap
names target codes, not ids).  They are given to the loader as an
:data:`OverlayBuilder`: a callable taking the connection, called inside the
load's transaction after the Athena folders and the Usagi files are in.

The store table ``mapping_equivalence`` (:data:`EQUIVALENCE_COLUMNS`) keeps the
FHIR ConceptMap equivalence of a mapping where a file states one.  A 'Maps
to' row without one is read as ``equivalent`` (OMOP's 'Maps to' intends the
same meaning), and a standard concept mapping to itself as ``equal``; see
:mod:`terminology.translation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

EQUIVALENCE_TABLE = "mapping_equivalence"
EQUIVALENCE_SCHEMA = pa.schema([
    ("concept_id_1", pa.int32()), ("concept_id_2", pa.int32()), ("relationship_id", pa.string()),
    ("equivalence", pa.string()), ("source", pa.string()),
])
EQUIVALENCE_COLUMNS = tuple(EQUIVALENCE_SCHEMA.names)
# FHIR R4 ConceptMapEquivalence codes (http://hl7.org/fhir/concept-map-equivalence)
FHIR_EQUIVALENCES = ("relatedto", "equivalent", "equal", "wider", "subsumes", "narrower", "specializes",
                     "inexact", "unmatched", "disjoint")
# Usagi equivalence -> FHIR equivalence (UNREVIEWED states nothing)
USAGI_TO_FHIR = {"EQUAL": "equal", "EQUIVALENT": "equivalent", "WIDER": "wider", "NARROWER": "narrower",
                 "INEXACT": "inexact", "UNMATCHED": "unmatched"}
LINES_SCHEMA = pa.schema([("concept_id", pa.int32()), ("line", pa.int64())])
MAPPING_LINES_SCHEMA = pa.schema([("source_code", pa.string()), ("target_concept_id", pa.int32()),
                                  ("line", pa.int64())])


@dataclass(frozen=True)
class OverlayVocabulary:
    """Rows of one file for the vocabulary tables, with the lines they came from.

    ``tables``: lower-case Athena table name -> table in ATHENA_SCHEMAS
    (any of concept, concept_relationship, concept_synonym, concept_class,
    vocabulary); ``equivalence``: rows of ``mapping_equivalence``;
    ``concept_lines``: (concept_id, line) of every new concept;
    ``mapping_lines``: (source_code, target_concept_id, line) of every mapping,
    for target checks.  ``new_vocabularies``: vocabulary ids this file
    defines (must not be loaded yet); a file may instead add mappings to
    vocabularies already loaded.
    """

    path: str
    tables: dict[str, pa.Table]
    equivalence: pa.Table = field(default_factory=lambda: EQUIVALENCE_SCHEMA.empty_table())
    concept_lines: pa.Table = field(default_factory=lambda: LINES_SCHEMA.empty_table())
    mapping_lines: pa.Table = field(default_factory=lambda: MAPPING_LINES_SCHEMA.empty_table())
    new_vocabularies: tuple[str, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)


OverlayBuilder = Callable[[Any], OverlayVocabulary]


def usagi_overlay(voc) -> OverlayVocabulary:
    """The overlay of a :class:`terminology.usagi.UsagiVocabulary` (its equivalences kept)."""
    m = voc.mappings
    stated = pc.is_in(m["equivalence"], pa.array(list(USAGI_TO_FHIR)))
    ms = m.filter(stated)
    fhir = pc.take(pa.array(list(USAGI_TO_FHIR.values())), pc.index_in(ms["equivalence"], pa.array(list(USAGI_TO_FHIR))))
    equivalence = pa.table([
        pc.cast(ms["source_concept_id"], pa.int32()), pc.cast(ms["target_concept_id"], pa.int32()),
        ms["relationship_id"], fhir, pa.array([str(voc.path)] * ms.num_rows, pa.string()),
    ], schema=EQUIVALENCE_SCHEMA)
    concept_lines = pa.table([pc.cast(voc.concepts["concept_id"], pa.int32()),
                              pc.cast(voc.concepts["line"], pa.int64())], schema=LINES_SCHEMA)
    mapping_lines = pa.table([m["source_code"], pc.cast(m["target_concept_id"], pa.int32()),
                              pc.cast(m["line"], pa.int64())], schema=MAPPING_LINES_SCHEMA)
    return OverlayVocabulary(str(voc.path), voc.to_athena_tables(), equivalence, concept_lines, mapping_lines,
                             (voc.vocabulary_id,), dict(voc.report))


__all__ = [
    "EQUIVALENCE_COLUMNS", "EQUIVALENCE_SCHEMA", "EQUIVALENCE_TABLE", "FHIR_EQUIVALENCES", "OverlayBuilder",
    "OverlayVocabulary", "USAGI_TO_FHIR", "usagi_overlay",
]
