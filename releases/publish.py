"""Publishing a release folder to an object store: atomic, write-once, resumable.

Layout: one release per prefix, ``<partner>/<release_id>/`` (or
``<release_id>/`` without partners) under the store root, see
:func:`release_prefix`; callers pass ``store.child(release_prefix(...))``,
so a partner's store (or pre-signed links) reaches only its own releases.
Inside the prefix: the folder's files under their manifest paths, and
``manifest.json``.

Rules:

* The local folder is checked against its own ``manifest.json`` first
  (sizes and SHA-256s; no missing or extra files): a file changed after
  the manifest was built is refused (:class:`LocalReleaseChanged`).
* ``manifest.json`` already in the store: the same bytes -> "already
  published", nothing is written; other bytes -> :class:`ReleaseExists`
  (a release is never overwritten).  Objects that the manifest does not
  list -> :class:`PublishConflict` (a prefix holds one release only).
* Objects already in the prefix are checked before anything is written:
  one with the manifest's size and SHA-256 (our metadata, or computed by
  streaming when the store has none) is skipped, which is how a re-run
  finishes an interrupted publish without duplicates; any other content ->
  :class:`PublishConflict` naming the path (never overwritten).
* Then the missing data objects go up in manifest order, each with
  ``if_absent=True`` (an object a concurrent publisher stored meanwhile is
  checked as above), and each is read back with ``info()``.
* The manifest goes last, with ``if_absent=True``; losing that race to a
  concurrent publisher is fine only if the winner wrote the same bytes.  So
  a release without its manifest is incomplete, and verify says so.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from connectors.stores import InvalidKey, LocalStore, ObjectExists, ObjectMissing, Store, check_key
from releases.manifest import MANIFEST_NAME, load_manifest, sha256_stream
from releases.verify import verify_release


class PublishError(RuntimeError):
    """Publishing a release failed; the message names the store, release and path."""


class ReleaseExists(PublishError):
    """A different release (other manifest bytes) is already published at this prefix; nothing was changed."""


class PublishConflict(PublishError):
    """The prefix holds an object that differs from (or is not in) this release; nothing was overwritten."""


class LocalReleaseChanged(PublishError):
    """The local release folder no longer matches its own manifest."""


class UploadMismatch(PublishError):
    """An object read back after upload does not have the manifest's size and SHA-256."""


class ReleaseNotPublished(PublishError):
    """The store holds no manifest, so there is no complete release to hand out."""


class InvalidReleaseName(ValueError):
    """A release id or partner name that cannot be one store-key segment."""


@dataclass(frozen=True)
class PublishProgress:
    """Passed to ``progress`` after each data file: its path, ``uploaded`` or ``skipped``, n of total."""

    path: str
    status: str
    done: int
    total: int
    bytes: int


@dataclass(frozen=True)
class PublishReport:
    """What :func:`publish` did: ``uploaded``/``skipped`` paths, bytes uploaded, seconds, store URL."""

    store_url: str
    release_id: str
    manifest_sha256: str  # hand this to partners over another channel for verify
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    bytes_uploaded: int
    seconds: float
    already_published: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def release_prefix(release_id: str, partner: str | None = None) -> str:
    """``<partner>/<release_id>`` (or ``<release_id>``); each must be one valid key segment."""
    parts = [partner, release_id] if partner is not None else [release_id]
    for part in parts:
        try:
            if not isinstance(part, str) or "/" in part:
                raise InvalidKey(f"{part!r} must be a single segment without '/'")
            check_key(part)
        except InvalidKey as exc:
            raise InvalidReleaseName(f"bad release id or partner name {part!r}: {exc}") from exc
    return "/".join(parts)  # type: ignore[arg-type]


def publish(
    folder: Path, store: Store, *, progress: Callable[[PublishProgress], None] | None = None
) -> PublishReport:
    """Publish the release folder (with its ``manifest.json``) into ``store`` (see the module docstring)."""
    started = time.monotonic()
    folder = Path(folder)
    try:
        data = (folder / MANIFEST_NAME).read_bytes()
    except FileNotFoundError as exc:
        raise PublishError(f"{folder} has no {MANIFEST_NAME}; build and write the manifest first") from exc
    manifest = load_manifest(data)
    release_id, files = manifest["release_id"], manifest["files"]
    local = verify_release(LocalStore(folder), check_rows=False)
    if not local.ok or local.extra:
        lines = "\n  ".join(local.format_report())
        raise LocalReleaseChanged(f"release folder {folder} does not match its {MANIFEST_NAME}; refusing:\n  {lines}")

    def report(uploaded: list[str], skipped: list[str], sent: int, already: bool = False) -> PublishReport:
        return PublishReport(
            store.url, release_id, hashlib.sha256(data).hexdigest(), tuple(uploaded), tuple(skipped), sent,
            round(time.monotonic() - started, 3), already,
        )

    if _manifest_in_store(store, data, release_id):
        return report([], [], 0, already=True)
    listed = {f["path"] for f in files}
    present = {o.key for o in store.list()}
    foreign = sorted(present - listed - {MANIFEST_NAME})
    if foreign:
        shown = ", ".join(foreign[:10]) + (" ..." if len(foreign) > 10 else "")
        raise PublishConflict(
            f"{store.url} holds {len(foreign)} objects not in release {release_id} ({shown}); "
            "a release prefix holds one release only"
        )

    for entry in files:  # every conflict is found before anything is written
        if entry["path"] in present:
            try:
                _check_existing(store, entry, release_id)
            except ObjectMissing:  # deleted since the listing: upload it
                present.discard(entry["path"])

    uploaded: list[str] = []
    skipped: list[str] = []
    sent = 0
    for done, entry in enumerate(files, 1):
        if entry["path"] not in present and _put_data(folder, store, entry, release_id):
            uploaded.append(entry["path"])
            sent += entry["bytes"]
            status = "uploaded"
        else:
            skipped.append(entry["path"])
            status = "skipped"
        if progress is not None:
            progress(PublishProgress(entry["path"], status, done, len(files), entry["bytes"]))

    try:
        store.put_bytes(MANIFEST_NAME, data, if_absent=True)
    except ObjectExists:
        if not _manifest_in_store(store, data, release_id):  # deleted again in between: do not guess
            raise PublishError(f"{MANIFEST_NAME} in {store.url} appeared and vanished during publish") from None
    return report(uploaded, skipped, sent)


def _manifest_in_store(store: Store, data: bytes, release_id: str) -> bool:
    """True if the store holds exactly ``data`` as its manifest, False if none; ReleaseExists if other bytes."""
    try:
        stored = store.get_bytes(MANIFEST_NAME)
    except ObjectMissing:
        return False
    if stored != data:
        raise ReleaseExists(
            f"{store.url} already holds a different release manifest; release {release_id} was not "
            "published there (published releases are never overwritten; use a new release id)"
        )
    return True


def _put_data(folder: Path, store: Store, entry: dict[str, Any], release_id: str) -> bool:
    """Upload one absent data file write-once; False if a concurrent publisher stored the identical object."""
    key = entry["path"]
    try:
        info = store.put_file(key, folder.joinpath(*key.split("/")), if_absent=True)
    except ObjectExists:  # a concurrent publisher got there first
        _check_existing(store, entry, release_id)
        return False
    if (info.size, info.sha256) != (entry["bytes"], entry["sha256"]):
        raise LocalReleaseChanged(
            f"{folder / key} changed while being published (sha256 {info.sha256}, manifest {entry['sha256']}); "
            f"the object {key!r} in {store.url} now holds the changed file: delete it, rebuild the release "
            "and publish again"
        )
    stored = store.info(key)
    if (stored.size, stored.sha256) != (entry["bytes"], entry["sha256"]):
        raise UploadMismatch(
            f"{key!r} in {store.url} reads back as {stored.size} bytes, sha256 {stored.sha256}; the manifest "
            f"says {entry['bytes']} bytes, sha256 {entry['sha256']}"
        )
    return True


def _check_existing(store: Store, entry: dict[str, Any], release_id: str) -> None:
    """Return if the stored object matches the entry; ObjectMissing if absent; PublishConflict if different."""
    key = entry["path"]
    info = store.info(key)
    sha256 = info.sha256
    if sha256 is None and info.size == entry["bytes"]:
        with store.open(key) as fh:
            sha256 = sha256_stream(fh)[1]
    if (info.size, sha256) != (entry["bytes"], entry["sha256"]):
        raise PublishConflict(
            f"{key!r} already exists in {store.url} with other content ({info.size} bytes, sha256 {sha256}) "
            f"than release {release_id} ({entry['bytes']} bytes, sha256 {entry['sha256']}); not overwritten"
        )


def presign_release(store: Store, expires_seconds: int) -> dict[str, str]:
    """Pre-signed GET links (S3) for every file of the published release and its manifest, by path."""
    try:
        manifest = load_manifest(store.get_bytes(MANIFEST_NAME))
    except ObjectMissing as exc:
        raise ReleaseNotPublished(f"{store.url} holds no {MANIFEST_NAME}; publish the release first") from exc
    paths = sorted([f["path"] for f in manifest["files"]] + [MANIFEST_NAME])
    return {path: store.presign(path, expires_seconds) for path in paths}
