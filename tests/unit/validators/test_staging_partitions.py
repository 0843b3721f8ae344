"""validators.staging_partitions: the SQL counts of the partition-counted staging expectations are
Great Expectations' own counts, on real staged data with violations of every kind planted in it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

from validators.staging_partitions import (
    PARTITION_CHECKS,
    StagingCountError,
    count_key,
    count_view,
    counted_record,
    partition_specs,
    split_key,
    staging_partition_counts,
)
from validators.staging_suites import DUCKDB_TYPES, StagingSpec, run_staging_suites, staging_expectations

TODAY = dt.date(2026, 11, 22)
SECRET = "staging-partitions"


def _site(site: str):
    if site == "taiwan":
        from connectors.taiwan.consolidate import consolidate_taiwan as consolidate
        from connectors.taiwan.consolidate import table_columns
        from connectors.taiwan.layout import FILE_TYPES
        from connectors.taiwan.stage import stage_taiwan
        from crossbridge.synth.taiwan import generate_taiwan

        def make(landing, staging):
            generate_taiwan(landing, persons=40, years=(2015, 2016), seed=5, encoding="utf-8", defect_rate=0.03)
            stage_taiwan(landing, staging, SECRET, "utf-8", workers=1)
            consolidate(staging, memory_limit="256MB", threads=1)

        return FILE_TYPES, table_columns, make
    from connectors.finland.consolidate import consolidate_finland as consolidate
    from connectors.finland.consolidate import table_columns
    from connectors.finland.layout import FILE_TYPES
    from connectors.finland.stage import stage_finland
    from crossbridge.synth.finland import generate_finland

    def make(landing, staging):
        generate_finland(landing, persons=120, years=(2018, 2019), seed=5, defect_rate=0.03)
        stage_finland(landing, staging, SECRET, workers=1)
        consolidate(staging, memory_limit="256MB", threads=1)

    return FILE_TYPES, table_columns, make


def _plant(con: duckdb.DuckDBPyConnection, view: str, spec: StagingSpec, i: int, types: dict[str, str]) -> bool:
    """Break one row of ``view`` (a table here) for ``spec``; False when the column's type cannot hold
    the breaking value."""
    n = con.execute(f'SELECT count(*) FROM "{view}"').fetchall()[0][0]
    if not n:
        return False
    row = f"rowid = {(7 * i + 3) % n}"
    check, column = spec.meta["check"], spec.meta["column"]
    if spec.expectation != "ExpectNoUnexpectedRows":
        column = spec.kwargs["column"]
    if check == "link":
        column = column.split("+")[0]
    kind = types.get(column)
    value = {
        "not_null": "NULL",
        "value_set": "'ZZ'" if kind == "VARCHAR" else None,
        "code_length": f"'{'9' * (spec.kwargs.get('max_value', 1) + 1)}'" if kind == "VARCHAR" else None,
        "date_range": ("DATE '1800-01-01'" if kind == "DATE" else "1700" if kind in ("INTEGER", "BIGINT")
                       else "'999999'" if kind == "VARCHAR" else None),
        "code_format": "'!!'" if kind == "VARCHAR" else None,
        "person_key_format": "'RAW-ID'",
        "link": "'NO-SUCH-PARENT'" if kind == "VARCHAR" else None,
    }[check]
    if value is None:
        return False
    con.execute(f'UPDATE "{view}" SET "{column}" = {value} WHERE {row}')
    return True


def _planted_db(site: str, tmp_path: Path):
    """A work database whose ``stg_<key>`` tables hold a synthetic site's staging with one row broken
    for each expectation counted in the partitions; (file types, table_columns, chosen specs, db path)."""
    file_types, table_columns, make = _site(site)
    make(tmp_path / "landing", tmp_path / "staging")
    declared = staging_expectations(file_types, table_columns, today=TODAY, specs=True)
    chosen = partition_specs(declared, [])
    db = tmp_path / "work.duckdb"
    planted: set[str] = set()
    with duckdb.connect(str(db)) as con:
        for ft in file_types:  # tables, not views: rows are broken in place
            folder = tmp_path / "staging" / "tables" / ft.key
            cols = ", ".join(f'CAST(NULL AS {DUCKDB_TYPES[t]}) AS "{c}"' for c, t in table_columns(ft))
            src = (f"SELECT * FROM read_parquet('{folder}/*.parquet')" if list(folder.glob("*.parquet"))
                   else f"SELECT {cols} WHERE false")
            con.execute(f'CREATE TABLE "stg_{ft.key}" AS {src}')
        for view, specs in chosen.items():
            types = {r[0]: r[1] for r in con.execute(f'DESCRIBE "{view}"').fetchall()}
            for i, spec in enumerate(specs):
                if _plant(con, view, spec, i, types):
                    planted.add(spec.meta["check"])
    assert planted == PARTITION_CHECKS  # a violation of every kind counted in the partitions
    return file_types, table_columns, chosen, db


@pytest.mark.parametrize("site", ["taiwan", "finland"])
def test_sql_counts_are_the_counts_gx_gives(site, tmp_path):
    file_types, table_columns, chosen, db = _planted_db(site, tmp_path)
    records = run_staging_suites(str(db), file_types, table_columns, today=TODAY)
    with duckdb.connect(str(db), read_only=True) as con:
        counted = staging_partition_counts(con, file_types, table_columns, [], today=TODAY)
    assert not counted["errors"] and counted["today"] == TODAY.isoformat()
    by_key = {count_key(r["table"], r["expectation"]): r for r in records}
    assert set(counted["counts"]) == {count_key(v, s.meta["id"]) for v, ss in chosen.items() for s in ss}
    specs = {count_key(v, s.meta["id"]): s for v, ss in chosen.items() for s in ss}
    failing = set()
    for key, (unexpected, elements) in counted["counts"].items():
        gx_record = by_key[key]
        assert gx_record["status"] in ("passed", "failed"), (key, gx_record)
        ours = counted_record(split_key(key)[0], specs[key].meta, specs[key].expectation, unexpected, elements)
        if ours["status"] == "failed":  # GX's detail gives examples of the values, ours where they were counted
            head = ours["detail"].removesuffix(" (counted in the person partitions)")
            assert ours["detail"] != head and gx_record["detail"].startswith(head), key
            ours["detail"] = gx_record["detail"]
        assert ours == gx_record, key
        if unexpected:
            failing.add(split_key(key)[1].split(".")[0])
    assert failing == PARTITION_CHECKS  # each kind really counted something


def test_structure_unique_keys_and_replicated_tables_stay_with_the_validate_stage():
    from connectors.taiwan.consolidate import table_columns
    from connectors.taiwan.layout import FILE_TYPES

    declared = staging_expectations(FILE_TYPES, table_columns, today=TODAY, specs=True)
    chosen = partition_specs(declared, ["stg_drug", "stg_hosb"])
    assert "stg_drug" not in chosen and "stg_hosb" not in chosen
    kept = {s.meta["check"] for ss in chosen.values() for s in ss}
    assert kept <= PARTITION_CHECKS and {"link", "not_null", "code_format"} <= kept
    left = {s.meta["check"] for v, ss in declared.items() for s in ss if v not in ("stg_drug", "stg_hosb")} - kept
    assert left == {"columns", "column_types", "unique"}


def test_specs_are_the_gx_expectations_without_gx():
    from connectors.finland.consolidate import table_columns
    from connectors.finland.layout import FILE_TYPES

    specs = staging_expectations(FILE_TYPES, table_columns, today=TODAY, specs=True)
    exps = staging_expectations(FILE_TYPES, table_columns, today=TODAY)
    assert list(specs) == list(exps)
    for view in specs:
        assert [(s.meta, s.description) for s in specs[view]] == [(e.meta, e.description) for e in exps[view]]
        assert [type(e).__name__ for e in exps[view]] == [s.expectation for s in specs[view]]


def test_a_count_that_cannot_run_is_an_error_of_that_expectation_only():
    with duckdb.connect() as con:
        con.execute("CREATE TABLE stg_t AS SELECT 'a' AS code, NULL::VARCHAR AS other")
        good = StagingSpec("ExpectColumnValuesToNotBeNull", {"column": "other"}, {"id": "not_null.other"}, "")
        bad = StagingSpec("ExpectColumnValuesToNotBeNull", {"column": "missing"}, {"id": "not_null.missing"}, "")
        rows = StagingSpec("ExpectNoUnexpectedRows", {"unexpected_rows_query": "SELECT * FROM {batch} WHERE code = 'a'"},
                           {"id": "code_format.code"}, "")
        counts, errors = count_view(con, "stg_t", [good, bad, rows])
    assert counts == {"stg_t|not_null.other": [1, 1], "stg_t|code_format.code": [1, 1]}
    assert list(errors) == ["stg_t|not_null.missing"] and "missing" in errors["stg_t|not_null.missing"]


def test_an_expectation_kind_that_cannot_be_counted_is_refused():
    odd = StagingSpec("ExpectColumnValuesToMatchRegex", {"column": "c", "regex": "x"},
                      {"id": "code_format.c", "check": "code_format"}, "")
    with pytest.raises(StagingCountError, match="cannot be counted"):
        partition_specs({"stg_t": [odd]}, [])


def test_suites_with_counted_expectations_give_the_records_of_one_run_and_data_docs(tmp_path):
    from validators.gx_engine import open_session

    file_types, table_columns, chosen, db = _planted_db("taiwan", tmp_path)
    whole = run_staging_suites(str(db), file_types, table_columns, today=TODAY)
    with duckdb.connect(str(db), read_only=True) as con:
        counted = staging_partition_counts(con, file_types, table_columns, ["drug", "hosb"], today=TODAY)
    broken = next(iter(counted["counts"]))
    counted["errors"][broken] = "IOException: partition file gone"  # one count that could not be made
    del counted["counts"][broken]
    session = open_session(db, project_dir=tmp_path / "gx")
    try:
        got = run_staging_suites(session, file_types, table_columns, today=TODAY, data_docs_run="r1",
                                 counted=counted)
        index = session.build_data_docs()
    finally:
        session.close()
    assert [(r["table"], r["expectation"]) for r in got] == [(r["table"], r["expectation"]) for r in whole]
    for mine, ref in zip(got, whole):
        key = count_key(mine["table"], mine["expectation"])
        if key == broken:
            assert mine["status"] == "error" and "partition file gone" in mine["detail"]
            continue
        assert (mine["status"], mine["unexpected_count"], mine["element_count"]) == (
            ref["status"], ref["unexpected_count"], ref["element_count"]), key
        assert ("counted in the person partitions" in mine["detail"]) == (
            key in counted["counts"] and mine["status"] == "failed")
    pages = [p for p in (index.parent / "validations").rglob("*.html") if "counted_in_partitions" in p.parts]
    assert {p.parts[-5] for p in pages} == set(chosen) - {"stg_drug", "stg_hosb"}
    page = next(p for p in pages if p.parts[-5] == "stg_opdte").read_text()
    assert "person partitions" in page
