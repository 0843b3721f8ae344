"""FHIR export quality suite (GX on DuckDB): clean fixtures pass, each planted defect fails its check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from validators import fhir_suite as fs
from validators.fhir_suite import CHECKS, FhirSuiteError, check_query, validate_fhir_export

FIXTURES = Path(__file__).parents[2] / "fixtures" / "fhir_quality"
TYPES = ["Condition", "Encounter", "Location", "MedicationDispense", "Observation", "Organization", "Patient",
         "Procedure", "Provenance", "Specimen"]
FI_PROFILE = "https://hl7.fi/fhir/finnish-base-profiles/StructureDefinition/fi-base-"
TW_PROFILE = "https://twcore.mohw.gov.tw/ig/twcore/StructureDefinition/"
RAW_IDS = ("A123456789", "131052-308T", "A123456788")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _write(path: Path, rows: list[dict | str]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


def _edit(root: Path, rtype: str, edit) -> None:
    rows = _read(root / f"{rtype}.ndjson")
    _write(root / f"{rtype}.ndjson", edit(rows) or rows)


def _failing(report) -> dict[tuple[str, str], int]:
    return {(r.check, r.resource_type): r.unexpected_count for r in report.records if r.status != "passed"}


def _gx_records(report) -> list:
    return [r for r in report.records if r.check != "references_outside_export"]


# --- clean fixtures --------------------------------------------------------------------------

def test_clean_taiwan_export_passes_every_check():
    report = validate_fhir_export(FIXTURES / "taiwan", site="taiwan")
    assert report.outcome == "passed", report.failed()
    assert (report.site, report.site_source) == ("taiwan", "given")
    assert report.resource_count == 13 and report.validated_count == 13 and report.malformed_lines == 0
    assert len(_gx_records(report)) == len(CHECKS) * len(TYPES)  # one expectation per check and type
    assert {r.resource_type for r in report.records} == set(TYPES)
    assert all(r.status == "passed" and r.unexpected_count == 0 for r in report.records)
    assert report.record("reference_resolves", "Encounter").element_count == 6
    assert report.record("contained_reference_resolves", "MedicationDispense").element_count == 1
    info = report.record("references_outside_export", "Provenance")
    assert (info.status, info.element_count, info.examples) == ("passed", 1, ["prov-tw-1"])
    as_dict = json.loads(json.dumps(report.to_dict()))
    assert as_dict["outcome"] == "passed" and len(as_dict["records"]) == len(report.records)
    assert set(as_dict["records"][0]) == {"check", "resource_type", "status", "unexpected_count", "element_count",
                                          "examples", "detail"}


def test_clean_finland_export_passes_and_site_is_detected():
    report = validate_fhir_export(FIXTURES / "finland")
    assert report.outcome == "passed", report.failed()
    assert (report.site, report.site_source) == ("finland", "detected")
    assert len(_gx_records(report)) == len(CHECKS) * len(TYPES)


# --- planted defects (one export, each defect on its own check and resource type) ---------------

DEFECTS: dict[str, tuple[str, str, int]] = {
    "invalid resource": ("structure_valid", "Specimen", 1),
    "malformed JSON line": ("structure_valid", "Observation", 1),
    "missing id": ("id_present", "Provenance", 1),
    "duplicate id": ("id_unique", "Encounter", 1),
    "missing profile": ("profile_present", "Location", 2),
    "wrong IG profile": ("profile_from_ig", "Organization", 1),
    "valid Taiwan ID in a text field": ("no_national_id", "MedicationDispense", 1),
    "valid henkilötunnus in an identifier value": ("no_national_id", "Patient", 1),
    "identifier without system": ("identifier_system_present", "Condition", 1),
    "raw identifier with national system": ("identifier_not_national", "Patient", 1),
    "coding without system": ("coding_system_present", "Encounter", 1),
    "unknown code system": ("coding_system_known", "Observation", 1),
    "dangling reference": ("reference_resolves", "Condition", 1),
    "dangling contained reference": ("contained_reference_resolves", "MedicationDispense", 1),
}


def _plant_defects(root: Path) -> None:
    def specimen(rows):
        rows[0]["collection"]["collectedDateTime"] = "yesterday"

    def observation(rows):
        rows[0]["code"]["coding"][0]["system"] = "http://example.org/lab-codes"
        return [*rows, '{"resourceType": "Observation", "id": "obs-tw-9", "status": ']

    def provenance(rows):
        del rows[0]["id"]

    def encounter(rows):
        del rows[1]["class"]["system"]
        return [*rows, rows[0]]

    def location(rows):
        del rows[0]["meta"]
        return [*rows, {**rows[0], "id": "loc-tw-2", "meta": {"profile": []}}]

    def organization(rows):
        rows[0]["meta"]["profile"] = [FI_PROFILE + "organization"]

    def medication_dispense(rows):
        rows[0]["note"] = [{"text": "patient A123456789 phoned about the refill"}]
        rows[0]["medicationReference"]["reference"] = "#med2"

    def patient(rows):
        rows[1]["identifier"][0]["value"] = "131052-308T"
        rows[0]["identifier"][0]["system"] = "http://www.moi.gov.tw"
        rows[0]["identifier"][0]["value"] = "A123456788"  # wrong check digit: a national-system ID all the same

    def condition(rows):
        rows[0]["identifier"] = [{"value": "local-17"}]
        rows[1]["subject"]["reference"] = "Patient/pat-tw-404"

    for rtype, edit in [("Specimen", specimen), ("Observation", observation), ("Provenance", provenance),
                        ("Encounter", encounter), ("Location", location), ("Organization", organization),
                        ("MedicationDispense", medication_dispense), ("Patient", patient),
                        ("Condition", condition)]:
        _edit(root, rtype, edit)


@pytest.fixture(scope="module")
def defect_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("defects") / "export"
    shutil.copytree(FIXTURES / "taiwan", root)
    _plant_defects(root)
    return validate_fhir_export(root, site="taiwan")


def test_planted_defects_fail_exactly_their_checks(defect_report):
    expected: dict[tuple[str, str], int] = {}
    for check, rtype, n in DEFECTS.values():
        expected[(check, rtype)] = expected.get((check, rtype), 0) + n
    assert _failing(defect_report) == expected
    assert defect_report.outcome == "failed"
    assert all(r.status in ("passed", "failed") for r in defect_report.records)


@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_each_defect_is_reported(defect_report, defect):
    check, rtype, _ = DEFECTS[defect]
    record = defect_report.record(check, rtype)
    assert record.status == "failed" and record.unexpected_count >= 1
    assert record.examples and record.element_count >= record.unexpected_count


def test_defect_details_name_file_line_and_resource(defect_report):
    malformed = defect_report.record("structure_valid", "Observation")
    assert malformed.examples == ["Observation.ndjson:2"]
    assert "Observation.ndjson:2 malformed JSON line" in malformed.detail
    invalid = defect_report.record("structure_valid", "Specimen")
    assert invalid.examples == ["spec-tw-1"] and "Specimen.ndjson:1 collection" in invalid.detail
    assert defect_report.record("reference_resolves", "Condition").examples == ["cond-tw-2"]
    assert "$.subject.reference" in defect_report.record("reference_resolves", "Condition").detail
    assert defect_report.record("id_unique", "Encounter").examples == ["enc-tw-1"]
    assert defect_report.record("id_present", "Provenance").examples == ["Provenance.ndjson:1"]
    assert defect_report.record("no_national_id", "Patient").examples == ["pat-tw-2"]
    assert defect_report.record("identifier_not_national", "Patient").examples == ["pat-tw-1"]
    assert "http://example.org/lab-codes" in defect_report.record("coding_system_known", "Observation").detail
    assert defect_report.record("profile_present", "Location").examples == ["loc-tw-1", "loc-tw-2"]


def test_report_never_carries_raw_identifiers(defect_report):
    text = json.dumps(defect_report.to_dict(), ensure_ascii=False)
    assert not any(raw in text for raw in RAW_IDS)


# --- small exports: site handling, suite errors ------------------------------------------------

def _one_patient(tmp_path: Path, profiles: list[list[str]], identifier: dict | None = None) -> Path:
    root = tmp_path / "export"
    root.mkdir()
    rows = [{"resourceType": "Patient", "id": f"p{i}", "meta": {"profile": p}} for i, p in enumerate(profiles)]
    if identifier:
        rows[0]["identifier"] = [identifier]
    _write(root / "Patient.ndjson", rows)
    return root


def test_raw_national_id_with_national_system_fails_both_privacy_checks(tmp_path):
    root = _one_patient(tmp_path, [[TW_PROFILE + "Patient-twcore"]],
                        {"system": "http://www.moi.gov.tw", "value": "A123456789"})
    report = validate_fhir_export(root, site="taiwan", workdir=tmp_path / "work")
    assert _failing(report) == {("identifier_not_national", "Patient"): 1, ("no_national_id", "Patient"): 1}
    db = Path(report.database)
    assert db.exists() and b"A123456789" not in db.read_bytes()  # raw lines never reach the kept database


def test_wrong_site_fails_profile_check(tmp_path):
    root = _one_patient(tmp_path, [[FI_PROFILE + "patient"], [FI_PROFILE + "patient", TW_PROFILE + "Patient-twcore"]])
    report = validate_fhir_export(root, site="taiwan")
    assert _failing(report) == {("profile_from_ig", "Patient"): 1}
    assert report.record("profile_from_ig", "Patient").examples == ["p0"]


def test_undetectable_site_is_an_error(tmp_path):
    root = _one_patient(tmp_path, [[FI_PROFILE + "patient"], [TW_PROFILE + "Patient-twcore"]])
    report = validate_fhir_export(root)
    assert (report.site, report.site_source) == (None, "undetermined")
    record = report.record("profile_from_ig", "Patient")
    assert record.status == "error" and "site not given" in record.detail
    assert report.outcome == "error"
    assert [r.check for r in report.failed()] == ["profile_from_ig"]


def test_suite_that_lost_an_expectation_is_an_error(tmp_path, monkeypatch):
    build = fs._build_suite

    def lossy(g, name, declared):
        suite = build(g, name, declared)
        if name == "fhir-coding":
            suite.expectations.pop()
        return suite

    monkeypatch.setattr(fs, "_build_suite", lossy)
    report = validate_fhir_export(_one_patient(tmp_path, [[TW_PROFILE + "Patient-twcore"]]), site="taiwan")
    errors = {r.check for r in report.records if r.status == "error"}
    assert errors == {"coding_system_present", "coding_system_known"}
    assert "1 expectations, 2 declared" in report.record("coding_system_known", "Patient").detail
    assert report.outcome == "error"


def test_expectation_that_raises_is_an_error(tmp_path, monkeypatch):
    query = fs.check_query

    def broken(check, rtype):
        sql = query(check, rtype)
        return sql.replace("b.id IS NULL", "b.no_such_column IS NULL") if check.name == "id_present" else sql

    monkeypatch.setattr(fs, "check_query", broken)
    report = validate_fhir_export(_one_patient(tmp_path, [[TW_PROFILE + "Patient-twcore"]]), site="taiwan")
    record = report.record("id_present", "Patient")
    assert record.status == "error" and "no_such_column" in record.detail
    assert report.outcome == "error" and not [r for r in report.records if r.status == "failed"]
    # the broken query can abort GX's DuckDB transaction for its own suite, never for the others
    assert {r.check for r in report.failed()} <= {c.name for c in CHECKS if c.table == "resource"}


def test_bad_site_argument(tmp_path):
    with pytest.raises(ValueError, match="site must be one of"):
        validate_fhir_export(FIXTURES / "taiwan", site="mars")


def test_check_queries_are_safe_for_gx():
    for check in CHECKS:
        sql = check_query(check, "Patient")
        assert ":" not in sql and sql.count("{batch}") == 1 and "{" not in sql.replace("{batch}", "")
    with pytest.raises(FhirSuiteError, match="not safe"):
        check_query(CHECKS[0], "Patient'; DROP TABLE resource; --")


# --- no national guide: FHIR core profiles ---------------------------------------------------

def _to_core(root: Path) -> None:
    """Every resource of the Taiwan fixture declaring only its type's FHIR core profile."""
    for path in root.glob("*.ndjson"):
        rows = _read(path)
        for r in rows:
            r["meta"]["profile"] = [f"http://hl7.org/fhir/StructureDefinition/{r['resourceType']}"]
        _write(path, rows)


def test_core_profiles_pass_when_core_is_expected_or_detected(tmp_path):
    root = tmp_path / "core"
    shutil.copytree(FIXTURES / "taiwan", root)
    _to_core(root)
    given = validate_fhir_export(root, site=fs.CORE)
    assert given.outcome == "passed", given.failed()
    detected = validate_fhir_export(root)
    assert (detected.site, detected.site_source, detected.outcome) == (fs.CORE, "detected", "passed")
    # a national profile is not what a core export declares
    _edit(root, "Patient", lambda rows: [{**rows[0], "meta": {"profile": [TW_PROFILE + "Patient-twcore"]}}, *rows[1:]])
    assert _failing(validate_fhir_export(root, site=fs.CORE)) == {("profile_from_ig", "Patient"): 1}
    # mixed core and national profiles: the national guide is detected, core is accepted only where it has none
    assert validate_fhir_export(root).site == "taiwan"


def test_unknown_site_value_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'core' or None"):
        validate_fhir_export(FIXTURES / "taiwan", site="sweden")
