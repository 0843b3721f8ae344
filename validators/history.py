"""Quality history per site: one entry per run, and what changed since the previous run.

``<workdir>/quality/<site>/history.jsonl`` holds one JSON object per line, one per
run: the run's outcome, its check counts, its key figures (rows out per OMOP table,
persons, vocabulary coverage, pass rate) and the checks that failed.  The run's own
``quality.json`` stays in its run folder; the history is what survives when old run
folders are cleaned up, and what the trend plots of the quality summary read.

Writes replace the whole file: the new content goes to a temporary file in the same
folder, is flushed and fsync'ed, then renamed over ``history.jsonl`` (and the folder
fsync'ed).  A crash leaves either the old file or the new one, never a torn line, so
earlier entries cannot be corrupted.  Appending with fsync would be cheaper per write
but can leave a half-written last line after a crash, and re-recording a run (its
entry is replaced, not duplicated) needs a rewrite anyway.  The file is small (one
line per run) so rewriting it per run costs milliseconds.  A lock file serialises
concurrent writers for the same site (two Airflow tasks recording at once would
otherwise lose one entry).
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".history.lock"
FORMAT_VERSION = 1

STATUSES: tuple[str, ...] = ("passed", "failed", "not_applicable", "error")
OUTCOMES: tuple[str, ...] = ("passed", "warn", "failed")
SEVERITY_ORDER: dict[str, int] = {"fatal": 0, "convention": 1, "characterization": 2}
_COUNTS: tuple[str, ...] = ("passed", "failed", "not_applicable", "error", "fatal_failed")


class QualityDocumentError(ValueError):
    """A run's quality document lacks a field the history or the report needs, or has a wrong type."""


class HistoryFormatError(ValueError):
    """A line of a history file cannot be read (names the file and the line)."""


class HistorySiteMismatch(ValueError):
    """A run of one site was about to be recorded in another site's history."""


# ---- the quality document (read, checked) -------------------------------------------------


def _where(doc: Mapping[str, Any]) -> str:
    run_id = doc.get("run_id") if isinstance(doc, Mapping) else None
    return f"quality document of run {run_id!r}" if isinstance(run_id, str) else "quality document"


def _get(doc: Mapping[str, Any], key: str, kinds: type | tuple[type, ...], *, where: str, optional: bool = False) -> Any:
    if key not in doc or doc[key] is None:
        if optional:
            return None
        raise QualityDocumentError(f"{where}: field {key!r} is missing")
    value = doc[key]
    if isinstance(value, bool) and bool not in (kinds if isinstance(kinds, tuple) else (kinds,)):
        raise QualityDocumentError(f"{where}: field {key!r} must be {_kind_names(kinds)}, got {value!r}")
    if not isinstance(value, kinds):
        raise QualityDocumentError(f"{where}: field {key!r} must be {_kind_names(kinds)}, got {type(value).__name__}")
    return value


def _kind_names(kinds: type | tuple[type, ...]) -> str:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return " or ".join(k.__name__ for k in kinds)


def parse_finished(value: str, *, where: str) -> datetime:
    """An ISO timestamp as an aware datetime (naive ones are taken as UTC), for ordering runs."""
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise QualityDocumentError(f"{where}: 'finished' is not an ISO timestamp: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def document_checks(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The document's check records, each checked for the fields the history and report use."""
    where = _where(doc)
    checks = _get(doc, "checks", list, where=where)
    seen: set[str] = set()
    for i, check in enumerate(checks):
        at = f"{where}: checks[{i}]"
        if not isinstance(check, Mapping):
            raise QualityDocumentError(f"{at} is not an object")
        check_id = _get(check, "check_id", str, where=at)
        if check_id in seen:
            raise QualityDocumentError(f"{at}: check_id {check_id!r} appears twice")
        seen.add(check_id)
        at = f"{where}: check {check_id!r}"
        _get(check, "check_name", str, where=at)
        _get(check, "cdm_table", str, where=at)
        _get(check, "cdm_field", str, where=at, optional=True)
        status = _get(check, "status", str, where=at)
        if status not in STATUSES:
            raise QualityDocumentError(f"{at}: status {status!r} is not one of {STATUSES}")
        severity = _get(check, "severity", str, where=at)
        if severity not in SEVERITY_ORDER:
            raise QualityDocumentError(f"{at}: severity {severity!r} is not one of {tuple(SEVERITY_ORDER)}")
        pct = _get(check, "pct_violated_rows", (int, float), where=at, optional=True)
        if pct is not None and not (0.0 <= pct <= 1.0):
            raise QualityDocumentError(f"{at}: pct_violated_rows {pct!r} is outside 0..1")
        _get(check, "threshold_value", (int, float), where=at, optional=True)
        for key in ("num_violated_rows", "num_denominator_rows", "concept_id"):
            _get(check, key, int, where=at, optional=True)
        for key in ("description", "error", "kahn_category", "kahn_context"):
            _get(check, key, str, where=at, optional=True)
    return list(checks)


def _count_map(value: Any, *, where: str, key: str, kinds: type | tuple[type, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise QualityDocumentError(f"{where}: field {key!r} must be an object")
    out: dict[str, Any] = {}
    for name, number in value.items():
        if isinstance(number, bool) or not isinstance(number, kinds):
            raise QualityDocumentError(f"{where}: {key}[{name!r}] must be {_kind_names(kinds)}, got {number!r}")
        out[str(name)] = number
    return out


# ---- history entries ----------------------------------------------------------------------


@dataclass(frozen=True)
class FailedCheck:
    """One failed check as the history keeps it (enough to say what it was and how bad)."""

    check_id: str
    severity: str
    check_name: str
    cdm_table: str
    cdm_field: str | None = None
    pct_violated_rows: float | None = None  # 0..1
    threshold_value: float | None = None  # percent 0..100


@dataclass(frozen=True)
class HistoryEntry:
    """One run of one site: outcome, check counts, key figures and the failed checks."""

    run_id: str
    site: str
    finished: str  # ISO timestamp as the quality document gives it
    outcome: str
    passed: int
    failed: int
    not_applicable: int
    error: int
    fatal_failed: int
    rows_out: dict[str, int] = field(default_factory=dict)
    persons: int | None = None  # rows_out["person"]
    coverage: dict[str, float] = field(default_factory=dict)  # vocabulary -> record share 0..1
    pass_rate: float | None = None  # passed / (passed + failed); None when both are 0
    failures: tuple[FailedCheck, ...] = ()  # sorted by check_id

    @property
    def finished_at(self) -> datetime:
        return parse_finished(self.finished, where=f"history entry {self.run_id!r}")

    @property
    def failed_ids(self) -> frozenset[str]:
        return frozenset(f.check_id for f in self.failures)

    def to_json(self) -> dict[str, Any]:
        """The line written to the history file.  ``persons`` and ``pass_rate`` are written for
        people reading the file; loading recomputes them from ``rows_out`` and ``overview``."""
        return {
            "format": FORMAT_VERSION,
            "run_id": self.run_id,
            "site": self.site,
            "finished": self.finished,
            "outcome": self.outcome,
            "overview": {k: getattr(self, k) for k in _COUNTS},
            "rows_out": dict(self.rows_out),
            "persons": self.persons,
            "coverage": dict(self.coverage),
            "pass_rate": self.pass_rate,
            "failures": [
                {
                    "check_id": f.check_id,
                    "severity": f.severity,
                    "check_name": f.check_name,
                    "cdm_table": f.cdm_table,
                    "cdm_field": f.cdm_field,
                    "pct_violated_rows": f.pct_violated_rows,
                    "threshold_value": f.threshold_value,
                }
                for f in self.failures
            ],
        }


def pass_rate(passed: int, failed: int) -> float | None:
    """``passed / (passed + failed)``: not-applicable and errored checks count neither way."""
    return passed / (passed + failed) if passed + failed else None


def entry_from_quality_doc(doc: Mapping[str, Any]) -> HistoryEntry:
    """The history entry of one run's quality document (checked; :class:`QualityDocumentError` if malformed)."""
    if not isinstance(doc, Mapping):
        raise QualityDocumentError(f"quality document must be an object, got {type(doc).__name__}")
    where = _where(doc)
    run_id = _get(doc, "run_id", str, where=where)
    if not run_id.strip():
        raise QualityDocumentError(f"{where}: 'run_id' is empty")
    site = _get(doc, "site", str, where=where)
    finished = _get(doc, "finished", str, where=where)
    parse_finished(finished, where=where)
    outcome = _get(doc, "outcome", str, where=where)
    if outcome not in OUTCOMES:
        raise QualityDocumentError(f"{where}: outcome {outcome!r} is not one of {OUTCOMES}")
    overview = _get(doc, "overview", Mapping, where=where)
    counts = {k: _get(overview, k, int, where=f"{where}: overview") for k in _COUNTS}
    for k, n in counts.items():
        if n < 0:
            raise QualityDocumentError(f"{where}: overview[{k!r}] is negative ({n})")
    rows_out = _count_map(doc.get("rows_out"), where=where, key="rows_out", kinds=int)
    coverage_doc = doc.get("coverage")
    if coverage_doc is not None and not isinstance(coverage_doc, Mapping):
        raise QualityDocumentError(f"{where}: field 'coverage' must be an object")
    coverage: dict[str, float] = {}
    for vocabulary, shares in (coverage_doc or {}).items():
        at = f"{where}: coverage[{vocabulary!r}]"
        if not isinstance(shares, Mapping):
            raise QualityDocumentError(f"{at} must be an object")
        share = float(_get(shares, "record_share", (int, float), where=at))
        if not (0.0 <= share <= 1.0):
            raise QualityDocumentError(f"{at}: record_share {share!r} is outside 0..1")
        coverage[str(vocabulary)] = share
        code_share = _get(shares, "code_share", (int, float), where=at, optional=True)
        if code_share is not None and not (0.0 <= code_share <= 1.0):
            raise QualityDocumentError(f"{at}: code_share {code_share!r} is outside 0..1")
    failures = tuple(
        sorted(
            (
                FailedCheck(
                    check_id=c["check_id"],
                    severity=c["severity"],
                    check_name=c["check_name"],
                    cdm_table=c["cdm_table"],
                    cdm_field=c.get("cdm_field"),
                    pct_violated_rows=c.get("pct_violated_rows"),
                    threshold_value=c.get("threshold_value"),
                )
                for c in document_checks(doc)
                if c["status"] == "failed"
            ),
            key=lambda f: f.check_id,
        )
    )
    return HistoryEntry(
        run_id=run_id,
        site=site,
        finished=finished,
        outcome=outcome,
        rows_out=rows_out,
        persons=rows_out.get("person"),
        coverage=coverage,
        pass_rate=pass_rate(counts["passed"], counts["failed"]),
        failures=failures,
        **counts,
    )


_FAILURE_FIELDS = frozenset(FailedCheck.__dataclass_fields__)
_NUMBER = (int, float)


def _failure_from_json(obj: Any) -> FailedCheck:
    """One failed check of a history line; fast (a history holds many), :class:`TypeError` when malformed."""
    if type(obj) is not dict or obj.keys() != _FAILURE_FIELDS:
        got = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise TypeError(f"a failure must be an object with fields {sorted(_FAILURE_FIELDS)}, got {got}")
    if not (
        type(obj["check_id"]) is str
        and obj["severity"] in SEVERITY_ORDER
        and type(obj["check_name"]) is str
        and type(obj["cdm_table"]) is str
        and (obj["cdm_field"] is None or type(obj["cdm_field"]) is str)
        and (obj["pct_violated_rows"] is None or type(obj["pct_violated_rows"]) in _NUMBER)
        and (obj["threshold_value"] is None or type(obj["threshold_value"]) in _NUMBER)
    ):
        raise TypeError(f"failure {obj.get('check_id')!r} has a field of the wrong type or an unknown severity")
    return FailedCheck(**obj)


def _entry_from_json(obj: Any, *, where: str) -> HistoryEntry:
    """Parse one history line (already JSON-decoded); :class:`HistoryFormatError` naming ``where``."""
    if not isinstance(obj, dict):
        raise HistoryFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if obj.get("format") != FORMAT_VERSION:
        raise HistoryFormatError(f"{where}: unknown history format {obj.get('format')!r} (this code reads {FORMAT_VERSION})")
    try:
        coverage = obj["coverage"]
        if not isinstance(coverage, dict):
            raise TypeError("field 'coverage' must be an object")
        failures = obj["failures"]
        if not isinstance(failures, list):
            raise TypeError("field 'failures' must be a list")
        header = {
            "run_id": obj["run_id"],
            "site": obj["site"],
            "finished": obj["finished"],
            "outcome": obj["outcome"],
            "overview": obj["overview"],
            "rows_out": obj["rows_out"],
            "coverage": {v: {"record_share": s} for v, s in coverage.items()},
            "checks": [],
        }
        entry = entry_from_quality_doc(header)
        parsed = tuple(_failure_from_json(f) for f in failures)
    except KeyError as exc:
        raise HistoryFormatError(f"{where}: field {exc.args[0]!r} is missing") from None
    except (QualityDocumentError, TypeError) as exc:
        raise HistoryFormatError(f"{where}: {exc}") from None
    if len({f.check_id for f in parsed}) != len(parsed):
        raise HistoryFormatError(f"{where}: a check id appears twice in 'failures'")
    return replace(entry, failures=tuple(sorted(parsed, key=lambda f: f.check_id)))


# ---- the history file ---------------------------------------------------------------------


def history_path(history_dir: str | os.PathLike) -> Path:
    return Path(history_dir) / HISTORY_FILE


def _sort_key(entry: HistoryEntry) -> tuple[datetime, str]:
    return (entry.finished_at, entry.run_id)


def load_history(history_dir: str | os.PathLike) -> list[HistoryEntry]:
    """All entries of a site's history, oldest first (by ``finished``, then run id).

    A missing file is an empty history.  Blank lines are skipped; any other line that
    is not a valid entry raises :class:`HistoryFormatError` naming the file and line.
    """
    path = history_path(history_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    entries: list[HistoryEntry] = []
    line_of: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryFormatError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
        entry = _entry_from_json(obj, where=where)
        if entry.run_id in line_of:
            raise HistoryFormatError(f"{where}: run {entry.run_id!r} already recorded on line {line_of[entry.run_id]}")
        line_of[entry.run_id] = lineno
        entries.append(entry)
    entries.sort(key=_sort_key)
    return entries


@contextmanager
def _locked(history_dir: Path) -> Iterator[None]:
    with open(history_dir / LOCK_FILE, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def write_text_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old or the new content, never a mix."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
            out.write(text)
            out.flush()
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; reports and history are for readers
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def record_run(history_dir: str | os.PathLike, quality_doc: Mapping[str, Any]) -> HistoryEntry:
    """Add one run's entry to the site's history (replacing an earlier entry of the same run id).

    Refuses a run of another site than the one already recorded here
    (:class:`HistorySiteMismatch`), and a corrupt history (:class:`HistoryFormatError`):
    nothing is written then.
    """
    entry = entry_from_quality_doc(quality_doc)
    directory = Path(history_dir)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory):
        entries = load_history(directory)
        others = {e.site for e in entries if e.site != entry.site}
        if others:
            raise HistorySiteMismatch(
                f"{history_path(directory)} holds runs of site {sorted(others)[0]!r}; "
                f"run {entry.run_id!r} is of site {entry.site!r}"
            )
        entries = [e for e in entries if e.run_id != entry.run_id] + [entry]
        entries.sort(key=_sort_key)
        text = "".join(json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in entries)
        write_text_atomic(history_path(directory), text)
    return entry


def previous_entry(history: list[HistoryEntry], run_id: str) -> HistoryEntry | None:
    """The entry before ``run_id`` in ``history`` (oldest-first); the latest entry if ``run_id``
    is not recorded yet; ``None`` for a site's first run."""
    ordered = sorted(history, key=_sort_key)
    for i, entry in enumerate(ordered):
        if entry.run_id == run_id:
            return ordered[i - 1] if i else None
    return ordered[-1] if ordered else None


# ---- comparing two runs -------------------------------------------------------------------


@dataclass(frozen=True)
class FailureChange:
    """A check that failed in one or both of two runs.  ``pct_*`` are shares 0..1;
    ``status_*`` is ``None`` when unknown (the check is absent, or the previous run is
    known only from its history entry, which keeps failures only)."""

    check_id: str
    check_name: str
    table: str
    field: str | None
    severity: str
    pct_now: float | None
    pct_before: float | None
    threshold: float | None  # percent 0..100 (current run's when it has the check)
    status_now: str | None
    status_before: str | None


@dataclass(frozen=True)
class FigureChange:
    before: float | None
    now: float | None

    @property
    def delta(self) -> float | None:
        """``now - before``; a side that is absent counts as 0 (a table that appeared or vanished)."""
        if self.before is None and self.now is None:
            return None
        return (self.now or 0) - (self.before or 0)


@dataclass(frozen=True)
class Changes:
    """What changed between a previous run (``None``: first run of the site) and the current one."""

    current_run_id: str
    previous_run_id: str | None
    new: tuple[FailureChange, ...]  # failing now, not before (all current failures on a first run)
    resolved: tuple[FailureChange, ...]  # failing before, not now
    persisting: tuple[FailureChange, ...]  # failing in both
    rows_out: dict[str, FigureChange]  # per OMOP table, union of both runs' tables
    figures: dict[str, FigureChange]  # persons, pass_rate, failed, fatal_failed
    coverage: dict[str, FigureChange]  # per vocabulary, record share

    @property
    def first_run(self) -> bool:
        return self.previous_run_id is None

    @property
    def changed_rows_out(self) -> dict[str, FigureChange]:
        return {t: c for t, c in self.rows_out.items() if c.delta != 0}


def _change_order(c: FailureChange) -> tuple[int, str]:
    return (SEVERITY_ORDER.get(c.severity, len(SEVERITY_ORDER)), c.check_id)


def _figure(before: float | None, now: float | None) -> FigureChange:
    return FigureChange(before, now)


def compare(previous: Mapping[str, Any] | HistoryEntry | None, current_doc: Mapping[str, Any]) -> Changes:
    """Failures new, resolved and persisting since ``previous`` (a quality document, a history
    entry, or ``None`` for a site's first run), and how the key figures moved."""
    current = entry_from_quality_doc(current_doc)
    now_checks = {c["check_id"]: c for c in document_checks(current_doc)}
    if previous is None:
        before: HistoryEntry | None = None
        before_checks: dict[str, Mapping[str, Any]] = {}
    elif isinstance(previous, HistoryEntry):
        before = previous
        before_checks = {f.check_id: dict(asdict(f), status="failed") for f in previous.failures}
    else:
        before = entry_from_quality_doc(previous)
        before_checks = {c["check_id"]: c for c in document_checks(previous)}
    now_failed = current.failed_ids
    before_failed = before.failed_ids if before else frozenset()

    def change(check_id: str) -> FailureChange:
        now, then = now_checks.get(check_id), before_checks.get(check_id)
        ref = now if check_id in now_failed or then is None else then
        return FailureChange(
            check_id=check_id,
            check_name=ref["check_name"],
            table=ref["cdm_table"],
            field=ref.get("cdm_field"),
            severity=ref["severity"],
            pct_now=now.get("pct_violated_rows") if now else None,
            pct_before=then.get("pct_violated_rows") if then else None,
            threshold=(now or then or {}).get("threshold_value"),
            status_now=now["status"] if now else None,
            status_before=then["status"] if then else None,
        )

    def changes(ids: frozenset[str]) -> tuple[FailureChange, ...]:
        return tuple(sorted((change(i) for i in ids), key=_change_order))

    tables = list(dict.fromkeys([*(before.rows_out if before else {}), *current.rows_out]))
    vocabularies = list(dict.fromkeys([*(before.coverage if before else {}), *current.coverage]))
    return Changes(
        current_run_id=current.run_id,
        previous_run_id=before.run_id if before else None,
        new=changes(now_failed - before_failed),
        resolved=changes(before_failed - now_failed),
        persisting=changes(now_failed & before_failed),
        rows_out={t: _figure(before.rows_out.get(t) if before else None, current.rows_out.get(t)) for t in tables},
        figures={
            k: _figure(getattr(before, k) if before else None, getattr(current, k))
            for k in ("persons", "pass_rate", "failed", "fatal_failed")
        },
        coverage={v: _figure(before.coverage.get(v) if before else None, current.coverage.get(v)) for v in vocabularies},
    )
