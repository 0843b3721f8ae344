"""Study releases end to end on the Taiwan DAG run: build (CLI), publish to a partner prefix, verify on the
partner side, tamper, re-publish refused; the release DAG run by hand; a planted identifier blocks a release."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from e2e_cli import REPO, crossbridge

pytestmark = pytest.mark.slow

KEY = {"CROSSBRIDGE_STUDY_KEY": "e2e-study-key-0123456789"}
STUDY = REPO / "studies" / "examples" / "t2d_taiwan.yml"


@pytest.fixture(scope="module")
def release(tw_run) -> dict:
    proc = crossbridge("release", "build", "--study", str(STUDY), "--workdir", str(tw_run["work"]), "--id", "rel-1",
                       "--json", env=KEY)
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {"report": report, "dir": Path(report["dir"]), "work": tw_run["work"], "run": tw_run}


def test_release_package_is_complete_filtered_and_pseudonymised(release, tw_run):
    r, folder = release["report"], release["dir"]
    assert folder == tw_run["work"] / "releases" / "rel-1" and not (folder.parent / "rel-1.partial").exists()
    assert r["source_run"] == tw_run["summary"]["run_id"]
    b = r["build"]
    assert 0 < b["persons"] < b["persons_in_source"]
    steps = {f["name"]: f for f in b["filters"]}
    assert {"permit.tables", "consent_withdrawn", "permit.population.age", "permit.years", "k_anonymity"} <= set(steps)
    assert b["k_anonymity"]["applied"] and b["k_anonymity"]["min_class_size"] >= 5
    manifest = json.loads((folder / "manifest.json").read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    assert {"omop/person.parquet", "omop_csv/person.csv", "fhir/Patient.ndjson", "data_dictionary.json",
            "quality/quality_summary.html", "coverage.json", "release.json", "catalogue.jsonld"} <= listed
    assert manifest["study_id"] == "t2d-tw-example" and manifest["permit_id"] == "HWDC-EXAMPLE-0001"
    assert manifest["source_runs"] == [tw_run["summary"]["run_id"]]
    quality = json.loads((folder / "quality" / "quality.json").read_text())
    assert quality["run_id"] == tw_run["summary"]["run_id"] and "database" not in quality  # no hub paths
    con = duckdb.connect()
    src = duckdb.connect(str(tw_run["dir"] / "omop.duckdb"), read_only=True)
    released = {r[0] for r in con.execute(f"SELECT person_id FROM read_parquet('{folder}/omop/person.parquet')").fetchall()}
    source_ids = {r[0] for r in src.execute("SELECT person_id FROM person").fetchall()}
    assert len(released) == b["persons"] and not released & source_ids  # study person ids, never the site's
    # every released row's person is a released person; day of birth never released
    assert con.execute(f"""SELECT count(*) FROM read_parquet('{folder}/omop/condition_occurrence.parquet')
                           WHERE person_id NOT IN (SELECT person_id FROM read_parquet('{folder}/omop/person.parquet'))
                           """).fetchall() == [(0,)]
    assert con.execute(f"SELECT count(day_of_birth) FROM read_parquet('{folder}/omop/person.parquet')"
                       ).fetchall() == [(0,)]
    # FHIR: the study pseudonym system, never the site's
    patient = json.loads((folder / "fhir" / "Patient.ndjson").read_text().splitlines()[0])
    systems = {i["system"] for i in patient["identifier"]}
    assert "urn:crossbridge:pseudonym:study:t2d-tw-example" in systems
    assert not any("pseudonym:taiwan" in s for s in systems)
    # the HealthDCAT-AP record counts what was released
    record = json.loads((folder / "catalogue.jsonld").read_text())
    text = json.dumps(record)
    assert str(b["persons"]) in text and "HWDC-EXAMPLE-0001" in text
    # the key never appears in anything written
    for p in folder.rglob("*"):
        if p.is_file():
            assert KEY["CROSSBRIDGE_STUDY_KEY"].encode() not in p.read_bytes(), p


def test_publish_verify_tamper_and_refuse_overwrite(release, tmp_path):
    store = tmp_path / "store"
    out = crossbridge("release", "publish", "rel-1", "--workdir", str(release["work"]), "--to", str(store),
                      "--partner", "fi-uh").stdout
    assert "published rel-1" in out and "manifest last" in out
    where = store / "fi-uh" / "rel-1"
    ok = crossbridge("release", "verify", "--from", str(where))
    assert ok.stdout.startswith("OK: release rel-1")
    again = crossbridge("release", "publish", "rel-1", "--workdir", str(release["work"]), "--to", str(store),
                        "--partner", "fi-uh").stdout
    assert "already published" in again
    target = where / "omop" / "person.parquet"
    os.chmod(target, 0o644)
    target.write_bytes(target.read_bytes()[:-10] + b"0123456789")
    bad = crossbridge("release", "verify", "--from", str(where), "--json", check=False)
    assert bad.returncode == 1
    rep = json.loads(bad.stdout)
    assert [a["path"] for a in rep["altered"]] == ["omop/person.parquet"] and rep["missing"] == []


def test_release_dag_builds_and_publishes(release, tmp_path):
    store = tmp_path / "dag-store"
    conf = {"study": str(STUDY), "workdir": str(release["work"]), "to": str(store), "partner": "tw-partner"}
    code = ("import json, sys; from crossbridge.airflow_runner import run_dag; from pathlib import Path; "
            f"print(run_dag('release_publish', json.loads(sys.argv[1]), Path({str(tmp_path / 'airflow')!r})))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(conf)], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **KEY}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (published,) = list((store / "tw-partner").iterdir())
    assert published.name.startswith("t2d-tw-example-")
    assert crossbridge("release", "verify", "--from", str(published)).stdout.startswith("OK:")


def test_a_planted_identifier_blocks_the_release(release, tmp_path):
    """The scanner runs over the whole package; a Taiwan ID planted in a report blocks it and nothing is left."""
    from crossbridge.pipeline import release as rel
    from releases.scanner import ReleaseBlocked

    import shutil

    partial = tmp_path / "x.partial"
    shutil.copytree(release["dir"], partial)
    (partial / "manifest.json").unlink()
    (partial / "notes.txt").write_text("contact A123456789 about this release\n")
    report = json.loads((partial / "release.json").read_text())
    from releases.spec import load_spec

    with pytest.raises(ReleaseBlocked, match="notes.txt: taiwan_id"):
        rel._finish(partial, tmp_path / "x", report, load_spec(STUDY), release["run"]["dir"] and
                    __import__("crossbridge.ledger", fromlist=["Run"]).Run.open(
                        release["run"]["work"] / "runs", release["run"]["summary"]["run_id"]),
                    release["run"]["summary"], None, [])
    assert not partial.exists() and not (tmp_path / "x").exists()
    blocked = (tmp_path / "x.blocked.json").read_text()
    assert "A123456789" not in blocked and "taiwan_id" in blocked


# moto_endpoint: tests/conftest.py


def test_publish_to_s3_verify_and_presigned_links(release, moto_endpoint, tmp_path):
    import urllib.request

    import boto3

    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "fake", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    client = boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="fake", region_name="us-east-1")
    client.create_bucket(Bucket="partners")
    crossbridge("release", "publish", "rel-1", "--workdir", str(release["work"]), "--to", "s3://partners/out",
                "--partner", "fi-uh", "--endpoint-url", moto_endpoint, env=aws)
    where = "s3://partners/out/fi-uh/rel-1"
    assert crossbridge("release", "verify", "--from", where, "--endpoint-url", moto_endpoint,
                       env=aws).stdout.startswith("OK:")
    links = json.loads(crossbridge("release", "links", "--from", where, "--expires", "600", "--endpoint-url",
                                   moto_endpoint, env=aws).stdout)
    assert "manifest.json" in links and "X-Amz-Expires=600" in links["manifest.json"]
    with urllib.request.urlopen(links["manifest.json"]) as resp:
        assert resp.read() == (release["dir"] / "manifest.json").read_bytes()
    # another partner's prefix holds nothing of it
    assert client.list_objects_v2(Bucket="partners", Prefix="out/other/").get("KeyCount") == 0
