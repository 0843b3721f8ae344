"""The example study on both sites' DAG-built warehouses: CLI run, the cross_border_study DAG publishing
through the release store, partner-side verification, and the side-by-side comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from e2e_cli import crossbridge

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "studies" / "examples" / "t2d_metformin.yml"


@pytest.fixture(scope="module")
def packages(tw_run, fi_run, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("study")
    found = {}
    for site, run in (("taiwan", tw_run), ("finland", fi_run)):
        proc = crossbridge("study", "run", "--spec", str(SPEC), "--omop", run["summary"]["warehouse"],
                           "--out", str(out / site), "--site", site)
        assert f"Study t2d-metformin-tw-fi at {site}" in proc.stdout
        found[site] = out / site
    return found


def test_packages_hold_aggregates_only_and_verify(packages, tw_run):
    for site, folder in packages.items():
        assert crossbridge("release", "verify", "--from", str(folder)).stdout.startswith("OK:")
        summary = json.loads((folder / "study.json").read_text())
        assert summary["site"] == site and summary["threshold"] == 5
        for m in summary["measures"]:
            header = (folder / m["file"]).read_text().splitlines()[0].split(",")
            assert "person_id" not in header and header == m["columns"]
    scan = crossbridge("study", "check", "--spec", str(SPEC), "--site", "taiwan", "--omop",
                       tw_run["summary"]["warehouse"])
    assert json.loads(scan.stdout)["concept_sets"]["t2d"]["site_codes"]["ICD10CM"] >= 1


def test_compare_report(packages, tmp_path):
    proc = crossbridge("study", "compare", str(packages["taiwan"]), str(packages["finland"]), "--out",
                       str(tmp_path / "report"))
    index = Path(proc.stdout.strip().split(": ", 1)[1])
    html = index.read_text()
    assert "taiwan" in html and "finland" in html and "Type 2 diabetes incidence" in html
    pngs = sorted(p.name for p in (tmp_path / "report" / "figures").glob("*.png"))
    assert {"t2d_incidence.png", "time_to_metformin.png", "metformin_first_year.png"} <= set(pngs)
    (packages["taiwan"] / "results" / "cohort_size.csv").write_text("tampered\n")
    bad = crossbridge("study", "compare", str(packages["taiwan"]), str(packages["finland"]), "--out",
                      str(tmp_path / "r2"), check=False)
    assert bad.returncode == 1 and "does not match its manifest" in bad.stderr


def test_study_dag_runs_and_publishes(tw_run, tmp_path):
    store = tmp_path / "store"
    conf = {"spec": str(SPEC), "site": "taiwan", "workdir": str(tw_run["work"]), "to": str(store),
            "partner": "consortium"}
    code = ("import json, sys; from crossbridge.airflow_runner import run_dag; from pathlib import Path; "
            f"print(run_dag('cross_border_study', json.loads(sys.argv[1]), Path({str(tmp_path / 'airflow')!r})))")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(conf)], capture_output=True, text=True, cwd=REPO,
                          env=dict(os.environ), timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    (published,) = list((store / "consortium").iterdir())
    assert published.name.startswith("t2d-metformin-tw-fi-taiwan-")
    assert crossbridge("release", "verify", "--from", str(published)).stdout.startswith("OK:")
    assert (published / "results" / "t2d_incidence.csv").is_file()
