"""The read step of the FHIR feed: input files -> ``staging/raw`` (per block) and quarantine.

Output layout under ``staging`` (``<name>`` = the file's source name made a
file name, ``<n>`` the block number)::

    raw/<staging table>/<name>-<n>.parquet      rows (staging columns + unresolved references)
    raw/fhir_index/<name>-<n>.parquet           every item: type, key, disposition, content hash, version
    raw/fhir_reference/<name>-<n>.parquet       reference data (Organization names, Medication codes ...)
    quarantine/stage/fhir/<name>-<n>.parquet    items refused by the read step (connectors.quarantine schema)

Raw resource JSON is never written: Patient identifiers are pseudonymised
before anything leaves memory.  Files are independent, so with ``workers`` > 1
they are read by that many worker processes (forked where possible); the
outputs do not depend on the number of workers.  Re-running replaces every
FHIR output (the resolve step's too); other sites' folders are not touched.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.quarantine import count_reasons, write_quarantine

from . import flatten
from .identity import Utf8Pseudonymiser
from .layout import BY_KEY, QUARANTINE_REASONS, WORK_TABLES, FhirInput, identify
from .read import DEFAULT_CHUNK_BYTES, blocks
from .report import FhirReadReport, FileReport
from .sql import register_macros

Progress = Callable[[str, int, int], None]


class DuplicateSourceName(ValueError):
    """Two inputs would be recorded under the same source name."""


@dataclass(frozen=True)
class InputFile:
    path: Path
    source: str  # recorded as _source_file: the path relative to the folder given, or the file name
    kind: FhirInput


def input_files(inputs: Path | Iterable[Path]) -> tuple[list[InputFile], list[str]]:
    """Recognised input files (sorted) and the unrecognised ones, from files and folders.

    A folder is searched recursively; names starting with ``_`` or ``.`` are
    skipped.  A file given by name must be recognised (:func:`.layout.identify`).
    Source names are paths relative to the one folder given, or, with several
    inputs, prefixed by the folder's name (``taiwan/Patient.ndjson``).
    """
    items = [Path(inputs)] if isinstance(inputs, (str, Path)) else [Path(p) for p in inputs]
    prefix = len(items) > 1
    found: list[InputFile] = []
    unrecognised: list[str] = []
    for item in items:  # the inputs given, then files
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                rel = path.relative_to(item)
                if not path.is_file() or any(part.startswith(("_", ".")) for part in rel.parts):
                    continue
                kind = identify(path.name)
                if kind is None:
                    unrecognised.append(rel.as_posix())
                else:
                    found.append(InputFile(path, f"{item.name}/{rel.as_posix()}" if prefix else rel.as_posix(), kind))
        elif item.is_file():
            kind = identify(item.name)
            if kind is None:
                raise ValueError(f"{item}: not a FHIR input (expected .ndjson, .jsonl, .json, optionally .gz)")
            found.append(InputFile(item, item.name, kind))
        else:
            raise FileNotFoundError(f"FHIR input {item} does not exist")
    seen: dict[str, Path] = {}
    for f in found:
        if f.source in seen:
            raise DuplicateSourceName(f"inputs {seen[f.source]} and {f.path} would both be recorded as {f.source}")
        seen[f.source] = f.path
    return sorted(found, key=lambda f: f.source), unrecognised


def output_stem(source: str) -> str:
    """A file-name stem for the outputs of a source file (path separators and odd characters replaced)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", source.replace("/", "__"))


def clear_fhir_outputs(staging: Path) -> None:
    """Remove every output of the FHIR feed under ``staging`` (read and resolve steps)."""
    for key in (*BY_KEY, *WORK_TABLES):
        for folder in (staging / "raw" / key, staging / "tables" / key):
            if folder.exists():
                shutil.rmtree(folder)
    for path in (staging / "quarantine" / "stage" / "fhir",):
        if path.exists():
            shutil.rmtree(path)
    for path in (staging / "quarantine" / "consolidate" / "fhir.parquet", staging / "merged" / "fhir.parquet"):
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Job:
    path: str
    source: str
    kind_key: str
    staging: str
    secret: str
    site: str | None
    validate: str
    sample_size: int
    chunk_bytes: int
    threads: int = 1  # DuckDB threads of the file's connection


def _write(table: pa.Table, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")


def _read_file(job: _Job, progress: Progress | None = None) -> FileReport:
    """Read, flatten and write one input file (any process)."""
    from .layout import INPUT_KINDS

    kind = next(k for k in INPUT_KINDS if k.key == job.kind_key)
    staging = Path(job.staging)
    stem = output_stem(job.source)
    path = Path(job.path)
    report = FileReport(job.source, kind.key, bytes=path.stat().st_size)
    state = flatten.FileState(job.source, kind.key == "fhir_json", Utf8Pseudonymiser(job.secret), job.site,
                              job.validate, job.sample_size)
    con = duckdb.connect(config={"threads": job.threads, "preserve_insertion_order": True})
    try:
        register_macros(con)
        done = 0
        for block in blocks(path, kind, job.chunk_bytes):
            result = flatten.flatten_block(con, block.docs, block.bad_utf8, state)
            name = f"{stem}-{block.index:05d}.parquet"
            for key, rows in result.tables.items():
                if rows.num_rows:
                    _write(rows, staging / "raw" / key / name)
                report.read_staged[key] = report.read_staged.get(key, 0) + rows.num_rows
            if result.reference.num_rows:
                _write(result.reference, staging / "raw" / "fhir_reference" / name)
            _write(result.index, staging / "raw" / "fhir_index" / name)
            if result.quarantine.num_rows:
                write_quarantine(result.quarantine, staging / "quarantine" / "stage" / "fhir" / name,
                                 QUARANTINE_REASONS)
                for reason, n in count_reasons(result.quarantine).items():
                    report.read_quarantined[reason] = report.read_quarantined.get(reason, 0) + n
            report.rows_in += result.index.num_rows
            types = pc.fill_null(result.index.column("resource_type"), "(none)").combine_chunks()
            for v in pc.value_counts(types).to_pylist():  # distinct resource types
                report.by_type[v["values"]] = report.by_type.get(v["values"], 0) + v["counts"]
            report.chunks += 1
            report.blank_lines += block.blank_lines
            report.empty_bundles += result.empty_bundles
            report.validated += result.validated
            report.components_not_staged += result.components
            done += block.nbytes
            if progress is not None:
                progress(job.source, min(done, report.bytes), report.bytes)
    finally:
        con.close()
    return report


def _pool(workers: int) -> ProcessPoolExecutor:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


def read_inputs(
    inputs: Path | Iterable[Path],
    staging: Path,
    secret: str,
    *,
    site: str | None = None,
    validate: str = "sample",
    sample_size: int = 20,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    workers: int = 1,
) -> FhirReadReport:
    """The read step over files and folders ``inputs`` (see the module docstring)."""
    from terminology.fhir_profiles import pseudonym_system

    if validate not in flatten.VALIDATE_MODES:
        raise ValueError(f"validate must be one of {flatten.VALIDATE_MODES}, got {validate!r}")
    if site is not None:
        pseudonym_system(site)  # raises UnknownSite
    Utf8Pseudonymiser(secret)  # refuse an empty secret before touching anything
    t0 = time.perf_counter()
    staging = Path(staging)
    files, unrecognised = input_files(inputs)
    clear_fhir_outputs(staging)
    jobs = [_Job(str(f.path), f.source, f.kind.key, str(staging), secret, site, validate, sample_size, chunk_bytes)
            for f in files]
    if multiprocessing.current_process().daemon:
        workers = 1
    workers = max(1, min(workers, len(jobs)))
    threads = max(1, (os.cpu_count() or 1) // workers)  # the cores the workers leave, for DuckDB
    jobs = [replace(job, threads=threads) for job in jobs]
    if workers == 1:
        reports = [_read_file(job, progress) for job in jobs]
    else:
        with _pool(workers) as pool:
            reports = list(pool.map(_read_file, jobs))
        if progress is not None:
            for r in reports:  # files, after the pool
                progress(r.source_file, r.bytes, r.bytes)
    return FhirReadReport(reports, unrecognised, validate, time.perf_counter() - t0)


def stage_landing(
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    workers: int = 1,
    *,
    site: str | None = None,
) -> FhirReadReport:
    """The read step with the pipeline's stage-function signature (``SitePipeline.stage_function``).

    ``encoding`` is ignored: FHIR JSON is UTF-8 by specification.  ``site`` (the
    ``feed_site`` setting): whose national identifiers and pseudonym system the feed
    carries (None: every Crossbridge pseudonym system kept).  Validation is sampled.
    """
    landing = Path(landing)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    return read_inputs(landing, staging, secret, site=site, chunk_bytes=chunk_bytes, progress=progress,
                       workers=workers)
