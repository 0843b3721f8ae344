"""Store URLs: ``file:///abs/dir`` (or a plain path) and ``s3://bucket[/prefix]``.

A ``file://`` URL must name no host other than ``localhost``: ``file://work/x``
would mean host ``work`` and is refused rather than guessed at (write
``file:///abs/work/x`` or the plain path ``work/x``).  Plain paths are made
absolute.  The S3 prefix follows the key rules (trailing ``/`` allowed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from .base import InvalidKey, InvalidStoreUrl, check_key

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: ``kind`` file (``path`` set) or s3 (``bucket``, ``prefix`` without trailing '/')."""

    kind: Literal["file", "s3"]
    path: Path | None = None
    bucket: str = ""
    prefix: str = ""


def parse_store_url(url: str) -> StoreUrl:
    """Parse a store URL; raise :class:`InvalidStoreUrl` naming the problem."""
    if not url:
        raise InvalidStoreUrl("empty store URL")
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return _parse_s3(url, bucket, prefix)
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidStoreUrl(
                f"file URL {url!r} names host {parts.netloc!r}; use file:///absolute/path or a plain path"
            )
        if parts.query or parts.fragment:
            raise InvalidStoreUrl(f"file URL {url!r} has a query or fragment")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise InvalidStoreUrl(f"file URL {url!r} has no absolute path")
        return StoreUrl("file", path=Path(path))
    if "://" in url:
        raise InvalidStoreUrl(f"unsupported store URL scheme {parts.scheme!r} in {url!r}: expected file:// or s3://")
    return StoreUrl("file", path=Path(url).absolute())


def _parse_s3(url: str, bucket: str, prefix: str) -> StoreUrl:
    if "@" in bucket or ":" in bucket:
        raise InvalidStoreUrl("s3 URL must be s3://bucket/prefix (no credentials or port; use endpoint_url)")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidStoreUrl(f"s3 URL {url!r}: {bucket!r} is not a valid bucket name")
    if prefix.endswith("/"):
        prefix = prefix[:-1]
    if prefix:
        try:
            check_key(prefix)
        except InvalidKey as exc:
            raise InvalidStoreUrl(f"s3 URL {url!r}: bad prefix: {exc}") from exc
    return StoreUrl("s3", bucket=bucket, prefix=prefix)
