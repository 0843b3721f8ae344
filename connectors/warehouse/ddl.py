"""DDL for the OMOP CDM v5.4 tables, generated from :mod:`terminology.omop_cdm`.

* :func:`ddl` — ``CREATE TABLE IF NOT EXISTS`` for every (or the given) table:
  all columns typed, ``NOT NULL`` on required fields, ``PRIMARY KEY`` where the
  specification declares one.
* :func:`constraints` — foreign keys (PostgreSQL only; apply after loading).
* :func:`indexes` — person and concept indexes on the big tables (PostgreSQL;
  apply after loading).  DuckDB relies on its zone maps and gets none.

Every CDM ``integer`` column is ``BIGINT`` in both dialects: our person and
event ids are 60-bit hashes, and concept ids use the same type so joins never
need casts.  Identifiers are always double-quoted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

from terminology.omop_cdm import CDM, Field, Table

Dialect = Literal["duckdb", "postgresql"]
DIALECTS: tuple[str, ...] = ("duckdb", "postgresql")

_MAX_IDENT = 63  # PostgreSQL NAMEDATALEN - 1


class UnsupportedDialect(ValueError):
    """A SQL dialect the warehouse layer does not generate DDL for."""


#: Columns indexed after load on PostgreSQL (besides primary keys).
INDEXED_COLUMNS: dict[str, tuple[str, ...]] = {
    "observation_period": ("person_id",),
    "visit_occurrence": ("person_id", "visit_concept_id"),
    "visit_detail": ("person_id", "visit_detail_concept_id", "visit_occurrence_id"),
    "condition_occurrence": ("person_id", "condition_concept_id", "visit_occurrence_id"),
    "drug_exposure": ("person_id", "drug_concept_id", "visit_occurrence_id"),
    "procedure_occurrence": ("person_id", "procedure_concept_id", "visit_occurrence_id"),
    "device_exposure": ("person_id", "device_concept_id", "visit_occurrence_id"),
    "measurement": ("person_id", "measurement_concept_id", "visit_occurrence_id"),
    "observation": ("person_id", "observation_concept_id", "visit_occurrence_id"),
    "death": ("person_id",),
    "note": ("person_id", "note_type_concept_id", "visit_occurrence_id"),
    "note_nlp": ("note_id", "note_nlp_concept_id"),
    "specimen": ("person_id", "specimen_concept_id"),
    "payer_plan_period": ("person_id",),
    "cost": ("cost_event_id",),
    "drug_era": ("person_id", "drug_concept_id"),
    "dose_era": ("person_id", "drug_concept_id"),
    "condition_era": ("person_id", "condition_concept_id"),
    "episode": ("person_id", "episode_concept_id"),
    "episode_event": ("episode_id", "event_id"),
    "concept": ("concept_code", "vocabulary_id", "domain_id", "concept_class_id"),
    "concept_relationship": ("concept_id_1", "concept_id_2", "relationship_id"),
    "concept_synonym": ("concept_id",),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
    "source_to_concept_map": ("source_code", "source_vocabulary_id", "target_concept_id"),
    "drug_strength": ("drug_concept_id", "ingredient_concept_id"),
    "cohort": ("subject_id", "cohort_definition_id"),
}


def _check_dialect(dialect: str) -> None:
    if dialect not in DIALECTS:
        raise UnsupportedDialect(f"unsupported SQL dialect {dialect!r}; expected one of {DIALECTS}")


def quote(identifier: str) -> str:
    """Double-quote an SQL identifier (embedded quotes doubled)."""
    return '"' + identifier.replace('"', '""') + '"'


def qualified(table: str, schema: str | None = None) -> str:
    """``"schema"."table"`` or ``"table"``."""
    return f"{quote(schema)}.{quote(table)}" if schema else quote(table)


def sql_type(f: Field, dialect: str) -> str:
    """The SQL column type of a CDM field in a dialect."""
    _check_dialect(dialect)
    base = f.base_type
    if base in ("integer", "bigint"):
        return "BIGINT"
    if base == "float":
        return "DOUBLE" if dialect == "duckdb" else "DOUBLE PRECISION"
    if base == "date":
        return "DATE"
    if base == "datetime":
        return "TIMESTAMP"
    if base == "varchar":
        # DuckDB ignores lengths; PostgreSQL enforces the spec's lengths.
        if dialect == "duckdb" or f.length is None:
            return "VARCHAR" if dialect == "duckdb" else "TEXT"
        return f"VARCHAR({f.length})"
    raise AssertionError(f"unhandled CDM datatype {f.datatype!r}")  # load_cdm validates datatypes


def _tables(tables: Iterable[str] | None) -> list[Table]:
    if tables is None:
        return list(CDM.tables.values())
    if isinstance(tables, str):
        raise TypeError("tables must be an iterable of table names, not a single string")
    return [CDM.table(t) for t in tables]


def create_table(table: str | Table, dialect: str, schema: str | None = None) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for one CDM table."""
    _check_dialect(dialect)
    t = table if isinstance(table, Table) else CDM.table(table)
    cols = [
        f"  {quote(f.name)} {sql_type(f, dialect)}{' NOT NULL' if f.required else ''}" for f in t.fields
    ]
    if t.primary_key:
        cols.append(f"  PRIMARY KEY ({', '.join(quote(c) for c in t.primary_key)})")
    return f"CREATE TABLE IF NOT EXISTS {qualified(t.name, schema)} (\n" + ",\n".join(cols) + "\n)"


def ddl(dialect: str, tables: Iterable[str] | None = None, schema: str | None = None) -> list[str]:
    """CREATE TABLE IF NOT EXISTS statements for the CDM tables (all by default), in spec order."""
    _check_dialect(dialect)
    return [create_table(t, dialect, schema) for t in _tables(tables)]


def _name(prefix: str, table: str, column: str) -> str:
    name = f"{prefix}_{table}_{column}"
    if len(name) <= _MAX_IDENT:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _MAX_IDENT - 9]}_{digest}"


def index_name(table: str, column: str) -> str:
    """The name :func:`indexes` gives the index of ``table.column``."""
    return _name("idx", table, column)


def constraints(dialect: str, tables: Iterable[str] | None = None, schema: str | None = None) -> list[str]:
    """Foreign-key constraints of the CDM tables (PostgreSQL only), idempotent.

    Each statement drops the constraint if it exists and adds it again, so it
    can be re-run.  Only foreign keys whose referencing *and* referenced tables
    are both among ``tables`` are produced.  Apply after loading: a table that
    is referenced by a foreign key can no longer be truncated (replace_table).
    DuckDB cannot add foreign keys to existing tables: :class:`UnsupportedDialect`.
    """
    _check_dialect(dialect)
    if dialect != "postgresql":
        raise UnsupportedDialect("foreign-key constraints are generated for PostgreSQL only (DuckDB cannot add them after creation)")
    chosen = _tables(tables)
    names = {t.name for t in chosen}
    out = []
    for t in chosen:
        for f in t.foreign_keys:
            if f.fk_table not in names:
                continue
            cname = quote(_name("fpk", t.name, f.name))
            out.append(
                f"ALTER TABLE {qualified(t.name, schema)} DROP CONSTRAINT IF EXISTS {cname}, "
                f"ADD CONSTRAINT {cname} FOREIGN KEY ({quote(f.name)}) "
                f"REFERENCES {qualified(f.fk_table, schema)} ({quote(f.fk_field)})"
            )
    return out


def indexes(dialect: str, tables: Iterable[str] | None = None, schema: str | None = None) -> list[str]:
    """CREATE INDEX IF NOT EXISTS statements for person and concept columns (PostgreSQL).

    Returns an empty list for DuckDB, whose min/max zone maps serve analytic
    scans and whose ART indexes would only slow bulk loading.
    """
    _check_dialect(dialect)
    if dialect == "duckdb":
        return []
    out = []
    for t in _tables(tables):
        for col in INDEXED_COLUMNS.get(t.name, ()):
            t.field(col)  # KeyError if the declaration and this list disagree
            out.append(
                f"CREATE INDEX IF NOT EXISTS {quote(index_name(t.name, col))} "
                f"ON {qualified(t.name, schema)} ({quote(col)})"
            )
    return out
