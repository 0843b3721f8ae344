"""validators/ imports no upper layer (DESIGN.md: validators may import terminology; the FHIR suite also
reads the connectors' identifier checks, docs/architecture.md): never the application shell or the DAGs."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FORBIDDEN = ("crossbridge", "dags", "releases", "studies")


def test_validators_import_no_upper_layer():
    offenders = []
    for path in sorted((REPO / "validators").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [(str(path.relative_to(REPO)), n) for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []
