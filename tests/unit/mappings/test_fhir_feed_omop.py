"""FHIR feed staging -> OMOP CDM v5.4 with the shared engine (``build_omop(site=FHIR_FEED)``) and the demo vocabulary.

Inputs: the golden FHIR fixture (tests/fixtures/fhir_in, see its README) and
the FHIR examples of both sites (tests/fixtures/fhir_quality), staged by
``connectors.fhir_in``.  Checks rows per CDM table, the routing and code
precedence, and that every staged row reaches the CDM (lineage).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.fhir_in import FILE_TYPES, stage_fhir
from mappings.omop_cdm_v54 import build_omop
from mappings.omop_cdm_v54.fhir_feed import FHIR_FEED
from terminology import concepts as C
from terminology.source_to_standard import create_view
from terminology.vocabulary import DEMO_ATHENA_DIR, load_site_vocabulary

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
META = {"source_release_date": "2024-06-30", "cdm_release_date": "2024-07-01", "cdm_etl_reference": "test"}


@pytest.fixture(scope="module")
def vocabulary_db(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.duckdb"
    con = duckdb.connect(str(path))
    load_site_vocabulary(con, DEMO_ATHENA_DIR)
    con.close()
    return path


def _build(inputs, staging: Path, vocabulary_db: Path):
    report = stage_fhir(inputs, staging, "omop-secret", validate="none")
    con = duckdb.connect()
    con.execute(f"ATTACH '{vocabulary_db}' AS vocab (READ_ONLY)")
    for t in ("concept", "concept_relationship", "vocabulary", "concept_ancestor"):
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM vocab.main.{t}")
    create_view(con)
    for ft in FILE_TYPES:
        con.execute(f"CREATE VIEW stg_{ft.key} AS SELECT * FROM read_parquet('{staging}/tables/{ft.key}/*.parquet')")
    result = build_omop(con, META, site=FHIR_FEED)
    return con, result, report


@pytest.fixture(scope="module")
def golden(tmp_path_factory, vocabulary_db):
    con, result, report = _build(FIXTURES / "fhir_in" / "golden", tmp_path_factory.mktemp("golden"), vocabulary_db)
    yield con, result, report
    con.close()


@pytest.fixture(scope="module")
def sites(tmp_path_factory, vocabulary_db):
    inputs = [FIXTURES / "fhir_quality" / "taiwan", FIXTURES / "fhir_quality" / "finland"]
    con, result, report = _build(inputs, tmp_path_factory.mktemp("sites"), vocabulary_db)
    yield con, result, report
    con.close()


def _all(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def test_rows_per_cdm_table(golden):
    _, result, _ = golden
    assert result.rows == {
        "care_site": 1, "person": 7, "observation_period": 7, "visit_occurrence": 6, "condition_occurrence": 5,
        "drug_exposure": 4, "procedure_occurrence": 1, "device_exposure": 0, "measurement": 4, "observation": 1,
        "death": 1, "specimen": 1, "cdm_source": 1,
    }


@pytest.mark.parametrize("fixture", ["golden", "sites"])
def test_every_staged_row_reaches_the_cdm(request, fixture):
    _, result, report = request.getfixturevalue(fixture)
    assert result.staged_counts == report.staged
    assert result.unused_rows == {ft.key: 0 for ft in FILE_TYPES}
    assert sum(result.lineage_counts.values()) == sum(report.staged.values())


def test_visit_concepts_from_encounter_class(golden):
    con, _, _ = golden
    got = sorted(_all(con, "SELECT visit_source_value, visit_concept_id, visit_type_concept_id FROM visit_occurrence"))
    assert got == [("AMB", C.VISIT_OUTPATIENT, C.TYPE_EHR), ("AMB", C.VISIT_OUTPATIENT, C.TYPE_EHR),
                   ("EMER", C.VISIT_EMERGENCY, C.TYPE_EHR), ("HH", 0, C.TYPE_EHR),
                   ("IMP", C.VISIT_ER_AND_INPATIENT, C.TYPE_EHR), ("IMP", C.VISIT_INPATIENT, C.TYPE_EHR)]
    # an encounter without end ends on its start; the care site is the service provider
    assert _all(con, "SELECT count(*) FROM visit_occurrence WHERE visit_end_date < visit_start_date") == [(0,)]
    assert _all(con, "SELECT care_site_name FROM care_site") == [("Test Hospital",)]


def test_code_precedence_source_then_standard_coding(golden):
    con, _, _ = golden
    conditions = {src: (cid, scid) for src, cid, scid in _all(
        con, "SELECT condition_source_value, condition_concept_id, condition_source_concept_id "
             "FROM condition_occurrence")}
    assert conditions["X99.9"] == (312327, 0)  # ICD10fi X99.9 unknown -> the SNOMED coding; source value kept
    assert conditions["ABC"] == (0, 0)  # unknown system, no standard coding: concept 0, never dropped
    assert conditions["I10"][0] == 320128 and conditions["I10"][1] != 0  # ICD10CM source concept
    usage = _all(con, "SELECT source_column_group, vocabulary_id, source_code FROM code_usage "
                      "WHERE source_column_group LIKE '%standard coding%' ORDER BY 1, 3")
    assert usage == [("Condition.code (standard coding)", "SNOMED", "57054005"),
                     ("Observation.code (standard coding)", "LOINC", "4548-4")]


def test_measurements_carry_values(golden):
    con, _, _ = golden
    rows = {r[0]: r[1:] for r in _all(
        con, """SELECT measurement_source_value, measurement_concept_id, value_as_number, range_low, range_high,
                       unit_source_value, value_source_value, measurement_source_concept_id FROM measurement""")}
    assert rows["2345-7"] == (3004501, 6.2, 3.9, 5.6, "mmol/L", "6.2", 3004501)
    assert rows["1552"] == (3004410, 48.0, None, None, "mmol/mol", ">48.0", 0)  # Finnish lab code via LOINC
    assert rows["24360-0"][:2] == (3001643, None)  # a DiagnosticReport: the panel was done
    assert rows["85354-9"][:2] == (0, None)  # a panel whose components are not staged: concept 0, no value
    (obs,) = _all(con, "SELECT observation_source_value, value_as_concept_id, value_source_value FROM observation")
    assert obs == ("72166-2", 0, "8517006")  # coded value not in the vocabulary: value concept 0, code kept


def test_drugs_and_types(golden, sites):
    con, _, _ = golden
    rows = {r[0]: r[1:] for r in _all(
        con, """SELECT drug_source_value, drug_concept_id, drug_type_concept_id, drug_exposure_start_date::VARCHAR,
                       drug_exposure_end_date::VARCHAR, quantity, days_supply FROM drug_exposure""")}
    assert rows["AC46525100"] == (1503297, C.TYPE_EHR, "2024-01-10", "2024-02-08", 60.0, 30)  # start + 30 days - 1
    assert rows["C09CA01"][2:4] == ("2024-02-02", "2024-02-04")  # effectivePeriod.end
    assert rows["207"][:2] == (0, C.TYPE_EHR)  # an immunisation with an unknown vaccine code
    con_sites = sites[0]
    assert sorted(_all(con_sites, "SELECT drug_source_value, drug_type_concept_id FROM drug_exposure")) == [
        ("A10BA02", C.TYPE_PHARMACY_CLAIM), ("AC45856105", C.TYPE_PHARMACY_CLAIM)]  # MedicationDispense


def test_person_death_period_specimen(golden):
    con, _, _ = golden
    genders = sorted(g for (g,) in _all(con, "SELECT gender_concept_id FROM person"))
    assert genders == sorted([0, 0, C.GENDER_FEMALE, C.GENDER_FEMALE, C.GENDER_FEMALE, C.GENDER_MALE, C.GENDER_MALE])
    assert _all(con, "SELECT death_date::VARCHAR, death_type_concept_id FROM death") == [("2023-12-24", C.TYPE_EHR)]
    # every person is observed, over all their records (the death included)
    assert _all(con, "SELECT count(*) FROM person p ANTI JOIN observation_period o USING (person_id)") == [(0,)]
    assert _all(con, """SELECT o.observation_period_start_date::VARCHAR, o.observation_period_end_date::VARCHAR
                        FROM observation_period o JOIN death d USING (person_id)""") == [("2023-12-20", "2023-12-24")]
    assert _all(con, "SELECT specimen_concept_id, specimen_source_value FROM specimen") == [(4001225, "blood")]


def test_events_link_to_their_visits(golden):
    con, _, _ = golden
    for table in ("condition_occurrence", "drug_exposure", "measurement", "procedure_occurrence"):
        orphan = _all(con, f"SELECT count(*) FROM {table} t WHERE visit_occurrence_id IS NOT NULL AND NOT EXISTS "
                           "(SELECT 1 FROM visit_occurrence v WHERE v.visit_occurrence_id = t.visit_occurrence_id "
                           "AND v.person_id = t.person_id)")
        assert orphan == [(0,)], table
    linked = _all(con, "SELECT count(*) FROM condition_occurrence WHERE visit_occurrence_id IS NOT NULL")
    assert linked == [(4,)]  # cond-3 has no encounter
