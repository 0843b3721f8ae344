"""Release manifests, publishing and partner-side verification (releases.manifest, .publish, .verify).

Both stores: a local folder, and S3 through moto's threaded server on 127.0.0.1 (a real HTTP
endpoint).  Covers manifest contents and validation, publish + verify, a publish interrupted by an
exception and by SIGKILL (mid multipart upload on S3) then resumed, overwrite attempts, conflicts,
a lost manifest race, tampered / deleted / extra objects, a folder edited after build, pre-signed links.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from connectors.stores import InvalidKey, LocalStore, Store, StoreError, check_key, open_store
from releases.manifest import (
    MANIFEST_NAME,
    ManifestError,
    build_manifest,
    count_rows,
    load_manifest,
    manifest_bytes,
    write_manifest,
)
from releases.publish import (
    InvalidReleaseName,
    LocalReleaseChanged,
    PublishConflict,
    PublishError,
    PublishProgress,
    ReleaseExists,
    ReleaseNotPublished,
    presign_release,
    publish,
    release_prefix,
)
from releases.verify import Difference, verify_release

REPO = Path(__file__).resolve().parents[3]
MiB = 1 << 20
CSV_TEXT = 'id,note\n1,"two\nlines"\n2,plain\n3,"say ""hi"""\n'  # 4 data lines, 3 records
NDJSON_TEXT = '{"resourceType":"Patient","id":"a"}\n\n{"resourceType":"Patient","id":"b"}\n  \n{"id":"c"}'
PATHS = ["counts.csv", "fhir/Patient.ndjson", "omop/person.parquet", "report/index.html", "summary.json"]
META = {
    "release_id": "r1",
    "study_id": "study-7",
    "permit_id": "THL/1234/14.02.00/2025",
    "created": "2025-01-02T03:04:05Z",
    "code_version": "0.1.0+abc123",
    "vocabulary_versions": {"SNOMED": "2024-07-01", "ICD10": "2019"},
    "source_runs": ["run-20250101-1", "run-20250101-2"],
    "site": "fi-helsinki",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_release(folder: Path, *, variant: str = "a", bulk: int = 0, meta: dict[str, Any] | None = None) -> Path:
    """A small release folder with its manifest; ``variant`` changes the content, ``bulk`` adds omop/bulk.bin."""
    folder.mkdir(parents=True)
    (folder / "omop").mkdir()
    (folder / "fhir").mkdir()
    (folder / "report").mkdir()
    table = pa.table({"person_id": list(range(5)), "year_of_birth": [1950, 1960, 1970, 1980, 1990]})
    pq.write_table(table, folder / "omop" / "person.parquet")
    (folder / "counts.csv").write_text(CSV_TEXT, encoding="utf-8")
    (folder / "fhir" / "Patient.ndjson").write_text(NDJSON_TEXT, encoding="utf-8")
    (folder / "summary.json").write_text(json.dumps({"variant": variant, "persons": 5}), encoding="utf-8")
    (folder / "report" / "index.html").write_text(f"<html><body>Release {variant} – Ä</body></html>", encoding="utf-8")
    if bulk:
        (folder / "omop" / "bulk.bin").write_bytes(os.urandom(bulk))
    write_manifest(folder, build_manifest(folder, meta or META))
    return folder


def snapshot(store: Store) -> dict[str, bytes]:
    return {o.key: store.get_bytes(o.key) for o in store.list()}


# ---- fixtures (the pattern of tests/unit/connectors/test_stores.py) ---------------------------------------
# moto_endpoint, aws_env, s3_client, bucket: tests/conftest.py


@pytest.fixture(params=["local", "s3"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The deliveries root of a store; releases go to ``root.child(release_prefix(...))``."""
    if request.param == "local":
        return open_store((tmp_path / "deliveries").as_uri())
    bucket = request.getfixturevalue("bucket")
    return open_store(f"s3://{bucket}/deliveries", endpoint_url=request.getfixturevalue("moto_endpoint"))


@pytest.fixture
def store(root: Store) -> Store:
    return root.child(release_prefix("r1", "partner-fi"))


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return make_release(tmp_path / "release")


# ---- manifest ----------------------------------------------------------------------------------------------
def test_manifest_contents_and_determinism(release: Path, tmp_path: Path) -> None:
    data = (release / MANIFEST_NAME).read_bytes()
    manifest = load_manifest(data)
    assert [f["path"] for f in manifest["files"]] == PATHS
    by_path = {f["path"]: f for f in manifest["files"]}
    for path, entry in by_path.items():
        content = (release / path).read_bytes()
        assert entry["bytes"] == len(content) and entry["sha256"] == sha(content)
    assert CSV_TEXT.count("\n") - 1 == 4  # a naive line count would say 4 rows
    assert {p: e["rows"] for p, e in by_path.items()} == {
        "counts.csv": 3, "fhir/Patient.ndjson": 3, "omop/person.parquet": 5,
        "report/index.html": None, "summary.json": None,
    }
    assert {p: e["media_type"] for p, e in by_path.items()} == {
        "counts.csv": "text/csv", "fhir/Patient.ndjson": "application/x-ndjson",
        "omop/person.parquet": "application/vnd.apache.parquet", "report/index.html": "text/html",
        "summary.json": "application/json",
    }
    assert manifest["manifest_version"] == 1
    assert manifest["totals"] == {"files": 5, "bytes": sum(e["bytes"] for e in by_path.values())}
    assert {k: manifest[k] for k in META} == META  # metadata kept as given, "site" included
    assert data == json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False).encode() + b"\n"
    assert manifest_bytes(build_manifest(release, dict(reversed(list(META.items()))))) == data  # deterministic
    assert not [p.name for p in release.iterdir() if p.name.startswith(".")]  # no temp file left


def test_manifest_refuses_bad_folders_and_metadata(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    with pytest.raises(ManifestError, match="does not exist"):
        build_manifest(tmp_path / "absent", META)
    (folder / "a.csv").write_text("x\n1\n")
    for drop in ("created", "permit_id", "source_runs"):
        with pytest.raises(ManifestError, match=drop):
            build_manifest(folder, {k: v for k, v in META.items() if k != drop})
    for key, value, why in [("created", "2025-01-02T03:04:05+02:00", "UTC"), ("created", "2025-01-02", "UTC"),
                            ("study_id", "", "non-empty"), ("source_runs", "run-1", "run ids"),
                            ("vocabulary_versions", {"SNOMED": 2024}, "version strings"),
                            ("totals", {}, "may not set"), ("files", [], "may not set")]:
        with pytest.raises(ManifestError, match=why):
            build_manifest(folder, {**META, key: value})
    (folder / "link.csv").symlink_to(folder / "a.csv")
    with pytest.raises(ManifestError, match="symlink"):
        build_manifest(folder, META)
    (folder / "link.csv").unlink()
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(ManifestError, match="symlink"):
        build_manifest(folder, META)
    (folder / "sub").unlink()
    (folder / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(ManifestError, match="cannot count the rows of parquet file"):
        build_manifest(folder, META)


def test_load_manifest_rejects(release: Path) -> None:
    good = json.loads((release / MANIFEST_NAME).read_bytes())

    def mutated(change) -> bytes:
        m = json.loads(json.dumps(good))
        change(m)
        return json.dumps(m).encode()

    def set_file(field: str, value: Any):
        return lambda m: m["files"][0].__setitem__(field, value)

    cases = [
        (lambda m: m.__setitem__("manifest_version", 2), "unknown manifest_version 2"),
        (lambda m: m.__setitem__("manifest_version", True), "unknown manifest_version"),
        (lambda m: m.pop("study_id"), "lacks"),
        (lambda m: m["files"].append(dict(m["files"][0])), "twice"),
        (set_file("path", "/etc/passwd"), "absolute"),
        (set_file("path", "../other/x.csv"), "'..' segment"),
        (set_file("path", "a\\b.csv"), "backslash"),
        (set_file("path", MANIFEST_NAME), "itself"),
        (set_file("sha256", "ABC" + "0" * 61), "sha256"),
        (set_file("sha256", "0" * 63), "sha256"),
        (set_file("sha256", "0" * 64 + "\n"), "sha256"),
        (set_file("bytes", -1), "bytes"),
        (set_file("rows", 1.5), "rows"),
        (lambda m: m["files"][0].pop("media_type"), "exactly the keys"),
        (lambda m: m["totals"].__setitem__("bytes", 1), "totals"),
    ]
    for change, why in cases:
        with pytest.raises(ManifestError, match=why):
            load_manifest(mutated(change))
    for bad in (b"\xff\xfe", b"{not json", b"[]"):
        with pytest.raises(ManifestError):
            load_manifest(bad)
    assert load_manifest(mutated(lambda m: None)) == good


@settings(max_examples=150, deadline=None)
@given(st.text(st.sampled_from(list("ab./\\ .\x00é")), max_size=12))
def test_load_manifest_accepts_exactly_safe_paths(path: str) -> None:
    entry = {"path": path, "bytes": 1, "sha256": "0" * 64, "rows": None, "media_type": "text/plain"}
    data = json.dumps({**META, "manifest_version": 1, "files": [entry], "totals": {"files": 1, "bytes": 1}}).encode()
    try:
        check_key(path)
        safe = path != MANIFEST_NAME
    except InvalidKey:
        safe = False
    if safe:
        assert load_manifest(data)["files"][0]["path"] == path
    else:
        with pytest.raises(ManifestError):
            load_manifest(data)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.sampled_from(list('ab {}"\t\r')), max_size=6), max_size=12), st.integers(1, 7))
def test_ndjson_rows_match_non_blank_lines_across_blocks(lines: list[str], block: int) -> None:
    data = "\n".join(lines).encode()
    expected = sum(1 for line in data.split(b"\n") if line.strip(b" \t\r"))
    assert count_rows(io.BytesIO(data), "ndjson", block_size=block) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(*[st.text(st.sampled_from(list('ab,"\n\r é')), max_size=5)] * 2), max_size=8))
def test_csv_rows_count_records_not_lines(rows: list[tuple[str, str]]) -> None:
    out = io.StringIO(newline="")
    csv.writer(out).writerows([("x", "y"), *rows])  # RFC 4180: CRLF ends records, fields with CR or LF quoted
    assert count_rows(io.BytesIO(out.getvalue().encode()), "csv") == len(rows)


# ---- publish and verify --------------------------------------------------------------------------------------
def test_release_prefix() -> None:
    assert release_prefix("r1", "partner-fi") == "partner-fi/r1" and release_prefix("r1") == "r1"
    for bad in ("", "a/b", "..", ".cbtmp-x", "x\\y"):
        with pytest.raises(InvalidReleaseName):
            release_prefix(bad)
        with pytest.raises(InvalidReleaseName):
            release_prefix("r1", bad)


def test_publish_then_verify(release: Path, store: Store, root: Store) -> None:
    report = publish(release, store)
    assert report.uploaded == tuple(PATHS) and report.skipped == () and not report.already_published
    assert report.bytes_uploaded == sum((release / p).stat().st_size for p in PATHS)
    assert report.store_url == store.url and report.store_url.endswith("/deliveries/partner-fi/r1")
    assert report.manifest_sha256 == sha((release / MANIFEST_NAME).read_bytes()) and report.seconds >= 0
    assert snapshot(store) == {p: (release / p).read_bytes() for p in [*PATHS, MANIFEST_NAME]}
    assert [o.key for o in root.list()] == [f"partner-fi/r1/{p}" for p in sorted([*PATHS, MANIFEST_NAME])]

    result = verify_release(store, expected_manifest_sha256=report.manifest_sha256)
    assert result.ok and result.status == "ok" and result.release_id == "r1"
    assert (result.files_checked, result.bytes_checked) == (5, report.bytes_uploaded)
    assert result.missing == result.altered == result.extra == ()
    assert result.format_report() == [f"OK: release r1 at {store.url}: 5 files, {report.bytes_uploaded} bytes match the manifest"]
    assert result.to_dict()["ok"] is True

    again = publish(release, store)  # same bytes: already published, nothing written
    assert again.already_published and again.uploaded == again.skipped == () and again.bytes_uploaded == 0


class Interrupted(Exception):
    pass


def test_interrupted_publish_resumes_without_duplicates(release: Path, store: Store) -> None:
    seen: list[PublishProgress] = []

    def stop_after_two(event: PublishProgress) -> None:
        seen.append(event)
        if event.done == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        publish(release, store, progress=stop_after_two)
    assert [(e.path, e.status, e.done, e.total) for e in seen] == [
        ("counts.csv", "uploaded", 1, 5), ("fhir/Patient.ndjson", "uploaded", 2, 5)]
    half = verify_release(store)
    assert half.status == "incomplete" and not half.ok and half.release_id is None
    assert half.message == "no manifest: the release was not published completely"
    assert half.extra == ("counts.csv", "fhir/Patient.ndjson")

    report = publish(release, store)
    assert report.skipped == ("counts.csv", "fhir/Patient.ndjson")
    assert report.uploaded == tuple(PATHS[2:])
    assert [o.key for o in store.list()] == sorted([*PATHS, MANIFEST_NAME])  # no duplicates, no leftovers
    assert verify_release(store).ok


def test_resume_hashes_objects_stored_without_our_checksum(release: Path, bucket: str, moto_endpoint: str,
                                                            s3_client) -> None:
    store = open_store(f"s3://{bucket}/d", endpoint_url=moto_endpoint).child("r1")
    s3_client.put_object(Bucket=bucket, Key="d/r1/counts.csv", Body=CSV_TEXT.encode())  # no sha256 metadata
    s3_client.put_object(Bucket=bucket, Key="d/r1/summary.json", Body=b"{}")
    assert store.info("counts.csv").sha256 is None
    with pytest.raises(PublishConflict, match="summary.json"):
        publish(release, store)
    store.delete("summary.json")
    report = publish(release, store)
    assert report.skipped == ("counts.csv",) and report.uploaded == tuple(PATHS[1:])
    assert verify_release(store).ok


KILL_SCRIPT = r"""
import json, os, signal, sys
from pathlib import Path
from releases.publish import publish
args = json.loads(sys.argv[1])
if args["kind"] == "s3":
    from connectors.stores.s3 import S3Store
    store = S3Store.from_url(args["url"], endpoint_url=args["endpoint"], multipart_threshold=1 << 20,
                             multipart_chunksize=5 << 20, max_concurrency=1)
    def die(request, **kwargs):  # SIGKILL as the second part of omop/bulk.bin is about to be sent
        if "partNumber=2" in request.url:
            os.kill(os.getpid(), signal.SIGKILL)
    store.client.meta.events.register("before-send.s3.UploadPart", die)
else:
    from connectors.stores import LocalStore
    store, calls, real_fsync = LocalStore(args["url"]), [], os.fsync
    def fsync(fd):  # SIGKILL after writing omop/bulk.bin to its temp file, before it is linked into place
        calls.append(fd)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        real_fsync(fd)
    os.fsync = fsync
publish(Path(args["folder"]), store)
"""


def test_publish_killed_mid_upload_then_resumed(tmp_path: Path, store: Store, root: Store, request) -> None:
    folder = make_release(tmp_path / "big", bulk=6 * MiB + 17)
    kind = "local" if isinstance(store, LocalStore) else "s3"
    args = {"kind": kind, "folder": str(folder), "url": str(store.root) if kind == "local" else store.url,
            "endpoint": request.getfixturevalue("moto_endpoint") if kind == "s3" else None}
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, json.dumps(args)], cwd=REPO, capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]

    done_before = ["counts.csv", "fhir/Patient.ndjson"]
    assert [o.key for o in store.list()] == done_before  # bulk.bin half-written, invisible
    if kind == "s3":
        uploads = request.getfixturevalue("s3_client").list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
        assert [u["Key"] for u in uploads] == [f"{store.prefix}/omop/bulk.bin"]  # killed mid multipart upload
    else:
        assert [p.name[:7] for p in (store.root / "omop").iterdir()] == [".cbtmp-"]  # only the temp file
    assert verify_release(store).status == "incomplete"

    report = publish(folder, store)
    assert report.skipped == tuple(done_before)
    assert report.uploaded == ("omop/bulk.bin", "omop/person.parquet", "report/index.html", "summary.json")
    assert [o.key for o in store.list()] == sorted([*PATHS, "omop/bulk.bin", MANIFEST_NAME])
    assert [o.key for o in root.list()] == [f"partner-fi/r1/{o.key}" for o in store.list()]
    final = verify_release(store)
    assert final.ok and final.files_checked == 6 and final.extra == ()


def test_overwrite_attempt_is_refused(release: Path, store: Store, tmp_path: Path) -> None:
    publish(release, store)
    before = snapshot(store)
    other = make_release(tmp_path / "other", variant="b", meta={**META, "created": "2025-02-01T00:00:00Z"})
    with pytest.raises(ReleaseExists, match="different release manifest"):
        publish(other, store)
    assert snapshot(store) == before
    assert verify_release(store).ok


def test_conflicting_or_foreign_objects_are_refused(release: Path, store: Store) -> None:
    store.put_bytes("summary.json", b'{"someone": "else"}')  # left by another release, no manifest
    with pytest.raises(PublishConflict, match="'summary.json' already exists .* not overwritten"):
        publish(release, store)
    assert [o.key for o in store.list()] == ["summary.json"]  # refused before anything was written
    assert store.get_bytes("summary.json") == b'{"someone": "else"}'
    store.delete("summary.json")
    store.put_bytes("notes/foreign.txt", b"x")
    with pytest.raises(PublishConflict, match="1 objects not in release r1 .*notes/foreign.txt"):
        publish(release, store)
    assert [o.key for o in store.list()] == ["notes/foreign.txt"]


class RacingStore:
    """Delegates to ``inner``; another publisher writes ``competitor`` as the manifest just before we do."""

    def __init__(self, inner: Store, competitor: bytes) -> None:
        self.inner, self.competitor = inner, competitor

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False):
        if key == MANIFEST_NAME:
            self.inner.put_bytes(key, self.competitor, if_absent=True)
        return self.inner.put_bytes(key, data, if_absent=if_absent)


def test_lost_manifest_race(release: Path, store: Store) -> None:
    data = (release / MANIFEST_NAME).read_bytes()
    assert publish(release, RacingStore(store.child("same"), data)).uploaded == tuple(PATHS)  # same bytes: fine
    with pytest.raises(ReleaseExists):
        publish(release, RacingStore(store.child("other"), data.replace(b"study-7", b"study-8")))
    assert store.child("other").get_bytes(MANIFEST_NAME) == data.replace(b"study-7", b"study-8")


def test_verify_reports_tampered_deleted_and_extra(release: Path, store: Store, request) -> None:
    publish(release, store)
    original = (release / "summary.json").read_bytes()
    forged = original.replace(b'"a"', b'"z"')
    assert len(forged) == len(original) and forged != original
    if isinstance(store, LocalStore):
        store.put_bytes("summary.json", forged)  # a plain put overwrites
    else:  # forge our sha256 metadata too: verify must hash the content, not trust metadata
        request.getfixturevalue("s3_client").put_object(
            Bucket=store.bucket, Key=f"{store.prefix}/summary.json", Body=forged, Metadata={"sha256": sha(original)})
        assert store.info("summary.json").sha256 == sha(original)
    result = verify_release(store)
    assert result.status == "failed" and not result.ok and result.missing == () and result.extra == ()
    assert [(a.path, a.differences) for a in result.altered] == [
        ("summary.json", (Difference("sha256", sha(original), sha(forged)),))]

    store.put_bytes("counts.csv", b"id,note\n1,a\n")  # fewer rows, other size
    store.delete("fhir/Patient.ndjson")
    store.put_bytes("fhir/Observation.ndjson", b"{}\n")
    result = verify_release(store)
    assert result.missing == ("fhir/Patient.ndjson",) and result.extra == ("fhir/Observation.ndjson",)
    assert [(a.path, a.fields) for a in result.altered] == [
        ("counts.csv", ("size", "sha256", "rows")), ("summary.json", ("sha256",))]
    assert result.altered[0].differences[2] == Difference("rows", 3, 1)
    lines = result.format_report()
    assert lines[0].startswith("FAILED: release r1") and "1 missing, 2 altered of 5 files; 1 extra" in lines[0]
    assert lines[1:] == [
        "MISSING  fhir/Patient.ndjson",
        f"ALTERED  counts.csv: size expected {len(CSV_TEXT.encode())} found 12; sha256 expected "
        f"{sha(CSV_TEXT.encode())} found {sha(b'id,note' + bytes([10]) + b'1,a' + bytes([10]))}; rows expected 3 found 1",
        f"ALTERED  summary.json: sha256 expected {sha(original)} found {sha(forged)}",
        "EXTRA    fhir/Observation.ndjson (not in the manifest; warning)",
    ]
    assert result.to_dict()["altered"][0]["differences"][0] == {"field": "size", "expected": len(CSV_TEXT.encode()), "found": 12}


def test_verify_extra_only_is_ok_and_unreadable_rows_and_manifest_checks(release: Path, store: Store) -> None:
    publish(release, store)
    store.put_bytes("README.txt", b"hello partner")
    result = verify_release(store)
    assert result.ok and result.extra == ("README.txt",) and "1 extra objects (warning)" in result.message
    store.put_bytes("omop/person.parquet", b"garbage")
    (altered,) = verify_release(store).altered
    assert altered.path == "omop/person.parquet" and altered.fields == ("size", "sha256", "rows")
    assert str(altered.differences[2].found).startswith("unreadable (cannot count the rows of parquet file")
    wrong = verify_release(store, expected_manifest_sha256="0" * 64)
    assert [a.path for a in wrong.altered] == [MANIFEST_NAME, "omop/person.parquet"]
    store.put_bytes(MANIFEST_NAME, b'{"manifest_version": 9}')
    broken = verify_release(store)
    assert broken.status == "invalid" and "unknown manifest_version 9" in broken.message


def test_publish_refuses_a_folder_changed_after_build(release: Path, store: Store) -> None:
    csv_path = release / "counts.csv"
    csv_path.write_text(CSV_TEXT.replace("plain", "PLAIN"), encoding="utf-8")  # same size, other content
    with pytest.raises(LocalReleaseChanged, match=r"ALTERED  counts.csv: sha256"):
        publish(release, store)
    csv_path.write_text(CSV_TEXT, encoding="utf-8")
    (release / "late.csv").write_text("x\n1\n")
    with pytest.raises(LocalReleaseChanged, match="EXTRA    late.csv"):
        publish(release, store)
    (release / "late.csv").unlink()
    (release / "summary.json").unlink()
    with pytest.raises(LocalReleaseChanged, match="MISSING  summary.json"):
        publish(release, store)
    (release / MANIFEST_NAME).unlink()
    with pytest.raises(PublishError, match="no manifest.json"):
        publish(release, store)
    assert list(store.list()) == []  # nothing was written


def test_presigned_links_download_the_release(release: Path, bucket: str, moto_endpoint: str, tmp_path: Path) -> None:
    store = open_store(f"s3://{bucket}/deliveries", endpoint_url=moto_endpoint).child(release_prefix("r1", "partner-fi"))
    with pytest.raises(ReleaseNotPublished):
        presign_release(store, 600)
    publish(release, store)
    links = presign_release(store, 600)
    assert sorted(links) == sorted([*PATHS, MANIFEST_NAME])
    for path, url in links.items():
        assert url.startswith(f"{moto_endpoint}/{bucket}/deliveries/partner-fi/r1/") and "X-Amz-Expires=600" in url
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == (release / path).read_bytes()
    local = LocalStore(tmp_path / "local")
    shutil.copytree(release, tmp_path / "local")
    with pytest.raises(StoreError, match="cannot pre-sign"):
        presign_release(local, 600)
