"""table_checksums: order-independent content checksums of DuckDB tables."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.warehouse.checksums import table_checksums

ROW = st.tuples(st.integers(-(2**40), 2**40), st.one_of(st.none(), st.text(max_size=8)),
                st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1))))


def write_db(path: Path, tables: dict[str, list[tuple]]) -> Path:
    with duckdb.connect(str(path)) as con:
        for name, rows in tables.items():
            con.execute(f'CREATE OR REPLACE TABLE "{name}" (id BIGINT, label VARCHAR, day DATE)')
            if rows:
                ids, labels, days = zip(*rows)
                data = pa.table({"id": pa.array(ids, pa.int64()), "label": pa.array(labels, pa.string()),  # noqa: F841
                                 "day": pa.array(days, pa.date32())})
                con.execute(f'INSERT INTO "{name}" SELECT * FROM data')
    return path


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(ROW, min_size=1, max_size=20), data=st.data())
def test_row_order_does_not_matter_and_a_changed_doubled_or_missing_row_does(rows, data):
    i = data.draw(st.integers(0, len(rows) - 1))
    changed_row = data.draw(ROW.filter(lambda r: r != rows[i]))
    variants = {
        "base": rows,
        "shuffled": data.draw(st.permutations(rows)),
        "doubled": rows + [rows[i]],
        "missing": rows[:i] + rows[i + 1:],
        "changed": rows[:i] + [changed_row] + rows[i + 1:],
    }
    with tempfile.TemporaryDirectory() as tmp:
        sums = table_checksums(write_db(Path(tmp) / "x.duckdb", variants))
    base = sums["base"]
    assert base["rows"] == len(rows)
    assert sums["shuffled"] == base
    assert sums["doubled"]["rows"] == len(rows) + 1 and sums["doubled"]["checksum"] != base["checksum"]
    assert sums["missing"]["rows"] == len(rows) - 1 and sums["missing"]["checksum"] != base["checksum"]
    assert sums["changed"]["rows"] == len(rows) and sums["changed"]["checksum"] != base["checksum"]


def test_one_field_changes_the_checksum(tmp_path):
    rows = [(1, "a", dt.date(2020, 1, 1)), (2, None, None)]
    others = ([(1, "b", dt.date(2020, 1, 1)), rows[1]], [(1, "a", dt.date(2020, 1, 2)), rows[1]],
              [rows[0], (2, "", None)], [rows[0], (2, "NULL", None)], [rows[0], (3, None, None)],
              [(1, "x", None), (2, "y", None)], [(1, "y", None), (2, "x", None)])  # the last two: values swapped
    tables = {"base": rows, **{f"o{k}": o for k, o in enumerate(others)}}
    sums = table_checksums(write_db(tmp_path / "x.duckdb", tables))
    assert len({s["checksum"] for s in sums.values()}) == len(tables)


def test_empty_table_and_every_base_table_by_default(tmp_path):
    db = write_db(tmp_path / "x.duckdb", {"b": [(1, "a", None)], "a": []})
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE VIEW v AS SELECT * FROM b")
        con.execute("CREATE SCHEMA other")
        con.execute("CREATE TABLE other.c AS SELECT * FROM b")
    sums = table_checksums(db)
    assert list(sums) == ["a", "b"]  # base tables of main only, sorted
    assert sums["a"] == {"rows": 0, "checksum": "0"}
    assert sums["b"]["rows"] == 1 and isinstance(sums["b"]["checksum"], str)
    int(sums["b"]["checksum"], 16)


def test_same_content_in_another_file_gives_the_same_checksum(tmp_path):
    rows = [(i, f"r{i}", dt.date(2000, 1, 1) + dt.timedelta(days=i)) for i in range(500)]
    one = table_checksums(write_db(tmp_path / "one.duckdb", {"t": rows}))
    two = table_checksums(write_db(tmp_path / "two.duckdb", {"t": list(reversed(rows))}))
    assert one == two


def test_exclude_columns(tmp_path):
    a = write_db(tmp_path / "a.duckdb", {"t": [(1, "run-1", None), (2, "run-1", None)], "u": [(1, "x", None)]})
    b = write_db(tmp_path / "b.duckdb", {"t": [(1, "run-2", None), (2, "run-2", None)], "u": [(1, "x", None)]})
    assert table_checksums(a)["t"] != table_checksums(b)["t"]
    ex = {"t": ["label"]}
    sa, sb = table_checksums(a, exclude_columns=ex), table_checksums(b, exclude_columns=ex)
    assert sa == sb and sa["t"]["rows"] == 2
    assert sa["u"] == table_checksums(a)["u"]  # other tables untouched
    c = write_db(tmp_path / "c.duckdb", {"t": [(1, "run-3", None), (3, "run-3", None)]})
    assert table_checksums(c, exclude_columns=ex)["t"] != sa["t"]  # the other columns still count
    assert table_checksums(a, exclude_columns={"t": ("label", "day")}) != sa  # any iterable of columns


def test_tables_filter(tmp_path):
    db = write_db(tmp_path / "x.duckdb", {"a": [(1, "a", None)], "b": [(2, "b", None)], "c": []})
    full = table_checksums(db)
    assert table_checksums(db, tables=["c", "a"]) == {"a": full["a"], "c": full["c"]}
    assert list(table_checksums(db, tables=["c", "a"])) == ["a", "c"]
    assert table_checksums(db, tables=iter(["b"])) == {"b": full["b"]}
    assert table_checksums(db, tables=[]) == {}
    with pytest.raises(duckdb.CatalogException):
        table_checksums(db, tables=["missing"])


def test_opens_read_only(tmp_path):
    db = write_db(tmp_path / "x.duckdb", {"t": [(1, "a", None)]})
    before = db.stat().st_mtime_ns
    table_checksums(str(db))
    assert db.stat().st_mtime_ns == before
    assert not Path(str(db) + ".wal").exists()
