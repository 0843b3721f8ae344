"""DuckDBWarehouse: schema creation, atomic table replacement, reads."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.warehouse import Warehouse, WarehouseLoadError, copy_warehouse, open_warehouse
from connectors.warehouse.duckdb_store import DuckDBWarehouse
from terminology.omop_cdm import CDM, arrow_schema

BIG = (1 << 60) - 1  # person ids are 60-bit hashes


def persons(n: int = 5, offset: int = 0) -> pa.Table:
    ids = [BIG - i - offset for i in range(n)]
    return pa.table(
        {
            "person_id": ids,
            "gender_concept_id": pa.array([8507, 8532] * (n // 2) + [8507] * (n % 2), pa.int32()),
            "year_of_birth": [1950 + i for i in range(n)],
            "race_concept_id": [0] * n,
            "ethnicity_concept_id": [0] * n,
            "birth_datetime": [dt.datetime(1950 + i, 1, 2, 3, 4, 5) if i % 2 else None for i in range(n)],
            "person_source_value": [f"許功蓋-{i}" if i % 2 else f"Äänekoski-{i}" for i in range(n)],
        }
    )


@pytest.fixture
def wh(tmp_path):
    with open_warehouse(f"duckdb:{tmp_path / 'omop.duckdb'}") as w:
        w.create_schema()
        yield w


def test_create_schema_makes_every_table_idempotently(wh):
    assert isinstance(wh, Warehouse) and isinstance(wh, DuckDBWarehouse)
    wh.create_schema()
    assert wh.existing_tables() == list(CDM.tables)
    assert set(wh.row_counts().values()) == {0}
    cols = wh.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'visit_occurrence' ORDER BY ordinal_position"
    ).to_pylist()
    assert [c["column_name"] for c in cols] == CDM.tables["visit_occurrence"].field_names
    assert cols[0] == {"column_name": "visit_occurrence_id", "data_type": "BIGINT", "is_nullable": "NO"}


def test_primary_key_violation_raises(wh):
    wh.execute("INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) VALUES (1, 0, 1950, 0, 0)")
    with pytest.raises(Exception, match="(?i)primary key|duplicate"):
        wh.execute("INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, ethnicity_concept_id) VALUES (1, 0, 1951, 0, 0)")


def test_replace_from_arrow_twice_is_idempotent(wh):
    assert wh.replace_table("person", persons()) == 5
    assert wh.replace_table("person", persons()) == 5
    assert wh.row_counts(["person"]) == {"person": 5}
    got = wh.query("SELECT * FROM person ORDER BY person_id DESC")
    assert got.schema == arrow_schema("person")
    assert got.column("person_id").to_pylist()[0] == BIG
    assert got.column("person_source_value").to_pylist()[:2] == ["Äänekoski-0", "許功蓋-1"]
    assert got.column("month_of_birth").null_count == 5  # absent optional column loads as NULL


def test_replace_from_reader_in_small_batches(wh):
    reader = pa.RecordBatchReader.from_batches(persons(7).schema, persons(7).to_batches())
    assert wh.replace_table("person", reader, batch_rows=2) == 7
    assert wh.row_counts(["person"])["person"] == 7


def test_replace_from_parquet_file_glob_and_directory(wh, tmp_path):
    parts = tmp_path / "person"
    parts.mkdir()
    pq.write_table(persons(3), parts / "part-0.parquet")
    pq.write_table(persons(4, offset=3), parts / "part-1.parquet")
    for source in (parts / "part-0.parquet", str(parts / "*.parquet"), parts, str(parts / "*.parquet")):
        n = wh.replace_table("person", source)
        assert wh.row_counts(["person"])["person"] == n
    assert n == 7
    assert wh.query("SELECT count(DISTINCT person_id) AS n FROM person").column("n").to_pylist() == [7]


def test_failed_replace_keeps_old_rows(wh):
    wh.replace_table("person", persons(3))
    dup = pa.concat_tables([persons(2), persons(2)])
    with pytest.raises(WarehouseLoadError, match="person: .*(?i:primary key|duplicate)"):
        wh.replace_table("person", dup)
    assert wh.row_counts(["person"])["person"] == 3
    null_required = persons(2).set_column(2, "year_of_birth", pa.array([None, 1950], pa.int64()))
    with pytest.raises(WarehouseLoadError, match="person"):
        wh.replace_table("person", null_required)
    assert wh.row_counts(["person"])["person"] == 3


def test_bad_inputs_name_table_and_field(wh, tmp_path):
    with pytest.raises(WarehouseLoadError, match=r"person: input lacks required fields \['year_of_birth'\]"):
        wh.replace_table("person", persons().drop_columns(["year_of_birth"]))
    with pytest.raises(WarehouseLoadError, match=r"not CDM fields: \['nickname'\]"):
        wh.replace_table("person", persons().append_column("nickname", pa.array(["x"] * 5)))
    bad = persons().set_column(2, "year_of_birth", pa.array(["1950", "x", "1952", "1953", "1954"]))
    with pytest.raises(WarehouseLoadError, match=r"person\.year_of_birth: cannot convert string to int64"):
        wh.replace_table("person", bad)
    with pytest.raises(WarehouseLoadError, match="matches no files"):
        wh.replace_table("person", str(tmp_path / "nothing" / "*.parquet"))
    with pytest.raises(KeyError, match="persons"):
        wh.replace_table("persons", persons())


def test_read_batches_and_copy_between_duckdb_files(wh, tmp_path):
    wh.replace_table("person", persons(9))
    batches = list(wh.read_batches("person", batch_rows=4))
    assert [b.num_rows for b in batches] == [4, 4, 1]
    assert batches[0].schema == arrow_schema("person")
    with open_warehouse(str(tmp_path / "copy.duckdb")) as dst:
        assert copy_warehouse(wh, dst, batch_rows=4) == {t: (9 if t == "person" else 0) for t in CDM.tables}
        assert dst.query("SELECT * FROM person ORDER BY person_id").equals(
            wh.query("SELECT * FROM person ORDER BY person_id")
        )


def test_connection_is_exposed_for_in_database_mapping(wh):
    wh.replace_table("person", persons(4))
    wh.connection.execute(
        "INSERT INTO observation_period SELECT person_id, person_id, DATE '2020-01-01', DATE '2020-12-31', 32810 FROM person"
    )
    assert wh.row_counts(["person", "observation_period"]) == {"person": 4, "observation_period": 4}
    assert wh.query("SELECT ? + 1 AS x", [41]).to_pylist() == [{"x": 42}]


def test_replace_from_database_copies_inside_duckdb_atomically(wh, tmp_path):
    src_path = tmp_path / "work.duckdb"
    with open_warehouse(f"duckdb:{src_path}") as src:
        src.create_schema(["person"])
        src.replace_table("person", persons(4))
    wh.replace_table("person", persons(2, offset=100))  # old content, replaced whole
    assert wh.replace_from_database(src_path, ["person"]) == {"person": 4}
    assert sorted(wh.query("SELECT person_id FROM person").column(0).to_pylist()) == sorted(
        persons(4).column("person_id").to_pylist())
    with pytest.raises(WarehouseLoadError):  # a missing source column that is required: old rows stay
        import duckdb

        con = duckdb.connect(str(src_path))
        con.execute("ALTER TABLE person DROP COLUMN year_of_birth")
        con.close()
        wh.replace_from_database(src_path, ["person"])
    assert wh.row_counts(["person"]) == {"person": 4}
