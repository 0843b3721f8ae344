"""End-to-end fixtures: one small synthetic Taiwan extract with injected defects, run once
through the Airflow DAG (dag.test(), in a subprocess exactly as a user runs it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_cli import crossbridge

@pytest.fixture(scope="session")
def tw_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing") / "taiwan"
    crossbridge("synth", "taiwan", "--persons", "400", "--years", "2015-2016", "--seed", "11",
                "--out", str(out), "--defect-rate", "0.02")
    return out


@pytest.fixture(scope="session")
def tw_run(tw_landing, tmp_path_factory) -> dict:
    """The DAG run: returns its summary, run folder and the CLI output."""
    work = tmp_path_factory.mktemp("work")
    proc = crossbridge("run", "taiwan", "--landing", str(tw_landing), "--workdir", str(work),
                       env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret"}, check=False)
    runs = sorted((work / "runs").glob("*-taiwan-*")) if (work / "runs").exists() else []
    assert runs, f"no run folder created\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    summary = json.loads((runs[-1] / "summary.json").read_text())
    return {"summary": summary, "dir": runs[-1], "work": work, "proc": proc}


@pytest.fixture(scope="session")
def fi_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing") / "finland"
    crossbridge("synth", "finland", "--persons", "400", "--years", "2014-2016", "--seed", "12",
                "--out", str(out), "--defect-rate", "0.02")
    return out


@pytest.fixture(scope="session")
def fi_run(fi_landing, tmp_path_factory) -> dict:
    """The Finnish DAG run (fi_registers_to_omop via dag.test()): summary, run folder, CLI output."""
    work = tmp_path_factory.mktemp("work_fi")
    proc = crossbridge("run", "finland", "--landing", str(fi_landing), "--workdir", str(work),
                       env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret"}, check=False)
    runs = sorted((work / "runs").glob("*-finland-*")) if (work / "runs").exists() else []
    assert runs, f"no run folder created\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    summary = json.loads((runs[-1] / "summary.json").read_text())
    return {"summary": summary, "dir": runs[-1], "work": work, "proc": proc}
