"""Provenance ids, duplicate-key ranking and the build's shared relations (speed-oriented internals).

The build numbers staged rows as BIGINTs (``fi << 40 | _row_number``), ranks
repeated visit/order keys only where keys repeat, and materialises shared
relations once; these tests pin that each of these gives the same answers as
the plain definitions (distinct (table, file, row) triples, a full window,
the stand-alone mapping SELECTs).
"""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.omop_cdm_v54 import register_macros
from mappings.omop_cdm_v54.build import TABLE_MAPPINGS, build_omop
from mappings.omop_cdm_v54.events import ranked_sql
from mappings.omop_cdm_v54.provenance import NULL_ROW, ROW_BITS, ProvenanceRangeError, src_sql
from omop_golden import META, connect_case
from terminology.omop_cdm import CDM


def test_src_sql_packs_file_and_row():
    con = duckdb.connect()
    got = con.execute(f"SELECT {src_sql('3', '17')}, {src_sql('3', 'NULL')}, {src_sql('4', '17')}").fetchone()
    assert got == ((3 << ROW_BITS) | 17, (3 << ROW_BITS) | NULL_ROW, (4 << ROW_BITS) | 17)


def test_lineage_counts_same_row_number_in_two_files_and_null_file():
    con = connect_case("split_admission")
    # the same enrolment row again from another file and from an unnamed file: 3 distinct staged rows
    con.execute("INSERT INTO stg_enrol SELECT * REPLACE ('other/enrol.csv' AS _source_file) FROM stg_enrol")
    con.execute("INSERT INTO stg_enrol SELECT * REPLACE (NULL AS _source_file) FROM stg_enrol LIMIT 1")
    result = build_omop(con, META)
    assert result.staged_counts["enrol"] == 3
    assert result.lineage_counts == result.staged_counts  # enrolment rows all feed observation_period


def test_lineage_counts_a_null_row_number_once_per_file():
    con = connect_case("split_admission")
    con.execute("INSERT INTO stg_enrol SELECT * REPLACE (NULL AS _row_number) FROM stg_enrol")
    con.execute("INSERT INTO stg_enrol SELECT * REPLACE (NULL AS _row_number) FROM stg_enrol LIMIT 1")
    result = build_omop(con, META)
    assert result.staged_counts["enrol"] == 3
    # two rows share (table, file, NULL): one distinct staged row, as the {t, f, r} structs counted it
    assert result.lineage_counts["enrol"] == 2


@pytest.mark.parametrize("row_number", [-1, NULL_ROW])
def test_row_number_out_of_range_is_rejected(row_number):
    con = connect_case("split_admission")
    con.execute(f"UPDATE stg_enrol SET _row_number = {row_number}")
    with pytest.raises(ProvenanceRangeError, match="enrol"):
        build_omop(con, META)


_KEYS = st.one_of(st.none(), st.sampled_from(["A", "B", "C", "D"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_KEYS, st.one_of(st.none(), st.integers(1, 3))), max_size=25))
def test_ranked_sql_equals_full_window(rows):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k VARCHAR, s INTEGER, _source_file VARCHAR, _row_number BIGINT)")
    if rows:
        con.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)", [(k, s, f"f{i % 3}", i) for i, (k, s) in enumerate(rows)]
        )
    expected = con.execute(
        "SELECT _source_file, _row_number, row_number() OVER (PARTITION BY k, s ORDER BY _source_file, _row_number) "
        "FROM t ORDER BY ALL"
    ).fetchall()
    got = con.execute(
        f"SELECT _source_file, _row_number, rk FROM ({ranked_sql('SELECT * FROM t', ('k', 's'), 'rk')}) ORDER BY ALL"
    ).fetchall()
    assert got == expected


def _sorted_rows(con, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


@pytest.mark.parametrize("case", ["split_admission", "pharmacy_dispensing"])
def test_stand_alone_mappings_equal_the_build(case):
    """Every mapping SELECT run on its own (shared relations inlined) gives the rows the build wrote."""
    con = connect_case(case)
    build_omop(con, META)
    register_macros(con)
    for table, mappings in TABLE_MAPPINGS.items():
        alone = [r for m in mappings for r in con.execute(m()).fetchall()]
        assert sorted(alone, key=repr) == _sorted_rows(con, f"SELECT * FROM {table}"), (case, table)
        cols = len(CDM.table(table).field_names)
        with_prov = [r for m in mappings for r in con.execute(m(None, provenance=True)).fetchall()]
        assert sorted((r[:cols] for r in with_prov), key=repr) == sorted(alone, key=repr), (case, table)


def test_build_restores_insertion_order_setting_and_drops_temp_tables():
    con = connect_case("split_admission")
    before = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    for setting in (True, False):
        con.execute(f"SET preserve_insertion_order = {str(setting).lower()}")
        build_omop(con, META)
        assert con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is setting
    after = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert not {t for t in after - before if t.startswith("_cb_")}
