"""Code systems the hub knows: OMOP vocabulary id, FHIR system URI, aliases, site.

One table links the three ways a user names a code system:

* the OMOP ``vocabulary_id`` used in the store (``ICD10CM``, ``ICD10fi``);
* the FHIR ``system`` URI, as the national profiles give it (TW Core code
  systems under ``https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/``, the
  Finnish OIDs ``urn:oid:1.2.246.537.6.*`` of the Finnish Base Profiles, and
  the HL7 terminology URIs for SNOMED CT, RxNorm, LOINC, ATC, ICD);
* short aliases typed on the command line (``icd-10-cm-tw``, ``icd10fi``).

Taiwan's ICD-10-CM and ICD-9-CM codes are stored in OMOP's ``ICD10CM`` and
``ICD9CM`` vocabularies (Taiwan uses the US editions); their FHIR system is
the TW Core one, and the HL7 URIs are accepted as alternatives.  A vocabulary
of the store that is not listed here still has a system URI:
``urn:crossbridge:vocabulary:<vocabulary_id>`` (spaces as ``%20``), so every
code the hub holds can be exported to FHIR and read back.

Lookup ignores case and the characters ``-_. `` in names and aliases
(``ICD-10-CM-TW`` = ``icd10cmtw``).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

from terminology.errors import UnknownCodeSystem

TWCORE_CODESYSTEM = "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/"
PROJECT_URN = "urn:crossbridge:vocabulary:"


@dataclass(frozen=True)
class CodeSystem:
    """One code system: OMOP vocabulary id, FHIR system URI, aliases, home site."""

    vocabulary_id: str
    uri: str
    title: str
    aliases: tuple[str, ...] = ()
    site: str | None = None  # 'taiwan', 'finland' or None (international)
    other_uris: tuple[str, ...] = ()  # also accepted when reading FHIR


SYSTEMS: tuple[CodeSystem, ...] = (
    # Taiwan
    CodeSystem("ICD10CM", TWCORE_CODESYSTEM + "icd-10-cm-2014-tw", "ICD-10-CM (Taiwan, 2014 edition)",
               ("icd-10-cm-tw", "icd-10-cm-2014-tw", "icd-10-cm", "icd10tw"), "taiwan",
               (TWCORE_CODESYSTEM + "icd-10-cm-2023-tw", "http://hl7.org/fhir/sid/icd-10-cm")),
    CodeSystem("ICD9CM", TWCORE_CODESYSTEM + "icd-9-cm-2001-tw", "ICD-9-CM (Taiwan, 2001 edition)",
               ("icd-9-cm-tw", "icd-9-cm-2001-tw", "icd-9-cm", "icd9tw"), "taiwan",
               ("http://hl7.org/fhir/sid/icd-9-cm",)),
    CodeSystem("ICD10PCS", "http://www.cms.gov/Medicare/Coding/ICD10", "ICD-10-PCS",
               ("icd-10-pcs", "icd-10-pcs-tw"), "taiwan"),
    CodeSystem("ICD9Proc", PROJECT_URN + "ICD9Proc", "ICD-9-CM volume 3 (procedures)",
               ("icd-9-cm-procedures", "icd-9-proc", "icd9pcs"), "taiwan"),
    CodeSystem("NHI Drug", TWCORE_CODESYSTEM + "medication-nhi-tw", "Taiwan NHI drug codes",
               ("nhi-drug", "medication-nhi-tw", "nhi-medication"), "taiwan"),
    CodeSystem("NHI Fee", PROJECT_URN + "NHI%20Fee", "Taiwan NHI medical service fee codes",
               ("nhi-fee", "nhi-procedure"), "taiwan"),
    CodeSystem("NBCT Specimen", PROJECT_URN + "NBCT%20Specimen", "Taiwan biobank specimen types",
               ("nbct-specimen",), "taiwan"),
    # Finland
    CodeSystem("ICD10fi", "urn:oid:1.2.246.537.6.1", "ICD-10 (Finnish edition)",
               ("icd-10-fi", "icd10-fi", "fi-icd10", "tautiluokitus"), "finland"),
    CodeSystem("ICD9fi", PROJECT_URN + "ICD9fi", "ICD-9 (Finnish edition)", ("icd-9-fi",), "finland"),
    CodeSystem("ICD8fi", PROJECT_URN + "ICD8fi", "ICD-8 (Finnish edition)", ("icd-8-fi",), "finland"),
    CodeSystem("NCSPfi", "urn:oid:1.2.246.537.6.2", "NOMESCO Classification of Surgical Procedures (Finnish)",
               ("ncsp", "ncsp-f", "ncsp-fi", "toimenpideluokitus"), "finland"),
    CodeSystem("ICPC", PROJECT_URN + "ICPC", "ICPC-2 (Finnish primary care)", ("icpc-2", "icpc2"), "finland"),
    CodeSystem("VNRfi", PROJECT_URN + "VNRfi", "Nordic article numbers (VNR)", ("vnr", "vnro"), "finland"),
    CodeSystem("REIMB", PROJECT_URN + "REIMB", "Kela special reimbursement rights", ("kela-reimb", "sk1"),
               "finland"),
    CodeSystem("FI Biobank Specimen", PROJECT_URN + "FI%20Biobank%20Specimen", "Finnish biobank sample types",
               ("fi-biobank-specimen",), "finland"),
    # International
    CodeSystem("ICD10", "http://hl7.org/fhir/sid/icd-10", "ICD-10 (WHO)", ("icd-10", "icd-10-who"), None),
    CodeSystem("ICDO3", "http://terminology.hl7.org/CodeSystem/icd-o-3", "ICD-O-3", ("icd-o-3", "icdo"), None),
    CodeSystem("ATC", "http://www.whocc.no/atc", "WHO ATC", ("atc",), None),
    CodeSystem("SNOMED", "http://snomed.info/sct", "SNOMED CT", ("snomed-ct", "sct"), None),
    CodeSystem("RxNorm", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm", ("rxnorm",), None),
    CodeSystem("LOINC", "http://loinc.org", "LOINC", ("loinc",), None),
)


def _key(text: str) -> str:
    return "".join(ch for ch in text.strip().lower() if ch not in "-_. ")


_BY_VOCABULARY = {s.vocabulary_id: s for s in SYSTEMS}
_BY_KEY: dict[str, CodeSystem] = {}
for _s in SYSTEMS:
    for _name in (_s.vocabulary_id, *_s.aliases):
        _BY_KEY.setdefault(_key(_name), _s)
_BY_URI: dict[str, CodeSystem] = {}
for _s in SYSTEMS:
    for _uri in (_s.uri, *_s.other_uris):
        _BY_URI.setdefault(_uri, _s)


def system_uri(vocabulary_id: str) -> str:
    """The FHIR system URI of a vocabulary (a project URN for vocabularies without a public one)."""
    s = _BY_VOCABULARY.get(vocabulary_id)
    return s.uri if s is not None else PROJECT_URN + quote(vocabulary_id)


def vocabulary_for_uri(uri: str) -> str | None:
    """The vocabulary id of a FHIR system URI (main or alternative), or None."""
    s = _BY_URI.get(uri.strip())
    if s is not None:
        return s.vocabulary_id
    if uri.startswith(PROJECT_URN):
        return unquote(uri[len(PROJECT_URN):]) or None
    return None


def code_system(vocabulary_id: str) -> CodeSystem | None:
    """The registry entry of a vocabulary id, or None for vocabularies not listed."""
    return _BY_VOCABULARY.get(vocabulary_id)


def resolve_system(name: str, known_vocabularies: list[str] | tuple[str, ...] | set[str] | None = None) -> str:
    """The vocabulary id for a name: a vocabulary id, an alias or a FHIR system URI.

    ``known_vocabularies`` (the store's vocabulary ids) are accepted as written,
    case-insensitively, even when not in the registry; a registry entry whose
    vocabulary is not among them is an error (the store cannot answer for it).
    Raises :class:`UnknownCodeSystem` listing what is known.
    """
    text = (name or "").strip()
    found: str | None = None
    if text in _BY_VOCABULARY:
        found = text
    elif "://" in text or text.startswith("urn:"):
        found = vocabulary_for_uri(text)
    else:
        s = _BY_KEY.get(_key(text))
        found = s.vocabulary_id if s is not None else None
        if found is None and known_vocabularies is not None:
            matches = [v for v in known_vocabularies if _key(v) == _key(text)]
            found = matches[0] if len(matches) == 1 else None
    if found is None or (known_vocabularies is not None and found not in known_vocabularies):
        known = sorted(known_vocabularies) if known_vocabularies is not None else sorted(_BY_VOCABULARY)
        raise UnknownCodeSystem(name, known)
    return found


def site_vocabularies(site: str) -> tuple[str, ...]:
    """Vocabulary ids whose home is ``site`` ('taiwan' or 'finland')."""
    return tuple(s.vocabulary_id for s in SYSTEMS if s.site == site)


__all__ = [
    "CodeSystem", "PROJECT_URN", "SYSTEMS", "TWCORE_CODESYSTEM", "code_system", "resolve_system",
    "site_vocabularies", "system_uri", "vocabulary_for_uri",
]
