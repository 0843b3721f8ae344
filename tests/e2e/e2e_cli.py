"""Run the crossbridge CLI in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


def run_site(site: str, landing: Path, work: Path, *extra: str) -> dict:
    """``crossbridge run <site>`` (the DAG unless ``--no-airflow`` is in ``extra``): its summary, run folder,
    workdir and the finished process.  Fails with the CLI's output when no run folder was created."""
    proc = crossbridge("run", site, "--landing", str(landing), "--workdir", str(work), *extra,
                       env={"CROSSBRIDGE_SITE_SECRET": "e2e-secret"}, check=False)
    runs = sorted((work / "runs").glob(f"*-{site}-*")) if (work / "runs").exists() else []
    assert runs, f"no run folder created\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    summary = json.loads((runs[-1] / "summary.json").read_text())
    return {"summary": summary, "dir": runs[-1], "work": work, "proc": proc}
