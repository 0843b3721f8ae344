"""Stage the Taiwan landing zone: raw CSV -> typed, pseudonymised Parquet plus quarantine.

Output layout under ``staging``::

    raw/<file_type>/<file stem>-<chunk no>.parquet     staged rows, exactly layout.staging_columns()
    quarantine/stage/<file_type>/<file stem>-<chunk no>.parquet   refused rows (connectors.quarantine schema)

Each file is streamed in chunks of about ``chunk_bytes``, so memory is bounded
whatever the file size.  Re-running replaces these folders (and the outputs of
:func:`connectors.taiwan.consolidate.consolidate_taiwan`, which depend on them)
for every Taiwan file type; nothing is appended.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import count_reasons, quarantine_table, write_quarantine
from connectors.taiwan.consolidate import clear_consolidated
from connectors.taiwan.layout import FILE_TYPES, QUARANTINE_REASONS, FileType, identify
from connectors.taiwan.types import PersonKeys, staging_schema, type_chunk
from connectors.text_chunks import DEFAULT_CHUNK_BYTES, DelimitedTextFile

Progress = Callable[[str, int, int], None]


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


def landing_files(landing: Path) -> tuple[list[tuple[Path, FileType]], list[str]]:
    """Recognised landing files (sorted, with their file type) and the unrecognised ones.

    Files and folders whose names start with ``_`` or ``.`` are skipped.
    """
    found: list[tuple[Path, FileType]] = []
    unrecognised: list[str] = []
    for path in sorted(landing.rglob("*")):  # a loop over files
        rel = path.relative_to(landing)
        if any(part.startswith(("_", ".")) for part in rel.parts) or not path.is_file():
            continue
        ft = identify(path.name)
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


def check_header(source: str, ft: FileType, header: list[str]) -> None:
    """Raise :class:`LayoutMismatch` unless ``header`` is exactly the layout's column names."""
    expected = ft.column_names
    if header == expected:
        return
    if not header:
        raise LayoutMismatch(f"{source}: no header line; expected {ft.hwdc_name} columns {expected}")
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in expected]
    parts = []
    if missing:
        parts.append(f"missing columns {missing}")
    if extra:
        parts.append(f"unexpected columns {extra}")
    if not parts:
        parts.append(f"columns in a different order: {header} instead of {expected}")
    raise LayoutMismatch(f"{source}: header does not match the {ft.hwdc_name} layout: " + "; ".join(parts))


def _clear_staged(staging: Path) -> None:
    for ft in FILE_TYPES:  # file types, not rows
        for folder in (staging / "raw" / ft.key, staging / "quarantine" / "stage" / ft.key):
            if folder.exists():
                shutil.rmtree(folder)
    clear_consolidated(staging)


def stage_file(
    path: Path,
    source: str,
    ft: FileType,
    staging: Path,
    pseudonymiser: Pseudonymiser | PersonKeys,
    encoding: str = "cp950",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> FileStageReport:
    """Stage one landing file; ``source`` is the name recorded as ``_source_file``."""
    text = DelimitedTextFile(path, encoding=encoding, delimiter=",", chunk_bytes=chunk_bytes)
    check_header(source, ft, text.header)
    report = FileStageReport(source, ft.key, bytes=text.size)
    stem = path.name[: -len(".csv")] if path.name.lower().endswith(".csv") else path.stem
    raw_dir = staging / "raw" / ft.key
    q_dir = staging / "quarantine" / "stage" / ft.key
    raw_dir.mkdir(parents=True, exist_ok=True)
    for chunk in text.chunks(ft.column_names):
        staged, quarantine = type_chunk(ft, chunk.table, source, pseudonymiser)
        if chunk.rejected:  # lines the reader refused (a loop over refused lines only)
            rejected = quarantine_table(
                source,
                ft.key,
                [r.line_number for r in chunk.rejected],
                [r.reason for r in chunk.rejected],
                [None] * len(chunk.rejected),
                [r.detail for r in chunk.rejected],
            )
            quarantine = rejected if quarantine.num_rows == 0 else _concat_sorted(rejected, quarantine)
        name = f"{stem}-{chunk.index:05d}.parquet"
        pq.write_table(staged, raw_dir / name)
        if quarantine.num_rows:
            write_quarantine(quarantine, q_dir / name, QUARANTINE_REASONS)
        counts = count_reasons(quarantine)
        if staged.num_rows + quarantine.num_rows != chunk.n_lines:
            raise StageInvariantError(
                f"{source} chunk {chunk.index}: {chunk.n_lines} lines in, {staged.num_rows} staged + "
                f"{quarantine.num_rows} quarantined"
            )
        report.rows_in += chunk.n_lines
        report.rows_staged += staged.num_rows
        for reason, n in counts.items():
            report.quarantined[reason] = report.quarantined.get(reason, 0) + n
        report.chunks += 1
        if progress is not None:
            progress(source, chunk.end_offset, text.size)
    if report.chunks == 0:  # header only: an empty staged file keeps the schema visible
        pq.write_table(staging_schema(ft).empty_table(), raw_dir / f"{stem}-00000.parquet")
        if progress is not None:
            progress(source, text.size, text.size)
    return report


def _concat_sorted(a: pa.Table, b: pa.Table) -> pa.Table:
    both = pa.concat_tables([a, b])
    return both.take(pc.sort_indices(both, [("row_number", "ascending")]))


def stage_taiwan(
    landing: Path,
    staging: Path,
    secret: str,
    encoding: str = "cp950",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Progress | None = None,
) -> StageReport:
    """Stage every recognised file of a Taiwan landing folder (see the module docstring).

    ``secret`` is the site secret for pseudonyms; ``progress(file, bytes_done,
    bytes_total)`` is called after each chunk.  Raises :class:`LayoutMismatch`
    for a file whose header differs from its layout.
    """
    landing, staging = Path(landing), Path(staging)
    if not landing.is_dir():
        raise FileNotFoundError(f"landing folder {landing} does not exist")
    pseudonymiser = PersonKeys(Pseudonymiser(secret))
    files, unrecognised = landing_files(landing)
    for path, ft in files:  # fail before touching staging if a header is wrong
        text = DelimitedTextFile(path, encoding=encoding, delimiter=",", chunk_bytes=chunk_bytes)
        check_header(path.relative_to(landing).as_posix(), ft, text.header)
    _clear_staged(staging)
    report = StageReport(unrecognised_files=unrecognised)
    for path, ft in files:
        source = path.relative_to(landing).as_posix()
        report.files.append(
            stage_file(path, source, ft, staging, pseudonymiser, encoding, chunk_bytes, progress)
        )
    return report
