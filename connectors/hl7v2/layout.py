"""HL7 v2 landing files, declared like a site's layout (``SitePipeline.layout_module``).

:func:`identify` recognises a landing file by its extension (``.hl7``, ``.hl7v2``,
``.er7``, ``.mllp``; any case): the whole file is one or many messages, any
separators, MLLP framing or batch envelopes (:mod:`.framing`).  Messages are
mapped to FHIR R4 and staged by the FHIR feed, so the staging tables are the
feed's: :data:`FILE_TYPES` and :func:`table_columns` are
:mod:`connectors.fhir_in.layout`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

from connectors.fhir_in.layout import FILE_TYPES, table_columns

__all__ = ["EXTENSIONS", "FILE_TYPES", "HL7V2_FILE", "Hl7v2Input", "identify", "table_columns"]

EXTENSIONS = (".hl7", ".hl7v2", ".er7", ".mllp")


@dataclass(frozen=True)
class Hl7v2Input:
    key: str
    description: str


HL7V2_FILE = Hl7v2Input("hl7v2", "HL7 v2 messages (ADT, ORU^R01), one or many per file")


def identify(name: str) -> Hl7v2Input | None:
    """The input kind of a landing file name, or None when it is not an HL7 v2 file."""
    return HL7V2_FILE if name.lower().endswith(EXTENSIONS) else None
