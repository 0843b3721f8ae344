"""Provenance ids: one BIGINT per staged row, for lineage.

A staged row is identified by (stg table, ``_source_file``, ``_row_number``).
The build numbers the distinct (stg table, _source_file) pairs once, in that
order, from 1 (the *file dictionary*, :func:`files_sql`, columns ``t``, ``f``,
``fi``) and names a staged row by the BIGINT

    ``_src = fi << 40 | _row_number``  (a NULL _row_number counts as ``2**40 - 1``)

Mappings carry ``_prov`` = the list of ``_src`` of the staged rows behind a CDM
row; lineage counts the distinct ``_src`` per stg table (``_src >> 40`` is
the file id, the dictionary names its table).  Two staged rows have the same
``_src`` exactly when they have the same table, file and row number (the
comparison the former ``{t, f, r}`` structs made).  :func:`check_files`
rejects staging that does not fit: a row number outside ``[0, 2**40 - 1)`` or
more than ``2**23 - 1`` files.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.fhir_in import layout as fhir_layout
from connectors.finland import layout as fi_layout
from connectors.taiwan import layout

#: every staging table a mapping may read (Taiwan, Finland, FHIR feeds)
KNOWN_TABLES = frozenset(layout.BY_KEY) | frozenset(fi_layout.BY_KEY) | frozenset(fhir_layout.BY_KEY)

#: bits of the row number inside a provenance id
ROW_BITS = 40
#: stands for a NULL _row_number (kept distinct from every real row number)
NULL_ROW = (1 << ROW_BITS) - 1
#: largest file id that keeps ``fi << ROW_BITS`` a positive BIGINT
MAX_FILES = (1 << (63 - ROW_BITS)) - 1

#: SQL type of the ``_prov`` column of the build intermediates
PROV_TYPE = "BIGINT[]"
EMPTY_PROV = f"CAST([] AS {PROV_TYPE})"


class ProvenanceRangeError(ValueError):
    """Staged row numbers or file counts do not fit the BIGINT provenance ids."""


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def files_sql(tables: Iterable[str] | None = None) -> str:
    """The file dictionary: ``t`` (stg table), ``f`` (_source_file, may be NULL), ``fi`` (1, 2, ... by t, f).

    Also ``n`` (rows), ``r_min`` and ``r_max`` (row number range) for :func:`check_files`.
    ``tables``: the site's staging tables (default: Taiwan's).
    """
    keys = [ft.key for ft in layout.FILE_TYPES] if tables is None else list(tables)
    parts = [
        f"SELECT {_q(k)} AS t, _source_file AS f, count(*) AS n, min(_row_number) AS r_min, "
        f"max(_row_number) AS r_max FROM stg_{k} GROUP BY _source_file"
        for k in keys
    ]
    union = "\nUNION ALL\n".join(parts)
    return (
        "SELECT t, f, CAST(row_number() OVER (ORDER BY t, f NULLS LAST) AS BIGINT) AS fi, n, r_min, r_max "
        f"FROM ({union})"
    )


def src_sql(fi_sql: str, row_sql: str = "_row_number") -> str:
    """SQL: the provenance id of a staged row from its file id and row number."""
    return f"((CAST({fi_sql} AS BIGINT) << {ROW_BITS}) | coalesce(CAST({row_sql} AS BIGINT), {NULL_ROW}))"


def staged_sql(ft_key: str, files_rel: str, alias: str = "s") -> str:
    """SELECT of ``stg_<ft_key>`` with one more column ``_src`` (its provenance id)."""
    if ft_key not in KNOWN_TABLES:
        raise KeyError(f"unknown staging table {ft_key!r}")
    return (
        f"SELECT {alias}.*, {src_sql('_fd.fi', f'{alias}._row_number')} AS _src FROM stg_{ft_key} {alias} "
        f"LEFT JOIN (SELECT f, fi FROM {files_rel} WHERE t = {_q(ft_key)}) _fd "
        f"ON _fd.f IS NOT DISTINCT FROM {alias}._source_file"
    )


def check_files(con, files_table: str) -> None:
    """Raise :class:`ProvenanceRangeError` when staged row numbers or the file count do not fit."""
    n_files, bad = con.execute(
        f"""SELECT count(*),
                   list(t || ' ' || coalesce(f, '<NULL file>') || ' rows ' || CAST(r_min AS VARCHAR) || '..'
                        || CAST(r_max AS VARCHAR) ORDER BY t, f)
                       FILTER (WHERE r_min < 0 OR r_max >= {NULL_ROW})
            FROM {files_table}"""
    ).fetchone()
    if n_files > MAX_FILES:
        raise ProvenanceRangeError(f"{n_files} staged files exceed the {MAX_FILES} a provenance id can number")
    if bad:
        raise ProvenanceRangeError(
            f"_row_number outside [0, {NULL_ROW}) cannot be a provenance id: {'; '.join(bad[:5])}"
        )


def lineage_sql(prov_union_sql: str, files_rel: str) -> str:
    """SELECT (t, n): distinct staged rows per stg table among the ``p`` (provenance id) rows of a union."""
    return f"""
SELECT d.t, count(*) AS n
FROM (SELECT DISTINCT p FROM ({prov_union_sql})) u
JOIN {files_rel} d ON d.fi = (u.p >> {ROW_BITS})
GROUP BY d.t ORDER BY d.t
"""


def used_rows_sql(prov_union_sql: str, files_rel: str, tables: Iterable[str]) -> str:
    """SELECT (t, source_file, row_number): the distinct staged rows of ``tables`` among the ``p`` rows of a union.

    What a person partition reports for the tables every partition reads whole
    (the drug master, the facility file), so the rows used by any partition can
    be counted once over all partitions.  ``row_number`` is NULL for a NULL
    ``_row_number``.
    """
    names = ", ".join(_q(t) for t in tables) or "NULL"
    return f"""
SELECT d.t, d.f AS source_file,
       CASE WHEN (u.p & {NULL_ROW}) = {NULL_ROW} THEN NULL ELSE (u.p & {NULL_ROW}) END AS row_number
FROM (SELECT DISTINCT p FROM ({prov_union_sql})) u
JOIN {files_rel} d ON d.fi = (u.p >> {ROW_BITS})
WHERE d.t IN ({names})
"""
