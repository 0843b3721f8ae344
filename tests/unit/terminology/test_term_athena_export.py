"""Athena-format export of the vocabulary store (terminology.athena_export): round trips and errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from terminology.athena import VOCABULARY_TABLES, load_athena
from terminology.athena_export import ATHENA_TABLES, export_athena
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.source_to_standard import create_view
from terminology.vocabulary import DEMO_ATHENA_DIR, load_site_vocabulary

NHI = ["NHI Drug", "NHI Fee"]
FILES = ["CONCEPT.csv", "CONCEPT_RELATIONSHIP.csv", "CONCEPT_ANCESTOR.csv", "CONCEPT_SYNONYM.csv",
         "CONCEPT_CLASS.csv", "DOMAIN.csv", "RELATIONSHIP.csv", "VOCABULARY.csv", "MAPPING_EQUIVALENCE.csv",
         "DRUG_STRENGTH.csv"]


@pytest.fixture(scope="module")
def site_con():
    """Demo store in schema main; round-trip loads go to other schemas of the same connection."""
    con = duckdb.connect()
    load_site_vocabulary(con)
    yield con
    con.close()


def _load_into(con, schema: str, folder, overlays=()):
    con.execute(f"CREATE SCHEMA {schema}")
    con.execute(f"USE {schema}")
    try:
        return load_athena(con, folder, overlays=overlays)
    finally:
        con.execute("USE main")
        create_view(con)  # loading into another schema drops main.source_to_standard (search path)


def _diff(con, table: str, a: str, b: str, where: str = "") -> int:
    cols = ", ".join(c for c, _, _ in VOCABULARY_TABLES[table])
    q = lambda s: f"SELECT {cols} FROM {s}.{table} {where}"  # noqa: E731
    return con.execute(f"SELECT (SELECT count(*) FROM ({q(a)} EXCEPT ALL {q(b)})) + "
                       f"(SELECT count(*) FROM ({q(b)} EXCEPT ALL {q(a)}))").fetchall()[0][0]


def test_full_export_round_trips_every_table(site_con, tmp_path):
    report = export_athena(site_con, tmp_path / "all")
    assert list(report["files"]) == FILES
    assert report["vocabularies"] is None
    _load_into(site_con, "rt_all", tmp_path / "all")
    for table in VOCABULARY_TABLES:
        n = site_con.execute(f"SELECT count(*) FROM main.{table}").fetchall()[0][0]
        assert report["files"][f"{table.upper()}.csv"]["rows"] == n
        assert site_con.execute(f"SELECT count(*) FROM rt_all.{table}").fetchall()[0][0] == n
        assert _diff(site_con, table, "main", "rt_all") == 0, table
    assert report["files"]["CONCEPT.csv"]["rows"] == 396
    assert report["files"]["MAPPING_EQUIVALENCE.csv"]["rows"] == 145
    # the source_to_standard view resolves the same pairs
    pairs = "SELECT source_vocabulary_id, source_code, target_concept_id FROM {}.source_to_standard"
    assert site_con.execute(f"SELECT count(*) FROM ({pairs.format('main')} EXCEPT {pairs.format('rt_all')})"
                            ).fetchall()[0][0] == 0


def test_files_are_athena_format_with_report_figures(site_con, tmp_path):
    report = export_athena(site_con, tmp_path / "out")
    for name, info in report["files"].items():
        path = tmp_path / "out" / name
        data = path.read_bytes()
        assert info["bytes"] == len(data)
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        lines = data.decode("utf-8").split("\n")
        assert lines[-1] == "" and len(lines) == info["rows"] + 2  # header + rows + final newline
        table = info["table"]
        assert lines[0].split("\t") == [c for c, _, _ in VOCABULARY_TABLES[table]]
    concept = (tmp_path / "out" / "CONCEPT.csv").read_text().split("\n")
    assert concept[1] == "0\tNo matching concept\tMetadata\tNone\tUndefined\t\tNo matching concept\t19700101\t20991231\t"
    assert concept[2] == "262\tEmergency Room and Inpatient Visit\tVisit\tVisit\tVisit\tS\tERIP\t19700101\t20991231\t"
    assert '"' not in (tmp_path / "out" / "CONCEPT.csv").read_text()
    assert (tmp_path / "out" / "DRUG_STRENGTH.csv").read_text().count("\n") == 1  # header only
    again = export_athena(site_con, tmp_path / "again")
    assert {n: f["sha256"] for n, f in again["files"].items()} == {n: f["sha256"] for n, f in report["files"].items()}


def test_nhi_subset_loads_as_overlay_on_demo_athena(site_con, tmp_path):
    report = export_athena(site_con, tmp_path / "nhi", vocabularies=NHI)
    rows = {n: f["rows"] for n, f in report["files"].items()}
    assert rows == {"CONCEPT.csv": 31, "CONCEPT_RELATIONSHIP.csv": 62, "CONCEPT_ANCESTOR.csv": 0,
                    "CONCEPT_SYNONYM.csv": 54, "CONCEPT_CLASS.csv": 2, "DOMAIN.csv": 0, "RELATIONSHIP.csv": 0,
                    "VOCABULARY.csv": 2, "MAPPING_EQUIVALENCE.csv": 0, "DRUG_STRENGTH.csv": 0}
    assert report["vocabularies"] == NHI
    assert (tmp_path / "nhi" / "CONCEPT_CLASS.csv").read_text().split("\n")[1:3] == [
        "NHI Drug Code\tNHI Drug Code\t0", "NHI Fee Code\tNHI Fee Code\t0"]
    _load_into(site_con, "rt_nhi", DEMO_ATHENA_DIR, overlays=[tmp_path / "nhi"])
    nhi_ids = "(SELECT concept_id FROM main.concept WHERE vocabulary_id IN ('NHI Drug', 'NHI Fee'))"
    assert _diff(site_con, "concept", "main", "rt_nhi", "WHERE vocabulary_id IN ('NHI Drug', 'NHI Fee')") == 0
    assert _diff(site_con, "concept_synonym", "main", "rt_nhi", f"WHERE concept_id IN {nhi_ids}") == 0
    # both directions of NHI <-> RxNorm / SNOMED / LOINC mappings travel with the overlay
    where = f"WHERE concept_id_1 IN {nhi_ids} OR concept_id_2 IN {nhi_ids}"
    assert _diff(site_con, "concept_relationship", "main", "rt_nhi", where) == 0
    assert site_con.execute("SELECT count(*) FROM rt_nhi.concept_relationship WHERE relationship_id = 'Mapped from'"
                            f" AND concept_id_2 IN {nhi_ids}").fetchall()[0][0] == 31
    got = site_con.execute("""SELECT source_code, target_concept_id FROM rt_nhi.source_to_standard
                              WHERE source_vocabulary_id = 'NHI Drug' AND source_code = 'AC46525100'""").fetchall()
    want = site_con.execute("""SELECT source_code, target_concept_id FROM main.source_to_standard
                               WHERE source_vocabulary_id = 'NHI Drug' AND source_code = 'AC46525100'""").fetchall()
    assert got == want and len(got) == 1


def test_disjoint_subsets_partition_the_store(site_con, tmp_path):
    others = [r[0] for r in site_con.execute(
        "SELECT vocabulary_id FROM vocabulary WHERE vocabulary_id NOT IN ('NHI Drug', 'NHI Fee')").fetchall()]
    base = export_athena(site_con, tmp_path / "base", vocabularies=others)
    nhi = export_athena(site_con, tmp_path / "nhi", vocabularies=NHI)
    for name in FILES:
        table = base["files"][name]["table"]
        if table not in ("domain", "relationship", "concept_class"):  # reference rows: see below
            total = site_con.execute(f"SELECT count(*) FROM main.{table}").fetchall()[0][0]
            assert base["files"][name]["rows"] + nhi["files"][name]["rows"] == total, table
    _load_into(site_con, "rt_parts", tmp_path / "base", overlays=[tmp_path / "nhi"])
    for table in VOCABULARY_TABLES:
        if table != "domain":
            assert _diff(site_con, table, "main", "rt_parts") == 0, table
    # only the two domains no concept uses are left out of subset exports
    assert site_con.execute("SELECT domain_id FROM main.domain EXCEPT SELECT domain_id FROM rt_parts.domain "
                            "ORDER BY 1").fetchall() == [("Device",)]


@pytest.fixture()
def small_con():
    con = duckdb.connect()
    load_athena(con, DEMO_ATHENA_DIR)
    yield con
    con.close()


@pytest.mark.parametrize(("sql", "file", "message"), [
    ("UPDATE concept SET concept_name = 'a' || chr(9) || 'b' WHERE concept_id = 201826",
     "CONCEPT.csv", "concept row with concept_id 201826: concept_name holds a tab"),
    ("INSERT INTO concept_synonym VALUES (201826, 'line' || chr(10) || 'break', 4180186)",
     "CONCEPT_SYNONYM.csv", "concept_synonym row with concept_id 201826: concept_synonym_name holds a tab, line"),
    ("UPDATE vocabulary SET vocabulary_version = 'v1' || chr(13) WHERE vocabulary_id = 'SNOMED'",
     "VOCABULARY.csv", "vocabulary row with vocabulary_id SNOMED: vocabulary_version holds"),
    ("UPDATE concept SET concept_code = '' WHERE concept_id = 201826",
     "CONCEPT.csv", "concept row with concept_id 201826: concept_code is empty in a required column"),
])
def test_text_the_format_cannot_carry_is_an_error_and_nothing_is_written(small_con, tmp_path, sql, file, message):
    small_con.execute(sql)
    with pytest.raises(VocabularyFormatError, match=message) as err:
        export_athena(small_con, tmp_path / "out")
    assert err.value.file == str(tmp_path / "out" / file)
    assert err.value.field == message.split(": ")[1].split(" ")[0]
    assert not (tmp_path / "out").exists()


def test_bad_text_outside_the_subset_does_not_matter(site_con, small_con, tmp_path):
    small_con.execute("UPDATE concept SET concept_name = 'a' || chr(9) WHERE concept_id = 201826")  # SNOMED
    report = export_athena(small_con, tmp_path / "rx", vocabularies=["RxNorm"])
    assert report["files"]["CONCEPT.csv"]["rows"] == 22


def test_unknown_vocabulary_and_empty_selection(small_con, tmp_path):
    with pytest.raises(UnknownCodeSystem, match="'NHI Drugs'"):
        export_athena(small_con, tmp_path / "x", vocabularies=["NHI Drugs"])
    with pytest.raises(ValueError, match="vocabularies is empty"):
        export_athena(small_con, tmp_path / "x", vocabularies=[])


def test_existing_files_need_overwrite_and_stale_files_go(small_con, tmp_path):
    out = tmp_path / "out"
    export_athena(small_con, out)
    assert (out / "MAPPING_EQUIVALENCE.csv").exists()
    with pytest.raises(VocabularyFormatError, match="already holds vocabulary files .*CONCEPT.csv"):
        export_athena(small_con, out)
    (out / "notes.txt").write_text("kept")
    report = export_athena(small_con, out, include_equivalence=False, overwrite=True)
    assert "MAPPING_EQUIVALENCE.csv" not in report["files"]
    assert sorted(p.name for p in out.iterdir()) == sorted([f for f in FILES if f != "MAPPING_EQUIVALENCE.csv"]
                                                           + ["notes.txt"])


def test_store_without_equivalence_table(small_con, tmp_path):
    small_con.execute("DROP TABLE IF EXISTS mapping_equivalence")
    report = export_athena(small_con, tmp_path / "old")
    assert list(report["files"]) == [f"{t.upper()}.csv" for t in ATHENA_TABLES]
    rt = duckdb.connect()
    assert load_athena(rt, tmp_path / "old").rows["concept"] == 204


def test_store_without_vocabulary_tables(tmp_path):
    with pytest.raises(VocabularyFormatError, match="no vocabulary table"):
        export_athena(duckdb.connect(), tmp_path / "x")


def test_exported_dates_and_nulls(small_con, tmp_path):
    small_con.execute("UPDATE concept SET valid_end_date = DATE '2024-02-29', invalid_reason = 'D' "
                      "WHERE concept_id = 201826")
    export_athena(small_con, tmp_path / "d")
    line = [ln for ln in (tmp_path / "d" / "CONCEPT.csv").read_text().split("\n") if ln.startswith("201826\t")][0]
    fields = line.split("\t")
    assert fields[7:] == ["19700101", "20240229", "D"]
    other = [ln for ln in (tmp_path / "d" / "CONCEPT.csv").read_text().split("\n") if ln.startswith("320128\t")][0]
    assert other.endswith("\t20991231\t")
    assert Path(tmp_path / "d" / "VOCABULARY.csv").read_text().startswith(
        "vocabulary_id\tvocabulary_name\tvocabulary_reference\tvocabulary_version\tvocabulary_concept_id\n")
