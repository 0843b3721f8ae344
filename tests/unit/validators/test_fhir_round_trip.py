"""OMOP rows per person and table against the FHIR resources written for them: agreement and every difference."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from validators.fhir_round_trip import TABLE_RESOURCES, omop_fhir_round_trip


def _omop(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("CREATE TABLE person (person_id BIGINT)")
    con.execute("INSERT INTO person VALUES (1), (2)")
    con.execute("CREATE TABLE visit_occurrence (visit_occurrence_id BIGINT, person_id BIGINT)")
    con.execute("INSERT INTO visit_occurrence VALUES (10, 1), (11, 1), (12, 2)")
    con.execute("CREATE TABLE visit_detail (visit_detail_id BIGINT, person_id BIGINT)")
    con.execute("INSERT INTO visit_detail VALUES (20, 1)")
    con.execute("CREATE TABLE measurement (measurement_id BIGINT, person_id BIGINT)")
    con.execute("INSERT INTO measurement VALUES (30, 2)")
    con.execute("CREATE TABLE observation (observation_id BIGINT, person_id BIGINT)")
    con.execute("INSERT INTO observation VALUES (30, 1)")  # the same id as a measurement: prefixes tell them apart


def _fhir(folder: Path, drop: set[str] = frozenset(), extra: list[dict] = ()) -> Path:
    res = {
        "Patient": [{"resourceType": "Patient", "id": "1"}, {"resourceType": "Patient", "id": "2"}],
        "Encounter": [{"resourceType": "Encounter", "id": i, "subject": {"reference": f"Patient/{p}"}}
                      for i, p in (("10", 1), ("11", 1), ("12", 2), ("vd-20", 1))],
        "Observation": [{"resourceType": "Observation", "id": "m-30", "subject": {"reference": "Patient/2"}},
                        {"resourceType": "Observation", "id": "o-30", "subject": {"reference": "Patient/1"}}],
    }
    folder.mkdir(parents=True, exist_ok=True)
    for rtype, rows in res.items():
        rows = [r for r in rows if r["id"] not in drop] + [r for r in extra if r["resourceType"] == rtype]
        (folder / f"{rtype}.ndjson").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_every_table_agrees(tmp_path):
    con = duckdb.connect()
    _omop(con)
    report = omop_fhir_round_trip(con, _fhir(tmp_path / "fhir"))
    assert report.agreed
    got = {t: (r.omop_rows, r.fhir_resources, r.persons_differing) for t, r in report.tables.items()}
    assert got == {"person": (2, 2, 0), "visit_occurrence": (3, 3, 0), "visit_detail": (1, 1, 0),
                   "measurement": (1, 1, 0), "observation": (1, 1, 0)}
    assert set(report.tables) <= set(TABLE_RESOURCES)  # absent tables are not reported as empty
    assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_rt_%'"
                       ).fetchall() == [(0,)]  # temp tables dropped


def test_differences_are_reported_per_person_with_examples(tmp_path):
    con = duckdb.connect()
    _omop(con)
    stray = {"resourceType": "Observation", "id": "m-99", "subject": {"reference": "Patient/1"}}
    orphan = {"resourceType": "Encounter", "id": "13", "subject": {"display": "no reference"}}
    report = omop_fhir_round_trip(con, _fhir(tmp_path / "fhir", drop={"11"}, extra=[stray, orphan]))
    assert not report.agreed
    v = report.tables["visit_occurrence"]
    assert (v.omop_rows, v.fhir_resources, v.persons_differing) == (3, 3, 1)  # 10, 12 and the orphan 13
    assert v.examples == [{"person_id": 1, "omop": 2, "fhir": 1}]
    assert report.tables["measurement"].examples == [{"person_id": 1, "omop": 0, "fhir": 1}]
    assert report.resources_without_person == 1
    assert report.to_dict()["agreed"] is False


def test_attached_catalog_and_schema(tmp_path):
    db = tmp_path / "omop.duckdb"
    with duckdb.connect(str(db)) as c:
        c.execute("CREATE SCHEMA cdm")
        c.execute("CREATE TABLE cdm.person (person_id BIGINT)")
        c.execute("INSERT INTO cdm.person VALUES (1), (2)")
    con = duckdb.connect()
    con.execute(f"ATTACH '{db}' AS src (READ_ONLY)")
    report = omop_fhir_round_trip(con, _fhir(tmp_path / "fhir"), catalog="src", schema="cdm")
    assert list(report.tables) == ["person"] and report.agreed
