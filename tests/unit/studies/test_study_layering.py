"""studies/ imports only connectors and terminology of ours (docs/architecture.md), and stays cheap to import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FORBIDDEN = ("releases", "crossbridge", "mappings", "validators", "dags")


def test_studies_import_no_upper_layer():
    offenders = []
    for path in sorted((REPO / "studies").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [(path.name, n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_studies_loads_no_heavy_library():
    code = ("import sys, studies.spec, studies.measures, studies.concept_sets, studies.results, studies.compare, "
            "studies.stats; heavy = [m for m in ('pandas', 'numpy', 'matplotlib', 'duckdb', 'scipy') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]", out.stdout
