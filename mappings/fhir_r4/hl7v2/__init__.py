"""HL7 v2 message records -> FHIR R4 resources (pure: records in, JSON-ready dicts out).

Input: the records of ``connectors.hl7v2`` (``read_hl7v2(...).messages``); every identifier
in them is already a keyed HMAC and every date/time a FHIR string.  Output: Patient,
Encounter, Observation and DiagnosticReport dicts valid against ``fhir.resources.R4B``,
``meta.profile`` from :func:`terminology.fhir_profiles.profile_url`, ``meta.source``
``urn:crossbridge:hl7v2:<sending facility>:<MSH-10>`` of the last message that shaped it.

Folding across the batch (messages in order of EVN-2, else MSH-7; ties by file and position):

* patients: PID-3 identifiers seen together in one PID are one patient (linked across
  messages); see :mod:`.patient`;
* A40 merge: MRG-1 names the prior patient; every resource of the prior patient points to
  the surviving one (chains of merges followed to the end), the prior Patient is written
  inactive with a ``replaced-by`` link.  A merge that would close a cycle is skipped and
  counted (``merge_conflicts``); a merge of a patient into itself is counted (``merge_self``);
* encounters: one per visit, the ADT events applied in order (:mod:`.encounter`);
* results: one DiagnosticReport per order and one Observation per OBX (:mod:`.ids`): a
  later message about the same order (a correction) replaces the earlier resources.

Counts: ``merges`` (prior patients replaced), ``merge_conflicts``, ``merge_self``,
``obx_extra_values_dropped`` (OBX-5 repetitions beyond the first for non-text types),
``resources`` {type: n}.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from .codes import local_system
from .diagnostic_report import obr_to_diagnostic_report
from .encounter import apply_event, encounter_id, new_state, state_to_encounter
from .ids import fhir_id
from .observation import obx_to_observation
from .patient import patient_id, pid_to_patient

__all__ = ["FhirResult", "messages_to_fhir"]

RESOURCE_TYPES = ("Patient", "Encounter", "DiagnosticReport", "Observation")


@dataclass
class FhirResult:
    resources: dict[str, list[dict]]
    counts: dict


class _Patients:
    """Union-find over pseudonyms; a component is one patient."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}
        self.national: set[str] = set()

    def find(self, p: str) -> str:
        root = p
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[p] != root:
            self.parent[p], p = root, self.parent[p]
        return root

    def link(self, ids: list[list]) -> None:
        for p, national in ids:
            self.parent.setdefault(p, p)
            if national:
                self.national.add(p)
        first = self.find(ids[0][0])
        for p, _ in ids[1:]:
            r = self.find(p)
            if r != first:
                a, b = sorted((first, r))
                self.parent[b] = a
                first = a

    def components(self) -> dict[str, list[str]]:
        """canonical pseudonym -> members (canonical first, then national ones, then the rest, sorted)."""
        groups: dict[str, list[str]] = {}
        for p in self.parent:
            groups.setdefault(self.find(p), []).append(p)
        out = {}
        for members in groups.values():
            nat = sorted(m for m in members if m in self.national)
            rest = sorted(m for m in members if m not in self.national)
            ordered = nat + rest
            out[ordered[0]] = ordered
        return out


def _source(m: dict) -> str:
    return f"urn:crossbridge:hl7v2:{quote(m['facility'] or '-', safe='')}:{quote(m['control_id'], safe='')}"


def messages_to_fhir(messages: list[dict], *, site: str | None) -> FhirResult:
    """FHIR resources of a batch of message records (see the module rules)."""
    ordered = sorted(messages, key=lambda m: (m["sort"], m["source_file"], m["index"]))
    people = _Patients()
    for m in ordered:
        people.link(m["patient"]["ids"])
        for mg in m["merges"]:
            people.link(mg["ids"])
            people.link(mg["prior_ids"])
    comps = people.components()
    canon_of = {p: c for c, members in comps.items() for p in members}

    def canon(ids: list[list]) -> str:
        return canon_of[ids[0][0]]

    # merges: prior canonical -> survivor canonical, in time order; chains followed at the end
    replaced: dict[str, str] = {}
    counts = {"merges": 0, "merge_conflicts": 0, "merge_self": 0, "obx_extra_values_dropped": 0}

    def final(c: str) -> str:
        seen = set()
        while c in replaced and c not in seen:
            seen.add(c)
            c = replaced[c]
        return c

    for m in ordered:
        for mg in m["merges"]:
            prior, survivor = canon(mg["prior_ids"]), canon(mg["ids"])
            if prior == survivor:
                counts["merge_self"] += 1
            elif final(survivor) == prior or prior in replaced:
                counts["merge_conflicts"] += 1
            else:
                replaced[prior] = survivor

    demographics: dict[str, dict] = {}
    encounters: dict[str, dict] = {}
    reports: dict[str, dict] = {}
    observations: dict[str, dict] = {}
    for m in ordered:
        local = local_system(m["application"], m["facility"])
        source = _source(m)
        c = canon(m["patient"]["ids"])
        demo = demographics.setdefault(c, {})
        for k in ("gender", "birth_date", "deceased", "deceased_time"):
            if m["patient"][k] is not None:
                demo[k] = m["patient"][k]
        demo["source"] = source
        for mg in m["merges"]:
            demographics.setdefault(canon(mg["prior_ids"]), {"source": source})
        patient_ref = f"Patient/{patient_id(final(c))}"
        enc_ref = None
        if m["visit"] is not None:
            state = encounters.setdefault(m["visit"]["key"], new_state(m["visit"]["key"]))
            apply_event(state, m, local=local)
            state["patient"] = c
            enc_ref = f"Encounter/{encounter_id(m['visit']['key'])}"
        for order in m["orders"]:
            rid = fhir_id("DiagnosticReport", order["key"])
            obs_ids, seen = [], {}
            for obs in order["observations"]:
                code = obs["code"] or {}
                ck = f"{code.get('system') or ''}|{code.get('code') or code.get('display') or ''}|{obs['sub_id'] or ''}"
                seen[ck] = seen.get(ck, 0) + 1
                oid = fhir_id("Observation", order["key"], ck, str(seen[ck]))
                obs_ids.append(oid)
                counts["obx_extra_values_dropped"] += obs["extra_values"]
                observations[oid] = obx_to_observation(
                    obs, oid, patient_ref=patient_ref, encounter_ref=enc_ref, order_effective=order["effective"],
                    issued=order["issued"], local=local, site=site, source=source)
            reports[rid] = obr_to_diagnostic_report(order, rid, obs_ids, patient_ref=patient_ref,
                                                    encounter_ref=enc_ref, local=local, site=site, source=source)

    replaces: dict[str, list[str]] = {}
    for prior, survivor in replaced.items():
        replaces.setdefault(final(survivor), []).append(prior)
    counts["merges"] = len(replaced)
    patients = [
        pid_to_patient(c, comps[c], demographics.get(c, {}), site=site,
                       replaced_by=final(c) if c in replaced else None, replaces=sorted(replaces.get(c, [])))
        for c in comps
    ]
    encs = [state_to_encounter(s, patient_ref=f"Patient/{patient_id(final(s['patient']))}", site=site,
                               source=_source(s["source"]) if s["source"] else None)
            for s in encounters.values()]
    resources = {"Patient": patients, "Encounter": encs, "DiagnosticReport": list(reports.values()),
                 "Observation": list(observations.values())}
    resources = {k: sorted(v, key=lambda r: r["id"]) for k, v in resources.items()}
    counts["resources"] = {k: len(v) for k, v in resources.items()}
    return FhirResult(resources, counts)
