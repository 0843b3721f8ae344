"""Vocabulary release drift (terminology.diff): concept, 'Maps to' and warehouse-impact differences."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest

from terminology.athena import load_athena
from terminology.diff import (
    VocabularyDiff,
    attach_release,
    diff_report,
    diff_vocabularies,
    format_diff,
    source_concept_columns,
    warehouse_impact,
)
from terminology.errors import VocabularyFormatError
from terminology.vocabulary import DEMO_ATHENA_DIR

E119, I10, E785, N189, I2510 = 2100400001, 2100400002, 2100400003, 2100400004, 2100400005
NEW_CONCEPT = 2100409999  # ICD10CM E78.9, replaces E78.5
TAB = "\t"


# ---- small TSV helpers ------------------------------------------------------------------

def _rows(folder: Path, name: str) -> tuple[str, list[list[str]]]:
    lines = (folder / name).read_text(encoding="utf-8").splitlines()
    return lines[0], [ln.split(TAB) for ln in lines[1:]]


def _write(folder: Path, name: str, header: str, rows: list[list[str]]) -> None:
    (folder / name).write_text("\n".join([header, *(TAB.join(r) for r in rows)]) + "\n", encoding="utf-8")


def _edit(folder: Path, name: str, fn) -> None:
    header, rows = _rows(folder, name)
    _write(folder, name, header, fn(rows))


def _set(rows, key: str, col: int, value: str, *, key_col: int = 0):
    for r in rows:
        if r[key_col] == key:
            r[col] = value
    return rows


def make_new_release(old: Path, new: Path) -> Path:
    """NEW = OLD with: I10 renamed, E78.5 upgraded ('U', replaced by new E78.9, its 'Maps to' deprecated),
    E11.9 mapped to Diabetes mellitus instead of Type 2 diabetes, N18.9 removed, I25.10 recoded I25.1,
    ICD10CM version bumped and a vocabulary 'XB Test' added."""
    shutil.copytree(old, new)

    def concepts(rows):
        _set(rows, str(I10), 1, "Essential hypertension")
        _set(rows, str(E785), 9, "U")
        _set(rows, str(E785), 8, "20250630")
        _set(rows, str(I2510), 6, "I25.1")
        rows = [r for r in rows if r[0] != str(N189)]
        rows.append([str(NEW_CONCEPT), "Disorder of lipoprotein metabolism, unspecified", "Condition", "ICD10CM",
                     "4-char billing code", "", "E78.9", "20250701", "20991231", ""])
        return rows

    def relationships(rows):
        rows = [r for r in rows if str(N189) not in (r[0], r[1])]
        for r in rows:
            if (r[0], r[1], r[2]) == (str(E785), "432867", "Maps to"):
                r[5] = "D"
            if (r[0], r[1], r[2]) == (str(E119), "201826", "Maps to"):
                r[1] = "201820"
            if (r[0], r[1], r[2]) == ("201826", str(E119), "Mapped from"):
                r[0] = "201820"
        rows += [[str(E785), str(NEW_CONCEPT), "Concept replaced by", "20250701", "20991231", ""],
                 [str(NEW_CONCEPT), "432867", "Maps to", "20250701", "20991231", ""],
                 ["432867", str(NEW_CONCEPT), "Mapped from", "20250701", "20991231", ""]]
        return rows

    def vocabularies(rows):
        _set(rows, "ICD10CM", 3, "ICD10CM 2027")
        rows.append(["XB Test", "Crossbridge test vocabulary", "", "1", "0"])
        return rows

    _edit(new, "CONCEPT.csv", concepts)
    _edit(new, "CONCEPT_RELATIONSHIP.csv", relationships)
    _edit(new, "VOCABULARY.csv", vocabularies)
    return new


def make_warehouse(path: Path) -> Path:
    """condition_occurrence: E11.9 x3, E78.5 x2, N18.9 x1, I10 x4, I25.10 x1, 0 x1, NULL x1;
    death: E78.5 x1, I10 x1; measurement without source columns; nothing else."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE condition_occurrence (condition_occurrence_id INTEGER, person_id INTEGER, "
                "condition_concept_id INTEGER, condition_source_concept_id INTEGER)")
    src = [E119] * 3 + [E785] * 2 + [N189] + [I10] * 4 + [I2510, 0, None]
    con.executemany("INSERT INTO condition_occurrence VALUES (?, 1, 0, ?)", list(enumerate(src, 1)))
    con.execute("CREATE TABLE death (person_id INTEGER, cause_concept_id INTEGER, cause_source_concept_id INTEGER)")
    con.executemany("INSERT INTO death VALUES (?, 0, ?)", [(1, E785), (2, I10)])
    con.execute("CREATE TABLE measurement (measurement_id INTEGER, measurement_concept_id INTEGER)")
    con.close()
    return path


@pytest.fixture(scope="module")
def releases(tmp_path_factory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("diff")
    old = base / "old"
    shutil.copytree(DEMO_ATHENA_DIR, old)
    new = make_new_release(old, base / "new")
    return old, new, make_warehouse(base / "omop.duckdb")


@pytest.fixture(scope="module")
def report(releases) -> dict:
    old, new, wh = releases
    return diff_report(old, new, warehouse=wh, sample=5)


# ---- the diff ---------------------------------------------------------------------------

def test_totals_and_vocabulary_lists(report):
    d = report["diff"]
    assert d["totals"] == {
        "concepts_added": 1, "concepts_removed": 1, "concepts_changed": 2, "codes_changed": 1,
        "concepts_deprecated": 1, "maps_to_gained": 0, "maps_to_lost": 1, "maps_to_changed": 1,
        "maps_to_removed": 1}
    assert d["vocabularies_added"] == ["XB Test"]
    assert d["vocabularies_removed"] == []
    assert sorted(d["vocabularies"]) == ["ICD10CM", "XB Test"]
    assert len(d["vocabularies_unchanged"]) == 16 and "SNOMED" in d["vocabularies_unchanged"]
    assert d["vocabularies"]["XB Test"]["status"] == "added"
    assert d["vocabularies"]["XB Test"]["version"] == {"old": None, "new": "1"}


def test_icd10cm_concept_changes(report):
    v = report["diff"]["vocabularies"]["ICD10CM"]
    assert v["status"] == "kept" and v["version_changed"] is True
    assert v["version"]["new"] == "ICD10CM 2027"
    assert v["concepts"] == {"old": 26, "new": 26}
    assert v["added"] == {"count": 1, "sample": [{"concept_id": NEW_CONCEPT, "code": "E78.9",
                                                 "name": "Disorder of lipoprotein metabolism, unspecified",
                                                 "standard_concept": None}]}
    assert v["removed"] == {"count": 1, "sample": [{"concept_id": N189, "code": "N18.9",
                                                   "name": "Chronic kidney disease, unspecified",
                                                   "standard_concept": None}]}
    assert v["code_changed"] == {"count": 1, "sample": [{"concept_id": I2510, "code": "I25.10", "new_code": "I25.1"}]}
    assert v["changed"] == {
        "concept_name": {"count": 1, "sample": [{"concept_id": I10, "code": "I10",
                                                 "old": "Essential (primary) hypertension",
                                                 "new": "Essential hypertension"}]},
        "valid_end_date": {"count": 1, "sample": [{"concept_id": E785, "code": "E78.5", "old": "2099-12-31",
                                                   "new": "2025-06-30"}]},
        "invalid_reason": {"count": 1, "sample": [{"concept_id": E785, "code": "E78.5", "old": None, "new": "U"}]},
    }
    assert v["changed_concepts"] == 2
    assert v["deprecated"] == {"count": 1, "with_replacement": 1, "sample": [
        {"concept_id": E785, "code": "E78.5", "invalid_reason": "U", "replaced_by": [NEW_CONCEPT]}]}


def test_icd10cm_maps_to_changes(report):
    m = report["diff"]["vocabularies"]["ICD10CM"]["maps_to"]
    assert m["changed"] == {"count": 1, "sample": [
        {"concept_id": E119, "code": "E11.9", "old_targets": [201826], "new_targets": [201820]}]}
    assert m["lost"] == {"count": 1, "sample": [
        {"concept_id": E785, "code": "E78.5", "old_targets": [432867], "new_targets": []}]}
    assert m["removed"] == {"count": 1, "sample": [
        {"concept_id": N189, "code": "N18.9", "old_targets": [46271022], "new_targets": []}]}
    assert m["gained"] == {"count": 0, "sample": []}


def test_to_dict_is_deterministic_json(releases):
    old, new, _ = releases
    a = diff_report(old, new, sample=3)
    b = diff_report(old, new, sample=3)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert a["warehouse_impact"] is None
    assert a["diff"]["old"] == str(old.resolve()) and a["diff"]["sample"] == 3


def test_sample_zero_keeps_counts(releases):
    old, new, _ = releases
    v = diff_report(old, new, sample=0)["diff"]["vocabularies"]["ICD10CM"]
    assert v["added"] == {"count": 1, "sample": []}
    assert v["maps_to"]["changed"] == {"count": 1, "sample": []}
    assert v["changed"]["concept_name"] == {"count": 1, "sample": []}


def test_same_release_has_no_changes(athena_copy):
    d = diff_report(athena_copy, athena_copy)["diff"]
    assert d["vocabularies"] == {}
    assert all(n == 0 for n in d["totals"].values())
    assert len(d["vocabularies_unchanged"]) == 17


def test_store_file_and_folder_give_the_same_diff(releases, tmp_path):
    old, new, _ = releases
    store = tmp_path / "old_store.duckdb"
    con = duckdb.connect(str(store))
    load_athena(con, old)
    con.close()
    from_store = diff_report(store, new, sample=5)["diff"]
    from_folder = diff_report(old, new, sample=5)["diff"]
    from_store.pop("old"), from_folder.pop("old")
    assert from_store == from_folder


def test_diff_in_caller_connection(releases, tmp_path):
    old, new, _ = releases
    con = duckdb.connect()
    attach_release(con, old, "r1", tmp_path)
    attach_release(con, new, "r2", tmp_path)
    diff = diff_vocabularies(con, "r1", "r2", sample=1)
    assert isinstance(diff, VocabularyDiff)
    assert (diff.old, diff.new) == ("r1", "r2")
    assert diff.totals["maps_to_changed"] == 1
    impact = warehouse_impact(con, ("r1", "r2"), releases[2])
    assert impact["totals"]["affected_records"] == 7
    con.close()


# ---- warehouse impact -------------------------------------------------------------------

def test_warehouse_impact_per_table(report):
    w = report["warehouse_impact"]
    assert w["totals"] == {"affected_records": 7, "by_change": {
        "removed": 1, "gained": 0, "lost": 3, "changed": 3, "deprecated": 0}}
    co, death = w["tables"]
    assert co["table"] == "condition_occurrence" and death["table"] == "death"
    assert co["source_column"] == "condition_source_concept_id" and co["concept_column"] == "condition_concept_id"
    assert (co["records"], co["records_with_source_concept"], co["affected_records"]) == (13, 11, 6)
    assert co["by_vocabulary"] == {"ICD10CM": {"changed": 3, "lost": 2, "removed": 1, "total": 6}}
    assert co["top_codes"] == [
        {"vocabulary_id": "ICD10CM", "code": "E11.9", "source_concept_id": E119, "records": 3, "change": "changed",
         "old_standard_concepts": [201826], "new_standard_concepts": [201820]},
        {"vocabulary_id": "ICD10CM", "code": "E78.5", "source_concept_id": E785, "records": 2, "change": "lost",
         "old_standard_concepts": [432867], "new_standard_concepts": []},
        {"vocabulary_id": "ICD10CM", "code": "N18.9", "source_concept_id": N189, "records": 1, "change": "removed",
         "old_standard_concepts": [46271022], "new_standard_concepts": []},
    ]
    assert (death["records"], death["affected_records"]) == (2, 1)
    assert death["by_vocabulary"] == {"ICD10CM": {"lost": 1, "total": 1}}


def test_warehouse_missing_tables_are_skipped(report):
    skipped = report["warehouse_impact"]["skipped"]
    assert {"table": "measurement", "column": "measurement_source_concept_id", "reason": "column missing"} in skipped
    assert {"table": "measurement", "column": "unit_source_concept_id", "reason": "column missing"} in skipped
    missing = [s["table"] for s in skipped if s["reason"] == "table missing"]
    assert missing == ["person", "visit_occurrence", "visit_detail", "drug_exposure", "procedure_occurrence",
                       "device_exposure", "observation", "note_nlp", "provider", "payer_plan_period", "episode"]


def test_source_concept_columns_from_cdm_declaration():
    cols = source_concept_columns()
    assert ("death", "cause_source_concept_id", "cause_concept_id") in cols
    assert ("measurement", "unit_source_concept_id", "unit_concept_id") in cols
    assert not any(t == "specimen" for t, _, _ in cols)  # CDM v5.4 specimen has no source concept id
    assert len(cols) == 22


def test_format_diff(report):
    text = format_diff(report)
    assert "ICD10CM [kept]" in text and "-> ICD10CM 2027" in text
    assert "'Maps to': lost 1, changed 1, removed 1" in text
    assert "7 records would change standard concept" in text
    assert "ICD10CM E11.9: 3 records, changed: 201826 -> 201820" in text
    assert "ICD10CM E78.5: 2 records, lost: 432867 -> 0" in text
    assert "16 vocabularies unchanged" in text
    assert "measurement.unit_source_concept_id, observation" in text


# ---- errors -----------------------------------------------------------------------------

def test_folder_that_is_not_a_vocabulary(athena_copy, tmp_path):
    empty = tmp_path / "not_vocab"
    empty.mkdir()
    (empty / "readme.txt").write_text("hello")
    with pytest.raises(VocabularyFormatError, match=r"not_vocab: missing required file\(s\): CONCEPT.csv"):
        diff_report(athena_copy, empty)


def test_missing_release_path(athena_copy, tmp_path):
    with pytest.raises(VocabularyFormatError, match="nowhere: vocabulary release does not exist"):
        diff_report(athena_copy, tmp_path / "nowhere")


def test_duckdb_file_without_vocabulary_tables(athena_copy, tmp_path):
    store = tmp_path / "other.duckdb"
    con = duckdb.connect(str(store))
    con.execute("CREATE TABLE concept (concept_id INTEGER)")
    con.close()
    with pytest.raises(VocabularyFormatError,
                       match="other.duckdb: not a vocabulary store: missing table.s. concept_relationship, vocabulary"):
        diff_report(store, athena_copy)


def test_file_that_is_not_duckdb(athena_copy, tmp_path):
    bogus = tmp_path / "bogus.duckdb"
    bogus.write_text("concept_id\n1\n")
    with pytest.raises(VocabularyFormatError, match="bogus.duckdb: not a DuckDB vocabulary store"):
        diff_report(bogus, athena_copy)


def test_missing_warehouse_file(athena_copy, tmp_path):
    with pytest.raises(FileNotFoundError, match="warehouse file does not exist: .*missing.duckdb"):
        diff_report(athena_copy, athena_copy, warehouse=tmp_path / "missing.duckdb")


def test_bad_alias_is_rejected(athena_copy, tmp_path):
    con = duckdb.connect()
    with pytest.raises(ValueError, match="not a plain SQL identifier"):
        attach_release(con, athena_copy, "old; DROP TABLE x", tmp_path)
    con.close()
