"""A landing zone on S3 (or any store URL): fetched into the run folder before staging.

``landing = s3://bucket/prefix`` (``s3_endpoint_url`` for S3-compatible
stores): the extract stage copies every object under the prefix into
``runs/<run_id>/landing/`` (same relative keys), streaming each object to a
temporary file with its SHA-256 computed on the way and renaming it when
complete.  An object that carries our ``sha256`` metadata (the hub's own
uploads, ``connectors/stores/s3.py``) must match it; a size that differs from
the listing fails the fetch.  A retried extract keeps files already fetched
whose size and digest agree (without a stored digest: whose size agrees), so
re-delivery costs only what was missing.

Staging then reads the local copy in chunks as it reads a local landing zone.
The copy is the run's record of exactly which bytes were staged (the extract
report lists key, size and SHA-256 of each object).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connectors.stores import StoreError, open_store, parse_store_url

CHUNK = 8 << 20


class LandingFetchError(RuntimeError):
    """An object of the remote landing zone could not be fetched intact."""


def is_remote(landing: str) -> bool:
    """True for a landing URL that is not a local folder (``s3://...``)."""
    return "://" in landing and not landing.startswith("file://")


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def fetch_landing(url: str, dest: Path, *, endpoint_url: str | None = None,
                  progress: Callable[[str, int], None] | None = None) -> dict[str, Any]:
    """Copy every object under ``url`` into ``dest``; returns the fetch report (objects, bytes, reused)."""
    parsed = parse_store_url(url)
    if parsed.kind == "file":
        raise ValueError(f"{url} is a local folder: use it as the landing directory directly")
    store = open_store(url, endpoint_url=endpoint_url)
    dest.mkdir(parents=True, exist_ok=True)
    objects, reused, fetched_bytes = [], 0, 0
    try:
        listing = sorted(store.list(""), key=lambda o: o.key)
    except StoreError as exc:
        raise LandingFetchError(f"cannot list the landing zone {url}: {exc}") from exc
    for obj in listing:
        if obj.key.endswith("/"):
            continue
        if obj.sha256 is None:  # a listing carries no metadata: ask the object itself (one HEAD)
            try:
                obj = store.info(obj.key)
            except StoreError as exc:
                raise LandingFetchError(f"{url}: cannot read {obj.key}: {exc}") from exc
        target = dest / obj.key
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_file() and target.stat().st_size == obj.size:
            digest = _sha256_file(target)
            if obj.sha256 is None or digest == obj.sha256:
                objects.append({"key": obj.key, "bytes": obj.size, "sha256": digest, "reused": True})
                reused += 1
                continue
        tmp = target.with_name(f".{target.name}.part-{os.getpid()}")
        h = hashlib.sha256()
        size = 0
        try:
            with store.open(obj.key) as body, tmp.open("wb") as out:
                while block := body.read(CHUNK):
                    h.update(block)
                    out.write(block)
                    size += len(block)
        except (StoreError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            raise LandingFetchError(f"{url}: fetching {obj.key} failed: {exc}") from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        digest = h.hexdigest()
        if size != obj.size or (obj.sha256 is not None and digest != obj.sha256):
            tmp.unlink(missing_ok=True)
            raise LandingFetchError(
                f"{url}: {obj.key} arrived as {size} bytes with SHA-256 {digest}; the store lists "
                f"{obj.size} bytes" + (f" and SHA-256 {obj.sha256}" if obj.sha256 else ""))
        os.replace(tmp, target)
        fetched_bytes += size
        objects.append({"key": obj.key, "bytes": size, "sha256": digest, "reused": False})
        if progress is not None:
            progress(obj.key, size)
    if not objects:
        raise LandingFetchError(f"the landing zone {url} holds no object")
    return {"source": url, "objects": objects, "fetched_bytes": fetched_bytes, "reused": reused}


__all__ = ["LandingFetchError", "fetch_landing", "is_remote"]
