"""Study specifications: the example is valid; every error names the field at fault."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from studies.spec import STRATA_DIMS, StudySpecError, load_study, parse_study

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "studies" / "examples" / "t2d_metformin.yml"


@pytest.fixture()
def spec() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_example_study_is_valid():
    s = load_study(EXAMPLE)
    assert s.study_id == "t2d-metformin-tw-fi"
    assert set(s.concept_sets) == {"t2d", "metformin", "blood_sample"}
    assert s.cohort.entry == "t2d" and s.cohort.prior_observation_days == 365 and s.cohort.age == (18, 120)
    assert s.periods == ((2015, 2017),)
    assert [s.age_label(b) for b in s.age_groups] == ["18-54", "55-120"]
    assert [m.type for m in s.measures] == ["incidence", "prevalence", "count", "drug_utilisation",
                                             "time_to_event", "feasibility"]
    assert s.measure("t2d_incidence").by == STRATA_DIMS
    assert s.measure("time_to_metformin").by == ("sex",)
    assert s.measure("t2d_blood_feasibility").by == ()
    assert s.sites["finland"].permit == "FINDATA-EXAMPLE-0001" and s.threshold == 5


def test_labels():
    s = load_study(EXAMPLE)
    assert s.period_label((2015, 2015)) == "2015" and s.period_label((2016, 2017)) == "2016-2017"
    assert s.age_label((65, 150)) == "65+"


def _set(d: dict, path: str, value) -> None:
    keys = path.split(".")
    for k in keys[:-1]:
        d = d[int(k)] if isinstance(d, list) else d[k]
    last = keys[-1]
    if value is _DELETE:
        del d[last]
    elif isinstance(d, list):
        d[int(last)] = value
    else:
        d[last] = value


_DELETE = object()

CASES = [
    ("unknown top key", "colour", "blue", "colour", "unknown key"),
    ("missing title", "title", _DELETE, "title", "is required"),
    ("bad study id", "study_id", "T2D Study", "study_id", "a-z"),
    ("impossible window", "measures.3.window", [365, 0], "measures[3].window", "impossible days range"),
    ("window not a pair", "measures.3.window", [1, 2, 3], "measures[3].window", "pair"),
    ("grid longer than follow-up", "measures.4.interval_days", 1000, "measures[4].interval_days",
     "impossible window"),
    ("zero follow-up", "measures.4.max_days", 0, "measures[4].max_days", ">= 1"),
    ("negative washout", "measures.0.washout_days", -1, "measures[0].washout_days", ">= 0"),
    ("period reversed", "periods", [[2017, 2016]], "periods[0]", "impossible years range"),
    ("overlapping periods", "periods", [[2014, 2016], [2016, 2017]], "periods[1]", "overlaps"),
    ("overlapping ages", "strata.age", [[18, 50], [45, 64]], "strata.age[1]", "overlaps"),
    ("second period overlaps", "periods", [[2015, 2015], [2014, 2016]], "periods[0]", "overlaps"),
    ("age group outside cohort", "strata.age", [[0, 17], [18, 64]], "strata.age[0]", "empty by design"),
    ("period outside permit", "periods", [[2012, 2013]], "periods[0]", "empty by design"),
    ("unknown concept set", "cohort.entry", "t1d", "cohort.entry", "names no concept set"),
    ("unknown drug set", "measures.3.drug", "insulin", "measures[3].drug", "names no concept set"),
    ("unknown measure type", "measures.2.type", "odds_ratio", "measures[2].type", "unknown measure"),
    ("key of another type", "measures.2.window", [0, 1], "measures[2].window", "does not apply"),
    ("stratum not declared", "strata.sex", False, "measures[4].by", "not declared"),
    ("time to event by period", "measures.4.by", ["period", "sex"], "measures[4].by", "not split by calendar"),
    ("feasibility by period", "measures.5.by", ["period"], "measures[5].by", "period"),
    ("threshold zero", "disclosure.threshold", 0, "disclosure.threshold", ">= 1"),
    ("no codes", "concept_sets.t2d.codes", [], "concept_sets.t2d.codes", "non-empty"),
    ("empty code", "concept_sets.t2d.codes", ["E11%", " "], "concept_sets.t2d.codes[1]", "must be a code"),
    ("descendants not bool", "concept_sets.t2d.include_descendants", "yes",
     "concept_sets.t2d.include_descendants", "true or false"),
    ("site without permit", "sites.taiwan", {"jurisdiction": "taiwan"}, "sites.taiwan.permit", "is required"),
    ("bool as integer", "cohort.prior_observation_days", True, "cohort.prior_observation_days", "integer"),
]


@pytest.mark.parametrize("what,path,value,field,message", CASES, ids=[c[0] for c in CASES])
def test_errors_name_the_field(spec, what, path, value, field, message):
    bad = copy.deepcopy(spec)
    _set(bad, path, value)
    with pytest.raises(StudySpecError) as err:
        parse_study(bad)
    assert err.value.field == field, str(err.value)
    assert message in str(err.value) and str(err.value).startswith(field + ":")


def test_duplicate_measure_names(spec):
    spec["measures"].append(dict(spec["measures"][0]))
    with pytest.raises(StudySpecError, match=r"^measures\[6\].name: 't2d_incidence' is used twice"):
        parse_study(spec)


def test_cohort_measures_need_a_cohort(spec):
    del spec["cohort"]
    with pytest.raises(StudySpecError, match=r"^measures\[2\].type: a count measure is computed on the target "):
        parse_study(spec)


def test_unreadable_files(tmp_path):
    with pytest.raises(StudySpecError, match="no study file"):
        load_study(tmp_path / "absent.yml")
    (tmp_path / "bad.yml").write_text("study_id: [unclosed", encoding="utf-8")
    with pytest.raises(StudySpecError, match="not valid YAML"):
        load_study(tmp_path / "bad.yml")
    (tmp_path / "list.yml").write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(StudySpecError, match="must be a mapping"):
        load_study(tmp_path / "list.yml")


def test_single_year_and_open_age_band(spec):
    spec["periods"] = [2016]
    spec["strata"]["age"] = [[18, 64], [65, 150]]
    s = parse_study(spec)
    assert s.periods == ((2016, 2016),) and s.age_label(s.age_groups[1]) == "65+"
