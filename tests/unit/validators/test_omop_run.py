"""validate_omop: every DQD check type made to fail on purpose through Great Expectations, the DQD
status vocabulary (passed / failed / not_applicable / error), thresholds, lost expectations, the gate."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest
from dqd_sql_cases import cases, materialise

from connectors.warehouse.ddl import ddl
from validators.dqd import catalogue
from validators.dqd.spec import CheckSpec
from validators.gate import QualityGateFailed, ThresholdsFileError, gate, load_thresholds
from validators.gx_engine import open_session
from validators.omop_run import QualitySuiteError, outcome_of, validate_omop

TODAY: dt.date = duckdb.connect().execute("SELECT CURRENT_DATE").fetchone()[0]
CASES = cases(TODAY)


def _case_db(path, case, with_bad: bool) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA cdm")
        con.execute("CREATE SCHEMA vocab")
        load = materialise(con.execute, con.executemany, case, "duckdb", "cdm", "vocab", "?")
        load(case.good)
        if with_bad:
            load(case.bad)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_every_check_type_fails_on_purpose_through_gx(tmp_path, case):
    """The same hand-computed counts as the SQL tests, now as GX results in DQD records."""
    spec = case.spec
    for with_bad, db in ((False, tmp_path / "good.duckdb"), (True, tmp_path / "bad.duckdb")):
        _case_db(db, case, with_bad)
        session = open_session(db)
        try:
            result = validate_omop(session, database_label=db.name, cdm_schema="cdm", vocab_schema="vocab",
                                   specs=[spec])
        finally:
            session.close()
        (rec,) = result.checks
        assert rec["check_id"] == spec.check_id and rec["check_name"] == spec.check_name
        if not with_bad:
            assert rec["status"] in ("passed", "not_applicable"), rec
            assert rec["num_violated_rows"] in (0, None)
            continue
        violated, denominator = case.expected
        assert (rec["num_violated_rows"], rec["num_denominator_rows"]) == (violated, denominator), rec
        if denominator == 0:  # nothing to check (e.g. no deaths): the DQD says not applicable
            assert rec["status"] == "not_applicable" and rec["not_applicable_reason"], rec
            continue
        expected_status = "failed" if violated / denominator * 100 > spec.threshold else "passed"
        assert rec["status"] == expected_status, rec
        assert rec["pct_violated_rows"] == pytest.approx(violated / denominator, abs=1e-6)
        assert rec["kahn_category"] == catalogue.CHECK_TYPES[spec.check_name].kahn_category
        assert rec["severity"] == catalogue.severity_of(spec)


@pytest.fixture()
def small_cdm(tmp_path):
    """person + condition_occurrence + a 3-concept vocabulary; one condition before birth, one null concept."""
    db = tmp_path / "cdm.duckdb"
    with duckdb.connect(str(db)) as con:
        for stmt in ddl("duckdb", ["person", "condition_occurrence", "concept"]):
            con.execute(stmt)
        con.execute("INSERT INTO concept VALUES (0,'No matching concept','Metadata','None','Undefined',NULL,'x',"
                    "'1970-01-01','2099-12-31',NULL), (8507,'MALE','Gender','Gender','Gender','S','M','1970-01-01',"
                    "'2099-12-31',NULL), (201826,'Type 2 diabetes mellitus','Condition','SNOMED','Clinical Finding',"
                    "'S','44054006','1970-01-01','2099-12-31',NULL)")
        con.execute("INSERT INTO person (person_id, gender_concept_id, year_of_birth, race_concept_id, "
                    "ethnicity_concept_id) VALUES (1, 8507, 1980, 0, 0), (2, 8507, 1990, 0, 0)")
        con.execute("INSERT INTO condition_occurrence (condition_occurrence_id, person_id, condition_concept_id, "
                    "condition_start_date, condition_type_concept_id) VALUES "
                    "(1, 1, 201826, DATE '2015-01-01', 0), (2, 2, 201826, DATE '1985-05-05', 0), "
                    "(3, 1, 201826, DATE '2016-01-01', 0)")
    return db


def _run(db, **kw):
    session = open_session(db)
    try:
        return validate_omop(session, database_label="t", **kw)
    finally:
        session.close()


def test_structural_outcomes_and_vocabulary(small_cdm):
    result = _run(small_cdm, tables=["person", "condition_occurrence", "death"])
    by_id = {c["check_id"]: c for c in result.checks}
    declared = catalogue.declared_checks(["person", "condition_occurrence", "death"])
    assert [c["check_id"] for c in result.checks] == [s.check_id for s in declared]  # every declared check, in order
    assert {c["status"] for c in result.checks} <= {"passed", "failed", "not_applicable", "error"}
    assert by_id["cdmTable.death"]["status"] == "failed"  # missing table: the check fails, the rest are N/A
    assert all(c["status"] == "not_applicable" for c in result.checks
               if c["cdm_table"] == "death" and c["check_name"] != "cdmTable")
    after_birth = by_id["plausibleAfterBirth.condition_occurrence.condition_start_date"]
    assert (after_birth["status"], after_birth["num_violated_rows"], after_birth["num_denominator_rows"]) == \
        ("failed", 1, 3)
    assert by_id["isRequired.person.gender_concept_id"]["status"] == "passed"
    assert result.overview()["total"] == len(declared)
    assert result.outcome == outcome_of(result.checks)


def test_missing_field_fails_cdm_field_and_skips_its_checks(tmp_path):
    db = tmp_path / "f.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE TABLE person (person_id BIGINT, year_of_birth BIGINT)")
        con.execute("INSERT INTO person VALUES (1, 1980)")
    result = _run(db, tables=["person"])
    by_id = {c["check_id"]: c for c in result.checks}
    assert by_id["cdmField.person.gender_concept_id"]["status"] == "failed"
    assert by_id["isRequired.person.gender_concept_id"]["status"] == "not_applicable"
    assert by_id["cdmField.person.person_id"]["status"] == "passed"
    assert result.outcome == "failed"  # cdmField is fatal


def test_thresholds_and_severity_overrides_change_the_verdict(small_cdm):
    spec_id = "plausibleAfterBirth.condition_occurrence.condition_start_date"
    loose = _run(small_cdm, tables=["condition_occurrence"], overrides={spec_id: 50})
    assert {c["check_id"]: c for c in loose.checks}[spec_id]["status"] == "passed"  # 33% <= 50%
    fatal = _run(small_cdm, tables=["condition_occurrence"],
                 overrides={spec_id: {"threshold": 0, "severity": "fatal"}})
    rec = {c["check_id"]: c for c in fatal.checks}[spec_id]
    assert rec["status"] == "failed" and rec["severity"] == "fatal"
    with pytest.raises(QualityGateFailed, match="plausibleAfterBirth on condition_occurrence.condition_start_date"):
        gate(fatal.checks, site="taiwan", run_id="r1")


def test_sql_error_is_an_error_record_not_a_crash(small_cdm, monkeypatch):
    from validators.dqd import sql

    real = sql.check_sql

    def broken(spec, dialect, **kw):
        return "SELECT no_such_column, 1 FROM person" if spec.check_name == "isRequired" else real(spec, dialect, **kw)

    real_parts = sql.check_parts

    def broken_parts(spec, dialect, **kw):  # the group query holding it fails too
        parts = real_parts(spec, dialect, **kw)
        return sql.CheckParts("no_such_column", "1", parts.body) if spec.check_name == "isRequired" else parts

    monkeypatch.setattr(sql, "check_sql", broken)
    monkeypatch.setattr(sql, "check_parts", broken_parts)
    result = _run(small_cdm, tables=["person"])
    errors = [c for c in result.checks if c["status"] == "error"]
    assert errors and all(c["check_name"] == "isRequired" for c in errors)
    assert "no_such_column" in errors[0]["error"]
    assert result.outcome == "failed"  # an errored fatal check cannot prove the data good
    # the other checks of the failed group query still have their counts (each ran on its own)
    clean = {c["check_id"]: c for c in _run(small_cdm, tables=["person"]).checks}
    others = [c for c in result.checks if c["check_name"] != "isRequired"]
    assert any(c["check_name"] == "isPrimaryKey" or c["cdm_field"] for c in others)
    assert [(c["status"], c["num_violated_rows"]) for c in others] == [
        (clean[c["check_id"]]["status"], clean[c["check_id"]]["num_violated_rows"]) for c in others]


def test_shared_queries_give_the_counts_of_one_query_per_check(small_cdm):
    """Checks sharing one query per table and body get exactly the records of one query each."""
    from validators.dqd import expectation

    shared = _run(small_cdm, tables=None)
    groups = dict(expectation._GROUP_MEMBERS)
    alone = _run(small_cdm, tables=None, share_queries=False)
    assert groups and max(len(m) for m in groups.values()) > 10  # checks really were grouped
    assert shared.checks == alone.checks


def test_a_suite_that_lost_expectations_is_an_error(small_cdm, monkeypatch):
    """GX's suite constructor logs and drops an expectation it cannot take; the count check turns that into an error."""
    import great_expectations as gx

    real = gx.ExpectationSuite

    def lossy(name=None, expectations=None, **kw):
        return real(name=name, expectations=list(expectations or [])[:-1], **kw)

    monkeypatch.setattr(gx, "ExpectationSuite", lossy)
    with pytest.raises(QualitySuiteError, match="holds .* expectations, .* declared"):
        _run(small_cdm, tables=["person"])


def test_gate_passes_warnings_and_names_fatal_failures():
    rec = {"check_id": "a", "check_name": "isRequired", "cdm_table": "person", "cdm_field": "gender_concept_id",
           "status": "failed", "severity": "convention", "num_violated_rows": 2, "num_denominator_rows": 4,
           "pct_violated_rows": 0.5, "threshold_value": 0.0, "error": None}
    gate([rec], site="finland", run_id="r")  # a convention failure is a warning: no exception
    with pytest.raises(QualityGateFailed) as exc:
        gate([{**rec, "severity": "fatal"}], site="finland", run_id="r", report="q.html")
    msg = str(exc.value)
    assert "1 fatal check(s) failed for finland run r" in msg and "isRequired on person.gender_concept_id" in msg
    assert "2 of 4 rows (50.00% > 0%)" in msg and "q.html" in msg
    assert exc.value.failed[0]["check_id"] == "a"


def test_thresholds_file(tmp_path):
    f = tmp_path / "t.toml"
    f.write_text('[all]\nplausibleValueHigh = 5\n[taiwan]\n"isRequired.person" = { threshold = 1, severity = "convention" }\n')
    assert load_thresholds(f, "taiwan") == {"plausibleValueHigh": 5,
                                            "isRequired.person": {"threshold": 1, "severity": "convention"}}
    assert load_thresholds(f, "finland") == {"plausibleValueHigh": 5}
    assert load_thresholds(None, "taiwan") == {}
    for text, match in [("[all]\nx = 'high'\n", "expected a number"), ("[all]\nx = { limit = 1 }\n", "unknown keys"),
                        ("[all\n", "t.toml"), ("all = 3\n", "must be a table")]:
        f.write_text(text)
        with pytest.raises(ThresholdsFileError, match=match):
            load_thresholds(f, "taiwan")
    with pytest.raises(ThresholdsFileError, match="does not exist"):
        load_thresholds(tmp_path / "nope.toml", "taiwan")


def test_unknown_override_key_is_refused(small_cdm):
    with pytest.raises(catalogue.CatalogueError, match="noSuchCheck"):
        _run(small_cdm, tables=["person"], overrides={"noSuchCheck": 3})


def test_explicit_specs_must_be_unique(small_cdm):
    spec = CheckSpec("isRequired", "person", "person_id")
    with pytest.raises(ValueError, match="duplicate check ids"):
        _run(small_cdm, specs=[spec, spec])


def test_checks_counted_elsewhere_are_judged_from_their_counts(small_cdm):
    """Counts made outside GX (the person partitions) give the records GX gives for the same checks;
    a count that errored there is an error record; nothing counted is run again."""
    from validators.partition_checks import ADDITIVE_CHECKS, partition_check_counts

    tables = ["person", "condition_occurrence"]
    with duckdb.connect(str(small_cdm), read_only=True) as con:
        counted = partition_check_counts(con, catalogue.declared_checks(tables))
    assert counted["counts"] and not counted["errors"]
    assert all(by.check_name in ADDITIVE_CHECKS for by in catalogue.declared_checks(tables)
               if by.check_id in counted["counts"])
    plain = _run(small_cdm, tables=tables)
    judged = _run(small_cdm, tables=tables, counted={c: tuple(v) for c, v in counted["counts"].items()})
    assert judged.checks == plain.checks
    assert sum(judged.suites.values()) < sum(plain.suites.values())  # the counted ones did not run in GX

    check_id = next(c for c in counted["counts"] if "isRequired" in c)
    other = next(c for c in counted["counts"] if c != check_id)
    judged = _run(small_cdm, tables=tables, counted={check_id: (1, 4)}, counted_errors={other: "boom\nmore"})
    by_id = {c["check_id"]: c for c in judged.checks}
    assert (by_id[check_id]["status"], by_id[check_id]["pct_violated_rows"]) == ("failed", 0.25)
    assert (by_id[other]["status"], by_id[other]["error"]) == ("error", "boom")


def test_partition_counts_skip_checks_of_missing_tables_and_fields(small_cdm):
    from validators.dqd.spec import CheckSpec
    from validators.partition_checks import partition_check_counts

    specs = [CheckSpec(check_name="isRequired", table="death", field="person_id"),
             CheckSpec(check_name="isRequired", table="person", field="no_such_field"),
             CheckSpec(check_name="isPrimaryKey", table="person", field="person_id"),  # not additive
             CheckSpec(check_name="isRequired", table="person", field="person_id")]
    with duckdb.connect(str(small_cdm), read_only=True) as con:
        out = partition_check_counts(con, specs)
    assert out["counts"] == {specs[3].check_id: [0, 2]}
    assert set(out["skipped"]) == {specs[0].check_id, specs[1].check_id}


def test_checks_counted_elsewhere_are_in_the_data_docs(small_cdm, tmp_path):
    """Partitioned runs count most checks outside GX; the Data Docs still show every check that ran:
    per table a suite 'omop.<table>.counted_in_partitions' with the summed counts, errors included."""
    from validators.omop_run import COUNTED_SUITE_SUFFIX
    from validators.partition_checks import partition_check_counts

    tables = ["person", "condition_occurrence"]
    with duckdb.connect(str(small_cdm), read_only=True) as con:
        counted = {c: tuple(v) for c, v in partition_check_counts(con, catalogue.declared_checks(tables))["counts"].items()}
    check_id = next(c for c in counted if c.startswith("isRequired.person."))
    broken = next(c for c in counted if c.startswith("isRequired.condition_occurrence."))
    counted[check_id] = (1, 4)
    del counted[broken]
    session = open_session(small_cdm, project_dir=tmp_path / "gx")
    try:
        result = validate_omop(session, database_label="t", tables=tables, counted=counted,
                               counted_errors={broken: "partition 1 lost its connection"},
                               data_docs=True, run_name="r1")
    finally:
        session.close()
    index = Path(result.data_docs)
    pages = {p.parts[-4]: p for p in (index.parent / "validations").rglob("*.html")}
    # suite names are folders: omop/person/counted_in_partitions/<run>/<time>/<batch>.html
    counted_pages = {p.parts[-5]: p for p in (index.parent / "validations").rglob("*.html")
                     if p.parts[-4] == COUNTED_SUITE_SUFFIX}
    assert set(counted_pages) == set(tables)
    person = counted_pages["person"].read_text(encoding="utf-8")
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", person))
    field = check_id.split(".", 2)[2]
    assert re.search(rf"required field {field} is NULL\. \(counted in the person partitions\) 0\.25 ", text), text[:3000]
    assert "Data asset: person" in text
    condition = counted_pages["condition_occurrence"].read_text(encoding="utf-8")
    assert "partition 1 lost its connection" in condition
    assert pages  # the suites GX ran are there too
    statuses = {c["check_id"]: c["status"] for c in result.checks}
    assert statuses[check_id] == "failed" and statuses[broken] == "error"
