"""A local-directory object store (``file:///abs/dir``), the embedded default.

Rules:

* Writes are never visible half-done: content goes to a temp file
  (``.cbtmp-<random>``) in the destination folder, is fsynced, then
  ``os.replace``-d onto the key (last writer wins).  A killed writer leaves
  at most a temp file, which ``list()`` skips and keys cannot name.
* ``if_absent=True`` is write-once: the temp file is hard-linked to the key
  with ``os.link``, which fails atomically if the key exists, so a
  concurrent writer cannot be overwritten (also atomic on NFS).  A file
  system without hard links gets a StoreError, not a silent overwrite.
* SHA-256 is computed on demand by ``info()`` (and returned by ``put_*``,
  which hash while writing); no sidecar files litter the folder.
* A key cannot be both an object and a folder of other keys (S3 allows it);
  storing one over the other raises StoreError.  Empty folders left by
  ``delete()`` are kept.  ``presign()`` raises StoreError (no server).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .base import (TEMP_PREFIX, ObjectExists, ObjectInfo, ObjectMissing, StoreError, check_child_prefix,
                   check_key, check_prefix)

_COPY_BLOCK = 1 << 20


class LocalStore:
    """Objects as files under ``root``; keys map to relative paths."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).absolute()
        self.url = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalStore({self.url!r})"

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*check_key(key).split("/"))

    # ---- writes -------------------------------------------------------------
    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> ObjectInfo:
        check_key(key)
        with open(path, "rb") as src:

            def fill(out: BinaryIO) -> tuple[int, str]:
                digest, size = hashlib.sha256(), 0
                while block := src.read(_COPY_BLOCK):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
                return size, digest.hexdigest()

            return self._put(key, fill, if_absent)

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> ObjectInfo:
        def fill(out: BinaryIO) -> tuple[int, str]:
            out.write(data)
            return len(data), hashlib.sha256(data).hexdigest()

        return self._put(key, fill, if_absent)

    def _put(self, key: str, fill: Callable[[BinaryIO], tuple[int, str]], if_absent: bool) -> ObjectInfo:
        dest = self._path(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise StoreError(f"cannot store {key!r} in {self.url}: a parent of it is an object, not a folder") from exc
        tmp = dest.parent / f"{TEMP_PREFIX}{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            with os.fdopen(fd, "wb") as out:
                size, sha256 = fill(out)
                out.flush()
                os.fsync(out.fileno())
            if if_absent:
                self._link(tmp, dest, key)
            else:
                try:
                    os.replace(tmp, dest)
                except IsADirectoryError as exc:
                    raise StoreError(f"cannot store {key!r} in {self.url}: it is a folder of other objects") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return ObjectInfo(key, size, sha256)

    def _link(self, tmp: Path, dest: Path, key: str) -> None:
        try:
            os.link(tmp, dest)
        except FileExistsError as exc:
            if dest.is_dir():
                raise StoreError(f"cannot store {key!r} in {self.url}: it is a folder of other objects") from exc
            raise ObjectExists(f"object {key!r} already exists in {self.url} (write-once put refused)") from exc
        except OSError as exc:
            raise StoreError(
                f"write-once put of {key!r} in {self.url} needs hard links (os.link), which this file system refused: {exc}"
            ) from exc

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return  # a folder or a path through an object: no object under this key

    # ---- reads --------------------------------------------------------------
    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise ObjectMissing(f"no object {key!r} in {self.url}") from exc

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as fh:
            return fh.read()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def info(self, key: str) -> ObjectInfo:
        with self.open(key) as fh:
            size = os.fstat(fh.fileno()).st_size
            sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        return ObjectInfo(key, size, sha256)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        base = self.root.joinpath(*folder.split("/")) if folder else self.root
        if not base.is_dir():
            return iter(())
        found: list[ObjectInfo] = []
        for dirpath, dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(self.root).as_posix()
            head = "" if rel == "." else rel + "/"
            dirnames[:] = [d for d in dirnames if (head + d + "/").startswith(prefix) or prefix.startswith(head + d + "/")]
            for name in filenames:
                key = head + name
                if name.startswith(TEMP_PREFIX) or not key.startswith(prefix):
                    continue
                try:
                    size = os.stat(os.path.join(dirpath, name)).st_size
                except FileNotFoundError:
                    continue  # deleted while listing
                found.append(ObjectInfo(key, size, None))
        found.sort(key=lambda o: o.key)
        return iter(found)

    # ---- scoping ------------------------------------------------------------
    def presign(self, key: str, expires_seconds: int) -> str:
        check_key(key)
        raise StoreError(
            f"local store {self.url} cannot pre-sign URLs: there is no server behind it to check a signature "
            "or an expiry time; deliver through an S3 store (s3://...) instead"
        )

    def child(self, prefix: str) -> LocalStore:
        sub = check_child_prefix(prefix)
        return LocalStore(self.root.joinpath(*sub.split("/")))
