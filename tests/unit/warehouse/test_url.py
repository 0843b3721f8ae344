"""Warehouse URL parsing and redaction."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.warehouse import InvalidWarehouseUrl, open_warehouse, parse_warehouse_url
from connectors.warehouse.duckdb_store import DuckDBWarehouse


def test_duckdb_forms():
    assert parse_warehouse_url("duckdb:/data/omop.duckdb").target == "/data/omop.duckdb"
    assert parse_warehouse_url("duckdb:///data/omop.db").target == "/data/omop.db"
    assert parse_warehouse_url("rel/omop.duckdb").dialect == "duckdb"
    u = parse_warehouse_url("duckdb::memory:?schema=cdm")
    assert (u.target, u.schema) == (":memory:", "cdm")


def test_postgres_forms():
    u = parse_warehouse_url("postgresql://etl@db:5432/omop?schema=cdm&sslmode=require")
    assert u.dialect == "postgresql" and u.schema == "cdm"
    assert u.target == "postgresql://etl@db:5432/omop?sslmode=require"
    assert parse_warehouse_url("postgres://etl@db/omop").target == "postgresql://etl@db/omop"


@pytest.mark.parametrize(
    "url", ["", "mysql://x/y", "omop.sqlite", "duckdb:", "duckdb:x.duckdb?mode=ro", "postgresql://h/db?schema=a;drop"]
)
def test_rejected(url):
    with pytest.raises(InvalidWarehouseUrl):
        parse_warehouse_url(url)


@given(
    password=st.text(alphabet=st.characters(codec="ascii", categories=["L", "N"]), min_size=4, max_size=20),
    schema=st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
)
def test_password_never_in_redacted_url(password, schema):
    u = parse_warehouse_url(f"postgresql://etl:{password}@db.example:5432/omop?schema={schema}")
    assert u.schema == schema
    assert password not in u.redacted().replace("etl", "").replace("db.example", "").replace("omop", "")
    assert u.redacted().startswith("postgresql://etl:***@db.example:5432/omop")


def test_open_duckdb_with_schema(tmp_path):
    with open_warehouse(f"duckdb:{tmp_path / 'w.duckdb'}?schema=cdm") as wh:
        assert isinstance(wh, DuckDBWarehouse)
        wh.create_schema(["person"])
        assert wh.existing_tables() == ["person"]
        assert wh.query("SELECT count(*) AS n FROM person").column("n").to_pylist() == [0]
        assert wh.url.endswith("w.duckdb?schema=cdm")
