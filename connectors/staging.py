"""Stage a site's landing zone: raw delimited text -> typed, pseudonymised Parquet plus quarantine.

Site-independent: a :class:`connectors.layout.SiteLayout` names the site's file
types (their columns, delimiter, encoding, null tokens), how landing files are
recognised, the quarantine reasons and what to clear when staging is redone.
``connectors/<site>/stage.py`` is a thin wrapper (``stage_taiwan``, ``stage_finland``).

Output layout under ``staging``::

    raw/<file_type>/<file stem>-<chunk no>.parquet     staged rows, exactly layout.staging_columns()
    quarantine/stage/<file_type>/<file stem>-<chunk no>.parquet   refused rows (connectors.quarantine schema)

Each file is streamed in chunks of about ``chunk_bytes``, so memory is bounded
whatever the file size.  Re-running replaces these folders (and the outputs of
:func:`connectors.taiwan.consolidate.consolidate_taiwan`, which depend on them)
for every file type of the site; nothing is appended.

With ``workers`` > 1 the chunks are typed and written by that many worker
processes: this process reads the files block by block (whole lines, in file
order) and hands each block to a worker, with at most two blocks per worker in
flight, so memory stays bounded.  Chunks are independent (a chunk's outputs are
named by file stem and chunk number, and pseudonyms are a deterministic
function of the secret), so the outputs are the same whatever the number of
workers.
"""

from __future__ import annotations

import multiprocessing
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.layout import SiteLayout
from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import count_reasons, quarantine_table, write_quarantine
from connectors.text_chunks import DEFAULT_CHUNK_BYTES, DelimitedTextFile, LineBlock
from connectors.typed_columns import staging_schema, type_chunk

Progress = Callable[[str, int, int], None]
DEFAULT_WORKERS = 2


class LayoutMismatch(ValueError):
    """A landing file's header does not match the layout of its file type."""


class DuplicateSourceName(ValueError):
    """Two landing files share a name (in different folders): their staged outputs would collide."""


class StageInvariantError(RuntimeError):
    """Rows were lost or double-counted between reading and writing (a bug, never data)."""


@dataclass
class FileStageReport:
    """What happened to one landing file."""

    source_file: str  # path relative to the landing folder
    file_type: str
    rows_in: int = 0  # data lines (header excluded)
    rows_staged: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    chunks: int = 0
    bytes: int = 0


@dataclass
class StageReport:
    """Per-file counts of a staging run, plus the files that were not recognised."""

    files: list[FileStageReport] = field(default_factory=list)
    unrecognised_files: list[str] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return sum(f.rows_in for f in self.files)

    @property
    def rows_staged(self) -> int:
        return sum(f.rows_staged for f in self.files)

    @property
    def quarantined(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.files:
            for reason, n in f.quarantined.items():
                out[reason] = out.get(reason, 0) + n
        return out

    def to_dict(self) -> dict:
        """Plain-data form (JSON-serialisable) for the run ledger."""
        return {
            "files": [asdict(f) for f in self.files],
            "unrecognised_files": list(self.unrecognised_files),
            "rows_in": self.rows_in,
            "rows_staged": self.rows_staged,
            "quarantined": self.quarantined,
        }


def landing_files(landing: Path, site: SiteLayout) -> tuple[list[tuple[Path, object]], list[str]]:
    """Recognised landing files (sorted, with their file type) and the unrecognised ones.

    Files and folders whose names start with ``_`` or ``.`` are skipped.
    """
    found: list[tuple[Path, object]] = []
    unrecognised: list[str] = []
    for path in sorted(landing.rglob("*")):  # a loop over files
        rel = path.relative_to(landing)
        if any(part.startswith(("_", ".")) for part in rel.parts) or not path.is_file():
            continue
        ft = site.identify(path.name)
        if ft is None:
            unrecognised.append(rel.as_posix())
        else:
            found.append((path, ft))
    names: dict[str, Path] = {}
    for path, _ in found:
        if path.name.lower() in names:
            raise DuplicateSourceName(f"landing files {names[path.name.lower()]} and {path} share a name")
        names[path.name.lower()] = path
    return found, unrecognised


def check_header(source: str, ft, header: list[str]) -> None:
    """Raise :class:`LayoutMismatch` unless ``header`` is exactly the layout's column names."""
    expected = ft.column_names
    if header == expected:
        return
    if not header:
        raise LayoutMismatch(f"{source}: no header line; expected {ft.source_name} columns {expected}")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {extra}")
    if not parts:
        parts.append(f"columns in a different order: {header} instead of {expected}")
    raise LayoutMismatch(f"{source}: header does not match the {ft.source_name} layout: " + "; ".join(parts))


def _clear_staged(staging: Path, site: SiteLayout) -> None:
    for ft in site.file_types:  # file types, not rows
        for folder in (staging / "raw" / ft.key, staging / "quarantine" / "stage" / ft.key):
            if folder.exists():
                shutil.rmtree(folder)
    if site.clear_derived is not None:
        site.clear_derived(staging)


@dataclass(frozen=True)
class _FileJob:
    """What a worker needs to parse, type and write the chunks of one landing file (picklable)."""

    path: str
    source: str
    ft: object  # the file type (a frozen dataclass of the site's layout)
    reasons: dict  # the site's quarantine reasons
    staging: str
    encoding: str
    chunk_bytes: int

    @property
    def file_type(self) -> str:
        return self.ft.key


@dataclass(frozen=True)
class _ChunkResult:
    n_lines: int
    staged: int
    quarantined: dict[str, int]


def _stage_chunk(
    job: _FileJob, text: DelimitedTextFile, block: LineBlock, index: int, pseudonymiser: Pseudonymiser
) -> _ChunkResult:
    """Parse, type and write one block of a landing file (any process)."""
    ft = job.ft
    chunk = text.parse_block(block, ft.column_names, index)
    staged, quarantine = type_chunk(ft, chunk.table, job.source, pseudonymiser)
    if chunk.rejected:  # lines the reader refused (a loop over refused lines only)
        rejected = quarantine_table(
            job.source,
            ft.key,
            [r.line_number for r in chunk.rejected],
            [r.reason for r in chunk.rejected],
            [None] * len(chunk.rejected),
            [r.detail for r in chunk.rejected],
        )
        quarantine = rejected if quarantine.num_rows == 0 else _concat_sorted(rejected, quarantine)
    if staged.num_rows + quarantine.num_rows != chunk.n_lines:
        raise StageInvariantError(
            f"{job.source} chunk {chunk.index}: {chunk.n_lines} lines in, {staged.num_rows} staged + "
            f"{quarantine.num_rows} quarantined"
        )
    staging = Path(job.staging)
    name = f"{_stem(Path(job.path))}-{chunk.index:05d}.parquet"
    raw_dir = staging / "raw" / ft.key
    raw_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(staged, raw_dir / name)
    if quarantine.num_rows:
        write_quarantine(quarantine, staging / "quarantine" / "stage" / ft.key / name, job.reasons)
    return _ChunkResult(chunk.n_lines, staged.num_rows, count_reasons(quarantine))


def _stem(path: Path) -> str:
    return path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.stem


def _open_text(job: _FileJob) -> DelimitedTextFile:
    return DelimitedTextFile(job.path, encoding=job.encoding, delimiter=job.ft.delimiter, chunk_bytes=job.chunk_bytes)


# -- worker processes ---------------------------------------------------------------
# Each worker builds its own pseudonymiser from the secret (deterministic) and
# keeps the reader of the file it is working on.

_worker: dict = {}


def _init_worker(secret: str) -> None:
    _worker["keys"] = Pseudonymiser(secret)
    _worker["text"] = None


def _worker_chunk(job: _FileJob, block: LineBlock, index: int) -> _ChunkResult:
    text = _worker.get("text")
    if text is None or str(text.path) != job.path:
        text = _worker["text"] = _open_text(job)
    return _stage_chunk(job, text, block, index, _worker["keys"])


def _pool(workers: int, secret: str) -> ProcessPoolExecutor:
    """Worker processes: forked where the platform allows it (no re-import), spawned elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(secret,))


class _FileProgress:
    """Per-file accounting of the chunks as they complete (possibly out of order)."""

    def __init__(self, job: _FileJob, text: DelimitedTextFile):
        self.job = job
        self.report = FileStageReport(job.source, job.file_type, bytes=text.size)
        self.done_bytes = text.data_offset
        self.pending = 0
        self.all_read = False

    def add(self, result: _ChunkResult, block_bytes: int, progress: Progress | None) -> None:
        r = self.report
        r.rows_in += result.n_lines
        r.rows_staged += result.staged
        for reason, n in result.quarantined.items():
            r.quarantined[reason] = r.quarantined.get(reason, 0) + n
        r.chunks += 1
        self.done_bytes += block_bytes
        if progress is not None:
            progress(r.source_file, min(self.done_bytes, r.bytes), r.bytes)


def _run_chunks(
    jobs: list[_FileJob],
    secret: str,
    workers: int,
    progress: Progress | None,
) -> list[FileStageReport]:
    """Stage every chunk of every job, in this process (``workers`` <= 1) or in a worker pool."""
    files: list[_FileProgress] = []
    if workers <= 1:
        keys = Pseudonymiser(secret)
        for job in jobs:  # files, then chunks, in order
            text = _open_text(job)
            fp = _FileProgress(job, text)
            files.append(fp)
            for index, block in enumerate(text.blocks()):
                fp.add(_stage_chunk(job, text, block, index, keys), len(block.data), progress)
            _finish_file(fp, progress)
        return [fp.report for fp in files]

    in_flight: dict[Future, tuple[_FileProgress, int]] = {}
    limit = 2 * workers

    def collect(block_until_one: bool) -> None:
        done, _ = wait(in_flight, timeout=None if block_until_one else 0, return_when=FIRST_COMPLETED)
        for fut in done:
            fp, nbytes = in_flight.pop(fut)
            fp.add(fut.result(), nbytes, progress)  # re-raises a worker's exception here
            fp.pending -= 1
            if fp.all_read and fp.pending == 0:
                _finish_file(fp, progress)

    with _pool(workers, secret) as pool:
        try:
            for job, text, blocks in _read_blocks(jobs):
                fp = _FileProgress(job, text)
                files.append(fp)
                for index, block in blocks:
                    while len(in_flight) >= limit:
                        collect(True)
                    in_flight[pool.submit(_worker_chunk, job, block, index)] = (fp, len(block.data))
                    fp.pending += 1
                    collect(False)
                fp.all_read = True
                if fp.pending == 0:
                    _finish_file(fp, progress)
            while in_flight:
                collect(True)
        except BaseException:
            for fut in in_flight:
                fut.cancel()
            raise
    return [fp.report for fp in files]


def _read_blocks(jobs: list[_FileJob]) -> Iterator[tuple[_FileJob, DelimitedTextFile, Iterator[tuple[int, LineBlock]]]]:
    for job in jobs:  # a loop over files
        text = _open_text(job)
        yield job, text, enumerate(text.blocks())


def _finish_file(fp: _FileProgress, progress: Progress | None) -> None:
    """After a file's last chunk: a header-only file still gets an (empty) staged file."""
    if fp.report.chunks:
        return
    ft = fp.job.ft
    raw_dir = Path(fp.job.staging) / "raw" / ft.key
    raw_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(staging_schema(ft).empty_table(), raw_dir / f"{_stem(Path(fp.job.path))}-00000.parquet")
    if progress is not None:
        progress(fp.report.source_file, fp.report.bytes, fp.report.bytes)


def stage_file(
    path: Path,
    source: str,
    ft,
    staging: Path,
    pseudonymiser: Pseudonymiser,
    reasons: dict,
    encoding: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> FileStageReport:
    """Stage one landing file in this process; ``source`` is the name recorded as ``_source_file``."""
    job = _FileJob(str(path), source, ft, reasons, str(staging), encoding or ft.encoding, chunk_bytes)
    text = _open_text(job)
    check_header(source, ft, text.header)
    fp = _FileProgress(job, text)
    for index, block in enumerate(text.blocks()):
        fp.add(_stage_chunk(job, text, block, index, pseudonymiser), len(block.data), progress)
    _finish_file(fp, progress)
    return fp.report


def _concat_sorted(a: pa.Table, b: pa.Table) -> pa.Table:
    both = pa.concat_tables([a, b])
    return both.take(pc.sort_indices(both, [("row_number", "ascending")]))


def stage_landing(
    site: SiteLayout,
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
    workers: int = DEFAULT_WORKERS,
) -> StageReport:
    """Stage every recognised file of a landing folder of ``site`` (see the module docstring).

    ``secret`` is the site secret for pseudonyms; ``encoding`` overrides the
    file types' own encodings (None: each file type's); ``progress(file,
    bytes_done, bytes_total)`` is called (in this process) after each chunk.
    ``workers`` processes type and write the chunks (1: all in this process; a
    daemonic process, which may not have children, always works alone).
    Raises :class:`LayoutMismatch` for a file whose header differs from its layout.
    """
    landing, staging = Path(landing), Path(staging)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    Pseudonymiser(secret)  # refuse an empty secret before touching anything
    files, unrecognised = landing_files(landing, site)
    jobs: list[_FileJob] = []
    for path, ft in files:  # fail before touching staging if a header is wrong
        job = _FileJob(
            str(path), path.relative_to(landing).as_posix(), ft, site.quarantine_reasons, str(staging),
            encoding or ft.encoding, chunk_bytes,
        )
        check_header(job.source, ft, _open_text(job).header)
        jobs.append(job)
    _clear_staged(staging, site)
    if multiprocessing.current_process().daemon:
        workers = 1
    chunks = sum(-(-Path(job.path).stat().st_size // chunk_bytes) for job in jobs)  # about, rounded up
    workers = max(1, min(workers, chunks))
    report = StageReport(unrecognised_files=unrecognised)
    report.files.extend(_run_chunks(jobs, secret, workers, progress))
    return report
