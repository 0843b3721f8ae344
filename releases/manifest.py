"""Release manifests: what a release folder holds, file by file, and where it came from.

A release folder is a local directory of files (Parquet, CSV, NDJSON, JSON,
HTML ...).  Its ``manifest.json`` (at the folder root) lists every other
file with its relative path (``/``-separated), size in ``bytes``, ``sha256``
(hex, streamed), ``rows`` and ``media_type``, plus the release's provenance:
``release_id``, ``study_id``, ``permit_id``, ``created`` (UTC, ISO 8601),
``code_version``, ``vocabulary_versions`` (name -> version),
``source_runs`` (run ids) and any other metadata given (kept as given),
``manifest_version`` (1) and ``totals`` (files, bytes).

Rules:

* Rows: Parquet = ``num_rows`` from the file footer; CSV = records after the
  header row, parsed by pyarrow with quoted newlines allowed (so a newline
  inside quotes does not start a row; blank lines are not rows); NDJSON
  (``.ndjson``/``.jsonl``) = lines with a non-blank character; anything
  else: ``null``.  A file that cannot be counted raises :class:`RowCountError`.
* Deterministic: the same folder and metadata give the same bytes (files
  sorted by path in code-point order, keys sorted, indent 2, UTF-8 with
  non-ASCII kept, trailing newline).  ``created`` is never filled in here:
  re-building must not change the manifest (publishing compares bytes).
* Only regular files: a symlink (file or folder) is refused, so a release
  cannot reach outside its folder; every path must be a valid store key
  (:func:`connectors.stores.check_key`).  A root-level ``manifest.json`` is
  the manifest; a ``manifest.json`` in a subfolder is an ordinary file.
* :func:`load_manifest` validates everything readers rely on and raises
  :class:`ManifestError` naming the problem; :func:`build_manifest` runs the
  same validation on what it builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from connectors.stores import InvalidKey, check_key
from connectors.stores.base import TEMP_PREFIX

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
REQUIRED_META = ("release_id", "study_id", "permit_id", "created", "code_version", "vocabulary_versions", "source_runs")
RESERVED_KEYS = ("manifest_version", "files", "totals")
FILE_KEYS = ("bytes", "media_type", "path", "rows", "sha256")
MEDIA_TYPES = {
    ".parquet": "application/vnd.apache.parquet",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".ndjson": "application/x-ndjson",
    ".jsonl": "application/x-ndjson",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".gz": "application/gzip",
    ".zip": "application/zip",
}
DEFAULT_MEDIA_TYPE = "application/octet-stream"
ROW_KINDS = {".parquet": "parquet", ".csv": "csv", ".ndjson": "ndjson", ".jsonl": "ndjson"}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOCK = 1 << 20
_CSV_BLOCK = 16 << 20  # pyarrow CSV block: one record must fit in a block


class ManifestError(ValueError):
    """A manifest (or the metadata or folder it is built from) is malformed; the message names the problem."""


class RowCountError(ManifestError):
    """A Parquet, CSV or NDJSON file could not be read to count its rows."""


# ---- per-file facts ------------------------------------------------------------------------------------
def media_type(path: str) -> str:
    """The media type recorded for ``path`` (by suffix, case-insensitive; a fixed table, not the OS's)."""
    return MEDIA_TYPES.get(os.path.splitext(path)[1].lower(), DEFAULT_MEDIA_TYPE)


def rows_kind(path: str) -> str | None:
    """``parquet``, ``csv`` or ``ndjson`` when rows are counted for ``path``, else None."""
    return ROW_KINDS.get(os.path.splitext(path)[1].lower())


def sha256_stream(fh: BinaryIO, copy_to: BinaryIO | None = None) -> tuple[int, str]:
    """(size, SHA-256 hex) of a binary stream read to its end in 1 MiB blocks, optionally copying it."""
    digest, size = hashlib.sha256(), 0
    while block := fh.read(_BLOCK):
        digest.update(block)
        size += len(block)
        if copy_to is not None:
            copy_to.write(block)
    return size, digest.hexdigest()


def count_rows(source: Path | BinaryIO, kind: str, *, block_size: int = _BLOCK) -> int:
    """Rows of a ``parquet``/``csv``/``ndjson`` file (a path or a seekable binary stream at its start).

    ``block_size`` is the NDJSON read size (tests use tiny blocks to cross block boundaries).
    """
    import pyarrow as pa

    name = str(source) if isinstance(source, Path) else getattr(source, "name", "<stream>")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(source).metadata.num_rows)
        if kind == "csv":
            return _count_csv(source)
        if kind == "ndjson":
            if isinstance(source, Path):
                with open(source, "rb") as fh:
                    return _count_ndjson(fh, block_size)
            return _count_ndjson(source, block_size)
    except (pa.ArrowException, OSError) as exc:
        raise RowCountError(f"cannot count the rows of {kind} file {name}: {exc}") from exc
    raise ManifestError(f"no row counter for kind {kind!r}")


def _count_csv(source: Path | BinaryIO) -> int:
    import pyarrow.csv as pacsv

    if isinstance(source, Path):
        if source.stat().st_size == 0:
            return 0
        src: Any = str(source)
    else:
        start = source.tell()
        if not source.read(1):
            return 0  # pyarrow refuses an empty CSV; no header, no rows
        source.seek(start)
        src = source
    reader = pacsv.open_csv(
        src,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(include_columns=[]),  # parse records, convert no values
    )
    return sum(batch.num_rows for batch in reader)


def _count_ndjson(fh: BinaryIO, block_size: int) -> int:
    """Lines holding a byte other than JSON whitespace, counted per block with numpy (no per-line loop)."""
    import numpy as np

    rows, line_open = 0, False  # line_open: the block-spanning current line is already counted
    while block := fh.read(block_size):
        arr = np.frombuffer(block, dtype=np.uint8)
        newline = arr == 10
        line = np.cumsum(newline)  # 0 = the line carried over from the previous block
        ids = line[~(newline | (arr == 32) | (arr == 9) | (arr == 13))]
        if ids.size:
            rows += int(np.count_nonzero(np.diff(ids))) + 1 - int(line_open and ids[0] == 0)
        last = int(line[-1])
        if ids.size and int(ids[-1]) == last:
            line_open = True
        elif last > 0:
            line_open = False
    return rows


# ---- build -----------------------------------------------------------------------------------------------
def _walk(folder: Path) -> list[str]:
    """Relative '/' paths of every regular file under ``folder`` but the root manifest, sorted; refuses symlinks."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath)
        for name in dirnames + filenames:
            if (base / name).is_symlink():
                raise ManifestError(f"{base / name} is a symlink; a release folder holds regular files only")
        rel = base.relative_to(folder).as_posix()
        for name in filenames:
            key = name if rel == "." else f"{rel}/{name}"
            if key == MANIFEST_NAME:
                continue
            if not (base / name).is_file():
                raise ManifestError(f"{base / name} is not a regular file")
            try:
                check_key(key)
            except InvalidKey as exc:
                raise ManifestError(f"file {key!r} in {folder} cannot be released: {exc}") from exc
            found.append(key)
    return sorted(found)


def file_entry(folder: Path, key: str) -> dict[str, Any]:
    """The manifest entry of one file (path, bytes, sha256, rows, media_type)."""
    path = folder.joinpath(*key.split("/"))
    with open(path, "rb") as fh:
        size, sha256 = sha256_stream(fh)
    kind = rows_kind(key)
    rows = count_rows(path, kind) if kind else None
    return {"bytes": size, "media_type": media_type(key), "path": key, "rows": rows, "sha256": sha256}


def build_manifest(folder: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest of ``folder`` with ``meta`` (see the module docstring); ManifestError if anything is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ManifestError(f"release folder {folder} does not exist or is not a folder")
    reserved = sorted(set(meta) & set(RESERVED_KEYS))
    if reserved:
        raise ManifestError(f"metadata may not set {reserved}: the manifest computes them")
    files = [file_entry(folder, key) for key in _walk(folder)]
    manifest = dict(meta)
    manifest.update(
        manifest_version=MANIFEST_VERSION,
        files=files,
        totals={"bytes": sum(f["bytes"] for f in files), "files": len(files)},
    )
    return validate_manifest(manifest)


def manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    """The canonical serialisation: keys sorted, indent 2, UTF-8, trailing newline."""
    try:
        text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"manifest is not JSON-serialisable: {exc}") from exc
    return (text + "\n").encode("utf-8")


def write_manifest(folder: Path, manifest: Mapping[str, Any]) -> Path:
    """Validate ``manifest`` and write it as ``folder/manifest.json`` atomically (temp file + rename)."""
    data = manifest_bytes(validate_manifest(dict(manifest)))
    target = Path(folder) / MANIFEST_NAME
    tmp = target.with_name(f"{TEMP_PREFIX}{MANIFEST_NAME}-{os.getpid()}")  # invisible to LocalStore
    tmp.write_bytes(data)
    os.replace(tmp, target)
    return target


# ---- load and validate ------------------------------------------------------------------------------------
def load_manifest(data: bytes) -> dict[str, Any]:
    """Parse and validate manifest bytes; ManifestError naming the first problem found."""
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"manifest is not UTF-8 JSON: {exc}") from exc
    return validate_manifest(manifest)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _nonempty_str(manifest: Mapping[str, Any], key: str) -> None:
    if not isinstance(manifest[key], str) or not manifest[key].strip():
        raise ManifestError(f"manifest {key!r} must be a non-empty string, got {manifest[key]!r}")


def validate_manifest(manifest: Any) -> dict[str, Any]:
    """Return ``manifest`` if it is a valid version-1 manifest, else raise ManifestError."""
    if not isinstance(manifest, dict):
        raise ManifestError(f"manifest must be a JSON object, got {type(manifest).__name__}")
    version = manifest.get("manifest_version")
    if not _is_int(version) or version != MANIFEST_VERSION:
        raise ManifestError(f"unknown manifest_version {version!r}; this code reads version {MANIFEST_VERSION}")
    missing = [k for k in (*REQUIRED_META, "files", "totals") if k not in manifest]
    if missing:
        raise ManifestError(f"manifest lacks {missing}")
    for key in ("release_id", "study_id", "permit_id", "code_version"):
        _nonempty_str(manifest, key)
    _check_created(manifest["created"])
    vocab = manifest["vocabulary_versions"]
    if not isinstance(vocab, dict) or not all(isinstance(v, str) for v in vocab.values()):
        raise ManifestError(f"manifest 'vocabulary_versions' must map names to version strings, got {vocab!r}")
    runs = manifest["source_runs"]
    if not isinstance(runs, list) or not all(isinstance(r, str) and r for r in runs):
        raise ManifestError(f"manifest 'source_runs' must be a list of run ids, got {runs!r}")
    files = manifest["files"]
    if not isinstance(files, list):
        raise ManifestError("manifest 'files' must be a list")
    seen: set[str] = set()
    for entry in files:
        _check_entry(entry, seen)
    expected = {"bytes": sum(f["bytes"] for f in files), "files": len(files)}
    if manifest["totals"] != expected:
        raise ManifestError(f"manifest totals {manifest['totals']!r} do not match its files {expected!r}")
    return manifest


def _check_created(created: Any) -> None:
    try:
        when = datetime.fromisoformat(created) if isinstance(created, str) else None
    except ValueError:
        when = None
    if when is None or when.utcoffset() != timedelta(0):
        raise ManifestError(f"manifest 'created' must be an ISO 8601 UTC time (…Z or +00:00), got {created!r}")


def _check_entry(entry: Any, seen: set[str]) -> None:
    if not isinstance(entry, dict) or sorted(entry) != sorted(FILE_KEYS):
        raise ManifestError(f"manifest file entry must have exactly the keys {list(FILE_KEYS)}, got {entry!r}")
    path = entry["path"]
    if not isinstance(path, str):
        raise ManifestError(f"manifest file path must be a string, got {path!r}")
    try:
        check_key(path)
    except InvalidKey as exc:
        raise ManifestError(f"manifest file path {path!r} is not a safe relative path: {exc}") from exc
    if path == MANIFEST_NAME:
        raise ManifestError(f"manifest lists {MANIFEST_NAME!r} itself as a file")
    if path in seen:
        raise ManifestError(f"manifest lists {path!r} twice")
    seen.add(path)
    if not _is_int(entry["bytes"]) or entry["bytes"] < 0:
        raise ManifestError(f"manifest file {path!r}: bytes must be an integer >= 0, got {entry['bytes']!r}")
    if not isinstance(entry["sha256"], str) or not _SHA256.fullmatch(entry["sha256"]):
        raise ManifestError(f"manifest file {path!r}: sha256 must be 64 lower-case hex digits, got {entry['sha256']!r}")
    if entry["rows"] is not None and (not _is_int(entry["rows"]) or entry["rows"] < 0):
        raise ManifestError(f"manifest file {path!r}: rows must be null or an integer >= 0, got {entry['rows']!r}")
    if not isinstance(entry["media_type"], str) or "/" not in entry["media_type"]:
        raise ManifestError(f"manifest file {path!r}: bad media_type {entry['media_type']!r}")
