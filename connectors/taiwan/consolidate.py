"""Consolidate staged Taiwan claims with DuckDB: duplicates, visit keys, supplementary claims, orphans, stays.

Reads ``staging/raw/<file_type>/*.parquet`` (written by :mod:`connectors.taiwan.stage`)
and writes:

* ``tables/<file_type>/part-0.parquet``: the rows the OMOP mappings read: the
  staging columns, with ``visit_key`` (claim tables) and ``stay_key``
  (``ipdte``/``ipdto``) inserted before the provenance columns, in no
  particular row order (readers order by what they need;
  ``_source_file``, ``_row_number`` identify a row);
* ``quarantine/consolidate/<file_type>.parquet``: ``duplicate_row`` and
  ``orphan_order`` rows (quarantine schema);
* ``merged/<file_type>.parquet`` (claim tables): ``source_file, row_number,
  reason, kept_source_file, kept_row_number`` for rows folded into another row.

Rules, per file type:

a. Exact duplicates (every staged column equal except provenance): the first
   by (``_source_file``, ``_row_number``) is kept, later copies ->
   quarantine ``duplicate_row``.
b. Visit rows (opdte, ipdte, druge) and order rows (opdto, ipdto, drugo) get
   ``visit_key`` = FEE_YM|APPL_TYPE|HOSP_ID|APPL_DATE(YYYYMMDD)|CASE_TYPE|SEQ_NO.
c. A visit row with APPL_TYPE '2' (supplementary claim) matching an original
   (APPL_TYPE '1') on person_key, HOSP_ID, FEE_YM, CASE_TYPE, SEQ_NO and the
   service date (FUNC_DATE; IN_DATE and APPL_BEG_DATE for ipdte) is merged
   into the original (reason ``supplementary_claim``; ``kept_*`` = the
   original; the original's values are kept as they are), and its orders too
   (``supplementary_claim_order``; ``kept_*`` = the original visit row).  A
   supplementary claim without an original is kept as the visit.
d. Order rows whose visit_key matches no kept visit row (nor a merged
   supplementary claim) -> quarantine ``orphan_order``.  Orders of a
   quarantined visit therefore become orphans.
e. Split admissions: ipdte rows stay one per billing segment and get
   ``stay_key`` = person_key|HOSP_ID|IN_DATE(YYYYMMDD); ipdto rows get the
   stay_key of their segment.

Every staged row ends in exactly one of tables/, quarantine/ or merged/; the
counts are checked before returning.

The staged Parquet is read in place (views, not copies), so memory holds only
the small intermediate tables (duplicates, visit keys, merged and orphan
rows).  Duplicates are found by hashing the data columns and comparing
columns only within groups of rows sharing a hash.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from connectors.consolidation import (  # noqa: F401  (ConsolidateInvariantError, TableConsolidation re-exported)
    ConsolidateInvariantError,
    ConsolidateReport,
    TableConsolidation,
    clear_outputs,
    consolidate,
    data_columns,
)
from connectors.consolidation import lit as _lit
from connectors.consolidation import output_columns
from connectors.consolidation import q as _q
from connectors.partitioning import TableWriter
from connectors.taiwan.layout import FILE_TYPES, PROVENANCE, QUARANTINE_REASONS, VISIT_KEY, FileType, staging_columns

MERGE_REASONS = {
    "supplementary_claim": "a supplementary claim (APPL_TYPE 2) folded into its original claim",
    "supplementary_claim_order": "an order of a supplementary claim folded into the original claim",
}
VISIT_ORDERS = {"opdte": "opdto", "ipdte": "ipdto", "druge": "drugo"}
ORDER_VISITS = {order: visit for visit, order in VISIT_ORDERS.items()}
SERVICE_DATES = {"opdte": ("FUNC_DATE",), "druge": ("FUNC_DATE",), "ipdte": ("IN_DATE", "APPL_BEG_DATE")}
STAY_TABLES = ("ipdte", "ipdto")
_SUPPLEMENT_MATCH = ("person_key", "HOSP_ID", "FEE_YM", "CASE_TYPE", "SEQ_NO")


def clear_consolidated(staging: Path) -> None:
    """Remove the consolidation outputs of every Taiwan file type under ``staging``."""
    clear_outputs(staging, FILE_TYPES)


def _data_columns(ft: FileType) -> list[str]:
    return data_columns(ft)


def _visit_key_sql() -> str:
    """FEE_YM|APPL_TYPE|HOSP_ID|APPL_DATE(YYYYMMDD)|CASE_TYPE|SEQ_NO; null when a part is null (like ``||``)."""
    parts = []
    for c in VISIT_KEY:
        if c == "APPL_DATE":
            parts.append(f"strftime({_q(c)}, '%Y%m%d')")
        else:
            parts.append(f"CAST({_q(c)} AS VARCHAR)")
    any_null = " OR ".join(f"{_q(c)} IS NULL" for c in VISIT_KEY)
    joined = ", '|', ".join(parts)  # concat() is much faster than a chain of || on DuckDB
    return f"(CASE WHEN {any_null} THEN NULL ELSE concat({joined}) END)"


def _stay_key_sql() -> str:
    return "person_key || '|' || \"HOSP_ID\" || '|' || strftime(\"IN_DATE\", '%Y%m%d')"


def consolidate_taiwan(staging: Path, memory_limit: str = "1GB", threads: int = 2,
                       partitions: int = 1) -> ConsolidateReport:
    """Apply the consolidation rules (module docstring) to ``staging/raw`` and write tables/, quarantine/,
    merged/; with ``partitions`` > 1, tables/ split into person partitions as it is written
    (:class:`connectors.partitioning.TableWriter`)."""
    merged = (*VISIT_ORDERS, *ORDER_VISITS)
    return consolidate(staging, FILE_TYPES, QUARANTINE_REASONS, _rules, merged, memory_limit, threads,
                       partitions, table_columns)


def _rules(con: duckdb.DuckDBPyConnection, out: TableWriter, present: list, report: ConsolidateReport) -> None:
    keys = {ft.key for ft in present}
    for ft in present:
        if ft.key in VISIT_ORDERS:
            _visits(con, out, ft, report)
        elif ft.key not in ORDER_VISITS:
            _plain(con, out, ft, keys)
    for ft in present:
        if ft.key in ORDER_VISITS:
            _orders(con, out, ft, ORDER_VISITS[ft.key] in keys, report)


def link_columns(ft: FileType) -> list[str]:
    """Columns consolidation adds to a file type's staged columns: visit_key on visit and
    order tables, stay_key on admissions and their orders."""
    if ft.key not in VISIT_ORDERS and ft.key not in ORDER_VISITS:
        return []
    return ["visit_key"] + (["stay_key"] if ft.key in STAY_TABLES else [])


def table_columns(ft: FileType) -> list[tuple[str, str]]:
    """(name, Arrow type name) of ``staging/tables/<type>/*.parquet``, the mappings' input."""
    staged = staging_columns(ft)
    data = [c for c in staged if c[0] not in PROVENANCE]
    prov = [c for c in staged if c[0] in PROVENANCE]
    return data + [(c, "string") for c in link_columns(ft)] + prov


def _output_columns(ft: FileType, extra: list[str]) -> str:
    return output_columns(ft, extra)


def _plain(con: duckdb.DuckDBPyConnection, out: TableWriter, ft: FileType, keys: set[str]) -> None:
    """Non-claim file types: duplicates are removed; specimens need a kept participant."""
    if ft.key == "bb_specimen":
        _specimens(con, out, ft, "bb_participant" in keys)
        return
    out.write(con, ft.key, f"SELECT {_output_columns(ft, [])} FROM u_{ft.key}")


def _specimens(con: duckdb.DuckDBPyConnection, out: TableWriter, ft: FileType, participants_present: bool) -> None:
    """A specimen whose PARTICIPANT_ID matches no kept participant -> quarantine ``orphan_specimen``
    (e.g. the participant row was quarantined): it cannot be linked to a person."""
    known = (
        "SELECT DISTINCT PARTICIPANT_ID FROM u_bb_participant"
        if participants_present else "SELECT CAST(NULL AS VARCHAR) AS PARTICIPANT_ID WHERE false"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE c_{ft.key} AS
        SELECT s.*, p.PARTICIPANT_ID IS NOT NULL AS _has_parent
        FROM u_{ft.key} s
        LEFT JOIN ({known}) p ON p.PARTICIPANT_ID = s.PARTICIPANT_ID"""
    )
    out.write(con, ft.key, f"SELECT {_output_columns(ft, [])} FROM c_{ft.key} WHERE _has_parent")
    con.execute(
        f"""INSERT INTO q_{ft.key}
        SELECT _source_file, _row_number, {_lit(ft.key)}, 'orphan_specimen', 'PARTICIPANT_ID',
               'participant ' || PARTICIPANT_ID || ' matches no kept participant row'
        FROM c_{ft.key} WHERE NOT _has_parent"""
    )


def _visits(con: duckdb.DuckDBPyConnection, out: TableWriter, ft: FileType, report: ConsolidateReport) -> None:
    """Rules (b), (c), (e) for a visit table."""
    k = ft.key
    stay = f", {_stay_key_sql()} AS stay_key" if k in STAY_TABLES else ", CAST(NULL AS VARCHAR) AS stay_key"
    match_cols = _SUPPLEMENT_MATCH + SERVICE_DATES[k]
    match = " AND ".join(f"s.{_q(c)} = o.{_q(c)}" for c in match_cols)
    o_cols = ", ".join(_q(c) for c in match_cols)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE m_{k} AS
        SELECT s._source_file AS source_file, s._row_number AS row_number, 'supplementary_claim' AS reason,
               o._source_file AS kept_source_file, o._row_number AS kept_row_number, s.visit_key
        FROM (SELECT *, {_visit_key_sql()} AS visit_key FROM u_{k} WHERE "APPL_TYPE" = '2') s
        JOIN (SELECT {o_cols}, _source_file, _row_number FROM u_{k} WHERE "APPL_TYPE" = '1') o ON {match}
        QUALIFY row_number() OVER (PARTITION BY s._source_file, s._row_number
                                   ORDER BY o._source_file, o._row_number) = 1"""
    )
    # the kept visit rows (not merged), with their keys
    kept = f"""SELECT k.*, {_visit_key_sql()} AS visit_key {stay}
        FROM u_{k} k ANTI JOIN m_{k} m ON k._source_file = m.source_file AND k._row_number = m.row_number"""
    # visit_key -> stay_key of the kept visits, and visit_key -> original of merged supplements
    first_stay = (
        "arg_min(stay_key, (_source_file, _row_number))" if k in STAY_TABLES else "CAST(NULL AS VARCHAR)"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE kv_{k} AS
        SELECT visit_key, {first_stay} AS stay_key, count(*) AS n, min({out.partition_sql('person_key')}) AS _part
        FROM ({kept}) GROUP BY visit_key"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE mv_{k} AS
        SELECT visit_key, kept_source_file, kept_row_number FROM m_{k}
        QUALIFY row_number() OVER (PARTITION BY visit_key ORDER BY source_file, row_number) = 1"""
    )
    extra = link_columns(ft)
    out.write(con, k, f"SELECT {_output_columns(ft, extra)} FROM ({kept})")
    report.tables[k].repeated_visit_keys = con.execute(f"SELECT count(*) FROM kv_{k} WHERE n > 1").fetchone()[0]


def _orders(
    con: duckdb.DuckDBPyConnection, out: TableWriter, ft: FileType, visits_present: bool, report: ConsolidateReport
) -> None:
    """Rules (b), (c), (d), (e) for an order table."""
    k, v = ft.key, ORDER_VISITS[ft.key]
    if not visits_present:
        con.execute(f"CREATE OR REPLACE TEMP TABLE kv_{v} (visit_key VARCHAR, stay_key VARCHAR, n BIGINT, _part INTEGER)")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE mv_{v}
            (visit_key VARCHAR, kept_source_file VARCHAR, kept_row_number BIGINT)"""
        )
    extra = link_columns(ft)
    # kept orders: their visit_key matches a kept visit row (kv has one row per visit_key), whose
    # lowest person partition is theirs (the visit key is the link's columns, so this is the placement)
    out.write(
        con,
        k,
        f"""SELECT {_output_columns(ft, extra)}, kv._part
        FROM (SELECT *, {_visit_key_sql()} AS visit_key FROM u_{k}) o JOIN kv_{v} kv USING (visit_key)""",
        placed=True,
    )
    # the others: folded into a merged supplementary claim's original, or orphans
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE c_{k} AS
        SELECT o._source_file, o._row_number, o.visit_key,
               mv.kept_source_file AS _kept_source, mv.kept_row_number AS _kept_row
        FROM (SELECT _source_file, _row_number, {_visit_key_sql()} AS visit_key FROM u_{k}) o
        ANTI JOIN kv_{v} kv ON kv.visit_key = o.visit_key
        LEFT JOIN mv_{v} mv ON mv.visit_key = o.visit_key"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE m_{k} AS
        SELECT _source_file AS source_file, _row_number AS row_number, 'supplementary_claim_order' AS reason,
               _kept_source AS kept_source_file, _kept_row AS kept_row_number
        FROM c_{k} WHERE _kept_source IS NOT NULL"""
    )
    con.execute(
        f"""INSERT INTO q_{k}
        SELECT _source_file, _row_number, {_lit(k)}, 'orphan_order', 'visit_key',
               'visit_key ' || visit_key || ' matches no kept {v} row'
        FROM c_{k} WHERE _kept_source IS NULL"""
    )
