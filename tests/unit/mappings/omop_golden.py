"""Golden-file support for the Taiwan OMOP mapping tests.

A case is ``tests/fixtures/taiwan/<case>.input/<stg table>.csv`` (a CSV per
staging table, any subset of the staging columns; absent tables are empty,
absent columns NULL, ``_source_file``/``_row_number`` default to
``<case>/<table>.csv`` and the data line number) plus the shared vocabulary in
``tests/fixtures/taiwan/vocabulary``.  Expected output is
``<case>.expected/<omop table>.csv`` for every non-empty CDM table.

Ids are rendered readably: ``person_id`` as the number (fixture person_keys
start with 15 hex digits of a small number), other ids as the business key
they were hashed from (``visit_occurrence|opdte|V1``), looked up in the
build's intermediates.  Rows are sorted by their rendered text.
"""

from __future__ import annotations

import csv
import functools
import datetime as dt
import os
import re
from pathlib import Path

import duckdb
import pyarrow as pa

from connectors.taiwan import layout
from mappings.omop_cdm_v54.build import EXTRA_STAGING_COLUMNS, TABLE_MAPPINGS, build_omop
from terminology.omop_cdm import CDM
from terminology.source_to_standard import create_view

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "taiwan"
VOCAB_DIR = FIXTURES / "vocabulary"
UPDATE = os.environ.get("CROSSBRIDGE_UPDATE_GOLDEN") == "1"
META = {"source_release_date": "2024-01-31", "cdm_release_date": "2024-02-15", "cdm_etl_reference": "test"}

_ARROW = {"string": pa.string(), "date32": pa.date32(), "int32": pa.int32(), "int64": pa.int64(),
          "float64": pa.float64()}
_DUCK = {"string": "VARCHAR", "date32": "DATE", "int32": "INTEGER", "int64": "BIGINT", "float64": "DOUBLE"}


def case_names() -> list[str]:
    return sorted(p.name[: -len(".input")] for p in FIXTURES.glob("*.input"))


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
    return value


def staging_schema(ft: layout.FileType) -> list[tuple[str, str]]:
    cols = layout.staging_columns(ft)
    return cols + [(c, "string") for c in EXTRA_STAGING_COLUMNS.get(ft.key, ())]


def load_staging(con, input_dir: Path, case: str) -> None:
    """Register every ``stg_<ft>`` table from the CSVs of one case (empty when absent)."""
    for ft in layout.FILE_TYPES:
        schema = staging_schema(ft)
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


def connect_case(case: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    load_vocabulary(con)
    load_staging(con, FIXTURES / f"{case}.input", case)
    return con


def _id_columns(table: str) -> list[str]:
    t = CDM.table(table)
    return [
        f.name for f in t.fields
        if f.base_type in ("integer", "bigint") and not f.is_concept_id and f.name != "person_id"
        and (f.primary_key or f.fk_table is not None)
    ]


def id_labels(con) -> dict[int, str]:
    """id -> business key, from the kept build intermediates."""
    labels: dict[int, str] = {}
    for table in TABLE_MAPPINGS:
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
def build_and_render(case: str) -> tuple[dict[str, list[list[str]]], object]:
    con = connect_case(case)
    result = build_omop(con, META, keep_intermediates=True)
    labels = id_labels(con)
    rendered = {t: render_table(con, t, labels) for t in TABLE_MAPPINGS if result.rows[t]}
    con.close()
    return rendered, result


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [row for row in csv.reader(fh)]
