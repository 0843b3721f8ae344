"""OBX -> FHIR Observation (laboratory result).

* status: OBX-11 (F final, C corrected, P preliminary, X cancelled, ...; see ``codes``);
  category ``laboratory``; code: OBX-3 (``LN`` -> LOINC, else the sender's local system).
* value by OBX-2: NM -> valueQuantity (UCUM system and code when OBX-6 names UCUM,
  else the unit as text); SN -> valueQuantity with comparator, valueRange (``-``) or
  valueRatio (``:`` ``/``); ST/TX/FT -> valueString; CE/CWE/CNE -> valueCodeableConcept;
  DT/DTM/TS -> valueDateTime; anything else -> valueString as sent.
* referenceRange: OBX-7 ``low-high``, ``low-``, ``>low``, ``<high`` (numbers, with the
  result's unit), else its text; interpretation: OBX-8 flags (v3-ObservationInterpretation).
* effectiveDateTime: OBX-14, else OBR-7; subject; encounter when the message has a visit.
"""

from __future__ import annotations

import re

from terminology.fhir_profiles import profile_url

from .codes import OBSERVATION_CATEGORY, OBSERVATION_STATUS, UCUM, codeable, interpretation

_NUM = r"[+-]?(?:\d+\.?\d*|\.\d+)"
_RANGE = re.compile(rf"\s*({_NUM})?\s*-\s*({_NUM})?\s*")
_ONE_SIDED = re.compile(rf"\s*([<>]=?)\s*({_NUM})\s*")
_LAB = {"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}


def number(text: str) -> int | float:
    """JSON number of a decimal text (an int when it has no fraction or exponent)."""
    t = text.strip()
    return int(t) if re.fullmatch(r"[+-]?\d+", t) else float(t)


def _unit(units: dict | None) -> dict:
    if not units:
        return {}
    out: dict = {}
    for code, display, system in ((units["code"], units["display"], units["system"]),
                                  (units["alt_code"], units["alt_display"], units["alt_system"])):
        if code and (system or "").upper() == "UCUM":
            out = {"unit": display or code, "system": UCUM, "code": code}
            break
    if not out and (units["display"] or units["code"]):
        out = {"unit": units["display"] or units["code"]}
    return out


def _quantity(text: str, unit: dict, comparator: str | None = None) -> dict:
    q: dict = {"value": number(text)}
    if comparator:
        q["comparator"] = comparator
    q.update(unit)
    return q


def _value(obs: dict, local: str) -> tuple[str, object] | None:
    v, vt = obs["value"], obs["value_type"]
    if v is None:
        return None
    unit = _unit(obs["units"])
    if vt == "NM":
        return "valueQuantity", _quantity(v, unit)
    if vt == "SN":
        comp, n1, sep, n2 = v["comparator"], v["num1"], v["separator"], v["num2"]
        if n1 and not sep and not n2 and comp in (None, "=", "<", ">", "<=", ">="):
            return "valueQuantity", _quantity(n1, unit, None if comp in (None, "=") else comp)
        if n1 and n2 and sep == "-" and not comp:
            return "valueRange", {"low": _quantity(n1, unit), "high": _quantity(n2, unit)}
        if n1 and n2 and sep in (":", "/") and not comp:
            return "valueRatio", {"numerator": {"value": number(n1)}, "denominator": {"value": number(n2)}}
        return "valueString", "".join(x for x in (comp, n1, sep, n2) if x)
    if vt in ("CE", "CWE", "CNE", "CF"):
        cc = codeable(v, local)
        return ("valueCodeableConcept", cc) if cc else None
    if vt in ("DT", "DTM", "TS"):
        return "valueDateTime", v
    return "valueString", v


def _reference_range(text: str | None, unit: dict) -> list[dict]:
    if not text:
        return []
    m = _RANGE.fullmatch(text)
    if m and (m.group(1) or m.group(2)):
        rr = {}
        if m.group(1):
            rr["low"] = _quantity(m.group(1), unit)
        if m.group(2):
            rr["high"] = _quantity(m.group(2), unit)
        return [rr]
    m = _ONE_SIDED.fullmatch(text)
    if m:
        return [{("low" if m.group(1).startswith(">") else "high"): _quantity(m.group(2), unit), "text": text}]
    return [{"text": text}]


def obx_to_observation(obs: dict, obs_id: str, *, patient_ref: str, encounter_ref: str | None,
                       order_effective: str | None, issued: str | None, local: str, site: str | None,
                       source: str | None) -> dict:
    """An Observation from one OBX record (see ``connectors.hl7v2.parse``)."""
    res: dict = {"resourceType": "Observation", "id": obs_id,
                 "meta": {"profile": [profile_url(site, "Observation", laboratory=True)]},
                 "status": OBSERVATION_STATUS.get(obs["status"] or "", "unknown"), "category": [_LAB],
                 "code": codeable(obs["code"], local) or {"text": "unknown"},
                 "subject": {"reference": patient_ref}}
    if source:
        res["meta"]["source"] = source
    if encounter_ref:
        res["encounter"] = {"reference": encounter_ref}
    effective = obs["effective"] or order_effective
    if effective:
        res["effectiveDateTime"] = effective
    if issued:
        res["issued"] = issued
    value = _value(obs, local)
    if value is not None:
        res[value[0]] = value[1]
    if obs["flags"]:
        res["interpretation"] = [interpretation(f) for f in obs["flags"]]
    rr = _reference_range(obs["range"], _unit(obs["units"]))
    if rr:
        res["referenceRange"] = rr
    return res
