"""DDL generation from the CDM declaration."""

from __future__ import annotations

import re

import duckdb
import pytest

from connectors.warehouse.ddl import UnsupportedDialect, constraints, create_table, ddl, indexes
from terminology.omop_cdm import CDM


@pytest.mark.parametrize("dialect", ["duckdb", "postgresql"])
def test_one_statement_per_table_with_all_columns(dialect):
    stmts = ddl(dialect)
    assert len(stmts) == len(CDM.tables)
    for stmt, table in zip(stmts, CDM.tables.values()):
        assert stmt.startswith(f'CREATE TABLE IF NOT EXISTS "{table.name}" (')
        for f in table.fields:
            assert re.search(rf'^  "{f.name}" ', stmt, re.M), (table.name, f.name)
        assert stmt.count("NOT NULL") == len(table.required_fields)
        if table.primary_key:
            assert f'PRIMARY KEY ("{table.primary_key[0]}")' in stmt
        else:
            assert "PRIMARY KEY" not in stmt


def test_types_per_dialect():
    pg = create_table("person", "postgresql", schema="cdm")
    duck = create_table("person", "duckdb")
    assert pg.startswith('CREATE TABLE IF NOT EXISTS "cdm"."person"')
    assert '"person_id" BIGINT NOT NULL' in pg and '"gender_concept_id" BIGINT NOT NULL' in pg
    assert '"person_source_value" VARCHAR(50)' in pg and '"person_source_value" VARCHAR' in duck
    assert '"birth_datetime" TIMESTAMP' in pg
    assert '"value_as_number" DOUBLE PRECISION' in create_table("measurement", "postgresql")
    assert '"value_as_number" DOUBLE,' in create_table("measurement", "duckdb")
    assert '"note_text" TEXT NOT NULL' in create_table("note", "postgresql")
    assert "INTEGER" not in " ".join(ddl("postgresql"))  # integers are BIGINT throughout


def test_duckdb_accepts_every_statement_twice():
    con = duckdb.connect()
    for _ in range(2):
        for stmt in ddl("duckdb"):
            con.execute(stmt)
    assert len(con.execute("SHOW TABLES").fetchall()) == len(CDM.tables)


def test_constraints_are_postgres_only_and_well_named():
    stmts = constraints("postgresql", schema="cdm")
    assert len(stmts) == sum(len(t.foreign_keys) for t in CDM.tables.values())
    names = [re.search(r'ADD CONSTRAINT "([^"]+)"', s).group(1) for s in stmts]
    assert len(set(names)) == len(names) and max(map(len, names)) <= 63
    assert any('REFERENCES "cdm"."concept" ("concept_id")' in s for s in stmts)
    # only foreign keys between the chosen tables
    subset = constraints("postgresql", ["person", "visit_occurrence"])
    assert subset and all('REFERENCES "person"' in s or 'REFERENCES "visit_occurrence"' in s for s in subset)
    with pytest.raises(UnsupportedDialect):
        constraints("duckdb")


def test_indexes():
    stmts = indexes("postgresql")
    assert 'CREATE INDEX IF NOT EXISTS "idx_condition_occurrence_person_id" ON "condition_occurrence" ("person_id")' in stmts
    assert any('"drug_exposure" ("drug_concept_id")' in s for s in stmts)
    names = [re.search(r'INDEX IF NOT EXISTS "([^"]+)"', s).group(1) for s in stmts]
    assert len(set(names)) == len(names)
    assert indexes("duckdb") == []


def test_bad_arguments():
    with pytest.raises(UnsupportedDialect, match="mysql"):
        ddl("mysql")
    with pytest.raises(KeyError, match="persons"):
        ddl("duckdb", ["persons"])
    with pytest.raises(TypeError):
        ddl("duckdb", "person")
