"""Transaction Bundles from a FHIR NDJSON export (mappings.fhir_r4.bundles).

Fixture: ``tests/fixtures/fhir_bundles/export_tw`` (67 resources, 3 patients of 12, 17 and 19
entries, 4 references to an Organization left out of the export; see its README).
Checked: R4B validity, the idempotency contract (conditional creates on the record identifier),
reference rewriting (same bundle / earlier bundle / unresolved), nothing lost (a round trip
restores every input resource exactly), grouping and order, splitting, determinism, bad input.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mappings.fhir_r4.bundles import (PATIENT_TYPE_ORDER, SHARED_TYPES, BundleInputError, full_url, make_bundles,
                                      search_token, write_bundles)
from mappings.fhir_r4.export import resource_counts
from terminology.omop_cdm import cdm_tables

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_bundles" / "export_tw"
MISSING_ORG = "Organization/810232504380301310"
RECORD = re.compile(r"^urn:crossbridge:[^:]+:([a-z_]+)$")


# --------------------------------------------------------------------------- helpers

def input_resources() -> list[dict]:
    out = []
    for path in sorted(FIXTURE.glob("*.ndjson")):
        out.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return out


def record_identifier(resource: dict) -> tuple[str, str]:
    hits = [(i["system"], i["value"]) for i in resource.get("identifier", [])
            if (m := RECORD.match(i["system"])) and m.group(1) in cdm_tables()]
    assert len(hits) == 1, resource
    return hits[0]


def references(node) -> list[str]:
    if isinstance(node, dict):
        out = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return out + [r for k, v in node.items() if k != "reference" for r in references(v)]
    if isinstance(node, list):
        return [r for item in node for r in references(item)]
    return []


def read_bundles(out: Path) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("bundle-*.json"))]


def key_maps() -> tuple[dict[str, str], dict[str, str]]:
    """fullUrl -> Type/id and conditional reference -> Type/id, from the input."""
    by_url, by_cond = {}, {}
    for r in input_resources():
        key = f"{r['resourceType']}/{r['id']}"
        by_url[full_url(r["resourceType"], r["id"])] = key
        if r["resourceType"] != "Provenance":
            by_cond[f"{r['resourceType']}?identifier={search_token(*record_identifier(r))}"] = key
    return by_url, by_cond


def restore(node, mapping: dict[str, str]):
    if isinstance(node, dict):
        return {k: (mapping.get(v, v) if k == "reference" and isinstance(v, str) else restore(v, mapping))
                for k, v in node.items()}
    if isinstance(node, list):
        return [restore(x, mapping) for x in node]
    return node


def entry_key(entry: dict, by_url: dict[str, str]) -> str:
    return by_url[entry["fullUrl"]]


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """Bundle size 10: every patient is split."""
    out = tmp_path_factory.mktemp("split")
    calls = []
    report = write_bundles(FIXTURE, out, bundle_size=10, progress=lambda name, n: calls.append((name, n)))
    return report, read_bundles(out), out, calls


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Bundle size 30: patients packed whole."""
    out = tmp_path_factory.mktemp("whole")
    return write_bundles(FIXTURE, out, bundle_size=30), read_bundles(out)


# --------------------------------------------------------------------------- the fixture export

def test_every_bundle_is_a_valid_r4b_transaction(split, whole):
    from fhir.resources.R4B.bundle import Bundle

    bundles = split[1] + whole[1]
    for b in bundles:
        assert b["type"] == "transaction"
        Bundle.model_validate(b)
    assert len(bundles) == 9 + 4


def test_nothing_lost_entries_equal_ndjson_lines(split):
    report, bundles, _, _ = split
    lines = resource_counts(FIXTURE)
    assert sum(len(b["entry"]) for b in bundles) == sum(lines.values()) == report.total == 67
    assert report.entries == report.lines_read == lines
    assert report.requests == {"POST": 67 - lines["Provenance"], "PUT": lines["Provenance"]}


def test_round_trip_restores_every_input_resource_exactly(split):
    """Undo the rewriting (fullUrl/conditional -> Type/id, id back): the input, nothing more, nothing less."""
    _, bundles, _, _ = split
    by_url, by_cond = key_maps()
    restored = {}
    for b in bundles:
        for e in b["entry"]:
            key = entry_key(e, by_url)
            r = restore(e["resource"], by_url | by_cond)
            r["id"] = key.split("/", 1)[1]
            assert key not in restored
            restored[key] = r
    assert restored == {f"{r['resourceType']}/{r['id']}": r for r in input_resources()}


def test_post_entries_are_conditional_creates_on_their_own_record_identifier(split):
    _, bundles, _, _ = split
    by_url, _ = key_maps()
    for b in bundles:
        for e in b["entry"]:
            r, req = e["resource"], e["request"]
            if r["resourceType"] == "Provenance":
                assert req == {"method": "PUT", "url": f"Provenance/{r['id']}"}
                assert entry_key(e, by_url) == f"Provenance/{r['id']}"
                continue
            assert "id" not in r  # the server assigns ids on create
            assert req["method"] == "POST" and req["url"] == r["resourceType"]
            assert req["ifNoneExist"] == "identifier=" + search_token(*record_identifier(r))
            if r["resourceType"] == "Organization":  # the care_site identifier, not the organisation code
                assert req["ifNoneExist"].startswith("identifier=urn:crossbridge:taiwan:care_site|")


def test_full_urls_are_unique_uuid5_of_type_and_id(split):
    _, bundles, _, _ = split
    urls = [e["fullUrl"] for b in bundles for e in b["entry"]]
    assert len(urls) == len(set(urls))
    assert set(urls) == {full_url(r["resourceType"], r["id"]) for r in input_resources()}
    assert full_url("Patient", "1") == f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'Patient/1')}"


def test_references_same_bundle_earlier_bundle_or_unresolved(split):
    report, bundles, _, _ = split
    by_url, by_cond = key_maps()
    created_before: set[str] = set()  # ifNoneExist-matchable targets of earlier bundles
    seen = {"same_bundle": 0, "conditional": 0, "unresolved": 0}
    for b in bundles:
        here = {e["fullUrl"] for e in b["entry"]}
        here_keys = {by_url[u] for u in here}
        for e in b["entry"]:
            for ref in references(e["resource"]):
                if ref.startswith("urn:uuid:"):
                    assert ref in here
                    seen["same_bundle"] += 1
                elif "?identifier=" in ref:
                    assert ref in by_cond and by_cond[ref] not in here_keys  # not for a target in this bundle
                    assert by_cond[ref] in created_before, f"{ref} is not created by an earlier bundle"
                    seen["conditional"] += 1
                else:
                    assert ref == MISSING_ORG
                    seen["unresolved"] += 1
        created_before |= here_keys
    assert seen == {k: report.references[k] for k in seen}
    assert seen["unresolved"] == 4 and seen["same_bundle"] > 0 and seen["conditional"] > 0
    assert report.references["conditional_forward"] == 0
    assert len(report.unresolved_examples) == 4
    assert all(x.startswith("Encounter/") and x.endswith(f"-> {MISSING_ORG}") for x in report.unresolved_examples)


def test_provenance_targets_are_all_conditional(split):
    _, bundles, _, _ = split
    prov = [e["resource"] for b in bundles for e in b["entry"] if e["resource"]["resourceType"] == "Provenance"]
    targets = [t["reference"] for p in prov for t in p["target"]]
    assert targets and all(re.fullmatch(r"[A-Za-z]+\?identifier=urn:crossbridge:taiwan:[a-z_]+\|[0-9]+", t)
                           for t in targets)


def test_grouping_and_order(split):
    _, bundles, _, _ = split
    by_url, _ = key_maps()
    inputs = {f"{r['resourceType']}/{r['id']}": r for r in input_resources()}
    sections = []
    stream = []  # (patient id, type rank, id) of the patient entries in file order
    for b in bundles:
        types = {e["resource"]["resourceType"] for e in b["entry"]}
        section = ("shared" if types <= set(SHARED_TYPES) else "provenance" if types == {"Provenance"}
                   else "patient")
        if section == "patient":
            assert not types & (set(SHARED_TYPES) | {"Provenance"})
            for e in b["entry"]:
                key = entry_key(e, by_url)
                rtype, rid = key.split("/", 1)
                owner = rid if rtype == "Patient" else inputs[key]["subject"]["reference"].split("/", 1)[1]
                stream.append((owner, PATIENT_TYPE_ORDER.index(rtype), rid))
        sections.append(section)
    assert sections == ["shared"] + ["patient"] * 6 + ["provenance"] * 2
    assert stream == sorted(stream) and len(stream) == 48
    shared = [e["resource"]["resourceType"] for e in bundles[0]["entry"]]
    assert shared == ["Organization"] * 4 + ["Location"] * 2


def test_patient_larger_than_bundle_is_split_in_order(split):
    report, bundles, _, calls = split
    assert [len(b["entry"]) for b in bundles] == [6, 10, 2, 10, 7, 10, 9, 10, 3]
    assert report.patients == 3 and report.patients_split == 3
    assert report.bundles == 9 and report.bundles_by_section == {"shared": 1, "patient": 6, "provenance": 2}
    # the second part of patient 768618993527550777 refers back to its Patient conditionally
    tail = bundles[6]["entry"]
    subjects = {e["resource"]["subject"]["reference"] for e in tail}
    assert subjects == {"Patient?identifier=urn:crossbridge:taiwan:person|768618993527550777"}
    assert calls == [(f"bundle-{i:05d}.json", len(b["entry"])) for i, b in enumerate(bundles, start=1)]


def test_patients_are_packed_whole(whole):
    report, bundles = whole
    assert [len(b["entry"]) for b in bundles] == [6, 12 + 17, 19, 13]
    assert report.patients == 3 and report.patients_split == 0
    patient_refs = [r for b in bundles[1:3] for e in b["entry"] for r in references(e["resource"])
                    if "Patient" in r or r.startswith("urn:uuid:")]
    assert all(r.startswith("urn:uuid:") for r in patient_refs)  # whole patients: all inside their bundle


def test_output_is_deterministic_and_replaces_old_bundles(split, tmp_path):
    _, _, first, _ = split
    (tmp_path / "bundle-99999.json").write_text("{}")
    (tmp_path / "keep.txt").write_text("not a bundle")
    write_bundles(FIXTURE, tmp_path, bundle_size=10)
    names = sorted(p.name for p in first.glob("bundle-*.json"))
    assert sorted(p.name for p in tmp_path.glob("bundle-*.json")) == names
    assert all((first / n).read_bytes() == (tmp_path / n).read_bytes() for n in names)
    assert (tmp_path / "keep.txt").exists()


# --------------------------------------------------------------------------- make_bundles (no files)

def patient(pid: str, *extra_identifiers: dict, **fields) -> dict:
    ids = [*extra_identifiers, {"system": "urn:crossbridge:omop:person", "value": pid}]
    return {"resourceType": "Patient", "id": pid, "identifier": ids, **fields}


def resource(rtype: str, rid: str, table: str, **fields) -> dict:
    return {"resourceType": rtype, "id": rid, "identifier": [{"system": f"urn:crossbridge:omop:{table}",
                                                               "value": rid.split("-")[-1]}], **fields}


def test_search_token_escapes_fhir_and_url_specials():
    assert search_token("urn:crossbridge:omop:person", "123") == "urn:crossbridge:omop:person|123"
    assert search_token("http://x.org/a b", "a|b,c$d\\e f&g=h") == \
        "http://x.org/a%20b|a%5C%7Cb%5C%2Cc%5C%24d%5C%5Ce%20f%26g%3Dh"


@given(st.text(min_size=1), st.text(min_size=1))
def test_search_token_round_trips_and_has_one_separator(system, value):
    token = search_token(system, value)
    parts = token.split("|")
    assert len(parts) == 2

    def unescape(s: str) -> str:
        return re.sub(r"\\(.)", r"\1", unquote(s), flags=re.S)

    assert (unescape(parts[0]), unescape(parts[1])) == (system, value)
    assert not set(token) & set("&=#? ")


def test_record_identifier_is_picked_among_several_and_shared_resources_come_first():
    org = {"resourceType": "Organization", "id": "9", "identifier": [
        {"system": "urn:crossbridge:organization:omop", "value": "HOSP1"},
        {"system": "urn:crossbridge:omop:care_site", "value": "9"}]}
    prac = resource("Practitioner", "7", "provider")
    pat = patient("1", {"system": "urn:crossbridge:pseudonym:omop", "value": "ab" * 32},
                  generalPractitioner=[{"reference": "Practitioner/7"}],
                  managingOrganization={"reference": "Organization/9"})
    bundles, report = make_bundles([pat, prac, org], bundle_size=10)
    assert [[e["resource"]["resourceType"] for e in b["entry"]] for b in bundles] == \
        [["Organization", "Practitioner"], ["Patient"]]
    ifs = [e["request"]["ifNoneExist"] for b in bundles for e in b["entry"]]
    assert ifs == ["identifier=urn:crossbridge:omop:care_site|9", "identifier=urn:crossbridge:omop:provider|7",
                   "identifier=urn:crossbridge:omop:person|1"]
    p = bundles[1]["entry"][0]["resource"]
    assert p["generalPractitioner"] == [{"reference": "Practitioner?identifier=urn:crossbridge:omop:provider|7"}]
    assert p["managingOrganization"] == {"reference": "Organization?identifier=urn:crossbridge:omop:care_site|9"}
    assert report.references["conditional"] == 2


def test_prefixed_ids_use_the_identifier_value_not_the_id():
    pat = patient("1")
    obs = resource("Observation", "m-55", "measurement", status="final", code={"text": "x"},
                   subject={"reference": "Patient/1"})
    vd = resource("Encounter", "vd-3", "visit_detail", status="finished", subject={"reference": "Patient/1"},
                  **{"class": {"code": "AMB"}})
    bundles, _ = make_bundles([obs, vd, pat], bundle_size=1)
    got = {e["resource"]["resourceType"]: (e["request"]["ifNoneExist"], e["resource"].get("subject"))
           for b in bundles for e in b["entry"]}
    assert got["Observation"][0] == "identifier=urn:crossbridge:omop:measurement|55"
    assert got["Encounter"][0] == "identifier=urn:crossbridge:omop:visit_detail|3"
    assert got["Observation"][1] == {"reference": "Patient?identifier=urn:crossbridge:omop:person|1"}


def test_contained_literal_other_section_and_forward_references():
    a, b = patient("1"), patient("2")
    enc_b = resource("Encounter", "20", "visit_occurrence", status="finished", subject={"reference": "Patient/2"},
                     **{"class": {"code": "AMB"}})
    cond_a = resource("Condition", "10", "condition_occurrence", subject={"reference": "Patient/1"},
                      encounter={"reference": "Encounter/20"},  # another patient's, in a later bundle
                      contained=[{"resourceType": "Practitioner", "id": "p"}],
                      recorder={"reference": "#p"})
    orphan = resource("Observation", "o-5", "observation", status="final", code={"text": "x"},
                      derivedFrom=[{"reference": "Condition/10"}])  # no subject: after the patients
    prov1 = {"resourceType": "Provenance", "id": "prov-1", "target": [{"reference": "Condition/10"}],
             "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"display": "x"}}]}
    prov2 = {**prov1, "id": "prov-2", "target": [{"reference": "Provenance/prov-1"}, {"reference": "Patient/404"}]}
    bundles, report = make_bundles([prov2, orphan, cond_a, enc_b, b, a, prov1], bundle_size=2)
    order = [[f"{e['resource']['resourceType']}" for e in x["entry"]] for x in bundles]
    assert order == [["Patient", "Condition"], ["Patient", "Encounter"], ["Observation"], ["Provenance", "Provenance"]]
    assert report.references == {"same_bundle": 3, "conditional": 3, "conditional_forward": 1, "literal": 0,
                                 "contained": 1, "unresolved": 1}
    assert report.unresolved_examples == ["Provenance/prov-2 -> Patient/404"]
    assert report.bundles_by_section == {"patient": 2, "other": 1, "provenance": 1}
    cond = bundles[0]["entry"][1]["resource"]
    assert cond["encounter"] == {"reference": "Encounter?identifier=urn:crossbridge:omop:visit_occurrence|20"}
    assert cond["recorder"] == {"reference": "#p"}
    # Provenance -> Provenance in the same bundle: urn:uuid; in another bundle it would stay literal
    _, report1 = make_bundles([prov2, prov1], bundle_size=1)
    assert report1.references["literal"] == 1
    from fhir.resources.R4B.bundle import Bundle
    for x in bundles:
        Bundle.model_validate(x)


def test_bundle_size_one_makes_every_reference_conditional():
    bundles, report = make_bundles(input_resources(), bundle_size=1)
    assert len(bundles) == 67 and all(len(b["entry"]) == 1 for b in bundles)
    assert report.references["same_bundle"] == 0 and report.references["unresolved"] == 4
    assert report.references["conditional_forward"] == 0
    assert report.patients_split == 3


def test_make_bundles_equals_write_bundles(split):
    bundles, report = make_bundles(input_resources(), bundle_size=10)
    assert bundles == split[1]
    assert report.references == split[0].references


# --------------------------------------------------------------------------- bad input

def test_resource_without_record_identifier_is_refused():
    bad = {"resourceType": "Condition", "id": "c1", "identifier": [{"system": "urn:other", "value": "1"}]}
    with pytest.raises(BundleInputError, match=r"1 resource\(s\) lack exactly one record identifier.*Condition/c1"):
        make_bundles([patient("1"), bad])


def test_resource_with_two_record_identifiers_is_refused():
    bad = resource("Condition", "c1", "condition_occurrence")
    bad["identifier"].append({"system": "urn:crossbridge:omop:observation", "value": "2"})
    with pytest.raises(BundleInputError, match=r"Condition/c1 identifiers.*condition_occurrence\|c1.*observation\|2"):
        make_bundles([patient("1"), bad])


def test_duplicate_ids_are_refused():
    with pytest.raises(BundleInputError, match=r"duplicate resource ids.*Patient/1 x2"):
        make_bundles([patient("1"), patient("1"), patient("2")])


@pytest.mark.parametrize("bad", [
    {"resourceType": "Patient", "identifier": [{"system": "urn:crossbridge:omop:person", "value": "1"}]},
    {"id": "1"},
    [1, 2],
    "not json at all",
])
def test_not_a_resource_is_refused(bad):
    with pytest.raises(BundleInputError):
        make_bundles([patient("9"), bad if isinstance(bad, str) else json.dumps(bad)])


def test_malformed_line_in_a_file_is_refused_and_output_left_alone(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    lines = (FIXTURE / "Patient.ndjson").read_text(encoding="utf-8")
    (src / "Patient.ndjson").write_text(lines + '{"resourceType": "Patient", "id": \n', encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "bundle-00001.json").write_text("previous")
    with pytest.raises(BundleInputError, match=r"cannot read the NDJSON export .*Patient\.ndjson"):
        write_bundles(src, out)
    assert [p.name for p in out.iterdir()] == ["bundle-00001.json"]
    assert (out / "bundle-00001.json").read_text() == "previous"


def test_missing_identifier_in_a_file_names_the_file(tmp_path):
    (tmp_path / "Condition.ndjson").write_text('{"resourceType":"Condition","id":"c1"}\n', encoding="utf-8")
    with pytest.raises(BundleInputError, match=r"Condition\.ndjson: Condition/c1"):
        write_bundles(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_empty_directory_and_bad_bundle_size_are_refused(tmp_path):
    with pytest.raises(BundleInputError, match="no \\*.ndjson files"):
        write_bundles(tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="bundle_size must be at least 1"):
        make_bundles([patient("1")], bundle_size=0)
