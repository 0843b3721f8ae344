"""The OMOP database a study runs on: SQL goes to the database, aggregates come back.

:func:`open_study_database` takes the URLs of :mod:`connectors.warehouse.omop_source`:

* ``duckdb:PATH`` — attached read-only to an in-memory DuckDB; queries run in DuckDB.
* ``postgresql://...`` — queries run in PostgreSQL (psycopg); nothing but aggregates and
  the concept-set ids the study uploads crosses the connection.  Concept sets are expanded
  in a DuckDB copy of the four vocabulary tables they need (``vocabulary_connection``),
  since the expansion code is DuckDB SQL; the clinical tables are never copied.
* ``csv:DIR`` — loaded into a temporary DuckDB file first (:func:`open_omop_source`).

The measures' SQL (:mod:`studies.measures`) is written in the subset both dialects share
(CTEs, ``date + integer``, ``date - date``, ``LEAST``/``GREATEST``, ``EXTRACT``), against
:meth:`StudyDatabase.table` names; the only per-dialect code is here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from connectors.warehouse.omop_source import OmopSource

#: vocabulary tables concept-set expansion reads
VOCABULARY_TABLES = ("concept", "concept_relationship", "concept_ancestor", "vocabulary")


class StudyDatabaseError(RuntimeError):
    """The OMOP database lacks what a study needs (names the table)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass
class StudyDatabase:
    """One open OMOP database: qualified table names, small queries, temporary id tables."""

    source: "OmopSource"
    dialect: str
    _con: Any
    _catalog: str | None
    _schema: str
    _vocab_schema: str
    _present: dict[str, set[str]] = field(default_factory=dict)
    _vocab_con: Any = None
    _vocab_cleanup: Any = None
    temp_tables: list[str] = field(default_factory=list)  # created by upload() (dropped with the session)

    @property
    def label(self) -> str:
        return self.source.label

    def _qualify(self, schema: str, name: str) -> str:
        parts = ([self._catalog] if self._catalog else []) + [schema, name]
        return ".".join(_quote(p) for p in parts)

    def table(self, name: str) -> str:
        """The qualified name of CDM table ``name``."""
        return self._qualify(self._schema, name)

    def vocab_table(self, name: str) -> str:
        return self._qualify(self._vocab_schema, name)

    def has(self, name: str, *, vocabulary: bool = False) -> bool:
        schema = self._vocab_schema if vocabulary else self._schema
        if schema not in self._present:
            self._present[schema] = self._tables_in(schema)
        return name in self._present[schema]

    def require(self, *names: str) -> None:
        missing = [n for n in names if not self.has(n)]
        if missing:
            raise StudyDatabaseError(f"{self.label} has no table {', '.join(missing)} (schema {self._schema})")

    def _tables_in(self, schema: str) -> set[str]:
        if self.dialect == "duckdb":
            rows = self._con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?",
                [self._catalog, schema]).fetchall()
        else:
            rows = self._con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [schema]).fetchall()
        return {r[0].lower() for r in rows}

    def query(self, sql: str) -> pd.DataFrame:
        """Run ``sql`` in the database; the (aggregate) result as a DataFrame."""
        import pandas as pd

        if self.dialect == "duckdb":
            return self._con.execute(sql).df()
        with self._con.cursor() as cur:
            cur.execute(sql)
            columns = [d.name for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=columns)

    def upload(self, prefix: str, columns: Mapping[str, str], rows: Sequence[tuple]) -> str:
        """A temporary table ``columns`` (name -> SQL type) holding ``rows``; returns its (unqualified) name."""
        name = f"xb_{prefix}_{uuid.uuid4().hex[:10]}"
        cols = ", ".join(f"{_quote(c)} {t}" for c, t in columns.items())
        marks = ", ".join(["?" if self.dialect == "duckdb" else "%s"] * len(columns))
        if self.dialect == "duckdb":
            self._con.execute(f"CREATE TEMP TABLE {name} ({cols})")
            if rows:
                self._con.executemany(f"INSERT INTO {name} VALUES ({marks})", [list(r) for r in rows])
        else:
            self._con.execute(f"CREATE TEMP TABLE {name} ({cols})")
            if rows:
                with self._con.cursor() as cur:
                    cur.executemany(f"INSERT INTO {name} VALUES ({marks})", [tuple(r) for r in rows])
        self.temp_tables.append(name)
        return name

    def vocabulary_connection(self):
        """A DuckDB connection where ``concept``, ``concept_relationship``, ``concept_ancestor`` and
        ``vocabulary`` resolve unqualified (for :func:`terminology.concept_sets.expand_concept_set`)."""
        if self._vocab_con is not None:
            return self._vocab_con
        missing = [t for t in VOCABULARY_TABLES if not self.has(t, vocabulary=True)]
        if missing:
            raise StudyDatabaseError(f"{self.label} has no vocabulary table {', '.join(missing)} (schema "
                                     f"{self._vocab_schema}): concept sets cannot be resolved")
        if self.dialect == "duckdb":
            import duckdb

            con = duckdb.connect()
            con.execute("ATTACH ? AS vsrc (READ_ONLY)", [self.source.database])
            for t in VOCABULARY_TABLES:
                con.execute(f"CREATE TEMP VIEW {t} AS SELECT * FROM vsrc.{_quote(self._vocab_schema)}.{t}")
            self._vocab_con = con
        else:
            from connectors.warehouse.omop_source import duckdb_view_of

            cm = duckdb_view_of(self.source, tables=VOCABULARY_TABLES)
            view = cm.__enter__()
            self._vocab_cleanup = cm
            self._vocab_con = view.con
        return self._vocab_con

    def close(self) -> None:
        if self._vocab_cleanup is not None:
            self._vocab_cleanup.__exit__(None, None, None)
        elif self._vocab_con is not None:
            self._vocab_con.close()
        self._vocab_con = self._vocab_cleanup = None
        self._con.close()


@contextmanager
def open_study_database(omop: str, *, tmp_dir: str | os.PathLike | None = None) -> Iterator[StudyDatabase]:
    """Open ``omop`` (``duckdb:PATH``, ``postgresql://...``, ``csv:DIR``) for a study (read-only use)."""
    from connectors.warehouse.omop_source import open_omop_source

    with open_omop_source(omop, tmp_dir=tmp_dir) as source:
        if source.dialect == "duckdb":
            import duckdb

            con = duckdb.connect()
            con.execute("ATTACH ? AS src (READ_ONLY)", [source.database])
            schema = source.schema or "main"
            db = StudyDatabase(source, "duckdb", con, "src", schema, source.vocab_schema or schema)
        else:
            import psycopg

            con = psycopg.connect(source.database, autocommit=True)
            con.execute("SET TimeZone TO 'UTC'")
            schema = source.schema or "public"
            db = StudyDatabase(source, "postgresql", con, None, schema, source.vocab_schema or schema)
        try:
            yield db
        finally:
            db.close()


__all__ = ["StudyDatabase", "StudyDatabaseError", "VOCABULARY_TABLES", "open_study_database"]
