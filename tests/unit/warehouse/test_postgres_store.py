"""PostgresWarehouse against the PostgreSQL service: full schema, copy from DuckDB, round trip."""

from __future__ import annotations

import datetime as dt

import psycopg
import pyarrow as pa
import pytest

from connectors.warehouse import Warehouse, WarehouseLoadError, constraints, copy_warehouse, indexes, open_warehouse
from connectors.warehouse.postgres_store import PostgresWarehouse
from terminology.omop_cdm import CDM, arrow_schema

pytestmark = pytest.mark.services

BIG = (1 << 60) - 7

PERSON = pa.table(
    {
        "person_id": [BIG, 2, 3],
        "gender_concept_id": [8507, 8532, 8532],
        "year_of_birth": [1948, 1972, 2001],
        "month_of_birth": [3, None, 12],
        "birth_datetime": [dt.datetime(1948, 3, 1, 23, 59, 58, 123456), None, dt.datetime(2001, 12, 31)],
        "race_concept_id": [0, 0, 0],
        "ethnicity_concept_id": [0, 0, 0],
        "person_source_value": ["許功蓋", "Jyväskylä-ö", ""],  # '' must stay '' (not NULL)
        "gender_source_value": ['a "quoted", comma', "line\nbreak", None],
        "race_source_value": ["back\\slash", "pipe|育", None],
    },
    schema=pa.schema([arrow_schema("person").field(n) for n in
                      ["person_id", "gender_concept_id", "year_of_birth", "month_of_birth", "birth_datetime",
                       "race_concept_id", "ethnicity_concept_id", "person_source_value", "gender_source_value",
                       "race_source_value"]]),
)  # fmt: skip

VISITS = pa.table(
    {
        "visit_occurrence_id": [BIG - 1, 11, 12, 13, 14],
        "person_id": [BIG, BIG, 2, 3, 3],
        "visit_concept_id": [9202, 9201, 9203, 9202, 581458],
        "visit_start_date": [dt.date(2014, 1, 2), dt.date(2015, 6, 30), dt.date(1999, 12, 31), dt.date(2016, 2, 29), dt.date(2020, 1, 1)],
        "visit_end_date": [dt.date(2014, 1, 2), dt.date(2015, 7, 4), dt.date(2000, 1, 1), dt.date(2016, 2, 29), dt.date(2020, 1, 1)],
        "visit_type_concept_id": [32810, 32810, 32817, 32810, 32869],
        "care_site_id": [None, 5, None, None, None],
        "visit_source_value": ["門診", "住院", "päivystys", None, "藥局"],
    }
)  # fmt: skip


@pytest.fixture(scope="module")
def loaded(postgres_url, tmp_path_factory):
    """A DuckDB warehouse with person + visit_occurrence copied into the test PostgreSQL schema."""
    duck_path = tmp_path_factory.mktemp("pgcopy") / "omop.duckdb"
    with open_warehouse(f"duckdb:{duck_path}") as src, open_warehouse(postgres_url) as dst:
        src.create_schema()
        src.replace_table("person", PERSON)
        src.replace_table("visit_occurrence", VISITS)
        dst.create_schema()
        copied = copy_warehouse(src, dst, ["person", "visit_occurrence"], batch_rows=2)
        yield src, dst, copied


def test_full_schema_created(loaded):
    _, pg, _ = loaded
    assert isinstance(pg, Warehouse) and isinstance(pg, PostgresWarehouse)
    assert pg.existing_tables() == list(CDM.tables)
    cols = pg.query(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = 'person' ORDER BY ordinal_position",
        [pg.schema],
    ).to_pylist()
    assert [c["column_name"] for c in cols] == CDM.tables["person"].field_names
    assert cols[0] == {"column_name": "person_id", "data_type": "bigint", "is_nullable": "NO"}
    pks = pg.query(
        "SELECT count(*) AS n FROM information_schema.table_constraints "
        "WHERE table_schema = %s AND constraint_type = 'PRIMARY KEY'",
        [pg.schema],
    ).column("n").to_pylist()
    assert pks == [sum(1 for t in CDM.tables.values() if t.primary_key)]


def test_counts_and_values_round_trip(loaded):
    duck, pg, copied = loaded
    assert copied == {"person": 3, "visit_occurrence": 5}
    counts = pg.row_counts()
    assert counts["person"] == 3 and counts["visit_occurrence"] == 5 and counts["death"] == 0
    for table, key in (("person", "person_id"), ("visit_occurrence", "visit_occurrence_id")):
        want = duck.query(f"SELECT * FROM {table} ORDER BY {key}")
        got = pg.query(f"SELECT * FROM {table} ORDER BY {key}")
        assert got.to_pylist() == want.to_pylist(), table
    row = pg.query("SELECT * FROM person WHERE person_id = %s", [BIG]).to_pylist()[0]
    assert row["person_source_value"] == "許功蓋"
    assert row["birth_datetime"] == dt.datetime(1948, 3, 1, 23, 59, 58, 123456)
    assert pg.query("SELECT count(*) AS n FROM person WHERE person_source_value = ''").column("n").to_pylist() == [1]
    assert pg.query("SELECT count(*) AS n FROM person WHERE gender_source_value IS NULL").column("n").to_pylist() == [1]


def test_copy_again_is_idempotent_and_reads_back(loaded, tmp_path):
    duck, pg, _ = loaded
    assert copy_warehouse(duck, pg, ["person", "visit_occurrence"], batch_rows=2) == {"person": 3, "visit_occurrence": 5}
    assert pg.row_counts(["person", "visit_occurrence"]) == {"person": 3, "visit_occurrence": 5}
    # and back: PostgreSQL -> DuckDB through COPY TO STDOUT
    batches = list(pg.read_batches("visit_occurrence", batch_rows=2))
    assert [b.num_rows for b in batches] == [2, 2, 1] and batches[0].schema == arrow_schema("visit_occurrence")
    with open_warehouse(str(tmp_path / "back.duckdb")) as back:
        copy_warehouse(pg, back, ["person", "visit_occurrence"])
        for table, key in (("person", "person_id"), ("visit_occurrence", "visit_occurrence_id")):
            assert back.query(f"SELECT * FROM {table} ORDER BY {key}").equals(
                duck.query(f"SELECT * FROM {table} ORDER BY {key}")
            ), table


def test_failed_replace_keeps_old_rows(loaded):
    _, pg, _ = loaded
    too_long = PERSON.set_column(7, "person_source_value", pa.array(["x" * 51, "a", "b"]))
    with pytest.raises(WarehouseLoadError, match="person: load into PostgreSQL failed: .*character varying\\(50\\)"):
        pg.replace_table("person", too_long)
    assert pg.row_counts(["person"]) == {"person": 3}


def test_constraints_and_indexes_apply_after_load(loaded, postgres_url):
    with open_warehouse(postgres_url) as pg:
        tables = ["person", "visit_occurrence"]
        for stmt in constraints("postgresql", tables, pg.schema) + indexes("postgresql", tables, pg.schema):
            pg.execute(stmt)
        for stmt in constraints("postgresql", tables, pg.schema):  # re-runnable
            pg.execute(stmt)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            pg.execute(
                "INSERT INTO visit_occurrence (visit_occurrence_id, person_id, visit_concept_id, visit_start_date, "
                "visit_end_date, visit_type_concept_id) VALUES (99, 424242, 9202, '2020-01-01', '2020-01-01', 32810)"
            )
        with pytest.raises(WarehouseLoadError, match="person: cannot truncate"):
            pg.replace_table("person", PERSON)
        assert pg.row_counts(["person"]) == {"person": 3}
        for stmt in constraints("postgresql", tables, pg.schema):
            name = stmt.split('DROP CONSTRAINT IF EXISTS ')[1].split(",")[0]
            pg.execute(stmt.split(" DROP CONSTRAINT")[0] + f" DROP CONSTRAINT {name}")


def _index_names(pg: PostgresWarehouse, table: str) -> set[str]:
    rows = pg.query("SELECT indexname FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                    [pg.schema, table]).column("indexname").to_pylist()
    return set(rows)


def test_secondary_indexes_are_dropped_for_the_copy_and_built_after_the_load(postgres_url):
    from connectors.warehouse.ddl import index_name

    with open_warehouse(postgres_url) as pg:
        pg.create_schema(["person", "visit_occurrence"])
        pg.replace_table("visit_occurrence", VISITS)
        built = pg.create_indexes(["visit_occurrence", "person"])
        wanted = {index_name("visit_occurrence", c) for c in ("person_id", "visit_concept_id")}
        assert wanted <= _index_names(pg, "visit_occurrence") and wanted <= set(built)
        pg.replace_table("visit_occurrence", VISITS)  # a reload: no row-by-row index upkeep during COPY
        left = _index_names(pg, "visit_occurrence")
        assert not (wanted & left), left
        assert any(n.endswith("_pkey") for n in left), "the primary key stays during the load"
        pg.create_indexes(["visit_occurrence"])
        assert wanted <= _index_names(pg, "visit_occurrence")
        assert pg.row_counts(["visit_occurrence"]) == {"visit_occurrence": len(VISITS)}
