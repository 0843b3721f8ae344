"""Release tables from a small OMOP CDM: every filter counted, study pseudonyms unlinkable across studies,
dates kept / coarsened / shifted consistently per person, k-anonymity verified, nothing lost."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

import duckdb
import pytest

from releases.build import CONSENT_WITHDRAWN, ReleaseBuildError, build_release_tables
from releases.keys import MIN_KEY_BYTES, StudyKeyError, forget_study_key, install_study_key, study_key
from releases.spec import StudySpecError, parse_spec

KEY_A, KEY_B = b"study-a-key-0123456789", b"study-b-key-9876543210"
N = 60  # persons


def _source(path) -> None:
    con = duckdb.connect(str(path))
    con.execute(f"""CREATE TABLE person AS SELECT i AS person_id, CASE WHEN i % 2 = 0 THEN 8507 ELSE 8532 END
                   AS gender_concept_id, 1950 + (i % 4) AS year_of_birth, 1 + i % 12 AS month_of_birth,
                   1 + i % 28 AS day_of_birth, NULL::TIMESTAMP AS birth_datetime, 0 AS race_concept_id,
                   0 AS ethnicity_concept_id, 100 + (i % 2) AS location_id, NULL::BIGINT AS provider_id,
                   NULL::BIGINT AS care_site_id, 'p' || i AS person_source_value, NULL AS gender_source_value,
                   0 AS gender_source_concept_id, NULL AS race_source_value, 0 AS race_source_concept_id,
                   NULL AS ethnicity_source_value, 0 AS ethnicity_source_concept_id
                   FROM range(1, {N + 1}) t(i)""")
    con.execute("CREATE TABLE person_identity AS SELECT person_id, sha256('site|' || person_id) AS pseudonym "
                "FROM person")
    con.execute("""CREATE TABLE location AS SELECT * FROM (VALUES (100, 'A1'), (101, 'B2')) t(location_id,
                   location_source_value)""")
    con.execute("""CREATE TABLE observation_period AS SELECT person_id AS observation_period_id, person_id,
                   DATE '2013-06-01' AS observation_period_start_date, DATE '2018-06-30' AS observation_period_end_date,
                   32817 AS period_type_concept_id FROM person""")
    # two conditions per person, one in 2013 (outside the permit years), one in 2015; a rare code for person 7
    con.execute("""CREATE TABLE condition_occurrence AS
        SELECT person_id * 10 + k AS condition_occurrence_id, person_id, 201826 AS condition_concept_id,
               CASE WHEN k = 0 THEN DATE '2013-03-01' ELSE DATE '2015-03-10' + CAST(person_id AS INTEGER) END AS condition_start_date,
               NULL::TIMESTAMP AS condition_start_datetime, NULL::DATE AS condition_end_date,
               NULL::TIMESTAMP AS condition_end_datetime, 32817 AS condition_type_concept_id,
               0 AS condition_status_concept_id, NULL AS stop_reason, NULL::BIGINT AS provider_id,
               person_id * 1000 AS visit_occurrence_id, NULL::BIGINT AS visit_detail_id,
               CASE WHEN person_id = 7 AND k = 1 THEN 'Q871' ELSE 'E119' END AS condition_source_value,
               0 AS condition_source_concept_id, NULL AS condition_status_source_value
        FROM person, range(2) r(k)""")
    con.execute("""CREATE TABLE visit_occurrence AS SELECT person_id * 1000 AS visit_occurrence_id, person_id,
        9202 AS visit_concept_id, DATE '2015-03-10' + CAST(person_id AS INTEGER) AS visit_start_date, NULL::TIMESTAMP AS visit_start_datetime,
        DATE '2015-03-10' + CAST(person_id AS INTEGER) AS visit_end_date, NULL::TIMESTAMP AS visit_end_datetime,
        32817 AS visit_type_concept_id, NULL::BIGINT AS provider_id, NULL::BIGINT AS care_site_id,
        NULL AS visit_source_value, 0 AS visit_source_concept_id, 0 AS admitted_from_concept_id,
        NULL AS admitted_from_source_value, 0 AS discharged_to_concept_id, NULL AS discharged_to_source_value,
        NULL::BIGINT AS preceding_visit_occurrence_id FROM person""")
    con.execute(f"""CREATE TABLE observation AS SELECT person_id AS observation_id, person_id, 0 AS observation_concept_id,
        DATE '2015-01-01' AS observation_date, NULL::TIMESTAMP AS observation_datetime, 32817 AS observation_type_concept_id,
        NULL::DOUBLE AS value_as_number, NULL AS value_as_string, 0 AS value_as_concept_id, 0 AS qualifier_concept_id,
        0 AS unit_concept_id, NULL::BIGINT AS provider_id, NULL::BIGINT AS visit_occurrence_id,
        NULL::BIGINT AS visit_detail_id, '{CONSENT_WITHDRAWN}' AS observation_source_value,
        0 AS observation_source_concept_id, NULL AS unit_source_value, NULL AS qualifier_source_value,
        NULL AS value_source_value, NULL::BIGINT AS observation_event_id, 0 AS obs_event_field_concept_id
        FROM person WHERE person_id IN (3, 4)""")
    con.close()


def _spec(**release) -> object:
    return parse_spec({
        "study_id": "s-test", "title": "t", "site": "taiwan",
        "permit": {"id": "P-1", "issuer": "HWDC", "years": [2014, 2017],
                   "tables": ["person", "observation_period", "condition_occurrence", "visit_occurrence", "location"],
                   "population": {"age": [18, 120]},
                   "variables": {"person": ["gender_concept_id", "year_of_birth", "month_of_birth", "race_concept_id",
                                            "ethnicity_concept_id", "location_id"]}},
        "release": {"key_env": "K", "k": 1, **release}})


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("src") / "omop.duckdb"
    _source(path)
    return path


def _build(source, spec, key=KEY_A):
    con = duckdb.connect()
    con.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
    con.execute("CREATE TEMP VIEW person_identity AS SELECT * FROM src.main.person_identity")
    install_study_key(con, key)
    report = build_release_tables(con, spec)
    return con, report


def test_filters_are_counted_and_reconcile(source):
    con, r = _build(source, _spec())
    steps = {f.name: f for f in r.filters}
    assert steps["consent_withdrawn"].persons_removed == 2
    assert steps["consent_withdrawn"].rows_removed == {"person": 2, "observation_period": 2, "condition_occurrence": 4,
                                                       "visit_occurrence": 2}
    assert steps["permit.tables"].rows_removed == {"observation": 2}
    assert steps["permit.years"].rows_removed == {"condition_occurrence": N - 2}  # the 2013 rows
    assert r.persons == N - 2 and r.tables["condition_occurrence"] == N - 2
    assert r.persons_in_source == N
    # the observation periods are clipped to the permit years
    assert con.execute("SELECT min(observation_period_start_date), max(observation_period_end_date) "
                       "FROM main.observation_period").fetchall() == [(date(2014, 1, 1), date(2017, 12, 31))]
    # withheld and never-released columns are NULL, the others kept
    assert set(r.columns_withheld["person"]) >= {"gender_source_value", "race_source_value"}
    assert con.execute("SELECT count(*) FROM main.person WHERE person_source_value IS NOT NULL OR day_of_birth "
                       "IS NOT NULL").fetchall() == [(0,)]


def test_study_pseudonyms_are_hmacs_and_unlinkable_across_studies(source):
    con_a, _ = _build(source, _spec(), KEY_A)
    con_b, _ = _build(source, _spec(), KEY_B)
    pseudonym = hashlib.sha256(b"site|1").hexdigest()
    expected = int(hmac.new(KEY_A, pseudonym.encode(), "sha256").hexdigest()[:15], 16)
    ids_a = {r[0] for r in con_a.execute("SELECT person_id FROM main.person").fetchall()}
    ids_b = {r[0] for r in con_b.execute("SELECT person_id FROM main.person").fetchall()}
    assert expected in ids_a and not ids_a & ids_b and not ids_a & set(range(1, N + 1))
    for table, col in (("condition_occurrence", "condition_occurrence_id"), ("visit_occurrence", "visit_occurrence_id")):
        a = {r[0] for r in con_a.execute(f"SELECT {col} FROM main.{table}").fetchall()}
        b = {r[0] for r in con_b.execute(f"SELECT {col} FROM main.{table}").fetchall()}
        assert a and not a & b
    # foreign keys follow their rows: every condition's visit is a released visit of the same person
    assert con_a.execute("""SELECT count(*) FROM main.condition_occurrence c LEFT JOIN main.visit_occurrence v
                            ON v.visit_occurrence_id = c.visit_occurrence_id AND v.person_id = c.person_id
                            WHERE v.visit_occurrence_id IS NULL""").fetchall() == [(0,)]
    # the same key gives the same release (deterministic), and the key leaves the connection
    con_c, _ = _build(source, _spec(), KEY_A)
    assert {r[0] for r in con_c.execute("SELECT person_id FROM main.person").fetchall()} == ids_a
    forget_study_key(con_c)
    assert con_c.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_study_key'").fetchall() == [(0,)]


def test_dates_month_and_shift(source):
    con, _ = _build(source, _spec(dates="month"))
    assert con.execute("SELECT count(*) FROM main.condition_occurrence WHERE day(condition_start_date) <> 1"
                       ).fetchall() == [(0,)]
    keep, _ = _build(source, _spec())
    shift, _ = _build(source, _spec(dates="shift", shift_days=30))
    # per person: one shift for all dates, within +-30 days, not 0 for everyone
    q = """SELECT person_id, visit_start_date, condition_start_date FROM main.condition_occurrence c
           JOIN main.visit_occurrence v USING (person_id, visit_occurrence_id) ORDER BY person_id"""
    k_rows = {p: (v, c) for p, v, c in keep.execute(q).fetchall()}
    s_rows = {p: (v, c) for p, v, c in shift.execute(q).fetchall()}
    assert set(k_rows) == set(s_rows)
    shifts = {(s_rows[p][0] - k_rows[p][0]).days for p in k_rows}
    assert all(-30 <= d <= 30 for d in shifts) and len(shifts) > 3
    assert all((s_rows[p][1] - k_rows[p][1]) == (s_rows[p][0] - k_rows[p][0]) for p in k_rows)
    assert all(isinstance(d, timedelta) for d in (s_rows[p][0] - k_rows[p][0] for p in k_rows))
    # birth year and month are k-anonymity's business, never shifted
    births = "SELECT person_id, year_of_birth, month_of_birth FROM main.person ORDER BY 1"
    assert keep.execute(births).fetchall() == shift.execute(births).fetchall()


def test_k_anonymity_suppresses_the_rare_and_holds_on_the_released_table(source):
    con, r = _build(source, _spec(k=5, max_suppression=0.2))
    k = r.k_anonymity
    assert k["applied"] and k["rare_codes"] == 1  # Q871, held by one person
    classes = con.execute("""SELECT min(n) FROM (SELECT count(*) n FROM main.person
                             GROUP BY year_of_birth, gender_concept_id, location_id)""").fetchall()[0][0]
    assert classes >= 5
    assert con.execute("SELECT count(*) FROM main.condition_occurrence WHERE condition_source_value = 'Q871'"
                       ).fetchall() == [(0,)]
    steps = {f.name: f for f in r.filters}
    assert steps["k_anonymity"].persons_removed == k["persons_suppressed"] >= 1


def test_unreachable_k_and_withheld_required_columns_fail_clearly(source):
    with pytest.raises(ReleaseBuildError, match="cannot be reached"):
        _build(source, _spec(k=N, max_suppression=0.0))
    bad = parse_spec({"study_id": "s-x", "title": "t", "site": "taiwan",
                      "permit": {"id": "P", "issuer": "I", "tables": ["person", "condition_occurrence"],
                                 "variables": {"condition_occurrence": ["condition_source_value"]}},
                      "release": {"key_env": "K", "k": 1}})
    with pytest.raises(ReleaseBuildError, match="withholds condition_concept_id, a required OMOP column"):
        _build(source, bad)


def test_keys_and_specs_are_checked():
    with pytest.raises(StudyKeyError, match="set the environment variable XB_K") as exc:
        study_key("XB_K", {})
    assert "XB_K" in str(exc.value)
    with pytest.raises(StudyKeyError, match=f"shorter than {MIN_KEY_BYTES}"):
        study_key("XB_K", {"XB_K": "short"})
    assert study_key("XB_K", {"AIRFLOW_VAR_XB_K": "x" * 20}) == b"x" * 20
    with pytest.raises(StudySpecError, match="unknown key"):
        parse_spec({"study_id": "ab", "title": "t", "site": "taiwan", "permit": {"id": "P", "issuer": "I",
                    "tables": ["person"], "yeras": [2014, 2015]}})
    with pytest.raises(StudySpecError, match="must include person"):
        parse_spec({"study_id": "ab", "title": "t", "site": "taiwan",
                    "permit": {"id": "P", "issuer": "I", "tables": ["condition_occurrence"]}})
    with pytest.raises(StudySpecError, match="release.dates"):
        parse_spec({"study_id": "ab", "title": "t", "site": "taiwan",
                    "permit": {"id": "P", "issuer": "I", "tables": ["person"]}, "release": {"dates": "blur"}})


def test_consent_code_is_the_mappings_own():
    from mappings.omop_cdm_v54.events import CONSENT_WITHDRAWN_CODE
    from mappings.omop_cdm_v54.finland.events import CONSENT_WITHDRAWN_CODE as FI

    assert CONSENT_WITHDRAWN == CONSENT_WITHDRAWN_CODE == FI
