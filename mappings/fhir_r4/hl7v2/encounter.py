"""PV1 (+ the ADT trigger) -> FHIR Encounter, folded over the messages of a visit in time order.

One Encounter per visit key (assigning authority, else sending facility, + PV1-19).  The
caller applies the visit's messages in order of EVN-2/MSH-7 with :func:`apply_event`:

* A01 admit: status ``in-progress``, class from PV1-2 (I -> IMP, E -> EMER, O -> AMB, ...),
  period.start = PV1-44 else the event time, the PV1-3 location ``active``;
* A04 register: as A01, class AMB when PV1-2 is empty;
* A02 transfer: the active location becomes ``completed`` (period.end = event time) and
  PV1-3 is added ``active`` from the event time (PV1-6 prior location recorded first if
  the visit had no location yet) -- Encounter.location keeps the history;
* A03 discharge: status ``finished``, period.end = PV1-45 else the event time, the active
  location completed, discharge disposition PV1-36;
* A08 update: class, service, admit/discharge times and the current location are
  corrected (no history entry); a visit first seen in an A08 has status ``unknown``;
* A11 cancel admit: status ``cancelled``;
* A13 cancel discharge: status ``in-progress``, period.end and disposition removed, the
  last location active again;
* ORU with a PV1-19: the Encounter is created if unseen (status ``unknown``), else unchanged.

Locations are logical references: identifier ``urn:crossbridge:hl7v2:location:<facility>``
with value ``point of care/room/bed``.  PV1-10 service and PV1-36 disposition are
user-defined tables: coded in the sender's local system.
"""

from __future__ import annotations

import re

from terminology.fhir_profiles import profile_url

from .codes import encounter_class
from .ids import fhir_id

_URN_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def encounter_id(visit_key: str) -> str:
    return fhir_id("Encounter", visit_key)


def new_state(visit_key: str) -> dict:
    return {"key": visit_key, "status": None, "class": None, "class_default": None, "start": None, "end": None,
            "locations": [], "service": None, "disposition": None, "patient": None, "source": None,
            "local": None, "facility": None}


def _loc_ref(loc: dict, facility: str) -> dict:
    parts = [loc.get("point_of_care") or "", loc.get("room") or "", loc.get("bed") or ""]
    where = _URN_UNSAFE.sub("-", loc.get("facility") or facility or "unknown")
    return {"identifier": {"system": f"urn:crossbridge:hl7v2:location:{where}", "value": "/".join(parts)},
            "display": " ".join(p for p in parts if p) or where}


def _active(state: dict) -> dict | None:
    return next((x for x in reversed(state["locations"]) if x["status"] == "active"), None)


def _close_active(state: dict, when: str | None) -> None:
    cur = _active(state)
    if cur is not None:
        cur["status"] = "completed"
        cur["end"] = when


def _set_current(state: dict, loc: dict | None, when: str | None) -> None:
    """Correct the current location in place (A01/A04/A08), or add it when there is none."""
    if loc is None:
        return
    cur = _active(state)
    if cur is None:
        state["locations"].append({"loc": loc, "status": "active", "start": when, "end": None})
    else:
        cur["loc"] = loc


def apply_event(state: dict, message: dict, *, local: str) -> None:
    """Fold one message with a visit into the visit's state (see the module rules)."""
    v, trigger, when = message["visit"], message["trigger"], message["event_time"]
    new = state["status"] is None
    if message["type"] == "ORU" and not new:
        return  # a result does not change a visit the hub already knows
    state["local"], state["facility"], state["source"] = local, message["facility"], message
    if v["class"]:
        state["class"] = v["class"]
    if v["service"]:
        state["service"] = v["service"]
    if message["type"] == "ORU":
        state["status"] = "unknown"
        state["start"] = v["admit"]
        _set_current(state, v["location"], v["admit"])
        return
    if trigger in ("A01", "A04"):
        state["status"] = "in-progress"
        if trigger == "A04":
            state["class_default"] = "O"
        state["start"] = v["admit"] or when
        _set_current(state, v["location"], state["start"])
    elif trigger == "A02":
        if state["status"] in (None, "unknown"):
            state["status"] = "in-progress"
        state["start"] = state["start"] or v["admit"]
        if not state["locations"] and v["prior_location"]:
            state["locations"].append({"loc": v["prior_location"], "status": "completed",
                                       "start": state["start"], "end": when})
        _close_active(state, when)
        state["locations"].append({"loc": v["location"], "status": "active", "start": when, "end": None})
    elif trigger == "A03":
        state["status"] = "finished"
        state["start"] = state["start"] or v["admit"]
        state["end"] = v["discharge"] or when
        _set_current(state, v["location"], state["start"])
        _close_active(state, state["end"])
        state["disposition"] = v["disposition"] or state["disposition"]
    elif trigger == "A08":
        if new:
            state["status"] = "unknown"
        state["start"] = v["admit"] or state["start"]
        if v["discharge"]:
            state["end"] = v["discharge"]
        _set_current(state, v["location"], state["start"])
    elif trigger == "A11":
        state["status"] = "cancelled"
        state["start"] = state["start"] or v["admit"] or when
    elif trigger == "A13":
        state["status"] = "in-progress"
        state["end"] = None
        state["disposition"] = None
        if state["locations"]:
            last = state["locations"][-1]
            last["status"], last["end"] = "active", None


def state_to_encounter(state: dict, *, patient_ref: str, site: str | None, source: str | None) -> dict:
    res: dict = {"resourceType": "Encounter", "id": encounter_id(state["key"]),
                 "meta": {"profile": [profile_url(site, "Encounter")]},
                 "status": state["status"] or "unknown",
                 "class": encounter_class(state["class"], state["class_default"]),
                 "subject": {"reference": patient_ref}}
    if source:
        res["meta"]["source"] = source
    period = {k: state[k] for k in ("start", "end") if state[k]}
    if period:
        res["period"] = period
    if state["locations"]:
        locs = []
        for x in state["locations"]:
            item: dict = {"location": _loc_ref(x["loc"], state["facility"]), "status": x["status"]}
            p = {k: x[k] for k in ("start", "end") if x[k]}
            if p:
                item["period"] = p
            locs.append(item)
        res["location"] = locs
    if state["service"]:
        res["serviceType"] = {"coding": [{"system": state["local"], "code": state["service"]}]}
    if state["disposition"]:
        res["hospitalization"] = {"dischargeDisposition": {"coding": [{"system": state["local"],
                                                                        "code": state["disposition"]}]}}
    return res
