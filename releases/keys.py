"""Per-study keys and the keyed HMAC the release computes in SQL.

A study's key comes from the environment variable the study names (``release.key_env``),
or from Airflow's secrets backend, which the release DAG reads and hands over as an
argument (library code never imports Airflow; an Airflow variable set through the
environment, ``AIRFLOW_VAR_<NAME>``, is also accepted here).  The key never comes from
a file in the repository, and it is never logged or written: it lives in process memory
and, derived, in a temporary in-memory table of the release's DuckDB connection.

:func:`install_study_key` defines the macro ``study_hmac(text)`` = lower-case hex
HMAC-SHA256(key, UTF-8 text), computed by DuckDB (two SHA-256 per value, vectorised):
the pads ``key XOR ipad`` / ``key XOR opad`` are kept in a temporary table, not in SQL
text, so no query string or error message carries anything derived from the key.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import duckdb

MIN_KEY_BYTES = 16
_BLOCK = 64  # SHA-256 block size


class StudyKeyError(ValueError):
    """No usable per-study key."""


def study_key(key_env: str, environ: Mapping[str, str] | None = None, given: str | bytes | None = None) -> bytes:
    """The study key: ``given`` (e.g. from an Airflow secrets backend), else ``$key_env``, else
    ``$AIRFLOW_VAR_<key_env>``.  At least :data:`MIN_KEY_BYTES` bytes; the error names the
    variable, never a value."""
    env = os.environ if environ is None else environ
    value = given if given is not None else env.get(key_env) or env.get(f"AIRFLOW_VAR_{key_env}")
    if not value:
        raise StudyKeyError(f"no study key: set the environment variable {key_env} (or the Airflow variable "
                            f"{key_env} in the secrets backend); keys never come from files in the repository")
    key = value.encode() if isinstance(value, str) else bytes(value)
    if len(key) < MIN_KEY_BYTES:
        raise StudyKeyError(f"the study key in {key_env} is shorter than {MIN_KEY_BYTES} bytes")
    return key


def install_study_key(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Define ``study_hmac(text)`` on ``con`` (see the module docstring)."""
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    k = key.ljust(_BLOCK, b"\0")
    ipad = bytes(b ^ 0x36 for b in k)
    opad = bytes(b ^ 0x5C for b in k)
    con.execute("CREATE OR REPLACE TEMP TABLE _study_key AS SELECT ?::BLOB AS ipad, ?::BLOB AS opad", [ipad, opad])
    con.execute("""CREATE OR REPLACE TEMP MACRO study_hmac(m) AS
                   sha256((SELECT opad FROM _study_key) || unhex(sha256((SELECT ipad FROM _study_key) || encode(m))))""")


def forget_study_key(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the key material from ``con``."""
    con.execute("DROP TABLE IF EXISTS _study_key")


__all__ = ["MIN_KEY_BYTES", "StudyKeyError", "forget_study_key", "install_study_key", "study_key"]
