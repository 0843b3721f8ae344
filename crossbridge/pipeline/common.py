"""Pipeline pieces shared by every site: run start, inventory, work database,
vocabulary cache, warehouse load, and the summary with its reconciliation."""

from __future__ import annotations

import hashlib
import os
import subprocess
from datetime import date
from pathlib import Path
from typing import Any, Callable, Iterable

import duckdb

import crossbridge
from crossbridge.ledger import Run, write_json_atomic
from crossbridge.settings import Settings, SettingsError

VOCABULARY_TABLES = (
    "concept", "concept_relationship", "concept_ancestor", "concept_synonym", "concept_class",
    "domain", "relationship", "vocabulary", "drug_strength",
)


class PipelineError(RuntimeError):
    """A stage cannot run with what the previous stages left."""


def code_version() -> str:
    """Package version plus the git commit when running from a checkout."""
    root = Path(crossbridge.__file__).resolve().parents[1]
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("crossbridge")
    except PackageNotFoundError:
        ver = "0+unknown"
    return f"{ver}+g{sha}" if sha else ver


def start_run(settings: Settings, site: str, run_id: str | None = None) -> Run:
    from connectors.landing import is_remote

    if not settings.landing:
        raise SettingsError("no landing location: pass --landing DIR or set CROSSBRIDGE_LANDING")
    landing = Path(settings.landing)
    if not is_remote(settings.landing) and not landing.is_dir():
        raise SettingsError(f"landing location {landing} is not a directory")
    settings.require_secret()  # fail before any work if no secret is available
    pub = settings.public_dict()
    pub["code_version"] = code_version()
    return Run.start(settings.runs_dir, site, pub, run_id)


def landing_dir(run: Run, settings: Settings) -> Path:
    """The local folder staging reads: the landing directory, or the run's copy of a remote landing zone
    (``runs/<id>/landing``, fetched by the extract stage)."""
    from connectors.landing import is_remote

    return run.path("landing") if is_remote(settings.landing) else Path(settings.landing)


def inventory(landing: Path, identify: Callable[[str], Any]) -> dict[str, Any]:
    """Files in the landing zone by type; unknown files are listed, not dropped."""
    files, unknown = [], []
    for path in sorted(landing.rglob("*")):
        rel = path.relative_to(landing)
        if not path.is_file() or any(part.startswith(("_", ".")) for part in rel.parts):
            continue
        ft = identify(path.name)
        entry = {"file": str(rel), "bytes": path.stat().st_size}
        if ft is None:
            unknown.append(entry)
        else:
            entry["file_type"] = ft.key
            files.append(entry)
    if not files:
        raise PipelineError(f"landing zone {landing} holds no recognised source file")
    return {
        "landing": str(landing.resolve()),
        "files": files,
        "unrecognised_files": unknown,
        "bytes": sum(f["bytes"] for f in files),
    }


# ---- vocabulary cache and work database ------------------------------------------------

# Bump when the store's tables or load rules change, so cached stores are rebuilt.
STORE_FORMAT = "2"  # 2: mapping_equivalence table, 'Maps to' cycle and vocabulary checks


def _vocabulary_key(paths: list[Path]) -> str:
    h = hashlib.sha256(f"store format {STORE_FORMAT}\n".encode())
    for path in paths:
        h.update(str(path.resolve()).encode() + b"\n")
        members = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
        for p in members:
            st = p.stat()
            h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def build_vocabulary_store(target: Path, athena: Path, imports: list) -> dict[str, Any]:
    """Build a vocabulary store file atomically (a temporary file renamed on success); returns its metadata."""
    from terminology.vocabulary import DEMO_FINOMOP_DIR, LOCAL_VOCABULARY_DIR, load_site_vocabulary

    tmp = target.with_suffix(f".tmp{os.getpid()}.duckdb")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        rep = load_site_vocabulary(con, athena, imports=imports)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    os.replace(tmp, target)
    meta = {
        "athena_dir": str(athena.resolve()),
        "local_dir": str(LOCAL_VOCABULARY_DIR),
        "finomop_dir": str(DEMO_FINOMOP_DIR),
        "imports": [str(s) for s in imports],
        "rows": dict(rep.rows),
        "vocabulary_versions": dict(rep.vocabulary_versions),
        "checks": dict(rep.checks),
    }
    write_json_atomic(target.with_suffix(".json"), meta)
    return meta


def ensure_vocabulary(settings: Settings) -> tuple[Path, dict[str, Any]]:
    """A DuckDB file holding the site vocabulary (an Athena download, or the demo
    stand-in, plus the project's local NHI vocabularies, the Finnish usagi-extended
    vocabularies, the names files and the settings' ``vocabulary_imports``), loaded
    once per release (the cache key hashes every folder and file it is built from)."""
    from terminology.imports import ImportSpecError, parse_import_specs
    from terminology.vocabulary import DEMO_ATHENA_DIR, DEMO_FINOMOP_DIR, DEMO_NAMES_DIR, LOCAL_VOCABULARY_DIR

    athena = Path(settings.vocabulary_dir) if settings.vocabulary_dir else DEMO_ATHENA_DIR
    if not athena.is_dir():
        raise SettingsError(f"vocabulary directory {athena} does not exist")
    try:
        imports = parse_import_specs(settings.vocabulary_imports)
    except ImportSpecError as exc:
        raise SettingsError(f"setting vocabulary_imports: {exc}") from exc
    cache = settings.workdir / "vocabulary"
    cache.mkdir(parents=True, exist_ok=True)
    sources = [athena, LOCAL_VOCABULARY_DIR, DEMO_FINOMOP_DIR, *([DEMO_NAMES_DIR] if DEMO_NAMES_DIR.is_dir() else []),
               *(s.path for s in imports)]
    target = cache / f"{_vocabulary_key(sources)}.duckdb"
    meta_path = target.with_suffix(".json")
    if not (target.exists() and meta_path.exists()):
        build_vocabulary_store(target, athena, imports)
    import json

    return target, json.loads(meta_path.read_text(encoding="utf-8"))


def open_work_db(run: Run, settings: Settings, path: Path | None = None) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    """The run's work database (or the database file ``path``, e.g. a partition's) with the vocabulary
    attached read-only as views."""
    from terminology.source_to_standard import create_view

    vocab_path, vocab_meta = ensure_vocabulary(settings)
    con = duckdb.connect(str(path or run.path("omop.duckdb")))
    con.execute(f"SET memory_limit = '{settings.duckdb_memory_limit}'")
    con.execute(f"SET threads = {int(settings.duckdb_threads)}")
    con.execute(f"SET temp_directory = '{run.path('tmp')}'")
    con.execute(f"ATTACH '{vocab_path}' AS vocab (READ_ONLY)")
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = 'vocab'").fetchall()}
    for t in VOCABULARY_TABLES:
        if t in present:
            con.execute(f"CREATE OR REPLACE VIEW {t} AS SELECT * FROM vocab.main.{t}")
    create_view(con)
    return con, vocab_meta


def staging_day(run: Run) -> date:
    """The day that bounds the staging checks' dates ("not in the future") for a run: the day it
    started (UTC), so that the partition tasks and the validate stage, whenever they run, judge alike."""
    return date.fromisoformat(str(run.summary()["started"])[:10])


def register_staging_views(
    con: duckdb.DuckDBPyConnection, tables_dir: Path, file_types: Iterable, table_columns=None,
    partition: tuple[Path, int, Iterable[str]] | None = None,
) -> None:
    """``stg_<type>`` views over the consolidated staging Parquet (empty if a type has no file).

    ``table_columns(file type)``: the consolidated schema (default: Taiwan's).
    ``partition``: (partitioned staging folder, k, replicated tables): the views
    show partition k's rows, and the whole of the replicated tables.  In a
    partitioned run ``tables_dir/<type>/`` holds the partitions' folders
    (``_part=<k>/``), and a view of the whole table reads them all.
    """
    from connectors.partitioning import partition_folder

    if table_columns is None:
        from connectors.taiwan.consolidate import table_columns

    replicated = set(partition[2]) if partition else set()
    for ft in file_types:
        if partition is not None and ft.key not in replicated:
            folder = partition_folder(partition[0], ft.key, partition[1])
        else:
            folder = tables_dir / ft.key
        # the whole table: part-0.parquet, or the person partitions' folders of a partitioned run
        pattern = "*.parquet" if partition is not None and ft.key not in replicated else "**/*.parquet"
        files = sorted(folder.glob(pattern)) if folder.is_dir() else []
        if files:
            glob = str(folder / pattern).replace("'", "''")
            con.execute(f"CREATE OR REPLACE VIEW stg_{ft.key} AS "
                        f"SELECT * FROM read_parquet('{glob}', hive_partitioning = false)")
        else:
            cols = ", ".join(f"CAST(NULL AS {_duck_type(t)}) AS \"{n}\"" for n, t in table_columns(ft))
            con.execute(f"CREATE OR REPLACE VIEW stg_{ft.key} AS SELECT {cols} WHERE false")


def _duck_type(arrow_type: str) -> str:
    return {"string": "VARCHAR", "date32": "DATE", "int32": "INTEGER", "int64": "BIGINT",
            "float64": "DOUBLE", "bool": "BOOLEAN"}[arrow_type]


def cdm_source_meta(run: Run, settings: Settings, site: str, vocab: dict[str, Any]) -> dict[str, Any]:
    return {
        "cdm_source_name": f"Crossbridge {site} site",
        "cdm_source_abbreviation": f"XB-{site[:2].upper()}",
        "cdm_holder": f"Crossbridge hub ({site})",
        "source_description": f"{site} registry extracts mapped by Crossbridge run {run.run_id}",
        "source_documentation_reference": "docs/taiwan.md",
        "cdm_etl_reference": f"crossbridge {code_version()}",
        "source_release_date": date.today(),
        "cdm_release_date": date.today(),
        "run_id": run.run_id,
    }


# ---- load ------------------------------------------------------------------------------

def load_warehouse(run: Run, url: str, vocab_path: Path) -> dict[str, Any]:
    """Copy this run's OMOP tables (and the vocabulary, when its release changed) into the warehouse.

    Each table is replaced atomically; a failure leaves the previous content of
    the tables not yet replaced, and the run marked failed.  DuckDB to DuckDB
    copies inside DuckDB; any other warehouse receives Arrow batches.
    """
    from connectors.warehouse import open_warehouse

    built: dict[str, int] = run.stage_report("map")["rows_out"]
    work_db = run.path("omop.duckdb")
    with duckdb.connect(str(work_db), read_only=True) as src:
        present = {r[0] for r in src.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'").fetchall()}
    with duckdb.connect(str(vocab_path), read_only=True) as voc:
        new_versions = [tuple(r) for r in voc.execute(
            "SELECT vocabulary_id, vocabulary_version FROM vocabulary ORDER BY 1").fetchall()]
        vocab_tables = sorted(r[0] for r in voc.execute(
            "SELECT table_name FROM information_schema.tables").fetchall() if r[0] in VOCABULARY_TABLES)
    missing = sorted(set(built) - present)
    if missing:
        raise PipelineError(f"map stage reported tables {missing} but the work db lacks them")

    def copy(wh, db: Path, tables: list[str]) -> None:
        fast = getattr(wh, "replace_from_database", None)
        if fast is not None:
            fast(db, tables)
            return
        with duckdb.connect(str(db), read_only=True) as con:
            for table in tables:
                reader = con.sql(f'SELECT * FROM "{table}"').to_arrow_reader(100_000)
                try:
                    wh.replace_table(table, reader)
                finally:  # a reader left open (e.g. held by a traceback) keeps the database file in use
                    reader.close()

    with open_warehouse(url) as wh:
        wh.create_schema()
        copy(wh, work_db, sorted(built))
        old_versions = [
            (r["vocabulary_id"], r["vocabulary_version"]) for r in wh.query(
                "SELECT vocabulary_id, vocabulary_version FROM vocabulary ORDER BY 1").to_pylist()
        ] if wh.row_counts(["vocabulary"]).get("vocabulary") else []
        vocab_loaded = new_versions != old_versions
        if vocab_loaded:
            copy(wh, vocab_path, vocab_tables)
        index = getattr(wh, "create_indexes", None)  # PostgreSQL: secondary indexes once, after the COPYs
        indexed = index(sorted(built) + (vocab_tables if vocab_loaded else [])) if index is not None else []
        counts = wh.row_counts()
    loaded = {t: counts.get(t, 0) for t in built}
    mismatched = {t: (built[t], loaded.get(t)) for t in built if built[t] != loaded.get(t)}
    if mismatched:
        raise PipelineError(f"warehouse row counts differ from the built tables: {mismatched}")
    return {"warehouse": url, "rows_loaded": loaded, "vocabulary_loaded": vocab_loaded, "indexes": len(indexed)}


def summarise(run: Run, settings: Settings, site: str) -> dict[str, Any]:
    from crossbridge.pipeline.summary import summarise as _summarise

    return _summarise(run, settings, site)
