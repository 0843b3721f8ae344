"""An S3 (or S3-compatible) object store, ``s3://bucket/prefix``, via boto3.

Rules:

* boto3 is imported lazily (DAG parsing imports this package).  Credentials
  come from boto3's default chain (environment, profile, instance role) and
  are never logged or put in messages.
* ``endpoint_url`` set means an S3-compatible store (MinIO, Ceph, moto):
  path-style addressing, and ``request_checksum_calculation`` /
  ``response_checksum_validation`` = ``when_required`` (many such stores
  reject or mishandle the newer default CRC checksums).  Without it, AWS
  defaults apply (virtual-hosted addressing, CRC32 on uploads).
* Every put records our SHA-256 of the content as user metadata ``sha256``
  (the checksum of record: multipart ETags are not MD5s).  Files are hashed
  in one streaming pass, then uploaded in a second, so a file must not
  change while it is being put.
* Content below ``multipart_threshold`` goes in one ``PutObject``; larger
  content as a multipart upload (parts of ``multipart_chunksize``, at most
  ``max_concurrency`` in flight), aborted on any failure so no parts linger.
  The multipart upload is done here rather than by boto3's TransferConfig
  machinery (s3transfer) because s3transfer does not forward ``IfNoneMatch``
  to ``CompleteMultipartUpload``.
* ``if_absent=True`` is write-once and atomic on the server:
  ``PutObject(IfNoneMatch="*")`` or ``CompleteMultipartUpload(IfNoneMatch="*")``;
  412 PreconditionFailed and 409 ConditionalRequestConflict (a concurrent
  conditional write to the same key) become :class:`ObjectExists`.  A HEAD
  before a multipart upload only fails fast; it is not the guarantee.  The
  guarantee needs a server that honours If-None-Match (AWS S3 since 2024-08,
  recent MinIO, moto >= 5); one that ignores the header silently overwrites.
* ``delete`` is idempotent; ``presign`` checks that the object exists first.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from .base import (ObjectExists, ObjectInfo, ObjectMissing, StoreError, check_child_prefix, check_key,
                   check_prefix, join_key)
from .url import parse_store_url

MiB = 1 << 20
MIN_PART = 5 * MiB  # S3 minimum for every part but the last
MAX_PART = 5 * 1024 * MiB
MAX_PARTS = 10_000
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4 limit
_HASH_BLOCK = MiB
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}
_EXISTS_CODES = {"412", "PreconditionFailed", "ConditionalRequestConflict"}

ReadPart = Callable[[int, int], bytes]


def make_s3_client(endpoint_url: str | None = None, region: str | None = None) -> Any:
    """A boto3 S3 client configured as in the module docstring (default credential chain)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session(region_name=region)
    checksums = "when_required" if endpoint_url else "when_supported"
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": "path" if endpoint_url else "auto"},
        request_checksum_calculation=checksums,
        response_checksum_validation=checksums,
        retries={"mode": "standard"},
    )
    return session.client(
        "s3", endpoint_url=endpoint_url or None, region_name=session.region_name or "us-east-1", config=config
    )


class S3Store:
    """Objects under ``s3://bucket/prefix``; a key ``k`` is stored as ``prefix/k``."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        client: Any,
        *,
        multipart_threshold: int = 8 * MiB,
        multipart_chunksize: int = 8 * MiB,
        max_concurrency: int = 4,
    ) -> None:
        if prefix:
            check_key(prefix)
        if not 1 <= multipart_threshold <= MAX_PART:
            raise ValueError(f"multipart_threshold must be 1..{MAX_PART} bytes (single PUT limit)")
        if not MIN_PART <= multipart_chunksize <= MAX_PART:
            raise ValueError(f"multipart_chunksize must be {MIN_PART}..{MAX_PART} bytes (S3 part size limits)")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.bucket, self.prefix, self.client = bucket, prefix, client
        self.multipart_threshold, self.multipart_chunksize = multipart_threshold, multipart_chunksize
        self.max_concurrency = max_concurrency
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"

    @classmethod
    def from_url(
        cls, url: str, *, endpoint_url: str | None = None, region: str | None = None, **options: int
    ) -> S3Store:
        """Open ``s3://bucket[/prefix]`` with a fresh client; ``options`` as in the constructor."""
        parsed = parse_store_url(url)
        if parsed.kind != "s3":
            raise StoreError(f"not an s3:// URL: {url!r}")
        return cls(parsed.bucket, parsed.prefix, make_s3_client(endpoint_url, region), **options)

    def __repr__(self) -> str:
        return f"S3Store({self.url!r})"

    def _key(self, key: str) -> str:
        return check_key(join_key(self.prefix, check_key(key)))  # the second check: total length

    def _fail(self, exc: Exception, action: str, key: str) -> StoreError:
        """Map a botocore error to our errors (message names store and key only)."""
        from botocore.exceptions import ClientError

        if isinstance(exc, ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in _MISSING_CODES or (status == "404" and code != "NoSuchBucket"):
                return ObjectMissing(f"no object {key!r} in {self.url}")
            if code in _EXISTS_CODES:
                return ObjectExists(f"object {key!r} already exists in {self.url} (write-once put refused: {code})")
            return StoreError(f"{action} {key!r} in {self.url} failed: {code or status}: {exc}")
        return StoreError(f"{action} {key!r} in {self.url} failed: {type(exc).__name__}: {exc}")

    def _call(self, action: str, key: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(Bucket=self.bucket, **kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, action, key) from exc

    # ---- writes -------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> ObjectInfo:
        view = memoryview(data)
        sha256 = hashlib.sha256(view).hexdigest()
        return self._put(key, len(data), sha256, lambda off, n: bytes(view[off : off + n]), data, if_absent)

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> ObjectInfo:
        check_key(key)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
            fh.seek(0)
            fd = fh.fileno()

            def read_part(offset: int, length: int) -> bytes:
                chunks, got = [], 0
                while got < length:
                    chunk = os.pread(fd, length - got, offset + got)
                    if not chunk:
                        raise StoreError(f"{path} shrank while being put to {self.url} as {key!r}")
                    chunks.append(chunk)
                    got += len(chunk)
                return b"".join(chunks)

            return self._put(key, size, sha256, read_part, fh, if_absent)

    def _put(
        self, key: str, size: int, sha256: str, read_part: ReadPart, body: bytes | BinaryIO, if_absent: bool
    ) -> ObjectInfo:
        full = self._key(key)
        condition = {"IfNoneMatch": "*"} if if_absent else {}
        if size < self.multipart_threshold:
            self._call(
                "put", key, self.client.put_object, Key=full, Body=body, ContentLength=size,
                Metadata={"sha256": sha256}, **condition,
            )
        else:
            if if_absent and self.exists(key):  # fail fast only; the conditional complete is the guarantee
                raise ObjectExists(f"object {key!r} already exists in {self.url} (write-once put refused)")
            self._multipart(key, full, size, sha256, read_part, condition)
        return ObjectInfo(key, size, sha256)

    def _multipart(
        self, key: str, full: str, size: int, sha256: str, read_part: ReadPart, condition: dict[str, str]
    ) -> None:
        chunk = max(self.multipart_chunksize, math.ceil(size / MAX_PARTS / MiB) * MiB)
        crc = self.client.meta.config.request_checksum_calculation == "when_supported"
        algo = {"ChecksumAlgorithm": "CRC32"} if crc else {}
        upload = self._call(
            "start multipart upload of", key, self.client.create_multipart_upload,
            Key=full, Metadata={"sha256": sha256}, **algo,
        )
        upload_id = upload["UploadId"]

        def send(number: int) -> dict[str, Any]:
            offset = (number - 1) * chunk
            data = read_part(offset, min(chunk, size - offset))
            resp = self._call(
                "upload part of", key, self.client.upload_part,
                Key=full, UploadId=upload_id, PartNumber=number, Body=data, **algo,
            )
            part = {"ETag": resp["ETag"], "PartNumber": number}
            if crc and "ChecksumCRC32" in resp:
                part["ChecksumCRC32"] = resp["ChecksumCRC32"]
            return part

        completed = False
        try:
            with ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="s3-part") as pool:
                futures = [pool.submit(send, n) for n in range(1, math.ceil(size / chunk) + 1)]
                try:
                    parts = [f.result() for f in futures]
                finally:
                    for f in futures:
                        f.cancel()
            self._call(
                "complete multipart upload of", key, self.client.complete_multipart_upload,
                Key=full, UploadId=upload_id, MultipartUpload={"Parts": parts}, **condition,
            )
            completed = True
        finally:
            if not completed:
                self._abort(full, upload_id)

    def _abort(self, full: str, upload_id: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except (ClientError, BotoCoreError):
            pass  # the original error is what matters; a bucket lifecycle rule should reap stale uploads

    def delete(self, key: str) -> None:
        self._call("delete", key, self.client.delete_object, Key=self._key(key))

    # ---- reads --------------------------------------------------------------
    def info(self, key: str) -> ObjectInfo:
        head = self._call("head", key, self.client.head_object, Key=self._key(key))
        return ObjectInfo(key, int(head["ContentLength"]), head.get("Metadata", {}).get("sha256"))

    def exists(self, key: str) -> bool:
        try:
            self.info(key)
        except ObjectMissing:
            return False
        return True

    def open(self, key: str) -> BinaryIO:
        """A botocore StreamingBody (read/readinto/iter_chunks; verifies the length at EOF); close it."""
        return self._call("get", key, self.client.get_object, Key=self._key(key))["Body"]

    def get_bytes(self, key: str) -> bytes:
        with self.open(key) as body:
            return body.read()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        check_prefix(prefix)  # here, not in the generator: bad prefixes fail at the call
        return self._list(prefix)

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError

        root = self.prefix + "/" if self.prefix else ""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=root + prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(root):]
                    if key.endswith("/"):
                        continue  # a console "folder" marker, not an object
                    yield ObjectInfo(key, int(obj["Size"]), None)
        except (ClientError, BotoCoreError) as exc:
            raise self._fail(exc, "list", prefix) from exc

    # ---- scoping ------------------------------------------------------------
    def presign(self, key: str, expires_seconds: int) -> str:
        if not 1 <= expires_seconds <= MAX_PRESIGN_SECONDS:
            raise StoreError(f"expires_seconds must be 1..{MAX_PRESIGN_SECONDS} (SigV4 limit), got {expires_seconds}")
        if not self.exists(key):
            raise ObjectMissing(f"no object {key!r} in {self.url}; refusing to pre-sign a dead link")
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=expires_seconds
        )

    def child(self, prefix: str) -> S3Store:
        sub = check_child_prefix(prefix)
        full = join_key(self.prefix, sub)
        check_key(full)
        return S3Store(
            self.bucket, full, self.client, multipart_threshold=self.multipart_threshold,
            multipart_chunksize=self.multipart_chunksize, max_concurrency=self.max_concurrency,
        )
