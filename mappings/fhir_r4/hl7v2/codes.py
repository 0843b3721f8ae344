"""Code systems and HL7 v2 table -> FHIR R4 code maps used by the HL7 v2 mapping (data, no IO).

* Coding systems named in CE/CWE component 3: ``LN`` -> LOINC, ``SCT`` -> SNOMED CT,
  ``UCUM`` -> UCUM; any other (or none) -> the sender's local system
  ``urn:crossbridge:hl7v2:local:<sending application, else facility>``.
* Result status OBX-11 (table 0085) -> Observation.status; order status OBR-25 (0123)
  -> DiagnosticReport.status; patient class PV1-2 (0004) -> Encounter.class (v3-ActCode);
  sex PID-8 (0001) -> Patient.gender; abnormal flags OBX-8 (0078) -> v3-ObservationInterpretation.
  A code outside a map is never guessed: statuses become ``unknown``, classes keep the v2
  code in the v2-0004 system (or v3-NullFlavor ``UNK`` when absent), flags keep their text.
"""

from __future__ import annotations

import re

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_0004 = "http://terminology.hl7.org/CodeSystem/v2-0004"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
V2_0112 = "http://terminology.hl7.org/CodeSystem/v2-0112"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_NULL_FLAVOR = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

KNOWN_SYSTEMS = {"LN": LOINC, "LOINC": LOINC, "SCT": SNOMED, "UCUM": UCUM}

OBSERVATION_STATUS = {
    "F": "final", "C": "corrected", "P": "preliminary", "X": "cancelled", "R": "preliminary", "S": "preliminary",
    "I": "registered", "D": "entered-in-error", "W": "entered-in-error", "U": "final",
}
REPORT_STATUS = {
    "O": "registered", "I": "registered", "S": "partial", "A": "partial", "P": "preliminary", "C": "corrected",
    "R": "preliminary", "F": "final", "X": "cancelled",
}
ENCOUNTER_CLASS = {  # PV1-2 -> v3-ActCode (code, display)
    "I": ("IMP", "inpatient encounter"), "E": ("EMER", "emergency"), "O": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"), "R": ("AMB", "ambulatory"),
}
GENDER = {"M": "male", "F": "female", "O": "other", "A": "other", "U": "unknown", "N": "unknown"}
INTERPRETATION = frozenset({
    "L", "H", "LL", "HH", "LU", "HU", "<", ">", "N", "A", "AA", "S", "R", "I", "MS", "VS", "POS", "NEG", "IND",
    "DET", "ND", "U", "D", "B", "W", "NR", "RR", "QCF", "TOX", "WR", "SDD", "SYN-R", "SYN-S", "E", "EX", "HX",
    "LX", "NS", "CAR", "IE", "EXP", "UNE", "OBX",
})

_URN_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def local_system(application: str | None, facility: str | None) -> str:
    """The sender's local code system URI."""
    name = application or facility or "unknown"
    return "urn:crossbridge:hl7v2:local:" + _URN_UNSAFE.sub("-", name)


def coding_system(hl7_system: str | None, local: str) -> str:
    return KNOWN_SYSTEMS.get((hl7_system or "").upper()) or local


def codeable(coded: dict | None, local: str) -> dict | None:
    """CodeableConcept of a CE/CWE record {code, display, system, alt_*}: primary and alternate codings, text."""
    if not coded:
        return None
    codings = []
    for code, display, system in ((coded["code"], coded["display"], coded["system"]),
                                  (coded["alt_code"], coded["alt_display"], coded["alt_system"])):
        if code:
            c = {"system": coding_system(system, local), "code": code}
            if display:
                c["display"] = display
            codings.append(c)
    out: dict = {}
    if codings:
        out["coding"] = codings
    text = coded["display"] or coded["alt_display"]
    if text:
        out["text"] = text
    elif not codings:
        return None
    return out


def encounter_class(pv1_2: str | None, default: str | None = None) -> dict:
    code = pv1_2 or default
    if code in ENCOUNTER_CLASS:
        v3, display = ENCOUNTER_CLASS[code]
        return {"system": V3_ACT_CODE, "code": v3, "display": display}
    if code:
        return {"system": V2_0004, "code": code}
    return {"system": V3_NULL_FLAVOR, "code": "UNK", "display": "unknown"}


def interpretation(flag: str) -> dict:
    if flag.upper() in INTERPRETATION:
        return {"coding": [{"system": V3_INTERPRETATION, "code": flag.upper()}]}
    return {"text": flag}
