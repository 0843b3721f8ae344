"""Shared fixtures for the terminology tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from terminology.vocabulary import DEMO_ATHENA_DIR, load_site_vocabulary


@pytest.fixture(scope="module")
def demo_con():
    """A DuckDB connection holding the demo vocabulary plus the NHI local vocabularies."""
    con = duckdb.connect()
    load_site_vocabulary(con)
    yield con
    con.close()


@pytest.fixture()
def athena_copy(tmp_path) -> Path:
    """A writable copy of the demo Athena stand-in folder."""
    dest = tmp_path / "athena"
    shutil.copytree(DEMO_ATHENA_DIR, dest)
    return dest
