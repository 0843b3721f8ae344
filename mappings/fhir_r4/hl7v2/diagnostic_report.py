"""OBR -> FHIR DiagnosticReport (laboratory).

status from OBR-25 (table 0123, see ``codes``; absent -> ``unknown``), category v2-0074
``LAB``, code from OBR-4, effectiveDateTime OBR-7, issued OBR-22 (only with seconds: an
instant), result = the Observations of the order's OBX segments in that message.
"""

from __future__ import annotations

from terminology.fhir_profiles import profile_url

from .codes import REPORT_STATUS, V2_0074, codeable

_LAB = {"coding": [{"system": V2_0074, "code": "LAB", "display": "Laboratory"}]}


def obr_to_diagnostic_report(order: dict, report_id: str, observation_ids: list[str], *, patient_ref: str,
                             encounter_ref: str | None, local: str, site: str | None, source: str | None) -> dict:
    res: dict = {"resourceType": "DiagnosticReport", "id": report_id,
                 "meta": {"profile": [profile_url(site, "DiagnosticReport")]},
                 "status": REPORT_STATUS.get(order["status"] or "", "unknown"), "category": [_LAB],
                 "code": codeable(order["code"], local) or {"text": "unknown"},
                 "subject": {"reference": patient_ref}}
    if source:
        res["meta"]["source"] = source
    if encounter_ref:
        res["encounter"] = {"reference": encounter_ref}
    if order["effective"]:
        res["effectiveDateTime"] = order["effective"]
    if order["issued"]:
        res["issued"] = order["issued"]
    if observation_ids:
        res["result"] = [{"reference": f"Observation/{i}"} for i in observation_ids]
    return res
