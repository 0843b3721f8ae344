"""Content checksums of DuckDB tables, independent of row order and of the file they are stored in.

Two runs that should give the same outputs (a partitioned and an unpartitioned
run, a Celery run and an in-process run, a clean run and one that survived a
killed worker) are compared table by table with :func:`table_checksums`: per
table the row count and the sum over rows of the first 60 bits of the MD5 of
the row's text.  Row order does not matter; a missing, doubled or changed row
changes the sum (up to a 2**-60 chance of a coincidence per change).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_checksums(db: Path | str, tables: Iterable[str] | None = None,
                    exclude_columns: dict[str, Iterable[str]] | None = None) -> dict[str, dict[str, int | str]]:
    """``{table: {"rows": n, "checksum": hex}}`` of the base tables of the DuckDB file ``db``.

    ``tables``: which (default: every base table of the main schema).
    ``exclude_columns``: table -> columns left out of the row text (e.g. a run id).
    """
    exclude = {t: list(c) for t, c in (exclude_columns or {}).items()}
    with duckdb.connect(str(db), read_only=True) as con:
        names = sorted(tables) if tables is not None else [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
            "AND table_type = 'BASE TABLE' ORDER BY 1").fetchall()]
        out: dict[str, dict[str, int | str]] = {}
        for t in names:
            cols = exclude.get(t)
            row = f"(SELECT * EXCLUDE ({', '.join(_q(c) for c in cols)}) FROM {_q(t)})" if cols else _q(t)
            n, total = con.execute(
                f"SELECT count(*), coalesce(sum(CAST(('0x' || substr(md5(CAST(r AS VARCHAR)), 1, 15))::BIGINT "
                f"AS HUGEINT)), 0) FROM {row} r").fetchall()[0]
            out[t] = {"rows": int(n), "checksum": format(int(total), "x")}
    return out


__all__ = ["table_checksums"]
