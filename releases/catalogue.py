"""The release's catalogue record: one HealthDCAT-AP ``dcat:Dataset`` as JSON-LD.

:func:`healthdcat_record` turns a validated release manifest (:mod:`releases.manifest`) and
what the release builder knows (:class:`ReleaseFacts`) into a JSON-LD document;
:func:`write_record` writes it.  The document is one Dataset, with no ``dcat:Catalog``
around it (the HealthData@EU catalogue is the catalogue), at access level RESTRICTED.

Rules:

* Nothing is invented.  Every value comes from the manifest, the facts, or a vocabulary
  term the profile fixes (access right RESTRICTED, theme HEAL, SHA-256, the tables below).
  A fact that is not given leaves its property out (no publisher, no contact point ...),
  even where the profile makes it mandatory: the record is then incomplete, not wrong.
* Coding systems: one table (:data:`CODING_SYSTEMS`) maps OMOP ``vocabulary_id`` to the
  code system's own URI and to a concept of the HealthDCAT-AP Coding System vocabulary.
  ``healthdcatap:hasCodingSystem`` lists those concepts (the profile's shapes refuse any
  other IRI there); each carries ``skos:exactMatch``/``skos:narrowMatch`` to the
  vocabularies behind it (their URI, their ``vocabulary_id`` as ``skos:notation``).  A
  vocabulary with no concept in that vocabulary, or not in the table, is kept as a
  ``healthdcatap:hasCodeValues`` literal saying so; none is dropped.
* Standards (:data:`STANDARDS`): ``dct:conformsTo`` the profile's Health Technical Standards
  concept, with ``dct:hasVersion`` the version's own specification URL.
* One ``dcat:Distribution`` per manifest file (sorted by path), with relative access and
  download URLs (the path, percent-encoded; they resolve against the record's location,
  so the record belongs in the release folder), ``dcat:byteSize``, an ``spdx:checksum``
  (SHA-256) and ``dcat:mediaType`` as an IANA URI.  Media types of the unregistered ``x-``
  tree (``application/x-ndjson``) have no IANA URI and are left out.  The record's own
  file (:data:`CATALOGUE_NAME`) is never a distribution, so the record can be written
  into the folder and the manifest rebuilt without the record changing.
* Quality: one ``dqv:QualityAnnotation`` per validation run (a text body, the run as a
  ``prov:Activity``), and one ``dqv:QualityMeasurement`` per count, for machines.
* Deterministic: same inputs, same key order and bytes.  JSON-LD with a prefix-only
  ``@context`` (no remote context, nothing to fetch), CURIE keys, typed literals.

Sources (checked 2026; HealthDCAT-AP is still a draft moving between releases):

* HealthDCAT-AP Release 8, as snapshot in github.com/SemanticDataCharter/sdc_healthdcat_ap,
  ``data/healthdcat-ap-r8-cd7841f/`` (the spec repository code.europa.eu/healthdataeu/
  healthdcat-ap at commit cd7841f): ``validator/shapes/restricted-shapes.ttl``,
  ``validator/controlled-vocabularies/mdr-vocabularies.shape.ttl``,
  ``context/healthdcat-cardinality-rules.json``, ``validator/catalogue/coding-system.rdf``,
  ``validator/catalogue/standard.rdf`` and ``examples/*.ttl``.  From there:
  namespace ``healthdcatap: <http://healthdataportal.eu/ns/health#>`` (marked "to be changed
  when the HealthDCAT-AP namespace is created"), ``dpv: <https://w3id.org/dpv#>``,
  ``dqv: <http://www.w3.org/ns/dqv#>``, ``dcatap: <http://data.europa.eu/r5r/>``;
  Dataset properties ``healthdcatap:numberOfRecords`` / ``numberOfUniqueIndividuals``
  (0..1, xsd:nonNegativeInteger), ``healthdcatap:hasCodingSystem`` (Coding System NAL
  ``https://hdeu-dcat.data.health.europa.eu/resource/authority/coding-system/``, as
  ``dct:Standard``), ``healthdcatap:hasCodeValues`` (a literal: "free-text description of any
  ... coding system used"), ``healthdcatap:hdab`` (1..1), ``healthdcatap:healthCategory``
  (1..*, NAL ``.../healthcategories/``), ``dqv:hasQualityAnnotation`` (example: a DQV
  annotation with ``oa:hasTarget``, ``oa:hasBody``, ``oa:motivatedBy dqv:qualityAssessment``),
  ``dpv:hasLegalBasis`` (example: ``dpv:LegalBasis`` with ``dct:description``),
  ``dpv:hasPurpose`` (example: ``dpv:Purpose`` with ``dct:description``; "may be free
  text"), ``dct:conformsTo`` (Health Technical Standards NAL ``.../standard/``: ``OMOP-CDM``,
  ``FHIR``), ``dcatap:applicableLegislation`` (1..*, on Dataset and Distribution; the EHDS
  Regulation is ``http://data.europa.eu/eli/reg/2025/327/oj``), ``dcat:theme`` must include
  ``.../data-theme/HEAL``, ``dct:accessRights`` exactly ``.../access-right/RESTRICTED`` for
  this level, ``dcat:mediaType`` must match ``^http.*://www.iana.org/assignments/media-types/``.
* Earlier drafts said otherwise: ckanext-dcat's ``euro_health_dcat_ap`` profile and
  healthdcat-ap.github.io (2024) asked for Wikidata URIs in hasCodingSystem/conformsTo;
  Release 5 (ma3u/MinimumViableDataspace ``resources/shacl/healthdcatap-shacl.ttl``) had
  hasCodeValues as a node.  This module follows Release 8.
* DCAT-AP 3.0.1 (github.com/SEMICeu/DCAT-AP ``releases/3.0.1/html/shacl/shapes.ttl`` and
  ``context/dcat-ap.jsonld``): Dataset ``dct:title`` 1..*, ``dct:description`` 1..*;
  Distribution ``dcat:accessURL`` 1..*, ``dcat:byteSize`` xsd:nonNegativeInteger,
  ``spdx:checksum`` 0..1; Checksum ``spdx:algorithm`` 1..1, ``spdx:checksumValue`` 1..1
  xsd:hexBinary; Agent ``foaf:name`` 1..*.  ``spdx:checksumAlgorithm_sha256`` is the SPDX
  term for SHA-256.

Our choices where the sources name no property (plain DCAT/DQV, outside the profile's list):
the data permit is a ``dct:rights`` ``dct:RightsStatement`` on each distribution (the Release 8
distribution example words its access condition that way); the study is ``dct:relation`` to a
``foaf:Project``; the permit issuer is the ``healthdcatap:hdab`` (the body that grants access;
HWDC is not an EHDS body, it plays that role for Taiwan); quality counts are also
``dqv:hasQualityMeasurement``.  The health-category codes are Release 8's as a third party
lists them (the NAL file itself was not read).  Mandatory in Release 8 RESTRICTED but not
fillable from the facts, so missing: ``cv:contactPoint`` of the hdab and of the publisher,
``healthdcatap:hasStructuredData`` (true would require ``healthdcatap:hasVariables``, a CSVW
description of the tables), and ``dcatap:applicableLegislation`` unless the facts give it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from connectors.stores.base import TEMP_PREFIX
from releases.manifest import validate_manifest

CATALOGUE_NAME = "catalogue.jsonld"

CONTEXT: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dcatap": "http://data.europa.eu/r5r/",
    "dct": "http://purl.org/dc/terms/",
    "dpv": "https://w3id.org/dpv#",
    "dqv": "http://www.w3.org/ns/dqv#",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "healthdcatap": "http://healthdataportal.eu/ns/health#",
    "oa": "http://www.w3.org/ns/oa#",
    "prov": "http://www.w3.org/ns/prov#",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "skos": "http://www.w3.org/2004/02/skos/core#",
    "spdx": "http://spdx.org/rdf/terms#",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}

EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
HDEU_AUTHORITY = "https://hdeu-dcat.data.health.europa.eu/resource/authority/"
CODING_SYSTEM_NAL = HDEU_AUTHORITY + "coding-system/"
STANDARD_NAL = HDEU_AUTHORITY + "standard/"
HEALTH_CATEGORY_NAL = HDEU_AUTHORITY + "healthcategories/"
IANA_MEDIA_TYPES = "http://www.iana.org/assignments/media-types/"
ACCESS_RESTRICTED = EU_AUTHORITY + "access-right/RESTRICTED"
THEME_HEALTH = EU_AUTHORITY + "data-theme/HEAL"
EHDS_REGULATION = "http://data.europa.eu/eli/reg/2025/327/oj"  # for callers; never added by default

# EHDS Art. 51 categories (Release 8 health-category NAL codes).
HEALTH_CATEGORIES = frozenset({"EHRS", "DIOH", "NRPE", "PGEH", "IDHP", "PHDR", "MRMR", "EHCT", "EMRD", "RMMD",
                               "RQSH", "EINS", "HRAD", "HGPD", "HPML", "RPDG", "WELA"})
COUNTRY_ALPHA3 = {"TW": "TWN", "FI": "FIN"}  # ISO 3166 alpha-2 -> EU country table code


class CodingSystem(NamedTuple):
    uri: str | None  # the code system's own URI; None when it has no public one
    nal: str | None  # concept code in the HealthDCAT-AP Coding System NAL; None when it has none
    match: str = "exact"  # how the NAL concept relates to this vocabulary: exact | narrow


_TWCORE = "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/"
CODING_SYSTEMS: dict[str, CodingSystem] = {
    "SNOMED": CodingSystem("http://snomed.info/sct", "SNOMED-CT"),
    "LOINC": CodingSystem("http://loinc.org", "LOINC"),
    "RxNorm": CodingSystem("http://www.nlm.nih.gov/research/umls/rxnorm", "RXNORM"),
    "ATC": CodingSystem("http://www.whocc.no/atc", "ATC"),
    "UCUM": CodingSystem("http://unitsofmeasure.org", "UCUM"),
    "ICD10": CodingSystem("http://hl7.org/fhir/sid/icd-10", "ICD-10"),
    "ICD10CM": CodingSystem("http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-NAT", "narrow"),
    "ICD10fi": CodingSystem("urn:oid:1.2.246.537.6.1", "ICD-10-NAT", "narrow"),
    "ICD9CM": CodingSystem("http://hl7.org/fhir/sid/icd-9-cm", "ICD-9-CM"),
    "ICD9Proc": CodingSystem(None, "ICD-9-CM", "narrow"),
    "ICD10PCS": CodingSystem("http://www.cms.gov/Medicare/Coding/ICD10", "PROC-CODES-NAT", "narrow"),
    "NCSPfi": CodingSystem("urn:oid:1.2.246.537.6.2", "PROC-CODES-NAT", "narrow"),
    "ICDO3": CodingSystem("http://terminology.hl7.org/CodeSystem/icd-o-3", "ICD-O", "narrow"),
    "ICPC": CodingSystem(None, "ICPC-2"),
    "NHI Drug": CodingSystem(_TWCORE + "medication-nhi-tw", None),
    # OMOP's own vocabularies: the OHDSI Standardized Vocabularies concept.
    **{v: CodingSystem(None, "OHDSI-VOCAB", "narrow")
       for v in ("Gender", "Race", "Ethnicity", "Visit", "Type Concept", "Condition Status",
                 "RxNorm Extension", "OMOP Extension")},
}

STANDARDS: dict[str, tuple[str, str]] = {  # key -> (Health Technical Standards concept, version spec URL)
    "omop_cdm_v54": ("OMOP-CDM", "https://ohdsi.github.io/CommonDataModel/cdm54.html"),
    "fhir_r4": ("FHIR", "http://hl7.org/fhir/R4/"),
}

METRICS: tuple[tuple[str, str], ...] = (  # QualityResult field -> metric label
    ("outcome", "quality gate outcome"),
    ("passed", "checks passed"),
    ("failed", "checks failed"),
    ("not_applicable", "checks not applicable"),
    ("error", "checks errored"),
    ("fatal_failed", "fatal checks failed"),
)
OUTCOMES = ("passed", "warn", "failed", "error")

_EMAIL = re.compile(r"^[^@\s:/]+@[^@\s/]+\.[^@\s/]+$")
_URL = re.compile(r"^https?://[^\s]+$")
_IRI = re.compile(r"^[a-z][a-z0-9+.-]*:[^\s]+$")


class CatalogueError(ValueError):
    """The facts or the manifest cannot give a catalogue record; the message names the problem."""


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CatalogueError(f"{where} must be an integer >= 0, got {value!r}")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where} must be a non-empty string, got {value!r}")
    return value


_TUPLE_FIELDS = ("legal_basis", "applicable_legislation", "health_categories", "coding_systems", "standards",
                 "languages", "countries")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, (str, list, tuple, set, frozenset)):
        raise CatalogueError(f"{where} must be a string or a list of strings, got {value!r}")
    items = (value,) if isinstance(value, str) else tuple(value)
    return tuple(_text(v, f"{where} item") for v in items)


@dataclass(frozen=True)
class QualityResult:
    """One validation run's verdict and check counts (the ``overview`` of a quality document)."""

    run_id: str
    outcome: str
    passed: int
    failed: int
    not_applicable: int
    fatal_failed: int
    error: int = 0
    scope: str | None = None  # what was checked, e.g. "OMOP CDM checks", "FHIR export"
    report: str | None = None  # relative path of the report inside the release, if it ships one

    def __post_init__(self) -> None:
        _text(self.run_id, "quality run_id")
        if self.outcome not in OUTCOMES:
            raise CatalogueError(f"quality run {self.run_id!r}: outcome {self.outcome!r} is not one of {OUTCOMES}")
        for name in ("passed", "failed", "not_applicable", "fatal_failed", "error"):
            _int(getattr(self, name), f"quality run {self.run_id!r}: {name}")
        if self.scope is not None:
            _text(self.scope, "quality scope")
        if self.report is not None:
            _relative_url(self.report)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, scope: str | None = None,
                      report: str | None = None) -> QualityResult:
        """From a run's ``quality.json`` (``run_id``, ``outcome``, ``overview`` counts)."""
        try:
            overview = doc["overview"]
            return cls(run_id=doc["run_id"], outcome=doc["outcome"], passed=overview["passed"],
                       failed=overview["failed"], not_applicable=overview["not_applicable"],
                       fatal_failed=overview["fatal_failed"], error=overview.get("error", 0),
                       scope=scope, report=report)
        except (KeyError, TypeError) as exc:
            raise CatalogueError(f"quality document lacks {exc}; needs run_id, outcome and overview counts") from exc


@dataclass(frozen=True)
class ReleaseFacts:
    """What the release builder knows beyond the manifest (see the module docstring)."""

    title: str
    description: str
    study_id: str
    permit_id: str
    permit_issuer: str  # the body that issued the permit (Findata, HWDC): healthdcatap:hdab
    number_of_records: int  # rows over all released OMOP tables
    number_of_unique_individuals: int
    publisher_name: str | None = None
    publisher_uri: str | None = None
    contact: str | None = None  # e-mail (with or without mailto:) or http(s) URL
    legal_basis: tuple[str, ...] = ()  # as the study spec words it, one entry per basis
    purpose: str = ""
    applicable_legislation: tuple[str, ...] = ()  # ELI IRIs, e.g. EHDS_REGULATION
    health_categories: tuple[str, ...] = ()  # HEALTH_CATEGORIES codes
    temporal_start: date | None = None
    temporal_end: date | None = None
    coding_systems: tuple[str, ...] = ()  # OMOP vocabulary_id values found in the release
    standards: tuple[str, ...] = ()  # STANDARDS keys
    quality: tuple[QualityResult, ...] = ()
    languages: tuple[str, ...] = ()  # EU language table codes: ENG, FIN, SWE, ZHO
    countries: tuple[str, ...] = ()  # TW, FI (or EU country table codes: TWN, FIN)

    def __post_init__(self) -> None:
        for name in _TUPLE_FIELDS:  # lists (or one string) given for tuple fields become tuples
            object.__setattr__(self, name, _strings(getattr(self, name), name))
        object.__setattr__(self, "quality", tuple(self.quality))
        for name in ("title", "description", "study_id", "permit_id", "permit_issuer"):
            _text(getattr(self, name), name)
        _int(self.number_of_records, "number_of_records")
        _int(self.number_of_unique_individuals, "number_of_unique_individuals")
        if self.publisher_uri is not None and (self.publisher_name is None or not _IRI.match(self.publisher_uri)):
            raise CatalogueError(f"publisher_uri {self.publisher_uri!r} needs a publisher_name and must be an IRI")
        if self.publisher_name is not None:
            _text(self.publisher_name, "publisher_name")
        if self.contact is not None:
            _contact(self.contact)
        for iri in self.applicable_legislation:
            if not _URL.match(iri):
                raise CatalogueError(f"applicable_legislation {iri!r} must be an http(s) IRI (an ELI)")
        unknown = sorted(set(self.health_categories) - HEALTH_CATEGORIES)
        if unknown:
            raise CatalogueError(f"unknown health categories {unknown}; known: {sorted(HEALTH_CATEGORIES)}")
        unknown = sorted(set(self.standards) - set(STANDARDS))
        if unknown:
            raise CatalogueError(f"unknown standards {unknown}; known: {sorted(STANDARDS)}")
        for name in ("temporal_start", "temporal_end"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
                raise CatalogueError(f"{name} must be a datetime.date, got {value!r}")
        if self.temporal_start and self.temporal_end and self.temporal_start > self.temporal_end:
            raise CatalogueError(
                f"temporal coverage starts ({self.temporal_start}) after it ends ({self.temporal_end})")
        for code in self.languages:
            if not re.fullmatch(r"[A-Z]{3}", code):
                raise CatalogueError(f"language {code!r} must be an EU language table code such as ENG or FIN")
        for code in self.countries:
            _country(code)
        runs = [q.run_id for q in self.quality]
        if not all(isinstance(q, QualityResult) for q in self.quality) or len(set(runs)) != len(runs):
            raise CatalogueError(f"quality must be QualityResult items with distinct run ids, got {runs}")


def _contact(contact: str) -> dict[str, Any]:
    address = contact[len("mailto:"):] if contact.startswith("mailto:") else contact
    if _EMAIL.match(address):
        return {"@type": "vcard:Kind", "vcard:hasEmail": {"@id": "mailto:" + address}}
    if _URL.match(contact):
        return {"@type": "vcard:Kind", "vcard:hasURL": {"@id": contact}}
    raise CatalogueError(f"contact {contact!r} is neither an e-mail address nor an http(s) URL")


def _country(code: str) -> str:
    if re.fullmatch(r"[A-Z]{3}", code):
        return code
    if code in COUNTRY_ALPHA3:
        return COUNTRY_ALPHA3[code]
    raise CatalogueError(
        f"country {code!r}: give an EU country table code (TWN, FIN) or one of {sorted(COUNTRY_ALPHA3)}")


def _relative_url(path: str) -> str:
    """The relative URL of a release path: '/'-separated segments, each percent-encoded."""
    segments = path.split("/") if isinstance(path, str) else [""]
    if not path or any(s in ("", ".", "..") for s in segments) or "\\" in path:
        raise CatalogueError(f"{path!r} is not a relative path inside the release")
    return "/".join(quote(s, safe="") for s in segments)


def _iri(value: str) -> dict[str, str]:
    return {"@id": value}


def _typed(value: Any, datatype: str) -> dict[str, Any]:
    return {"@value": value, "@type": datatype}


def _coding_systems(vocabularies: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """(``hasCodingSystem`` nodes, ``hasCodeValues`` literals) for OMOP vocabulary ids."""
    matched: dict[str, dict[str, list[dict[str, Any]]]] = {}
    literals = []
    for vocabulary in sorted(set(vocabularies)):
        system = CODING_SYSTEMS.get(vocabulary)
        if system is None:
            literals.append(f"{vocabulary} (OMOP vocabulary_id; not in the catalogue's coding-system table)")
        elif system.nal is None:
            literals.append(f"{vocabulary}: {system.uri} (no concept in the HealthDCAT-AP coding-system vocabulary)")
        else:
            target = {"@id": system.uri, "skos:notation": vocabulary} if system.uri else {"skos:notation": vocabulary}
            matched.setdefault(system.nal, {}).setdefault(f"skos:{system.match}Match", []).append(target)
    nodes = [{"@id": CODING_SYSTEM_NAL + nal, "@type": "dct:Standard", **dict(sorted(matched[nal].items()))}
             for nal in sorted(matched)]
    return nodes, literals


def _quality(results: tuple[QualityResult, ...], dataset_id: str) -> tuple[list[dict], list[dict]]:
    """(``dqv:hasQualityAnnotation`` nodes, ``dqv:hasQualityMeasurement`` nodes), one run after another."""
    annotations, measurements = [], []
    for i, q in enumerate(results, start=1):
        run = f"_:quality-run-{i}"
        text = (f"{q.scope or 'Quality checks'} of run {q.run_id}: outcome {q.outcome}; {q.passed} passed, "
                f"{q.failed} failed, {q.not_applicable} not applicable, {q.error} errored; "
                f"{q.fatal_failed} fatal failures.")
        bodies: list[dict[str, Any]] = [{"@type": "oa:TextualBody", "rdf:value": text}]
        if q.report is not None:
            bodies.append(_iri(_relative_url(q.report)))
        annotations.append({
            "@type": "dqv:QualityAnnotation",
            "oa:motivatedBy": _iri("dqv:qualityAssessment"),
            "oa:hasTarget": _iri(dataset_id),
            "oa:hasBody": bodies,
            "prov:wasGeneratedBy": {"@id": run, "@type": "prov:Activity", "dct:identifier": q.run_id},
        })
        for name, label in METRICS:
            value = getattr(q, name)
            measurements.append({
                "@type": "dqv:QualityMeasurement",
                "dqv:computedOn": _iri(dataset_id),
                "dqv:isMeasurementOf": {"@type": "dqv:Metric", "skos:prefLabel": label},
                "dqv:value": value if isinstance(value, str) else _typed(value, "xsd:nonNegativeInteger"),
                "prov:wasGeneratedBy": _iri(run),
            })
    return annotations, measurements


def _distribution(entry: Mapping[str, Any], facts: ReleaseFacts) -> dict[str, Any]:
    url = _relative_url(entry["path"])
    dist: dict[str, Any] = {
        "@type": "dcat:Distribution",
        "dct:title": entry["path"],
        "dcat:accessURL": _iri(url),
        "dcat:downloadURL": _iri(url),
    }
    subtype = entry["media_type"].partition("/")[2]
    if not subtype.startswith(("x-", "x.")):  # the unregistered tree has no IANA page
        dist["dcat:mediaType"] = _iri(IANA_MEDIA_TYPES + entry["media_type"])
    dist["dcat:byteSize"] = _typed(entry["bytes"], "xsd:nonNegativeInteger")
    dist["spdx:checksum"] = {
        "@type": "spdx:Checksum",
        "spdx:algorithm": _iri("spdx:checksumAlgorithm_sha256"),
        "spdx:checksumValue": _typed(entry["sha256"], "xsd:hexBinary"),
    }
    dist["dct:rights"] = {"@type": "dct:RightsStatement", "dct:identifier": facts.permit_id,
                          "rdfs:label": f"Data permit {facts.permit_id} issued by {facts.permit_issuer}"}
    if facts.applicable_legislation:
        dist["dcatap:applicableLegislation"] = [_iri(i) for i in facts.applicable_legislation]
    return dist


def healthdcat_record(manifest: dict, facts: ReleaseFacts) -> dict:
    """The HealthDCAT-AP JSON-LD record of a release (see the module docstring for the rules)."""
    validate_manifest(manifest)  # ManifestError if malformed
    if not isinstance(facts, ReleaseFacts):
        raise CatalogueError(f"facts must be ReleaseFacts, got {type(facts).__name__}")
    for key in ("study_id", "permit_id"):
        if manifest[key] != getattr(facts, key):
            raise CatalogueError(f"manifest {key} {manifest[key]!r} differs from the facts' {getattr(facts, key)!r}")
    dataset_id = "_:dataset"
    record: dict[str, Any] = {
        "@context": dict(CONTEXT), "@id": dataset_id, "@type": "dcat:Dataset",
        "dct:identifier": manifest["release_id"], "dct:title": facts.title, "dct:description": facts.description,
        "dct:issued": _typed(manifest["created"], "xsd:dateTime"),  # the manifest's UTC ISO 8601 time
        "dct:accessRights": _iri(ACCESS_RESTRICTED),
    }
    if facts.applicable_legislation:
        record["dcatap:applicableLegislation"] = [_iri(i) for i in facts.applicable_legislation]
    record["dcat:theme"] = [_iri(THEME_HEALTH)]
    if facts.health_categories:
        record["healthdcatap:healthCategory"] = [_iri(HEALTH_CATEGORY_NAL + c)
                                                 for c in sorted(set(facts.health_categories))]
    record["healthdcatap:hdab"] = {"@type": "foaf:Agent", "foaf:name": facts.permit_issuer}
    if facts.publisher_name is not None:
        publisher = {"@type": "foaf:Agent", "foaf:name": facts.publisher_name}
        record["dct:publisher"] = {"@id": facts.publisher_uri, **publisher} if facts.publisher_uri else publisher
    if facts.contact is not None:
        record["dcat:contactPoint"] = _contact(facts.contact)
    record["dct:relation"] = {"@type": "foaf:Project", "dct:identifier": facts.study_id}
    if facts.legal_basis:
        record["dpv:hasLegalBasis"] = [{"@type": "dpv:LegalBasis", "dct:description": b} for b in facts.legal_basis]
    if facts.purpose:
        record["dpv:hasPurpose"] = [{"@type": "dpv:Purpose", "dct:description": facts.purpose}]
    record["healthdcatap:numberOfRecords"] = _typed(facts.number_of_records, "xsd:nonNegativeInteger")
    record["healthdcatap:numberOfUniqueIndividuals"] = _typed(facts.number_of_unique_individuals,
                                                              "xsd:nonNegativeInteger")
    if facts.temporal_start or facts.temporal_end:
        period: dict[str, Any] = {"@type": "dct:PeriodOfTime"}
        if facts.temporal_start:
            period["dcat:startDate"] = _typed(facts.temporal_start.isoformat(), "xsd:date")
        if facts.temporal_end:
            period["dcat:endDate"] = _typed(facts.temporal_end.isoformat(), "xsd:date")
        record["dct:temporal"] = [period]
    if facts.countries:
        countries = sorted({_country(c) for c in facts.countries})
        record["dct:spatial"] = [_iri(EU_AUTHORITY + "country/" + c) for c in countries]
    if facts.languages:
        record["dct:language"] = [_iri(EU_AUTHORITY + "language/" + c) for c in sorted(set(facts.languages))]
    if facts.standards:
        record["dct:conformsTo"] = [
            {"@id": STANDARD_NAL + STANDARDS[s][0], "@type": "dct:Standard",
             "dct:hasVersion": {"@id": STANDARDS[s][1], "@type": "dct:Standard"}}
            for s in sorted(set(facts.standards))]
    systems, code_values = _coding_systems(facts.coding_systems)
    if systems:
        record["healthdcatap:hasCodingSystem"] = systems
    if code_values:
        record["healthdcatap:hasCodeValues"] = code_values
    if facts.quality:
        record["dqv:hasQualityAnnotation"], record["dqv:hasQualityMeasurement"] = _quality(facts.quality, dataset_id)
    entries = sorted((f for f in manifest["files"] if f["path"] != CATALOGUE_NAME), key=lambda f: f["path"])
    if not entries:
        raise CatalogueError("the manifest lists no files: a dataset needs at least one distribution")
    record["dcat:distribution"] = [_distribution(f, facts) for f in entries]
    return record


def record_bytes(record: Mapping[str, Any]) -> bytes:
    """The serialisation :func:`write_record` writes: key order kept, indent 2, UTF-8, trailing newline."""
    return (json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_record(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Write ``record`` to ``path`` atomically (temp file in the same folder, then rename); returns the path."""
    target = Path(path)
    data = record_bytes(record)
    tmp = target.with_name(f"{TEMP_PREFIX}{target.name}-{os.getpid()}")  # invisible to LocalStore
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


__all__ = [
    "CATALOGUE_NAME", "CODING_SYSTEMS", "CatalogueError", "CodingSystem", "EHDS_REGULATION", "HEALTH_CATEGORIES",
    "QualityResult", "ReleaseFacts", "STANDARDS", "healthdcat_record", "record_bytes", "write_record",
]
