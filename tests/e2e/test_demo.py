"""``crossbridge demo`` (what ``make demo`` runs) prints where every output of a run is, the FHIR export included."""

from __future__ import annotations

import re

import pytest
from e2e_cli import crossbridge

pytestmark = pytest.mark.slow


def test_demo_prints_each_output_location(tmp_path):
    proc = crossbridge("demo", "--workdir", str(tmp_path / "demo"), "--sites", "finland", "--persons", "150",
                       "--years", "2015-2016", "--no-airflow")
    out = proc.stdout
    for label in ("run folder:", "summary:", "warehouse:", "quarantine:", "quality:", "GX Data Docs:"):
        assert label in out, out[-3000:]
    fhir = re.search(r"FHIR R4:\s+(\S+) \(([\d,]+) resources, validation (\w+)\)", out)
    assert fhir is not None, out[-3000:]
    assert fhir.group(1).endswith("/fhir") and int(fhir.group(2).replace(",", "")) > 0
    assert fhir.group(3) == "passed"
