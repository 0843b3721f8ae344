"""End-to-end fixtures: per site one small synthetic extract with injected defects, run once
through the site's Airflow DAG (dag.test(), in a subprocess exactly as a user runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest
from e2e_cli import crossbridge, run_site


@pytest.fixture(scope="session")
def tw_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing") / "taiwan"
    crossbridge("synth", "taiwan", "--persons", "400", "--years", "2015-2016", "--seed", "11",
                "--out", str(out), "--defect-rate", "0.02")
    return out


@pytest.fixture(scope="session")
def tw_run(tw_landing, tmp_path_factory) -> dict:
    """The DAG run: returns its summary, run folder and the CLI output."""
    return run_site("taiwan", tw_landing, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="session")
def fi_landing(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("landing") / "finland"
    crossbridge("synth", "finland", "--persons", "400", "--years", "2014-2016", "--seed", "12",
                "--out", str(out), "--defect-rate", "0.02")
    return out


@pytest.fixture(scope="session")
def fi_run(fi_landing, tmp_path_factory) -> dict:
    """The Finnish DAG run (fi_registers_to_omop via dag.test()): summary, run folder, CLI output."""
    return run_site("finland", fi_landing, tmp_path_factory.mktemp("work_fi"))
