"""merge_partitions: person tables concatenated, shared tables de-duplicated, code_usage summed, lineage_rows."""

from __future__ import annotations

import random
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.warehouse.partition_merge import PartitionMergeError, merge_partitions

SCHEMAS = {
    "person": "person_id BIGINT, year_of_birth INTEGER",
    "condition_occurrence": "condition_occurrence_id BIGINT, person_id BIGINT, code VARCHAR",
    "location": "location_id BIGINT, city VARCHAR",
    "code_usage": ("source_table VARCHAR, source_column_group VARCHAR, vocabulary_id VARCHAR, source_code VARCHAR, "
                   "source_concept_id INTEGER, target_concept_id INTEGER, n_records BIGINT"),
    "lineage_rows": "t VARCHAR, source_file VARCHAR, row_number BIGINT",
}
TABLES = ["person", "condition_occurrence", "location"]
PERSON_TABLES = {"person", "condition_occurrence"}
ORDER_BY = {"person": "person_id", "condition_occurrence": "condition_occurrence_id", "location": "location_id"}


def make_part(path: Path, rows: dict[str, list[tuple]]) -> Path:
    """A partition database holding ``rows`` (table -> tuples in SCHEMAS order); a table not given is absent."""
    with duckdb.connect(str(path)) as con:
        for table, values in rows.items():
            con.execute(f"CREATE TABLE {table} ({SCHEMAS[table]})")
            if values:
                data = pa.table({f"c{i}": list(col) for i, col in enumerate(zip(*values))})  # noqa: F841
                con.execute(f"INSERT INTO {table} SELECT * FROM data")
    return path


def part_rows(person_ids, k: int, locations=((1, "Taipei"),)) -> dict[str, list[tuple]]:
    return {
        "person": [(p, 1950 + p % 50) for p in person_ids],
        "condition_occurrence": [(p * 10 + j, p, f"C{k}") for p in person_ids for j in range(2)],
        "location": list(locations),
        "code_usage": [("opdte", "dx", "ICD10CM", "E119", 1, 2, 3)],
        "lineage_rows": [("drug", "drug.csv", 2), ("drug", "drug.csv", k + 3)],
    }


def merge(con, parts, tables=TABLES):
    return merge_partitions(con, parts, tables, person_tables=PERSON_TABLES, order_by=ORDER_BY)


def rows(con, table):
    return con.execute(f"SELECT * FROM {table}").fetchall()  # no ORDER BY: the stored order


# --------------------------------------------------------------------------- the merged content


def test_person_tables_concatenated_in_id_order(tmp_path):
    rng = random.Random(7)
    ids = rng.sample(range(1, 10**12), 6000)
    chunks = [ids[0:2500], ids[2500:4000], ids[4000:]]
    parts = [make_part(tmp_path / f"p{k}.duckdb", part_rows(c, k)) for k, c in enumerate(chunks)]
    with duckdb.connect(str(tmp_path / "omop.duckdb")) as con:
        report = merge(con, parts)
        assert [r[0] for r in rows(con, "person")] == sorted(ids)
        co = rows(con, "condition_occurrence")
        assert [r[0] for r in co] == sorted(p * 10 + j for p in ids for j in range(2))
        assert Counter(r[2] for r in co) == {"C0": 5000, "C1": 3000, "C2": 4000}
        assert report.per_partition["person"] == [2500, 1500, 2000]
        assert report.rows["person"] == 6000 and report.rows["condition_occurrence"] == 12000
        assert report.per_partition["location"] == [1, 1, 1] and report.rows["location"] == 1
        assert not [d for (d,) in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()
                    if d.startswith("_part")]  # detached again


@st.composite
def merge_cases(draw):
    k = draw(st.integers(2, 3))
    ids = draw(st.lists(st.integers(1, 2**60 - 1), unique=True, max_size=30))
    owner = [draw(st.integers(0, k - 1)) for _ in ids]
    cities = {i: draw(st.sampled_from(["Taipei", "Oulu", "Tainan"])) for i in range(1, 6)}
    locations = [draw(st.lists(st.sampled_from(sorted(cities)), max_size=5, unique=True)) for _ in range(k)]
    usage = [draw(st.lists(st.tuples(st.sampled_from(["E119", "I10", "J45"]), st.sampled_from([0, 7]),
                                     st.integers(1, 50)), max_size=6, unique_by=lambda u: u[:2]))
             for _ in range(k)]
    used = [draw(st.lists(st.tuples(st.sampled_from(["drug", "hosb"]), st.integers(2, 9)), max_size=8, unique=True))
            for _ in range(k)]
    return k, ids, owner, cities, locations, usage, used


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=merge_cases())
def test_merge_properties(case):
    k, ids, owner, cities, locations, usage, used = case
    with tempfile.TemporaryDirectory() as tmp:
        parts = []
        for j in range(k):
            mine = [p for p, o in zip(ids, owner) if o == j]
            parts.append(make_part(Path(tmp) / f"p{j}.duckdb", {
                "person": [(p, 1970) for p in mine],
                "condition_occurrence": [(p, p, "C") for p in mine],
                "location": [(i, cities[i]) for i in locations[j]],
                "code_usage": [("t", "g", "V", code, 1, target, n) for code, target, n in usage[j]],
                "lineage_rows": [(t, f"{t}.csv", r) for t, r in used[j]],
            }))
        with duckdb.connect() as con:
            report = merge(con, parts)
            assert rows(con, "person") == [(p, 1970) for p in sorted(ids)]
            assert report.per_partition["person"] == [owner.count(j) for j in range(k)]
            assert rows(con, "location") == [(i, cities[i]) for i in sorted({i for loc in locations for i in loc})]
            sums: Counter = Counter()
            for u in usage:
                for code, target, n in u:
                    sums[(code, target)] += n
            assert rows(con, "code_usage") == [("t", "g", "V", c, 1, tgt, n) for (c, tgt), n in sorted(sums.items())]
            distinct = sorted({(t, f"{t}.csv", r) for u in used for t, r in u})
            assert rows(con, "lineage_rows") == distinct
            assert report.used_rows == dict(Counter(t for t, _, _ in distinct))


def test_shared_tables_deduplicated(tmp_path):
    parts = [make_part(tmp_path / "p0.duckdb", part_rows([1], 0, [(2, "Oulu"), (1, "Taipei")])),
             make_part(tmp_path / "p1.duckdb", part_rows([2], 1, [(1, "Taipei"), (3, "Tainan")]))]
    with duckdb.connect() as con:
        report = merge(con, parts)
        assert rows(con, "location") == [(1, "Taipei"), (2, "Oulu"), (3, "Tainan")]
        assert report.per_partition["location"] == [2, 2] and report.rows["location"] == 3


def test_code_usage_summed_per_code(tmp_path):
    a, b, c = part_rows([1], 0), part_rows([2], 1), part_rows([3], 2)
    a["code_usage"] = [("opdte", "dx", "ICD10CM", "E119", 1, 2, 3), ("opdte", "dx", "ICD10CM", "I10", 4, 5, 1)]
    b["code_usage"] = [("opdte", "dx", "ICD10CM", "E119", 1, 2, 10)]
    c["code_usage"] = [("opdte", "dx", "ICD10CM", "E119", 1, 0, 2), ("opdte", "dx", "ICD10CM", "I10", 4, 5, 6)]
    parts = [make_part(tmp_path / f"p{k}.duckdb", r) for k, r in enumerate((a, b, c))]
    with duckdb.connect() as con:
        merge(con, parts)
        assert rows(con, "code_usage") == [
            ("opdte", "dx", "ICD10CM", "E119", 1, 0, 2),  # other target concept: its own row
            ("opdte", "dx", "ICD10CM", "E119", 1, 2, 13),
            ("opdte", "dx", "ICD10CM", "I10", 4, 5, 7),
        ]
        assert con.execute("SELECT typeof(n_records) FROM code_usage LIMIT 1").fetchall() == [("BIGINT",)]


def test_lineage_rows_distinct_and_counted(tmp_path):
    a, b = part_rows([1], 0), part_rows([2], 1)
    a["lineage_rows"] = [("drug", "drug.csv", 2), ("drug", "drug.csv", 3), ("hosb", "hosb.csv", 2)]
    b["lineage_rows"] = [("drug", "drug.csv", 3), ("drug", "drug.csv", 4), ("hosb", "hosb.csv", None)]
    c = part_rows([3], 2)
    del c["lineage_rows"]  # a partition that used no reference rows may lack the table
    parts = [make_part(tmp_path / f"p{k}.duckdb", r) for k, r in enumerate((a, b, c))]
    with duckdb.connect() as con:
        report = merge(con, parts)
        assert rows(con, "lineage_rows") == [("drug", "drug.csv", 2), ("drug", "drug.csv", 3),
                                             ("drug", "drug.csv", 4), ("hosb", "hosb.csv", 2),
                                             ("hosb", "hosb.csv", None)]
        assert report.used_rows == {"drug": 3, "hosb": 2}


def test_rerun_into_the_same_target_gives_the_same_tables(tmp_path):
    parts = [make_part(tmp_path / f"p{k}.duckdb", part_rows([5 - k, 10 + k], k, [(k, f"L{k}")])) for k in range(3)]
    target = tmp_path / "omop.duckdb"
    names = TABLES + ["code_usage", "lineage_rows"]
    with duckdb.connect(str(target)) as con:
        first_report = merge(con, parts)
        first = {t: rows(con, t) for t in names}
    with duckdb.connect(str(target)) as con:
        second_report = merge(con, parts)
        assert {t: rows(con, t) for t in names} == first
        assert con.execute("SELECT count(*) FROM code_usage").fetchall() == [(1,)]  # replaced, not added to
        assert rows(con, "code_usage")[0][-1] == 9
    assert second_report == first_report


# --------------------------------------------------------------------------- failures


def test_same_id_different_rows_in_a_shared_table_raises(tmp_path):
    parts = [make_part(tmp_path / "p0.duckdb", part_rows([1], 0, [(1, "Taipei")])),
             make_part(tmp_path / "p1.duckdb", part_rows([2], 1, [(1, "Tainan")]))]
    with duckdb.connect() as con, pytest.raises(PartitionMergeError, match=r"location\.location_id"):
        merge(con, parts)


def test_person_table_id_in_two_partitions_raises_naming_the_table(tmp_path):
    a, b = part_rows([1, 2], 0), part_rows([3], 1)
    b["condition_occurrence"].append((10, 1, "C0"))  # the id of partition 0's first condition, same row
    parts = [make_part(tmp_path / "p0.duckdb", a), make_part(tmp_path / "p1.duckdb", b)]
    with duckdb.connect() as con:
        with pytest.raises(PartitionMergeError, match=r"condition_occurrence\.condition_occurrence_id.*more than one"):
            merge(con, parts)
        # the failed merge detached its partitions: the connection can merge again
        merge_partitions(con, parts, ["person", "location"], person_tables=PERSON_TABLES, order_by=ORDER_BY)
        assert [r[0] for r in rows(con, "person")] == [1, 2, 3]


def test_missing_partition_file_raises_naming_it(tmp_path):
    parts = [make_part(tmp_path / "p0.duckdb", part_rows([1], 0)), tmp_path / "p1.duckdb"]
    with duckdb.connect() as con, pytest.raises(PartitionMergeError, match="p1.duckdb"):
        merge(con, parts)


def test_no_partitions_raises():
    with duckdb.connect() as con, pytest.raises(PartitionMergeError):
        merge(con, [])


def test_table_missing_from_one_partition_raises(tmp_path):
    b = part_rows([2], 1)
    del b["location"]
    parts = [make_part(tmp_path / "p0.duckdb", part_rows([1], 0)), make_part(tmp_path / "p1.duckdb", b)]
    with duckdb.connect() as con, pytest.raises(PartitionMergeError, match=r"location.*p1\.duckdb"):
        merge(con, parts)


# --------------------------------------------------------------------------- a partition without code_usage


def test_code_usage_missing_from_one_partition_is_not_silently_dropped(tmp_path):
    a, b = part_rows([1], 0), part_rows([2], 1)
    del b["code_usage"]
    parts = [make_part(tmp_path / "p0.duckdb", a), make_part(tmp_path / "p1.duckdb", b)]
    with duckdb.connect() as con:
        try:
            merge(con, parts)
        except PartitionMergeError:
            return  # failing loudly is fine
        assert rows(con, "code_usage") == [("opdte", "dx", "ICD10CM", "E119", 1, 2, 3)]  # or summing what is there


class _SortRunsOutOfMemory:
    """A connection on which every sort of a union of the attached partitions fails as DuckDB 2.0 fails
    on one larger than its memory limit (out of memory at once; the same rows copied first do sort)."""

    def __init__(self, con):
        self.con = con
        self.refused: list[str] = []

    def execute(self, sql, *args):
        if (sql.startswith("CREATE OR REPLACE TABLE") and sql.split()[4].strip('"') in TABLES
                and "UNION ALL" in sql and "ORDER BY" in sql):
            self.refused.append(sql.split()[4].strip('"'))
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return self.con.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.con, name)


def test_a_sort_that_runs_out_of_memory_is_done_from_a_copy_of_the_rows(tmp_path):
    rng = random.Random(3)
    ids = rng.sample(range(1, 10**12), 900)
    parts = [make_part(tmp_path / f"p{k}.duckdb", part_rows(ids[k::3], k)) for k in range(3)]
    with duckdb.connect(str(tmp_path / "a.duckdb")) as con:
        merge(con, parts)
        expected = {t: rows(con, t) for t in TABLES}
    with duckdb.connect(str(tmp_path / "b.duckdb")) as con:
        flaky = _SortRunsOutOfMemory(con)
        report = merge(flaky, parts)
        assert set(flaky.refused) == set(TABLES)  # every table went the second way
        assert {t: rows(con, t) for t in TABLES} == expected  # the same rows, in id order
        assert report.rows["person"] == 900
        assert not con.execute("SELECT * FROM duckdb_tables() WHERE table_name = '_cb_merge_rows'").fetchall()
