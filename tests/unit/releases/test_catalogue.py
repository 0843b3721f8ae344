"""The HealthDCAT-AP catalogue record of a release (releases.catalogue)."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from urllib.parse import unquote

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.stores import InvalidKey, check_key
from releases import catalogue as cat
from releases.catalogue import (
    CATALOGUE_NAME,
    CatalogueError,
    QualityResult,
    ReleaseFacts,
    healthdcat_record,
    record_bytes,
    write_record,
)
from releases.manifest import ManifestError, build_manifest

SHA_A, SHA_B, SHA_C = "a" * 64, "0123456789abcdef" * 4, "f" * 64
NAL = "https://hdeu-dcat.data.health.europa.eu/resource/authority/"


def make_manifest(files: list[dict] | None = None, **meta) -> dict:
    files = files if files is not None else [
        {"path": "omop/person.parquet", "bytes": 4096, "sha256": SHA_A, "rows": 120,
         "media_type": "application/vnd.apache.parquet"},
        {"path": "omop/condition occurrence.csv", "bytes": 777, "sha256": SHA_B, "rows": 311, "media_type": "text/csv"},
        {"path": "fhir/Patient.ndjson", "bytes": 9001, "sha256": SHA_C, "rows": 120,
         "media_type": "application/x-ndjson"},
    ]
    manifest = {"manifest_version": 1, "release_id": "t2d-tw-2026-r3", "study_id": "t2d-tw-2026",
                "permit_id": "HWDC-2026-0042", "created": "2026-05-01T12:30:00Z", "code_version": "0.1.0+g1234",
                "vocabulary_versions": {"athena": "v20250801"}, "source_runs": ["tw-20260430-01"],
                "files": files, "totals": {"bytes": sum(f["bytes"] for f in files), "files": len(files)}}
    manifest.update(meta)
    return manifest


QUALITY = (
    QualityResult(run_id="tw-20260430-01", outcome="warn", passed=1580, failed=7, not_applicable=93,
                  fatal_failed=0, error=1, scope="OMOP CDM checks", report="quality/quality_summary.html"),
    QualityResult(run_id="fhir-20260430-02", outcome="passed", passed=40, failed=0, not_applicable=3, fatal_failed=0),
)


def full_facts(**over) -> ReleaseFacts:
    kw = dict(
        title="Type 2 diabetes and metformin, Taiwan",
        description="Pseudonymised OMOP CDM extract for study t2d-tw-2026.",
        study_id="t2d-tw-2026", permit_id="HWDC-2026-0042", permit_issuer="Health and Welfare Data Science Center",
        number_of_records=123_456, number_of_unique_individuals=7_890,
        publisher_name="Crossbridge Taiwan hub", publisher_uri="https://hub.example.tw/",
        contact="mailto:releases@hub.example.tw",
        legal_basis=("GDPR Art. 9(2)(j)", "Finnish Act on the Secondary Use of Health and Social Data 552/2019"),
        purpose="Compare metformin persistence between Taiwan and Finland.",
        applicable_legislation=(cat.EHDS_REGULATION,), health_categories=("HRAD", "MRMR"),
        temporal_start=date(2014, 1, 1), temporal_end=date(2017, 12, 31),
        coding_systems=("SNOMED", "ICD10CM", "ICD10fi", "RxNorm", "ATC", "NHI Drug", "NHI Fee", "Gender"),
        standards=("omop_cdm_v54", "fhir_r4"), quality=QUALITY, languages=("ENG", "ZHO"), countries=("TW",),
    )
    kw.update(over)
    return ReleaseFacts(**kw)


def minimal_facts(**over) -> ReleaseFacts:
    kw = dict(title="Minimal release", description="Only what must be given.", study_id="t2d-tw-2026",
              permit_id="HWDC-2026-0042", permit_issuer="Findata", number_of_records=10,
              number_of_unique_individuals=3)
    kw.update(over)
    return ReleaseFacts(**kw)


def leaves(node, path=()):
    """(path, value) of every scalar in a JSON tree; keys are part of the path, not values."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from leaves(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from leaves(v, (*path, i))
    else:
        yield path, node


def keys(node):
    if isinstance(node, dict):
        for k, v in node.items():
            yield k
            yield from keys(v)
    elif isinstance(node, list):
        for v in node:
            yield from keys(v)


# ---- the mandatory structure, as a JSON Schema over the JSON-LD document ---------------------------------
IRI_NODE = {"type": "object", "required": ["@id"], "properties": {"@id": {"type": "string", "minLength": 1}}}
NON_NEG = {"type": "object", "required": ["@value", "@type"],
           "properties": {"@value": {"type": "integer", "minimum": 0}, "@type": {"const": "xsd:nonNegativeInteger"}}}
MANDATORY_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["@context", "@type", "dct:title", "dct:description", "dct:identifier", "dct:issued",
                 "dct:accessRights", "dcat:theme", "healthdcatap:hdab", "healthdcatap:numberOfRecords",
                 "healthdcatap:numberOfUniqueIndividuals", "dcat:distribution"],
    "properties": {
        "@context": {"type": "object", "required": ["dcat", "dct", "healthdcatap", "spdx", "dcatap"],
                     "properties": {"healthdcatap": {"const": "http://healthdataportal.eu/ns/health#"},
                                    "dcat": {"const": "http://www.w3.org/ns/dcat#"},
                                    "dct": {"const": "http://purl.org/dc/terms/"},
                                    "spdx": {"const": "http://spdx.org/rdf/terms#"},
                                    "dcatap": {"const": "http://data.europa.eu/r5r/"}}},
        "@type": {"const": "dcat:Dataset"},
        "dct:title": {"type": "string", "minLength": 1},
        "dct:description": {"type": "string", "minLength": 1},
        "dct:identifier": {"type": "string", "minLength": 1},
        "dct:issued": {"type": "object", "required": ["@value", "@type"],
                       "properties": {"@type": {"enum": ["xsd:dateTime", "xsd:date"]}}},
        "dct:accessRights": {"type": "object", "required": ["@id"], "properties": {
            "@id": {"const": "http://publications.europa.eu/resource/authority/access-right/RESTRICTED"}}},
        "dcat:theme": {"type": "array", "contains": {"type": "object", "required": ["@id"], "properties": {
            "@id": {"const": "http://publications.europa.eu/resource/authority/data-theme/HEAL"}}}},
        "healthdcatap:hdab": {"type": "object", "required": ["foaf:name"],
                              "properties": {"foaf:name": {"type": "string", "minLength": 1}}},
        "healthdcatap:numberOfRecords": NON_NEG,
        "healthdcatap:numberOfUniqueIndividuals": NON_NEG,
        "healthdcatap:hasCodingSystem": {"type": "array", "items": {
            "type": "object", "required": ["@id", "@type"],
            "properties": {"@id": {"type": "string", "pattern": "^" + re.escape(NAL + "coding-system/")},
                           "@type": {"const": "dct:Standard"}}}},
        "dct:conformsTo": {"type": "array", "items": {"type": "object", "required": ["@id"], "properties": {
            "@id": {"type": "string", "pattern": "^" + re.escape(NAL + "standard/")}}}},
        "dcat:distribution": {"type": "array", "minItems": 1, "items": {
            "type": "object",
            "required": ["@type", "dcat:accessURL", "dcat:byteSize", "spdx:checksum"],
            "properties": {
                "@type": {"const": "dcat:Distribution"},
                "dcat:accessURL": IRI_NODE,
                "dcat:downloadURL": IRI_NODE,
                "dcat:byteSize": NON_NEG,
                "dcat:mediaType": {"type": "object", "required": ["@id"], "properties": {
                    "@id": {"type": "string", "pattern": "^http.*://www.iana.org/assignments/media-types/"}}},
                "spdx:checksum": {"type": "object", "required": ["@type", "spdx:algorithm", "spdx:checksumValue"],
                                  "properties": {
                                      "@type": {"const": "spdx:Checksum"},
                                      "spdx:algorithm": {"type": "object", "required": ["@id"], "properties": {
                                          "@id": {"const": "spdx:checksumAlgorithm_sha256"}}},
                                      "spdx:checksumValue": {"type": "object", "required": ["@value", "@type"],
                                                             "properties": {
                                                                 "@value": {"type": "string",
                                                                            "pattern": "^[0-9a-f]{64}$"},
                                                                 "@type": {"const": "xsd:hexBinary"}}}}},
            }}},
    },
}


# ---- tests ------------------------------------------------------------------------------------------------
def test_full_record_has_every_required_property_and_passes_the_schema():
    record = healthdcat_record(make_manifest(), full_facts())
    jsonschema.validate(record, MANDATORY_SCHEMA)
    for key in ("dcatap:applicableLegislation", "healthdcatap:healthCategory", "dct:publisher",
                "dcat:contactPoint", "dpv:hasLegalBasis", "dpv:hasPurpose", "dct:temporal", "dct:spatial",
                "dct:language", "dct:conformsTo", "healthdcatap:hasCodingSystem", "healthdcatap:hasCodeValues",
                "dqv:hasQualityAnnotation", "dqv:hasQualityMeasurement"):
        assert key in record, key
    assert list(record)[:3] == ["@context", "@id", "@type"]
    assert record["dct:identifier"] == "t2d-tw-2026-r3"
    assert record["dct:issued"] == {"@value": "2026-05-01T12:30:00Z", "@type": "xsd:dateTime"}
    assert record["dcatap:applicableLegislation"] == [{"@id": "http://data.europa.eu/eli/reg/2025/327/oj"}]
    assert [c["@id"] for c in record["healthdcatap:healthCategory"]] == [
        NAL + "healthcategories/HRAD", NAL + "healthcategories/MRMR"]
    assert record["dct:spatial"] == [{"@id": "http://publications.europa.eu/resource/authority/country/TWN"}]
    assert [x["@id"] for x in record["dct:language"]] == [
        "http://publications.europa.eu/resource/authority/language/ENG",
        "http://publications.europa.eu/resource/authority/language/ZHO"]
    assert record["dct:conformsTo"] == [
        {"@id": NAL + "standard/FHIR", "@type": "dct:Standard",
         "dct:hasVersion": {"@id": "http://hl7.org/fhir/R4/", "@type": "dct:Standard"}},
        {"@id": NAL + "standard/OMOP-CDM", "@type": "dct:Standard",
         "dct:hasVersion": {"@id": "https://ohdsi.github.io/CommonDataModel/cdm54.html", "@type": "dct:Standard"}}]
    assert record["healthdcatap:hdab"] == {"@type": "foaf:Agent", "foaf:name": "Health and Welfare Data Science Center"}
    assert record["dct:publisher"] == {"@id": "https://hub.example.tw/", "@type": "foaf:Agent",
                                       "foaf:name": "Crossbridge Taiwan hub"}
    assert record["dcat:contactPoint"] == {"@type": "vcard:Kind",
                                           "vcard:hasEmail": {"@id": "mailto:releases@hub.example.tw"}}
    assert [b["dct:description"] for b in record["dpv:hasLegalBasis"]] == list(full_facts().legal_basis)
    assert record["dpv:hasPurpose"] == [{"@type": "dpv:Purpose", "dct:description": full_facts().purpose}]
    assert record["dct:temporal"] == [{"@type": "dct:PeriodOfTime",
                                       "dcat:startDate": {"@value": "2014-01-01", "@type": "xsd:date"},
                                       "dcat:endDate": {"@value": "2017-12-31", "@type": "xsd:date"}}]


def test_numbers_match_the_inputs():
    record = healthdcat_record(make_manifest(), full_facts())
    assert record["healthdcatap:numberOfRecords"] == {"@value": 123_456, "@type": "xsd:nonNegativeInteger"}
    assert record["healthdcatap:numberOfUniqueIndividuals"] == {"@value": 7_890, "@type": "xsd:nonNegativeInteger"}
    by_title = {d["dct:title"]: d for d in record["dcat:distribution"]}
    for f in make_manifest()["files"]:
        d = by_title[f["path"]]
        assert d["dcat:byteSize"] == {"@value": f["bytes"], "@type": "xsd:nonNegativeInteger"}
        assert d["spdx:checksum"]["spdx:checksumValue"] == {"@value": f["sha256"], "@type": "xsd:hexBinary"}


@settings(max_examples=50, deadline=None)
@given(records=st.integers(0, 10**12), persons=st.integers(0, 10**9), size=st.integers(0, 10**13))
def test_numbers_are_carried_exactly(records, persons, size):
    files = [{"path": "a.parquet", "bytes": size, "sha256": SHA_A, "rows": 1,
              "media_type": "application/vnd.apache.parquet"}]
    record = healthdcat_record(make_manifest(files), minimal_facts(number_of_records=records,
                                                                   number_of_unique_individuals=persons))
    back = json.loads(record_bytes(record))
    assert back["healthdcatap:numberOfRecords"]["@value"] == records
    assert back["healthdcatap:numberOfUniqueIndividuals"]["@value"] == persons
    assert back["dcat:distribution"][0]["dcat:byteSize"]["@value"] == size


def test_distributions_one_per_file_sorted_with_relative_urls_and_iana_media_types():
    record = healthdcat_record(make_manifest(), full_facts())
    dists = record["dcat:distribution"]
    assert [d["dct:title"] for d in dists] == ["fhir/Patient.ndjson", "omop/condition occurrence.csv",
                                               "omop/person.parquet"]
    csv = dists[1]
    assert csv["dcat:accessURL"] == csv["dcat:downloadURL"] == {"@id": "omop/condition%20occurrence.csv"}
    assert csv["dcat:mediaType"] == {"@id": "http://www.iana.org/assignments/media-types/text/csv"}
    assert dists[2]["dcat:mediaType"] == {
        "@id": "http://www.iana.org/assignments/media-types/application/vnd.apache.parquet"}
    assert "dcat:mediaType" not in dists[0]  # application/x-ndjson is not an IANA-registered type
    for d in dists:
        assert d["spdx:checksum"]["spdx:algorithm"] == {"@id": "spdx:checksumAlgorithm_sha256"}
        assert d["dcatap:applicableLegislation"] == [{"@id": cat.EHDS_REGULATION}]
        assert d["dct:rights"] == {
            "@type": "dct:RightsStatement", "dct:identifier": "HWDC-2026-0042",
            "rdfs:label": "Data permit HWDC-2026-0042 issued by Health and Welfare Data Science Center"}


def test_the_record_file_itself_is_not_a_distribution():
    files = make_manifest()["files"] + [{"path": CATALOGUE_NAME, "bytes": 5, "sha256": SHA_A, "rows": None,
                                         "media_type": "application/octet-stream"}]
    with_record = healthdcat_record(make_manifest(files), full_facts())
    assert with_record == healthdcat_record(make_manifest(), full_facts())


def test_json_round_trip_and_deterministic_bytes(tmp_path):
    record = healthdcat_record(make_manifest(), full_facts())
    assert json.loads(json.dumps(record)) == record
    path = write_record(tmp_path / CATALOGUE_NAME, record)
    data = path.read_bytes()
    assert json.loads(data.decode("utf-8")) == record
    assert data == record_bytes(healthdcat_record(make_manifest(), full_facts()))  # same inputs, same bytes
    assert data.endswith(b"}\n") and sorted(p.name for p in tmp_path.iterdir()) == [CATALOGUE_NAME]
    assert list(json.loads(data)) == list(record)  # key order survives


def test_record_from_a_real_manifest(tmp_path):
    folder = tmp_path / "release"
    (folder / "omop").mkdir(parents=True)
    (folder / "omop" / "person.csv").write_text("person_id,year_of_birth\n1,1970\n2,1980\n")
    (folder / "fhir").mkdir()
    (folder / "fhir" / "Patient.ndjson").write_text('{"resourceType":"Patient"}\n')
    meta = {k: make_manifest()[k] for k in ("release_id", "study_id", "permit_id", "created", "code_version",
                                            "vocabulary_versions", "source_runs")}
    manifest = build_manifest(folder, meta)
    record = healthdcat_record(manifest, minimal_facts())
    jsonschema.validate(record, MANDATORY_SCHEMA)
    by_title = {d["dct:title"]: d for d in record["dcat:distribution"]}
    assert set(by_title) == {"omop/person.csv", "fhir/Patient.ndjson"}
    assert by_title["omop/person.csv"]["dcat:byteSize"]["@value"] == (folder / "omop" / "person.csv").stat().st_size


def test_minimal_facts_add_nothing_that_was_not_given():
    record = healthdcat_record(make_manifest(), minimal_facts())
    jsonschema.validate(record, MANDATORY_SCHEMA)
    for absent in ("dct:publisher", "dcat:contactPoint", "dpv:hasLegalBasis", "dpv:hasPurpose", "dct:temporal",
                   "dct:spatial", "dct:language", "dct:conformsTo", "healthdcatap:hasCodingSystem",
                   "healthdcatap:hasCodeValues", "dqv:hasQualityAnnotation", "dqv:hasQualityMeasurement",
                   "dcatap:applicableLegislation", "healthdcatap:healthCategory"):
        assert absent not in record, absent
    assert not any("dcatap:applicableLegislation" in d for d in record["dcat:distribution"])


def test_every_value_is_given_or_a_fixed_vocabulary_term():
    manifest, facts = make_manifest(), full_facts()
    given_values = {manifest["release_id"], manifest["created"], facts.title, facts.description, facts.study_id,
                    facts.permit_id, facts.permit_issuer, facts.publisher_name, facts.publisher_uri, facts.purpose,
                    *facts.legal_basis, *facts.applicable_legislation, *facts.coding_systems,
                    facts.number_of_records, facts.number_of_unique_individuals, "2014-01-01", "2017-12-31",
                    "mailto:releases@hub.example.tw"}
    for f in manifest["files"]:
        given_values |= {f["path"], f["bytes"], f["sha256"], f["path"].replace(" ", "%20")}
    for q in QUALITY:
        given_values |= {q.run_id, q.outcome, q.passed, q.failed, q.not_applicable, q.error, q.fatal_failed,
                         "quality/quality_summary.html"}
    fixed_bases = (*cat.CONTEXT.values(), "http://publications.europa.eu/resource/authority/", NAL,
                   "http://www.iana.org/assignments/media-types/", "https://ohdsi.github.io/CommonDataModel/cdm54.html",
                   "http://hl7.org/fhir/R4/", *(s.uri for s in cat.CODING_SYSTEMS.values() if s.uri))
    fixed_terms = {label for _, label in cat.METRICS} | {"_:dataset", "_:quality-run-1", "_:quality-run-2"}
    record = healthdcat_record(manifest, facts)
    unexplained = []
    for path, value in leaves({k: v for k, v in record.items() if k != "@context"}):
        if path[-1] == "@type" or value in given_values or value in fixed_terms:
            continue
        curie = isinstance(value, str) and re.fullmatch(r"([a-z]+):[A-Za-z_0-9]+", value)
        if isinstance(value, str) and (value.startswith(fixed_bases) or (curie and curie[1] in cat.CONTEXT)):
            continue  # a vocabulary IRI or a CURIE of a declared prefix
        if "rdf:value" in path or "rdfs:label" in path or "healthdcatap:hasCodeValues" in path:
            continue  # composed texts: checked in their own tests
        unexplained.append((path, value))
    assert unexplained == []


def test_every_key_is_a_curie_of_a_declared_prefix_and_every_prefix_is_used():
    record = healthdcat_record(make_manifest(), full_facts())
    used = set()
    for key in keys({k: v for k, v in record.items() if k != "@context"}):
        if key.startswith("@"):
            assert key in ("@id", "@type", "@value"), key
            continue
        prefix, _, local = key.partition(":")
        assert prefix in cat.CONTEXT and local, key
        used.add(prefix)
    types = {v.partition(":")[0] for p, v in leaves(record) if p[-1] == "@type" or "@id" in p[-1:]}
    assert set(cat.CONTEXT) <= used | types | {"xsd"}


def test_properties_are_those_found_in_the_sources():
    confirmed = {  # HealthDCAT-AP R8 shapes/examples, DCAT-AP 3.0.1 shapes/context, DQV, Web Annotation, SKOS, PROV
        "dct:identifier", "dct:title", "dct:description", "dct:issued", "dct:accessRights",
        "dcatap:applicableLegislation", "dcat:theme", "healthdcatap:healthCategory", "healthdcatap:hdab",
        "dct:publisher", "foaf:name", "dcat:contactPoint", "vcard:hasEmail", "vcard:hasURL", "dct:relation",
        "dpv:hasLegalBasis", "dpv:hasPurpose", "healthdcatap:numberOfRecords",
        "healthdcatap:numberOfUniqueIndividuals", "dct:temporal", "dcat:startDate", "dcat:endDate", "dct:spatial",
        "dct:language", "dct:conformsTo", "dct:hasVersion", "healthdcatap:hasCodingSystem", "skos:exactMatch",
        "skos:narrowMatch", "skos:notation", "healthdcatap:hasCodeValues", "dqv:hasQualityAnnotation",
        "oa:motivatedBy", "oa:hasTarget", "oa:hasBody", "rdf:value", "prov:wasGeneratedBy",
        "dqv:hasQualityMeasurement", "dqv:computedOn", "dqv:isMeasurementOf", "skos:prefLabel", "dqv:value",
        "dcat:distribution", "dcat:accessURL", "dcat:downloadURL", "dcat:mediaType", "dcat:byteSize",
        "spdx:checksum", "spdx:algorithm", "spdx:checksumValue", "dct:rights", "rdfs:label",
    }
    record = healthdcat_record(make_manifest(), full_facts())
    used = {k for k in keys({k: v for k, v in record.items() if k != "@context"}) if not k.startswith("@")}
    assert used <= confirmed, sorted(used - confirmed)


def test_coding_systems_map_to_the_coding_system_vocabulary_with_their_own_uris():
    record = healthdcat_record(make_manifest(), full_facts())
    systems = {n["@id"].rsplit("/", 1)[1]: n for n in record["healthdcatap:hasCodingSystem"]}
    assert list(systems) == ["ATC", "ICD-10-NAT", "OHDSI-VOCAB", "RXNORM", "SNOMED-CT"]  # sorted, deduplicated
    assert systems["SNOMED-CT"]["skos:exactMatch"] == [{"@id": "http://snomed.info/sct", "skos:notation": "SNOMED"}]
    assert systems["ICD-10-NAT"]["skos:narrowMatch"] == [
        {"@id": "http://hl7.org/fhir/sid/icd-10-cm", "skos:notation": "ICD10CM"},
        {"@id": "urn:oid:1.2.246.537.6.1", "skos:notation": "ICD10fi"}]
    assert systems["RXNORM"]["skos:exactMatch"][0]["@id"] == "http://www.nlm.nih.gov/research/umls/rxnorm"
    assert systems["ATC"]["skos:exactMatch"][0]["@id"] == "http://www.whocc.no/atc"
    assert systems["OHDSI-VOCAB"]["skos:narrowMatch"] == [{"skos:notation": "Gender"}]  # no public URI: none made up


def test_unknown_vocabulary_is_kept_as_a_literal_never_dropped():
    record = healthdcat_record(make_manifest(), full_facts(coding_systems=("SNOMED", "VNRfi", "My Local Codes")))
    values = record["healthdcatap:hasCodeValues"]
    assert all(isinstance(v, str) for v in values)
    assert values == ["My Local Codes (OMOP vocabulary_id; not in the catalogue's coding-system table)",
                      "VNRfi (OMOP vocabulary_id; not in the catalogue's coding-system table)"]
    assert [n["@id"] for n in record["healthdcatap:hasCodingSystem"]] == [NAL + "coding-system/SNOMED-CT"]
    nhi = healthdcat_record(make_manifest(), full_facts(coding_systems=("NHI Drug",)))
    assert nhi["healthdcatap:hasCodeValues"] == [
        "NHI Drug: https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/medication-nhi-tw "
        "(no concept in the HealthDCAT-AP coding-system vocabulary)"]
    assert "healthdcatap:hasCodingSystem" not in nhi


def test_coding_system_uris_agree_with_the_terminology_registry():
    from terminology.systems import code_system

    for vocabulary, system in cat.CODING_SYSTEMS.items():
        entry = code_system(vocabulary)
        if entry is not None and system.uri is not None:
            assert system.uri in (entry.uri, *entry.other_uris), vocabulary
    assert {s.match for s in cat.CODING_SYSTEMS.values()} <= {"exact", "narrow"}
    assert all(s.uri or s.nal for s in cat.CODING_SYSTEMS.values())  # an entry with neither says nothing


def test_quality_annotations_and_measurements_per_run():
    record = healthdcat_record(make_manifest(), full_facts())
    first, second = record["dqv:hasQualityAnnotation"]
    assert first["oa:motivatedBy"] == {"@id": "dqv:qualityAssessment"}
    assert first["oa:hasTarget"] == {"@id": record["@id"]}
    assert first["prov:wasGeneratedBy"] == {"@id": "_:quality-run-1", "@type": "prov:Activity",
                                            "dct:identifier": "tw-20260430-01"}
    assert first["oa:hasBody"] == [
        {"@type": "oa:TextualBody", "rdf:value": "OMOP CDM checks of run tw-20260430-01: outcome warn; 1580 passed, "
                                                 "7 failed, 93 not applicable, 1 errored; 0 fatal failures."},
        {"@id": "quality/quality_summary.html"}]
    assert second["prov:wasGeneratedBy"]["dct:identifier"] == "fhir-20260430-02"
    assert len(second["oa:hasBody"]) == 1
    measured = {(m["prov:wasGeneratedBy"]["@id"], m["dqv:isMeasurementOf"]["skos:prefLabel"]): m["dqv:value"]
                for m in record["dqv:hasQualityMeasurement"]}
    assert len(measured) == 2 * len(cat.METRICS)
    assert measured[("_:quality-run-1", "quality gate outcome")] == "warn"
    assert measured[("_:quality-run-1", "checks passed")] == {"@value": 1580, "@type": "xsd:nonNegativeInteger"}
    assert measured[("_:quality-run-1", "checks failed")]["@value"] == 7
    assert measured[("_:quality-run-1", "checks not applicable")]["@value"] == 93
    assert measured[("_:quality-run-1", "checks errored")]["@value"] == 1
    assert measured[("_:quality-run-2", "fatal checks failed")]["@value"] == 0


def test_quality_result_from_a_quality_document():
    doc = {"run_id": "fi-20260501-03", "site": "finland", "outcome": "failed",
           "overview": {"passed": 10, "failed": 2, "not_applicable": 1, "error": 0, "fatal_failed": 1}}
    q = QualityResult.from_document(doc, scope="OMOP CDM checks")
    assert (q.run_id, q.outcome, q.passed, q.failed, q.not_applicable, q.error, q.fatal_failed, q.scope) == (
        "fi-20260501-03", "failed", 10, 2, 1, 0, 1, "OMOP CDM checks")
    with pytest.raises(CatalogueError, match="overview"):
        QualityResult.from_document({"run_id": "x", "outcome": "passed"})


def test_contact_url_becomes_vcard_url_and_bare_email_a_mailto():
    url = healthdcat_record(make_manifest(), minimal_facts(contact="https://findata.fi/en/contact"))
    assert url["dcat:contactPoint"] == {"@type": "vcard:Kind", "vcard:hasURL": {"@id": "https://findata.fi/en/contact"}}
    mail = healthdcat_record(make_manifest(), minimal_facts(contact="info@findata.fi"))
    assert mail["dcat:contactPoint"]["vcard:hasEmail"] == {"@id": "mailto:info@findata.fi"}


def test_a_single_legal_basis_string_and_finnish_country_code():
    record = healthdcat_record(make_manifest(), minimal_facts(legal_basis="GDPR Art. 9(2)(j); Act 552/2019",
                                                             countries=["FI", "FIN"]))
    assert record["dpv:hasLegalBasis"] == [{"@type": "dpv:LegalBasis",
                                            "dct:description": "GDPR Art. 9(2)(j); Act 552/2019"}]
    assert record["dct:spatial"] == [{"@id": "http://publications.europa.eu/resource/authority/country/FIN"}]


@pytest.mark.parametrize("over, message", [
    (dict(contact="call us"), "neither an e-mail"),
    (dict(countries=("SE",)), "country 'SE'"),
    (dict(temporal_start=date(2018, 1, 1), temporal_end=date(2017, 1, 1)), "starts"),
    (dict(standards=("omop_cdm_v53",)), "unknown standards"),
    (dict(health_categories=("CLAIMS",)), "unknown health categories"),
    (dict(number_of_records=-1), "number_of_records"),
    (dict(number_of_unique_individuals=True), "number_of_unique_individuals"),
    (dict(title=" "), "title"),
    (dict(publisher_uri="https://x.example/"), "publisher_name"),
    (dict(applicable_legislation=("EHDS",)), "ELI"),
    (dict(languages=("en",)), "language 'en'"),
    (dict(quality=(QUALITY[0], QUALITY[0])), "distinct run ids"),
    (dict(coding_systems=None), "coding_systems"),
])
def test_bad_facts_are_refused_with_a_clear_message(over, message):
    with pytest.raises(CatalogueError, match=re.escape(message)):
        minimal_facts(**over)


def test_bad_quality_results_are_refused():
    with pytest.raises(CatalogueError, match="outcome 'ok'"):
        QualityResult(run_id="r", outcome="ok", passed=1, failed=0, not_applicable=0, fatal_failed=0)
    with pytest.raises(CatalogueError, match="failed"):
        QualityResult(run_id="r", outcome="passed", passed=1, failed=-1, not_applicable=0, fatal_failed=0)
    with pytest.raises(CatalogueError, match="not a relative path"):
        QualityResult(run_id="r", outcome="passed", passed=1, failed=0, not_applicable=0, fatal_failed=0,
                      report="../outside.html")


def test_manifest_and_facts_must_agree_and_the_manifest_must_be_valid():
    with pytest.raises(CatalogueError, match="study_id"):
        healthdcat_record(make_manifest(study_id="other-study"), minimal_facts())
    with pytest.raises(CatalogueError, match="permit_id"):
        healthdcat_record(make_manifest(permit_id="FINDATA-1"), minimal_facts())
    broken = make_manifest()
    del broken["files"][0]["sha256"]
    with pytest.raises(ManifestError):
        healthdcat_record(broken, minimal_facts())
    with pytest.raises(CatalogueError, match="no files"):
        healthdcat_record(make_manifest([]), minimal_facts())


def test_the_schema_catches_a_missing_checksum_and_a_wrong_access_right():
    record = healthdcat_record(make_manifest(), full_facts())
    no_checksum = copy.deepcopy(record)
    del no_checksum["dcat:distribution"][1]["spdx:checksum"]
    with pytest.raises(jsonschema.ValidationError, match="spdx:checksum"):
        jsonschema.validate(no_checksum, MANDATORY_SCHEMA)
    public = copy.deepcopy(record)
    public["dct:accessRights"]["@id"] = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(public, MANDATORY_SCHEMA)


_segment = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(_segment, min_size=1, max_size=4).map("/".join))
def test_relative_urls_round_trip_and_never_leave_the_release(path):
    try:
        check_key(path)
    except InvalidKey:
        return  # the manifest never lists such a path
    url = cat._relative_url(path)
    assert unquote(url) == path
    assert not url.startswith("/") and ":" not in url.split("/")[0]  # never absolute, never a scheme
    assert all(s not in (".", "..") for s in url.split("/"))
    assert re.fullmatch(r"[A-Za-z0-9_.~%/-]+", url)
