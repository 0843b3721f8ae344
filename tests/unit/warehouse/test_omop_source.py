"""open_omop_source: duckdb:, postgresql:// and csv: OMOP sources, and their errors."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from connectors.warehouse.omop_source import open_omop_source
from connectors.warehouse.url import InvalidWarehouseUrl


def test_duckdb_source_with_schemas(tmp_path):
    db = tmp_path / "cdm.duckdb"
    duckdb.connect(str(db)).close()
    with open_omop_source(f"duckdb:{db}?schema=cdm&vocab_schema=vocab") as src:
        assert (src.dialect, src.database, src.schema, src.vocab_schema) == ("duckdb", str(db), "cdm", "vocab")
    with open_omop_source(f"duckdb:{db}?schema=cdm") as src:
        assert src.vocab_schema == "cdm"  # the vocabulary defaults to the CDM schema
    with open_omop_source(str(db)) as src:
        assert (src.schema, src.vocab_schema) == (None, None)


def test_postgres_source_keeps_libpq_parameters_and_hides_the_password():
    spec = "postgresql://me:secret@db.example/omop?schema=cdm&vocab_schema=voc&sslmode=require"
    with open_omop_source(spec) as src:
        assert src.dialect == "postgresql"
        assert src.database == "postgresql://me:secret@db.example/omop?sslmode=require"
        assert (src.schema, src.vocab_schema) == ("cdm", "voc")
        assert "secret" not in src.label and "***" in src.label


def test_csv_source_is_materialised_and_removed_after(tmp_path):
    (tmp_path / "PERSON.csv").write_text("person_id\tgender_concept_id\tyear_of_birth\n1\t8507\t1980\n2\tMALE\t1990\n")
    (tmp_path / "observation_period.csv").write_text("observation_period_id,person_id\n1,1\n")
    (tmp_path / "notes.csv").write_text("x\n1\n")  # not a CDM table: ignored
    with open_omop_source(f"csv:{tmp_path}", tmp_dir=tmp_path) as src:
        assert src.tables_from_csv == ("observation_period", "person")
        with duckdb.connect(src.database, read_only=True) as con:
            types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                     "WHERE table_name = 'person'").fetchall())
            assert con.execute("SELECT COUNT(*) FROM observation_period").fetchone() == (1,)
        work = Path(src.database).parent
    assert types["year_of_birth"] == "BIGINT" and types["gender_concept_id"] == "VARCHAR"  # kept, not coerced
    assert not work.exists()


@pytest.mark.parametrize("make, spec, message", [
    (lambda d: None, "csv:{d}/nope", "is not a directory"),
    (lambda d: (d / "x.csv").write_text("a\n1\n"), "csv:{d}", "no file named after an OMOP CDM table"),
    (lambda d: [(d / "person.csv").write_text("a\n"), (d / "PERSON.tsv").write_text("a\n")], "csv:{d}",
     "two files for table person"),
    (lambda d: None, "duckdb:{d}/missing.duckdb", "no DuckDB database"),
    (lambda d: None, "duckdb:{d}/a.duckdb?vocab_schema=bad-name", "not a plain identifier"),
    (lambda d: None, "mysql://h/db", "unsupported warehouse URL"),
])
def test_bad_sources_are_refused(tmp_path, make, spec, message):
    make(tmp_path)
    with pytest.raises(InvalidWarehouseUrl, match=message):
        with open_omop_source(spec.format(d=tmp_path)):
            pass
