"""Golden-file support for the OMOP mapping tests of each site (Taiwan by default, Finland).

A :class:`GoldenSite` names a site's fixture folder, staging tables and
mappings (:data:`TAIWAN_SITE`, :data:`FINLAND_SITE`); every function takes an
optional ``site`` and defaults to Taiwan, so the Taiwan tests read as before.

A case is ``tests/fixtures/<site>/<case>.input/<stg table>.csv`` (a CSV per
staging table, any subset of the staging columns; absent tables are empty,
absent columns NULL, ``_source_file``/``_row_number`` default to
``<case>/<table>.csv`` and the data line number; booleans ``true``/``false``)
plus the site's shared vocabulary in ``tests/fixtures/<site>/vocabulary``.  Expected output is
``<case>.expected/<omop table>.csv`` for every non-empty CDM table.

Ids are rendered readably: ``person_id`` as the number (fixture person_keys
start with 15 hex digits of a small number), other ids as the business key
they were hashed from (``visit_occurrence|opdte|V1``), looked up in the
build's intermediates.  Rows are sorted by their rendered text.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.finland import layout as fi_layout
from connectors.taiwan import layout
from mappings.omop_cdm_v54.build import EXTRA_STAGING_COLUMNS, TAIWAN, SiteMapping, build_omop
from mappings.omop_cdm_v54.finland import FINLAND
from terminology.omop_cdm import CDM
from terminology.source_to_standard import create_view

FIXTURES_ROOT = Path(__file__).resolve().parents[2] / "fixtures"
FIXTURES = FIXTURES_ROOT / "taiwan"
VOCAB_DIR = FIXTURES / "vocabulary"
UPDATE = os.environ.get("CROSSBRIDGE_UPDATE_GOLDEN") == "1"
META = {"source_release_date": "2024-01-31", "cdm_release_date": "2024-02-15", "cdm_etl_reference": "test"}

_ARROW = {"string": pa.string(), "date32": pa.date32(), "int32": pa.int32(), "int64": pa.int64(),
          "float64": pa.float64(), "bool": pa.bool_()}
_DUCK = {"string": "VARCHAR", "date32": "DATE", "int32": "INTEGER", "int64": "BIGINT", "float64": "DOUBLE",
         "bool": "BOOLEAN"}


def staging_schema(ft: layout.FileType) -> list[tuple[str, str]]:
    """Taiwan: the staging columns plus the link columns the consolidation adds (visit_key, stay_key)."""
    cols = layout.staging_columns(ft)
    return cols + [(c, "string") for c in EXTRA_STAGING_COLUMNS.get(ft.key, ())]


@dataclass(frozen=True, eq=False)  # hashed by identity (build_and_render caches per case and site)
class GoldenSite:
    """What the golden machinery needs to know about one site."""

    name: str
    fixtures: Path  # tests/fixtures/<site>: <case>.input/, <case>.expected/, vocabulary/
    file_types: tuple  # the site's staging tables
    staging_schema: Callable[[object], list[tuple[str, str]]]  # file type -> (column, arrow type name)
    mapping: SiteMapping

    @property
    def vocab_dir(self) -> Path:
        return self.fixtures / "vocabulary"

    @property
    def table_mappings(self) -> dict:
        return self.mapping.table_mappings


TAIWAN_SITE = GoldenSite("taiwan", FIXTURES, layout.FILE_TYPES, staging_schema, TAIWAN)
FINLAND_SITE = GoldenSite("finland", FIXTURES_ROOT / "finland", fi_layout.FILE_TYPES, fi_layout.staging_columns,
                          FINLAND)


def case_names(site: GoldenSite = TAIWAN_SITE) -> list[str]:
    return sorted(p.name[: -len(".input")] for p in site.fixtures.glob("*.input"))


def person_key(n: int, tail: str = "a") -> str:
    """A 64-hex fixture pseudonym whose person_id is ``n``."""
    return f"{n:015x}" + tail * 49


def _convert(value: str, typ: str):
    if value == "":
        return None
    if typ == "date32":
        return dt.date.fromisoformat(value)
    if typ in ("int32", "int64"):
        return int(value)
    if typ == "float64":
        return float(value)
    if typ == "bool":
        if value not in ("true", "false"):
            raise ValueError(f"boolean fixture values are 'true' or 'false', not {value!r}")
        return value == "true"
    return value


def load_staging(con, input_dir: Path, case: str, site: GoldenSite = TAIWAN_SITE) -> None:
    """Register every ``stg_<ft>`` table from the CSVs of one case (empty when absent)."""
    for ft in site.file_types:
        schema = site.staging_schema(ft)
        path = input_dir / f"{ft.key}.csv"
        rows: list[dict[str, str]] = []
        if path.exists():
            with path.open(encoding="utf-8", newline="") as fh:
                reader = csv.DictReader(fh)
                unknown = set(reader.fieldnames or ()) - {c for c, _ in schema}
                if unknown:
                    raise ValueError(f"{path}: columns not in the staging schema: {sorted(unknown)}")
                rows = list(reader)
        data = {}
        for name, typ in schema:
            if name == "_source_file":
                vals = [r.get(name) or f"{case}/{ft.key}.csv" for r in rows]
            elif name == "_row_number":
                vals = [int(r[name]) if r.get(name) else i for i, r in enumerate(rows, start=1)]
            else:
                vals = [_convert(r.get(name, ""), typ) for r in rows]
            data[name] = pa.array(vals, type=_ARROW[typ])
        tbl = pa.table(data)
        con.register(f"_arrow_{ft.key}", tbl)
        casts = ", ".join(f"CAST({n} AS {_DUCK[t]}) AS {n}" for n, t in schema)
        con.execute(f"CREATE OR REPLACE TABLE stg_{ft.key} AS SELECT {casts} FROM _arrow_{ft.key}")
        con.unregister(f"_arrow_{ft.key}")


def load_vocabulary(con, vocab_dir: Path = VOCAB_DIR) -> None:
    """Load the fixture concept / concept_relationship / vocabulary CSVs and create source_to_standard."""
    for table in ("concept", "concept_relationship", "vocabulary"):
        fields = CDM.table(table).fields
        duck = {"integer": "BIGINT", "bigint": "BIGINT", "date": "DATE", "varchar": "VARCHAR", "float": "DOUBLE"}
        cols = ", ".join(f"CAST(nullif({f.name}, '') AS {duck[f.base_type]}) AS {f.name}" for f in fields)
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT {cols} "
            f"FROM read_csv('{vocab_dir / (table + '.csv')}', header = true, all_varchar = true)"
        )
    fields = CDM.table("concept_ancestor").fields
    con.execute(
        "CREATE OR REPLACE TABLE concept_ancestor AS SELECT "
        + ", ".join(f"CAST(NULL AS BIGINT) AS {f.name}" for f in fields)
        + " WHERE false"
    )
    create_view(con)


def connect_case(case: str, site: GoldenSite = TAIWAN_SITE) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_vocabulary(con, site.vocab_dir)
    load_staging(con, site.fixtures / f"{case}.input", case, site)
    return con


def _id_columns(table: str) -> list[str]:
    t = CDM.table(table)
    return [
        f.name for f in t.fields
        if f.base_type in ("integer", "bigint") and not f.is_concept_id and f.name != "person_id"
        and (f.primary_key or f.fk_table is not None)
    ]


def id_labels(con, site: GoldenSite = TAIWAN_SITE) -> dict[int, str]:
    """id -> business key, from the kept build intermediates."""
    labels: dict[int, str] = {}
    for table in site.table_mappings:
        pk = CDM.table(table).primary_key
        if not pk or pk[0] == "person_id":
            continue
        for i, key in con.execute(f"SELECT {pk[0]}, _key FROM _cb_prov_{table}").fetchall():
            if labels.get(i, key) != key:
                raise AssertionError(f"id {i} labelled twice: {labels[i]} / {key}")
            labels[i] = key
    return labels


_PKEY = re.compile(r"([0-9a-f]{15})a{49}")


def _short(label: str) -> str:
    """Fixture pseudonyms in labels shown as P<person_id>."""
    return _PKEY.sub(lambda m: f"P{int(m.group(1), 16)}", label)


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_table(con, table: str, labels: dict[int, str]) -> list[list[str]]:
    """Header + rows of one CDM table with ids replaced by their business keys, rows sorted."""
    cols = [f.name for f in CDM.table(table).fields]
    idcols = set(_id_columns(table))
    out = []
    for row in con.execute(f"SELECT * FROM {table}").fetchall():
        out.append([
            (_short(labels.get(v, f"?{v}")) if (c in idcols and v is not None) else _fmt(v)) for c, v in zip(cols, row)
        ])
    return [cols] + sorted(out)


@functools.lru_cache(maxsize=None)
def build_and_render(case: str, site: GoldenSite = TAIWAN_SITE) -> tuple[dict[str, list[list[str]]], object]:
    con = connect_case(case, site)
    result = build_omop(con, META, keep_intermediates=True, site=site.mapping)
    labels = id_labels(con, site)
    rendered = {t: render_table(con, t, labels) for t in site.table_mappings if result.rows[t]}
    con.close()
    return rendered, result


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh)]
