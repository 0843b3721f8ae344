"""Consolidation that writes the person partitions itself (connectors.partitioning.TableWriter).

The reference is the former two-pass way: consolidate into whole tables, then
``partition_staging`` them.  Writing the partitions while consolidating must give, per table and
partition, exactly the same rows, and the same consolidation and partition reports.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from test_person_partitioning import FT, FTS, key_in, staging_cases, table_columns, write_table

from connectors.layout import Link
from connectors.partitioning import (
    PARTITION_COLUMN,
    PartitionInvariantError,
    TableWriter,
    partition_staging,
)

SECRET = "partition-secret"


def _rows(folder: Path, pattern: str) -> list[tuple]:
    """Every row of the Parquet files under ``folder`` matching ``pattern``, sorted (no partition column)."""
    if not folder.exists() or not list(folder.glob(pattern)):
        return []
    with duckdb.connect() as con:
        t = con.sql(f"SELECT * FROM read_parquet('{folder}/{pattern}', hive_partitioning = false)").arrow()
    if isinstance(t, pa.RecordBatchReader):
        t = t.read_all()
    return sorted((tuple(r.values()) for r in t.to_pylist()), key=repr)


def _partition_rows(root: Path, table: str, n: int) -> list[list[tuple]]:
    return [_rows(root / table / f"{PARTITION_COLUMN}={k}", "*.parquet") for k in range(n)]


# --------------------------------------------------------------------------- the writer alone


def _write_through(con, tables: Path, out: Path, fts, n: int) -> TableWriter:
    """Write the tables of ``tables`` again through a TableWriter (parents first, as placement orders them)."""
    writer = TableWriter(out, n, fts, table_columns)
    writer.present = {ft.key for ft in fts if (tables / ft.key).exists()}
    for table in writer.plan:
        if table in writer.present:
            writer.write(con, table, f"SELECT * FROM read_parquet('{tables / table}/*.parquet')")
    return writer


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=staging_cases())
def test_writer_places_rows_as_partition_staging_does(case):
    visits, orders, n = case
    with tempfile.TemporaryDirectory() as tmp:
        tables, ref, out = Path(tmp) / "tables", Path(tmp) / "ref", Path(tmp) / "out"
        write_table(tables, "visit", {"person_key": [p for p, _ in visits], "visit_id": [v for _, v in visits]})
        write_table(tables, "order_line", {"visit_id": [v for v, _ in orders], "seq": [s for _, s in orders]})
        write_table(tables, "master", {"code": ["a", "b"], "label": ["A", "B"]})
        expected = partition_staging(tables, ref, FTS, table_columns, n)
        with duckdb.connect() as con:
            writer = _write_through(con, tables, out, FTS, n)
        assert writer.finish().to_dict() == expected.to_dict()
        for table in ("visit", "order_line"):
            assert _partition_rows(out, table, n) == _partition_rows(ref, table, n), table
            assert _rows(out / table, "**/*.parquet") == _rows(tables / table, "*.parquet")  # the whole table
        assert _rows(out / "master", "*.parquet") == _rows(tables / "master", "*.parquet")
        assert [p.name for p in (out / "master").iterdir()] == ["part-0.parquet"]  # replicated: one file


def test_one_partition_writes_one_file_per_table(tmp_path):
    write_table(tmp_path / "tables", "visit", {"person_key": [key_in(1), key_in(2)], "visit_id": ["V1", "V2"]})
    with duckdb.connect() as con:
        writer = TableWriter(tmp_path / "out", 1)
        assert writer.write(con, "visit", f"SELECT * FROM read_parquet('{tmp_path}/tables/visit/*.parquet')") == 2
        assert writer.partition_sql("person_key") == "0"
        # a query that comes placed: its partition column is not written
        assert writer.write(con, "order_line", "SELECT 'V1' AS visit_id, '1' AS seq, 0 AS _part", placed=True) == 1
    assert writer.finish() is None
    assert [p.name for p in (tmp_path / "out" / "visit").iterdir()] == ["part-0.parquet"]
    assert pq.read_table(tmp_path / "out" / "order_line" / "part-0.parquet").column_names == ["visit_id", "seq"]


def test_a_table_without_rows_is_one_empty_file_with_its_columns(tmp_path):
    with duckdb.connect() as con:
        writer = TableWriter(tmp_path, 3, FTS, table_columns)
        writer.present = {"visit", "order_line"}
        writer.write(con, "visit", "SELECT 'k' AS person_key, 'V' AS visit_id WHERE false")
        writer.write(con, "order_line", "SELECT 'V' AS visit_id, '1' AS seq")
        report = writer.finish().to_dict()
    assert pq.read_table(tmp_path / "visit" / "part-0.parquet").num_rows == 0
    assert pq.read_table(tmp_path / "visit" / "part-0.parquet").column_names == ["person_key", "visit_id"]
    assert report["tables"]["visit"] == {"placement": "person", "rows": 0, "rows_per_partition": [0, 0, 0]}
    # no parent rows: the child goes to partition 0, as partition_staging places it
    assert report["tables"]["order_line"]["rows_per_partition"] == [1, 0, 0]
    assert report["tables"]["master"] == {"placement": "replicated", "rows": 0}  # not written: reported empty


def test_a_child_before_its_parent_is_refused(tmp_path):
    with duckdb.connect() as con:
        writer = TableWriter(tmp_path, 2, FTS, table_columns)
        writer.present = {"visit", "order_line"}
        with pytest.raises(ValueError, match="write parents first"):
            writer.write(con, "order_line", "SELECT 'V' AS visit_id, '1' AS seq")
        writer.present = {"order_line"}  # no visit rows staged at all: orders go to partition 0
        writer.write(con, "order_line", "SELECT 'V' AS visit_id, '1' AS seq")
        assert writer.report.tables["order_line"]["rows_per_partition"] == [1, 0]


def test_misuse_is_refused(tmp_path):
    with duckdb.connect() as con:
        writer = TableWriter(tmp_path, 2, FTS, table_columns)
        writer.present = {"visit"}
        with pytest.raises(ValueError, match="not one of the file types"):
            writer.write(con, "stray", "SELECT 1 AS x")
        with pytest.raises(ValueError, match="placed by person"):
            writer.write(con, "visit", f"SELECT '{key_in(1)}' AS person_key, 'V' AS visit_id, 1 AS _part",
                         placed=True)
        writer.write(con, "visit", f"SELECT '{key_in(1)}' AS person_key, 'V' AS visit_id")
        with pytest.raises(ValueError, match="already written"):
            writer.write(con, "visit", f"SELECT '{key_in(1)}' AS person_key, 'V' AS visit_id")
    with pytest.raises(ValueError, match="table_columns"):
        TableWriter(tmp_path, 2, FTS)
    with pytest.raises(ValueError, match=">= 1"):
        TableWriter(tmp_path, 0)


def test_a_placed_child_keeps_the_callers_partition_and_null_goes_to_zero(tmp_path):
    fts = [FT("claim", ("person_key", "c")), FT("item", ("c", "i"), (Link("claim", ("c",)),))]
    with duckdb.connect() as con:
        writer = TableWriter(tmp_path, 4, fts, table_columns)
        writer.present = {"claim", "item"}
        writer.write(con, "claim", f"SELECT '{key_in(2)}' AS person_key, 'C' AS c")
        writer.write(con, "item", "SELECT * FROM (VALUES ('C', '1', 2), ('X', '2', NULL)) t(c, i, _part)", placed=True)
        assert writer.report.tables["item"]["rows_per_partition"] == [1, 0, 1, 0]


def test_rows_lost_between_writing_and_counting_are_detected(tmp_path, monkeypatch):
    real = duckdb.DuckDBPyConnection.execute

    class Lossy:
        """A connection whose COPY claims one row more than it wrote."""

        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            result = real(self.con, sql, *args)
            if sql.startswith("COPY") and "PARTITION_BY" in sql:
                n = result.fetchall()[0][0]
                return real(self.con, f"SELECT {n + 1}")
            return result

    with duckdb.connect() as con:
        writer = TableWriter(tmp_path, 2, FTS, table_columns)
        with pytest.raises(PartitionInvariantError, match="visit: 2 rows written but 1"):
            writer.write(Lossy(con), "visit", f"SELECT '{key_in(1)}' AS person_key, 'V' AS visit_id")


# --------------------------------------------------------------------------- the sites' consolidations


def _site(site: str):
    if site == "taiwan":
        from connectors.taiwan import layout
        from connectors.taiwan.consolidate import consolidate_taiwan as consolidate
        from connectors.taiwan.consolidate import table_columns as columns
        from connectors.taiwan.stage import stage_taiwan as stage
        from crossbridge.synth.taiwan import generate_taiwan

        def generate(out):
            generate_taiwan(out, persons=60, years=(2015, 2016), seed=11, encoding="utf-8", defect_rate=0.03)

        return layout.FILE_TYPES, consolidate, columns, lambda land, st: stage(land, st, SECRET, "utf-8", workers=1), \
            generate
    from connectors.finland import layout
    from connectors.finland.consolidate import consolidate_finland as consolidate
    from connectors.finland.consolidate import table_columns as columns
    from connectors.finland.stage import stage_finland as stage
    from crossbridge.synth.finland import generate_finland

    def generate(out):
        generate_finland(out, persons=150, years=(2018, 2019), seed=11, defect_rate=0.03)

    return layout.FILE_TYPES, consolidate, columns, lambda land, st: stage(land, st, SECRET, workers=1), generate


@pytest.mark.parametrize("site", ["taiwan", "finland"])
def test_consolidation_writing_partitions_equals_consolidating_then_splitting(site, tmp_path):
    file_types, consolidate, columns, stage, generate = _site(site)
    landing, one, split = tmp_path / "landing", tmp_path / "one", tmp_path / "split"
    generate(landing)
    stage(landing, one)
    shutil.copytree(one / "raw", split / "raw")
    n = 3
    whole = consolidate(one, memory_limit="256MB", threads=1)
    expected = partition_staging(one / "tables", tmp_path / "ref", file_types, columns, n)
    fused = consolidate(split, memory_limit="256MB", threads=1, partitions=n)

    assert whole.partition is None
    assert fused.to_dict() == whole.to_dict()  # the same rows kept, quarantined and merged per type
    assert fused.partition.to_dict() == expected.to_dict()
    assert sum(e["rows"] for e in expected.tables.values()) > 1000  # a real extract, with defects
    assert list((one / "quarantine" / "consolidate").glob("*.parquet"))
    for folder in ("quarantine/consolidate", "merged"):  # (stage quarantine was not copied)
        assert {p.relative_to(split).as_posix(): _rows(p.parent, p.name) for p in (split / folder).rglob("*.parquet")} \
            == {p.relative_to(one).as_posix(): _rows(p.parent, p.name) for p in (one / folder).rglob("*.parquet")}
    for table, entry in expected.tables.items():
        if entry["placement"] == "replicated":
            assert _rows(split / "tables" / table, "*.parquet") == _rows(one / "tables" / table, "*.parquet")
            continue
        assert _partition_rows(split / "tables", table, n) == _partition_rows(tmp_path / "ref", table, n), table
        assert _rows(split / "tables" / table, "**/*.parquet") == _rows(one / "tables" / table, "*.parquet"), table
    placed = {e["placement"] for e in expected.tables.values()}
    assert {"person", "parent"} <= placed
