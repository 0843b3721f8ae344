"""Any OMOP CDM v5.4 database as a source to read from: ``duckdb:PATH``, ``postgresql://...``, ``csv:DIR``.

Used by the commands that work on OMOP databases the hub did not write
(``crossbridge validate omop``; later FHIR export and studies).  A URL may carry
``schema=`` (CDM tables) and ``vocab_schema=`` (vocabulary tables, default: the
CDM schema) query parameters.

``csv:DIR`` reads one file per table, named after the table in any case
(``person.csv``, ``PERSON.csv``, Athena's tab-separated ``CONCEPT.csv``), with
the delimiter detected, into a temporary DuckDB file (materialised, because a
validation reads each table many times); the file is deleted on exit.  Columns
keep the types DuckDB infers, so a non-numeric value in an integer field shows
up in the datatype check instead of being coerced away.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import duckdb

from connectors.warehouse.url import InvalidWarehouseUrl, check_identifier, parse_warehouse_url, redact
from terminology.omop_cdm import CDM


@dataclass(frozen=True)
class OmopSource:
    dialect: str  # duckdb | postgresql
    database: str  # DuckDB file path or libpq URL (no schema parameters)
    schema: str | None
    vocab_schema: str | None
    label: str  # safe to print (no password)
    tables_from_csv: tuple[str, ...] = ()


def _split_vocab_schema(spec: str) -> tuple[str, str | None]:
    """``spec`` without its ``vocab_schema=`` parameter, and that parameter (DuckDB and PostgreSQL URLs)."""
    head, sep, query = spec.partition("?")
    if not sep:
        return spec, None
    kept, vocab = [], None
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "vocab_schema":
            vocab = check_identifier(value, "vocabulary schema")
        else:
            kept.append((key, value))
    return head + ("?" + urlencode(kept) if kept else ""), vocab


def csv_tables(directory: Path) -> dict[str, Path]:
    """CDM table name -> file, for the ``.csv`` / ``.tsv`` / ``.txt`` files of ``directory`` named after a table."""
    found: dict[str, Path] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix.lower() not in (".csv", ".tsv", ".txt") or not path.is_file():
            continue
        name = path.stem.lower()
        if name in CDM.tables:
            if name in found:
                raise InvalidWarehouseUrl(f"{directory}: two files for table {name}: {found[name].name}, {path.name}")
            found[name] = path
    return found


@contextmanager
def open_omop_source(spec: str, *, tmp_dir: str | os.PathLike | None = None) -> Iterator[OmopSource]:
    """Resolve ``spec`` to a database the validators (and other readers) can open."""
    if spec.startswith("csv:"):
        directory = Path(spec[len("csv:"):]).expanduser()
        if not directory.is_dir():
            raise InvalidWarehouseUrl(f"csv: source {directory} is not a directory")
        tables = csv_tables(directory)
        if not tables:
            raise InvalidWarehouseUrl(f"csv: source {directory} holds no file named after an OMOP CDM table")
        work = Path(tempfile.mkdtemp(prefix="omop-csv-", dir=tmp_dir))
        db = work / "omop.duckdb"
        try:
            with duckdb.connect(str(db)) as con:
                for table, path in tables.items():
                    con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM read_csv(?, header = true, '
                                "sample_size = -1)", [str(path)])
            yield OmopSource("duckdb", str(db), None, None, f"csv:{directory}", tuple(sorted(tables)))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return
    base, vocab = _split_vocab_schema(spec)
    url = parse_warehouse_url(base)
    if url.dialect == "duckdb" and not Path(url.target).is_file():
        raise InvalidWarehouseUrl(f"no DuckDB database at {url.target}")
    label = url.redacted() if url.dialect == "duckdb" else redact(spec)
    yield OmopSource(url.dialect, url.target, url.schema, vocab or url.schema, label)


@dataclass
class DuckDBView:
    """A DuckDB connection in which an OMOP source's tables are readable as ``catalog.schema.table``."""

    con: duckdb.DuckDBPyConnection
    catalog: str
    schema: str
    vocab_schema: str


#: Tables copied out of PostgreSQL for readers that need DuckDB (the FHIR export): CDM + vocabulary.
POSTGRES_COPY_TABLES: tuple[str, ...] = (
    "person", "death", "location", "care_site", "provider", "visit_occurrence", "visit_detail",
    "condition_occurrence", "drug_exposure", "procedure_occurrence", "measurement", "observation", "specimen",
    "device_exposure", "observation_period", "note", "payer_plan_period", "cost", "episode", "fact_relationship",
    "concept", "concept_ancestor",
)


@contextmanager
def duckdb_view_of(source: OmopSource, *, tmp_dir: str | os.PathLike | None = None,
                   tables: tuple[str, ...] = POSTGRES_COPY_TABLES) -> Iterator[DuckDBView]:
    """The source's tables in DuckDB: a DuckDB file is attached read-only; PostgreSQL tables are copied
    (``tables`` of the CDM and vocabulary schemas, typed by the server) into a temporary DuckDB file."""
    if source.dialect == "duckdb":
        con = duckdb.connect()
        try:
            con.execute("ATTACH ? AS src (READ_ONLY)", [source.database])
            schema = source.schema or "main"
            yield DuckDBView(con, "src", schema, source.vocab_schema or schema)
        finally:
            con.close()
        return
    from connectors.warehouse.postgres_store import PostgresWarehouse

    work = Path(tempfile.mkdtemp(prefix="omop-pg-", dir=tmp_dir))
    con = duckdb.connect(str(work / "copy.duckdb"))
    try:
        schema = source.schema or "public"
        vocab = source.vocab_schema or schema
        with PostgresWarehouse(source.database, schema) as wh:
            present = {(r["table_schema"], r["table_name"]) for r in wh.query(
                "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema IN (%s, %s)",
                [schema, vocab]).to_pylist()}
            for table in tables:
                where = vocab if table in ("concept", "concept_ancestor") else schema
                if (where, table) not in present:
                    continue
                data = wh.query(f'SELECT * FROM "{where}"."{table}"')
                con.register("_pg_copy", data)
                con.execute(f'CREATE TABLE "{table}" AS SELECT * FROM _pg_copy')
                con.unregister("_pg_copy")
        catalog = con.execute("SELECT current_database()").fetchall()[0][0]
        yield DuckDBView(con, catalog, "main", "main")
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)
