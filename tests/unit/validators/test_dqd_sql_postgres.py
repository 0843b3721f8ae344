"""validators.dqd.sql on PostgreSQL: the same hand-computed cases as on DuckDB.

Each case runs in its own transaction (tables in the module's schema and a
vocabulary schema beside it) that is rolled back afterwards; the module's schema
is dropped by the ``postgres_url`` fixture.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import psycopg
import pytest
from dqd_sql_cases import cases, materialise

from validators.dqd.spec import CheckSpec
from validators.dqd.sql import check_sql, table_columns_sql

pytestmark = pytest.mark.services

#: The brief's representative subset is covered by running every case; these must be present.
REQUIRED = {"isRequired", "isForeignKey.person", "isForeignKey.concept", "fkDomain", "plausibleAfterBirth",
            "plausibleDuringLife", "withinVisitDates", "measureObservationPeriodOverlap",
            "plausibleGenderUseDescendants", "plausibleValueHigh.today", "plausibleValueHigh.year"}  # fmt: skip


@dataclass(frozen=True)
class Pg:
    conn: psycopg.Connection
    schema: str  # the module's fresh schema (created and dropped by postgres_url)

    def execute(self, sql: str):
        return self.conn.execute(sql)

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self.conn.cursor().executemany(sql, rows)

    def rollback(self) -> None:
        self.conn.rollback()


@pytest.fixture(scope="module")
def pg(postgres_url):
    base, _, schema = postgres_url.partition("?schema=")
    conn = psycopg.connect(base, connect_timeout=5)  # not autocommit: every case is rolled back
    try:
        yield Pg(conn, schema)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pg_cases(pg):
    (today,) = pg.execute("SELECT CURRENT_DATE").fetchone()
    pg.rollback()
    return {c.id: c for c in cases(today)}


def _run(pg, spec: CheckSpec, vocab: str) -> tuple[int, int]:
    cur = pg.execute(check_sql(spec, "postgresql", cdm_schema=pg.schema, vocab_schema=vocab))
    assert [d.name for d in cur.description] == ["num_violated_rows", "num_denominator_rows"]
    assert [d.type_code for d in cur.description] == [20, 20]  # int8 (BIGINT)
    rows = cur.fetchall()
    assert len(rows) == 1
    return rows[0]


def test_required_subset_is_present(pg_cases):
    assert REQUIRED <= set(pg_cases)


@pytest.mark.parametrize("case_id", [c.id for c in cases(dt.date(2000, 1, 1))])  # ids only; data uses the server date
def test_check_counts_on_postgresql(pg, pg_cases, case_id):
    case = pg_cases[case_id]
    vocab = f"{pg.schema}_vocab"
    try:
        pg.execute(f'CREATE SCHEMA "{vocab}"')
        load = materialise(pg.execute, pg.executemany, case, "postgresql", pg.schema, vocab, "%s")
        load(case.good)
        assert _run(pg, case.spec, vocab) == (0, case.good_denominator), "passing rows only"
        load(case.bad)
        assert _run(pg, case.spec, vocab) == case.expected, "with violating rows"
    finally:
        pg.rollback()


def test_table_columns_on_postgresql(pg):
    try:
        pg.execute(f'CREATE TABLE "{pg.schema}"."Death" ("PERSON_ID" BIGINT, "death_date" DATE)')
        rows = pg.execute(table_columns_sql("postgresql", pg.schema)).fetchall()
        assert rows == [("death", "person_id"), ("death", "death_date")]
    finally:
        pg.rollback()
