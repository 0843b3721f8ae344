"""HL7 v2 records -> FHIR R4: golden ORU^R01, ADT folding (transfer, cancel admit, cancel discharge, merge),
R4B validity of every resource of a generated batch, determinism, and no identifier in the output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connectors.hl7v2 import read_hl7v2, write_ndjson
from connectors.pseudonym import Pseudonymiser
from crossbridge.synth.hl7v2 import generate_hl7v2
from mappings.fhir_r4.hl7v2 import messages_to_fhir
from mappings.fhir_r4.hl7v2.ids import fhir_id

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
SECRET = "test-secret"


def _fhir(*names: str, site: str = "taiwan"):
    batch = read_hl7v2([FIXTURES / n for n in names], secret=SECRET, site=site)
    assert batch.counts["quarantined_total"] == 0, batch.quarantine.to_pylist()
    return batch, messages_to_fhir(batch.messages, site=site)


def _validate(resources: dict[str, list[dict]]) -> int:
    from fhir.resources.R4B import get_fhir_model_class

    n = 0
    for rtype, items in resources.items():
        model = get_fhir_model_class(rtype)
        for r in items:
            assert r["resourceType"] == rtype
            model.model_validate(r)
            json.dumps(r)
            n += 1
    return n


def test_oru_golden():
    _, fhir = _fhir("oru_r01.hl7")
    expected = json.loads((FIXTURES / "oru_r01.expected.json").read_text(encoding="utf-8"))
    assert fhir.resources == expected
    _validate(fhir.resources)


def test_oru_mapping_rules():
    _, fhir = _fhir("oru_r01.hl7")
    obs = {o["code"]["coding"][0]["code"]: o for o in fhir.resources["Observation"]}
    assert obs["2093-3"]["valueQuantity"] == {"value": 5.2, "unit": "mmol/L", "system": "http://unitsofmeasure.org",
                                              "code": "mmol/L"}
    assert obs["2093-3"]["referenceRange"][0]["low"]["value"] == 3.0
    assert obs["2093-3"]["interpretation"][0]["coding"][0]["code"] == "H"
    assert [obs[c]["status"] for c in ("2093-3", "2571-8", "2085-9", "HEMO")] == \
        ["final", "corrected", "preliminary", "cancelled"]
    assert obs["2085-9"]["valueQuantity"] == {"value": 1.3, "unit": "milligram per deciliter"}  # not UCUM
    assert obs["1988-5"]["valueQuantity"]["comparator"] == "<"
    assert obs["882-1"]["valueCodeableConcept"]["coding"][0]["system"] == "urn:crossbridge:hl7v2:local:LIS"
    assert obs["HEMO"]["valueString"] == "slightly hemolysed&lipemic"  # \T\ unescaped
    assert obs["2571-8"]["effectiveDateTime"] == "2024-01-05T09:00:00+08:00"  # OBR-7, MSH-7's offset
    reports = {r["code"]["coding"][0]["code"]: r for r in fhir.resources["DiagnosticReport"]}
    assert reports["24331-1"]["status"] == "final" and reports["58410-2"]["status"] == "preliminary"
    assert len(reports["24331-1"]["result"]) == 6 and len(reports["58410-2"]["result"]) == 1
    assert all(o["category"][0]["coding"][0]["code"] == "laboratory" for o in obs.values())
    assert obs["2093-3"]["meta"]["profile"] == [
        "https://twcore.mohw.gov.tw/ig/twcore/StructureDefinition/Observation-laboratoryResult-twcore"]


def test_admit_transfer_discharge_folded_in_time_order():
    batch, fhir = _fhir("adt_transfer.hl7")  # written A03, A01, A02
    assert [m["trigger"] for m in batch.messages] == ["A03", "A01", "A02"]
    [enc] = fhir.resources["Encounter"]
    assert enc["status"] == "finished"
    assert enc["class"]["code"] == "IMP"
    assert enc["period"] == {"start": "2024-01-05T08:00:00+08:00", "end": "2024-01-10T09:30:00+08:00"}
    assert [(x["location"]["identifier"]["value"], x["status"], x["period"]) for x in enc["location"]] == [
        ("W1/101/A", "completed", {"start": "2024-01-05T08:00:00+08:00", "end": "2024-01-07T12:00:00+08:00"}),
        ("W2/201/B", "completed", {"start": "2024-01-07T12:00:00+08:00", "end": "2024-01-10T09:30:00+08:00"}),
    ]
    assert enc["hospitalization"]["dischargeDisposition"]["coding"][0]["code"] == "01"
    assert enc["subject"]["reference"] == f"Patient/{fhir.resources['Patient'][0]['id']}"
    _validate(fhir.resources)


def test_cancel_admit():
    _, fhir = _fhir("adt_cancel_admit.hl7")
    [enc] = fhir.resources["Encounter"]
    assert (enc["status"], enc["class"]["code"]) == ("cancelled", "EMER")


def test_cancel_discharge():
    _, fhir = _fhir("adt_cancel_discharge.hl7")
    [enc] = fhir.resources["Encounter"]
    assert enc["status"] == "in-progress"
    assert "end" not in enc["period"]
    assert enc["location"][-1]["status"] == "active" and "end" not in enc["location"][-1].get("period", {})


def test_merge_repoints_everything_to_the_survivor():
    batch, fhir = _fhir("adt_merge.hl7")
    counts = batch.with_fhir(fhir.resources, fhir.counts).counts
    assert (counts["merges"], counts["mapped"], counts["resources"]["Patient"], counts["reconciled"]) == (1, 3, 2, True)
    patients = {p["active"]: p for p in fhir.resources["Patient"]}
    survivor, prior = patients[True], patients[False]
    assert prior["link"] == [{"other": {"reference": f"Patient/{survivor['id']}"}, "type": "replaced-by"}]
    assert survivor["link"] == [{"other": {"reference": f"Patient/{prior['id']}"}, "type": "replaces"}]
    keys = Pseudonymiser(SECRET)
    assert prior["identifier"][0]["value"] == keys.one("GOODHOSP|ER777")
    assert survivor["identifier"][0]["value"] == keys.one("A123456789")  # national pseudonym first, official
    assert survivor["identifier"][0]["use"] == "official"
    for rtype in ("Encounter", "DiagnosticReport", "Observation"):
        for r in fhir.resources[rtype]:
            assert r["subject"]["reference"] == f"Patient/{survivor['id']}", rtype
    _validate(fhir.resources)


def _oru(control: str, ts: str, value: str, status: str) -> str:
    return "\r".join([
        f"MSH|^~\\&|LIS|GOODHOSP|HUB|XB|{ts}||ORU^R01|{control}|P|2.5",
        "PID|1||ER777^^^GOODHOSP^MR",
        f"OBR|1|P1^LIS|F900^LAB|2345-7^Glucose^LN|||20240401093000+0800|||||||||||||||{ts}|||{status}",
        f"OBX|1|NM|2345-7^Glucose^LN||{value}|mg/dL^mg/dL^UCUM|70-99|N|||{status}",
    ])


def test_a_later_correction_replaces_the_earlier_result(tmp_path):
    # the correction is first in the file but later in time: time order decides
    msgs = [_oru("M2C", "20240401110000+0800", "96", "C"), _oru("M2", "20240401100000+0800", "95", "F")]
    (tmp_path / "r.hl7").write_text("\r".join(msgs) + "\r", encoding="utf-8")
    batch = read_hl7v2([tmp_path / "r.hl7"], secret=SECRET, site="taiwan")
    fhir = messages_to_fhir(batch.messages, site="taiwan")
    [obs] = fhir.resources["Observation"]
    [report] = fhir.resources["DiagnosticReport"]
    assert (obs["status"], obs["valueQuantity"]["value"], report["status"]) == ("corrected", 96, "corrected")


@pytest.mark.parametrize("site", ["taiwan", "finland"])
def test_every_resource_of_a_generated_batch_is_valid_r4(tmp_path, site):
    report = generate_hl7v2(tmp_path / "in", messages=250, seed=9, site=site, defect_rate=0.1, framing="mixed")
    batch = read_hl7v2(sorted((tmp_path / "in").glob("*.hl7")), secret=SECRET, site=site)
    fhir = messages_to_fhir(batch.messages, site=site)
    assert _validate(fhir.resources) == sum(fhir.counts["resources"].values()) > 250
    assert fhir.counts["merges"] == report.expected["merges"]
    ids = {f"{t}/{r['id']}" for t, rs in fhir.resources.items() for r in rs}
    for rtype in ("Encounter", "DiagnosticReport", "Observation"):  # no dangling references
        for r in fhir.resources[rtype]:
            assert r["subject"]["reference"] in ids
            if "encounter" in r:
                assert r["encounter"]["reference"] in ids
            for ref in r.get("result", []):
                assert ref["reference"] in ids


def test_ndjson_is_deterministic_and_free_of_identifiers(tmp_path):
    generate_hl7v2(tmp_path / "in", messages=150, seed=2, site="taiwan", defect_rate=0.05)
    paths = sorted((tmp_path / "in").glob("*.hl7"))
    raw = b"".join(p.read_bytes() for p in paths)
    outs = []
    for run in ("a", "b"):
        batch = read_hl7v2(paths, secret=SECRET, site="taiwan", workers=2 if run == "b" else 1)
        fhir = messages_to_fhir(batch.messages, site="taiwan")
        outs.append(write_ndjson(batch.with_fhir(fhir.resources, fhir.counts), tmp_path / run))
    assert sorted(outs[0]) == ["DiagnosticReport", "Encounter", "Observation", "Patient"]
    plain = write_ndjson(fhir.resources, tmp_path / "plain")  # a {type: resources} mapping works too
    assert {t: p.read_bytes() for t, p in plain.items()} == {t: p.read_bytes() for t, p in outs[0].items()}
    for rtype, path in outs[0].items():
        text = path.read_bytes()
        assert text == outs[1][rtype].read_bytes()
        ids = [json.loads(line)["id"] for line in text.decode().splitlines()]
        assert ids == sorted(ids) and len(ids) == len(set(ids))
    everything = b"".join(p.read_bytes() for p in outs[0].values()).decode()
    import re

    for token in set(re.findall(rb"PID\|1\|\|([A-Z][0-9]{9})", raw)) | set(re.findall(rb"(MR[0-9]{6})", raw)):
        assert token.decode() not in everything
    for name in ("王", "Main St", "台北市", "DOC^ONE"):
        assert name not in everything


def test_ids_are_stable_functions_of_keys():
    assert fhir_id("Patient", "abc") == fhir_id("Patient", "abc") != fhir_id("Encounter", "abc")
    assert len(fhir_id("Observation", "k", "x")) == 40
