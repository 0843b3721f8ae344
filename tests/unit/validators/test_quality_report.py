"""The one-page quality summary: headline figures, failures by name, changes, inline SVG trends, escaping."""

from __future__ import annotations

import math
import os
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality_doc_builders import check, failing_doc, quality_doc
from validators.history import QualityDocumentError, compare, load_history, previous_entry, record_run
from validators.quality_report import (
    MAX_TREND_RUNS,
    SUMMARY_FILE,
    _nice_ticks,
    render_summary_html,
    write_summary,
)

FATAL = "isRequired.person.gender_concept_id"
FATAL2 = "isForeignKey.visit_occurrence.person_id"
CONV = "plausibleAfterBirth.visit_occurrence.visit_start_date"
EVIL = "isRequired.<script>alert('x')</script>.a&b"
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "source", "area", "base", "embed", "track", "param"}
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "span", "code", "a", "div", "details",
    "summary", "table", "thead", "tbody", "tr", "th", "td", "strong", "svg", "line", "text", "polyline", "circle",
}
STAGING = [
    {"table": "cd", "expectation": "expect_column_values_to_not_be_null", "column": "id", "status": "passed",
     "unexpected_count": 0, "element_count": 500, "detail": None},
    {"table": "cd", "expectation": "expect_column_values_to_match_regex", "column": "icd", "status": "failed",
     "unexpected_count": 12, "element_count": 500, "detail": "values like <A00&x>"},
    {"table": "id", "expectation": "expect_table_row_count_to_be_between", "column": None, "status": "error",
     "unexpected_count": None, "element_count": None, "detail": "boom"},
]


class _Tags(HTMLParser):
    """Checks that every opened element is closed, in order; collects circles per svg and table rows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.svg_circles: list[int] = []
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "svg":
            self.svg_circles.append(0)
        if tag == "circle":
            self.svg_circles[-1] += 1
        if tag == "tr":
            self.rows.append([])
        if tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append(tag)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert parser.errors == []
    assert parser.stack == [], f"unclosed tags: {parser.stack}"
    return parser


def _row(parser: _Tags, first_cell: str) -> list[str]:
    rows = [r for r in parser.rows if r and r[0] == first_cell]
    assert rows, f"no table row starting with {first_cell!r}"
    return rows[0]


def _previous():
    return quality_doc(
        "20250301T100000Z-tw-aaaaaa",
        [check(FATAL, "passed"), check(FATAL2, "failed", pct=0.01), check(CONV, "failed", pct=0.3, threshold=5.0)],
        finished="2025-03-01T10:00:00+00:00",
        rows_out={"person": 1200, "visit_occurrence": 5000, "measurement": 10},
    )


def _current(**kw):
    return quality_doc(
        "20250302T100000Z-tw-bbbbbb",
        [
            check(FATAL, "failed", pct=0.0123, threshold=0.0, description="A person with no <gender>"),
            check(FATAL2, "passed"),
            check(CONV, "failed", pct=0.25, threshold=5.0),
            check("measureValueCompleteness.measurement.value_as_number", "passed"),
            check("cdmDatatype.person.year_of_birth", "not_applicable"),
            check("isRequired.death.person_id", "error", error="relation <death> & co does not exist"),
            check(EVIL, "failed", severity="convention"),
        ],
        finished="2025-03-02T10:00:00+00:00",
        rows_out={"person": 12345, "visit_occurrence": 67890, "death": 3},
        coverage={"ICD10CM": {"record_share": 0.9712, "code_share": 0.8}, "NHI<drug>": {"record_share": 0.5, "code_share": 0.25}},
        **kw,
    )


@pytest.fixture()
def two_runs(tmp_path):
    record_run(tmp_path, _previous())
    current = _current(staging=STAGING)
    record_run(tmp_path, current)
    history = load_history(tmp_path)
    changes = compare(previous_entry(history, current["run_id"]), current)
    return current, history, changes


def test_headline_figures(two_runs):
    current, history, changes = two_runs
    page = render_summary_html(current, history, changes)
    parser = _parse(page)
    text = " ".join(" ".join(parser.text).split())
    assert 'class="badge outcome-failed">FAILED<' in page
    for figure, label in [("2", "checks passed"), ("3", "checks failed"), ("1", "not applicable"),
                          ("1", "errors (check did not run)"), ("1", "fatal failures"), ("40.00 %", "pass rate"),
                          ("12,345", "persons"), ("1 / 3", "staging expectations passed")]:
        assert f"{figure} {label}" in text, (figure, label)
    assert "+11,145 since previous" in text  # persons 1,200 -> 12,345
    assert _row(parser, "person")[:4] == ["person", "12,345", "1,200", "+11,145"]
    assert _row(parser, "visit_occurrence")[:2] == ["visit_occurrence", "67,890"]
    assert _row(parser, "death")[:4] == ["death", "3", "–", "+3"]
    assert "Tables in the previous run but not in this one: measurement." in text
    assert _row(parser, "ICD10CM")[1:3] == ["97.12 %", "80.00 %"]
    assert _row(parser, "NHI<drug>")[1] == "50.00 %"


def test_fatal_failures_are_listed_by_name_with_table_field_pct_and_threshold(two_runs):
    current, history, changes = two_runs
    parser = _parse(render_summary_html(current, history, changes))
    fatal_rows = [r for r in parser.rows if r and r[-2:-1] == [FATAL]]
    assert fatal_rows[0][:7] == ["isRequired", "person", "gender_concept_id", "", "1.23 %", "0 %", "12 / 1,000"]
    assert fatal_rows[0][-1] == "A person with no <gender>"
    text = " ".join(parser.text)
    assert "Other failed checks (2: convention and characterization)" in text
    assert "Fatal checks that could not run (1)" in text  # they fail the gate as well
    errored = [r for r in parser.rows if r and r[-1] == "isRequired.death.person_id"]
    assert errored == [["isRequired", "death", "person_id", "fatal", "relation <death> & co does not exist",
                        "isRequired.death.person_id"]]


def test_non_fatal_errors_are_listed_apart_and_no_fatal_failure_is_said_plainly():
    doc = quality_doc("r1", [check(CONV, "error", error="timeout"), check(FATAL, "passed")])
    parser = _parse(render_summary_html(doc, [], None))
    text = " ".join(" ".join(parser.text).split())
    assert "No fatal check failed." in text
    assert "Other checks that could not run (1)" in text and "Fatal checks that could not run" not in text
    assert [r for r in parser.rows if r and r[-1] == CONV][0][3:5] == ["convention", "timeout"]


def test_a_document_without_run_id_renders_as_outside_a_run():
    doc = quality_doc("x", [check(FATAL, "failed")])
    doc["run_id"] = None
    page = render_summary_html(doc, [], None)
    _parse(page)
    assert "(not a pipeline run)" in page and "First run of this site" in page


def test_staging_results_are_shown_when_present_and_left_out_otherwise(two_runs):
    current, history, changes = two_runs
    parser = _parse(render_summary_html(current, history, changes))
    assert _row(parser, "cd")[1:] == ["1", "1", "0"]
    assert _row(parser, "id")[1:] == ["0", "0", "1"]
    failed = [r for r in parser.rows if "expect_column_values_to_match_regex" in r][0]
    assert failed[3:] == ["failed", "12 / 500", "values like <A00&x>"]
    without = _current()
    page = render_summary_html(without, history, compare(previous_entry(history, without["run_id"]), without))
    assert "Staging suites" not in page and "staging expectations" not in page


def test_dqd_overview_counts_category_by_context_and_status(two_runs):
    current, history, changes = two_runs
    parser = _parse(render_summary_html(current, history, changes))
    # Conformance: Verification: FATAL2 passed, cdmDatatype n/a; Validation: FATAL failed, EVIL failed, death error
    assert _row(parser, "Conformance") == ["Conformance", "1", "0", "1", "100 %", "0", "2", "2", "0 %",
                                           "1", "2", "3", "33 %", "1", "1"]
    assert _row(parser, "Total")[9:] == ["2", "3", "5", "40 %", "1", "1"]


def _section_rows(page: str, start: str, end: str) -> list[list[str]]:
    """Table rows (header row excluded) of the page between two pieces of text."""
    fragment = page[page.index(start) : page.index(end, page.index(start))]
    parser = _Tags()
    parser.feed(fragment)
    return [r for r in parser.rows if r and r[0] != "Check" and r[0] != "Table"]


def test_changes_since_previous_run(two_runs):
    current, history, changes = two_runs
    page = render_summary_html(current, history, changes)
    text = " ".join(" ".join(_parse(page).text).split())
    assert "Compared with run 20250301T100000Z-tw-aaaaaa" in text
    new = _section_rows(page, "New failures (2)", "<h3>Resolved failures (1)")
    assert [r[-1] for r in new] == [FATAL, EVIL]  # fatal first
    assert new[0][:7] == ["isRequired", "person", "gender_concept_id", "fatal", "–", "1.23 %", "0 %"]
    resolved = _section_rows(page, "Resolved failures (1)", "<h3>Persisting failures (1)")
    assert resolved == [["isForeignKey", "visit_occurrence", "person_id", "fatal", "1.00 %", "0.00 %", "passed", "0 %", FATAL2]]
    persisting = _section_rows(page, "Persisting failures (1)", "<h3>Row counts")
    assert persisting == [["plausibleAfterBirth", "visit_occurrence", "visit_start_date", "convention", "30.00 %", "25.00 %", "5 %", CONV]]
    changed = _section_rows(page, "Row counts that changed (4)", "<h2>")
    assert changed == [["person", "1,200", "12,345", "+11,145"], ["visit_occurrence", "5,000", "67,890", "+62,890"],
                       ["measurement", "10", "–", "-10"], ["death", "–", "3", "+3"]]


def test_first_run_page_says_so(tmp_path):
    doc = _current()
    record_run(tmp_path, doc)
    history = load_history(tmp_path)
    assert previous_entry(history, doc["run_id"]) is None
    for changes in (None, compare(None, doc)):
        page = render_summary_html(doc, history, changes)
        parser = _parse(page)
        assert "First run of this site" in page
        assert "New failures" not in page and "since previous" not in page
        assert parser.svg_circles == [1, 1, 1, 1]


def test_text_is_escaped(two_runs):
    current, history, changes = two_runs
    page = render_summary_html(current, history, changes)
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;.a&amp;b" in page
    assert "relation &lt;death&gt; &amp; co" in page
    assert "NHI&lt;drug&gt;" in page and "values like &lt;A00&amp;x&gt;" in page
    _parse(page)


def test_page_is_self_contained(two_runs):
    current, history, changes = two_runs
    parser = _parse(render_summary_html(current, history, changes))
    assert not {"script", "link", "img", "iframe", "object"} & set(parser.tags)
    page = render_summary_html(current, history, changes)
    assert "src=" not in page and "url(" not in page and "@import" not in page


def test_trend_charts_have_one_point_per_run_with_axis_labels_and_run_ids(tmp_path):
    runs = [failing_doc(f"2025030{i}T100000Z-tw-{i:06x}", {FATAL} if i % 2 else set(), {FATAL, CONV},
                        finished=f"2025-03-0{i}T10:00:00+00:00", rows_out={"person": 1000 + 10 * i}) for i in range(1, 6)]
    for doc in runs[:-1]:
        record_run(tmp_path, doc)
    history = load_history(tmp_path)  # the current run is not recorded yet: the page adds it
    current = runs[-1]
    page = render_summary_html(current, history, compare(previous_entry(history, current["run_id"]), current))
    parser = _parse(page)
    assert parser.svg_circles == [5, 5, 5, 5]  # pass rate, failed, fatal failed, persons
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    for svg, label in zip(svgs, ["Pass rate (%)", "Failed checks", "Fatal failures", "Persons"]):
        assert label in svg and "Run (oldest to newest)" in svg
        run_labels = re.findall(r'<text [^>]*text-anchor="end" transform="rotate\(-90 [^"]*\)">([^<]+)</text>', svg)
        assert run_labels == [d["run_id"] for d in runs]
        assert svg.count('class="point current"') == 1
    persons = svgs[3]
    assert f"<title>{current['run_id']}: 1,050</title>" in persons
    assert "<title>20250301T100000Z-tw-000001: 1,010</title>" in persons


def test_trend_shows_the_latest_runs_only(tmp_path):
    docs = [failing_doc(f"r{i:03d}", set(), {FATAL}, finished=f"2025-01-01T{i // 60:02d}:{i % 60:02d}:00+00:00")
            for i in range(MAX_TREND_RUNS + 5)]
    for doc in docs:
        record_run(tmp_path, doc)
    history = load_history(tmp_path)
    page = render_summary_html(docs[-1], history, compare(history[-2], docs[-1]))
    assert _parse(page).svg_circles == [MAX_TREND_RUNS] * 4
    assert "r004" not in page and "r005" in page


def test_a_run_without_a_pass_rate_gets_no_point_in_that_chart(tmp_path):
    doc = quality_doc("r1", [check(FATAL, "not_applicable")], rows_out={})
    parser = _parse(render_summary_html(doc, [], None))
    assert parser.svg_circles == [0, 1, 1, 0]
    assert "The run reported no OMOP tables." in " ".join(parser.text)


def test_data_docs_link(two_runs):
    current, history, changes = two_runs
    page = render_summary_html(current, history, changes, data_docs_href="../gx/data_docs/index.html?a=1&b=2")
    assert '<a href="../gx/data_docs/index.html?a=1&amp;b=2">Great Expectations Data Docs</a>' in page
    current["data_docs"] = "gx/index.html"
    assert '<a href="gx/index.html">' in render_summary_html(current, history, changes)
    with pytest.raises(ValueError, match="scheme 'javascript' is not allowed"):
        render_summary_html(current, history, changes, data_docs_href="javascript:alert(1)")


def test_changes_of_another_run_are_refused(two_runs):
    current, history, changes = two_runs
    with pytest.raises(ValueError, match="changes are for run"):
        render_summary_html(_previous(), history, changes)


@pytest.mark.parametrize(
    ("staging", "message"),
    [
        ({"table": "cd"}, "field 'staging' must be a list"),
        ([{"table": "cd", "status": "meh"}], r"staging\[0\] needs a status in"),
        ([{"table": "cd", "status": "failed", "unexpected_count": "3"}], "unexpected_count must be an integer"),
    ],
)
def test_malformed_staging_results_are_refused(staging, message):
    doc = _current()
    doc["staging"] = staging
    with pytest.raises(QualityDocumentError, match=message):
        render_summary_html(doc, [], None)


def test_write_summary_writes_the_page_atomically(two_runs, tmp_path, monkeypatch):
    current, history, changes = two_runs
    run_quality_dir = tmp_path / "runs" / current["run_id"] / "quality"
    path = write_summary(run_quality_dir, current, history, changes, data_docs_href="gx/index.html")
    assert path == run_quality_dir / SUMMARY_FILE
    assert path.read_text(encoding="utf-8") == render_summary_html(current, history, changes, data_docs_href="gx/index.html")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_summary(run_quality_dir, current, history, None)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in run_quality_dir.iterdir()] == [SUMMARY_FILE]


@given(lo=st.floats(0, 1e7), span=st.floats(0, 1e7), integer=st.booleans())
def test_nice_ticks_cover_the_range_in_even_steps(lo, span, integer):
    ticks = _nice_ticks(lo, lo + span, integer=integer)
    assert ticks[0] <= lo + 1e-6 and ticks[-1] >= lo + span - 1e-6
    steps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert steps[0] > 0 and all(math.isclose(s, steps[0], rel_tol=1e-6) for s in steps)
    if integer:
        assert steps[0] >= 1 and steps[0] == int(steps[0])
    assert 2 <= len(ticks) <= 12


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@settings(max_examples=40, deadline=None)
@given(table=_TEXT, field=_TEXT, description=_TEXT, vocabulary=_TEXT, error=_TEXT, run_id=_TEXT.filter(str.strip))
def test_any_text_from_the_document_is_escaped(table, field, description, vocabulary, error, run_id):
    doc = quality_doc(
        run_id,
        [
            check(f"isRequired.{table}.{field}", "failed", description=description),
            check(f"isForeignKey.{table}.{field}", "error", error=error),
        ],
        rows_out={table: 5, "person": 1},
        coverage={vocabulary: {"record_share": 0.5, "code_share": 0.5}},
    )
    doc["checks"][0].update(cdm_table=table, cdm_field=field)
    page = render_summary_html(doc, [], compare(None, doc))
    parser = _parse(page)
    assert set(parser.tags) <= ALLOWED_TAGS
    text = "".join(parser.text)
    for value in (description, vocabulary, error, run_id):
        assert value.replace("\r\n", "\n").replace("\r", "\n") in text.replace("\r\n", "\n").replace("\r", "\n")
