"""What every OMOP -> FHIR resource query needs: where the tables are, which columns exist, the site.

:class:`ExportContext` is built once per export by :func:`prepare_context`,
which also creates two temp tables in the DuckDB connection:

* ``_fx_concept`` -- concept_id, system (FHIR URI of the concept's vocabulary,
  :func:`terminology.systems.system_uri`), code, display, vocabulary_id,
  concept_class_id: the vocabulary as codings.  A database whose vocabulary
  is incomplete simply has fewer rows; a concept id missing here is written as
  text (its source value) and counted in the export report.
* ``_fx_person_identity`` -- person_id, pseudonym (64-hex site pseudonym) when
  the caller supplies the relation (a hub run: from the staged person keys);
  empty otherwise.

Optional CDM columns are looked up in the database's catalogue: a column a
database lacks (an older CDM, a trimmed table) becomes NULL in the resources
instead of an error; a missing *required* column makes that table's export
fail with :class:`ExportSchemaError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from terminology.fhir_profiles import organization_system, profile_url, pseudonym_system
from terminology.systems import system_uri


class ExportSchemaError(ValueError):
    """An OMOP table lacks a column the FHIR mapping cannot do without."""


@dataclass
class ExportContext:
    site: str | None  # 'taiwan' | 'finland' | None (national profiles and identifier systems)
    cdm: str  # SQL prefix of the CDM tables, e.g. 'src.main' (no trailing dot)
    columns: dict[str, set[str]] = field(default_factory=dict)  # table -> its columns (lower case)
    vocab_prefix: str | None = None  # SQL prefix of the vocabulary tables when concept_ancestor is there
    #: a study release: its pseudonyms are study pseudonyms (``urn:crossbridge:pseudonym:study:<id>``) and
    #: its record identifiers ``urn:crossbridge:study:<id>:<table>`` -- never the site's, which would link releases
    study: str | None = None

    def has(self, table: str) -> bool:
        return table in self.columns

    def t(self, table: str) -> str:
        return f"{self.cdm}.{table}"

    def col(self, table: str, alias: str, column: str) -> str:
        """``alias.column`` when the table has it, else ``NULL``."""
        return f"{alias}.{column}" if column in self.columns.get(table, set()) else "NULL"

    def require(self, table: str, *cols: str) -> None:
        missing = [c for c in cols if c not in self.columns.get(table, set())]
        if missing:
            raise ExportSchemaError(f"table {table} lacks required column(s) {', '.join(missing)}")

    def profile(self, resource_type: str, *, laboratory: bool = False) -> str:
        return profile_url(self.site, resource_type, laboratory=laboratory)

    @property
    def pseudonym_system(self) -> str:
        if self.study:
            return f"urn:crossbridge:pseudonym:study:{self.study}"
        return pseudonym_system(self.site)

    @property
    def organization_system(self) -> str:
        return organization_system(self.site)


def catalogue_columns(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT lower(table_name), lower(column_name) FROM information_schema.columns "
        "WHERE table_catalog = ? AND table_schema = ?", [catalog, schema]).fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def prepare_context(con: duckdb.DuckDBPyConnection, *, catalog: str, schema: str = "main",
                    vocab_catalog: str | None = None, vocab_schema: str | None = None, site: str | None = None,
                    person_identity_sql: str | None = None, study: str | None = None) -> ExportContext:
    """The context for ``catalog.schema``; creates ``_fx_concept`` and ``_fx_person_identity``."""
    ctx = ExportContext(site=site, cdm=f'"{catalog}"."{schema}"', columns=catalogue_columns(con, catalog, schema),
                        study=study)
    vcat, vsch = vocab_catalog or catalog, vocab_schema or schema
    vcols = catalogue_columns(con, vcat, vsch)
    if {"ancestor_concept_id", "descendant_concept_id"} <= vcols.get("concept_ancestor", set()):
        ctx.vocab_prefix = f'"{vcat}"."{vsch}"'
    if {"concept_id", "vocabulary_id", "concept_code"} <= vcols.get("concept", set()):
        vocabularies = [r[0] for r in con.execute(
            f'SELECT DISTINCT vocabulary_id FROM "{vcat}"."{vsch}".concept WHERE vocabulary_id IS NOT NULL').fetchall()]
        con.execute("CREATE OR REPLACE TEMP TABLE _fx_system (vocabulary_id VARCHAR, system VARCHAR)")
        if vocabularies:
            con.executemany("INSERT INTO _fx_system VALUES (?, ?)", [[v, system_uri(v)] for v in vocabularies])
        name = "c.concept_name" if "concept_name" in vcols["concept"] else "NULL"
        cls = "c.concept_class_id" if "concept_class_id" in vcols["concept"] else "NULL"
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _fx_concept AS
            SELECT c.concept_id, s.system, c.concept_code AS code, {name} AS display, c.vocabulary_id,
                   {cls} AS concept_class_id
            FROM "{vcat}"."{vsch}".concept c JOIN _fx_system s USING (vocabulary_id)
            WHERE c.concept_id <> 0 AND c.concept_code IS NOT NULL""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _fx_concept (concept_id BIGINT, system VARCHAR, code VARCHAR, "
                    "display VARCHAR, vocabulary_id VARCHAR, concept_class_id VARCHAR)")
    con.execute("CREATE OR REPLACE TEMP TABLE _fx_person_identity (person_id BIGINT, pseudonym VARCHAR)")
    if person_identity_sql:
        con.execute(f"INSERT INTO _fx_person_identity SELECT person_id, pseudonym FROM ({person_identity_sql})")
    return ctx


__all__ = ["ExportContext", "ExportSchemaError", "catalogue_columns", "prepare_context"]
