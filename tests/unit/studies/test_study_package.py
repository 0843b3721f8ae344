"""``run_study`` end to end on a small OMOP CDM: checks before queries, disclosure, package, sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from connectors.stores import LocalStore
from crossbridge.pipeline.study import StudyRunError, publish_measure, run_study
from releases.verify import verify_release
from studies.database import open_study_database
from studies.measures import compute_measures
from studies.results import MARGIN
from studies.spec import StudySpecError, load_study

COUNT_COLS = {"persons", "cases", "users", "events", "at_risk"}


def _spec(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run(study_omop, study_yaml, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pkg")
    messages: list[str] = []
    r = run_study(_spec(tmp, study_yaml), f"duckdb:{study_omop}", tmp / "out", progress=messages.append)
    return r, messages


def _results(out: Path) -> dict[str, pd.DataFrame]:
    summary = json.loads((out / "study.json").read_text())
    return {m["name"]: pd.read_csv(out / m["file"], dtype={d: str for d in m["by"]}, keep_default_na=False,
                                   na_values=[""]) for m in summary["measures"]}


def test_package_files_manifest_and_progress(run):
    r, messages = run
    names = sorted(p.relative_to(r.out).as_posix() for p in r.out.rglob("*") if p.is_file())
    assert names == ["concept_sets.json", "manifest.json", "results/du.csv", "results/feas.csv", "results/inc.csv",
                     "results/n.csv", "results/prev.csv", "results/tte.csv", "spec.yml", "study.json"]
    report = verify_release(LocalStore(r.out))
    assert report.ok, report.message
    manifest = json.loads((r.out / "manifest.json").read_text())
    assert manifest["study_id"] == "t2d-test" and manifest["permit_id"] == "TEST-1"
    assert {"ICD10CM", "SNOMED", "RxNorm"} <= set(manifest["vocabulary_versions"])
    summary = json.loads((r.out / "study.json").read_text())
    assert summary["site"] == "test" and summary["threshold"] == 5 and summary["cdm_source"]["name"] == "Test CDM"
    assert any("measure 6/6: feas" in m for m in messages)
    assert not list(r.out.parent.glob(".out.partial-*"))


def test_no_small_count_leaves_the_site(run):
    r, _ = run
    for name, table in _results(r.out).items():
        for col in COUNT_COLS & set(table.columns):
            values = table[col].dropna()
            assert not ((values > 0) & (values < r.threshold)).any(), (name, col, values.tolist())


def test_published_counts_equal_the_exact_ones_and_margins_add_up(run, study_omop):
    r, _ = run
    study = load_study(r.out / "spec.yml")
    res = _results(r.out)
    with open_study_database(f"duckdb:{study_omop}") as db:
        from studies.concept_sets import resolve_concept_sets

        resolved = resolve_concept_sets(db, study, "test")
        raw = compute_measures(db, study, {n: s.concept_ids for n, s in resolved.items()},
                               domains={n: s.domains for n, s in resolved.items()})
    inner = res["n"][~res["n"][["period", "age_group", "sex"]].eq(MARGIN).any(axis=1)]
    merged = inner.merge(raw["n"], on=["period", "age_group", "sex"], how="left", suffixes=("", "_raw"))
    pub = merged["persons"].notna()
    assert (merged.loc[pub, "persons"] == merged.loc[pub, "persons_raw"].fillna(0)).all()
    total = res["n"].query("period == @MARGIN and age_group == @MARGIN and sex == @MARGIN")["persons"].iloc[0]
    if not pd.isna(total):
        assert total == raw["n"]["persons"].sum()
    # incidence: person-years of a margin = sum of its inner cells; rates only where events are published
    inc = res["inc"]
    inner_py = inc[~inc[["period", "age_group", "sex"]].eq(MARGIN).any(axis=1)]["person_years"].sum()
    grand = inc.query("period == @MARGIN and age_group == @MARGIN and sex == @MARGIN")["person_years"].iloc[0]
    assert grand == pytest.approx(inner_py, abs=0.05)
    assert grand == pytest.approx(raw["inc"]["person_days"].sum() / 365.25, abs=0.01)
    assert inc.loc[inc["events"].isna(), "rate"].isna().all()
    ok = inc["events"].notna() & (inc["person_years"] > 0)
    assert inc.loc[ok, "rate"].notna().all() and ok.sum() >= 3
    assert inc.loc[inc["person_years"] == 0, "rate"].isna().all()  # no person-time: undefined, not 0
    assert np.allclose(inc.loc[ok, "rate"], inc.loc[ok, "events"] / inc.loc[ok, "person_years"] * 1000, rtol=1e-3)
    # prevalence: no sum over periods (persons would be counted once per period)
    assert not (res["prev"]["period"] == MARGIN).any()
    prev = res["prev"].dropna(subset=["cases", "persons"])
    assert np.allclose(prev["proportion"], prev["cases"] / prev["persons"])


def test_survival_curve_is_cut_where_few_remain(run):
    r, _ = run
    tte = _results(r.out)["tte"]
    assert list(tte.columns) == ["age_group", "sex", "time", "at_risk", "survival", "lower", "upper"]
    for _, curve in tte.groupby(["age_group", "sex"]):
        published = curve["at_risk"].notna().to_numpy()
        assert not (~published[:-1] & published[1:]).any(), "a curve resumes after being cut"
        s = curve["survival"].dropna().to_numpy()
        assert (np.diff(s) <= 1e-12).all() and ((s >= 0) & (s <= 1)).all()
        assert (curve["at_risk"].dropna() >= r.threshold).all()
    assert set(tte["time"]) == set(range(0, 721, 90)) | {720}


def test_coverage_counts_records_and_misses(run, study_omop):
    r, _ = run
    cov = json.loads((r.out / "concept_sets.json").read_text())
    t2d = cov["t2d"]
    assert t2d["standard_concepts"][0]["concept_id"] == 201826
    assert "ICD10CM" in t2d["site_codes"]
    con = duckdb.connect(str(study_omop), read_only=True)
    n = con.execute("SELECT count(*) FROM condition_occurrence WHERE condition_concept_id = 201826").fetchall()[0][0]
    con.close()
    assert t2d["coverage"]["records"] == n
    assert t2d["coverage"]["by_source_vocabulary"] == {"ICD10CM": n}
    assert cov["blood"]["coverage"]["tables"] == ["specimen"]
    assert t2d["coverage"]["missed"] == {"ICD10CM": 7}  # E11.9 mapped to 0 (tests/unit/studies/conftest.py)


def test_bad_concept_code_is_refused_before_any_output(study_omop, study_yaml, tmp_path):
    spec = _spec(tmp_path, study_yaml.replace('codes: ["E11%"]', 'codes: ["E11%", "Q99.9"]'))
    with pytest.raises(StudySpecError) as err:
        run_study(spec, f"duckdb:{study_omop}", tmp_path / "out")
    assert err.value.field == "concept_sets.t2d.codes[1]" and "Q99.9" in str(err.value)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial-*"))


def test_threshold_below_the_jurisdiction_minimum(study_omop, study_yaml, tmp_path):
    spec = _spec(tmp_path, study_yaml.replace("threshold: 5", "threshold: 2"))
    with pytest.raises(StudySpecError, match=r"^disclosure.threshold: 2 is below the minimum 5"):
        run_study(spec, f"duckdb:{study_omop}", tmp_path / "out")
    spec = _spec(tmp_path, study_yaml.replace("jurisdiction: ohdsi", "jurisdiction: atlantis"))
    with pytest.raises(StudySpecError, match=r"^sites.test.jurisdiction"):
        run_study(spec, f"duckdb:{study_omop}", tmp_path / "out2")


def test_existing_output_and_unknown_site(study_omop, study_yaml, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("x")
    with pytest.raises(StudyRunError, match="never overwritten"):
        run_study(_spec(tmp_path, study_yaml), f"duckdb:{study_omop}", tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "x"
    with pytest.raises(StudySpecError, match="no site 'mars'"):
        run_study(_spec(tmp_path, study_yaml), f"duckdb:{study_omop}", tmp_path / "o2", site="mars")


def test_csv_source_gives_the_same_package(run, study_omop, study_yaml, tmp_path):
    r, _ = run
    folder = tmp_path / "csv"
    folder.mkdir()
    con = duckdb.connect(str(study_omop), read_only=True)
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        con.execute(f"COPY {t} TO '{folder / (t + '.csv')}' (HEADER)")
    con.close()
    again = run_study(_spec(tmp_path, study_yaml), f"csv:{folder}", tmp_path / "out")
    for name, table in _results(r.out).items():
        pd.testing.assert_frame_equal(_results(again.out)[name], table, check_dtype=False)


def test_a_stratum_without_rows_is_a_published_zero(study_yaml):
    import yaml

    from studies.spec import parse_study

    study = parse_study(yaml.safe_load(study_yaml))
    m = study.measure("n")
    raw = pd.DataFrame({"period": ["2012-2013"], "age_group": ["18-49"], "sex": ["female"], "persons": [12]})
    table = publish_measure(study, m, raw, 5)
    assert len(table) == 3 * 3 * 3  # (2 periods + all) x (2 age groups + all) x (female, male + all)
    assert table.query("period == '2014-2015' and age_group == '50-120' and sex == 'male'")["persons"].iloc[0] == 0
    assert table.query("period == @MARGIN and age_group == @MARGIN and sex == @MARGIN")["persons"].iloc[0] == 12


@pytest.mark.services
def test_postgresql_source_runs_in_the_database_and_agrees(run, study_omop, study_yaml, postgres_url, tmp_path):
    """The same package from PostgreSQL (the measures' SQL runs there; only vocabulary is copied)."""
    import psycopg

    r, _ = run
    base, schema = postgres_url.split("?schema=")
    src = duckdb.connect(str(study_omop), read_only=True)
    tables = [t for (t,) in src.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    with psycopg.connect(base, autocommit=True) as pg:
        for t in tables:
            frame = src.execute(f"SELECT * FROM {t}").df()
            types = {c: ("DATE" if "date" in c else "BIGINT" if frame[c].dtype.kind in "iu" else "TEXT")
                     for c in frame.columns}
            pg.execute(f'CREATE TABLE "{schema}".{t} ({", ".join(f"{c} {ty}" for c, ty in types.items())})')
            with pg.cursor() as cur, cur.copy(f'COPY "{schema}".{t} FROM STDIN') as copy:
                for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False):
                    copy.write_row(row)
    src.close()
    again = run_study(_spec(tmp_path, study_yaml), postgres_url, tmp_path / "out")
    for name, table in _results(r.out).items():
        pd.testing.assert_frame_equal(_results(again.out)[name], table, check_dtype=False)
    shutil.rmtree(again.out)


def test_feasibility_count_without_a_study_file(study_omop, capsys):
    from crossbridge.cli import main
    from crossbridge.pipeline.study import feasibility_count

    con = duckdb.connect(str(study_omop), read_only=True)
    expected = con.execute("""
        WITH latest AS (SELECT person_id, observation_source_value AS v, ROW_NUMBER() OVER (PARTITION BY person_id
                        ORDER BY observation_date DESC, observation_source_value = 'BIOBANK_BROAD_CONSENT') AS rn
                        FROM observation WHERE observation_source_value LIKE 'BIOBANK_%')
        SELECT count(DISTINCT c.person_id) FROM condition_occurrence c
        JOIN specimen s ON s.person_id = c.person_id AND s.specimen_concept_id = 4001225
        JOIN latest l ON l.person_id = c.person_id AND l.rn = 1 AND l.v = 'BIOBANK_BROAD_CONSENT'
        WHERE c.condition_concept_id = 201826""").fetchall()[0][0]
    con.close()
    assert expected >= 5
    result = feasibility_count(f"duckdb:{study_omop}", condition=("ICD10CM", ["E11%"]),
                               specimen=("standard", ["119297000"]))
    assert result["rows"] == [{"persons": expected}] and result["threshold"] == 5
    strict = feasibility_count(f"duckdb:{study_omop}", condition=("ICD10CM", ["E11%"]),
                               specimen=("standard", ["119297000"]), threshold=expected + 1)
    assert strict["rows"] == [{"persons": None}]  # below the threshold: suppressed
    assert main(["study", "feasibility", "--omop", f"duckdb:{study_omop}", "--condition", "ICD10CM:E11%",
                 "--specimen", "standard:119297000"]) == 0
    assert f"{expected:,}" in capsys.readouterr().out
    assert main(["study", "feasibility", "--omop", f"duckdb:{study_omop}", "--condition", "ICD10CM:Q99.99"]) == 2
    assert "--condition: no code" in capsys.readouterr().err


def test_a_retried_dag_run_reuses_its_complete_package(study_omop, study_yaml, tmp_path):
    from types import SimpleNamespace

    from crossbridge.pipeline.study import study_task

    settings = SimpleNamespace(workdir=tmp_path, warehouse_url=lambda site: f"duckdb:{study_omop}")
    spec = _spec(tmp_path, study_yaml)
    first = study_task(str(spec), settings, tag="run1")
    assert first["reused"] is False and first["dir"] == str(tmp_path / "studies" / "t2d-test" / "test-run1")
    before = (Path(first["dir"]) / "manifest.json").read_bytes()
    again = study_task(str(spec), settings, tag="run1")
    assert again == {"dir": first["dir"], "reused": True}
    assert (Path(first["dir"]) / "manifest.json").read_bytes() == before


def test_a_stratum_with_one_label_has_no_margin_rows(study_yaml):
    import yaml

    from studies.spec import parse_study

    study = parse_study(yaml.safe_load(study_yaml.replace("periods: [[2012, 2013], [2014, 2015]]",
                                                          "periods: [[2012, 2015]]")))
    raw = pd.DataFrame({"period": ["2012-2015"] * 2, "age_group": ["18-49", "50-120"], "sex": ["female", "male"],
                        "persons": [12, 9]})
    table = publish_measure(study, study.measure("n"), raw, 5)
    assert set(table["period"]) == {"2012-2015"}
    assert len(table) == 3 * 3 and table.query("age_group == @MARGIN and sex == @MARGIN")["persons"].iloc[0] == 21


def test_drug_utilisation_counts_dispensings_only(tmp_path):
    """A drug concept recorded in another table (an observation) is no dispensing."""
    import yaml

    from studies.spec import parse_study

    path = tmp_path / "tiny.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE person AS SELECT 1::BIGINT AS person_id, 8532 AS gender_concept_id, "
                "1960 AS year_of_birth")
    con.execute("CREATE TABLE observation_period AS SELECT 1::BIGINT AS person_id, "
                "DATE '2010-01-01' AS observation_period_start_date, DATE '2019-12-31' AS observation_period_end_date")
    con.execute("CREATE TABLE condition_occurrence AS SELECT 1::BIGINT AS person_id, 201826 AS condition_concept_id, "
                "DATE '2015-03-01' AS condition_start_date")
    con.execute("CREATE TABLE drug_exposure (person_id BIGINT, drug_concept_id INT, drug_exposure_start_date DATE)")
    con.execute("CREATE TABLE observation AS SELECT 1::BIGINT AS person_id, 1503297 AS observation_concept_id, "
                "DATE '2015-04-01' AS observation_date, 'x' AS observation_source_value")
    con.close()
    study = parse_study(yaml.safe_load("""
study_id: du-only
title: t
concept_sets: {t2d: {system: concept_id, codes: ["201826"]}, met: {system: concept_id, codes: ["1503297"]}}
cohort: {entry: t2d, prior_observation_days: 365}
periods: [[2015, 2015]]
measures: [{name: du, type: drug_utilisation, drug: met, window: [0, 365]}]
sites: {test: {permit: P}}
"""))
    with open_study_database(f"duckdb:{path}") as db:
        raw = compute_measures(db, study, {"t2d": [201826], "met": [1503297]})
    assert raw["du"].to_dict("records") == [{"period": "2015", "users": 0, "persons": 1}]
