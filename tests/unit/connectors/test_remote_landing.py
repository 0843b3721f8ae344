"""A landing zone on S3 (moto server): fetched into the run folder intact, re-used on retry, refused when
an object does not arrive as listed; a whole Taiwan run from s3:// gives the tables of a local run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connectors.landing import LandingFetchError, fetch_landing, is_remote


def _upload(s3_client, bucket: str, prefix: str, files: dict[str, bytes], sha_meta: bool = True) -> None:
    for key, data in files.items():
        meta = {"sha256": hashlib.sha256(data).hexdigest()} if sha_meta else {}
        s3_client.put_object(Bucket=bucket, Key=f"{prefix}/{key}", Body=data, Metadata=meta)


def test_is_remote():
    assert is_remote("s3://b/p") and not is_remote("/data/landing") and not is_remote("file:///data")


def test_fetch_copies_every_object_with_its_digest(s3_client, bucket, moto_endpoint, tmp_path):
    files = {"a.csv": b"x,y\n1,2\n", "sub/b.txt": "許功蓋".encode("cp950"), "empty.csv": b""}
    _upload(s3_client, bucket, "land", files)
    rep = fetch_landing(f"s3://{bucket}/land", tmp_path / "copy", endpoint_url=moto_endpoint)
    assert {o["key"]: o["sha256"] for o in rep["objects"]} == {
        k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    for key, data in files.items():
        assert (tmp_path / "copy" / key).read_bytes() == data
    assert rep["reused"] == 0 and rep["fetched_bytes"] == sum(len(v) for v in files.values())
    again = fetch_landing(f"s3://{bucket}/land", tmp_path / "copy", endpoint_url=moto_endpoint)  # a retry
    assert again["reused"] == 3 and again["fetched_bytes"] == 0
    assert not list((tmp_path / "copy").rglob(".*part-*")), "temporary files left behind"


def test_a_damaged_local_copy_is_fetched_again(s3_client, bucket, moto_endpoint, tmp_path):
    _upload(s3_client, bucket, "land", {"a.csv": b"1234567890"})
    fetch_landing(f"s3://{bucket}/land", tmp_path, endpoint_url=moto_endpoint)
    (tmp_path / "a.csv").write_bytes(b"XXXXXXXXXX")  # same size, other bytes
    rep = fetch_landing(f"s3://{bucket}/land", tmp_path, endpoint_url=moto_endpoint)
    assert rep["reused"] == 0 and (tmp_path / "a.csv").read_bytes() == b"1234567890"


def test_an_object_whose_digest_differs_from_its_metadata_is_refused(s3_client, bucket, moto_endpoint, tmp_path):
    s3_client.put_object(Bucket=bucket, Key="land/a.csv", Body=b"tampered", Metadata={"sha256": "0" * 64})
    with pytest.raises(LandingFetchError, match="a.csv arrived as 8 bytes with SHA-256"):
        fetch_landing(f"s3://{bucket}/land", tmp_path, endpoint_url=moto_endpoint)
    assert not (tmp_path / "a.csv").exists()


def test_an_empty_landing_prefix_is_an_error(s3_client, bucket, moto_endpoint, tmp_path):
    with pytest.raises(LandingFetchError, match="holds no object"):
        fetch_landing(f"s3://{bucket}/nothing", tmp_path, endpoint_url=moto_endpoint)


@pytest.mark.slow
def test_a_taiwan_run_from_s3_gives_the_tables_of_a_local_run(s3_client, bucket, moto_endpoint, tmp_path,
                                                              monkeypatch):
    from connectors.warehouse.checksums import table_checksums
    from crossbridge.pipeline import taiwan
    from crossbridge.settings import load_settings
    from crossbridge.synth.taiwan import generate_taiwan

    landing = tmp_path / "landing"
    generate_taiwan(landing, persons=60, years=(2015, 2016), seed=5)
    files = {str(p.relative_to(landing)): p.read_bytes() for p in landing.rglob("*") if p.is_file()}
    _upload(s3_client, bucket, "tw", files, sha_meta=False)
    monkeypatch.setenv("CROSSBRIDGE_SITE_SECRET", "remote-landing")
    sums = []
    for name, url in (("local", str(landing)), ("s3", f"s3://{bucket}/tw")):
        s = load_settings({"workdir": tmp_path / name, "landing": url, "s3_endpoint_url": moto_endpoint,
                           "fhir_export": False})
        run = taiwan.run_all(s, run_id=f"r-{name}")
        summary = run.summary()
        assert summary["reconciled"] is True, summary.get("reconciliation_problems")
        db = Path(run.path("omop.duckdb"))
        t = table_checksums(db)
        t.pop("cdm_source")
        sums.append((t, summary["rows_in"]))
        if name == "s3":
            fetched = run.stage_report("extract")["fetch"]
            assert len(fetched["objects"]) == len(files) and fetched["source"] == url
    assert sums[0] == sums[1]
