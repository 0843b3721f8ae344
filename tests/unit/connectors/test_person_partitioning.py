"""connectors.partitioning: the partition of a pseudonym, table placement, and partition_staging on tiny tables."""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.layout import Link
from connectors.partitioning import (
    PARTITION_COLUMN,
    partition_folder,
    partition_of_sql,
    partition_staging,
    placement,
    python_partition_of,
)

HEX = "0123456789abcdef"
hex_keys = st.text(alphabet=HEX, min_size=64, max_size=64)
person_keys = st.one_of(st.none(), hex_keys, hex_keys.map(str.upper))


def key_in(v: int) -> str:
    """A 64-hex pseudonym whose partition is ``v % n`` for every n (its first 15 digits read as v)."""
    return format(v, "015x") + "0" * 49


# --------------------------------------------------------------------------- partition of a key


@settings(max_examples=60, deadline=None)
@given(keys=st.lists(person_keys, min_size=1, max_size=20), n=st.integers(1, 64))
def test_sql_and_python_partition_agree(keys, n):
    with duckdb.connect() as con:
        got = con.execute(
            f"SELECT i, {partition_of_sql('k', n)} FROM (SELECT unnest(?) AS k, generate_subscripts(?, 1) AS i)",
            [keys, keys]).fetchall()
    assert len(got) == len(keys)
    for i, part in got:
        assert part == python_partition_of(keys[i - 1], n)
        assert 0 <= part < n


def test_partition_is_first_fifteen_hex_digits_mod_n():
    key = "f" * 15 + "0" * 49
    assert python_partition_of(key, 7) == (2**60 - 1) % 7
    assert python_partition_of(key_in(12345), 100) == 45
    assert python_partition_of(None, 5) == 0
    with duckdb.connect() as con:
        assert con.execute(f"SELECT {partition_of_sql('NULL', 5)}").fetchall() == [(0,)]
        assert con.execute(f"SELECT {partition_of_sql(repr(key), 7)}").fetchall() == [((2**60 - 1) % 7,)]


def test_partition_of_sql_rejects_fewer_than_one_partition():
    with pytest.raises(ValueError):
        partition_of_sql("person_key", 0)


# --------------------------------------------------------------------------- placement on the real layouts


def _by_table(plan):
    return {tp.table: tp for tp in plan}


def test_taiwan_placement():
    from connectors.taiwan.consolidate import table_columns
    from connectors.taiwan.layout import FILE_TYPES

    plan = placement(FILE_TYPES, table_columns)
    by = _by_table(plan)
    assert set(by) == {ft.key for ft in FILE_TYPES}
    assert by["drug"].how == "replicated" and by["hosb"].how == "replicated"
    for child, parent in (("opdto", "opdte"), ("ipdto", "ipdte"), ("drugo", "druge"),
                          ("bb_specimen", "bb_participant")):
        assert by[child].how == "parent" and by[child].parent == parent, child
        assert by[child].columns and len(by[child].columns) == len(by[child].parent_columns)
    for claim in ("opdte", "ipdte", "druge", "enrol", "death", "cancer", "bb_participant"):
        assert by[claim].how == "person", claim
    assert by["opdto"].columns == ("FEE_YM", "APPL_TYPE", "HOSP_ID", "APPL_DATE", "CASE_TYPE", "SEQ_NO")
    assert by["bb_specimen"].columns == ("PARTICIPANT_ID",)
    order = [tp.table for tp in plan]
    for tp in plan:  # parents before children
        if tp.how == "parent":
            assert order.index(tp.parent) < order.index(tp.table)


def test_finland_placement():
    from connectors.finland.consolidate import table_columns
    from connectors.finland.layout import FILE_TYPES

    plan = placement(FILE_TYPES, table_columns)
    by = _by_table(plan)
    assert set(by) == {ft.key for ft in FILE_TYPES}
    for child, parent, col in (("hilmo_diag", "hilmo", "HILMO_ID"), ("hilmo_proc", "hilmo", "HILMO_ID"),
                               ("avohilmo_icd10", "avohilmo", "AVOHILMO_ID"),
                               ("avohilmo_icpc2", "avohilmo", "AVOHILMO_ID"),
                               ("avohilmo_proc", "avohilmo", "AVOHILMO_ID")):
        assert by[child].how == "parent" and by[child].parent == parent, child
        assert by[child].columns == (col,) and by[child].parent_columns == (col,)
    assert by["hilmo"].how == "person" and by["avohilmo"].how == "person"
    assert not [tp.table for tp in plan if tp.how == "replicated"]


# --------------------------------------------------------------------------- fake file types


@dataclass(frozen=True)
class FT:
    key: str
    cols: tuple[str, ...]
    links: tuple[Link, ...] = ()


def table_columns(ft: FT) -> list[tuple[str, str]]:
    return [(c, "string") for c in ft.cols] + [("_source_file", "string"), ("_row_number", "int64")]


def test_placement_orders_parents_first_whatever_the_declaration_order():
    fts = [FT("grandchild", ("c_id", "g"), (Link("child", ("c_id",)),)),
           FT("child", ("c_id", "p_id"), (Link("parent", ("p_id",)),)),
           FT("parent", ("person_key", "p_id"))]
    plan = placement(fts, table_columns)
    assert [tp.table for tp in plan] == ["parent", "child", "grandchild"]
    assert [tp.how for tp in plan] == ["person", "parent", "parent"]


def test_placement_link_to_a_replicated_or_unknown_table_is_replicated():
    fts = [FT("master", ("code",)), FT("detail", ("code", "x"), (Link("master", ("code",)),)),
           FT("stray", ("y",), (Link("not_delivered", ("y",)),))]
    by = _by_table(placement(fts, table_columns))
    assert {t: tp.how for t, tp in by.items()} == {"master": "replicated", "detail": "replicated",
                                                   "stray": "replicated"}


def test_placement_link_cycle_raises():
    fts = [FT("person_t", ("person_key",)),
           FT("a", ("b_id", "a_id"), (Link("b", ("b_id",)),)),
           FT("b", ("a_id", "b_id"), (Link("a", ("a_id",)),))]
    with pytest.raises(ValueError, match="cycle"):
        placement(fts, table_columns)


def test_placement_self_link_raises():
    with pytest.raises(ValueError, match="cycle"):
        placement([FT("a", ("a_id", "up"), (Link("a", ("up",), ("a_id",)),))], table_columns)


# --------------------------------------------------------------------------- partition_staging

VISIT = FT("visit", ("person_key", "visit_id"))
ORDER = FT("order_line", ("visit_id", "seq"), (Link("visit", ("visit_id",)),))
MASTER = FT("master", ("code", "label"))
FTS = [VISIT, ORDER, MASTER]


def write_table(tables: Path, key: str, columns: dict[str, list], types: dict[str, pa.DataType] | None = None) -> None:
    n = len(next(iter(columns.values()))) if columns else 0
    data = {c: pa.array(v, (types or {}).get(c, pa.string())) for c, v in columns.items()}
    data["_source_file"] = pa.array([f"{key}.csv"] * n, pa.string())
    data["_row_number"] = pa.array(list(range(2, n + 2)), pa.int64())
    folder = tables / key
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(data), folder / "part-0.parquet")


def read_out(out: Path, table: str) -> list[dict]:
    if not (out / table).exists():
        return []
    with duckdb.connect() as con:
        return con.sql(
            f"SELECT * FROM read_parquet('{out / table}/*/*.parquet', hive_partitioning = true)").to_arrow_table(
        ).to_pylist()


@st.composite
def staging_cases(draw):
    persons = draw(st.lists(hex_keys, min_size=0, max_size=10, unique=True))
    visits = []  # (person_key, visit_id)
    for pk in persons + [None]:
        for _ in range(draw(st.integers(0, 3))):
            visits.append((pk, f"V{len(visits)}"))
    vids = [v for _, v in visits]
    ref = st.one_of(st.sampled_from(vids), st.sampled_from(["ORPHAN1", "ORPHAN2"]), st.none()) if vids else \
        st.one_of(st.just("ORPHAN1"), st.none())
    orders = [(draw(ref), str(i)) for i in range(draw(st.integers(0, 15)))]
    n = draw(st.integers(2, 8))
    return visits, orders, n


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=staging_cases())
def test_partition_staging_properties(case):
    visits, orders, n = case
    with tempfile.TemporaryDirectory() as tmp:
        tables, out = Path(tmp) / "tables", Path(tmp) / "parts"
        write_table(tables, "visit", {"person_key": [p for p, _ in visits], "visit_id": [v for _, v in visits]})
        write_table(tables, "order_line", {"visit_id": [v for v, _ in orders], "seq": [s for _, s in orders]})
        write_table(tables, "master", {"code": ["a", "b"], "label": ["A", "B"]})
        report = partition_staging(tables, out, FTS, table_columns, n)

        assert report.partitions == n
        assert report.tables["visit"]["rows"] == len(visits)
        assert report.tables["order_line"]["rows"] == len(orders)
        for t in ("visit", "order_line"):
            per = report.tables[t]["rows_per_partition"]
            assert len(per) == n and sum(per) == report.tables[t]["rows"]
        assert report.tables["master"] == {"placement": "replicated", "rows": 2}
        assert report.replicated() == ["master"]
        assert not (out / "master").exists()

        got_v = read_out(out, "visit")
        got_o = read_out(out, "order_line")
        # nothing lost, nothing doubled, provenance kept
        assert Counter((r["person_key"], r["visit_id"], r["_row_number"]) for r in got_v) == Counter(
            (p, v, i + 2) for i, (p, v) in enumerate(visits))
        assert Counter((r["visit_id"], r["seq"], r["_row_number"]) for r in got_o) == Counter(
            (v, s, i + 2) for i, (v, s) in enumerate(orders))
        # the counts reported are the rows on disk
        for t, rows in (("visit", got_v), ("order_line", got_o)):
            on_disk = Counter(r[PARTITION_COLUMN] for r in rows)
            assert [on_disk.get(k, 0) for k in range(n)] == report.tables[t]["rows_per_partition"]
        # every row of one person in its partition (no person_key: partition 0)
        where_person: dict = {}
        for r in got_v:
            assert r[PARTITION_COLUMN] == python_partition_of(r["person_key"], n)
            where_person.setdefault(r["person_key"], set()).add(r[PARTITION_COLUMN])
        assert all(len(parts) == 1 for parts in where_person.values())
        # children follow their parent; no parent (orphan or NULL reference): partition 0
        visit_part = {r["visit_id"]: r[PARTITION_COLUMN] for r in got_v}
        for r in got_o:
            assert r[PARTITION_COLUMN] == visit_part.get(r["visit_id"], 0)


def test_multi_column_link_grandchild_and_renamed_parent_columns(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    fts = [FT("claim", ("person_key", "A", "B")),
           FT("order", ("CA", "CB", "o"), (Link("claim", ("CA", "CB"), ("A", "B")),)),
           FT("dose", ("o", "d"), (Link("order", ("o",)),))]
    write_table(tables, "claim", {"person_key": [key_in(1), key_in(2), key_in(3)],
                                  "A": ["x", "x", "y"], "B": ["1", "2", "1"]})
    write_table(tables, "order", {"CA": ["x", "x", "y", "y"], "CB": ["1", "2", "1", "2"],
                                  "o": ["o1", "o2", "o3", "o4"]})
    write_table(tables, "dose", {"o": ["o1", "o2", "o3", "o4", "o5"], "d": ["1", "2", "3", "4", "5"]})
    report = partition_staging(tables, out, fts, table_columns, 4)
    orders = {r["o"]: r[PARTITION_COLUMN] for r in read_out(out, "order")}
    assert orders == {"o1": 1, "o2": 2, "o3": 3, "o4": 0}  # o4: (y, 2) is no claim
    doses = {r["o"]: r[PARTITION_COLUMN] for r in read_out(out, "dose")}
    assert doses == {"o1": 1, "o2": 2, "o3": 3, "o4": 0, "o5": 0}
    assert report.tables["dose"]["placement"] == "parent" and report.tables["dose"]["parent"] == "order"
    assert report.tables["dose"]["rows_per_partition"] == [2, 1, 1, 1]


def test_parent_key_in_two_partitions_children_go_to_the_lowest(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    write_table(tables, "visit", {"person_key": [key_in(3), key_in(1)], "visit_id": ["V", "V"]})
    write_table(tables, "order_line", {"visit_id": ["V", "V"], "seq": ["1", "2"]})
    partition_staging(tables, out, FTS, table_columns, 4)
    assert {r[PARTITION_COLUMN] for r in read_out(out, "order_line")} == {1}


def test_children_of_a_missing_or_empty_parent_table_go_to_partition_zero(tmp_path):
    tables = tmp_path / "tables"
    write_table(tables, "order_line", {"visit_id": ["V1", "V2", None], "seq": ["1", "2", "3"]})
    rep = partition_staging(tables, tmp_path / "p1", FTS, table_columns, 3)  # no visit folder at all
    assert rep.tables["visit"]["rows"] == 0 and rep.tables["visit"]["rows_per_partition"] == [0, 0, 0]
    assert rep.tables["order_line"]["rows_per_partition"] == [3, 0, 0]
    write_table(tables, "visit", {"person_key": [], "visit_id": []})  # an empty visit table
    rep = partition_staging(tables, tmp_path / "p2", FTS, table_columns, 3)
    assert rep.tables["order_line"]["rows_per_partition"] == [3, 0, 0]
    assert not (tmp_path / "p2" / "visit").exists()


def test_null_person_key_goes_to_partition_zero(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    write_table(tables, "visit", {"person_key": [None, key_in(5)], "visit_id": ["V1", "V2"]})
    write_table(tables, "order_line", {"visit_id": ["V1", "V2"], "seq": ["1", "2"]})
    rep = partition_staging(tables, out, FTS, table_columns, 3)
    assert rep.tables["visit"]["rows_per_partition"] == [1, 0, 1]
    assert {r["visit_id"]: r[PARTITION_COLUMN] for r in read_out(out, "order_line")} == {"V1": 0, "V2": 2}


def test_empty_tables_give_zeros_and_no_folders(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    write_table(tables, "visit", {"person_key": [], "visit_id": []})
    write_table(tables, "order_line", {"visit_id": [], "seq": []})
    rep = partition_staging(tables, out, FTS, table_columns, 5)
    for t in ("visit", "order_line"):
        assert rep.tables[t]["rows"] == 0 and rep.tables[t]["rows_per_partition"] == [0] * 5
    assert rep.tables["master"] == {"placement": "replicated", "rows": 0}
    assert out.is_dir() and not list(out.iterdir())


def test_rerun_replaces_the_output(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    write_table(tables, "visit", {"person_key": [key_in(v) for v in range(8)], "visit_id": [f"V{v}" for v in range(8)]})
    write_table(tables, "order_line", {"visit_id": ["V7"], "seq": ["1"]})
    partition_staging(tables, out, FTS, table_columns, 8)
    assert partition_folder(out, "visit", 7).is_dir()
    (out / "leftover").mkdir()
    rep = partition_staging(tables, out, FTS, table_columns, 2)
    assert sorted(p.name for p in (out / "visit").iterdir()) == ["_part=0", "_part=1"]
    assert not partition_folder(out, "visit", 7).exists() and not (out / "leftover").exists()
    assert rep.tables["visit"]["rows_per_partition"] == [4, 4]
    assert [r[PARTITION_COLUMN] for r in read_out(out, "order_line")] == [1]
    assert len(read_out(out, "visit")) == 8


@pytest.mark.parametrize("n", [1, 0, -1])
def test_fewer_than_two_partitions_raise(tmp_path, n):
    with pytest.raises(ValueError):
        partition_staging(tmp_path / "tables", tmp_path / "parts", FTS, table_columns, n)


def test_partition_column_not_in_written_files_and_types_kept(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    write_table(tables, "visit", {"person_key": [key_in(0), key_in(1)], "visit_id": ["V1", "V2"]})
    write_table(tables, "order_line", {"visit_id": ["V1"], "seq": ["1"]})
    partition_staging(tables, out, FTS, table_columns, 2)
    files = sorted(out.rglob("*.parquet"))
    assert {f.parent.name for f in files} == {"_part=0", "_part=1"}
    for f in files:
        schema = pq.read_schema(f)
        assert PARTITION_COLUMN not in schema.names
        assert schema.field("_row_number").type == pa.int64()
    assert pq.read_schema(next((out / "visit").rglob("*.parquet"))).names == [
        "person_key", "visit_id", "_source_file", "_row_number"]


# --------------------------------------------------------------------------- children of one parent linking by
# different columns: one key table per (parent, link columns), each filtered on its own columns only


def test_two_children_linking_by_different_columns(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    fts = [FT("parent", ("person_key", "A", "B")),
           FT("child_a", ("A", "x"), (Link("parent", ("A",)),)),
           FT("child_b", ("B", "x"), (Link("parent", ("B",)),))]
    write_table(tables, "parent", {"person_key": [key_in(1), key_in(1), key_in(2)],
                                   "A": ["A1", "A1", "A2"], "B": ["B1", "B2", None]})
    write_table(tables, "child_a", {"A": ["A1", "A2"], "x": ["1", "2"]})
    write_table(tables, "child_b", {"B": ["B1", "B2"], "x": ["1", "2"]})
    partition_staging(tables, out, fts, table_columns, 4)
    assert {r["A"]: r[PARTITION_COLUMN] for r in read_out(out, "child_a")} == {"A1": 1, "A2": 2}
    assert {r["B"]: r[PARTITION_COLUMN] for r in read_out(out, "child_b")} == {"B1": 1, "B2": 1}


def test_parent_with_null_in_another_childs_link_column(tmp_path):
    tables, out = tmp_path / "tables", tmp_path / "parts"
    fts = [FT("parent", ("person_key", "A", "B")),
           FT("child_a", ("A", "x"), (Link("parent", ("A",)),)),
           FT("child_b", ("B", "x"), (Link("parent", ("B",)),))]
    write_table(tables, "parent", {"person_key": [key_in(1), key_in(2)], "A": ["A1", "A2"], "B": ["B1", None]})
    write_table(tables, "child_a", {"A": ["A1", "A2"], "x": ["1", "2"]})
    write_table(tables, "child_b", {"B": ["B1"], "x": ["1"]})
    partition_staging(tables, out, fts, table_columns, 4)
    assert {r["A"]: r[PARTITION_COLUMN] for r in read_out(out, "child_a")} == {"A1": 1, "A2": 2}
