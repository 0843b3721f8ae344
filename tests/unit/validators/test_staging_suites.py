"""Staging suites generated from the connectors' layouts: clean runs pass, planted faults fail by name.

One small synthetic run per site (with injected defects) is made once for the module, exactly as
a user makes it (``crossbridge synth`` then ``crossbridge run --no-airflow``, in subprocesses, both
sites at once while GX is imported here).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

import connectors.finland.consolidate as fi_consolidate
import connectors.finland.layout as fi_layout
import connectors.taiwan.consolidate as tw_consolidate
import connectors.taiwan.layout as tw_layout
from connectors.layout import C, CodeFormat, Link
from crossbridge.pipeline.common import register_staging_views
from validators.gx_engine import gx, open_session
from validators import staging_suites
from validators.staging_suites import (
    StagingSuiteError,
    _gx_sql,
    build_suite,
    expected_count,
    run_staging_suites,
    staging_expectations,
    verify_suite,
)

REPO = Path(__file__).resolve().parents[3]
SITES = {
    "taiwan": (tw_layout, tw_consolidate, "2015-2016"),
    "finland": (fi_layout, fi_consolidate, "2014-2016"),
}


def _cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "crossbridge.cli", *args], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "CROSSBRIDGE_SITE_SECRET": "x"}, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"crossbridge {' '.join(args)} exited {proc.returncode}\n{proc.stdout[-3000:]}\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def _make_run(site: str, years: str, base: Path) -> SimpleNamespace:
    """Synthesise one site and run its stages up to ``map`` (which registers the stg_ views in omop.duckdb);
    the validate stage, which runs these suites itself, is not needed here."""
    landing, work = base / f"{site}_landing", base / f"{site}_work"
    _cli("synth", site, "--persons", "150", "--years", years, "--seed", "3", "--defect-rate", "0.02",
         "--out", str(landing))
    code = (f"from crossbridge.pipeline import {site} as p; from crossbridge.settings import load_settings; "
            f"s = load_settings({{'landing': {str(landing)!r}, 'workdir': {str(work)!r}}}); "
            "r = p.start_run(s); p.extract(r, s); p.stage(r, s); p.map_to_omop(r, s)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "CROSSBRIDGE_SITE_SECRET": "x"}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = sorted((work / "runs").glob(f"*-{site}-*"))
    assert len(runs) == 1, proc.stderr[-3000:]
    run_dir = runs[0]
    layout, consolidate, _ = SITES[site]
    return SimpleNamespace(site=site, landing=landing, dir=run_dir, db=run_dir / "omop.duckdb",
                           tables=run_dir / "staging" / "tables", file_types=layout.FILE_TYPES,
                           table_columns=consolidate.table_columns)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, SimpleNamespace]:
    base = tmp_path_factory.mktemp("staging_suites")
    with ThreadPoolExecutor(2) as pool:
        futures = {site: pool.submit(_make_run, site, years, base) for site, (_, _, years) in SITES.items()}
        gx()  # import GX (5-10 s) while the runs work
        return {site: f.result() for site, f in futures.items()}


@pytest.fixture(scope="module")
def clean_records(runs) -> dict[str, list[dict]]:
    return {site: run_staging_suites(r.db, r.file_types, r.table_columns) for site, r in runs.items()}


# ------------------------------------------------------------------------------------------- clean runs
@pytest.mark.parametrize("site", SITES)
def test_clean_run_passes_every_staging_expectation(runs, clean_records, site):
    records = clean_records[site]
    run = runs[site]
    assert len(records) == expected_count(staging_expectations(run.file_types, run.table_columns))
    bad = [r for r in records if r["status"] != "passed"]
    assert not bad, bad[:5]
    assert {r["table"] for r in records} == {f"stg_{ft.key}" for ft in run.file_types}
    assert set(records[0]) == {"table", "expectation", "column", "status", "unexpected_count", "element_count",
                               "detail"}
    assert all(r["element_count"] is not None for r in records)


def test_empty_views_are_validated_and_pass(clean_records):
    """The register-layout Finnish run has no FinnGen file: its empty view passes, it does not error."""
    finngen = [r for r in clean_records["finland"] if r["table"] == "stg_finngen"]
    assert finngen and {r["status"] for r in finngen} == {"passed"}
    assert {r["element_count"] for r in finngen} == {0}


@pytest.mark.parametrize("site", SITES)
def test_defects_meant_for_quarantine_never_reach_staging(runs, site):
    """Caught at the right stage: every injected defect the connector should quarantine is in no staged table."""
    run = runs[site]
    with open(run.landing / "_ground_truth" / "defects.csv", newline="") as f:
        defects = [d for d in csv.DictReader(f) if d["expected_stage"] == "quarantine"]
    assert len(defects) > 20
    staged = " UNION ALL ".join(
        f"SELECT _source_file, _row_number FROM read_parquet('{p}/*.parquet')"
        for p in sorted(run.tables.iterdir()) if any(p.glob("*.parquet")))
    with duckdb.connect() as con:
        con.execute("CREATE TABLE d (file VARCHAR, line BIGINT)")
        con.executemany("INSERT INTO d VALUES (?, ?)", [(d["file"], int(d["line"])) for d in defects])
        leaked = con.execute(f"SELECT d.* FROM d JOIN ({staged}) s ON s._source_file = d.file "
                             "AND s._row_number = d.line").fetchall()
    assert leaked == []


# ------------------------------------------------------------------------------------------- planted faults
def _corrupted_db(run, tmp_path: Path, corrupt: dict[str, dict[str, str]]) -> Path:
    """A copy of the run's staged tables with ``corrupt[key]`` (SQL over ``o``: the original rows with
    ``_i`` = 1.. in a stable order, ``_n`` = row count) replacing table ``key``; ``stg_`` views over it."""
    tables = tmp_path / "tables"
    shutil.copytree(run.tables, tables)
    db = tmp_path / "corrupt.duckdb"
    with duckdb.connect(str(db)) as con:
        for key, sql in corrupt.items():
            src = run.tables / key / "*.parquet"
            shutil.rmtree(tables / key)
            (tables / key).mkdir()
            con.execute(f"""COPY (WITH o AS (SELECT *, row_number() OVER (ORDER BY {sql['order']}) AS _i,
                                          count(*) OVER () AS _n FROM read_parquet('{src}'))
                              {sql['select']}) TO '{tables / key / 'part-0.parquet'}' (FORMAT parquet)""")
        register_staging_views(con, tables, run.file_types, run.table_columns)
    return db


def _failures(records) -> dict[tuple[str, str], int | None]:
    assert not [r for r in records if r["status"] == "error"], [r for r in records if r["status"] == "error"]
    return {(r["table"], r["expectation"]): r["unexpected_count"] for r in records if r["status"] == "failed"}


def test_planted_taiwan_faults_fail_the_named_expectations(runs, tmp_path):
    run = runs["taiwan"]
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    visit_key = "+".join(tw_layout.VISIT_KEY)
    db = _corrupted_db(run, tmp_path, {
        "opdte": {"order": "FUNC_DATE, _source_file, _row_number", "select": f"""
            SELECT * EXCLUDE (_i, _n) REPLACE (
                CASE WHEN _i <= 3 THEN 'J069' ELSE ICD9CM_1 END AS ICD9CM_1,              -- ICD-10 code in 2015
                CASE WHEN _i IN (4, 5) THEN NULL WHEN _i IN (6, 7, 8) THEN 'A123456789'
                     ELSE person_key END AS person_key,                                   -- null / raw-looking key
                CASE WHEN _i > _n - 2 THEN DATE '{future}' ELSE FUNC_DATE END AS FUNC_DATE)  -- in the future
            FROM o
            UNION ALL SELECT * EXCLUDE (_i, _n) REPLACE (_row_number + 1000000 AS _row_number)
            FROM o WHERE _i IN (9, 10)                                                     -- a second row per key
        """},
        "opdto": {"order": "_source_file, _row_number", "select": """
            SELECT * EXCLUDE (_i, _n) REPLACE (CASE WHEN _i <= 3 THEN SEQ_NO + 100000000 ELSE SEQ_NO END AS SEQ_NO)
            FROM o                                                                        -- orders without a visit
        """},
        "bb_specimen": {"order": "_source_file, _row_number", "select": """
            SELECT * EXCLUDE (_i, _n) REPLACE (
                CASE WHEN _i = 1 THEN 'TWB999999999' ELSE PARTICIPANT_ID END AS PARTICIPANT_ID) FROM o
        """},
    })
    fts = [tw_layout.BY_KEY[k] for k in ("opdte", "opdto", "bb_specimen", "bb_participant")]
    records = run_staging_suites(db, fts, run.table_columns)
    failures = _failures(records)
    assert failures == {
        ("stg_opdte", "code_format.ICD9CM_1"): 3,
        ("stg_opdte", "not_null.person_key"): 2,
        ("stg_opdte", "person_key_format.person_key"): 3,
        ("stg_opdte", "date_range.FUNC_DATE"): 2,
        ("stg_opdte", f"unique.{visit_key}"): 4,  # both rows of each of the two repeated keys
        ("stg_opdto", f"link.{visit_key}.opdte"): 3,
        ("stg_bb_specimen", "link.PARTICIPANT_ID.bb_participant"): 1,
    }
    # failed column checks show examples: they run again with them (the first pass counts only)
    detail = {r["expectation"]: r["detail"] for r in records if r["status"] == "failed"}
    assert detail["date_range.FUNC_DATE"].startswith("2 of ") and "e.g. [" in detail["date_range.FUNC_DATE"]
    assert future[:4] in detail["date_range.FUNC_DATE"].split("e.g.")[1]
    assert "e.g. [" in detail[f"unique.{visit_key}"]
    passed = [r for r in records if r["status"] == "passed"]
    assert passed and all(r["element_count"] is not None for r in passed)


def test_planted_finnish_faults_fail_the_named_expectations(runs, tmp_path):
    """The era of a Hilmo diagnosis comes from its episode (a join to stg_hilmo); orphans are caught."""
    run = runs["finland"]
    db = _corrupted_db(run, tmp_path, {
        "hilmo_diag": {"order": "_source_file, _row_number", "select": """
            SELECT * EXCLUDE (_i, _n) REPLACE (
                CASE WHEN _i <= 2 THEN '2500B' ELSE KOODI END AS KOODI,                    -- ICD-9 code after 1996
                CASE WHEN _i IN (3, 4, 5) THEN '99999999999' || _i ELSE HILMO_ID END AS HILMO_ID) -- no such episode
            FROM o
        """},
    })
    fts = [fi_layout.BY_KEY[k] for k in ("hilmo", "hilmo_diag")]
    failures = _failures(run_staging_suites(db, fts, run.table_columns))
    assert failures == {
        ("stg_hilmo_diag", "code_format.KOODI"): 2,
        ("stg_hilmo_diag", "link.HILMO_ID.hilmo"): 3,
    }


# ------------------------------------------------------------------------------------------- generation
@pytest.mark.parametrize("site", SITES)
def test_every_file_type_gets_a_generated_suite(site):
    layout, consolidate, _ = SITES[site]
    exps = staging_expectations(layout.FILE_TYPES, consolidate.table_columns)
    assert set(exps) == {f"stg_{ft.key}" for ft in layout.FILE_TYPES}
    for ft in layout.FILE_TYPES:
        suite = exps[f"stg_{ft.key}"]
        ids = [e.meta["id"] for e in suite]
        assert len(ids) == len(set(ids)), f"{ft.key}: expectation ids repeat"
        assert all({"id", "check", "column", "why"} <= set(e.meta) and e.meta["why"] for e in suite)
        assert {"columns", "column_types", "not_null._source_file", "not_null._row_number"} <= set(ids)
        for c in ft.columns:
            if c.kind in ("national_id", "hetu", "study_id"):
                assert {"not_null.person_key", "person_key_format.person_key"} <= set(ids)
            elif c.required:
                assert f"not_null.{c.name}" in ids
            if c.formats:
                assert f"code_format.{c.name}" in ids
            if c.values:
                assert f"value_set.{c.name}" in ids
            if c.kind in ("date", "roc_date", "fi_date", "iso_date", "partial_date", "year", "ym"):
                assert f"date_range.{c.name}" in ids
        if ft.unique_key:
            assert f"unique.{'+'.join(ft.unique_key)}" in ids
        for link in ft.links:
            assert f"link.{'+'.join(link.columns)}.{link.parent}" in ids
    assert expected_count(exps) == sum(len(v) for v in exps.values()) > 250


def test_declared_keys_and_links_agree_with_consolidation():
    """The layouts' keys and links state what consolidation enforces (until it reads them from the layout)."""
    for key, cols in fi_consolidate.KEYS.items():
        assert fi_layout.BY_KEY[key].unique_key == cols
    for child, (parent, id_col, _) in fi_consolidate.CHILDREN.items():
        assert Link(parent, (id_col,)) in fi_layout.BY_KEY[child].links
    for order, visit in tw_consolidate.ORDER_VISITS.items():
        assert Link(visit, tw_layout.VISIT_KEY) in tw_layout.BY_KEY[order].links
    assert Link("bb_participant", ("PARTICIPANT_ID",)) in tw_layout.BY_KEY["bb_specimen"].links


def test_new_declarations_default_to_nothing():
    c = C("X", "code", 3)
    assert (c.formats, c.era_column, c.values) == ((), None, ())
    assert C("X", "code", formats=CodeFormat("S", "[0-9]")).formats == (CodeFormat("S", "[0-9]"),)
    ft = tw_layout.FileType("x", "X", "X", "none", (c,), "x")
    assert (ft.unique_key, ft.links) == ((), ())
    with pytest.raises(ValueError, match="need era_column"):
        C("X", "code", formats=CodeFormat("S", "[0-9]", since="2016-01-01"))


def _fake_ft(key, columns, unique_key=(), links=()):
    return SimpleNamespace(key=key, columns=tuple(columns), source_name=key.upper(), unique_key=unique_key,
                           links=links)


def _cols(ft):
    out = [("person_key" if c.kind in ("national_id", "hetu") else c.name, "date32" if c.kind == "date" else "string")
           for c in ft.columns]
    return out + [("_source_file", "string"), ("_row_number", "int64")]


@pytest.mark.parametrize("fts,table_columns,message", [
    ([_fake_ft("a", [C("K", "code")], links=(Link("p", ("K",)),))], _cols, "not among the site's file types"),
    ([_fake_ft("a", [C("K", "code")], links=(Link("p", ("Z",)),)), _fake_ft("p", [C("K", "code")])], _cols,
     "link column Z is not a column of stg_a"),
    ([_fake_ft("a", [C("K", "code")], unique_key=("K", "Q"))], _cols, r"unique_key columns \['Q'\]"),
    ([_fake_ft("a", [C("K", "code", formats=CodeFormat("S", "x", since="2000-01-01"), era_column="D")])], _cols,
     "era_column D is not a column of stg_a"),
    ([_fake_ft("a", [C("K", "code", formats=CodeFormat("S", "x", since="2000-01-01"), era_column="p.D")])], _cols,
     "declares no link to p"),
    ([_fake_ft("a", [C("K", "code")])], lambda ft: [("_source_file", "string")], "has no staged column K"),
    ([_fake_ft("a", [C("K", "code")])], lambda ft: [("K", "decimal128"), ("_source_file", "string")],
     "without a DuckDB type"),
    ([_fake_ft("a", [C("K", "code")], unique_key=("_source_file", "_row_number"))], _cols,
     r"the same expectation twice: \['unique._source_file\+_row_number'\]"),
])
def test_bad_declarations_are_refused_with_the_file_type_named(fts, table_columns, message):
    with pytest.raises(StagingSuiteError, match=message):
        staging_expectations(fts, table_columns)


@given(st.text(alphabet="{}:ab'\\ _1$", max_size=30))
def test_sql_survives_gx_formatting_and_sqlalchemy_or_is_refused(literal):
    """Whatever braces, colons or quotes a pattern holds, GX's {batch} formatting and SQLAlchemy's
    text() give back exactly the SQL that was written, or the SQL is refused up front."""
    sql = "SELECT 1 FROM \x00batch\x00 WHERE x = '" + literal.replace("'", "''") + "'"
    try:
        escaped = _gx_sql(sql)
    except StagingSuiteError as exc:
        assert "bind parameter" in str(exc)
        return
    clause = sa.text(escaped.format(batch="t"))
    assert not clause._bindparams
    assert str(clause.compile()) == sql.replace("\x00batch\x00", "t")


def test_sql_with_a_colon_bind_is_refused():
    with pytest.raises(StagingSuiteError, match="bind parameter"):
        _gx_sql("SELECT 1 WHERE regexp_full_match(x, 'a :b')")
    assert _gx_sql("SELECT x::DATE, '[:]' FROM \x00batch\x00 WHERE y ~ '[0-9]{2}'") == \
        "SELECT x::DATE, '[:]' FROM {batch} WHERE y ~ '[0-9]{{2}}'"


# ------------------------------------------------------------------------------------------- suites
def test_a_suite_that_lost_an_expectation_is_an_error(runs):
    E = gx().expectations
    exps = staging_expectations(tw_layout.FILE_TYPES, tw_consolidate.table_columns)["stg_bb_specimen"]
    session = open_session(runs["taiwan"].db)
    try:
        suite = build_suite("staging.stg_bb_specimen", exps)
        verify_suite(suite, expected_count(exps))
        suite.expectations.pop()
        with pytest.raises(StagingSuiteError, match="lost"):
            verify_suite(suite, expected_count(exps))
        twins = [E.ExpectColumnValuesToNotBeNull(column="SPECIMEN_ID") for _ in range(2)]
        with pytest.raises(StagingSuiteError, match="declared twice"):
            build_suite("twins", twins)  # GX would silently keep one of two equal expectations
    finally:
        session.close()


def test_results_short_of_the_suite_are_an_error():
    """A session that returns fewer results than the suite declares (lost on the way) is refused."""
    gx().get_context(mode="ephemeral")  # build_suite needs an active GX context
    session = SimpleNamespace(validate=lambda suite, view, **kw: SimpleNamespace(results=[]))
    with pytest.raises(StagingSuiteError, match="stg_drug: 0 expectation results but 14 declared"):
        run_staging_suites(session, [tw_layout.DRUG], tw_consolidate.table_columns)


def test_a_view_that_cannot_be_read_gives_error_records(tmp_path):
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    records = run_staging_suites(db, [tw_layout.DRUG], tw_consolidate.table_columns)
    assert records and {r["status"] for r in records} == {"error"}
    assert all("stg_drug" in r["detail"] for r in records)


def _one_column_db(tmp_path: Path) -> tuple[Path, list]:
    """stg_a with a required code column K that is empty on 3 of 10 rows."""
    ft = _fake_ft("a", [C("K", "code", required=True)])
    db = tmp_path / "a.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE stg_a AS SELECT CASE WHEN range < 3 THEN NULL ELSE 'x' END AS K, "
                    "'f.csv' AS _source_file, range::BIGINT AS _row_number FROM range(10)")
    return db, [ft]


def test_failed_column_checks_show_examples_and_counts_stand_if_the_second_pass_fails(tmp_path, monkeypatch):
    """Suites count without examples; failed column checks run again for up to 20 examples. When that
    second pass cannot run, the record keeps its counts (no examples) instead of turning into an error."""
    from validators.gx_engine import GxSession

    db, fts = _one_column_db(tmp_path)
    (rec,) = [r for r in run_staging_suites(db, fts, _cols) if r["status"] != "passed"]
    assert rec["expectation"] == "not_null.K" and rec["unexpected_count"] == 3 and rec["element_count"] == 10
    assert "e.g. [None, None, None]" in rec["detail"]

    formats = []
    plain = GxSession.validate

    def second_pass_breaks(self, suite, table, schema=None, result_format="SUMMARY"):
        formats.append(result_format)
        if result_format == "BASIC":
            raise RuntimeError("connection lost")
        return plain(self, suite, table, schema, result_format)

    monkeypatch.setattr(GxSession, "validate", second_pass_breaks)
    (rec,) = [r for r in run_staging_suites(db, fts, _cols) if r["status"] != "passed"]
    assert formats == [staging_suites.COUNTS_ONLY, "BASIC"]
    assert rec["status"] == "failed" and rec["unexpected_count"] == 3 and "e.g." not in rec["detail"]
