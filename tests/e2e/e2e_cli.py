"""Run the crossbridge CLI in a subprocess, as a user would."""

from __future__ import annotations

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
