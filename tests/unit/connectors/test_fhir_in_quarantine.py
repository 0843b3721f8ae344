"""Every quarantine reason of the FHIR feed: a clear reason and element, and no good resource lost."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from connectors.fhir_in import QUARANTINE_REASONS, stage_fhir
from connectors.quarantine import read_quarantine

SECRET = "s3cret"
GOOD_PATIENT = {"resourceType": "Patient", "id": "good", "birthDate": "1960-01-01"}
GOOD_CONDITION = {"resourceType": "Condition", "id": "good-c", "subject": {"reference": "Patient/good"},
                  "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
                  "recordedDate": "2020-01-01"}


def _write(folder: Path, files: dict[str, list]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        data = b"".join((x if isinstance(x, bytes) else (x if isinstance(x, str) else json.dumps(x)).encode()) + b"\n"
                        for x in lines)
        (folder / name).write_bytes(data)


def _stage(tmp_path: Path, files: dict[str, list], validate: str = "none"):
    _write(tmp_path / "in", {"good.ndjson": [GOOD_PATIENT, GOOD_CONDITION], **files})
    report = stage_fhir(tmp_path / "in", tmp_path / "st", SECRET, validate=validate)
    assert report.reconciled, report.unreconciled
    q = read_quarantine(tmp_path / "st" / "quarantine").to_pylist()
    assert {r["reason"] for r in q} <= set(QUARANTINE_REASONS)
    conditions = pq.read_table(tmp_path / "st" / "tables" / "fhir_condition").to_pylist()
    assert "Condition/good-c" in {c["resource_key"] for c in conditions}  # the good one is never lost
    return report, q


#: scenario file -> its lines; all staged together once (see the ``run`` fixture); ids are unique across them
SCENARIOS: dict[str, list] = {}


def scenario(name: str, lines: list) -> str:
    SCENARIOS[name] = lines
    return name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(report, quarantine rows, staging folder) of one staging of every scenario file."""
    tmp = tmp_path_factory.mktemp("q")
    report, q = _stage(tmp, SCENARIOS)
    return report, q, tmp / "st"


def _only(q: list[dict], source: str) -> list[tuple]:
    return sorted((r["row_number"], r["reason"], r["column"], r["detail"]) for r in q if r["source_file"] == source)


BAD_JSON = scenario("bad_json.ndjson", ["{not json", "[1, 2]", b'{"resourceType": "Patient", "x": "\xff"}', "", "   "])


def test_invalid_json_lines(run):
    report, q, _ = run
    assert _only(q, BAD_JSON) == [
        (1, "invalid_json", None, "the line is not valid JSON"),
        (2, "invalid_json", None, "the line is JSON but not an object"),
        (3, "invalid_json", None, "the line is not valid UTF-8"),
    ]
    bad = next(f for f in report.files if f.source_file == BAD_JSON)
    assert (bad.rows_in, bad.blank_lines) == (3, 2)  # blank lines are not items


def test_invalid_json_document(tmp_path):
    _write(tmp_path / "in", {})
    (tmp_path / "in" / "broken.json").write_text('{"resourceType": "Bundle", "entry": [', encoding="utf-8")
    _, q = _stage(tmp_path, {})
    assert _only(q, "broken.json") == [(0, "invalid_json", None, "the document is not valid JSON")]


NOT_RESOURCE = scenario("not_resource.ndjson", [{"id": "no-type"}, {"resourceType": 5}, {"resourceType": "lower"}])


def test_not_a_resource(run):
    assert _only(run[1], NOT_RESOURCE) == [
        (1, "not_a_resource", "resourceType", "no resourceType (not a FHIR resource)"),
        (2, "not_a_resource", "resourceType", "resourceType is not a resource type name"),
        (3, "not_a_resource", "resourceType", "resourceType is not a resource type name"),
    ]


UNSUPPORTED = scenario("unsupported.ndjson", [
    {"resourceType": "Claim", "id": "c1"},
    {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Bundle", "type": "collection"}},
        {"resource": {"resourceType": "AllergyIntolerance", "id": "a1"}},
    ]},
])


def test_unsupported_resource_types_are_counted(run):
    report, q, _ = run
    assert _only(q, UNSUPPORTED) == [
        (1, "unsupported_resource_type", None, "Claim is neither staged nor reference data"),
        (100000200000, "unsupported_resource_type", None, "a Bundle inside a Bundle"),
        (100000200001, "unsupported_resource_type", None, "AllergyIntolerance is neither staged nor reference data"),
    ]
    assert next(f for f in report.files if f.source_file == UNSUPPORTED).by_type == {
        "Claim": 1, "Bundle": 1, "AllergyIntolerance": 1}


INVALID = [  # (resource, element, detail)
    ({"resourceType": "Condition", "subject": {"reference": "Patient/good"}, "recordedDate": "2020-01-01"},
     "code", "code has no coding with a code (nor a short text)"),
    ({"resourceType": "Condition", "code": {"text": "diabetes " * 6}, "subject": {"reference": "Patient/good"},
      "recordedDate": "2020-01-01"}, "code", "code has no coding with a code (nor a short text)"),
    ({"resourceType": "Condition", "code": {"coding": [{"code": "X"}]}, "recordedDate": "2020-01-01"},
     "subject", "subject is missing"),
    ({"resourceType": "Condition", "code": {"coding": [{"code": "X"}]}, "subject": {"reference": "Patient/good"}},
     "onsetDateTime/onsetPeriod.start/recordedDate", "onsetDateTime, onsetPeriod.start and recordedDate are missing"),
    ({"resourceType": "Observation", "code": {"coding": [{"code": "X"}]}, "subject": {"reference": "Group/g1"},
      "effectiveDateTime": "2020-01-01"}, "subject", "subject refers to a Group, not a Patient"),
    ({"resourceType": "Observation", "code": {"coding": [{"code": "X"}]}, "subject": {"reference": "a b c"},
      "effectiveDateTime": "2020-01-01"}, "subject",
     "subject.reference is not a literal reference (Type/id, a URL ending in Type/id, or a fullUrl of the Bundle)"),
    ({"resourceType": "Observation", "code": {"coding": [{"code": "X"}]}, "subject": {"reference": "Patient/good"},
      "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": "7,1"}}, "valueQuantity.value",
     "valueQuantity.value is not a number"),
    ({"resourceType": "Encounter", "subject": {"reference": "Patient/good"}, "status": "planned"},
     "period.start", "period.start is missing (a visit needs a start date)"),
    ({"resourceType": "Patient"}, "birthDate", "birthDate is missing (an OMOP person needs a year of birth)"),
]
INVALID_FILE = scenario("invalid.ndjson", [{**r, "id": f"inv{i}"} for i, (r, _, _) in enumerate(INVALID)])


def test_invalid_resource_names_the_element(run):
    assert _only(run[1], INVALID_FILE) == [(i + 1, "invalid_resource", e, d) for i, (_, e, d) in enumerate(INVALID)]


def test_a_short_text_without_coding_is_staged_as_an_uncoded_source_value(tmp_path):
    """The hub's own export writes an unmapped code as CodeableConcept.text: it comes back as the
    source value with no system and no vocabulary (concept 0 later), not quarantined."""
    text_only = {**GOOD_CONDITION, "id": "t", "code": {"text": " A09.0X ", "coding": [{"system": "urn:x"}]}}
    _, q = _stage(tmp_path, {"x.ndjson": [text_only]})
    assert _only(q, "x.ndjson") == []
    staged = pq.read_table(tmp_path / "st" / "tables" / "fhir_condition").to_pylist()
    row = next(r for r in staged if r["_source_file"] == "x.ndjson")
    assert (row["code_system"], row["vocabulary_id"], row["code"]) == (None, None, "A09.0X")


def test_structural_validation_failure(tmp_path):
    bad = {**GOOD_PATIENT, "id": "v", "gender": "male", "birthDate": "1961-01-01", "unknownElement": True}
    _, q = _stage(tmp_path, {"x.ndjson": [bad]}, validate="all")
    ((row, reason, column, detail),) = _only(q, "x.ndjson")
    assert (row, reason, column) == (1, "invalid_resource", "(resource)")
    assert detail.startswith("R4B validation: unknownElement")


BAD_DATES = ["2024-02-30", "10.01.2024", "2024-01-10T25:00:00Z", "2999-01-01", "1850-01-01", "2024-13"]
DATES_FILE = scenario("dates.ndjson", [{**GOOD_CONDITION, "id": f"date{i}", "onsetDateTime": v}
                                       for i, v in enumerate(BAD_DATES)]
                      + [{**GOOD_CONDITION, "id": "late", "abatementDateTime": "2020-1-5"}])


def test_bad_date(run):
    expected = [(i + 1, "bad_date", "onsetDateTime", f"onsetDateTime {v} is not a FHIR date in 1900..today")
                for i, v in enumerate(BAD_DATES)]
    expected.append((len(BAD_DATES) + 1, "bad_date", "abatementDateTime",
                     "abatementDateTime 2020-1-5 is not a FHIR date in 1900..today"))
    assert _only(run[1], DATES_FILE) == expected


NATIONAL = scenario("national.ndjson", [
    {"resourceType": "Patient", "id": "tw", "birthDate": "1970-01-01",
     "identifier": [{"system": "http://www.moi.gov.tw", "value": "A123456788"}]},
    {**GOOD_CONDITION, "id": "of-tw", "subject": {"reference": "Patient/tw"}},
    {**GOOD_CONDITION, "id": "by-id",
     "subject": {"identifier": {"system": "urn:oid:1.2.246.21", "value": "131052-308X"}}},
])


def test_invalid_national_id_is_quarantined_without_its_value(run):
    q = run[1]
    assert _only(q, NATIONAL) == [
        (1, "invalid_national_id", "identifier",
         "identifier of system http://www.moi.gov.tw fails the format or check-character rule"),
        (2, "unresolved_reference", "subject",
         "subject Patient/tw is not among the staged patients (the Patient was quarantined: invalid_national_id)"),
        (3, "invalid_national_id", "subject",
         "identifier of system urn:oid:1.2.246.21 fails the format or check-character rule"),
    ]
    assert not any("A123456788" in (r["detail"] or "") or "131052-308X" in (r["detail"] or "") for r in q)


PSEUDONYM = scenario("pseudonym.ndjson", [
    {"resourceType": "Patient", "id": "ps", "birthDate": "1970-01-01",
     "identifier": [{"system": "urn:crossbridge:pseudonym:taiwan", "value": "not-a-pseudonym"}]}])


def test_invalid_pseudonym(run):
    assert _only(run[1], PSEUDONYM) == [(1, "invalid_pseudonym", "identifier",
                                         "identifier of system urn:crossbridge:pseudonym:taiwan is not a pseudonym "
                                         "(64 hexadecimal digits)")]


VOID = scenario("void.ndjson", [
    {**GOOD_CONDITION, "id": "err", "verificationStatus": {"coding": [{"code": "entered-in-error"}]}},
    {"resourceType": "MedicationRequest", "id": "mr-cancelled", "status": "cancelled", "intent": "order",
     "subject": {"reference": "Patient/good"}, "authoredOn": "2020-01-01",
     "medicationCodeableConcept": {"coding": [{"code": "X"}]}},
    {"resourceType": "Procedure", "id": "pr", "status": "not-done", "subject": {"reference": "Patient/good"},
     "code": {"coding": [{"code": "X"}]}, "performedDateTime": "2020-01-01"},
])


def test_void_status(run):
    assert _only(run[1], VOID) == [
        (1, "void_status", "status", "status entered-in-error"),
        (2, "void_status", "status", "status cancelled"),
        (3, "void_status", "status", "status not-done"),
    ]


_MED = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "subject": {"reference": "Patient/good"}, "authoredOn": "2020-01-01"}
UNRESOLVED = scenario("unresolved.ndjson", [
    {**GOOD_CONDITION, "id": "orphan", "subject": {"reference": "Patient/nobody"}},
    {**GOOD_CONDITION, "id": "by-unknown-id", "subject": {"identifier": {"system": "http://x", "value": "nobody"}}},
    {**_MED, "id": "mr-missing", "medicationReference": {"reference": "Medication/missing"}},
    {**_MED, "id": "mr-nocode", "medicationReference": {"reference": "Medication/m-nocode"}},
    {"resourceType": "Medication", "id": "m-nocode"},
])


def test_unresolved_references(run):
    assert _only(run[1], UNRESOLVED) == [
        (1, "unresolved_reference", "subject", "subject Patient/nobody is not among the staged patients"),
        (2, "unresolved_reference", "subject", "subject identifier matches no staged Patient"),
        (3, "unresolved_reference", "medicationReference",
         "medicationReference Medication/missing is not in the input"),
        (4, "invalid_resource", "medicationReference", "the referenced Medication/m-nocode has no coding with a code"),
    ]


_FIRST = {**GOOD_CONDITION, "id": "dup", "recordedDate": "2020-01-02"}
DUPLICATES = scenario("duplicates.ndjson", [
    _FIRST,
    {**GOOD_CONDITION, "id": "dup", "recordedDate": "2020-01-03"},
    {**GOOD_CONDITION, "id": "ver", "meta": {"versionId": "2"}, "recordedDate": "2020-01-05"},
    {**GOOD_CONDITION, "id": "ver", "meta": {"versionId": "1"}, "recordedDate": "2020-01-04"},
    _FIRST,
])


def test_duplicate_id_keeps_the_first_and_versions_supersede(run):
    _, q, staging = run
    assert _only(q, DUPLICATES) == [
        (2, "duplicate_id", "id", "Condition/dup is already given by duplicates.ndjson row 1 with other content and no "
                                  "older meta.lastUpdated / versionId")]
    merged = [m for m in pq.read_table(staging / "merged" / "fhir.parquet").to_pylist()
              if m["source_file"] == DUPLICATES]
    assert sorted((m["row_number"], m["reason"], m["kept_row_number"]) for m in merged) == [
        (4, "superseded_version", 3), (5, "duplicate_resource", 1)]
    kept = {c["resource_key"]: c for c in pq.read_table(staging / "tables" / "fhir_condition").to_pylist()}
    assert str(kept["Condition/dup"]["start_date"]) == "2020-01-02"
    assert str(kept["Condition/ver"]["start_date"]) == "2020-01-05"


LONELY = scenario("lonely.ndjson", [
    {"resourceType": "Patient", "id": "lonely", "birthDate": "1970-01-01"},
    {"resourceType": "Patient", "id": "dead", "birthDate": "1930-01-01", "deceasedDateTime": "2020-05-05"},
])


def test_patient_without_clinical_data(run):
    _, q, staging = run
    assert _only(q, LONELY) == [
        (1, "no_clinical_data", "subject", "no staged resource refers to this person, and no date of death")]
    patients = {p["resource_key"] for p in pq.read_table(staging / "tables" / "fhir_patient").to_pylist()}
    assert {"Patient/good", "Patient/dead"} <= patients and "Patient/lonely" not in patients


def test_every_scenario_is_accounted_for(run):
    report, _, _ = run
    assert report.reconciled
    for f in report.files:  # every item of every file: staged, reference, merged or quarantined
        assert f.rows_in == f.staged + f.reference + sum(f.merged.values()) + sum(f.quarantined.values())


MERGE = scenario("merge.ndjson", [  # an HL7 v2 A40 merge as connectors.hl7v2 writes it
    {"resourceType": "Patient", "id": "survivor", "birthDate": "1970-01-01", "link": [
        {"other": {"reference": "Patient/prior"}, "type": "replaces"}]},
    {"resourceType": "Patient", "id": "prior", "active": False, "birthDate": "1970-01-01", "link": [
        {"other": {"reference": "Patient/survivor"}, "type": "replaced-by"}]},
    {**GOOD_CONDITION, "id": "of-survivor", "subject": {"reference": "Patient/survivor"}},
])


def test_a_replaced_patient_is_merged_into_its_survivor(run):
    _, q, staging = run
    assert _only(q, MERGE) == []
    merged = [(m["row_number"], m["reason"], m["kept_row_number"])
              for m in pq.read_table(staging / "merged" / "fhir.parquet").to_pylist() if m["source_file"] == MERGE]
    assert merged == [(2, "replaced_patient", 1)]
