"""``crossbridge export fhir`` on OMOP databases the hub did not write: DuckDB, CSV, PostgreSQL; bundles; errors."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from crossbridge.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "fhir_export"


@pytest.fixture(scope="module")
def small_omop(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("omop") / "omop.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute((FIXTURES / "vocabulary.sql").read_text())
        con.execute((FIXTURES / "cdm.sql").read_text())
    return db


def _lines(out: Path, rtype: str) -> list[dict]:
    return [json.loads(line) for line in (out / f"{rtype}.ndjson").read_text().splitlines()]


def test_duckdb_source_with_bundles_and_report(small_omop, tmp_path, capsys):
    out = tmp_path / "fhir"
    rc = main(["export", "fhir", "--omop", f"duckdb:{small_omop}", "--out", str(out), "--site", "finland",
               "--validate", "all", "--bundles", "--json", str(tmp_path / "r.json")])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["validation"]["outcome"] == "passed" and report["validation"]["validated"] == report["total"]
    assert "not exported: visit_occurrence: 1 rows (person not in person table)" in printed
    assert "not expressed: observation_period: 2 rows" in printed
    assert "concept ids missing from the vocabulary: condition_occurrence: 1 rows" in printed
    assert len(_lines(out, "Patient")) == 3
    bundles = sorted((out / "bundles").glob("bundle-*.json"))
    assert bundles and report["bundles"]["bundles"] == len(bundles)
    entries = sum(len(json.loads(b.read_text())["entry"]) for b in bundles)
    assert entries == report["total"]


def test_csv_source(small_omop, tmp_path):
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    with duckdb.connect(str(small_omop), read_only=True) as con:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            con.execute(f"COPY {table} TO '{csv_dir / (table.upper() + '.csv')}' (HEADER)")
    out = tmp_path / "fhir"
    assert main(["export", "fhir", "--omop", f"csv:{csv_dir}", "--out", str(out), "--validate", "sample"]) == 0
    cond = {c["id"]: c for c in _lines(out, "Condition")}
    assert cond["200"]["code"]["coding"][0]["code"] == "E11.9"
    assert cond["200"]["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/Condition"]


@pytest.mark.services
def test_postgresql_source(small_omop, postgres_url, tmp_path):
    import psycopg

    from connectors.warehouse.url import parse_warehouse_url

    url = parse_warehouse_url(postgres_url)
    with duckdb.connect(str(small_omop), read_only=True) as con, psycopg.connect(url.target, autocommit=True) as pg:
        for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            cols = con.execute("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? "
                               "ORDER BY ordinal_position", [table]).fetchall()
            types = {"BIGINT": "bigint", "INTEGER": "integer", "VARCHAR": "text", "DATE": "date",
                     "TIMESTAMP": "timestamp", "DOUBLE": "double precision"}
            pg.execute(f'CREATE TABLE "{url.schema}"."{table}" ('
                       + ", ".join(f'"{c}" {types[t]}' for c, t in cols) + ")")
            rows = con.execute(f"SELECT * FROM {table}").fetchall()
            with pg.cursor() as cur:
                cur.executemany(f'INSERT INTO "{url.schema}"."{table}" VALUES ({", ".join(["%s"] * len(cols))})', rows)
    out = tmp_path / "fhir"
    assert main(["export", "fhir", "--omop", postgres_url, "--out", str(out), "--site", "taiwan",
                 "--validate", "all"]) == 0
    meds = _lines(out, "MedicationDispense")
    assert [m["id"] for m in meds] == ["300"]
    assert meds[0]["medicationCodeableConcept"]["coding"][-1]["system"] == "http://www.whocc.no/atc"


@pytest.mark.parametrize("args, message", [
    (["--omop", "duckdb:/nonexistent.duckdb", "--out", "X"], "no DuckDB database"),
    (["--workdir", "W"], "--site is required"),
    (["--omop", "duckdb:/nonexistent.duckdb", "--out", "X", "--site", "hl7v2"], "names a run's feed"),
])
def test_bad_usage_exits_2(tmp_path, capsys, args, message):
    args = [a.replace("X", str(tmp_path / "o")).replace("W", str(tmp_path / "w")) for a in args]
    assert main(["export", "fhir", *args]) == 2
    assert message in capsys.readouterr().err
