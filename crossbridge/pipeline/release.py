"""Build a study release from a site run: the package partners receive (``crossbridge release build``).

1. The source run: the site's latest succeeded run whose quality gate passed (or ``run_id``).
2. :func:`releases.build.build_release_tables` on the run's OMOP tables and its staged site
   pseudonyms, with the study key installed for the duration of the build only.
3. The package, written to ``<workdir>/releases/<release_id>.partial/`` and renamed to
   ``<workdir>/releases/<release_id>/`` only when complete and scanned:

   ==============================  ===========================================================
   ``omop/<table>.parquet``        the released OMOP CDM v5.4 tables
   ``omop_csv/<table>.csv``        the same as CSV (``release.csv``)
   ``fhir/<Type>.ndjson``          FHIR R4 of the released tables, study pseudonyms (``release.fhir``)
   ``data_dictionary.json/.csv``   every released column: type, required, what the release did to it
   ``quality/``                    the source run's quality report and check results
   ``coverage.json``               mapping coverage of the source run
   ``release.json``                the build: permit, filters with persons and rows removed, k-anonymity
   ``catalogue.jsonld``            HealthDCAT-AP record
   ``manifest.json``               every file with size, rows and SHA-256 (written last)
   ==============================  ===========================================================

4. The identifier scanner reads every file of the package; a hit blocks the release (the
   partial folder is deleted, the scan report -- which never quotes a value -- is kept in
   ``<workdir>/releases/<release_id>.blocked.json``).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from crossbridge.ledger import Run, write_json_atomic
from crossbridge.pipeline import common
from crossbridge.settings import Settings


class ReleaseError(RuntimeError):
    """The release cannot be built from what the workdir holds."""


SITE_PIPELINES = {"taiwan": "crossbridge.pipeline.taiwan", "finland": "crossbridge.pipeline.finland",
                  "fhir": "crossbridge.pipeline.fhir_feed", "hl7v2": "crossbridge.pipeline.hl7v2"}


def source_run(settings: Settings, site: str, run_id: str | None = None) -> Run:
    """The run a release is built from: ``run_id``, or the site's latest run that succeeded and passed the gate."""
    runs_dir = settings.runs_dir
    if run_id:
        run = Run.open(runs_dir, run_id)
        candidates = [run]
    else:
        ids = sorted((p.name for p in runs_dir.iterdir() if p.is_dir() and f"-{site}-" in p.name), reverse=True) \
            if runs_dir.exists() else []
        candidates = [Run(runs_dir, i) for i in ids]
    for run in candidates:
        s = run.summary()
        if s.get("site") != site:
            raise ReleaseError(f"run {run.run_id} is a {s.get('site')} run, the study is for {site}")
        if s.get("state") == "succeeded" and s.get("reconciled") and s.get("quality", {}).get("outcome") != "failed":
            return run
        if run_id:
            raise ReleaseError(f"run {run.run_id} did not succeed, reconcile and pass the quality gate "
                               f"(state {s.get('state')}, quality {s.get('quality', {}).get('outcome')})")
    raise ReleaseError(f"no {site} run under {runs_dir} succeeded and passed the quality gate")


def _site_pipeline(site: str):
    import importlib

    if site not in SITE_PIPELINES:
        raise ReleaseError(f"unknown site {site!r}; known: {', '.join(SITE_PIPELINES)}")
    return importlib.import_module(SITE_PIPELINES[site]).PIPELINE


def build_release(spec_path: str | Path, settings: Settings, *, run_id: str | None = None,
                  key: str | bytes | None = None, release_id: str | None = None,
                  environ: dict[str, str] | None = None, reuse_existing: bool = False) -> dict[str, Any]:
    """Build the release package (see the module docstring); returns the build report.

    ``reuse_existing`` (the DAG's retries): when the release folder already exists complete
    (its manifest written last), return its report instead of refusing.
    """
    from crossbridge.pipeline.fhir import person_identity_sql
    from crossbridge.pipeline.site import resolve_ref
    from releases.build import build_release_tables
    from releases.keys import forget_study_key, install_study_key, study_key
    from releases.spec import load_spec

    spec = load_spec(spec_path)
    pipeline = _site_pipeline(spec.site)
    run = source_run(settings, spec.site, run_id)
    k = study_key(spec.release.key_env, environ, given=key)  # fails before any work without a key
    created = datetime.now(timezone.utc).replace(microsecond=0)
    release_id = release_id or f"{spec.study_id}-{created.strftime('%Y%m%dT%H%M%SZ')}"
    root = settings.workdir / "releases"
    final, partial = root / release_id, root / f"{release_id}.partial"
    if final.exists() and reuse_existing and (final / "manifest.json").exists():
        return {**json.loads((final / "release.json").read_text()), "dir": str(final), "reused": True}
    if final.exists():
        raise ReleaseError(f"release {release_id} already exists in {root}; releases are never rebuilt in place")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    work_db = root / f".{release_id}.work.duckdb"
    work_db.unlink(missing_ok=True)
    con = duckdb.connect(str(work_db))
    try:
        con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
        con.execute(f"SET threads = {int(settings.duckdb_threads)}")
        con.execute(f"ATTACH '{run.path('omop.duckdb')}' AS src (READ_ONLY)")
        common.register_staging_views(con, run.path("staging", "tables"), pipeline.layout.FILE_TYPES,
                                      resolve_ref(pipeline.table_columns_function))
        identity = person_identity_sql(con)
        if identity is None:
            raise ReleaseError(f"run {run.run_id} has no staged person keys to derive study pseudonyms from")
        con.execute(f"CREATE OR REPLACE TEMP TABLE person_identity AS {identity}")
        install_study_key(con, k)
        try:
            tables = build_release_tables(con, spec)
            # the study pseudonym of each released person (for FHIR Patient.identifier), then the key goes
            con.execute("""CREATE OR REPLACE TEMP TABLE _release_identity AS
                           SELECT m.new_person_id AS person_id, study_hmac(p.pseudonym) AS pseudonym
                           FROM _pmap m JOIN _persons p USING (person_id)""")
        finally:
            forget_study_key(con)
        for t in ("_persons", "_pmap", "person_identity"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        files = _write_tables(con, partial, tables.tables, csv=spec.release.csv)
        vocab_path, _ = common.ensure_vocabulary(settings)
        con.execute(f"ATTACH '{vocab_path}' AS vocab (READ_ONLY)")
        systems = coding_systems(con, tables.tables)
        exempt = known_codes(con, tables.tables)
        fhir = _write_fhir(con, partial, spec, run) if spec.release.fhir else None
    finally:
        con.close()
        work_db.unlink(missing_ok=True)
        Path(str(work_db) + ".wal").unlink(missing_ok=True)

    summary = run.summary()
    _copy_quality(run, partial)
    write_json_atomic(partial / "coverage.json", summary.get("coverage", {}))
    _write_dictionary(partial, tables)
    report = {
        "release_id": release_id, "study_id": spec.study_id, "title": spec.title, "site": spec.site,
        "permit": {"id": spec.permit.id, "issuer": spec.permit.issuer, "tables": list(spec.permit.tables),
                   "years": spec.permit.years, "variables": {t: list(c) for t, c in spec.permit.variables.items()}},
        "source_run": run.run_id, "created": created.isoformat().replace("+00:00", "Z"),
        "code_version": common.code_version(), "study_file": str(spec.source),
        "build": tables.to_dict(), "fhir": fhir, "files": files, "coding_systems": systems,
    }
    write_json_atomic(partial / "release.json", report)
    return _finish(partial, final, report, spec, run, summary, settings, exempt)


def _write_tables(con: duckdb.DuckDBPyConnection, out: Path, tables: dict[str, int], *, csv: bool) -> dict[str, Any]:
    (out / "omop").mkdir()
    if csv:
        (out / "omop_csv").mkdir()
    for t in tables:
        con.execute(f"COPY (SELECT * FROM main.\"{t}\") TO '{out / 'omop' / f'{t}.parquet'}' "
                    "(FORMAT parquet, COMPRESSION zstd)")
        if csv:
            con.execute(f"COPY (SELECT * FROM main.\"{t}\") TO '{out / 'omop_csv' / f'{t}.csv'}' (HEADER, DELIMITER ',')")
    return {"omop": sorted(tables), "csv": csv}


def _write_fhir(con: duckdb.DuckDBPyConnection, out: Path, spec, run: Run) -> dict[str, Any]:
    from mappings.fhir_r4.context import prepare_context
    from mappings.fhir_r4.export import export_fhir
    from terminology.fhir_profiles import IMPLEMENTATION_GUIDES
    from validators.fhir_round_trip import omop_fhir_round_trip

    catalog = con.execute("SELECT current_database()").fetchall()[0][0]
    site = spec.site if spec.site in IMPLEMENTATION_GUIDES else (run.summary().get("settings", {}).get("feed_site")
                                                                   or None)
    ctx = prepare_context(con, catalog=catalog, vocab_catalog="vocab", vocab_schema="main", site=site,
                          person_identity_sql="SELECT person_id, pseudonym FROM _release_identity", study=spec.study_id)
    report = export_fhir(con, ctx, out / "fhir", run_id=run.run_id, code_version=common.code_version(),
                         sources=[f"release of run {run.run_id}"])
    d = report.to_dict()
    d["round_trip"] = omop_fhir_round_trip(con, out / "fhir", catalog=catalog).to_dict()
    return {"resources": d["resources"], "total": d["total"], "not_expressed": d["not_expressed"],
            "round_trip_agreed": d["round_trip"]["agreed"]}


def _copy_quality(run: Run, out: Path) -> None:
    """The source run's quality report and check results (aggregates only; the hub's own paths left out)."""
    q = out / "quality"
    q.mkdir()
    html = run.path("quality", "quality_summary.html")
    if html.exists():
        shutil.copy2(html, q / "quality_summary.html")
    doc = run.path("quality", "quality.json")
    if doc.exists():
        data = json.loads(doc.read_text(encoding="utf-8"))
        for internal in ("database", "data_docs"):
            data.pop(internal, None)
        write_json_atomic(q / "quality.json", data)


def _write_dictionary(out: Path, tables) -> None:
    """One row per released column: type, required, and what the release did to it."""
    import pyarrow.parquet as pq

    from terminology.omop_cdm import load_cdm

    cdm = load_cdm()
    withheld = tables.columns_withheld
    gen = tables.k_anonymity.get("generalised", {}) if tables.k_anonymity.get("applied") else {}
    rows = []
    for t in sorted(tables.tables):
        schema = pq.read_schema(out / "omop" / f"{t}.parquet")
        fields = {f.name: f for f in cdm.tables[t].fields}
        for name in schema.names:
            f = fields.get(name)
            treatment = []
            if f is not None and (f.primary_key or (f.fk_table and f.fk_table not in ("concept",) and
                                                   not name.endswith("concept_id"))):
                treatment.append("re-keyed per study (HMAC)")
            if name in withheld.get(t, []):
                treatment.append("withheld (NULL)")
            if t == "person" and name == "year_of_birth" and "year_of_birth" in gen:
                treatment.append(gen["year_of_birth"])
            if t == "person" and name == "gender_concept_id" and "gender" in gen:
                treatment.append(gen["gender"])
            if t == "person" and name == "location_id" and "region" in gen:
                treatment.append(gen["region"])
            if t == "condition_occurrence" and name == "condition_source_value" and "rare_diagnosis" in gen:
                treatment.append(gen["rare_diagnosis"])
            if f is not None and f.base_type in ("date", "datetime") and tables.dates != "keep":
                treatment.append({"month": "coarsened to the first of the month",
                                  "shift": "shifted per person by a secret number of days"}[tables.dates])
            rows.append({"table": t, "column": name, "type": str(schema.field(name).type),
                         "cdm_datatype": f.datatype if f else None, "required": bool(f.required) if f else False,
                         "rows": tables.tables[t], "treatment": "; ".join(treatment) or "as in the source"})
    write_json_atomic(out / "data_dictionary.json", {"columns": rows})
    import csv

    with open(out / "data_dictionary.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["table", "column"])
        w.writeheader()
        w.writerows(rows)


def _finish(partial: Path, final: Path, report: dict[str, Any], spec, run: Run, summary: dict[str, Any],
            settings: Settings, exempt: list[str]) -> dict[str, Any]:
    """Catalogue record, scan, manifest, rename (see the module docstring)."""
    from releases.catalogue import healthdcat_record, write_record
    from releases.manifest import build_manifest, write_manifest
    from releases.scanner import scan_release

    meta = {"release_id": report["release_id"], "study_id": spec.study_id, "permit_id": spec.permit.id,
            "created": report["created"], "code_version": report["code_version"],
            "vocabulary_versions": summary.get("vocabulary", {}).get("vocabulary_versions", {}),
            "source_runs": [run.run_id], "site": spec.site}
    manifest = build_manifest(partial, meta)
    write_record(partial / "catalogue.jsonld", healthdcat_record(manifest, _facts(spec, report, partial)))
    manifest = build_manifest(partial, meta)  # again: the catalogue record is a file of the release
    write_manifest(partial, manifest)
    # the scan reads every file, the manifest and catalogue record included; a hit blocks the release
    scan = scan_release(partial, denylist=_source_denylist(summary), exempt=exempt)
    if scan.blocked:
        write_json_atomic(final.parent / f"{final.name}.blocked.json", scan.to_dict())
        shutil.rmtree(partial)
        from releases.scanner import raise_if_blocked

        raise_if_blocked(scan)  # raises ReleaseBlocked naming files and kinds, never a value
    partial.rename(final)
    report = {**report, "dir": str(final), "scan": {"blocked": False, "files_scanned": len(scan.files_scanned),
                                                     "exempted_codes": len(exempt), "exempted": scan.exempted},
              "manifest": {"files": len(manifest["files"]), "bytes": manifest["totals"]["bytes"]}}
    return report


def _source_denylist(summary: dict[str, Any]):
    """Names and addresses in the run's landing files (HL7 v2, FHIR), for the scanner; registries carry none."""
    from connectors.source_names import names_and_addresses
    from releases.scanner import Denylist

    landing = summary.get("landing")
    if not landing or not Path(landing).is_dir():
        return None
    names, addresses = names_and_addresses(Path(landing))
    return Denylist(names=names, addresses=addresses)


COUNTRIES = {"taiwan": "TW", "finland": "FI"}
CONCEPT_COLUMNS = ("condition_concept_id", "condition_source_concept_id", "drug_concept_id", "drug_source_concept_id",
                   "procedure_concept_id", "procedure_source_concept_id", "measurement_concept_id",
                   "measurement_source_concept_id", "observation_concept_id", "observation_source_concept_id",
                   "device_concept_id", "specimen_concept_id", "cause_concept_id", "visit_concept_id")


def _released_columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Columns of each released table (the release's own ``main`` schema)."""
    return {r[0]: r[1] for r in con.execute(
        "SELECT table_name, list(column_name) FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_catalog = current_database() GROUP BY 1").fetchall()}


def coding_systems(con: duckdb.DuckDBPyConnection, tables: dict[str, int]) -> list[str]:
    """OMOP vocabularies of the concepts the released tables use (vocabulary attached as ``vocab``)."""
    cols = _released_columns(con)
    parts = [f'SELECT DISTINCT "{c}" AS concept_id FROM main."{t}"' for t in tables for c in cols.get(t, [])
             if c in CONCEPT_COLUMNS]
    if not parts:
        return []
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT c.vocabulary_id FROM vocab.main.concept c JOIN ({' UNION '.join(parts)}) u "
        "USING (concept_id) WHERE c.concept_id <> 0 ORDER BY 1").fetchall()]


#: values shaped like a Taiwan ID (the scanner's shapes) -- NHI drug codes share the old resident-certificate shape
_ID_SHAPED = r"^[A-Z][A-Z0-9][0-9]{8}$"


#: OMOP columns holding event codes as the source wrote them (read by the connectors from code fields,
#: never from identity fields)
SOURCE_CODE_COLUMNS = ("condition_source_value", "drug_source_value", "procedure_source_value",
                       "measurement_source_value", "observation_source_value", "device_source_value",
                       "specimen_source_value", "cause_source_value", "visit_source_value")


def known_codes(con: duckdb.DuckDBPyConnection, tables: dict[str, int]) -> list[str]:
    """ID-shaped values of the released tables' event-code columns: the scanner's exemptions.

    NHI drug codes such as ``AC46525100`` have the shape of an old resident-certificate number.
    Exempt are exactly the ID-shaped values found in :data:`SOURCE_CODE_COLUMNS` (codes by
    construction, known to the vocabulary or not); the same value anywhere else in the package
    (FHIR, coverage) is that code again.  An ID-shaped value that is not one of these codes
    blocks the release wherever it appears."""
    cols = _released_columns(con)
    parts = [f'SELECT DISTINCT "{c}" AS v FROM main."{t}"' for t in tables for c in cols.get(t, [])
             if c in SOURCE_CODE_COLUMNS]
    if not parts:
        return []
    return [r[0] for r in con.execute(
        f"SELECT DISTINCT v FROM ({' UNION '.join(parts)}) WHERE regexp_full_match(v, '{_ID_SHAPED}') "
        "ORDER BY 1").fetchall()]


def _facts(spec, report: dict[str, Any], folder: Path):
    from releases.catalogue import QualityResult, ReleaseFacts

    build = report["build"]
    span: tuple = (None, None)
    op = folder / "omop" / "observation_period.parquet"
    if op.exists():
        with duckdb.connect() as con:
            span = con.execute(f"SELECT min(observation_period_start_date), max(observation_period_end_date) "
                               f"FROM read_parquet('{op}')").fetchall()[0]
    qfile = folder / "quality" / "quality.json"
    quality = (QualityResult.from_document(json.loads(qfile.read_text()), report="quality/quality_summary.html"),) \
        if qfile.exists() else ()
    cat = spec.catalogue
    return ReleaseFacts(
        title=spec.title, description=spec.description or spec.title, study_id=spec.study_id,
        permit_id=spec.permit.id, permit_issuer=spec.permit.issuer,
        number_of_records=sum(build["tables"].values()), number_of_unique_individuals=build["persons"],
        publisher_name=spec.publisher.get("name"), publisher_uri=spec.publisher.get("uri"),
        contact=spec.contact or None, legal_basis=(spec.legal_basis,) if spec.legal_basis else (),
        purpose=spec.purpose, applicable_legislation=cat.get("applicable_legislation", ()),
        health_categories=cat.get("health_categories", ()), temporal_start=span[0], temporal_end=span[1],
        coding_systems=tuple(report.get("coding_systems", ())),
        standards=("omop_cdm_v54", "fhir_r4") if report.get("fhir") else ("omop_cdm_v54",), quality=quality,
        languages=cat.get("languages", ()),
        countries=cat.get("countries", (COUNTRIES[spec.site],) if spec.site in COUNTRIES else ()))


def study_key_name(spec_path: str | Path) -> str:
    """The name of the study's key (environment variable / Airflow variable), from its study file."""
    from releases.spec import load_spec

    return load_spec(spec_path).release.key_env


def plan_releases(settings: Settings, *, study: str | None = None, run_id: str | None = None,
                  events: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """What the release DAG builds: the ``study`` asked for (on the run asked for, or the site's latest good
    run), or, for the asset events of site runs that passed the gate, every study of the
    ``release_studies`` setting whose site is the event's site, on the event's run."""
    from releases.spec import load_spec

    if study:
        return [{"study": str(study), "run_id": run_id or None, "release_id": None}]
    studies = [s.strip() for s in settings.release_studies.split(";") if s.strip()]
    plan = []
    for ev in events or []:
        for path in studies:
            spec = load_spec(path)
            if spec.site == ev.get("site"):
                plan.append({"study": path, "run_id": ev.get("run_id"),
                             "release_id": f"{spec.study_id}-{ev.get('run_id')}"})
    return plan


def publish_release(folder: str | Path, settings: Settings, *, to: str | None = None,
                    partner: str | None = None) -> dict[str, Any]:
    """Publish a built release to ``to`` (default: the ``release_store`` setting) under ``[partner/]release_id``."""
    from connectors.stores import open_store
    from releases.manifest import load_manifest
    from releases.publish import publish, release_prefix

    url = to or settings.release_store
    if not url:
        raise ReleaseError("no release store: pass --to or set release_store (file:///DIR or s3://BUCKET/PREFIX)")
    folder = Path(folder)
    manifest = load_manifest((folder / "manifest.json").read_bytes())
    store = open_store(url, endpoint_url=settings.s3_endpoint_url or None)
    target = store.child(release_prefix(manifest["release_id"], partner or settings.release_partner or None))
    rep = publish(folder, target)
    return {**rep.to_dict(), "url": target.url}


__all__ = ["ReleaseError", "build_release", "plan_releases", "publish_release", "source_run", "study_key_name"]
