"""Store-level checks of the vocabulary loader: 'Maps to' cycles, unknown vocabularies,
the MAPPING_EQUIVALENCE file and overlays from other formats (builders) — each all-or-nothing."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from terminology.athena import MappingCycleError, VocabularyFormatError, load_athena, vocabulary_tables_present
from terminology.overlay import EQUIVALENCE_SCHEMA, MAPPING_LINES_SCHEMA, OverlayVocabulary
from terminology.usagi import ATHENA_SCHEMAS
from terminology.vocabulary import load_site_vocabulary


def _append(path, *rows: str) -> int:
    """Append tab-joined rows; returns the line number of the first appended row."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    first = len(text.splitlines()) + 1
    path.write_text(text + "".join(r + "\n" for r in rows), encoding="utf-8")
    return first


def _two_source_concepts(con) -> tuple[int, int]:
    a, b = con.execute("""SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD10CM'
                          ORDER BY concept_id LIMIT 2""").fetchall()
    return int(a[0]), int(b[0])


def test_maps_to_cycle_names_file_line_and_cycle(athena_copy):
    con = duckdb.connect()
    load_athena(con, athena_copy)
    a, b = _two_source_concepts(con)
    con.close()
    rel = athena_copy / "CONCEPT_RELATIONSHIP.csv"
    line = _append(rel, f"{a}\t{b}\tMaps to\t19700101\t20991231\t", f"{b}\t{a}\tMaps to\t19700101\t20991231\t")
    con = duckdb.connect()
    with pytest.raises(MappingCycleError) as err:
        load_athena(con, athena_copy)
    msg = str(err.value)
    assert "'Maps to' cycle" in msg and str(rel) in msg
    assert err.value.line in (line, line + 1)
    assert f"{min(a, b)} -> {max(a, b)} -> {min(a, b)}" in msg
    assert vocabulary_tables_present(con) == []  # nothing half-loaded


def test_three_step_cycle_found_and_chain_counted(athena_copy):
    con = duckdb.connect()
    load_athena(con, athena_copy)
    ids = [int(r[0]) for r in con.execute(
        "SELECT concept_id FROM concept WHERE vocabulary_id = 'ICD9CM' ORDER BY concept_id LIMIT 4").fetchall()]
    con.close()
    rel = athena_copy / "CONCEPT_RELATIONSHIP.csv"
    # a chain (not a cycle): ids[3] -> ids[0]; and a cycle 0 -> 1 -> 2 -> 0
    _append(rel, f"{ids[3]}\t{ids[0]}\tMaps to\t19700101\t20991231\t")
    copy = rel.read_text(encoding="utf-8")
    report = load_athena(duckdb.connect(), athena_copy)
    assert report.checks["maps_to_chains"] >= 1
    _append(rel, f"{ids[0]}\t{ids[1]}\tMaps to\t19700101\t20991231\t",
            f"{ids[1]}\t{ids[2]}\tMaps to\t19700101\t20991231\t",
            f"{ids[2]}\t{ids[0]}\tMaps to\t19700101\t20991231\t")
    with pytest.raises(MappingCycleError, match=f"{ids[0]} -> {ids[1]} -> {ids[2]} -> {ids[0]}"):
        load_athena(duckdb.connect(), athena_copy)
    # an invalidated row is not followed
    rel.write_text(copy, encoding="utf-8")
    _append(rel, f"{ids[0]}\t{ids[3]}\tMaps to\t19700101\t20991231\tD")
    load_athena(duckdb.connect(), athena_copy)


def test_concept_of_unknown_vocabulary_names_line(athena_copy):
    concept = athena_copy / "CONCEPT.csv"
    line = _append(concept, "1999999999\tOrphan concept\tCondition\tNoSuchVocab\tClinical Finding\t\tX1\t"
                            "19700101\t20991231\t")
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError) as err:
        load_athena(con, athena_copy)
    assert "unknown vocabulary 'NoSuchVocab'" in str(err.value)
    assert err.value.file == str(concept) and err.value.line == line and err.value.field == "vocabulary_id"
    assert vocabulary_tables_present(con) == []


def test_mapping_equivalence_file_loaded_and_checked(athena_copy):
    con = duckdb.connect()
    load_athena(con, athena_copy)
    a, b = con.execute("""SELECT concept_id_1, concept_id_2 FROM concept_relationship
                          WHERE relationship_id = 'Maps to' AND concept_id_1 <> concept_id_2 LIMIT 1""").fetchall()[0]
    con.close()
    eq = athena_copy / "MAPPING_EQUIVALENCE.csv"
    eq.write_text("concept_id_1\tconcept_id_2\trelationship_id\tequivalence\tsource\n"
                  f"{a}\t{b}\tMaps to\twider\treviewed 2026\n", encoding="utf-8")
    con = duckdb.connect()
    report = load_athena(con, athena_copy)
    assert report.rows["mapping_equivalence"] == 1
    assert con.execute("SELECT equivalence, source FROM mapping_equivalence").fetchall() == [("wider", "reviewed 2026")]
    eq.write_text(eq.read_text(encoding="utf-8") + f"{b}\t{a}\tMaps to\tsameish\t\n", encoding="utf-8")
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError) as err:
        load_athena(con, athena_copy)
    assert "unknown equivalence 'sameish'" in str(err.value) and err.value.line == 3
    assert vocabulary_tables_present(con) == []


def test_default_store_has_usagi_equivalences():
    con = duckdb.connect()
    load_site_vocabulary(con)
    rows = dict(con.execute("SELECT equivalence, count(*) FROM mapping_equivalence GROUP BY ALL").fetchall())
    assert rows and set(rows) <= {"equal", "equivalent", "wider", "narrower", "inexact", "unmatched"}
    # every stated equivalence belongs to a loaded 'Maps to'-family row
    orphans = con.execute("""SELECT count(*) FROM mapping_equivalence e LEFT JOIN concept_relationship r
                             ON r.concept_id_1 = e.concept_id_1 AND r.concept_id_2 = e.concept_id_2
                             AND r.relationship_id = e.relationship_id WHERE r.concept_id_1 IS NULL""").fetchall()
    assert orphans == [(0,)]


def _overlay(path: str, source_id: int, target_id: int, *, new_vocab: str | None = "TestVocab",
             line: int = 2) -> OverlayVocabulary:
    import datetime as dt

    tables = {
        "concept_relationship": pa.table([[source_id], [target_id], ["Maps to"], [dt.date(1970, 1, 1)],
                                          [dt.date(2099, 12, 31)], pa.nulls(1, pa.string())],
                                         schema=ATHENA_SCHEMAS["concept_relationship"]),
    }
    if new_vocab:
        tables["concept"] = pa.table([[source_id], ["Test code"], ["Condition"], [new_vocab], ["Undefined"],
                                      pa.nulls(1, pa.string()), ["T1"], [dt.date(1970, 1, 1)],
                                      [dt.date(2099, 12, 31)], pa.nulls(1, pa.string())],
                                     schema=ATHENA_SCHEMAS["concept"])
        tables["vocabulary"] = pa.table([[new_vocab], ["Test"], [None], ["v1"], pa.array([0], pa.int32())],
                                        schema=ATHENA_SCHEMAS["vocabulary"])
    return OverlayVocabulary(
        path, tables,
        equivalence=pa.table([[source_id], [target_id], ["Maps to"], ["narrower"], [path]],
                             schema=EQUIVALENCE_SCHEMA),
        concept_lines=pa.table({"concept_id": pa.array([source_id] if new_vocab else [], pa.int32()),
                                "line": pa.array([line] if new_vocab else [], pa.int64())}),
        mapping_lines=pa.table([["T1"], pa.array([target_id], pa.int32()), pa.array([line], pa.int64())],
                               schema=MAPPING_LINES_SCHEMA),
        new_vocabularies=(new_vocab,) if new_vocab else ())


def test_import_builder_called_inside_transaction_and_loaded(athena_copy):
    seen = {}

    def builder(con):
        seen["snomed"] = con.execute("SELECT count(*) FROM concept WHERE vocabulary_id = 'SNOMED'").fetchall()[0][0]
        target = con.execute("SELECT min(concept_id) FROM concept WHERE standard_concept = 'S' AND domain_id = "
                             "'Condition'").fetchall()[0][0]
        return _overlay("test.json", 2_099_000_001, target)

    con = duckdb.connect()
    report = load_athena(con, athena_copy, imports=[builder])
    assert seen["snomed"] > 0  # the base folder was loaded before the builder ran
    assert report.imports == ("test.json",)
    assert con.execute("SELECT count(*) FROM source_to_standard WHERE source_vocabulary_id = 'TestVocab'"
                       ).fetchall() == [(1,)]
    assert con.execute("SELECT equivalence FROM mapping_equivalence WHERE concept_id_1 = 2099000001"
                       ).fetchall() == [("narrower",)]


def test_import_with_unknown_target_or_clashing_id_rolls_back(athena_copy):
    con = duckdb.connect()
    with pytest.raises(VocabularyFormatError) as err:
        load_athena(con, athena_copy, imports=[_overlay("bad.json", 2_099_000_001, 1_999_999_999, line=7)])
    assert "1999999999" in str(err.value) and err.value.file == "bad.json" and err.value.line == 7
    assert vocabulary_tables_present(con) == []
    existing = duckdb.connect()
    load_athena(existing, athena_copy)
    taken = existing.execute("SELECT min(concept_id) FROM concept WHERE vocabulary_id = 'ICD10CM'").fetchall()[0][0]
    with pytest.raises(VocabularyFormatError, match=f"duplicate concept_id {taken}"):
        load_athena(con, athena_copy, imports=[_overlay("clash.json", taken, taken)])
    assert vocabulary_tables_present(con) == []


def test_import_cycle_names_overlay_file(athena_copy):
    con = duckdb.connect()
    load_athena(con, athena_copy)
    a, b = _two_source_concepts(con)
    con.close()
    imports = [_overlay("a.json", a, b, new_vocab=None, line=4), _overlay("b.json", b, a, new_vocab=None, line=9)]
    con = duckdb.connect()
    with pytest.raises(MappingCycleError) as err:
        load_athena(con, athena_copy, imports=imports)
    assert err.value.file in ("a.json", "b.json") and err.value.line in (4, 9)
    assert vocabulary_tables_present(con) == []
