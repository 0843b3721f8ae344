"""Object stores for landing, staging and releases: a local directory or S3 (or S3-compatible).

Both implement :class:`Store`; pick one by URL with :func:`open_store`::

    store = open_store("file:///work/releases")            # or a plain path
    store = open_store("s3://bucket/releases", endpoint_url="http://minio:9000")
    store.put_file("study-7/v1/person.parquet", path, if_absent=True)   # write-once
    partner = store.child("study-7/partner-fi")            # sees only its prefix
    url = partner.presign("v1/person.parquet", 3600)       # S3 only

Key rules, write atomicity and checksums: see :mod:`connectors.stores.base`,
:mod:`connectors.stores.local` and :mod:`connectors.stores.s3`.  Importing
this package does not import boto3.
"""

from __future__ import annotations

from .base import (
    InvalidKey,
    InvalidStoreUrl,
    ObjectExists,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreError,
    check_key,
)
from .local import LocalStore
from .url import StoreUrl, parse_store_url

__all__ = [
    "InvalidKey",
    "InvalidStoreUrl",
    "LocalStore",
    "ObjectExists",
    "ObjectInfo",
    "ObjectMissing",
    "Store",
    "StoreError",
    "StoreUrl",
    "check_key",
    "open_store",
    "parse_store_url",
]


def open_store(url: str, *, endpoint_url: str | None = None, region: str | None = None) -> Store:
    """Open the store named by ``url``: ``file:///abs/dir``, a plain path, or ``s3://bucket[/prefix]``.

    ``endpoint_url`` (an S3-compatible server) and ``region`` apply to s3:// only and are
    ignored for local stores (so one site setting can be passed for every store);
    credentials come from boto3's default chain.
    """
    parsed = parse_store_url(url)
    if parsed.kind == "file":
        assert parsed.path is not None
        return LocalStore(parsed.path)
    from .s3 import S3Store, make_s3_client

    return S3Store(parsed.bucket, parsed.prefix, make_s3_client(endpoint_url, region))
