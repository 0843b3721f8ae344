"""Object stores: local directory and S3 (against moto's threaded server on 127.0.0.1, a real HTTP endpoint).

Covers put/get/list/info/sha256, write-once (if_absent) on both stores incl. multipart and a
server-side conflict, atomic local writes, child() scoping, presigned GET, key rules, missing
objects, URL parsing, client configuration, lazy boto3 import.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings, strategies as st

from connectors.stores import (
    InvalidKey,
    InvalidStoreUrl,
    LocalStore,
    ObjectExists,
    ObjectInfo,
    ObjectMissing,
    Store,
    StoreError,
    check_key,
    open_store,
    parse_store_url,
)
from connectors.stores.base import TEMP_PREFIX

MiB = 1 << 20
FAKE_SECRET = "fake-secret-key-never-shown"  # what tests/conftest.py aws_env sets


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- fixtures ---------------------------------------------------------------------------------------
# moto_endpoint, aws_env, s3_client, bucket: tests/conftest.py


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return open_store(str(tmp_path / "store"))
    bucket = request.getfixturevalue("bucket")
    return open_store(f"s3://{bucket}/root", endpoint_url=request.getfixturevalue("moto_endpoint"))


# ---- both stores --------------------------------------------------------------------------------------
def test_put_get_info_list(store: Store, tmp_path: Path) -> None:
    assert isinstance(store, Store)
    src = tmp_path / "src.bin"
    src.write_bytes(b"file content \x00\xff" * 1000)
    assert store.put_bytes("b/a.txt", b"hello") == ObjectInfo("b/a.txt", 5, sha(b"hello"))
    assert store.put_file("b/c/d.bin", src) == ObjectInfo("b/c/d.bin", 15000, sha(src.read_bytes()))
    store.put_bytes("b-side", b"")
    store.put_bytes("ä/許.txt", "許功蓋".encode())

    assert store.get_bytes("b/a.txt") == b"hello"
    with store.open("b/c/d.bin") as fh:
        assert fh.read(4) == b"file" and fh.read() == src.read_bytes()[4:]
    assert store.info("b/c/d.bin") == ObjectInfo("b/c/d.bin", 15000, sha(src.read_bytes()))
    assert store.info("b-side") == ObjectInfo("b-side", 0, sha(b""))
    assert store.exists("b/a.txt") and not store.exists("b/c") and not store.exists("nope")

    listed = list(store.list())
    assert [o.key for o in listed] == ["b-side", "b/a.txt", "b/c/d.bin", "ä/許.txt"]  # key (code point) order
    assert [o.size for o in listed] == [0, 5, 15000, 9] and {o.sha256 for o in listed} == {None}
    assert [o.key for o in store.list("b/")] == ["b/a.txt", "b/c/d.bin"]
    assert [o.key for o in store.list("b")] == ["b-side", "b/a.txt", "b/c/d.bin"]  # a string prefix, as in S3
    assert [o.key for o in store.list("b/c/d")] == ["b/c/d.bin"]
    assert list(store.list("zz")) == []

    store.put_bytes("b/a.txt", b"replaced")  # plain put overwrites
    assert store.info("b/a.txt") == ObjectInfo("b/a.txt", 8, sha(b"replaced"))
    store.delete("b/a.txt")
    store.delete("b/a.txt")  # idempotent
    assert not store.exists("b/a.txt")
    assert [o.key for o in store.list("b/")] == ["b/c/d.bin"]


def test_if_absent_refuses_and_keeps_original(store: Store, tmp_path: Path) -> None:
    store.put_bytes("rel/v1.parquet", b"original", if_absent=True)
    with pytest.raises(ObjectExists, match="rel/v1.parquet"):
        store.put_bytes("rel/v1.parquet", b"intruder", if_absent=True)
    src = tmp_path / "other.bin"
    src.write_bytes(b"from a file")
    with pytest.raises(ObjectExists):
        store.put_file("rel/v1.parquet", src, if_absent=True)
    assert store.get_bytes("rel/v1.parquet") == b"original"
    assert store.info("rel/v1.parquet").sha256 == sha(b"original")
    assert store.put_file("rel/v2.parquet", src, if_absent=True).sha256 == sha(b"from a file")
    assert [o.key for o in store.list()] == ["rel/v1.parquet", "rel/v2.parquet"]  # no temp files or leftovers


def test_child_is_scoped_to_its_prefix(store: Store) -> None:
    store.put_bytes("partner-a/x.csv", b"a")
    store.put_bytes("partner-ab/y.csv", b"ab")
    store.put_bytes("other/z.csv", b"z")
    child = store.child("partner-a")
    assert child.url == store.url + "/partner-a"
    assert [o.key for o in child.list()] == ["x.csv"]  # not partner-ab/y.csv, not other/
    assert child.get_bytes("x.csv") == b"a"
    for escape in ("../other/z.csv", "/other/z.csv", "..", "../partner-ab/y.csv"):
        with pytest.raises(InvalidKey):
            child.get_bytes(escape)
    with pytest.raises(ObjectMissing):
        child.get_bytes("other/z.csv")  # resolved inside the child: partner-a/other/z.csv
    child.put_bytes("sub/new.csv", b"n")
    assert store.get_bytes("partner-a/sub/new.csv") == b"n"
    grandchild = child.child("sub/")
    assert [o.key for o in grandchild.list()] == ["new.csv"]
    assert [(o.key, o.size) for o in store.child("partner-a/sub").list()] == [("new.csv", 1)]
    for bad in ("", "../x", "a//b", "/abs"):
        with pytest.raises(InvalidKey):
            store.child(bad)


BAD_KEYS = ["", "/abs", "a//b", "a/", "../x", "a/../b", "a/./b", ".", "a\\b", "tab\there", "nul\x00",
            f"a/{TEMP_PREFIX}1", "x" * 256, "/".join(["abc"] * 300)]


def test_bad_keys_rejected_everywhere(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "s"
    src.write_bytes(b"x")
    for key in BAD_KEYS:
        for call in (store.put_bytes, store.get_bytes, store.info, store.exists, store.delete, store.open,
                     store.put_file, store.presign):
            args = {store.put_bytes: (b"x",), store.put_file: (src,), store.presign: (60,)}.get(call, ())
            with pytest.raises(InvalidKey):
                call(key, *args)
        with pytest.raises(InvalidKey):
            store.put_bytes(key, b"x", if_absent=True)
    assert list(store.list()) == []


def test_bad_list_prefix_rejected(store: Store) -> None:
    for prefix in ("../", "/a", "a//", "a\\"):
        with pytest.raises(InvalidKey):
            store.list(prefix)


def test_missing_objects(store: Store) -> None:
    store.put_bytes("dir/present", b"p")
    for key in ("absent", "dir/absent", "dir", "dir/present/under"):
        for call in (store.info, store.open, store.get_bytes):
            with pytest.raises(ObjectMissing, match="no object"):
                call(key)
        assert not store.exists(key)
        store.delete(key)  # no-op
    assert store.get_bytes("dir/present") == b"p"


# ---- local store --------------------------------------------------------------------------------------
def test_local_concurrent_write_once_has_one_winner(tmp_path: Path) -> None:
    st_ = LocalStore(tmp_path)
    barrier, wins, losses = threading.Barrier(8), [], []

    def writer(i: int) -> None:
        barrier.wait()
        try:
            st_.put_bytes("k", f"writer {i}".encode() * 10000, if_absent=True)
            wins.append(i)
        except ObjectExists:
            losses.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and len(losses) == 7
    assert st_.get_bytes("k") == f"writer {wins[0]}".encode() * 10000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k"]  # temp files cleaned up


def test_local_failed_write_leaves_old_object_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st_ = LocalStore(tmp_path)
    st_.put_bytes("a/k", b"old")

    def crash(fd: int) -> None:
        raise OSError(5, "simulated I/O error")

    monkeypatch.setattr("connectors.stores.local.os.fsync", crash)
    for if_absent in (False, True):
        with pytest.raises(OSError, match="simulated"):
            st_.put_bytes("a/k" if not if_absent else "a/new", b"new", if_absent=if_absent)
    assert st_.get_bytes("a/k") == b"old" and not st_.exists("a/new")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["k"]


def test_local_killed_writer_temp_is_invisible(tmp_path: Path) -> None:
    st_ = LocalStore(tmp_path)
    st_.put_bytes("a/k", b"data")
    (tmp_path / "a" / f"{TEMP_PREFIX}deadbeef").write_bytes(b"partial")  # what a SIGKILLed writer leaves
    assert [o.key for o in st_.list()] == [o.key for o in st_.list("a/")] == ["a/k"]
    assert st_.info("a/k") == ObjectInfo("a/k", 4, sha(b"data"))
    with pytest.raises(InvalidKey, match="reserved"):
        st_.get_bytes(f"a/{TEMP_PREFIX}deadbeef")


def test_local_presign_refused_and_layout(tmp_path: Path) -> None:
    st_ = LocalStore(tmp_path / "r")
    st_.put_bytes("x/y.txt", b"1")
    with pytest.raises(StoreError, match="cannot pre-sign"):
        st_.presign("x/y.txt", 60)
    assert (tmp_path / "r" / "x" / "y.txt").read_bytes() == b"1"  # plain files, no sidecars
    assert sorted(p.name for p in (tmp_path / "r").rglob("*")) == ["x", "y.txt"]
    st_.put_bytes("obj", b"o")
    with pytest.raises(StoreError, match="folder"):
        st_.put_bytes("x", b"over a folder")
    with pytest.raises(StoreError, match="parent"):
        st_.put_bytes("obj/under", b"o")
    assert list(LocalStore(tmp_path / "never-created").list()) == []


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(codec="utf-8"), max_size=40) | st.lists(st.sampled_from(["a", "..", ".", "", "b\\", "c"]), max_size=5).map("/".join))
def test_key_rule_properties(key: str) -> None:
    root = Path("/srv/store")
    try:
        check_key(key)
    except InvalidKey:
        segments = key.split("/")
        assert (not key or key.startswith("/") or "\\" in key or any(s in ("", ".", "..") for s in segments)
                or any(ord(c) < 32 or ord(c) == 127 for c in key) or len(key.encode()) > 1024
                or any(s.startswith(TEMP_PREFIX) or len(s.encode()) > 255 for s in segments))
        return
    resolved = Path(os.path.normpath(root.joinpath(*key.split("/"))))
    assert resolved.is_relative_to(root) and resolved != root
    assert resolved.relative_to(root).as_posix() == key  # the key is the path, nothing is normalised away


# ---- S3 store -------------------------------------------------------------------------------------------
def test_s3_multipart_write_once(bucket: str, moto_endpoint: str, s3_client, tmp_path: Path) -> None:
    from connectors.stores.s3 import S3Store

    st_ = S3Store.from_url(f"s3://{bucket}/big", endpoint_url=moto_endpoint,
                           multipart_threshold=MiB, multipart_chunksize=5 * MiB)
    data = os.urandom(11 * MiB + 123)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    assert st_.put_file("f.bin", src, if_absent=True) == ObjectInfo("f.bin", len(data), sha(data))
    head = s3_client.head_object(Bucket=bucket, Key="big/f.bin")
    assert head["ETag"].strip('"').endswith("-3")  # three parts: a multipart ETag, not an MD5
    assert head["Metadata"] == {"sha256": sha(data)}
    assert st_.get_bytes("f.bin") == data

    src.write_bytes(data[::-1])
    with pytest.raises(ObjectExists):
        st_.put_file("f.bin", src, if_absent=True)  # refused early by HEAD
    assert st_.info("f.bin").sha256 == sha(data)

    # The HEAD only fails fast: with it out of the way, the conditional CompleteMultipartUpload refuses.
    st_.exists = lambda key: False  # type: ignore[method-assign]
    with pytest.raises(ObjectExists, match="PreconditionFailed"):
        st_.put_bytes("f.bin", data[::-1], if_absent=True)
    assert st_.get_bytes("f.bin") == data
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []  # aborted, no stray parts

    assert st_.put_bytes("f.bin", data[::-1]).sha256 == sha(data[::-1])  # plain multipart put overwrites
    assert st_.get_bytes("f.bin") == data[::-1]


def test_s3_multipart_with_aws_default_checksums(bucket: str, moto_endpoint: str, aws_env: None) -> None:
    """The AWS code path (CRC32 checksums on parts, when_supported) completes too."""
    import boto3
    from botocore.config import Config

    from connectors.stores.s3 import S3Store

    client = boto3.client("s3", endpoint_url=moto_endpoint, config=Config(
        s3={"addressing_style": "path"}, request_checksum_calculation="when_supported"))
    st_ = S3Store(bucket, "crc", client, multipart_threshold=MiB, multipart_chunksize=5 * MiB)
    data = os.urandom(6 * MiB)
    assert st_.put_bytes("x", data, if_absent=True).sha256 == sha(data)
    assert st_.get_bytes("x") == data and st_.info("x") == ObjectInfo("x", len(data), sha(data))
    with pytest.raises(ObjectExists):
        st_.put_bytes("x", b"small", if_absent=True)


def test_s3_presign_downloads(bucket: str, moto_endpoint: str) -> None:
    st_ = open_store(f"s3://{bucket}/deliveries", endpoint_url=moto_endpoint).child("partner-fi")
    st_.put_bytes("v1/counts.csv", b"a,b\n1,2\n")
    url = st_.presign("v1/counts.csv", 120)
    parts = urlsplit(url)
    assert url.startswith(f"{moto_endpoint}/{bucket}/deliveries/partner-fi/v1/counts.csv?")  # path-style
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["120"] and query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert "X-Amz-Signature" in query and FAKE_SECRET not in url
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200 and resp.read() == b"a,b\n1,2\n"
    with pytest.raises(ObjectMissing, match="dead link"):
        st_.presign("v1/absent.csv", 60)
    for bad in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(StoreError, match="expires_seconds"):
            st_.presign("v1/counts.csv", bad)


def test_s3_errors_name_store_not_secrets(aws_env: None, moto_endpoint: str) -> None:
    st_ = open_store("s3://no-such-bucket-here/p", endpoint_url=moto_endpoint)
    with pytest.raises(StoreError) as err:
        st_.put_bytes("k", b"x")
    assert "s3://no-such-bucket-here/p" in str(err.value) and "NoSuchBucket" in str(err.value)
    assert FAKE_SECRET not in str(err.value) and "testing" not in str(err.value)
    with pytest.raises(StoreError, match="NoSuchBucket"):
        list(st_.list())


def test_s3_client_configuration(aws_env: None) -> None:
    from connectors.stores.s3 import make_s3_client

    compat = make_s3_client("http://127.0.0.1:9", region="eu-north-1").meta.config
    assert compat.s3["addressing_style"] == "path" and compat.region_name == "eu-north-1"
    assert compat.request_checksum_calculation == compat.response_checksum_validation == "when_required"
    aws = make_s3_client().meta.config
    assert aws.request_checksum_calculation == aws.response_checksum_validation == "when_supported"
    assert aws.s3["addressing_style"] == "auto" and aws.region_name == "us-east-1"


# ---- URLs and imports ------------------------------------------------------------------------------------
def test_store_urls(tmp_path: Path) -> None:
    assert parse_store_url("s3://my-bucket").prefix == "" and parse_store_url("s3://my-bucket/a/b/").prefix == "a/b"
    assert parse_store_url("s3://my-bucket/a/b").bucket == "my-bucket"
    assert parse_store_url("file:///srv/rel%20eases").path == Path("/srv/rel eases")
    assert parse_store_url("file://localhost/srv/x").path == Path("/srv/x")
    local = open_store(str(tmp_path / "d"), endpoint_url="http://ignored:9000")
    assert isinstance(local, LocalStore) and local.url == (tmp_path / "d").as_uri()
    assert open_store(local.url).url == local.url
    for bad, why in [("", "empty"), ("file://work/releases", "host"), ("file:relative", "absolute"),
                     ("ftp://h/x", "scheme"), ("s3://Bad_Bucket/x", "bucket"), ("s3://b/x", "bucket"),
                     ("s3://bucket/a/../b", "prefix"), ("s3://key:secret@bucket/x", "credentials")]:
        with pytest.raises(InvalidStoreUrl, match=why):
            open_store(bad)


def test_package_import_does_not_import_boto3() -> None:
    code = "import sys, connectors.stores; assert 'boto3' not in sys.modules and 'botocore' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[3])
