"""Partner-side verification of a published release against its manifest.

:func:`verify_release` reads ``manifest.json`` from a store (a
:class:`~connectors.stores.LocalStore` for ``file://``, an ``S3Store`` for
``s3://``, usually the partner's ``<partner>/<release_id>`` prefix) and
checks every file it lists.

Rules:

* No manifest: status ``incomplete`` (publishing writes the manifest last,
  so the release was not published completely); a manifest that does not
  load: status ``invalid``.  Neither is ``ok``.
* Each file: ``missing``, or ``altered`` with every difference (``size``,
  ``sha256``, ``rows``; expected vs found).  The SHA-256 is computed from
  the CONTENT, streamed through ``store.open``; stored checksum metadata is
  never trusted (anyone who can overwrite an object can rewrite it).  Rows
  are re-counted for Parquet/CSV/NDJSON (``check_rows``); a non-seekable
  stream (S3) is spooled to a temporary file for that.
* Objects the manifest does not list are ``extra``: a warning, not a failure.
* ``expected_manifest_sha256`` (sent to the partner over another channel,
  e.g. from :class:`~releases.publish.PublishReport`) also catches a
  manifest rewritten together with the files.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from connectors.stores import ObjectMissing, Store
from releases.manifest import MANIFEST_NAME, ManifestError, RowCountError, count_rows, load_manifest, rows_kind, sha256_stream

INCOMPLETE_MESSAGE = "no manifest: the release was not published completely"


@dataclass(frozen=True)
class Difference:
    """One way a stored file differs from its manifest entry."""

    field: str  # size | sha256 | rows
    expected: Any
    found: Any


@dataclass(frozen=True)
class AlteredFile:
    """A stored file whose content does not match the manifest."""

    path: str
    differences: tuple[Difference, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(d.field for d in self.differences)


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of :func:`verify_release`; ``ok`` only when every listed file is present and unaltered."""

    store_url: str
    status: str  # ok | failed | incomplete | invalid
    message: str
    release_id: str | None = None
    files_checked: int = 0
    bytes_checked: int = 0
    missing: tuple[str, ...] = ()
    altered: tuple[AlteredFile, ...] = ()
    extra: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ok"] = self.ok
        return out

    def format_report(self) -> list[str]:
        """Text lines for a CLI: a verdict line, then one line per missing, altered and extra object."""
        name = f"release {self.release_id}" if self.release_id else "release"
        lines = [f"{self.status.upper()}: {name} at {self.store_url}: {self.message}"]
        lines += [f"MISSING  {path}" for path in self.missing]
        for item in self.altered:
            what = "; ".join(f"{d.field} expected {d.expected} found {d.found}" for d in item.differences)
            lines.append(f"ALTERED  {item.path}: {what}")
        lines += [f"EXTRA    {path} (not in the manifest; warning)" for path in self.extra]
        return lines


def verify_release(
    store: Store, *, check_rows: bool = True, expected_manifest_sha256: str | None = None
) -> VerifyReport:
    """Check every file of the release in ``store`` against its ``manifest.json`` (see the module docstring)."""
    present = {o.key: o.size for o in store.list()}
    try:
        data = store.get_bytes(MANIFEST_NAME)
    except ObjectMissing:
        return VerifyReport(store.url, "incomplete", INCOMPLETE_MESSAGE, extra=tuple(sorted(present)))
    try:
        manifest = load_manifest(data)
    except ManifestError as exc:
        return VerifyReport(store.url, "invalid", f"{MANIFEST_NAME} is not a valid manifest: {exc}")

    altered: list[AlteredFile] = []
    found_sha = hashlib.sha256(data).hexdigest()
    if expected_manifest_sha256 is not None and found_sha != expected_manifest_sha256.lower():
        altered.append(AlteredFile(MANIFEST_NAME, (Difference("sha256", expected_manifest_sha256, found_sha),)))
    missing: list[str] = []
    checked = checked_bytes = 0
    for entry in manifest["files"]:
        path = entry["path"]
        if path not in present:
            missing.append(path)
            continue
        try:
            differences, size = _check_object(store, entry, check_rows)
        except ObjectMissing:  # deleted since the listing
            missing.append(path)
            continue
        checked, checked_bytes = checked + 1, checked_bytes + size
        if differences:
            altered.append(AlteredFile(path, differences))
    listed = {f["path"] for f in manifest["files"]} | {MANIFEST_NAME}
    extra = tuple(key for key in sorted(present) if key not in listed)

    if missing or altered:
        status = "failed"
        message = f"{len(missing)} missing, {len(altered)} altered of {len(manifest['files'])} files"
    else:
        status, message = "ok", f"{checked} files, {checked_bytes} bytes match the manifest"
    if extra:
        message += f"; {len(extra)} extra objects (warning)"
    return VerifyReport(
        store.url, status, message, manifest["release_id"], checked, checked_bytes,
        tuple(missing), tuple(altered), extra,
    )


def _check_object(store: Store, entry: dict[str, Any], check_rows: bool) -> tuple[tuple[Difference, ...], int]:
    """Differences of one stored object from its entry, and the bytes read."""
    kind = rows_kind(entry["path"]) if check_rows and entry["rows"] is not None else None
    rows: Any = None
    with store.open(entry["path"]) as fh:
        if kind is None:
            size, sha256 = sha256_stream(fh)
        elif fh.seekable():
            size, sha256 = sha256_stream(fh)
            fh.seek(0)
            rows = _recount(fh, kind)
        else:
            with tempfile.TemporaryFile(prefix="cb-verify-") as spool:
                size, sha256 = sha256_stream(fh, copy_to=spool)
                spool.seek(0)
                rows = _recount(spool, kind)
    differences = []
    if size != entry["bytes"]:
        differences.append(Difference("size", entry["bytes"], size))
    if sha256 != entry["sha256"]:
        differences.append(Difference("sha256", entry["sha256"], sha256))
    if kind is not None and rows != entry["rows"]:
        differences.append(Difference("rows", entry["rows"], rows))
    return tuple(differences), size


def _recount(fh: BinaryIO, kind: str) -> int | str:
    try:
        return count_rows(fh, kind)
    except RowCountError as exc:
        return f"unreadable ({exc})"
