"""End-to-end fixtures: one small synthetic Taiwan extract with injected defects, run once
through the Airflow DAG (dag.test(), in a subprocess exactly as a user runs it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def crossbridge(*args: str, env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "crossbridge.cli", *args],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=900,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"crossbridge {' '.join(args)} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout[-5000:]}\nstderr:\n{proc.stderr[-5000:]}")
    return proc


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
