"""studies.compare: packages of one study from several sites, side by side (docs/studies.md, "Compare")."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest

from studies.compare import CompareError, load_package, write_comparison

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MEASURES = [
    {"name": "t2d_incidence", "type": "incidence", "title": "Incidence of T2D <script>alert(1)</script>",
     "by": ["period", "age_group", "sex"], "columns": ["events", "person_years", "rate", "lower", "upper"]},
    {"name": "cohort_size", "type": "count", "title": "Cohort size", "by": ["period", "age_group", "sex"],
     "columns": ["persons"]},
    {"name": "t2d_prevalence", "type": "prevalence", "title": "Prevalence of T2D", "by": ["period", "age_group"],
     "columns": ["cases", "persons", "proportion", "lower", "upper"]},
    {"name": "metformin_use", "type": "drug_utilisation", "title": "Metformin in the first year",
     "by": ["age_group", "sex"], "columns": ["users", "persons", "proportion", "lower", "upper"]},
    {"name": "time_to_insulin", "type": "time_to_event", "title": "Time to insulin", "by": ["sex"],
     "columns": ["time", "at_risk", "survival", "lower", "upper"]},
    {"name": "biobank", "type": "feasibility", "title": "Biobank feasibility", "by": [], "columns": ["persons"]},
    {"name": "custom_thing", "type": "something_new", "title": "A measure of a future type", "by": ["sex"],
     "columns": ["value"]},
]

# rows per measure and site: stratum values then values; "" = suppressed
ROWS = {
    "taiwan": {
        "t2d_incidence": [
            ["2015", "18-44", "female", "", "1000.5", "", "", ""],  # suppressed: 0 < events < 5
            ["(all)", "18-44", "female", "12", "2100.25", "5.71", "2.95", "9.98"],
            ["(all)", "18-44", "male", "20", "2000.00", "10.0", "6.11", "15.4"],
            ["(all)", "65+", "female", "40", "900.00", "44.4", "31.8", "60.5"],
            ["(all)", "(all)", "(all)", "1234", "123456.78", "10.0", "9.44", "10.6"],
        ],
        "cohort_size": [
            ["(all)", "18-44", "(all)", "1500", ],
            ["(all)", "65+", "(all)", ""],
            ["(all)", "(all)", "(all)", "12345"],
        ],
        "t2d_prevalence": [
            ["2015", "18-44", "30", "1000", "0.03", "0.0211", "0.0425"],
            ["2015", "(all)", "", "3000", "", "", ""],
        ],
        "metformin_use": [
            ["18-44", "female", "80", "100", "0.8", "0.711", "0.866"],
            ["18-44", "male", "", "", "", "", ""],
            ["(all)", "(all)", "300", "400", "0.75", "0.705", "0.79"],
        ],
        "time_to_insulin": [
            ["female", "0", "100", "1", "1", "1"],
            ["female", "30", "90", "0.95", "0.89", "0.98"],
            ["female", "60", "", "", "", ""],
            ["male", "0", "80", "1", "1", "1"],
            ["male", "30", "70", "0.9", "0.81", "0.95"],
        ],
        "biobank": [["42"]],
        "custom_thing": [["female", "1.5"], ["male", ""]],
    },
    "finland": {
        "t2d_incidence": [
            ["(all)", "18-44", "female", "15", "3000.00", "5.00", "2.80", "8.25"],
            ["(all)", "18-44", "male", "", "2500.00", "", "", ""],
            ["(all)", "65+", "female", "60", "1000.00", "60.0", "45.8", "77.2"],
            ["(all)", "(all)", "(all)", "2000", "200000.00", "10.0", "9.57", "10.4"],
        ],
        "cohort_size": [
            ["(all)", "18-44", "(all)", "900"],
            ["(all)", "65+", "(all)", "700"],
            ["(all)", "(all)", "(all)", "1600"],
        ],
        "t2d_prevalence": [
            ["2015", "18-44", "25", "800", "0.0313", "0.0212", "0.0458"],
            ["2015", "(all)", "40", "1200", "0.0333", "0.0245", "0.0451"],
        ],
        "metformin_use": [
            ["18-44", "female", "60", "90", "0.667", "0.564", "0.756"],
            ["(all)", "(all)", "200", "250", "0.8", "0.746", "0.845"],
        ],
        "time_to_insulin": [
            ["female", "0", "120", "1", "1", "1"],
            ["female", "30", "110", "0.97", "0.92", "0.99"],
            ["female", "60", "100", "0.93", "0.87", "0.96"],
        ],
        "biobank": [[""]],
        "custom_thing": [["female", "2.5"]],
    },
}

CONCEPT_SETS = {
    "t2d": {
        "system": "ICD10", "codes": ["E11%"], "include_descendants": True,
        "standard_concepts": [{"concept_id": 201826, "name": "Type 2 diabetes mellitus <b>",
                               "vocabulary_id": "SNOMED", "domain_id": "Condition"}],
        "site_codes": {"ICD10": [{"code": f"E11.{i}", "name": f"T2D variant {i}"} for i in range(25)]},
        "coverage": {"records": 5000, "by_source_vocabulary": {"ICD10": 4990, "(none)": None},
                     "missed": {"ICD10": None}},
    },
}


def make_package(root: Path, site: str, *, threshold: int = 5, study_id: str = "t2d-metformin",
                 spec_sha256: str = "a" * 64, measures: list[dict] | None = None,
                 rows: dict[str, list[list[str]]] | None = None) -> Path:
    """Write one site's study package (the runner's format) into ``root/site``."""
    folder = root / site
    (folder / "results").mkdir(parents=True)
    measures = [dict(m, file=f"results/{m['name']}.csv") for m in (measures or MEASURES)]
    rows = ROWS[site] if rows is None else rows
    study = {
        "study_id": study_id, "title": "T2D & metformin", "site": site, "permit": f"PERMIT-{site.upper()}",
        "jurisdiction": site, "threshold": threshold, "spec_sha256": spec_sha256,
        "created": "2026-11-21T10:00:00+00:00",
        "cdm_source": {"name": f"{site} synthetic CDM", "vocabulary_version": "v5.0 2026"},
        "measures": measures, "cohort": {"name": "new T2D"},
    }
    (folder / "study.json").write_text(json.dumps(study), encoding="utf-8")
    (folder / "concept_sets.json").write_text(json.dumps(CONCEPT_SETS), encoding="utf-8")
    for m in measures:
        header = [*m["by"], *[c for c in m["columns"] if c not in m["by"]]]
        with (folder / m["file"]).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows.get(m["name"], []))
    return folder


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("packages")
    tw = make_package(root, "taiwan", threshold=5)
    fi = make_package(root, "finland", threshold=10)
    index = write_comparison([tw, fi], root / "report")
    return index, index.read_text(encoding="utf-8")


def test_load_package_reads_strata_as_text_and_suppressed_as_nan(tmp_path):
    pkg = load_package(make_package(tmp_path, "taiwan"))
    assert (pkg.site, pkg.study_id, pkg.threshold) == ("taiwan", "t2d-metformin", 5)
    assert [m.name for m in pkg.measures] == [m["name"] for m in MEASURES]
    inc = pkg.measure("t2d_incidence").table
    assert list(inc.columns) == ["period", "age_group", "sex", "events", "person_years", "rate", "lower", "upper"]
    assert inc["period"].iloc[0] == "2015" and isinstance(inc["period"].iloc[0], str)
    assert pd.isna(inc["rate"].iloc[0]) and inc["rate"].iloc[1] == pytest.approx(5.71)
    assert inc["events"].iloc[4] == 1234


def test_index_shows_sites_measures_and_escapes_text(report):
    index, page = report
    assert index.name == "index.html" and index.is_file()
    for text in ("taiwan", "finland", "PERMIT-TAIWAN", "taiwan synthetic CDM", "2026-11-21T10:00:00+00:00",
                 "t2d-metformin", "Cohort size", "Prevalence of T2D", "Metformin in the first year",
                 "Time to insulin", "Biobank feasibility", "A measure of a future type"):
        assert text in page, text
    assert "<script>" not in page
    assert "Incidence of T2D &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "T2D &amp; metformin" in page
    assert "Type 2 diabetes mellitus &lt;b&gt;" in page
    # the measures in the order of study.json
    positions = [page.index(t) for t in ("Incidence of T2D", "Cohort size", "Prevalence of T2D",
                                         "Metformin in the first year", "Time to insulin", "Biobank feasibility")]
    assert positions == sorted(positions)
    # self-contained: no external stylesheet or script, figures by relative path
    assert "<style>" in page and "<link" not in page and "http" not in page
    assert 'src="figures/t2d_incidence.png"' in page


def test_suppressed_values_print_with_each_sites_threshold(report):
    _, page = report
    incidence = page[page.index("Incidence of T2D"):page.index("Cohort size")]
    assert "&lt;5" in incidence  # taiwan's suppressed 2015 rate
    assert "&lt;10" in incidence  # finland's suppressed male events
    # numbers formatted: thousands separators for counts, 3 significant digits for rates
    assert "1,234" in incidence and "123,456.8" in incidence and "5.71" in incidence and "2.95–9.98" in incidence
    biobank = page[page.index("Biobank feasibility"):page.index("A measure of a future type")]
    assert ">42<" in biobank and "&lt;10" in biobank
    coverage = page[page.index("Concept sets and coverage"):]
    assert "5,000" in coverage and "4,990" in coverage and "&lt;5" in coverage and "&lt;10" in coverage
    assert "E11.19" in coverage and "E11.20" not in coverage  # 20 codes listed per vocabulary
    assert "5 more" in coverage and "(25 codes)" in coverage
    assert "201826" in coverage


def test_figures_are_png_for_known_types_only(report):
    index, page = report
    figures = index.parent / "figures"
    for name in ("t2d_incidence", "cohort_size", "t2d_prevalence", "metformin_use", "time_to_insulin", "biobank"):
        data = (figures / f"{name}.png").read_bytes()
        assert data.startswith(PNG_MAGIC), name
        assert len(data) > 2000, name
    assert not (figures / "custom_thing.png").exists()
    assert "No figure for this measure type" in page


def test_tables_stack_every_row_with_a_site_column(report):
    index, _ = report
    tables = index.parent / "tables"
    for m in MEASURES:
        table = pd.read_csv(tables / f"{m['name']}.csv", dtype=str, keep_default_na=False)
        assert list(table.columns[:1]) == ["site"]
        assert (table["site"] == "taiwan").sum() == len(ROWS["taiwan"][m["name"]])
        assert (table["site"] == "finland").sum() == len(ROWS["finland"][m["name"]])
    inc = pd.read_csv(tables / "t2d_incidence.csv", dtype=str, keep_default_na=False)
    first = inc.iloc[0]
    assert (first["site"], first["period"], first["events"], first["rate"]) == ("taiwan", "2015", "", "")
    assert inc.iloc[0]["person_years"] == "1000.5" and inc.iloc[-1]["person_years"] == "200000.00"  # verbatim


def test_different_study_ids_are_refused(tmp_path):
    a = make_package(tmp_path, "taiwan")
    b = make_package(tmp_path, "finland", study_id="another-study")
    with pytest.raises(CompareError, match="different studies"):
        write_comparison([a, b], tmp_path / "out")
    assert not (tmp_path / "out" / "index.html").exists()


def test_duplicate_site_is_refused(tmp_path):
    a = make_package(tmp_path / "one", "taiwan")
    b = make_package(tmp_path / "two", "taiwan")
    with pytest.raises(CompareError, match="site 'taiwan' appears twice"):
        write_comparison([a, b], tmp_path / "out")


def test_missing_study_json_names_the_folder(tmp_path):
    folder = make_package(tmp_path, "taiwan")
    (folder / "study.json").unlink()
    with pytest.raises(CompareError, match=re.escape(str(folder)) + r".*study\.json"):
        load_package(folder)
    with pytest.raises(CompareError, match="study.json"):
        write_comparison([folder], tmp_path / "out")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "results" / "biobank.csv").unlink(), "result file .*biobank.csv is missing"),
        (lambda f: (f / "concept_sets.json").unlink(), "no concept_sets.json"),
        (lambda f: (f / "results" / "biobank.csv").write_text("persons\nmany\n"), "'many' is not a number"),
        (lambda f: (f / "results" / "t2d_prevalence.csv").write_text("period,cases\n2015,3\n"),
         "missing column.*age_group"),
        (lambda f: (f / "study.json").write_text("{not json"), "not valid JSON"),
    ],
)
def test_malformed_packages_are_refused_with_the_reason(tmp_path, damage, message):
    folder = make_package(tmp_path, "taiwan")
    damage(folder)
    with pytest.raises(CompareError, match=message):
        load_package(folder)


def test_result_file_outside_the_package_is_refused(tmp_path):
    measures = [dict(MEASURES[5])]
    folder = make_package(tmp_path, "taiwan", measures=measures)
    study = json.loads((folder / "study.json").read_text())
    study["measures"][0]["file"] = "../finland/results/biobank.csv"
    (folder / "study.json").write_text(json.dumps(study))
    with pytest.raises(CompareError, match="inside the package"):
        load_package(folder)


def test_spec_mismatch_is_a_warning_not_an_error(tmp_path):
    a = make_package(tmp_path, "taiwan", spec_sha256="a" * 64)
    b = make_package(tmp_path, "finland", spec_sha256="b" * 64)
    page = write_comparison([a, b], tmp_path / "out").read_text(encoding="utf-8")
    assert "different versions of the specification" in page
    assert "aaaaaaaaaaaa" in page and "bbbbbbbbbbbb" in page


def test_same_spec_gives_no_warning_and_single_site_works(tmp_path):
    a = make_package(tmp_path, "taiwan")
    page = write_comparison([a], tmp_path / "out").read_text(encoding="utf-8")
    assert "different versions of the specification" not in page
    assert "class=warn" not in page
    assert (tmp_path / "out" / "figures" / "time_to_insulin.png").read_bytes().startswith(PNG_MAGIC)


def test_no_packages_is_refused(tmp_path):
    with pytest.raises(CompareError, match="no study packages"):
        write_comparison([], tmp_path / "out")


def test_measure_absent_at_a_site_and_empty_or_fully_suppressed_results(tmp_path):
    incidence, count, prevalence = MEASURES[0], MEASURES[1], MEASURES[2]
    a = make_package(tmp_path, "taiwan", measures=[incidence, count],
                     rows={"t2d_incidence": [["(all)", "18-44", "female", "", "10.00", "", "", ""]], "cohort_size": []})
    # finland reports incidence by age group only and has a measure taiwan does not
    b = make_package(tmp_path, "finland", measures=[dict(incidence, by=["age_group"]), count, prevalence],
                     rows={"t2d_incidence": [["18-44", "7", "700.00", "10.0", "4.02", "20.6"]],
                           "cohort_size": [["(all)", "(all)", "(all)", "9"]], "t2d_prevalence": []})
    out = tmp_path / "out"
    page = write_comparison([a, b], out).read_text(encoding="utf-8")
    assert "Measure &#x27;t2d_prevalence&#x27; is not in the package of taiwan." in page
    # a stratum a site did not report is its margin: finland's row shows as period (all), sex (all)
    table = pd.read_csv(out / "tables" / "t2d_incidence.csv", dtype=str, keep_default_na=False)
    assert table.to_dict("records")[1] == {"site": "finland", "period": "(all)", "age_group": "18-44", "sex": "(all)",
                                           "events": "7", "person_years": "700.00", "rate": "10.0",
                                           "lower": "4.02", "upper": "20.6"}
    for name in ("t2d_incidence", "cohort_size", "t2d_prevalence"):
        assert (out / "figures" / f"{name}.png").read_bytes().startswith(PNG_MAGIC)
    cohort = page[page.index("Cohort size"):page.index("Prevalence of T2D")]
    assert ">9<" in cohort
