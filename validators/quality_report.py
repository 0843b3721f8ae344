"""The one-page quality summary of a run: ``runs/<run_id>/quality/quality_summary.html``.

One self-contained HTML page (inline CSS, inline SVG plots, no scripts, no external
assets) for the people who decide whether a run's OMOP output can be used: the
outcome, the check counts, the fatal failures by name, persons, rows per OMOP table,
vocabulary coverage, staging suite results, a DataQualityDashboard-style overview
(Kahn category x context x status), what changed since the site's previous run, and
the key figures over the site's runs.  Every piece of text from the quality document
is HTML-escaped: check ids, source values and error messages may contain ``<>&``.
"""

from __future__ import annotations

import html
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from terminology.omop_cdm import TABLE_GROUPS
from validators.history import (
    SEVERITY_ORDER,
    Changes,
    FailureChange,
    FigureChange,
    HistoryEntry,
    QualityDocumentError,
    document_checks,
    entry_from_quality_doc,
    parse_finished,
    write_text_atomic,
)

SUMMARY_FILE = "quality_summary.html"
AD_HOC_RUN = "(not a pipeline run)"  # shown for a document without a run id
MAX_TREND_RUNS = 30  # plots show the latest runs only; labels of more would not fit
MAX_LISTED = 500  # rows per detail list (the full record is quality.json)
KAHN_CATEGORIES: tuple[str, ...] = ("Plausibility", "Conformance", "Completeness")  # DQD's order
KAHN_CONTEXTS: tuple[str, ...] = ("Verification", "Validation")
STAGING_STATUSES: tuple[str, ...] = ("passed", "failed", "error")
_TABLE_ORDER = {t: i for i, t in enumerate(t for names in TABLE_GROUPS.values() for t in names)}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem auto;max-width:1100px;
 padding:0 1rem;color:#1d2330;line-height:1.4}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d5d9e0;
 padding-bottom:.2rem}h3{font-size:1rem;margin-bottom:.3rem}
.meta{color:#555;font-size:.9rem}.meta code{font-size:.85rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.8rem;font-weight:600;font-size:.85rem;
 color:#fff;vertical-align:middle}
.outcome-passed,.status-passed{background:#2e7d32}.outcome-warn{background:#c77700}
.outcome-failed,.status-failed{background:#c62828}.status-error{background:#6a1b9a}
.status-not_applicable{background:#78849e}
.cards{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.card{border:1px solid #d5d9e0;border-radius:.4rem;padding:.5rem .8rem;min-width:8.5rem}
.card .value{font-size:1.4rem;font-weight:600}.card .label{font-size:.8rem;color:#555}
.card .delta{font-size:.75rem;color:#555}
table{border-collapse:collapse;margin:.5rem 0;font-size:.88rem}
th,td{border:1px solid #d5d9e0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f6}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
td.desc{font-size:.8rem;color:#444;max-width:28rem}
.bar{display:inline-block;height:.6rem;background:#4a78c2;vertical-align:middle}
.barbox{display:inline-block;width:6rem;height:.6rem;background:#e3e7ee;margin-right:.4rem}
.up{color:#2e7d32}.down{color:#c62828}.note{color:#555;font-size:.85rem}
svg.chart{max-width:100%;height:auto;display:block;margin:.5rem 0 1.2rem}
svg.chart text{font-size:10px;fill:#333}svg.chart .axis{stroke:#333;stroke-width:1}
svg.chart .grid{stroke:#e3e7ee;stroke-width:1}svg.chart .line{fill:none;stroke:#4a78c2;stroke-width:2}
svg.chart .point{fill:#4a78c2}svg.chart .point.current{fill:#c62828}
svg.chart .title{font-size:12px;font-weight:600}
"""


# ---- small formatting helpers -------------------------------------------------------------


def _e(value: Any) -> str:
    """HTML-escape any value (quotes too, so the result is safe in attributes)."""
    return html.escape("" if value is None else str(value), quote=True)


def _int(n: int | float | None) -> str:
    return "–" if n is None else f"{int(n):,}"


def _share(share: float | None) -> str:
    """A share 0..1 as a percentage; tiny non-zero shares are not rounded to 0."""
    if share is None:
        return "–"
    pct = share * 100
    if 0 < pct < 0.01:
        return "&lt; 0.01 %"
    return f"{pct:.2f} %"


def _threshold(percent: float | None) -> str:
    return "–" if percent is None else f"{percent:g} %"


def _signed(delta: float | None, *, share: bool = False) -> str:
    if delta is None or delta == 0:
        return "±0" if delta == 0 else "–"
    if share:
        return f"{delta * 100:+.2f} pp"
    return f"{int(delta):+,}"


def _delta_class(delta: float | None, *, higher_is_better: bool) -> str:
    if not delta:
        return ""
    return "up" if (delta > 0) == higher_is_better else "down"


def _table_key(table: str) -> tuple[int, str]:
    return (_TABLE_ORDER.get(table, len(_TABLE_ORDER)), table)


def _safe_href(href: str) -> str:
    """A link target for Data Docs: a relative path or an http(s)/file URL (never ``javascript:``)."""
    scheme = urlsplit(href).scheme.lower()
    if scheme not in ("", "http", "https", "file"):
        raise ValueError(f"data docs link {href!r}: scheme {scheme!r} is not allowed (relative path, http, https or file)")
    return href


def _tag_table(headers: Sequence[tuple[str, bool]], rows: Sequence[Sequence[tuple[str, str]]], *, cls: str = "") -> str:
    """A table; ``headers`` are (escaped text, numeric?) and each cell is (escaped html, css class)."""
    head = "".join(f'<th{" class=num" if num else ""}>{text}</th>' for text, num in headers)
    body = "".join(
        "<tr>" + "".join(f'<td{f" class={c}" if c else ""}>{cell}</td>' for cell, c in row) + "</tr>" for row in rows
    )
    return f'<table{f" class={cls}" if cls else ""}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# ---- sections -----------------------------------------------------------------------------


def _header(doc: Mapping[str, Any], entry: HistoryEntry, data_docs_href: str | None) -> str:
    outcome = entry.outcome
    parts = [
        f"<h1>Quality summary: site {_e(entry.site)} "
        f'<span class="badge outcome-{_e(outcome)}">{_e(outcome.upper())}</span></h1>',
        f'<p class="meta">Run <code>{_e(entry.run_id)}</code>'
        + (f" · database <code>{_e(doc.get('database'))}</code>" if doc.get("database") else "")
        + (f" · started {_e(doc.get('started'))}" if doc.get("started") else "")
        + f" · finished {_e(entry.finished)}</p>",
    ]
    explain = {
        "passed": "Every check passed or was not applicable.",
        "warn": "Some checks or staging expectations failed or could not run; no fatal check did.",
        "failed": "At least one fatal check failed or could not run: the OMOP output of this run should not be used.",
    }[outcome]
    parts.append(f'<p class="meta">{_e(explain)}')
    if data_docs_href:
        parts.append(f' <a href="{_e(_safe_href(data_docs_href))}">Great Expectations Data Docs</a>')
    parts.append("</p>")
    return "".join(parts)


def _card(label: str, value: str, delta_html: str = "", cls: str = "") -> str:
    return (
        f'<div class="card{f" {cls}" if cls else ""}"><div class="value">{value}</div>'
        f'<div class="label">{_e(label)}</div>{delta_html}</div>'
    )


def _delta_line(change: FigureChange | None, *, share: bool = False, higher_is_better: bool) -> str:
    if change is None or change.before is None:
        return ""
    delta = change.delta
    return (
        f'<div class="delta {_delta_class(delta, higher_is_better=higher_is_better)}">'
        f"{_signed(delta, share=share)} since previous</div>"
    )


def _headline(entry: HistoryEntry, changes: Changes | None, staging: list[Mapping[str, Any]]) -> str:
    fig = changes.figures if changes and not changes.first_run else {}
    cards = [
        _card("checks passed", _int(entry.passed)),
        _card("checks failed", _int(entry.failed), _delta_line(fig.get("failed"), higher_is_better=False)),
        _card("not applicable", _int(entry.not_applicable)),
        _card("errors (check did not run)", _int(entry.error)),
        _card("pass rate", _share(entry.pass_rate), _delta_line(fig.get("pass_rate"), share=True, higher_is_better=True)),
        _card(
            "fatal failures",
            _int(entry.fatal_failed),
            _delta_line(fig.get("fatal_failed"), higher_is_better=False),
        ),
        _card("persons", _int(entry.persons), _delta_line(fig.get("persons"), higher_is_better=True)),
    ]
    if staging:
        counts = Counter(s["status"] for s in staging)
        cards.append(
            _card(
                "staging expectations passed",
                f"{_int(counts['passed'])} / {_int(len(staging))}",
                f'<div class="delta">{_int(counts["failed"])} failed · {_int(counts["error"])} error</div>',
            )
        )
    return '<h2>Headline</h2><div class="cards">' + "".join(cards) + "</div>"


def _check_rows(checks: Sequence[Mapping[str, Any]], *, with_description: bool) -> str:
    rows = []
    for c in checks[:MAX_LISTED]:
        row = [
            (_e(c["check_name"]), ""),
            (_e(c["cdm_table"]), ""),
            (_e(c.get("cdm_field") or ""), ""),
            (_e(c.get("concept_id") if c.get("concept_id") is not None else ""), ""),
            (_share(c.get("pct_violated_rows")), "num"),
            (_threshold(c.get("threshold_value")), "num"),
            (f"{_int(c.get('num_violated_rows'))} / {_int(c.get('num_denominator_rows'))}", "num"),
            (_e(c["check_id"]), ""),
        ]
        if with_description:
            row.append((_e(c.get("description") or ""), "desc"))
        rows.append(row)
    headers = [
        ("Check", False),
        ("Table", False),
        ("Field", False),
        ("Concept", False),
        ("Violated", True),
        ("Threshold", True),
        ("Rows violated / rows", True),
        ("Check id", False),
    ] + ([("What was checked", False)] if with_description else [])
    more = (
        f'<p class="note">{_int(len(checks) - MAX_LISTED)} more not listed; all are in quality.json.</p>'
        if len(checks) > MAX_LISTED
        else ""
    )
    return _tag_table(headers, rows) + more


def _severity_then_id(check: Mapping[str, Any]) -> tuple[int, str]:
    return (SEVERITY_ORDER[check["severity"]], check["check_id"])


def _error_rows(checks: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        [
            (_e(c["check_name"]), ""),
            (_e(c["cdm_table"]), ""),
            (_e(c.get("cdm_field") or ""), ""),
            (_e(c["severity"]), ""),
            (_e(c.get("error") or ""), "desc"),
            (_e(c["check_id"]), ""),
        ]
        for c in checks[:MAX_LISTED]
    ]
    headers = [("Check", False), ("Table", False), ("Field", False), ("Severity", False), ("Error", False), ("Check id", False)]
    more = f'<p class="note">{_int(len(checks) - MAX_LISTED)} more not listed.</p>' if len(checks) > MAX_LISTED else ""
    return _tag_table(headers, rows) + more


def _failures(checks: list[Mapping[str, Any]]) -> str:
    """Fatal failures by name (and fatal checks that could not run: they fail the gate too), then the rest."""
    failed = sorted((c for c in checks if c["status"] == "failed"), key=_severity_then_id)
    errored = sorted((c for c in checks if c["status"] == "error"), key=_severity_then_id)
    fatal = [c for c in failed if c["severity"] == "fatal"]
    fatal_errored = [c for c in errored if c["severity"] == "fatal"]
    other = [c for c in failed if c["severity"] != "fatal"]
    other_errored = [c for c in errored if c["severity"] != "fatal"]
    out = ["<h2>Fatal failures</h2>"]
    if fatal:
        out.append(_check_rows(fatal, with_description=True))
    elif not fatal_errored:
        out.append('<p class="note">No fatal check failed.</p>')
    if fatal_errored:
        out.append(f"<h3>Fatal checks that could not run ({_int(len(fatal_errored))})</h3>" + _error_rows(fatal_errored))
    if other:
        out.append(
            f"<details><summary>Other failed checks ({_int(len(other))}: convention and characterization)</summary>"
            + _check_rows(other, with_description=True)
            + "</details>"
        )
    if other_errored:
        out.append(
            f"<details><summary>Other checks that could not run ({_int(len(other_errored))})</summary>"
            + _error_rows(other_errored)
            + "</details>"
        )
    return "".join(out)


def _rows_out(entry: HistoryEntry, changes: Changes | None) -> str:
    if not entry.rows_out:
        return '<h2>Rows per OMOP table</h2><p class="note">The run reported no OMOP tables.</p>'
    compared = changes is not None and not changes.first_run
    rows = []
    for table in sorted(entry.rows_out, key=_table_key):
        row = [(_e(table), ""), (_int(entry.rows_out[table]), "num")]
        if compared:
            change = changes.rows_out.get(table)
            before = change.before if change else None
            row += [(_int(before), "num"), (_signed(change.delta if change else None), "num")]
        rows.append(row)
    headers = [("Table", False), ("Rows", True)] + ([("Previous run", True), ("Change", True)] if compared else [])
    gone = sorted((t for t, c in changes.rows_out.items() if t not in entry.rows_out), key=_table_key) if compared else []
    note = f'<p class="note">Tables in the previous run but not in this one: {_e(", ".join(gone))}.</p>' if gone else ""
    return "<h2>Rows per OMOP table</h2>" + _tag_table(headers, rows) + note


def _coverage(doc: Mapping[str, Any], changes: Changes | None) -> str:
    coverage = doc.get("coverage") or {}
    if not coverage:
        return ""
    compared = changes is not None and not changes.first_run
    rows = []
    for vocabulary in sorted(coverage):
        shares = coverage[vocabulary]
        record = shares.get("record_share")
        width = 0.0 if record is None else max(0.0, min(1.0, float(record))) * 6
        row = [
            (_e(vocabulary), ""),
            (f'<span class="barbox"><span class="bar" style="width:{width:.2f}rem"></span></span>{_share(record)}', "num"),
            (_share(shares.get("code_share")), "num"),
        ]
        if compared:
            change = changes.coverage.get(vocabulary)
            row.append((_signed(change.delta if change and change.before is not None else None, share=True), "num"))
        rows.append(row)
    headers = [("Vocabulary", False), ("Records mapped", True), ("Distinct codes mapped", True)]
    headers += [("Change in records mapped", True)] if compared else []
    return "<h2>Vocabulary coverage</h2>" + _tag_table(headers, rows)


def _staging_records(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    staging = doc.get("staging") or []
    if not isinstance(staging, list):
        raise QualityDocumentError(f"quality document of run {doc.get('run_id')!r}: field 'staging' must be a list")
    for i, s in enumerate(staging):
        at = f"quality document of run {doc.get('run_id')!r}: staging[{i}]"
        if not isinstance(s, Mapping) or s.get("status") not in STAGING_STATUSES:
            raise QualityDocumentError(f"{at} needs a status in {STAGING_STATUSES}")
        for key in ("unexpected_count", "element_count"):
            value = s.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise QualityDocumentError(f"{at}: {key} must be an integer, got {value!r}")
    return staging


def _staging(staging: list[Mapping[str, Any]]) -> str:
    if not staging:
        return ""
    order = {"failed": 0, "error": 1, "passed": 2}
    ordered = sorted(staging, key=lambda s: (order[s["status"]], str(s.get("table")), str(s.get("expectation"))))
    by_table: dict[str, Counter[str]] = {}
    for s in staging:
        by_table.setdefault(str(s.get("table")), Counter())[s["status"]] += 1
    summary_rows = [
        [(_e(t), "")] + [(_int(c[st]), "num") for st in STAGING_STATUSES] for t, c in sorted(by_table.items())
    ]
    detail_rows = [
        [
            (_e(s.get("table")), ""),
            (_e(s.get("expectation")), ""),
            (_e(s.get("column") if s.get("column") is not None else ""), ""),
            (f'<span class="badge status-{_e(s["status"])}">{_e(s["status"])}</span>', ""),
            (f"{_int(s.get('unexpected_count'))} / {_int(s.get('element_count'))}", "num"),
            (_e(s.get("detail") or ""), "desc"),
        ]
        for s in ordered[:MAX_LISTED]
    ]
    return (
        "<h2>Staging suites (Great Expectations)</h2>"
        + _tag_table([("Staging table", False)] + [(_e(st), True) for st in STAGING_STATUSES], summary_rows)
        + f"<details{' open' if any(s['status'] != 'passed' for s in staging) else ''}>"
        + f"<summary>Expectations ({_int(len(staging))}, failures first)</summary>"
        + _tag_table(
            [
                ("Table", False),
                ("Expectation", False),
                ("Column", False),
                ("Status", False),
                ("Unexpected / rows", True),
                ("Detail", False),
            ],
            detail_rows,
        )
        + "</details>"
    )


def _dqd_overview(checks: list[Mapping[str, Any]]) -> str:
    """DQD's overview: per Kahn category, passed/failed/total/% pass per context, plus NA and errors."""
    counts: Counter[tuple[str, str, str]] = Counter(
        (str(c.get("kahn_category") or "unknown"), str(c.get("kahn_context") or "unknown"), c["status"]) for c in checks
    )
    categories = list(KAHN_CATEGORIES) + sorted({k[0] for k in counts} - set(KAHN_CATEGORIES))
    contexts = list(KAHN_CONTEXTS) + sorted({k[1] for k in counts} - set(KAHN_CONTEXTS))

    def cells(cat: str | None, ctx: str | None) -> list[tuple[str, str]]:
        def n(status: str) -> int:
            return sum(v for (ca, cx, st), v in counts.items() if st == status and cat in (None, ca) and ctx in (None, cx))

        passed, failed = n("passed"), n("failed")
        rate = f"{100 * passed / (passed + failed):.0f} %" if passed + failed else "–"
        return [(_int(passed), "num"), (_int(failed), "num"), (_int(passed + failed), "num"), (rate, "num")]

    head = "<tr><th rowspan=2>Category</th>" + "".join(f"<th colspan=4>{_e(ctx)}</th>" for ctx in contexts)
    head += "<th colspan=4>Total</th><th rowspan=2 class=num>Not applicable</th><th rowspan=2 class=num>Error</th></tr><tr>"
    head += "<th class=num>Pass</th><th class=num>Fail</th><th class=num>Total</th><th class=num>% Pass</th>" * (len(contexts) + 1)
    head += "</tr>"
    body = []
    for cat in [*categories, None]:
        row = [(_e(cat) if cat else "<strong>Total</strong>", "")]
        for ctx in contexts:
            row += cells(cat, ctx)
        row += cells(cat, None)
        for status in ("not_applicable", "error"):
            row.append((_int(sum(v for (ca, _, st), v in counts.items() if st == status and cat in (None, ca))), "num"))
        body.append("<tr>" + "".join(f'<td{f" class={c}" if c else ""}>{cell}</td>' for cell, c in row) + "</tr>")
    return (
        "<h2>Check overview (DataQualityDashboard categories)</h2>"
        f"<table><thead>{head}</thead><tbody>{''.join(body)}</tbody></table>"
        '<p class="note">% Pass counts passed and failed checks only; not-applicable checks (empty tables '
        "or fields) and checks that could not run are listed apart.</p>"
    )


def _change_table(items: Sequence[FailureChange], *, resolved: bool = False) -> str:
    rows = []
    for c in items[:MAX_LISTED]:
        row = [
            (_e(c.check_name), ""),
            (_e(c.table), ""),
            (_e(c.field or ""), ""),
            (_e(c.severity), ""),
            (_share(c.pct_before), "num"),
            (_share(c.pct_now), "num"),
            (_threshold(c.threshold), "num"),
            (_e(c.check_id), ""),
        ]
        if resolved:
            row.insert(6, (_e((c.status_now or "absent").replace("_", " ")), ""))
        rows.append(row)
    headers = [
        ("Check", False),
        ("Table", False),
        ("Field", False),
        ("Severity", False),
        ("Violated before", True),
        ("Violated now", True),
        ("Threshold", True),
        ("Check id", False),
    ]
    if resolved:
        headers.insert(6, ("Status now", False))
    more = f'<p class="note">{_int(len(items) - MAX_LISTED)} more not listed.</p>' if len(items) > MAX_LISTED else ""
    return _tag_table(headers, rows) + more


def _changes(changes: Changes | None) -> str:
    out = ["<h2>Changes since the previous run</h2>"]
    if changes is None or changes.first_run:
        out.append('<p class="note">First run of this site: there is no previous run to compare with.</p>')
        return "".join(out)
    out.append(f'<p class="meta">Compared with run <code>{_e(changes.previous_run_id)}</code>.</p>')
    for title, items, resolved in (
        ("New failures", changes.new, False),
        ("Resolved failures", changes.resolved, True),
        ("Persisting failures", changes.persisting, False),
    ):
        out.append(f"<h3>{_e(title)} ({_int(len(items))})</h3>")
        out.append(_change_table(items, resolved=resolved) if items else '<p class="note">None.</p>')
    if any(c.status_now in ("error", "not_applicable", None) for c in changes.resolved):
        out.append(
            '<p class="note">A resolved failure whose status now is not "passed" did not pass: '
            "it could not run, was not applicable or is no longer checked.</p>"
        )
    changed = changes.changed_rows_out
    out.append(f"<h3>Row counts that changed ({_int(len(changed))})</h3>")
    if changed:
        rows = [
            [(_e(t), ""), (_int(c.before), "num"), (_int(c.now), "num"), (_signed(c.delta), "num")]
            for t, c in sorted(changed.items(), key=lambda kv: _table_key(kv[0]))
        ]
        out.append(_tag_table([("Table", False), ("Before", True), ("Now", True), ("Change", True)], rows))
    else:
        out.append('<p class="note">No OMOP table changed its row count.</p>')
    return "".join(out)


# ---- inline SVG line charts ---------------------------------------------------------------


def _nice_ticks(lo: float, hi: float, *, integer: bool, target: int = 5) -> list[float]:
    """Round tick values covering ``lo..hi`` (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    min_span = 1e-3 * max(1.0, abs(lo), abs(hi))  # finer steps than this would not be readable
    if hi - lo < min_span:
        hi = lo + min_span
    raw = (hi - lo) / target
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if integer:
        step = max(1.0, float(math.ceil(step)))
    start = math.floor(lo / step + 1e-9) * step
    end = math.ceil(hi / step - 1e-9) * step
    count = int(round((end - start) / step))
    return [start + i * step for i in range(count + 1)]


def _tick_label(value: float, step: float) -> str:
    decimals = 0
    while decimals < 6 and abs(round(step, decimals) - step) > 1e-9:
        decimals += 1
    return f"{value:,.{decimals}f}"


def _line_chart(
    title: str,
    y_label: str,
    points: Sequence[tuple[str, float | None]],
    *,
    current: str,
    integer: bool,
    y_min: float | None = None,
    y_max: float | None = None,
    value_label=str,
) -> str:
    """One SVG line chart: one point per run (runs without a value get none), run ids on the x axis."""
    # run ids are written vertically under the axis, so the bottom margin grows with the longest
    label_room = 6 * max((len(run_id) for run_id, _ in points), default=1)  # ~6 px per 10 px glyph
    left, right, top, bottom = 84, 20, 30, 40 + label_room
    width, height = 760, 200 + bottom
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, v in points if v is not None]
    lo = y_min if y_min is not None else (min(values) if values else 0.0)
    hi = y_max if y_max is not None else (max(values) if values else 1.0)
    if hi - lo < 1e-12:
        lo, hi = (hi - 1, hi) if y_max is not None else (lo, lo + 1)
    ticks = _nice_ticks(lo, hi, integer=integer)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0

    def x_at(i: int) -> float:
        return left + plot_w / 2 if len(points) == 1 else left + i * plot_w / (len(points) - 1)

    def y_at(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo) * plot_h

    out = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<text class="title" x="{left}" y="{top - 12}">{_e(title)}</text>',
    ]
    for t in ticks:
        y = y_at(t)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}"></line>')
        out.append(f'<text x="{left - 6}" y="{y + 3:.1f}" text-anchor="end">{_e(_tick_label(t, step))}</text>')
    out.append(f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"></line>')
    out.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}"></line>')
    cy = top + plot_h / 2
    out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" transform="rotate(-90 14 {cy:.1f})">{_e(y_label)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" text-anchor="middle">Run (oldest to newest)</text>')
    segment: list[str] = []
    segments: list[list[str]] = []
    for i, (_, v) in enumerate(points):
        if v is None:
            if segment:
                segments.append(segment)
            segment = []
        else:
            segment.append(f"{x_at(i):.1f},{y_at(v):.1f}")
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            out.append(f'<polyline class="line" points="{" ".join(seg)}"></polyline>')
    for i, (run_id, v) in enumerate(points):
        x = x_at(i)
        ly = top + plot_h + 12
        out.append(
            f'<text x="{x + 3:.1f}" y="{ly}" text-anchor="end" transform="rotate(-90 {x + 3:.1f} {ly})">{_e(run_id)}</text>'
        )
        if v is not None:
            cls = "point current" if run_id == current else "point"
            out.append(
                f'<circle class="{cls}" cx="{x:.1f}" cy="{y_at(v):.1f}" r="4" data-run="{_e(run_id)}">'
                f"<title>{_e(run_id)}: {_e(value_label(v))}</title></circle>"
            )
    out.append("</svg>")
    return "".join(out)


def _trend_entries(history: Sequence[HistoryEntry], current: HistoryEntry) -> list[HistoryEntry]:
    """The site's runs for the plots: the history with the current run in it (its doc's version)."""
    runs = [e for e in history if e.run_id != current.run_id] + [current]
    runs.sort(key=lambda e: (parse_finished(e.finished, where=f"run {e.run_id!r}"), e.run_id))
    return runs[-MAX_TREND_RUNS:]


def _trends(history: Sequence[HistoryEntry], current: HistoryEntry) -> str:
    runs = _trend_entries(history, current)
    shown = f"the latest {len(runs)} runs" if len(runs) == MAX_TREND_RUNS else f"{len(runs)} run(s)"
    charts = [
        _line_chart(
            "Pass rate per run",
            "Pass rate (%)",
            [(e.run_id, None if e.pass_rate is None else e.pass_rate * 100) for e in runs],
            current=current.run_id,
            integer=False,
            y_max=100.0,
            value_label=lambda v: f"{v:.2f} %",
        ),
        _line_chart(
            "Failed checks per run",
            "Failed checks",
            [(e.run_id, float(e.failed)) for e in runs],
            current=current.run_id,
            integer=True,
            y_min=0.0,
            value_label=lambda v: f"{int(v):,}",
        ),
        _line_chart(
            "Fatal failures per run",
            "Fatal failures",
            [(e.run_id, float(e.fatal_failed)) for e in runs],
            current=current.run_id,
            integer=True,
            y_min=0.0,
            value_label=lambda v: f"{int(v):,}",
        ),
        _line_chart(
            "Persons per run",
            "Persons",
            [(e.run_id, None if e.persons is None else float(e.persons)) for e in runs],
            current=current.run_id,
            integer=True,
            y_min=0.0,
            value_label=lambda v: f"{int(v):,}",
        ),
    ]
    return (
        f'<h2>Key figures over runs</h2><p class="note">{_e(shown)} of this site; '
        "the current run is marked in red.</p>" + "".join(charts)
    )


# ---- the page -----------------------------------------------------------------------------


def render_summary_html(
    quality_doc: Mapping[str, Any],
    history: Sequence[HistoryEntry],
    changes: Changes | None,
    *,
    data_docs_href: str | None = None,
) -> str:
    """The summary page of one run.  ``history`` is the site's history (the current run may or
    may not be in it); ``changes`` is :func:`validators.history.compare` against the previous run,
    or ``None`` on a site's first run.  A document without a run id (a database checked
    outside the pipeline) is shown as such.  ``data_docs_href`` (default: the document's ``data_docs``)
    links the Great Expectations Data Docs."""
    if quality_doc.get("run_id") is None:  # a database checked outside a run (``crossbridge validate omop``)
        quality_doc = {**quality_doc, "run_id": AD_HOC_RUN}
    entry = entry_from_quality_doc(quality_doc)
    checks = document_checks(quality_doc)
    staging = _staging_records(quality_doc)
    if changes is not None and changes.current_run_id != entry.run_id:
        raise ValueError(f"changes are for run {changes.current_run_id!r}, the document is of run {entry.run_id!r}")
    href = data_docs_href if data_docs_href is not None else quality_doc.get("data_docs")
    body = "".join(
        [
            _header(quality_doc, entry, href),
            _headline(entry, changes, staging),
            _failures(checks),
            _rows_out(entry, changes),
            _coverage(quality_doc, changes),
            _staging(staging),
            _dqd_overview(checks),
            _changes(changes),
            _trends(history, entry),
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Quality summary {_e(entry.site)} {_e(entry.run_id)}</title>"
        f"<style>{_CSS}</style></head><body>{body}"
        f'<p class="note">Generated from quality.json of run {_e(entry.run_id)}.</p></body></html>\n'
    )


def write_summary(
    run_quality_dir: str | os.PathLike,
    quality_doc: Mapping[str, Any],
    history: Sequence[HistoryEntry],
    changes: Changes | None,
    data_docs_href: str | None = None,
) -> Path:
    """Render the summary and write ``<run_quality_dir>/quality_summary.html`` atomically; returns its path."""
    page = render_summary_html(quality_doc, history, changes, data_docs_href=data_docs_href)
    directory = Path(run_quality_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SUMMARY_FILE
    write_text_atomic(path, page)
    return path
