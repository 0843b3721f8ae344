"""build_omop: lineage, determinism, id collisions, input checks, write modes, cdm_source, code_usage."""

from __future__ import annotations

import duckdb
import pytest

from connectors.taiwan import layout
from mappings.omop_cdm_v54 import ids
from mappings.omop_cdm_v54.build import TABLE_MAPPINGS, MissingInput, build_omop
from mappings.omop_cdm_v54.ids import IdCollision, find_id_collisions
from omop_golden import META, build_and_render, case_names, connect_case, person_key
from terminology.omop_cdm import CDM


@pytest.mark.parametrize("case", case_names())
def test_lineage_covers_every_staged_row(case):
    _, result = build_and_render(case)
    assert result.lineage_counts == result.staged_counts
    assert all(n == 0 for n in result.unused_rows.values())


def test_lineage_reports_rows_that_reach_no_table():
    con = connect_case("person_without_enrolment")
    # a drug-master row nobody prescribes and a specimen of an unknown participant reach no OMOP row
    con.execute("INSERT INTO stg_drug (DRUG_ID, UNIT, _source_file, _row_number) VALUES ('BC23798100', 'TAB', 'x', 1)")
    con.execute(
        "INSERT INTO stg_bb_specimen (SPECIMEN_ID, PARTICIPANT_ID, SPECIMEN_TYPE, COLLECT_DATE, _source_file, _row_number)"
        " VALUES ('SP9', 'NB9', 'BLOOD', DATE '2020-01-01', 'y', 1)"
    )
    result = build_omop(con, META)
    assert result.staged_counts["drug"] == 1 and result.lineage_counts["drug"] == 0
    assert result.unused_rows["bb_specimen"] == 1
    assert result.lineage_counts["opdte"] == 2


def _dump(con) -> dict[str, list[tuple]]:
    out = {}
    for table in list(TABLE_MAPPINGS) + ["cdm_source", "code_usage"]:
        out[table] = con.execute(f"SELECT * FROM {table}").fetchall()  # physical row order, no ORDER BY
    return out


@pytest.mark.parametrize("case", ["split_admission", "lab_fee_routing"])
def test_build_is_deterministic(case, tmp_path):
    dumps = []
    for attempt in range(2):
        con = connect_case(case)
        build_omop(con, META)
        dumps.append(_dump(con))
        con.execute(f"COPY condition_occurrence TO '{tmp_path}/co{attempt}.csv' (HEADER)")
        con.close()
    assert dumps[0] == dumps[1]
    assert (tmp_path / "co0.csv").read_bytes() == (tmp_path / "co1.csv").read_bytes()
    # rows are stored in id order
    for table, rows in dumps[0].items():
        if table in TABLE_MAPPINGS and CDM.table(table).primary_key and rows:
            first = [r[0] for r in rows]
            assert first == sorted(first), table


def test_rebuild_in_same_connection_replaces():
    con = connect_case("split_admission")
    first = build_omop(con, META)
    before = _dump(con)
    second = build_omop(con, META)
    assert first.rows == second.rows
    assert _dump(con) == before


def test_ids_are_the_documented_hashes():
    con = connect_case("lab_fee_routing")
    build_omop(con, META)
    vo = con.execute("SELECT visit_occurrence_id FROM visit_occurrence").fetchone()[0]
    assert vo == ids.python_id("visit_occurrence", "opdte|V5")
    pid = con.execute("SELECT person_id FROM person").fetchone()[0]
    assert pid == ids.python_person_id(person_key(5)) == 5
    m = con.execute("SELECT measurement_id, visit_occurrence_id FROM measurement").fetchone()
    assert m == (ids.python_id("measurement", "opdto|V5|1|3004501"), vo)
    assert all(0 < i < 2**60 for i in (vo, m[0]))


def test_forced_person_id_collision_raises():
    con = connect_case("person_without_enrolment")
    # same first 15 hex digits as person 12, different pseudonym
    con.execute(f"UPDATE stg_opdte SET person_key = '{person_key(12, 'b')}' WHERE visit_key = 'V13'")
    with pytest.raises(IdCollision, match=r"person\.person_id=12"):
        build_omop(con, META)


def test_duplicate_business_key_raises():
    con = connect_case("biobank_specimen_consent")
    con.execute("INSERT INTO stg_bb_specimen SELECT * REPLACE (_row_number + 100 AS _row_number) FROM stg_bb_specimen")
    with pytest.raises(IdCollision, match=r"specimen\.specimen_id=\d+ on 2 rows"):
        build_omop(con, META)


def test_repeated_visit_key_gets_its_own_visit():
    """Consolidation may keep two visit rows with one visit_key: both become visits; orders attach to the first."""
    con = connect_case("lab_fee_routing")
    con.execute(
        "INSERT INTO stg_opdte SELECT * REPLACE (_row_number + 100 AS _row_number, DATE '2016-05-04' AS FUNC_DATE)"
        " FROM stg_opdte"
    )
    result = build_omop(con, META, keep_intermediates=True)
    assert result.rows["visit_occurrence"] == 2 and result.rows["condition_occurrence"] == 2
    keys = sorted(r[0] for r in con.execute("SELECT _key FROM _cb_prov_visit_occurrence").fetchall())
    assert keys == ["visit_occurrence|opdte|V5", "visit_occurrence|opdte|V5#2"]
    first = ids.python_id("visit_occurrence", "opdte|V5")
    assert con.execute("SELECT DISTINCT visit_occurrence_id FROM measurement").fetchall() == [(first,)]
    assert result.rows["measurement"] == 1
    assert result.lineage_counts == result.staged_counts


def test_find_id_collisions():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT * FROM (VALUES (1, 'a'), (1, 'b'), (2, 'c'), (2, 'c')) v(id, _key)")
    assert find_id_collisions(con, "t", "id") == [(1, 2, ["a", "b"])]
    with pytest.raises(ValueError):
        find_id_collisions(con, "t; DROP TABLE t", "id")


def test_missing_inputs_are_named():
    con = connect_case("outpatient_three_diagnoses")
    con.execute("DROP TABLE stg_bb_specimen")
    con.execute("ALTER TABLE stg_opdto DROP COLUMN visit_key")
    con.execute("DROP VIEW source_to_standard")
    with pytest.raises(MissingInput) as err:
        build_omop(con, META)
    msg = str(err.value)
    assert "stg_bb_specimen" in msg and "stg_opdto lacks column(s) ['visit_key']" in msg
    assert "source_to_standard" in msg


def test_output_columns_follow_the_cdm():
    con = connect_case("lab_fee_routing")
    build_omop(con, META)
    for table in list(TABLE_MAPPINGS) + ["cdm_source"]:
        described = con.execute(f"DESCRIBE {table}").fetchall()
        assert [r[0] for r in described] == CDM.table(table).field_names, table
        for name, typ, *_ in described:
            if CDM.table(table).field(name).base_type == "integer":
                assert typ == "BIGINT", (table, name)


def test_insert_mode_fills_ddl_tables():
    from connectors.warehouse.ddl import create_table

    con = connect_case("split_admission")
    for table in list(TABLE_MAPPINGS) + ["cdm_source"]:
        con.execute(create_table(table, "duckdb"))
    result = build_omop(con, META, mode="insert")
    assert con.execute("SELECT count(*) FROM visit_detail").fetchone()[0] == result.rows["visit_detail"] == 3
    build_omop(con, META, mode="insert", tables=["cdm_source"])
    assert con.execute("SELECT count(*) FROM cdm_source").fetchone()[0] == 1


def test_insert_mode_needs_existing_tables():
    con = connect_case("outpatient_three_diagnoses")
    with pytest.raises(duckdb.CatalogException):
        build_omop(con, META, mode="insert")


def test_cdm_source_row():
    con = connect_case("outpatient_three_diagnoses")
    build_omop(con, META)
    row = con.execute(
        "SELECT cdm_version, cdm_version_concept_id, vocabulary_version, source_release_date, cdm_release_date, "
        "cdm_etl_reference FROM cdm_source"
    ).fetchall()
    assert [tuple(map(str, r)) for r in row] == [
        ("v5.4", "756265", "v5.0 FIXTURE 01-JAN-24", "2024-01-31", "2024-02-15", "test")
    ]


def test_code_usage_table():
    _, result = build_and_render("one_to_many_maps_to")
    cu = result.code_usage
    assert cu.column_names == [
        "source_table", "source_column_group", "vocabulary_id", "source_code",
        "source_concept_id", "target_concept_id", "n_records",
    ]
    assert cu.to_pylist() == [
        {"source_table": "opdte", "source_column_group": "ICD9CM_n", "vocabulary_id": "ICD10CM",
         "source_code": "I25.10", "source_concept_id": 900006, "target_concept_id": t, "n_records": 1}
        for t in (317576, 900900)
    ]


def test_staging_contract_columns_exist_for_every_file_type():
    con = connect_case("outpatient_three_diagnoses")
    for ft in layout.FILE_TYPES:
        cols = [r[0] for r in con.execute(f"DESCRIBE stg_{ft.key}").fetchall()]
        assert cols[: len(layout.staging_columns(ft))] == [c for c, _ in layout.staging_columns(ft)]


def test_unknown_table_rejected():
    con = connect_case("outpatient_three_diagnoses")
    with pytest.raises(ValueError, match="note"):
        build_omop(con, META, tables=["note"])


def test_standalone_selects_equal_built_tables():
    """Each mapping SELECT run on its own (inline shared relations) gives the built table's rows."""
    from mappings.omop_cdm_v54.codes import register_macros

    con = connect_case("split_admission")
    build_omop(con, META)
    register_macros(con)
    for table, mappings in TABLE_MAPPINGS.items():
        standalone = []
        for m in mappings:
            standalone += con.execute(m()).fetchall()
        built = con.execute(f"SELECT * FROM {table}").fetchall()
        assert sorted(standalone, key=repr) == sorted(built, key=repr), table


def test_result_to_dict_and_meta_mapping():
    import json

    con = connect_case("outpatient_three_diagnoses")
    result = build_omop(con, {**META, "run_id": "r1"})
    d = json.loads(json.dumps(result.to_dict()))
    assert d["rows_out"]["condition_occurrence"] == 3 and d["lineage_counts"]["opdte"] == 1
    assert d["code_usage_rows"] == 3 and d["unused_rows"]["enrol"] == 0
    with pytest.raises(ValueError, match="source_release_date"):
        build_omop(con, {"cdm_release_date": "2024-01-01"})
