"""The FHIR feed on generated Bulk Data exports: counts reconcile, workers do not change the output.

:func:`write_export` also serves the throughput measurement (run this module
as a script: ``python tests/unit/connectors/test_fhir_in_scale.py 100000``).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from connectors.fhir_in import stage_fhir

TW = "https://twcore.mohw.gov.tw/ig/twcore/CodeSystem/"
CODES = {
    "Condition": [(TW + "icd-10-cm-2023-tw", c) for c in ("E11.9", "I10", "J06.9", "E78.5", "N18.9")],
    "MedicationDispense": [(TW + "medication-nhi-tw", c) for c in ("AC46525100", "AC41563100", "BC24977100")],
    "Procedure": [("urn:oid:1.2.246.537.6.2", c) for c in ("JEA00", "FNG05", "SB211")],
    "Observation": [("http://loinc.org", c) for c in ("2345-7", "4548-4", "2160-0")],
}


def _ref(r: str) -> dict:
    return {"reference": r}


def write_export(folder: Path, n_resources: int, seed: int = 7, gz: bool = False) -> dict[str, int]:
    """A Bulk Data export of about ``n_resources`` resources, one NDJSON file per type; returns counts per type.

    Per patient: 2 encounters, and per encounter a condition, a dispense, a
    procedure and an observation (11 resources per patient).
    """
    rnd = random.Random(seed)
    n_patients = max(1, n_resources // 11)
    files: dict[str, list[str]] = {t: [] for t in ("Patient", "Encounter", "Condition", "MedicationDispense",
                                                    "Procedure", "Observation")}

    def add(rtype: str, res: dict) -> None:
        files[rtype].append(json.dumps(res, separators=(",", ":")))

    for p in range(n_patients):  # test data generation
        pid = f"p{p}"
        add("Patient", {"resourceType": "Patient", "id": pid,
                        "identifier": [{"system": "http://hospital.example.org/mrn", "value": f"MRN{p:07d}"}],
                        "gender": rnd.choice(["male", "female"]),
                        "birthDate": f"{rnd.randint(1930, 2015)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"})
        for e in range(2):
            eid = f"e{p}-{e}"
            day = f"20{rnd.randint(16, 23)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
            subject, enc = _ref(f"Patient/{pid}"), _ref(f"Encounter/{eid}")
            add("Encounter", {"resourceType": "Encounter", "id": eid, "status": "finished",
                              "class": {"code": rnd.choice(["AMB", "IMP", "EMER"])}, "subject": subject,
                              "period": {"start": day + "T09:00:00+08:00", "end": day + "T17:00:00+08:00"}})
            s, c = rnd.choice(CODES["Condition"])
            add("Condition", {"resourceType": "Condition", "id": f"c{eid}", "subject": subject, "encounter": enc,
                              "code": {"coding": [{"system": s, "code": c}]}, "recordedDate": day})
            s, c = rnd.choice(CODES["MedicationDispense"])
            add("MedicationDispense", {"resourceType": "MedicationDispense", "id": f"m{eid}", "status": "completed",
                                       "subject": subject, "context": enc,
                                       "medicationCodeableConcept": {"coding": [{"system": s, "code": c}]},
                                       "quantity": {"value": rnd.randint(7, 90)}, "daysSupply": {"value": 30},
                                       "whenHandedOver": day})
            s, c = rnd.choice(CODES["Procedure"])
            add("Procedure", {"resourceType": "Procedure", "id": f"x{eid}", "status": "completed", "subject": subject,
                              "encounter": enc, "code": {"coding": [{"system": s, "code": c}]},
                              "performedDateTime": day})
            s, c = rnd.choice(CODES["Observation"])
            add("Observation", {"resourceType": "Observation", "id": f"o{eid}", "status": "final",
                                "category": [{"coding": [{"code": "laboratory"}]}], "subject": subject,
                                "encounter": enc, "code": {"coding": [{"system": s, "code": c}]},
                                "effectiveDateTime": day, "valueQuantity": {"value": round(rnd.uniform(1, 10), 1)}})
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, lines in files.items():  # six files
        text = "\n".join(lines) + "\n"
        if gz:
            (folder / f"{rtype}.ndjson.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / f"{rtype}.ndjson").write_text(text, encoding="utf-8")
    return {t: len(v) for t, v in files.items()}


def _tables(staging: Path) -> dict[str, list]:
    return {p.parent.name: pq.read_table(p).to_pylist() for p in sorted((staging / "tables").glob("*/*.parquet"))}


def test_generated_export_reconciles_and_stages_everything(tmp_path):
    counts = write_export(tmp_path / "in", 1100, gz=True)
    report = stage_fhir(tmp_path / "in", tmp_path / "st", "secret", validate="none")
    assert report.reconciled and report.unreconciled == []
    assert report.resources_in == sum(counts.values())
    assert report.quarantined == {} and report.merged == {}
    assert report.staged["fhir_patient"] == counts["Patient"]
    assert report.staged["fhir_medication"] == counts["MedicationDispense"]
    assert sum(report.staged.values()) == report.resources_in


def test_workers_give_the_same_staging(tmp_path):
    write_export(tmp_path / "in", 330)
    stage_fhir(tmp_path / "in", tmp_path / "one", "secret", validate="none", workers=1)
    stage_fhir(tmp_path / "in", tmp_path / "two", "secret", validate="none", workers=2)
    assert _tables(tmp_path / "one") == _tables(tmp_path / "two")


def test_small_blocks_give_the_same_staging(tmp_path):
    """A file read in many blocks stages like one read whole (block boundaries cut between lines only)."""
    write_export(tmp_path / "in", 330)
    stage_fhir(tmp_path / "in", tmp_path / "whole", "secret", validate="none")
    report = stage_fhir(tmp_path / "in", tmp_path / "blocks", "secret", validate="none", chunk_bytes=8192)
    assert max(f.chunks for f in report.files) >= 3
    assert _tables(tmp_path / "whole") == _tables(tmp_path / "blocks")


if __name__ == "__main__":  # throughput measurement: python tests/unit/connectors/test_fhir_in_scale.py 100000
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    validate = sys.argv[3] if len(sys.argv) > 3 else "none"
    with tempfile.TemporaryDirectory() as tmp:
        counts = write_export(Path(tmp) / "in", n)
        t0 = time.perf_counter()
        rep = stage_fhir(Path(tmp) / "in", Path(tmp) / "st", "secret", validate=validate, workers=workers)
        dt = time.perf_counter() - t0
        total = sum(counts.values())
        print(f"{total} resources, workers={workers}, validate={validate}: {dt:.1f} s "
              f"({total / dt:,.0f} resources/s; read {rep.read.seconds:.1f} s, resolve {rep.resolve.seconds:.1f} s)")
