"""Deterministic FHIR resource ids: re-ingesting the same messages gives the same ids.

``fhir_id(type, *keys)`` = the first 40 hex digits of SHA-256 over the resource type and
the keys.  The keys are already keyed HMACs (patient pseudonyms, visit and order keys),
so ids reveal no identifier:

* Patient: the patient's canonical pseudonym;
* Encounter: the visit key (assigning authority or sending facility + PV1-19);
* DiagnosticReport: the order key (facility + filler order number OBR-3, else placer OBR-2,
  else MSH-10 control id + segment position): a corrected report replaces the earlier one;
* Observation: order key + OBX-3 code + OBX-4 sub-id + occurrence of that code in the order.
"""

from __future__ import annotations

import hashlib

ID_HEX = 40


def fhir_id(resource_type: str, *keys: str) -> str:
    h = hashlib.sha256("\x1f".join((resource_type, *keys)).encode("utf-8"))
    return h.hexdigest()[:ID_HEX]
