"""Hand-built quality documents (the shape validators/omop_run.py writes) for the history and report tests."""

from __future__ import annotations

from typing import Any

_KAHN = {
    "isRequired": ("Validation", "Conformance", "Relational", "fatal"),
    "isForeignKey": ("Verification", "Conformance", "Relational", "fatal"),
    "measureValueCompleteness": ("Verification", "Completeness", None, "characterization"),
    "plausibleAfterBirth": ("Validation", "Plausibility", "Temporal", "convention"),
    "cdmDatatype": ("Verification", "Conformance", "Value", "fatal"),
}


def check(
    check_id: str,
    status: str,
    *,
    severity: str | None = None,
    pct: float | None = None,
    threshold: float = 0.0,
    error: str | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """One check result record; name, table and field are read off ``check_id``."""
    parts = check_id.split(".")
    name, table = parts[0], parts[1]
    field = parts[2] if len(parts) > 2 else None
    context, category, subcategory, default_severity = _KAHN.get(name, ("Verification", "Conformance", None, "convention"))
    denominator = None if status in ("not_applicable", "error") else 1000
    if pct is None and denominator is not None:
        pct = 0.0 if status == "passed" else 0.05
    return {
        "check_id": check_id,
        "check_name": name,
        "check_level": "FIELD" if field else "TABLE",
        "cdm_table": table,
        "cdm_field": field,
        "concept_id": None,
        "unit_concept_id": None,
        "kahn_context": context,
        "kahn_category": category,
        "kahn_subcategory": subcategory,
        "severity": severity or default_severity,
        "description": description or f"The number and percent of records in {table} violating {name}.",
        "status": status,
        "num_violated_rows": None if pct is None else round(pct * (denominator or 0)),
        "pct_violated_rows": pct,
        "num_denominator_rows": denominator,
        "threshold_value": threshold,
        "not_applicable_reason": "table is empty" if status == "not_applicable" else None,
        "error": error if status == "error" else None,
        "execution_seconds": 0.01,
    }


def quality_doc(
    run_id: str,
    checks: list[dict[str, Any]],
    *,
    site: str = "tw",
    finished: str = "2025-03-01T10:00:00+00:00",
    rows_out: dict[str, int] | None = None,
    coverage: dict[str, dict[str, float]] | None = None,
    staging: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A run's quality document with outcome and overview computed from ``checks``."""
    overview: dict[str, Any] = {s: sum(c["status"] == s for c in checks) for s in ("passed", "failed", "not_applicable", "error")}
    overview["fatal_failed"] = sum(c["status"] == "failed" and c["severity"] == "fatal" for c in checks)
    by_category: dict[str, dict[str, int]] = {}
    for c in checks:
        cat = by_category.setdefault(c["kahn_category"], {s: 0 for s in ("passed", "failed", "not_applicable", "error")})
        cat[c["status"]] += 1
    overview["by_category"] = by_category
    outcome = "failed" if overview["fatal_failed"] else ("warn" if overview["failed"] else "passed")
    return {
        "run_id": run_id,
        "site": site,
        "database": "omop.duckdb",
        "started": finished.replace("10:00:00", "09:50:00"),
        "finished": finished,
        "outcome": outcome,
        "overview": overview,
        "checks": checks,
        "staging": staging or [],
        "rows_out": {"person": 1200, "visit_occurrence": 5400} if rows_out is None else rows_out,
        "coverage": {"ICD10CM": {"record_share": 0.97, "code_share": 0.91}} if coverage is None else coverage,
        "data_docs": None,
    }


def failing_doc(run_id: str, failed: set[str], passed: set[str] = frozenset(), **kw: Any) -> dict[str, Any]:
    """A document whose failed checks are exactly ``failed`` (all other ids in ``passed`` pass)."""
    checks = [check(i, "failed") for i in sorted(failed)] + [check(i, "passed") for i in sorted(set(passed) - set(failed))]
    return quality_doc(run_id, checks, **kw)
