"""The longest-first order of test files (tests/conftest.py) names files that exist, and is applied."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[3]


def _root_conftest():
    """tests/conftest.py itself (``import conftest`` may give another folder's conftest)."""
    spec = importlib.util.spec_from_file_location("crossbridge_root_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


LONGEST_FIRST = _root_conftest().LONGEST_FIRST


def test_longest_first_names_existing_test_files():
    missing = [p for p in LONGEST_FIRST if not (ROOT / p).is_file()]
    assert not missing, f"LONGEST_FIRST names files that no longer exist: {missing}"
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_collection_starts_with_the_longest_files():
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "tests/unit/core/test_ledger.py", "tests/e2e/test_demo.py", "tests/e2e/test_study_e2e.py"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = [line.split("::", 1)[0] for line in out.splitlines() if "::" in line]
    order = list(dict.fromkeys(files))
    assert order == ["tests/e2e/test_study_e2e.py", "tests/e2e/test_demo.py", "tests/unit/core/test_ledger.py"]
