"""Great Expectations quality suite for a FHIR R4 Bulk Data export (NDJSON per resource type).

The export is first flattened into DuckDB (:mod:`validators.fhir_flatten`); the checks
are GX ``UnexpectedRowsExpectation`` queries on those tables, one expectation per check
and resource type, grouped into one suite per table.  What two checks look up for every
type alike (resources with an expected profile, references resolving to no resource) is
computed once beforehand, in tables beside them.  Every check's query returns the
offending elements (resource label, file, line, never an identifier value), so a record
can name examples and the file/line at fault.

Checks: structural validity (fhir.resources R4B), id present and unique per type,
meta.profile present and from the site's implementation guide (TW Core / Finnish Base
Profiles), identifier systems present and none of the national-ID systems, codings with
a system known to ``terminology.systems`` (or a FHIR infrastructure system), references
``Type/id`` resolving inside the export (contained references against ``contained``;
absolute URLs reported as information), and no raw national identifier anywhere.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from terminology.fhir_profiles import (
    CORE_PROFILE, IMPLEMENTATION_GUIDES, NATIONAL_ID_SYSTEMS, has_national_profile)
from validators.fhir_flatten import MEMORY_LIMIT, flatten_export
from validators.gx_engine import exception_message


#: Resource types checked for "no national profile, so the FHIR core one is right" (profile_from_ig).
CORE_PROFILE_CANDIDATES: tuple[str, ...] = (
    "Patient", "Encounter", "Condition", "MedicationDispense", "MedicationRequest", "MedicationStatement",
    "MedicationAdministration", "Medication", "Procedure", "Observation", "Specimen", "Organization", "Location",
    "Practitioner", "PractitionerRole", "Provenance", "DiagnosticReport", "DeviceUseStatement", "Device",
)
MAX_EXAMPLES = 5
#: ``site`` value of an export written for no national guide (an OMOP database of unknown origin, an
#: inbound feed without a site): every resource is expected to declare its type's FHIR core profile.
CORE = "core"
_SAFE_TYPE = re.compile(r"^(\(unknown\)|[A-Z][A-Za-z]{0,63})$")


class FhirSuiteError(RuntimeError):
    """The suite could not be built as declared (e.g. a resource type name unsafe for SQL)."""


@dataclass(frozen=True)
class FhirCheck:
    """One check: rows of ``table`` (alias ``b``) in ``population`` that satisfy ``unexpected`` fail it."""

    name: str
    table: str
    description: str
    population: str
    unexpected: str
    qualify: str | None = None
    columns: str = ""  # extra selected columns (for details), never identifier values


CHECKS: tuple[FhirCheck, ...] = (
    FhirCheck("structure_valid", "resource", "line is a JSON object that validates against the FHIR R4 model",
              "b.validated", "NOT b.valid", columns=", b.error"),
    FhirCheck("id_present", "resource", "resource has an id", "b.json_ok", "b.id IS NULL OR b.id = ''"),
    FhirCheck("id_unique", "resource", "id is unique within the resource type", "b.json_ok AND b.id <> ''", "true",
              qualify="row_number() OVER (PARTITION BY b.id ORDER BY b.rid) > 1"),
    FhirCheck("profile_present", "resource", "meta.profile is present", "b.json_ok", "b.profile_count = 0"),
    FhirCheck("profile_from_ig", "resource", "a meta.profile is from the site's implementation guide "
              "(or the FHIR core profile of a type the guide has no profile for)",
              "b.json_ok AND b.profile_count > 0",
              "NOT EXISTS (SELECT 1 FROM expected_profile_found f WHERE f.rid = b.rid)"),
    FhirCheck("no_national_id", "resource", "no valid raw national identifier anywhere in the resource",
              "true", "b.national_id_count > 0", columns=", b.national_id_count"),
    FhirCheck("identifier_system_present", "identifier", "every identifier has a system",
              "true", "b.system IS NULL OR trim(b.system) = ''", columns=", b.path"),
    FhirCheck("identifier_not_national", "identifier", "no identifier uses a national-ID system (pseudonyms only)",
              "true", "b.system IN (SELECT system FROM national_system)", columns=", b.path"),
    FhirCheck("coding_system_present", "coding", "every coding has a system",
              "true", "b.system IS NULL OR trim(b.system) = ''", columns=", b.path"),
    FhirCheck("coding_system_known", "coding", "every coding system is known to terminology.systems",
              "b.system IS NOT NULL AND trim(b.system) <> ''",
              "b.system NOT IN (SELECT system FROM known_system)", columns=", b.path, b.system"),
    FhirCheck("reference_resolves", "reference", "every Type/id reference resolves to a resource in the export",
              "b.kind IN ('relative', 'invalid')",
              "EXISTS (SELECT 1 FROM unresolved_reference u WHERE u.rid = b.rid AND u.path = b.path "
              "AND u.reference = b.reference)",
              columns=", b.path, b.kind, b.target_type"),
    FhirCheck("contained_reference_resolves", "reference", "every #id reference resolves to a contained resource",
              "b.kind = 'contained'",
              "b.reference <> '#' AND NOT EXISTS (SELECT 1 FROM contained c "
              "WHERE c.rid = b.rid AND '#' || c.contained_id = b.reference)", columns=", b.path"),
)
SUITE_TABLES: tuple[str, ...] = ("resource", "identifier", "coding", "reference")


@dataclass
class FhirCheckRecord:
    """Outcome of one expectation (one check on one resource type)."""

    check: str
    resource_type: str
    status: str  # passed | failed | error
    unexpected_count: int
    element_count: int
    examples: list[str] = field(default_factory=list)  # resource ids or file:line, never identifier values
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FhirQualityReport:
    """All records of one export's validation and the overall outcome (passed | failed | error)."""

    export_dir: str
    site: str | None
    site_source: str  # given | detected | undetermined
    validate: str
    sample_size: int | None
    seed: int | None
    files: list[str]
    resource_count: int
    malformed_lines: int
    validated_count: int
    records: list[FhirCheckRecord]
    seconds: dict[str, float]
    database: str | None = None  # kept only when a workdir was given

    @property
    def outcome(self) -> str:
        statuses = {r.status for r in self.records}
        return "error" if "error" in statuses else "failed" if "failed" in statuses else "passed"

    def failed(self) -> list[FhirCheckRecord]:
        """Records that did not pass (failed or error)."""
        return [r for r in self.records if r.status != "passed"]

    def record(self, check: str, resource_type: str) -> FhirCheckRecord:
        """The record of ``check`` on ``resource_type`` (KeyError if absent)."""
        for r in self.records:
            if r.check == check and r.resource_type == resource_type:
                return r
        raise KeyError(f"no record for check {check!r} on {resource_type!r}")

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k != "records"}
        out["outcome"] = self.outcome
        out["records"] = [r.to_dict() for r in self.records]
        return out


def check_query(check: FhirCheck, resource_type: str) -> str:
    """The DuckDB SQL of ``check`` on one resource type, with GX's ``{batch}`` placeholder.

    No literal but the (validated) type name and no ``:`` (GX sends it through SQLAlchemy
    ``text()``, where ``:name`` is a bind parameter): URIs live in tables.  ``{batch}`` is
    wrapped in a sub-select because GX substitutes it with or without an alias.
    """
    if not _SAFE_TYPE.match(resource_type):
        raise FhirSuiteError(f"resource type {resource_type!r} is not safe to put in SQL")
    qualify = f" QUALIFY {check.qualify}" if check.qualify else ""
    return (f"SELECT b.label, b.file, b.line{check.columns} FROM (SELECT * FROM {{batch}}) AS b "
            f"WHERE b.resource_type = '{resource_type}' AND ({check.population}) AND ({check.unexpected})"
            f"{qualify} ORDER BY b.rid")


def validate_fhir_export(ndjson_dir: str | os.PathLike, *, site: str | None = None, validate: str = "all",
                         sample_size: int = 1000, seed: int = 0,
                         workdir: str | os.PathLike | None = None) -> FhirQualityReport:
    """Flatten the export in ``ndjson_dir`` into DuckDB and run the FHIR quality suites on it.

    ``site`` ('taiwan' | 'finland') selects the expected implementation guide, :data:`CORE` ('core')
    expects the FHIR core profiles only; None detects it from meta.profile (core when every
    declared profile is a core one).  ``validate='sample'`` validates ``sample_size`` resources chosen
    deterministically by ``seed``.  With ``workdir`` the DuckDB file is kept there.
    """
    if site is not None and site not in IMPLEMENTATION_GUIDES and site != CORE:
        raise ValueError(f"site must be one of {sorted(IMPLEMENTATION_GUIDES)}, {CORE!r} or None, got {site!r}")
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="fhir-quality-") as tmp:
            return _run(Path(ndjson_dir), site, validate, sample_size, seed, Path(tmp) / "fhir_quality.duckdb", False)
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return _run(Path(ndjson_dir), site, validate, sample_size, seed, Path(workdir) / "fhir_quality.duckdb", True)


def _run(ndjson_dir: Path, site: str | None, validate: str, sample_size: int, seed: int, db: Path,
         keep: bool) -> FhirQualityReport:
    summary = flatten_export(ndjson_dir, db, validate=validate, sample_size=sample_size, seed=seed)
    t0 = time.perf_counter()
    con = duckdb.connect(str(db), config={"memory_limit": MEMORY_LIMIT})  # bounded, spills to <db>.tmp
    try:
        site, site_source = _settle_site(con, site)
        types = [t for (t,) in con.execute("SELECT DISTINCT resource_type FROM resource ORDER BY 1").fetchall()]
        populations = _populations(con)
        outside = _outside_records(con)
        resource_count = con.execute("SELECT count(*) FROM resource WHERE json_ok").fetchone()[0]
    finally:
        con.close()
    skipped: list[FhirCheckRecord] = []
    declared: dict[str, list[tuple[FhirCheck, str]]] = {t: [] for t in SUITE_TABLES}
    for check in CHECKS:
        for rtype in types:
            if check.name == "profile_from_ig" and site is None:
                skipped.append(FhirCheckRecord(check.name, rtype, "error", 0, populations.get((check.name, rtype), 0),
                                               detail="site not given and not detectable from meta.profile"))
                continue
            declared[check.table].append((check, rtype))
    records = _run_suites(db, declared, populations)
    records.extend(skipped)
    records.extend(outside)
    order = {c.name: i for i, c in enumerate(CHECKS)}
    records.sort(key=lambda r: (order.get(r.check, len(order)), r.resource_type))
    return FhirQualityReport(
        export_dir=str(ndjson_dir), site=site, site_source=site_source, validate=validate,
        sample_size=sample_size if validate == "sample" else None, seed=seed if validate == "sample" else None,
        files=list(summary.files), resource_count=resource_count, malformed_lines=summary.malformed,
        validated_count=summary.validated, records=records,
        seconds={"flatten": summary.seconds_read, "fhir_validation": summary.seconds_validate,
                 "suites": round(time.perf_counter() - t0, 3)},
        database=str(db) if keep else None)


def _settle_site(con: duckdb.DuckDBPyConnection, site: str | None) -> tuple[str | None, str]:
    """Write the ``expected_ig`` and ``national_system`` tables; detect the site when not given."""
    source = "given"
    if site is None:
        counts = {s: con.execute("SELECT count(DISTINCT rid) FROM profile WHERE starts_with(profile, ?)",
                                 [_prefix(s)]).fetchone()[0] for s in IMPLEMENTATION_GUIDES}
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        core_only = con.execute("SELECT count(*) > 0 AND bool_and(starts_with(profile, ?)) FROM profile",
                                [CORE_PROFILE]).fetchall()[0][0]
        if ranked[0][1] > 0 and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            site, source = ranked[0][0], "detected"
        elif ranked[0][1] == 0 and core_only:
            site, source = CORE, "detected"
        else:
            source = "undetermined"
    con.execute("CREATE OR REPLACE TABLE expected_ig (site VARCHAR, prefix VARCHAR)")
    if site is not None and site != CORE:
        con.execute("INSERT INTO expected_ig VALUES (?, ?)", [site, _prefix(site)])
    con.execute("CREATE OR REPLACE TABLE expected_core (resource_type VARCHAR, profile VARCHAR)")
    if site is not None:
        con.executemany("INSERT INTO expected_core VALUES (?, ?)",
                        [[t, CORE_PROFILE + t] for t in CORE_PROFILE_CANDIDATES
                         if site == CORE or not has_national_profile(site, t)])
    con.execute("CREATE OR REPLACE TABLE national_system (system VARCHAR)")
    con.executemany("INSERT INTO national_system VALUES (?)", [[s] for s in NATIONAL_ID_SYSTEMS])
    _lookup_tables(con)
    return site, source


def _lookup_tables(con: duckdb.DuckDBPyConnection) -> None:
    """What two checks look up, computed once for all resource types (the checks themselves run
    once per type, and twice in GX):

    * ``expected_profile_found`` -- the resources with a meta.profile from ``expected_ig``, or the
      core profile ``expected_core`` names for their type (a profile row carries its resource's type);
    * ``unresolved_reference`` -- the ``Type/id`` (or invalid) references no resource of the
      export has (type and id), by (rid, path, reference).
    """
    con.execute(
        """CREATE OR REPLACE TABLE expected_profile_found AS
           SELECT DISTINCT p.rid FROM profile p
           WHERE EXISTS (SELECT 1 FROM expected_ig e WHERE starts_with(p.profile, e.prefix))
              OR EXISTS (SELECT 1 FROM expected_core c
                         WHERE c.profile = p.profile AND c.resource_type = p.resource_type)""")
    con.execute(
        """CREATE OR REPLACE TABLE unresolved_reference AS
           SELECT b.rid, b.path, b.reference FROM reference b
           WHERE b.kind IN ('relative', 'invalid')
             AND NOT EXISTS (SELECT 1 FROM resource r WHERE r.resource_type = b.target_type AND r.id = b.target_id)""")


def _prefix(site: str) -> str:
    return IMPLEMENTATION_GUIDES[site] + "/StructureDefinition/"


def _populations(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """Number of elements each check looks at, per resource type (one grouped query per table)."""
    out: dict[tuple[str, str], int] = {}
    for table in SUITE_TABLES:
        checks = [c for c in CHECKS if c.table == table]
        counts = ", ".join(f"count(*) FILTER (WHERE {c.population})" for c in checks)
        for row in con.execute(f"SELECT b.resource_type, {counts} FROM {table} AS b GROUP BY 1").fetchall():
            for check, n in zip(checks, row[1:]):
                out[(check.name, row[0])] = int(n)
    return out


def _outside_records(con: duckdb.DuckDBPyConnection) -> list[FhirCheckRecord]:
    """Information only: absolute-URL references, which cannot be resolved inside the export."""
    rows = con.execute(
        """SELECT resource_type, count(*), list(DISTINCT label ORDER BY label)[1:5] FROM reference
           WHERE kind = 'absolute' GROUP BY 1 ORDER BY 1""").fetchall()
    return [FhirCheckRecord("references_outside_export", rtype, "passed", 0, int(n), list(labels),
                            f"information: {n} absolute-URL reference(s) not resolvable inside the export")
            for rtype, n, labels in rows]


def _build_suite(g, name: str, declared: list[tuple[FhirCheck, str]]):
    """One GX suite with an UnexpectedRowsExpectation per (check, resource type)."""
    expectations = [g.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=check_query(check, rtype), description=f"{check.name}: {check.description}",
        meta={"check": check.name, "resource_type": rtype}) for check, rtype in declared]
    # passed whole: add_expectation compares each new expectation with all before it (quadratic)
    return g.ExpectationSuite(name=name, expectations=expectations)


def _run_suites(db: Path, declared: dict[str, list[tuple[FhirCheck, str]]],
                populations: dict[tuple[str, str], int]) -> list[FhirCheckRecord]:
    from validators.gx_engine import gx, open_session

    g = gx()
    records: list[FhirCheckRecord] = []
    for table, items in declared.items():
        if not items:
            continue
        suite = _build_suite(g, f"fhir-{table}", items)
        if len(suite.expectations) != len(items):
            records.extend(_error_records(items, populations,
                                          f"suite fhir-{table} has {len(suite.expectations)} expectations, "
                                          f"{len(items)} declared; not run"))
            continue
        # one session per suite: a failing query leaves GX's persistent DuckDB connection in an
        # aborted transaction, which would turn every later expectation into an error
        session = open_session(db, init_sql=(f"SET memory_limit = '{MEMORY_LIMIT}'",))
        try:
            result = session.validate(suite, table, result_format="COMPLETE")
        finally:
            session.close()
        records.extend(_records_from_result(result, items, populations, table))
    return records


def _error_records(items, populations, detail: str) -> list[FhirCheckRecord]:
    return [FhirCheckRecord(c.name, t, "error", 0, populations.get((c.name, t), 0), detail=detail) for c, t in items]


def _records_from_result(result, items, populations, table: str) -> list[FhirCheckRecord]:
    by_key = {}
    for r in result.results:
        meta = r.expectation_config.meta or {}
        by_key[(meta.get("check"), meta.get("resource_type"))] = r
    records = []
    for check, rtype in items:
        r = by_key.get((check.name, rtype))
        population = populations.get((check.name, rtype), 0)
        if r is None:
            records.append(FhirCheckRecord(check.name, rtype, "error", 0, population,
                                           detail=f"no result from suite fhir-{table} for this expectation"))
            continue
        raised = exception_message(r.exception_info)
        raised = raised.splitlines()[0] if raised else raised
        if raised is not None or "observed_value" not in (r.result or {}):
            records.append(FhirCheckRecord(check.name, rtype, "error", 0, population,
                                           detail=f"expectation raised: {raised or 'no observed value'}"))
            continue
        count = int(r.result.get("observed_value") or 0)
        rows = (r.result.get("details") or {}).get("unexpected_rows") or []
        records.append(FhirCheckRecord(
            check.name, rtype, "passed" if r.success else "failed", count, population,
            examples=_examples(rows), detail=_detail(check, rows, count)))
    return records


def _examples(rows: list[dict]) -> list[str]:
    seen: list[str] = []
    for row in rows:  # at most GX's row cap (200), for the first few distinct labels
        label = str(row.get("label"))
        if label not in seen:
            seen.append(label)
        if len(seen) == MAX_EXAMPLES:
            break
    return seen


def _detail(check: FhirCheck, rows: list[dict], count: int) -> str:
    """The check's description; on failure, the first offending places as ``file:line`` with context."""
    if not count:
        return check.description
    places = []
    for row in rows[:3]:
        extra = [str(row[k]) for k in ("path", "error", "system", "target_type") if row.get(k) is not None]
        places.append(f"{row.get('file')}:{row.get('line')}" + (f" {' '.join(extra)}" if extra else ""))
    return f"{check.description}; {count} unexpected, e.g. " + "; ".join(places)


__all__ = [
    "CHECKS", "FhirCheck", "FhirCheckRecord", "FhirQualityReport", "FhirSuiteError", "IMPLEMENTATION_GUIDES",
    "NATIONAL_ID_SYSTEMS", "check_query", "validate_fhir_export",
]
