"""The export_fhir stage of both site DAG runs: every resource valid, national profiles, pseudonyms only,
and the round trip -- counts per person and domain agree between the OMOP tables and the FHIR files."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from validators.fhir_round_trip import TABLE_RESOURCES
from validators.fhir_suite import validate_fhir_export

pytestmark = pytest.mark.slow

#: OMOP table -> (FHIR resource types, id prefix) it becomes (the declaration; the counting below is the test's own)
ROUND_TRIP = {t: v for t, v in TABLE_RESOURCES.items() if t != "person"}


def _fhir_counts(fhir_dir: Path) -> dict[tuple[str, int], int]:
    """(omop table, person_id) -> resources, read from the NDJSON files themselves."""
    con = duckdb.connect()
    files = [str(p) for p in sorted(fhir_dir.glob("*.ndjson"))]
    rows = con.execute("""
        SELECT json_extract_string(json, '$.resourceType') AS rtype, json_extract_string(json, '$.id') AS id,
               CAST(split_part(json_extract_string(json, '$.subject.reference'), '/', 2) AS BIGINT) AS person_id
        FROM read_json_objects(?, format = 'newline_delimited')""", [files]).fetchall()
    out: dict[tuple[str, int], int] = {}
    for rtype, rid, person in rows:
        if person is None:
            continue
        for table, (types, prefix) in ROUND_TRIP.items():
            if rtype in types and (rid.startswith(prefix) if prefix else not rid[:1].isalpha()):
                out[(table, person)] = out.get((table, person), 0) + 1
                break
    return out


def _omop_counts(db: Path) -> dict[tuple[str, int], int]:
    con = duckdb.connect(str(db), read_only=True)
    out: dict[tuple[str, int], int] = {}
    present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for table in ROUND_TRIP:
        if table not in present:  # Finland writes no visit_detail
            continue
        for person, n in con.execute(f"SELECT person_id, count(*) FROM {table} GROUP BY 1").fetchall():
            out[(table, person)] = n
    return out


@pytest.mark.parametrize("site_run", ["tw_run", "fi_run"])
def test_export_fhir_stage_writes_valid_national_profile_resources(site_run, request):
    run = request.getfixturevalue(site_run)
    s = run["summary"]
    site = s["site"]
    assert s["state"] == "succeeded", run["proc"].stderr[-3000:]
    fhir = s["fhir"]
    assert fhir["validation"] == {"outcome": "passed", "validate": "sample"}
    fhir_dir = Path(fhir["dir"])
    assert fhir_dir == run["dir"] / "fhir"
    assert fhir["resources"]["Patient"] == s["rows_out"]["person"]
    assert fhir["not_expressed"] == {"observation_period": s["rows_out"]["observation_period"]}

    # every resource of the run validates with fhir.resources R4B, and every suite check passes
    result = validate_fhir_export(fhir_dir, site=site, validate="all")
    d = result.to_dict()
    assert d["validated_count"] == d["resource_count"] == fhir["total"]
    failed = [r for r in d["records"] if r["status"] not in ("passed", "not_applicable")]
    assert failed == [] and d["outcome"] == "passed"

    # pseudonyms only: every Patient carries the site pseudonym and nothing of a national-ID system
    patients = [json.loads(line) for line in (fhir_dir / "Patient.ndjson").read_text().splitlines()]
    systems = {i["system"] for p in patients for i in p["identifier"]}
    assert systems == {f"urn:crossbridge:pseudonym:{site}", f"urn:crossbridge:{site}:person"}
    assert all(len(i["value"]) == 64 for p in patients for i in p["identifier"] if "pseudonym" in i["system"])


@pytest.mark.parametrize("site_run", ["tw_run", "fi_run"])
def test_round_trip_counts_per_person_and_domain_agree(site_run, request):
    run = request.getfixturevalue(site_run)
    omop = _omop_counts(run["dir"] / "omop.duckdb")
    fhir = _fhir_counts(run["dir"] / "fhir")
    differences = {k: (omop.get(k, 0), fhir.get(k, 0)) for k in set(omop) | set(fhir) if omop.get(k) != fhir.get(k)}
    assert differences == {}
    assert sum(omop.values()) > 1000  # a real comparison, not two empty sides


def test_source_files_and_run_named_in_provenance(tw_run):
    fhir_dir = tw_run["dir"] / "fhir"
    provs = [json.loads(line) for line in (fhir_dir / "Provenance.ndjson").read_text().splitlines()]
    targets = sum(len(p["target"]) for p in provs)
    others = sum(n for t, n in tw_run["summary"]["fhir"]["resources"].items() if t != "Provenance")
    assert targets == others  # every exported resource has its Provenance
    landing_files = {f["file"] for f in json.loads((tw_run["dir"] / "stages" / "extract.json").read_text())["files"]}
    for p in provs:
        assert p["agent"][0]["who"]["identifier"]["value"] == tw_run["summary"]["run_id"]
        assert {e["what"]["display"] for e in p["entity"]} == landing_files
