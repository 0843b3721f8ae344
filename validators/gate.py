"""The quality gate: fatal failures stop a run before anything is published.

Thresholds and severities are configurable per site in one TOML file (setting
``quality_thresholds``)::

    [all]                                   # every site
    plausibleValueHigh = 5                  # all instances of a check type: threshold in percent
    [taiwan]
    "isForeignKey.visit_occurrence.care_site_id" = { threshold = 1, severity = "convention" }
    "plausibleDuringLife.drug_exposure" = 2 # checkName.table

Keys are a check name, ``checkName.table`` or a full check id; site sections
win over ``[all]``.  Unknown keys are refused by the catalogue when the checks
are declared.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


class QualityGateFailed(RuntimeError):
    """Fatal quality checks failed; the run stops before loading or publishing."""

    def __init__(self, message: str, failed: list[dict[str, Any]]):
        super().__init__(message)
        self.failed = failed


class ThresholdsFileError(ValueError):
    """The thresholds file is unreadable or malformed (names the file and key)."""


def load_thresholds(path: str | Path | None, site: str) -> dict[str, Any]:
    """Overrides for ``site`` from the thresholds file (``{}`` without a file)."""
    if not path:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ThresholdsFileError(f"quality thresholds file {p} does not exist")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ThresholdsFileError(f"{p}: {exc}") from exc
    out: dict[str, Any] = {}
    for section in ("all", site):
        values = data.get(section, {})
        if not isinstance(values, Mapping):
            raise ThresholdsFileError(f"{p}: [{section}] must be a table of check = threshold")
        for key, value in values.items():
            if isinstance(value, bool) or not isinstance(value, (int, float, Mapping)):
                raise ThresholdsFileError(f"{p}: [{section}] {key}: expected a number or "
                                          f"{{ threshold = N, severity = S }}, got {value!r}")
            if isinstance(value, Mapping):
                extra = sorted(set(value) - {"threshold", "severity"})
                if extra:
                    raise ThresholdsFileError(f"{p}: [{section}] {key}: unknown keys {extra}")
                value = dict(value)
            out[key] = value
    return out


def _describe(check: Mapping[str, Any]) -> str:
    where = ".".join(str(x) for x in (check["cdm_table"], check.get("cdm_field")) if x)
    if check["status"] == "error":
        return f"{check['check_name']} on {where}: error: {check.get('error')}"
    pct = (check.get("pct_violated_rows") or 0.0) * 100
    return (f"{check['check_name']} on {where}: {check.get('num_violated_rows')} of "
            f"{check.get('num_denominator_rows')} rows ({pct:.2f}% > {check['threshold_value']:g}%)")


def gate(checks: Iterable[Mapping[str, Any]], *, site: str, run_id: str, report: str | None = None) -> None:
    """Raise :class:`QualityGateFailed` naming every fatal check that failed or errored."""
    failed = [dict(c) for c in checks if c["status"] in ("failed", "error") and c["severity"] == "fatal"]
    if not failed:
        return
    lines = [f"quality gate: {len(failed)} fatal check(s) failed for {site} run {run_id}; nothing was loaded"]
    lines += [f"  - {_describe(c)}" for c in failed[:25]]
    if len(failed) > 25:
        lines.append(f"  ... and {len(failed) - 25} more")
    if report:
        lines.append(f"  report: {report}")
    raise QualityGateFailed("\n".join(lines), failed)
