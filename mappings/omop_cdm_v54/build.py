"""Build the OMOP CDM v5.4 tables of a site inside one DuckDB connection.

The engine is site-independent; a :class:`SiteMapping` names the site's
staging tables, its mapping functions per CDM table, the shared relations to
materialise and its code-usage query.  :data:`TAIWAN` is the Taiwan site's
(the default); ``mappings.omop_cdm_v54.finland.FINLAND`` the Finnish one.

:func:`build_omop` expects the staging views ``stg_<file type>`` and the
vocabulary (``concept``, ``concept_relationship``, ``vocabulary`` and the
``source_to_standard`` view) in the connection.  For each CDM table it

1. runs the table's mapping SELECTs *with provenance* into a temp intermediate
   ``_cb_prov_<table>`` (CDM columns + ``_prov`` = list of the provenance ids
   of the staged rows behind each row, see :mod:`.provenance`; with
   ``keep_intermediates`` also ``_key``, the business key behind the id);
2. fails with :class:`~.ids.IdCollision` if two keys share an id or an id
   repeats (a cheap count of repeated ids first; the business keys are only
   computed when an id repeats), and with :class:`RequiredFieldMissing` if a
   required column is NULL;
3. writes the CDM table in the connection's current schema, rows ordered by id
   (``CREATE OR REPLACE TABLE`` or ``INSERT INTO`` an existing table).

It also writes ``code_usage`` (per source code: records, source and target
concept) and returns :class:`BuildResult` with row counts and lineage counts:
for each stg table, how many distinct staged rows reached at least one CDM row.

Shared relations (known persons, the staged-file dictionary, the unique visits
of opdte/ipdte/druge, deaths and the routed events) are materialised once as
temp tables first (see :mod:`.relations`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from connectors.taiwan import layout
from terminology.omop_cdm import CDM

from . import (
    condition_occurrence,
    device_exposure,
    drug_exposure,
    measurement,
    observation,
    procedure_occurrence,
)
from .care_site import hosb_to_care_site
from .cdm_source import SourceMeta, cdm_source
from .codes import register_macros
from .columns import KEY_COL, PROV_COL, cdm_columns
from .death import death_to_death, deaths_sql
from .events import routed_code_usage_sql, routed_events_sql
from .events import unique_visits_sql
from .ids import IdCollision, find_duplicate_ids, find_id_collisions
from .location import areas_to_location
from .observation_period import enrol_to_observation_period
from .person import enrol_to_person, known_persons_sql
from .provenance import check_files, files_sql, lineage_sql, used_rows_sql
from .relations import VISIT_TABLES, Shared
from .specimen import bb_specimen_to_specimen, specimen_events_sql
from .visit_detail import ipdte_to_visit_detail
from .visit_occurrence import visits_to_visit_occurrence

Mapping_ = Callable[..., str]


@dataclass(frozen=True)
class SiteMapping:
    """What the build engine needs to know about one site's mappings."""

    site: str
    file_types: tuple  # the site's staging tables (layout file types)
    view_columns: Callable[[object], list[str]]  # file type -> columns its staging view must have
    table_mappings: dict[str, tuple[Mapping_, ...]]  # CDM table -> mapping functions, in build order
    shared: Shared  # names of the materialised shared relations
    shared_sql: Callable[[Shared], list[tuple[str, str]]]  # (temp table, SELECT) to materialise, in order
    code_usage_sql: Callable[[Shared], str]

#: CDM table -> the mapping functions whose rows it holds, in build order
TABLE_MAPPINGS: dict[str, tuple[Mapping_, ...]] = {
    "location": (areas_to_location,),
    "care_site": (hosb_to_care_site,),
    "person": (enrol_to_person,),
    "observation_period": (enrol_to_observation_period,),
    "visit_occurrence": (visits_to_visit_occurrence,),
    "visit_detail": (ipdte_to_visit_detail,),
    "condition_occurrence": condition_occurrence.MAPPINGS,
    "drug_exposure": drug_exposure.MAPPINGS,
    "procedure_occurrence": procedure_occurrence.MAPPINGS,
    "device_exposure": device_exposure.MAPPINGS,
    "measurement": measurement.MAPPINGS,
    "observation": observation.MAPPINGS,
    "death": (death_to_death,),
    "specimen": (bb_specimen_to_specimen,),
}

#: columns each staging view must have beyond layout.staging_columns
EXTRA_STAGING_COLUMNS: dict[str, tuple[str, ...]] = {
    "opdte": ("visit_key",),
    "ipdte": ("visit_key", "stay_key"),
    "druge": ("visit_key",),
    "opdto": ("visit_key",),
    "ipdto": ("visit_key", "stay_key"),
    "drugo": ("visit_key",),
}
VOCABULARY_RELATIONS = ("concept", "concept_relationship", "vocabulary", "source_to_standard")
CODE_USAGE_TABLE = "code_usage"
#: (t, source_file, row_number) of the staged rows of ``used_rows_for`` tables that reached a CDM row
USED_ROWS_TABLE = "lineage_rows"
SHARED = Shared(
    persons="_cb_persons", routed="_cb_routed", deaths="_cb_deaths", files="_cb_files", visits="_cb_visits_"
)


class MissingInput(LookupError):
    """A staging view, a staging column or a vocabulary relation the mappings need is absent."""


class RequiredFieldMissing(ValueError):
    """A mapping produced NULL in a CDM column that the specification requires."""


@dataclass
class BuildResult:
    """Outcome of :func:`build_omop`."""

    rows: dict[str, int]  # CDM table -> rows written by this build
    lineage_counts: dict[str, int]  # stg table -> distinct staged rows used by >= 1 CDM row
    staged_counts: dict[str, int]  # stg table -> staged rows
    code_usage: object  # pyarrow.Table of the code_usage table
    tables_written: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary for the run ledger (``rows_out``, ``lineage_counts``, ...)."""
        return {
            "rows_out": dict(self.rows),
            "lineage_counts": dict(self.lineage_counts),
            "staged_counts": dict(self.staged_counts),
            "unused_rows": self.unused_rows,
            "code_usage_rows": int(self.code_usage.num_rows),
        }

    @property
    def unused_rows(self) -> dict[str, int]:
        """stg table -> staged rows that reached no CDM row."""
        return {t: n - self.lineage_counts.get(t, 0) for t, n in self.staged_counts.items()}


def _ident(name: str) -> str:
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def _columns_of(con, relation: str) -> list[str] | None:
    try:
        return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {_ident(relation)}").fetchall()]
    except duckdb.CatalogException:
        return None


def _taiwan_view_columns(ft) -> list[str]:
    return [c for c, _ in layout.staging_columns(ft)] + list(EXTRA_STAGING_COLUMNS.get(ft.key, ()))


def check_inputs(con, site: SiteMapping | None = None) -> None:
    """Raise :class:`MissingInput` naming every missing staging view/column or vocabulary relation."""
    site = site or TAIWAN
    problems: list[str] = []
    for ft in site.file_types:
        rel = f"stg_{ft.key}"
        cols = _columns_of(con, rel)
        if cols is None:
            problems.append(f"missing staging view {rel}")
            continue
        have = {c.lower() for c in cols}
        need = site.view_columns(ft)
        missing = [c for c in need if c.lower() not in have]
        if missing:
            problems.append(f"{rel} lacks column(s) {missing}")
    for rel in VOCABULARY_RELATIONS:
        if _columns_of(con, rel) is None:
            problems.append(f"missing vocabulary relation {rel}")
    if problems:
        raise MissingInput("OMOP build inputs incomplete: " + "; ".join(problems))


def _table_exists(con, table: str) -> bool:
    return bool(
        con.execute(
            """SELECT count(*) FROM information_schema.tables
               WHERE table_catalog = current_database() AND table_schema = current_schema()
                 AND table_name = ? AND table_type = 'BASE TABLE'""",
            [table],
        ).fetchone()[0]
    )


PROV_IDS = "_cb_prov_ids"  # temp table: the provenance id of every row a build wrote (one per row and source row)


def _union(selects: Sequence[str]) -> str:
    return "\nUNION ALL\n".join(f"SELECT * FROM ({s})" for s in selects)


def _id_column(table: str) -> str:
    pk = CDM.table(table).primary_key
    return pk[0] if pk else "person_id"  # death has no primary key: one row per person


def _check_ids(con, table: str, inter: str, union_sql: str) -> None:
    """Raise :class:`IdCollision` when an id of ``inter`` repeats (naming the keys behind it).

    ``union_sql`` is the table's mapping SELECT with provenance: when an id
    repeats, the business keys (``_key``) of the rows with a repeated id are
    computed from it (``inter`` may lack ``_key``).
    """
    id_col = _id_column(table)
    repeated = con.execute(
        f"SELECT 1 FROM {inter} GROUP BY {id_col} HAVING count(*) > 1 LIMIT 1"
    ).fetchone()
    if repeated is None:
        return
    keys = "_cb_repeated_keys"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {keys} AS
            SELECT u.{id_col}, u.{KEY_COL} FROM ({union_sql}) u
            SEMI JOIN (SELECT {id_col} FROM {inter} GROUP BY {id_col} HAVING count(*) > 1) d
                   ON u.{id_col} IS NOT DISTINCT FROM d.{id_col}"""
    )
    try:
        collisions = find_id_collisions(con, keys, id_col, KEY_COL)
        if collisions:
            shown = "; ".join(f"{table}.{id_col}={i} from keys {k} ({n} keys)" for i, n, k in collisions)
            raise IdCollision(f"different business keys give the same id: {shown}")
        dups = find_duplicate_ids(con, keys, id_col)
        if dups:
            shown = "; ".join(f"{table}.{id_col}={i} on {n} rows" for i, n in dups)
            raise IdCollision(f"one business key produced several rows: {shown}")
    finally:
        con.execute(f"DROP TABLE IF EXISTS {keys}")


def _check_required(con, table: str, inter: str) -> None:
    req = CDM.table(table).required_fields
    if not req:
        return
    counts = con.execute(
        "SELECT " + ", ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in req) + f" FROM {inter}"
    ).fetchone()
    bad = {c: n for c, n in zip(req, counts) if n}
    if bad:
        raise RequiredFieldMissing(f"{table}: required column(s) NULL on some rows: {bad}")


@contextmanager
def _insertion_order(con, preserve: bool):
    """Run a block with DuckDB's ``preserve_insertion_order`` set to ``preserve``, then restore it."""
    old = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0]
    con.execute(f"SET preserve_insertion_order = {'true' if preserve else 'false'}")
    try:
        yield
    finally:
        con.execute(f"SET preserve_insertion_order = {'true' if old else 'false'}")


def _write(con, table: str, inter: str, mode: str) -> None:
    cols = ", ".join(cdm_columns(table))
    pk = CDM.table(table).primary_key
    order = pk[0] if pk else cdm_columns(table)[0]
    select = f"SELECT {cols} FROM {inter} ORDER BY {order}"
    insert = mode == "insert" or (mode == "auto" and _table_exists(con, table))
    with _insertion_order(con, True):  # the table's rows are stored in id order
        if insert:
            con.execute(f"INSERT INTO {table} ({cols}) {select}")
        else:
            con.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")


def code_usage_sql(shared: Shared) -> str:
    """SELECT of code_usage: per source table/column group/code, its concepts and record count."""
    return f"""
SELECT * FROM (
{routed_code_usage_sql(shared)}
    UNION ALL
    SELECT 'bb_specimen', 'SPECIMEN_TYPE', 'NBCT Specimen', source_code, source_concept_id, target_concept_id,
           count(*)
    FROM ({specimen_events_sql(shared)}) GROUP BY ALL
    UNION ALL
    SELECT t, column_group, vocabulary_id, source_code, source_concept_id, cause_concept_id, count(*)
    FROM {shared.deaths_rel()} WHERE raw_code IS NOT NULL GROUP BY ALL
)
ORDER BY source_table, source_column_group, vocabulary_id, source_code, target_concept_id
"""


def _taiwan_shared_sql(s: Shared) -> list[tuple[str, str]]:
    return [
        (s.files, files_sql()),
        (s.persons, known_persons_sql()),
        *((f"{s.visits}{ft}", unique_visits_sql(ft, s)) for ft in VISIT_TABLES),
        (s.deaths, deaths_sql(s)),
        (s.routed, routed_events_sql(s)),
    ]


TAIWAN = SiteMapping(
    site="taiwan",
    file_types=layout.FILE_TYPES,
    view_columns=_taiwan_view_columns,
    table_mappings=TABLE_MAPPINGS,
    shared=SHARED,
    shared_sql=_taiwan_shared_sql,
    code_usage_sql=code_usage_sql,
)


def build_omop(
    con,
    meta: SourceMeta | Mapping,
    *,
    mode: Literal["replace", "insert", "auto"] = "replace",
    keep_intermediates: bool = False,
    tables: Sequence[str] | None = None,
    site: SiteMapping | None = None,
    used_rows_for: Sequence[str] = (),
    file_dictionary: str | None = None,
) -> BuildResult:
    """Create the CDM tables from staging in ``con`` and return counts, code usage and lineage.

    ``mode``: 'replace' (default) = CREATE OR REPLACE TABLE; 'insert' = INSERT
    INTO tables that must already exist (e.g. made by the warehouse DDL; rows are
    appended, as for person-partitioned loads); 'auto' = insert where the table
    exists, create otherwise.  cdm_source is always replaced (one row).
    ``tables`` restricts the build to some CDM tables (e.g. leave out the
    site-level location/care_site when loading a second person partition);
    lineage then covers only those.  ``keep_intermediates`` keeps the temp
    tables ``_cb_prov_<table>`` (with ``_key`` and ``_prov``) for inspection.
    ``site``: the site's mappings (default :data:`TAIWAN`).
    ``used_rows_for``: stg tables whose used rows are also written, as table
    :data:`USED_ROWS_TABLE` (a person partition reports the rows it used of the
    reference tables every partition reads whole).
    ``file_dictionary``: a relation holding the file dictionary
    (:func:`~.provenance.files_sql` of the *whole* staging) to use instead of
    numbering the files this connection's staging views show: a person partition
    sees only some rows of each file, and provenance ids (which some business keys
    contain) must not depend on which.  ``staged_counts`` then count the whole staging.
    """
    site = site or TAIWAN
    if mode not in ("auto", "replace", "insert"):
        raise ValueError(f"mode must be auto, replace or insert, got {mode!r}")
    meta = SourceMeta.coerce(meta)
    selected = list(site.table_mappings) if tables is None else list(tables)
    unknown = sorted(set(selected) - set(site.table_mappings) - {"cdm_source"})
    if unknown:
        raise ValueError(
            f"no {site.site} mapping for table(s) {unknown}; known: {list(site.table_mappings)} + cdm_source"
        )
    check_inputs(con, site)
    register_macros(con)
    with _insertion_order(con, False):  # temp intermediates: order-free (each CDM table is written ORDER BY id)
        return _build(con, meta, mode, keep_intermediates, tables, selected, site, tuple(used_rows_for),
                      file_dictionary)


def _build(
    con, meta: SourceMeta, mode: str, keep_intermediates: bool, tables, selected: list[str], site: SiteMapping,
    used_rows_for: tuple[str, ...] = (),
    file_dictionary: str | None = None,
) -> BuildResult:
    s = site.shared
    shared_tables: list[str] = []
    rows: dict[str, int] = {}
    inters: list[str] = []
    try:
        # the provenance ids of every row written, for the lineage counts; each table's intermediate is
        # dropped once its ids are here (keeping them all until the end held the whole build in memory:
        # out of memory above ~12M source rows at a 1500MB limit, docs/performance.md)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PROV_IDS} (p BIGINT)")
        for name, sql in site.shared_sql(s):  # in order: later relations read earlier ones
            if name == s.files and file_dictionary is not None:
                sql = f"SELECT t, f, fi, n, r_min, r_max FROM {file_dictionary}"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
            shared_tables.append(name)
            if name == s.files:
                check_files(con, s.files)

        for table, mappings in site.table_mappings.items():
            if table not in selected:
                continue
            inter = f"_cb_prov_{table}"
            union = _union([m(s, provenance=True) for m in mappings])
            keep = "*" if keep_intermediates else f"* EXCLUDE ({KEY_COL})"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {inter} AS SELECT {keep} FROM ({union})")
            inters.append(inter)
            _check_ids(con, table, inter, union)
            _check_required(con, table, inter)
            _write(con, table, inter, mode)
            rows[table] = con.execute(f"SELECT count(*) FROM {inter}").fetchone()[0]
            con.execute(f"INSERT INTO {PROV_IDS} SELECT unnest({PROV_COL}) FROM {inter}")
            if not keep_intermediates:
                con.execute(f"DROP TABLE {inter}")

        if tables is None or "cdm_source" in selected:
            inter = "_cb_prov_cdm_source"
            con.execute(f"CREATE OR REPLACE TEMP TABLE {inter} AS {cdm_source(meta, provenance=True)}")
            _check_required(con, "cdm_source", inter)
            if mode != "replace" and _table_exists(con, "cdm_source"):
                con.execute("DELETE FROM cdm_source")  # one row describes the instance: replace, never append
                _write(con, "cdm_source", inter, "insert")
            else:
                _write(con, "cdm_source", inter, "replace")
            rows["cdm_source"] = 1
            con.execute(f"DROP TABLE {inter}")

        with _insertion_order(con, True):
            con.execute(f"CREATE OR REPLACE TABLE {CODE_USAGE_TABLE} AS {site.code_usage_sql(s)}")
            code_usage = con.sql(f"SELECT * FROM {CODE_USAGE_TABLE}").to_arrow_table()

        prov_union = f"SELECT p FROM {PROV_IDS}"
        lineage = dict(con.execute(lineage_sql(prov_union, s.files)).fetchall())
        if used_rows_for:
            con.execute(f"CREATE OR REPLACE TABLE {USED_ROWS_TABLE} AS "
                        f"{used_rows_sql(prov_union, s.files, used_rows_for)}")
        staged = dict(con.execute(f"SELECT t, sum(n) FROM {s.files} GROUP BY t").fetchall())
        staged = {ft.key: int(staged.get(ft.key, 0)) for ft in site.file_types}
        lineage = {ft.key: int(lineage.get(ft.key, 0)) for ft in site.file_types}
    finally:
        if not keep_intermediates:
            for inter in inters:
                con.execute(f"DROP TABLE IF EXISTS {inter}")
            con.execute(f"DROP TABLE IF EXISTS {PROV_IDS}")
            for rel in shared_tables:
                con.execute(f"DROP TABLE IF EXISTS {rel}")
    return BuildResult(
        rows=rows,
        lineage_counts=lineage,
        staged_counts=staged,
        code_usage=code_usage,
        tables_written=list(rows),
    )
