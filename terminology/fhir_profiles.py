"""National FHIR R4 profiles and the hub's own identifier systems, per site.

One registry for everything that writes or checks FHIR (``mappings/fhir_r4``,
``connectors/hl7v2``, ``connectors/fhir_in``, ``validators/fhir_suite``):

* :func:`profile_url` -- the ``meta.profile`` of a resource type for a site:
  TW Core (``https://twcore.mohw.gov.tw/ig/twcore``, profiles named
  ``{Resource}-twcore``; laboratory results ``Observation-laboratoryResult-twcore``,
  other observations ``Observation-screening-assessment-twcore``) and the
  Finnish Base Profiles (``https://hl7.fi/fhir/finnish-base-profiles``,
  ``fi-base-{resource}``).  Where the national guide defines no profile for a
  type (the Finnish guide has none for MedicationDispense, Specimen or
  DiagnosticReport), the FHIR core definition
  ``http://hl7.org/fhir/StructureDefinition/{Resource}`` is declared instead of
  inventing a national URL; :func:`has_national_profile` tells which.
  ``site=None`` (an OMOP database of unknown origin) always gets the core one.
* :func:`pseudonym_system` / :func:`organization_system` -- identifier systems
  of the hub: pseudonymous person identifiers and care-site identifiers.
  Raw national identifiers (:data:`NATIONAL_ID_SYSTEMS`) never appear.
"""

from __future__ import annotations

IMPLEMENTATION_GUIDES: dict[str, str] = {
    "taiwan": "https://twcore.mohw.gov.tw/ig/twcore",
    "finland": "https://hl7.fi/fhir/finnish-base-profiles",
}
CORE_PROFILE = "http://hl7.org/fhir/StructureDefinition/"

#: Systems of raw national identifiers: never allowed in anything the hub writes.
NATIONAL_ID_SYSTEMS: tuple[str, ...] = ("http://www.moi.gov.tw", "http://www.immigration.gov.tw", "urn:oid:1.2.246.21")

_TWCORE_TYPES = frozenset({
    "Patient", "Encounter", "Condition", "MedicationDispense", "MedicationRequest", "MedicationStatement",
    "Medication", "Procedure", "Specimen", "Organization", "Location", "Practitioner", "Provenance",
    "DiagnosticReport",
})
_FI_BASE_TYPES = frozenset({
    "Patient", "Encounter", "Condition", "MedicationRequest", "MedicationStatement", "MedicationAdministration",
    "Medication", "Procedure", "Observation", "Organization", "Location", "Practitioner", "PractitionerRole",
    "Provenance", "EpisodeOfCare", "HealthcareService", "Appointment", "Immunization",
})


class UnknownSite(ValueError):
    """A site name the profile registry does not know."""


def _check_site(site: str | None) -> None:
    if site is not None and site not in IMPLEMENTATION_GUIDES:
        raise UnknownSite(f"unknown site {site!r}; known: {', '.join(sorted(IMPLEMENTATION_GUIDES))}")


def has_national_profile(site: str | None, resource_type: str, *, laboratory: bool = False) -> bool:
    """Whether the site's national guide defines a profile for this resource type."""
    _check_site(site)
    if site == "taiwan":
        return resource_type in _TWCORE_TYPES or resource_type == "Observation"
    if site == "finland":
        return resource_type in _FI_BASE_TYPES
    return False


def profile_url(site: str | None, resource_type: str, *, laboratory: bool = False) -> str:
    """The ``meta.profile`` URL for a resource of ``resource_type`` written for ``site``.

    ``laboratory`` picks TW Core's laboratory-result Observation profile (other
    observations get its screening-assessment profile).
    """
    if not has_national_profile(site, resource_type, laboratory=laboratory):
        return CORE_PROFILE + resource_type
    base = IMPLEMENTATION_GUIDES[site] + "/StructureDefinition/"
    if site == "taiwan":
        if resource_type == "Observation":
            return base + ("Observation-laboratoryResult-twcore" if laboratory
                           else "Observation-screening-assessment-twcore")
        return base + f"{resource_type}-twcore"
    return base + "fi-base-" + resource_type.lower()


def profile_prefix(site: str) -> str:
    """The common prefix of the site's national profile URLs."""
    _check_site(site)
    return IMPLEMENTATION_GUIDES[site] + "/StructureDefinition/"


def pseudonym_system(site: str | None) -> str:
    """Identifier system of the hub's pseudonymous person identifiers (the site pseudonym as value)."""
    _check_site(site)
    return f"urn:crossbridge:pseudonym:{site or 'omop'}"


def organization_system(site: str | None) -> str:
    """Identifier system of care sites / organisations as the hub names them."""
    _check_site(site)
    return f"urn:crossbridge:organization:{site or 'omop'}"


__all__ = [
    "CORE_PROFILE", "IMPLEMENTATION_GUIDES", "NATIONAL_ID_SYSTEMS", "UnknownSite", "has_national_profile",
    "organization_system", "profile_prefix", "profile_url", "pseudonym_system",
]
