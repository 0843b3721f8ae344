"""Golden test of the FHIR feed: tests/fixtures/fhir_in/golden/ -> golden.expected/ (staged rows, quarantine, merged).

The input mixes NDJSON per type, an NDJSON of several types, a transaction
Bundle with urn:uuid references and an NDJSON of message Bundles (what the
HL7 v2 connector writes); see tests/fixtures/fhir_in/README.md for what each
resource pins down.  Set CROSSBRIDGE_UPDATE_GOLDEN=1 to rewrite the expected
files, then re-check them by hand against that README.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from connectors.fhir_in import FILE_TYPES, stage_fhir
from connectors.pseudonym import Pseudonymiser

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_in"
GOLDEN_IN = FIXTURES / "golden"
GOLDEN_OUT = FIXTURES / "golden.expected"
SECRET = "test-secret"
UPDATE = os.environ.get("CROSSBRIDGE_UPDATE_GOLDEN") == "1"


def _staged(tmp: str) -> tuple[dict[str, list[list[str]]], object]:
    staging = Path(tmp)
    report = stage_fhir(GOLDEN_IN, staging, SECRET, validate="all")
    out: dict[str, list[list[str]]] = {}
    for ft in FILE_TYPES:
        out[ft.key] = _render(pq.read_table(staging / "tables" / ft.key / "part-0.parquet"))
    out["quarantine"] = _render(pq.read_table(sorted((staging / "quarantine").rglob("*.parquet"))))
    out["merged"] = _render(pq.read_table(staging / "merged" / "fhir.parquet"))
    return out, report


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return repr(v) if isinstance(v, float) else str(v)


def _render(table) -> list[list[str]]:
    rows = [[_fmt(v) for v in r.values()] for r in table.to_pylist()]
    return [table.column_names] + sorted(rows)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    return _staged(str(tmp_path_factory.mktemp("golden")))


def _read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def test_golden_outputs(staged):
    rendered, _ = staged
    if UPDATE:
        GOLDEN_OUT.mkdir(exist_ok=True)
        for name, rows in rendered.items():
            with (GOLDEN_OUT / f"{name}.csv").open("w", encoding="utf-8", newline="") as fh:
                csv.writer(fh, lineterminator="\n").writerows(rows)
    assert sorted(p.stem for p in GOLDEN_OUT.glob("*.csv")) == sorted(rendered)
    for name, rows in rendered.items():
        assert rows == _read(GOLDEN_OUT / f"{name}.csv"), f"{name} differs from golden.expected/{name}.csv"


def test_golden_counts_reconcile(staged):
    _, report = staged
    assert report.reconciled, report.unreconciled
    assert report.resources_in == 38  # every resource and bundle entry, the DELETE entry included
    staged_n = sum(report.staged.values())
    assert staged_n + sum(report.reference.values()) + sum(report.merged.values()) + sum(
        report.quarantined.values()) == report.resources_in
    assert report.reference == {"Medication": 1, "MessageHeader": 2, "Organization": 1, "Provenance": 1}
    assert report.merged == {"duplicate_resource": 1, "superseded_version": 1}
    assert report.quarantined == {"no_clinical_data": 1, "not_a_resource": 1}
    assert report.to_dict()["components_not_staged"] == 2  # the blood pressure's two components


def _rows(staged, table: str) -> list[dict[str, str]]:
    header, *rows = staged[0][table]
    return [dict(zip(header, r)) for r in rows]


def _by_key(staged, table: str) -> dict[str, dict[str, str]]:
    return {r["resource_key"]: r for r in _rows(staged, table)}


def test_identity_rules(staged):
    keys = Pseudonymiser(SECRET)
    patients = _by_key(staged, "fhir_patient")
    assert patients["Patient/pat-tw"]["person_key"] == keys.one("A123456789")  # as the Taiwan registers key it
    fi = patients["Patient/pat-fi"]  # the henkilötunnus wins over the MRN listed first; it gives birth date and sex
    assert (fi["person_key"], fi["identity_source"]) == (keys.one("131052-308T"), "national_id")
    assert (fi["birth_date"], fi["gender"]) == ("1952-10-13", "female")
    pseudonym = "3f1c9a0e5b7d2c4e8a6f1b3d5c7e9a0b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c"  # written upper case in the input
    assert patients["Patient/pat-ps"]["person_key"] == pseudonym
    assert patients["Patient/pat-mrn"]["person_key"] == keys.one("http://hospital.example.org/mrn|MRN-77")
    assert patients["Patient/pat-anon"]["person_key"] == keys.one("Patient.ndjson|Patient/pat-anon")
    assert patients["Patient/pat-ps"]["birth_date"] == "1985-07-01"  # partial date: first day


def test_bundle_references_resolve_to_entries(staged):
    uuid = "urn:uuid:0000000{}-0000-4000-8000-000000000000"
    conditions = _by_key(staged, "fhir_condition")
    bundled = conditions["Condition/" + uuid.format(5)]
    assert bundled["encounter_key"] == "Encounter/" + uuid.format(2)
    patient = _by_key(staged, "fhir_patient")["Patient/" + uuid.format(1)]
    assert bundled["person_key"] == patient["person_key"]
    statement = _by_key(staged, "fhir_medication")["MedicationStatement/" + uuid.format(4)]
    assert (statement["medication_key"], statement["vocabulary_id"], statement["code"]) == (
        "Medication/" + uuid.format(3), "ATC", "A10BA02")


def test_codings_source_and_standard(staged):
    conditions = _by_key(staged, "fhir_condition")
    c1 = conditions["Condition/cond-1"]
    assert (c1["vocabulary_id"], c1["code"], c1["std_vocabulary_id"], c1["std_code"]) == (
        "ICD10CM", "E11.9", "SNOMED", "44054006")
    c3 = conditions["Condition/cond-3"]  # unknown system: staged, vocabulary empty
    assert (c3["code_system"], c3["vocabulary_id"], c3["code"]) == ("http://unknown.example.org/codes", "", "ABC")


def test_message_bundles_keep_the_newest_version(staged):
    encounter = _by_key(staged, "fhir_encounter")["Encounter/enc-msg"]
    assert (encounter["status"], encounter["end_date"]) == ("finished", "2024-04-03")
    merged = {(r["reason"], r["source_file"], r["row_number"]) for r in _rows(staged, "merged")}
    assert ("superseded_version", "messages.ndjson", "100000100002") in merged  # line 1, entry 2
    assert ("duplicate_resource", "messages.ndjson", "100000200001") in merged  # line 2, entry 1
