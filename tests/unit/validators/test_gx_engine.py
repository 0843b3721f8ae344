"""Great Expectations on DuckDB and PostgreSQL, and the DQD check expectation."""

from __future__ import annotations

import contextlib

import duckdb
import pytest

from validators.dqd.expectation import EXPECTATION_TYPE, register
from validators.gx_engine import ValidationSetupError, gx, open_session, sqlalchemy_url


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("gx") / "t.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE person AS SELECT range AS person_id, "
                    "CASE WHEN range % 10 = 0 THEN NULL ELSE 8507 END AS gender_concept_id FROM range(1000)")
    return path


def test_sqlalchemy_urls(tmp_path):
    assert sqlalchemy_url(tmp_path / "a.duckdb") == f"duckdb:///{(tmp_path / 'a.duckdb').resolve()}"
    assert sqlalchemy_url(f"duckdb:{tmp_path}/a.duckdb").startswith("duckdb:///")
    assert sqlalchemy_url("postgresql://u@h:5432/db") == "postgresql+psycopg://u@h:5432/db"
    assert sqlalchemy_url("postgresql://u@h/db?schema=cdm&sslmode=disable") == \
        "postgresql+psycopg://u@h/db?sslmode=disable"
    with pytest.raises(ValidationSetupError, match="unsupported database"):
        sqlalchemy_url("mysql://h/db")


def test_builtin_expectation_reads_duckdb_results(db):
    """GX reads results after releasing the connection; on DuckDB that needs the persistent connection."""
    g = gx()
    session = open_session(db)
    try:
        suite = g.ExpectationSuite("person")
        suite.add_expectation(g.expectations.ExpectColumnValuesToNotBeNull(column="gender_concept_id"))
        suite.add_expectation(g.expectations.ExpectColumnValuesToBeUnique(column="person_id"))
        res = session.validate(suite, "person")
    finally:
        session.close()
    not_null, unique = res.results
    assert not_null.success is False and not_null.result["unexpected_count"] == 100
    assert not_null.result["element_count"] == 1000
    assert unique.success is True


@pytest.mark.parametrize("threshold,success", [(5.0, False), (10.0, True), (20.0, True)])
def test_dqd_expectation_threshold_rule(db, threshold, success):
    """Fails when the violated share, in percent, is above the threshold (10% nulls here)."""
    g = gx()
    cls = register()
    session = open_session(db)
    try:
        suite = g.ExpectationSuite("dqd")
        suite.add_expectation(cls(
            check_id="isRequired.person.gender_concept_id", check_name="isRequired", threshold=threshold,
            dqd_query='SELECT COUNT(*) FILTER (WHERE gender_concept_id IS NULL), COUNT(*) FROM "person"'))
        res = session.validate(suite, "person")
    finally:
        session.close()
    (r,) = res.results
    assert r.expectation_config.type == EXPECTATION_TYPE
    assert r.success is success
    assert r.result["details"] == {"check_id": "isRequired.person.gender_concept_id", "num_violated_rows": 100,
                                   "num_denominator_rows": 1000, "threshold_value": threshold}
    assert r.result["observed_value"] == pytest.approx(0.1)


def test_dqd_expectation_sql_error_is_reported_not_raised(db):
    g = gx()
    cls = register()
    session = open_session(db)
    try:
        suite = g.ExpectationSuite("dqd")
        suite.add_expectation(cls(check_id="x.person", check_name="x", dqd_query='SELECT nope FROM "person"'))
        (r,) = session.validate(suite, "person").results
    finally:
        session.close()
    assert r.success is False
    assert "nope" in str(r.exception_info)


def test_init_sql_runs_on_the_session_connection(db, tmp_path):
    other = tmp_path / "vocab.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE concept AS SELECT 8507 AS concept_id")
    session = open_session(db, init_sql=(f"ATTACH '{other}' AS vocab (READ_ONLY)",))
    try:
        assert session.execute("SELECT COUNT(*) FROM vocab.concept") == [(1,)]
    finally:
        session.close()


def test_file_project_builds_data_docs(db, tmp_path):
    g = gx()
    session = open_session(db, project_dir=tmp_path / "gx")
    try:
        suite = g.ExpectationSuite("person")
        suite.add_expectation(g.expectations.ExpectColumnValuesToNotBeNull(column="person_id"))
        result = session.validate(suite, "person")
        session.publish(suite, result, run_name="r1", batch_name="person")
        index = session.build_data_docs()
    finally:
        session.close()
    assert result.success is True
    assert index is not None and index.name == "index.html" and index.is_file()
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == 1 and "person" in pages[0].read_text(encoding="utf-8")


def test_close_frees_the_duckdb_file(db):
    """After close, the file opens with another configuration (read-write), so nothing holds it."""
    session = open_session(db)
    session.execute("SELECT 1")
    session.close()
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT COUNT(*) FROM person").fetchone() == (1000,)


@pytest.mark.services
def test_postgres_session(postgres_url):
    import psycopg

    base, schema = postgres_url.split("?schema=")
    with psycopg.connect(base, autocommit=True) as con:
        con.execute(f'CREATE TABLE "{schema}".person AS SELECT g AS person_id, '
                    "CASE WHEN g % 4 = 0 THEN NULL ELSE 8507 END AS gender_concept_id FROM generate_series(1, 400) g")
    g = gx()
    session = open_session(postgres_url)
    try:
        suite = g.ExpectationSuite("pg")
        suite.add_expectation(g.expectations.ExpectColumnValuesToNotBeNull(column="gender_concept_id"))
        (r,) = session.validate(suite, "person", schema=schema).results
        with pytest.raises(ValidationSetupError, match="only supported on DuckDB"):
            open_session(postgres_url, init_sql=("SELECT 1",))
    finally:
        session.close()
    assert r.result["unexpected_count"] == 100


def test_a_failed_query_does_not_poison_the_next(db):
    """DuckDB aborts the transaction on an error; the session rolls back so later checks still run."""
    g = gx()
    session = open_session(db)
    try:
        suite = g.ExpectationSuite("p", expectations=[
            g.expectations.UnexpectedRowsExpectation(unexpected_rows_query="SELECT nope FROM {batch}"),
            g.expectations.UnexpectedRowsExpectation(
                unexpected_rows_query="SELECT * FROM {batch} WHERE gender_concept_id IS NULL"),
            g.expectations.ExpectColumnValuesToNotBeNull(column="person_id"),
        ])
        results = session.validate(suite, "person").results  # GX does not keep the suite's order
    finally:
        session.close()
    by_query = {r.expectation_config.kwargs.get("unexpected_rows_query", r.expectation_config.type): r for r in results}
    broken = by_query["SELECT nope FROM {batch}"]
    nulls = by_query["SELECT * FROM {batch} WHERE gender_concept_id IS NULL"]
    not_null = by_query["expect_column_values_to_not_be_null"]
    assert broken.success is False and "nope" in str(broken.exception_info)
    assert nulls.result["observed_value"] == 100
    assert not_null.success is True


def _memo_suite(g):
    E = g.expectations
    return g.ExpectationSuite("memo", expectations=[
        E.ExpectColumnValuesToNotBeNull(column="gender_concept_id", meta={"id": "a"}),
        E.ExpectColumnValuesToNotBeNull(column="person_id", meta={"id": "b"}),
        E.ExpectColumnValuesToBeBetween(column="person_id", min_value=0, max_value=500, meta={"id": "c"}),
        E.ExpectColumnValuesToBeInSet(column="gender_concept_id", value_set=[8532], meta={"id": "d"}),
        E.ExpectColumnValuesToBeUnique(column="person_id", meta={"id": "e"}),
        E.UnexpectedRowsExpectation(unexpected_rows_query="SELECT * FROM {batch} WHERE person_id > 990",
                                    meta={"id": "f"}),
    ])


def _comparable(result) -> list[dict]:
    return [{"success": r.success, "result": r.result, "meta": r.expectation_config.meta,
             "kwargs": {k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},  # per data source
             "type": r.expectation_config.type} for r in result.results]


@pytest.mark.parametrize("result_format", ["BASIC", "COMPLETE"])
def test_memoised_configurations_give_the_same_results(db, result_format, monkeypatch):
    """Validation reads each configuration once (gx_engine.configurations_memoised): the results must be
    exactly those of GX's own property, for every expectation kind the hub uses."""
    from great_expectations.expectations.expectation import Expectation

    import validators.gx_engine as ge

    g = gx()
    session = open_session(db)
    try:
        memoised = session.validate(_memo_suite(g), "person", result_format=result_format)

        @contextlib.contextmanager
        def plain():
            yield

        monkeypatch.setattr(ge, "configurations_memoised", plain)
        reads = []
        original = Expectation.configuration
        monkeypatch.setattr(Expectation, "configuration", property(lambda self: reads.append(1) or original.fget(self)))
        unmemoised = session.validate(_memo_suite(g), "person", result_format=result_format)
    finally:
        session.close()
    assert _comparable(memoised) == _comparable(unmemoised)
    assert {r.expectation_config.meta["id"]: r.success for r in memoised.results} == \
        {"a": False, "b": True, "c": False, "d": False, "e": True, "f": False}
    assert len(reads) > 6 * 10  # what memoising saves: GX reads a configuration many times per expectation


def test_memoised_configurations_are_per_expectation_and_undone():
    from great_expectations.expectations.expectation import Expectation

    from validators.gx_engine import configurations_memoised

    g = gx()
    plain = Expectation.__dict__["configuration"]
    a = g.expectations.ExpectColumnValuesToNotBeNull(column="a")
    b = g.expectations.ExpectColumnValuesToNotBeNull(column="b")
    with configurations_memoised():
        assert Expectation.__dict__["configuration"] is not plain
        assert a.configuration is a.configuration  # built once
        assert a.configuration.kwargs["column"] == "a" and b.configuration.kwargs["column"] == "b"
        with configurations_memoised():  # nested: the outer cache stays
            assert a.configuration.kwargs["column"] == "a"
    assert Expectation.__dict__["configuration"] is plain
    assert a.configuration is not a.configuration  # GX's own property again
    with pytest.raises(RuntimeError, match="boom"), configurations_memoised():
        raise RuntimeError("boom")
    assert Expectation.__dict__["configuration"] is plain


def test_memoising_fails_loudly_if_gx_changes_the_property(monkeypatch):
    from great_expectations.expectations.expectation import Expectation

    from validators.gx_engine import configurations_memoised

    gx()
    monkeypatch.setattr(Expectation, "configuration", None)
    with pytest.raises(ValidationSetupError, match="no longer a property"), configurations_memoised():
        pass


def test_sibling_sessions_validate_at_once_and_publish_to_one_data_docs(db, tmp_path):
    """Two threads validate through a session and its sibling (own connection, same context and Data
    Docs): each result is the one a lone validation gives, both land in the Data Docs, and closing
    both frees the file."""
    from concurrent.futures import ThreadPoolExecutor

    g = gx()
    other = tmp_path / "vocab.duckdb"
    with duckdb.connect(str(other)) as con:
        con.execute("CREATE TABLE concept AS SELECT 8507 AS concept_id")
    session = open_session(db, project_dir=tmp_path / "gx", init_sql=(f"ATTACH '{other}' AS vocab (READ_ONLY)",))
    sibling = session.sibling()
    try:
        assert sibling.datasource is not session.datasource
        assert sibling.execute("SELECT COUNT(*) FROM vocab.concept") == [(1,)]  # same database instance
        alone = _comparable(session.validate(_memo_suite(g), "person"))

        def run(s, name):
            suite = _memo_suite(g)
            suite.name = name
            out = []
            for i in range(3):
                result = s.validate(suite, "person")
                s.publish(suite, result, run_name=f"r{i}", batch_name="person")
                out.append(_comparable(result))
            return out

        with ThreadPoolExecutor(max_workers=2) as pool:
            a, b = pool.submit(run, session, "one"), pool.submit(run, sibling, "two")
            results = a.result() + b.result()
        index = session.build_data_docs()
    finally:
        sibling.close()
        session.close()
    assert len(results) == 6 and all(r == alone for r in results)
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) == 6 and {p.parts[-4] for p in pages} == {"one", "two"}
    with duckdb.connect(str(db)) as con:  # read-write: nothing holds the file any more
        assert con.execute("SELECT COUNT(*) FROM person").fetchone() == (1000,)
