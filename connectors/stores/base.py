"""Object-store basics: the :class:`Store` protocol, :class:`ObjectInfo`, errors and key rules.

Keys are ``/``-separated relative paths, the same on every store.  A key is
refused (:class:`InvalidKey`) when it is empty, absolute, has an empty
segment (``a//b``, trailing ``/``), a ``.`` or ``..`` segment, a backslash,
a control character, a segment longer than 255 UTF-8 bytes, more than 1024
UTF-8 bytes in all, or a segment starting with the reserved temp-file
prefix ``.cbtmp-``.  So a key can never leave the store's root, on disk or
in a bucket, and a :meth:`Store.child` store only sees its own prefix.

``ObjectInfo.sha256`` is the SHA-256 of the content as recorded by us: the
S3 user metadata ``sha256`` written at put time, or computed on demand for
the local store.  It is the checksum of record (S3 multipart ETags are not
MD5s of the content).  ``list()`` yields ``sha256=None`` on every store
(listing does not read content or metadata); call ``info()`` for it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

TEMP_PREFIX = ".cbtmp-"
MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class StoreError(RuntimeError):
    """An object-store operation failed (names the store URL and key, never credentials)."""


class ObjectExists(StoreError):
    """A write-once put (``if_absent=True``) found the key already present; the object is unchanged."""


class ObjectMissing(StoreError):
    """The key names no object in the store."""


class InvalidKey(StoreError):
    """A key or prefix that breaks the key rules (see the module docstring)."""


class InvalidStoreUrl(StoreError):
    """A store URL that names no supported store or is malformed."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: key relative to the store root, size in bytes, our SHA-256 (hex) or None if unknown."""

    key: str
    size: int
    sha256: str | None


@runtime_checkable
class Store(Protocol):
    """What every object store offers (:class:`LocalStore`, :class:`S3Store`)."""

    url: str  # file:///abs/dir or s3://bucket/prefix

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> ObjectInfo:
        """Store the file at ``path`` under ``key`` (streamed); ``if_absent`` makes it write-once (ObjectExists)."""
        ...

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> ObjectInfo:
        """Store ``data`` under ``key``; ``if_absent`` makes it write-once (ObjectExists)."""
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def info(self, key: str) -> ObjectInfo:
        """Size and SHA-256 of the object; ObjectMissing if absent."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A streaming binary reader of the object (close it); ObjectMissing if absent."""
        ...

    def get_bytes(self, key: str) -> bytes:
        """The whole object in memory; ObjectMissing if absent."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a string prefix), sorted by key; ``sha256`` is None."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error (idempotent, as in S3)."""
        ...

    def presign(self, key: str, expires_seconds: int) -> str:
        """A pre-signed GET URL valid for ``expires_seconds`` (S3); StoreError where unsupported (local)."""
        ...

    def child(self, prefix: str) -> Store:
        """A store rooted at ``prefix`` inside this one; it cannot see anything outside it."""
        ...


def check_key(key: str) -> str:
    """Return ``key`` if it follows the key rules, else raise :class:`InvalidKey` naming the rule broken."""
    if not isinstance(key, str):
        raise InvalidKey(f"key must be a str, not {type(key).__name__}")
    if not key:
        raise InvalidKey("empty key")
    if "\\" in key:
        raise InvalidKey(f"key {key!r} contains a backslash; use '/' between segments")
    if _CONTROL.search(key):
        raise InvalidKey(f"key {key!r} contains a control character")
    if key.startswith("/"):
        raise InvalidKey(f"key {key!r} is absolute; keys are relative to the store root")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKey(f"key {key[:40]!r}... is longer than {MAX_KEY_BYTES} UTF-8 bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidKey(f"key {key!r} has an empty segment ('//' or a trailing '/')")
        if segment in (".", ".."):
            raise InvalidKey(f"key {key!r} has a {segment!r} segment; keys cannot step outside their folder")
        if segment.startswith(TEMP_PREFIX):
            raise InvalidKey(f"key {key!r}: segments starting {TEMP_PREFIX!r} are reserved for temp files")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidKey(f"key {key!r} has a segment longer than {MAX_SEGMENT_BYTES} UTF-8 bytes")
    return key


def check_prefix(prefix: str) -> str:
    """Return a listing prefix (``""``, ``"a/b/"`` or a partial key ``"a/b"``, ``"a/pa"``) or raise InvalidKey."""
    if prefix == "":
        return prefix
    check_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def check_child_prefix(prefix: str) -> str:
    """The prefix of a child store (a trailing ``/`` dropped), checked like a key; InvalidKey otherwise."""
    sub = prefix[:-1] if prefix.endswith("/") else prefix
    try:
        check_key(sub)
    except InvalidKey as exc:
        raise InvalidKey(f"bad child prefix: {exc}") from exc
    return sub


def join_key(root: str, key: str) -> str:
    """``root/key`` (``key`` alone when root is empty); both already checked."""
    return f"{root}/{key}" if root else key
