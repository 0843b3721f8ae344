"""Consolidate staged Finnish register rows with DuckDB: duplicates, episode updates, key clashes, orphans.

Reads ``staging/raw/<file_type>/*.parquet`` (written by :mod:`connectors.finland.stage`)
and writes, like the Taiwan consolidation (:mod:`connectors.consolidation`):

* ``tables/<file_type>/part-0.parquet``: the rows the OMOP mappings read
  (exactly the staging columns, no link columns: children carry their parent's id);
* ``quarantine/consolidate/<file_type>.parquet``: refused rows with a reason;
* ``merged/<file_type>.parquet``: rows folded into another row.

Rules, per file type:

a. Exact duplicates -> quarantine ``duplicate_row`` (first copy kept).
b. Keyed registers: a key shared by rows with different values.

   * ``hilmo`` (HILMO_ID): rows with the same HILMO_ID, person and admission
     date are updates of one episode (an episode still open at the end of a
     statistical year is reported again the next year with its discharge): the
     row with the latest discharge (an empty LPVM counts as earliest, then the
     later file/row) is kept; the others are merged (reason ``episode_update``).
     A row whose HILMO_ID is kept for another person or admission date ->
     quarantine ``duplicate_key``.
   * ``avohilmo`` (AVOHILMO_ID), ``fi_bb_sample`` (NAYTE_ID), ``population``
     (the person): the first row by (file, row) is kept, later ones with other
     values -> quarantine ``duplicate_key``.
c. Children whose parent id matches no kept parent row: ``hilmo_diag`` and
   ``hilmo_proc`` (HILMO_ID) -> ``orphan_diagnosis``; ``avohilmo_icd10``,
   ``avohilmo_icpc2``, ``avohilmo_proc`` (AVOHILMO_ID) -> ``orphan_visit_code``.
   Children of a quarantined parent (an invalid henkilötunnus, say) therefore
   become orphans, with the reason naming the parent id.

Every staged row ends in exactly one of tables/, quarantine/ or merged/; the
counts are checked before returning.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.consolidation import (
    ConsolidateReport,
    clear_outputs,
    consolidate,
    lit,
    output_columns,
    q,
)
from connectors.finland.layout import FILE_TYPES, QUARANTINE_REASONS, staging_columns
from connectors.partitioning import TableWriter

MERGE_REASONS = {
    "episode_update": "a Hilmo row reporting an episode again (open at a year end); the final report is kept",
}
#: keyed registers: file type -> key columns (first row kept, later different rows -> duplicate_key)
KEYS = {
    "hilmo": ("HILMO_ID",),
    "avohilmo": ("AVOHILMO_ID",),
    "fi_bb_sample": ("NAYTE_ID",),
    "population": ("person_key",),
}
#: child file type -> (parent file type, id column, orphan reason)
CHILDREN = {
    "hilmo_diag": ("hilmo", "HILMO_ID", "orphan_diagnosis"),
    "hilmo_proc": ("hilmo", "HILMO_ID", "orphan_diagnosis"),
    "avohilmo_icd10": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code"),
    "avohilmo_icpc2": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code"),
    "avohilmo_proc": ("avohilmo", "AVOHILMO_ID", "orphan_visit_code"),
}
_EPISODE_MATCH = ("HILMO_ID", "person_key", "TUPVA")


def clear_consolidated(staging: Path) -> None:
    """Remove the consolidation outputs of every Finnish file type under ``staging``."""
    clear_outputs(staging, FILE_TYPES)


def table_columns(ft) -> list[tuple[str, str]]:
    """(name, Arrow type name) of ``staging/tables/<type>/*.parquet``, the mappings' input."""
    return staging_columns(ft)


def consolidate_finland(staging: Path, memory_limit: str = "1GB", threads: int = 2,
                        partitions: int = 1) -> ConsolidateReport:
    """Apply the consolidation rules (module docstring) to ``staging/raw`` and write tables/, quarantine/,
    merged/; with ``partitions`` > 1, tables/ split into person partitions as it is written
    (:class:`connectors.partitioning.TableWriter`)."""
    return consolidate(staging, FILE_TYPES, QUARANTINE_REASONS, _rules, ("hilmo",), memory_limit, threads,
                       partitions, table_columns)


def _rules(con: duckdb.DuckDBPyConnection, out: TableWriter, present: list, report: ConsolidateReport) -> None:
    keys = {ft.key for ft in present}
    for ft in present:  # parents (and plain tables) first: children look up the kept parents
        if ft.key == "hilmo":
            _episodes(con, out, ft)
        elif ft.key in KEYS:
            _keyed(con, out, ft, KEYS[ft.key])
        elif ft.key not in CHILDREN:
            out.write(con, ft.key, f"SELECT {output_columns(ft, [])} FROM u_{ft.key}")
    for ft in present:
        if ft.key in CHILDREN:
            parent, id_col, reason = CHILDREN[ft.key]
            _children(con, out, ft, parent if parent in keys else None, id_col, reason)


def _episodes(con: duckdb.DuckDBPyConnection, out: TableWriter, ft) -> None:
    """Rule (b) for Hilmo: episode updates merged into the final report; key clashes quarantined."""
    k = ft.key
    match = ", ".join(q(c) for c in _EPISODE_MATCH)
    # rank the rows of one (HILMO_ID, person, admission) group: the final report first
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE r_{k} AS
        SELECT _source_file, _row_number, {match},
               row_number() OVER (PARTITION BY {match}
                                  ORDER BY "LPVM" DESC NULLS LAST, _source_file DESC, _row_number DESC) AS _rank,
               first_value(_source_file) OVER (PARTITION BY {match}
                                  ORDER BY "LPVM" DESC NULLS LAST, _source_file DESC, _row_number DESC) AS _kept_source,
               first_value(_row_number) OVER (PARTITION BY {match}
                                  ORDER BY "LPVM" DESC NULLS LAST, _source_file DESC, _row_number DESC) AS _kept_row
        FROM u_{k}"""
    )
    # groups sharing a HILMO_ID: the group of the first row (by file/row) owns the id
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE o_{k} AS
        SELECT "HILMO_ID", arg_min(person_key, (_source_file, _row_number)) AS person_key,
               arg_min("TUPVA", (_source_file, _row_number)) AS "TUPVA"
        FROM u_{k} GROUP BY "HILMO_ID" """
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE c_{k} AS
        SELECT r.*, (o."HILMO_ID" IS NOT NULL) AS _owner
        FROM r_{k} r LEFT JOIN o_{k} o
          ON o."HILMO_ID" = r."HILMO_ID" AND o.person_key IS NOT DISTINCT FROM r.person_key
         AND o."TUPVA" IS NOT DISTINCT FROM r."TUPVA" """
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE m_{k} AS
        SELECT _source_file AS source_file, _row_number AS row_number, 'episode_update' AS reason,
               _kept_source AS kept_source_file, _kept_row AS kept_row_number
        FROM c_{k} WHERE _owner AND _rank > 1"""
    )
    con.execute(
        f"""INSERT INTO q_{k}
        SELECT _source_file, _row_number, {lit(k)}, 'duplicate_key', 'HILMO_ID',
               'HILMO_ID ' || "HILMO_ID" || ' already belongs to another person or admission date'
        FROM c_{k} WHERE NOT _owner"""
    )
    out.write(
        con,
        k,
        f"""SELECT {output_columns(ft, [])} FROM u_{k} u
        SEMI JOIN (SELECT _source_file, _row_number FROM c_{k} WHERE _owner AND _rank = 1) c
               ON c._source_file = u._source_file AND c._row_number = u._row_number""",
    )


def _keyed(con: duckdb.DuckDBPyConnection, out: TableWriter, ft, key: tuple[str, ...]) -> None:
    """Rule (b): the first row per key is kept; later rows with the same key -> duplicate_key."""
    k = ft.key
    part = ", ".join(q(c) for c in key)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE c_{k} AS
        SELECT _source_file, _row_number, {part},
               row_number() OVER (PARTITION BY {part} ORDER BY _source_file, _row_number) AS _rank,
               first_value(_source_file) OVER (PARTITION BY {part} ORDER BY _source_file, _row_number) AS _first_source,
               first_value(_row_number) OVER (PARTITION BY {part} ORDER BY _source_file, _row_number) AS _first_row
        FROM u_{k}"""
    )
    label = "person" if key == ("person_key",) else " + ".join(key)
    con.execute(
        f"""INSERT INTO q_{k}
        SELECT _source_file, _row_number, {lit(k)}, 'duplicate_key', {lit(key[0])},
               {lit(label + ' already given by ')} || _first_source || ' line ' || CAST(_first_row AS VARCHAR)
        FROM c_{k} WHERE _rank > 1"""
    )
    out.write(
        con,
        k,
        f"""SELECT {output_columns(ft, [])} FROM u_{k} u
        SEMI JOIN (SELECT _source_file, _row_number FROM c_{k} WHERE _rank = 1) c
               ON c._source_file = u._source_file AND c._row_number = u._row_number""",
    )


def _children(con: duckdb.DuckDBPyConnection, out: TableWriter, ft, parent: str | None, id_col: str, reason: str
              ) -> None:
    """Rule (c): child rows need a kept parent row."""
    k = ft.key
    parents = (
        f"SELECT DISTINCT {q(id_col)} FROM {out.whole_sql(parent)}"
        if parent is not None else f"SELECT CAST(NULL AS VARCHAR) AS {q(id_col)} WHERE false"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE c_{k} AS
        SELECT s.*, p.{q(id_col)} IS NOT NULL AS _has_parent
        FROM u_{k} s LEFT JOIN ({parents}) p ON p.{q(id_col)} = s.{q(id_col)}"""
    )
    out.write(con, k, f"SELECT {output_columns(ft, [])} FROM c_{k} WHERE _has_parent")
    con.execute(
        f"""INSERT INTO q_{k}
        SELECT _source_file, _row_number, {lit(k)}, {lit(reason)}, {lit(id_col)},
               {lit(id_col + ' ')} || {q(id_col)} || {lit(' matches no kept ' + (parent or 'parent') + ' row')}
        FROM c_{k} WHERE NOT _has_parent"""
    )
