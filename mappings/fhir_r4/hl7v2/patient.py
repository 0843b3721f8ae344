"""PID (+ MRG) -> FHIR Patient: pseudonymous identifiers only, gender, birth date, death; merges as links.

* identifier: every pseudonym the patient is known by in the batch (PID-3 repetitions
  linked through shared identifiers), system ``pseudonym_system(site)``, type v2-0203
  ``PI``; the canonical one (a national-ID pseudonym when there is one, else the smallest)
  first with ``use: official``, the others ``secondary``.
* gender (PID-8), birthDate (PID-7), deceasedBoolean / deceasedDateTime (PID-30 / PID-29):
  the latest message that gives a value wins (A08 updates).
* A40 merge: the prior patient is written with ``active: false`` and ``link`` ``replaced-by``
  the surviving patient; the survivor gets a ``replaces`` link back.
* Never: names, addresses, telecom, raw identifiers.
"""

from __future__ import annotations

from terminology.fhir_profiles import profile_url, pseudonym_system

from .codes import GENDER, V2_0203
from .ids import fhir_id


def patient_id(canonical: str) -> str:
    return fhir_id("Patient", canonical)


def pid_to_patient(canonical: str, pseudonyms: list[str], demographics: dict, *, site: str | None,
                   replaced_by: str | None = None, replaces: list[str] = ()) -> dict:
    """A Patient from the patient's pseudonyms (canonical first) and folded demographics.

    ``demographics``: {gender (PID-8 code), birth_date, deceased, deceased_time, source}.
    ``replaced_by``/``replaces``: canonical pseudonyms of the merge partners.
    """
    system = pseudonym_system(site)
    ident = [{"use": "official" if p == canonical else "secondary",
              "type": {"coding": [{"system": V2_0203, "code": "PI"}]}, "system": system, "value": p}
             for p in pseudonyms]
    res: dict = {"resourceType": "Patient", "id": patient_id(canonical),
                 "meta": {"profile": [profile_url(site, "Patient")]}, "identifier": ident,
                 "active": replaced_by is None}
    if demographics.get("source"):
        res["meta"]["source"] = demographics["source"]
    gender = demographics.get("gender")
    if gender:
        res["gender"] = GENDER.get(gender, "unknown")
    if demographics.get("birth_date"):
        res["birthDate"] = demographics["birth_date"]
    if demographics.get("deceased_time"):
        res["deceasedDateTime"] = demographics["deceased_time"]
    elif demographics.get("deceased") is not None:
        res["deceasedBoolean"] = demographics["deceased"]
    links = []
    if replaced_by is not None:
        links.append({"other": {"reference": f"Patient/{patient_id(replaced_by)}"}, "type": "replaced-by"})
    links.extend({"other": {"reference": f"Patient/{patient_id(p)}"}, "type": "replaces"} for p in replaces)
    if links:
        res["link"] = links
    return res
