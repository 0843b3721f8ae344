"""Quality history: recording runs (append, replace, order, atomicity), reading it back, comparing runs."""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quality_doc_builders import check, failing_doc, quality_doc
from validators.history import (
    HISTORY_FILE,
    HistoryFormatError,
    HistorySiteMismatch,
    QualityDocumentError,
    compare,
    entry_from_quality_doc,
    load_history,
    previous_entry,
    record_run,
)

FATAL = "isRequired.person.gender_concept_id"
CONV = "plausibleAfterBirth.visit_occurrence.visit_start_date"
CHAR = "measureValueCompleteness.measurement.value_as_number"
FK = "isForeignKey.visit_occurrence.person_id"


def _doc_a(**kw):
    return quality_doc(
        "run-a",
        [
            check(FATAL, "failed", pct=0.02),
            check(CONV, "failed", pct=0.10, threshold=5.0),
            check(CHAR, "passed"),
            check(FK, "not_applicable"),
            check("cdmDatatype.person.year_of_birth", "error", error="syntax error at or near <"),
        ],
        finished="2025-03-01T10:00:00+00:00",
        rows_out={"person": 1200, "visit_occurrence": 5400, "measurement": 100},
        coverage={"ICD10CM": {"record_share": 0.97, "code_share": 0.91}, "NHI": {"record_share": 0.5, "code_share": 0.4}},
        **kw,
    )


def _doc_b(**kw):
    return quality_doc(
        "run-b",
        [
            check(FATAL, "passed"),
            check(CONV, "failed", pct=0.20, threshold=5.0),
            check(CHAR, "failed", pct=0.50, threshold=10.0),
            check(FK, "passed"),
            check("cdmDatatype.person.year_of_birth", "passed"),
        ],
        finished="2025-03-02T10:00:00+00:00",
        rows_out={"person": 1250, "visit_occurrence": 5400, "death": 7},
        coverage={"ICD10CM": {"record_share": 0.98, "code_share": 0.92}},
        **kw,
    )


def _lines(history_dir: Path) -> list[str]:
    return (history_dir / HISTORY_FILE).read_text(encoding="utf-8").splitlines()


# ---- the entry ------------------------------------------------------------------------------


def test_entry_holds_outcome_counts_key_figures_and_failed_checks():
    entry = entry_from_quality_doc(_doc_a())
    assert (entry.run_id, entry.site, entry.outcome) == ("run-a", "tw", "failed")
    assert (entry.passed, entry.failed, entry.not_applicable, entry.error, entry.fatal_failed) == (1, 2, 1, 1, 1)
    assert entry.pass_rate == pytest.approx(1 / 3)
    assert entry.persons == 1200
    assert entry.rows_out == {"person": 1200, "visit_occurrence": 5400, "measurement": 100}
    assert entry.coverage == {"ICD10CM": 0.97, "NHI": 0.5}
    assert [(f.check_id, f.severity) for f in entry.failures] == [(FATAL, "fatal"), (CONV, "convention")]
    fatal = entry.failures[0]
    assert (fatal.check_name, fatal.cdm_table, fatal.cdm_field, fatal.pct_violated_rows) == (
        "isRequired",
        "person",
        "gender_concept_id",
        0.02,
    )
    assert entry.failed_ids == {FATAL, CONV}


def test_pass_rate_is_none_without_passed_or_failed_checks_and_persons_none_without_person_table():
    doc = quality_doc("r", [check(FK, "not_applicable")], rows_out={"death": 3})
    entry = entry_from_quality_doc(doc)
    assert entry.pass_rate is None
    assert entry.persons is None


def _mutate(path: str, value):
    def apply(doc):
        target = doc
        *parents, last = path.split("/")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        if isinstance(target, list):
            last = int(last)
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        return doc

    return apply


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (_mutate("run_id", KeyError), "field 'run_id' is missing"),
        (_mutate("run_id", "  "), "'run_id' is empty"),
        (_mutate("site", 7), "field 'site' must be str"),
        (_mutate("finished", "yesterday"), "'finished' is not an ISO timestamp"),
        (_mutate("outcome", "ok"), "outcome 'ok' is not one of"),
        (_mutate("overview/failed", -1), "overview['failed'] is negative"),
        (_mutate("overview/passed", True), "field 'passed' must be int"),
        (_mutate("overview/error", KeyError), "overview: field 'error' is missing"),
        (_mutate("checks", {}), "field 'checks' must be list"),
        (_mutate("checks/0/status", "broken"), f"check '{FATAL}': status 'broken' is not one of"),
        (_mutate("checks/0/severity", "minor"), "severity 'minor' is not one of"),
        (_mutate("checks/0/pct_violated_rows", 1.5), "pct_violated_rows 1.5 is outside 0..1"),
        (_mutate("checks/0/pct_violated_rows", float("nan")), "pct_violated_rows nan is outside 0..1"),
        (_mutate("checks/0/num_violated_rows", "12"), "field 'num_violated_rows' must be int"),
        (_mutate("checks/1/check_id", FATAL), f"check_id '{FATAL}' appears twice"),
        (_mutate("checks/0", "x"), "checks[0] is not an object"),
        (_mutate("rows_out/person", 1.5), "rows_out['person'] must be int"),
        (_mutate("coverage/ICD10CM/record_share", 2), "record_share 2.0 is outside 0..1"),
        (_mutate("coverage/ICD10CM/code_share", -0.1), "code_share -0.1 is outside 0..1"),
        (_mutate("coverage/ICD10CM", 0.9), "coverage['ICD10CM'] must be an object"),
    ],
)
def test_malformed_quality_document_is_refused_naming_the_field(mutation, message):
    doc = mutation(copy.deepcopy(_doc_a()))
    with pytest.raises(QualityDocumentError) as info:
        entry_from_quality_doc(doc)
    assert message in str(info.value)


def test_a_document_that_is_not_an_object_is_refused():
    with pytest.raises(QualityDocumentError, match="must be an object"):
        entry_from_quality_doc([])  # type: ignore[arg-type]


# ---- recording and loading ------------------------------------------------------------------


def test_missing_history_is_empty(tmp_path):
    assert load_history(tmp_path / "nowhere") == []


def test_record_appends_one_line_per_run_and_round_trips(tmp_path):
    a = record_run(tmp_path, _doc_a())
    b = record_run(tmp_path, _doc_b())
    assert len(_lines(tmp_path)) == 2
    assert load_history(tmp_path) == [a, b]
    line = json.loads(_lines(tmp_path)[0])
    assert line["persons"] == 1200 and line["pass_rate"] == pytest.approx(1 / 3)
    assert line["overview"]["fatal_failed"] == 1
    assert {f["check_id"]: f["severity"] for f in line["failures"]} == {FATAL: "fatal", CONV: "convention"}


def test_rerecording_a_run_replaces_its_entry(tmp_path):
    record_run(tmp_path, _doc_a())
    record_run(tmp_path, _doc_b())
    fixed = _doc_a()
    fixed["checks"][0] = check(FATAL, "passed")
    fixed["overview"].update(passed=2, failed=1, fatal_failed=0)
    fixed["outcome"] = "warn"
    record_run(tmp_path, fixed)
    history = load_history(tmp_path)
    assert [e.run_id for e in history] == ["run-a", "run-b"]
    assert len(_lines(tmp_path)) == 2
    assert history[0].outcome == "warn" and history[0].failed_ids == {CONV}


def test_history_is_ordered_by_finished_not_by_recording_order(tmp_path):
    record_run(tmp_path, failing_doc("late", set(), finished="2025-03-01T11:00:00+00:00"))
    record_run(tmp_path, failing_doc("early-offset", set(), finished="2025-03-01T12:00:00+02:00"))  # 10:00 UTC
    record_run(tmp_path, failing_doc("earliest", set(), finished="2025-02-28T23:00:00"))  # naive: taken as UTC
    assert [e.run_id for e in load_history(tmp_path)] == ["earliest", "early-offset", "late"]
    assert [json.loads(x)["run_id"] for x in _lines(tmp_path)] == ["earliest", "early-offset", "late"]


def test_blank_lines_are_skipped(tmp_path):
    record_run(tmp_path, _doc_a())
    path = tmp_path / HISTORY_FILE
    path.write_text("\n" + path.read_text() + "\n  \n", encoding="utf-8")
    assert [e.run_id for e in load_history(tmp_path)] == ["run-a"]


def _good_line() -> dict:
    return entry_from_quality_doc(_doc_b()).to_json()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"run_id": "x", ', "not valid JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps(dict(_good_line(), format=99)), "unknown history format 99"),
        (json.dumps({k: v for k, v in _good_line().items() if k != "outcome"}), "field 'outcome' is missing"),
        (json.dumps(dict(_good_line(), outcome="great")), "outcome 'great' is not one of"),
        (json.dumps(dict(_good_line(), failures="none")), "field 'failures' must be a list"),
        (json.dumps(dict(_good_line(), coverage=[])), "field 'coverage' must be an object"),
        (json.dumps(dict(_good_line(), failures=[{"check_id": "x"}])), "a failure must be an object with fields"),
        (
            json.dumps(dict(_good_line(), failures=[dict(_good_line()["failures"][0], severity="bad")])),
            "wrong type or an unknown severity",
        ),
        (json.dumps(dict(_good_line(), failures=_good_line()["failures"] * 2)), "appears twice in 'failures'"),
        (json.dumps(_good_line()), "run 'run-b' already recorded on line 2"),
    ],
)
def test_corrupt_line_names_file_and_line(tmp_path, line, message):
    record_run(tmp_path, _doc_a())
    record_run(tmp_path, _doc_b())
    path = tmp_path / HISTORY_FILE
    lines = _lines(tmp_path)
    path.write_text("\n".join([lines[0], lines[1], line]) + "\n", encoding="utf-8")
    with pytest.raises(HistoryFormatError) as info:
        load_history(tmp_path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert message in str(info.value)


def test_recording_into_a_corrupt_history_is_refused_and_changes_nothing(tmp_path):
    record_run(tmp_path, _doc_a())
    path = tmp_path / HISTORY_FILE
    path.write_text(path.read_text() + "{oops\n", encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(HistoryFormatError, match=r":2: not valid JSON"):
        record_run(tmp_path, _doc_b())
    assert path.read_bytes() == before


def test_a_run_of_another_site_is_refused(tmp_path):
    record_run(tmp_path, _doc_a())
    before = (tmp_path / HISTORY_FILE).read_bytes()
    with pytest.raises(HistorySiteMismatch, match="holds runs of site 'tw'; run 'run-b' is of site 'fi'"):
        record_run(tmp_path, _doc_b(site="fi"))
    assert (tmp_path / HISTORY_FILE).read_bytes() == before


def test_a_crash_while_writing_leaves_earlier_entries_intact(tmp_path, monkeypatch):
    record_run(tmp_path, _doc_a())
    before = (tmp_path / HISTORY_FILE).read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        record_run(tmp_path, _doc_b())
    monkeypatch.undo()
    assert (tmp_path / HISTORY_FILE).read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".history.lock", HISTORY_FILE]  # no temporary left
    assert [e.run_id for e in load_history(tmp_path)] == ["run-a"]


def test_an_invalid_document_writes_nothing(tmp_path):
    doc = _doc_a()
    doc["outcome"] = "meh"
    with pytest.raises(QualityDocumentError):
        record_run(tmp_path, doc)
    assert not (tmp_path / HISTORY_FILE).exists()


def test_concurrent_writers_lose_no_entry(tmp_path):
    docs = [failing_doc(f"r{i}", {FATAL}, finished=f"2025-03-01T10:00:{i:02d}+00:00") for i in range(8)]
    threads = [threading.Thread(target=record_run, args=(tmp_path, d)) for d in docs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [e.run_id for e in load_history(tmp_path)] == [f"r{i}" for i in range(8)]


# ---- previous entry -------------------------------------------------------------------------


def test_previous_entry(tmp_path):
    for i in range(3):
        record_run(tmp_path, failing_doc(f"r{i}", set(), finished=f"2025-03-0{i + 1}T10:00:00+00:00"))
    history = load_history(tmp_path)
    assert previous_entry(history, "r2").run_id == "r1"
    assert previous_entry(history, "r1").run_id == "r0"
    assert previous_entry(history, "r0") is None
    assert previous_entry(history, "not-yet-recorded").run_id == "r2"
    assert previous_entry(list(reversed(history)), "r2").run_id == "r1"  # order of the list does not matter
    assert previous_entry([], "r0") is None


# ---- compare --------------------------------------------------------------------------------


def test_compare_documents_exactly():
    changes = compare(_doc_a(), _doc_b())
    assert (changes.previous_run_id, changes.current_run_id, changes.first_run) == ("run-a", "run-b", False)
    assert [c.check_id for c in changes.new] == [CHAR]
    assert [c.check_id for c in changes.resolved] == [FATAL]
    assert [c.check_id for c in changes.persisting] == [CONV]
    new, resolved, persisting = changes.new[0], changes.resolved[0], changes.persisting[0]
    assert (new.check_name, new.table, new.field, new.severity) == ("measureValueCompleteness", "measurement", "value_as_number", "characterization")
    assert (new.pct_before, new.pct_now, new.status_before, new.status_now, new.threshold) == (0.0, 0.5, "passed", "failed", 10.0)
    assert (resolved.severity, resolved.pct_before, resolved.pct_now, resolved.status_now) == ("fatal", 0.02, 0.0, "passed")
    assert (persisting.pct_before, persisting.pct_now, persisting.threshold) == (0.10, 0.20, 5.0)
    assert {t: (c.before, c.now, c.delta) for t, c in changes.rows_out.items()} == {
        "person": (1200, 1250, 50),
        "visit_occurrence": (5400, 5400, 0),
        "measurement": (100, None, -100),
        "death": (None, 7, 7),
    }
    assert set(changes.changed_rows_out) == {"person", "measurement", "death"}
    assert changes.figures["persons"].delta == 50
    assert changes.figures["fatal_failed"].delta == -1
    assert changes.figures["pass_rate"].before == pytest.approx(1 / 3)
    assert changes.figures["pass_rate"].now == pytest.approx(3 / 5)
    assert changes.coverage["ICD10CM"].delta == pytest.approx(0.01)
    assert (changes.coverage["NHI"].before, changes.coverage["NHI"].now) == (0.5, None)


def test_compare_against_a_history_entry_knows_only_previous_failures():
    changes = compare(entry_from_quality_doc(_doc_a()), _doc_b())
    assert [c.check_id for c in changes.new] == [CHAR]
    assert [c.check_id for c in changes.resolved] == [FATAL]
    assert [c.check_id for c in changes.persisting] == [CONV]
    assert (changes.new[0].pct_before, changes.new[0].status_before) == (None, None)  # entry keeps failures only
    assert (changes.resolved[0].pct_before, changes.resolved[0].status_before) == (0.02, "failed")
    assert changes.persisting[0].pct_before == 0.10


def test_resolved_failure_that_now_errors_or_vanished_says_so():
    before = failing_doc("p", {FATAL, CONV}, finished="2025-03-01T10:00:00+00:00")
    now = quality_doc("c", [check(FATAL, "error", error="timeout")], finished="2025-03-02T10:00:00+00:00")
    changes = compare(before, now)
    assert {c.check_id: c.status_now for c in changes.resolved} == {FATAL: "error", CONV: None}
    assert [c.check_id for c in changes.resolved] == [FATAL, CONV]  # fatal first


def test_changes_are_ordered_fatal_first_then_by_check_id():
    ids = {"zz.person.a": "fatal", "aa.person.b": "characterization", "mm.person.c": "convention", "bb.person.d": "fatal"}
    doc = quality_doc("c", [check(i, "failed", severity=s) for i, s in ids.items()])
    assert [c.check_id for c in compare(None, doc).new] == ["bb.person.d", "zz.person.a", "mm.person.c", "aa.person.b"]


def test_compare_on_a_first_run_lists_every_failure_as_new():
    changes = compare(None, _doc_a())
    assert changes.first_run and changes.previous_run_id is None
    assert [c.check_id for c in changes.new] == [FATAL, CONV]
    assert changes.resolved == () and changes.persisting == ()
    assert changes.rows_out["person"].before is None and changes.rows_out["person"].delta == 1200


def test_compare_refuses_a_malformed_previous_document():
    bad = _doc_a()
    del bad["checks"][0]["status"]
    with pytest.raises(QualityDocumentError, match="field 'status' is missing"):
        compare(bad, _doc_b())


_IDS = st.sets(st.sampled_from([f"{n}.{t}.f{i}" for n in ("isRequired", "isForeignKey") for t in ("person", "death") for i in range(6)]))


@settings(max_examples=150, deadline=None)
@given(before=_IDS, now=_IDS, known=_IDS, as_entry=st.booleans())
def test_compare_partitions_failures(before, now, known, as_entry):
    previous = failing_doc("p", before, known, finished="2025-03-01T10:00:00+00:00")
    current = failing_doc("c", now, known, finished="2025-03-02T10:00:00+00:00")
    changes = compare(entry_from_quality_doc(previous) if as_entry else previous, current)
    new = {c.check_id for c in changes.new}
    resolved = {c.check_id for c in changes.resolved}
    persisting = {c.check_id for c in changes.persisting}
    assert new | persisting == now
    assert resolved | persisting == before
    assert not (new & resolved) and not (new & persisting) and not (resolved & persisting)
    assert len(changes.new) == len(new) and len(changes.resolved) == len(resolved)  # no duplicates


def test_written_files_are_readable_by_others(tmp_path):
    """Reports and history are for readers: not the 0600 a temporary file is created with."""
    from validators.history import write_text_atomic

    target = tmp_path / "page.html"
    write_text_atomic(target, "<p>x</p>")
    assert target.stat().st_mode & 0o777 == 0o644 and target.read_text() == "<p>x</p>"
