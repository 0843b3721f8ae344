"""The synthetic Athena vocabulary loads with load_athena, is deterministic and internally consistent."""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossbridge.synth.athena_vocabulary import (
    BULK,
    BULK_ID_START,
    SynthArgumentError,
    write_athena_vocabulary,
)
from terminology import athena as A
from terminology import concepts as K
from terminology.athena import VOCABULARY_TABLES, load_athena
from terminology.errors import VocabularyFormatError
from terminology.translate import translate_column

SIZE = dict(concepts=20_000, relationships=120_000)


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    out = tmp_path_factory.mktemp("athena") / "a"
    report = write_athena_vocabulary(out, seed=7, **SIZE)
    con = duckdb.connect()
    load = load_athena(con, out)
    yield out, report, con, load
    con.close()


def _one(con, sql):
    return con.execute(sql).fetchall()[0][0]


def test_loads_and_report_counts_match_files(voc):
    out, report, con, load = voc
    assert set(report["files"]) == {f"{t.upper()}.csv" for t in VOCABULARY_TABLES
                                    if t not in ("drug_strength", "mapping_equivalence")}
    for name, rows in report["files"].items():
        assert load.rows[name[:-4].lower()] == rows, name
        assert report["bytes"][name] == (out / name).stat().st_size
    assert report["files"]["CONCEPT.csv"] == 20_000
    assert report["files"]["CONCEPT_RELATIONSHIP.csv"] == 120_000
    assert report["relationships_structural"] < 120_000
    # ~3 ancestor rows and ~1 synonym per concept
    assert 2.0 < report["files"]["CONCEPT_ANCESTOR.csv"] / 20_000 < 4.0
    assert 0.95 < report["files"]["CONCEPT_SYNONYM.csv"] / 20_000 < 1.1
    assert 100 < 20_000 - sum(report["vocabularies"].values()) < 200  # the fixed and metadata concepts
    assert set(load.vocabulary_versions) >= {v.vocabulary_id for v in BULK}
    assert len(load.vocabulary_versions["None"]) <= 20


def test_file_format(voc):
    out, _, _, _ = voc
    header = (out / "CONCEPT.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert header == "\t".join(c for c, _, _ in VOCABULARY_TABLES["concept"])
    for p in out.glob("*.csv"):
        data = p.read_bytes()
        assert b'"' not in data and b"\r" not in data and data.endswith(b"\n"), p.name
    line = (out / "CONCEPT_RELATIONSHIP.csv").read_text(encoding="utf-8").split("\n")[1].split("\t")
    assert re.fullmatch(r"\d{8}", line[3]) and re.fullmatch(r"\d{8}", line[4])


def test_same_seed_same_bytes_other_seed_differs(voc, tmp_path):
    out, _, _, _ = voc
    write_athena_vocabulary(tmp_path / "b", seed=7, **SIZE)
    write_athena_vocabulary(tmp_path / "c", seed=8, **SIZE)
    for p in sorted(out.glob("*.csv")):
        assert (tmp_path / "b" / p.name).read_bytes() == p.read_bytes(), p.name
    assert (tmp_path / "c" / "CONCEPT.csv").read_bytes() != (out / "CONCEPT.csv").read_bytes()


def test_proportions_and_statuses(voc):
    _, report, con, _ = voc
    sizes = report["vocabularies"]
    assert sizes["SNOMED"] > sizes["LOINC"] > sizes["ICD10CM"] > sizes["ICD9CM"] > sizes["ATC"]
    assert 0.45 < (sizes["RxNorm"] + sizes["RxNorm Extension"]) / 20_000 < 0.55
    shares = dict(con.execute(
        """SELECT vocabulary_id, avg(CASE WHEN standard_concept = 'S' THEN 1.0 ELSE 0 END) FROM concept
           GROUP BY vocabulary_id""").fetchall())
    assert 0.74 < shares["SNOMED"] < 0.84 and shares["ICD10CM"] == 0 and shares["NDC"] == 0
    assert _one(con, "SELECT count(*) FROM concept WHERE vocabulary_id = 'ATC' AND standard_concept <> 'C'") == 0
    # invalid concepts: not standard, ended in the past
    bad = _one(con, """SELECT count(*) FROM concept WHERE invalid_reason IS NOT NULL
                       AND (standard_concept IS NOT NULL OR valid_end_date > DATE '2024-06-30'
                            OR valid_end_date <= valid_start_date)""")
    assert bad == 0
    assert _one(con, "SELECT count(*) FROM concept WHERE invalid_reason = 'D'") > 200
    # every upgraded concept is replaced by a valid concept of its vocabulary
    assert _one(con, """SELECT count(*) FROM concept u WHERE u.invalid_reason = 'U' AND NOT EXISTS (
                        SELECT 1 FROM concept_relationship r JOIN concept t ON t.concept_id = r.concept_id_2
                        WHERE r.concept_id_1 = u.concept_id AND r.relationship_id = 'Concept replaced by'
                          AND t.invalid_reason IS NULL AND t.vocabulary_id = u.vocabulary_id)""") == 0
    assert _one(con, "SELECT count(*) FROM concept WHERE invalid_reason = 'U'") > 50
    assert _one(con, "SELECT max(concept_id) FROM concept") < K.LOCAL_CONCEPT_ID_START
    assert _one(con, "SELECT min(concept_id) FROM concept WHERE vocabulary_id = 'ICD10CM'") >= BULK_ID_START


CODE_FORMATS = {
    "SNOMED": r"[1-9]\d{6,}00\d", "RxNorm": r"[1-9]\d{5,}", "RxNorm Extension": r"OMOP\d{7,}",
    "LOINC": r"\d{4,}-\d", "NDC": r"\d{11}", "ICD10CM": r"[A-Z]\d\d(\.\d+)?", "ICD10": r"[A-Z]\d\d(\.\d+)?",
    "ICD9CM": r"\d{3}(\.\d+)?", "ICD9Proc": r"\d\d(\.\d+)?", "ICD10PCS": r"[0-9A-HJ-NP-Z]{7}",
    "CPT4": r"\d{5}", "HCPCS": r"[A-Z]\d{4}", "ATC": r"[A-N]\d\d[A-Z][A-Z]\d\d", "UCUM": r"\[u_\d+\]",
}


def test_codes_have_the_vocabulary_format_and_are_unique(voc):
    _, _, con, _ = voc
    rows = con.execute("SELECT vocabulary_id, concept_code FROM concept").fetchall()
    for vocab, code in rows:
        if vocab in CODE_FORMATS and not code.startswith("1000000"):  # language stand-ins are SNOMED
            assert re.fullmatch(CODE_FORMATS[vocab], code), (vocab, code)
    assert _one(con, """SELECT count(*) FROM (SELECT vocabulary_id, concept_code FROM concept
                        WHERE concept_code <> 'OMOP generated' GROUP BY ALL HAVING count(*) > 1)""") == 0
    lengths = dict(con.execute("SELECT vocabulary_id, avg(length(concept_name)) FROM concept GROUP BY 1").fetchall())
    assert 25 < lengths["SNOMED"] < 90 and 40 < lengths["RxNorm Extension"] < 110


def test_every_relationship_row_has_its_reverse(voc):
    _, _, con, _ = voc
    missing = _one(con, """
        SELECT count(*) FROM concept_relationship r
        JOIN relationship d ON d.relationship_id = r.relationship_id
        LEFT JOIN concept_relationship b ON b.concept_id_1 = r.concept_id_2 AND b.concept_id_2 = r.concept_id_1
             AND b.relationship_id = d.reverse_relationship_id AND b.valid_start_date = r.valid_start_date
             AND b.valid_end_date = r.valid_end_date AND b.invalid_reason IS NOT DISTINCT FROM r.invalid_reason
        WHERE b.concept_id_1 IS NULL""")
    assert missing == 0
    dup = _one(con, """SELECT count(*) FROM (SELECT concept_id_1, concept_id_2, relationship_id
                       FROM concept_relationship GROUP BY ALL HAVING count(*) > 1)""")
    assert dup == 0
    assert _one(con, "SELECT count(DISTINCT relationship_id) FROM concept_relationship") == 24


def test_maps_to_targets_are_standard_and_non_standard_codes_map(voc):
    _, _, con, _ = voc
    assert _one(con, """SELECT count(*) FROM concept_relationship r JOIN concept t ON t.concept_id = r.concept_id_2
                        WHERE r.relationship_id = 'Maps to'
                          AND (t.standard_concept IS DISTINCT FROM 'S' OR t.invalid_reason IS NOT NULL)""") == 0
    # valid non-standard concepts of mapped vocabularies: 1 or 2 valid targets
    counts = dict(con.execute("""
        SELECT n, count(*) FROM (
            SELECT c.concept_id, count(r.concept_id_2) AS n FROM concept c
            LEFT JOIN concept_relationship r ON r.concept_id_1 = c.concept_id AND r.relationship_id = 'Maps to'
                 AND r.invalid_reason IS NULL
            WHERE c.standard_concept IS NULL AND c.invalid_reason IS NULL
              AND c.vocabulary_id IN ('ICD10CM', 'ICD9CM', 'ICD10', 'NDC', 'SNOMED', 'LOINC')
            GROUP BY 1) GROUP BY n""").fetchall())
    assert set(counts) == {1, 2} and counts[1] > 2 * counts[2]
    # deprecated concepts keep only deprecated 'Maps to' rows, so they translate to nothing
    assert _one(con, """SELECT count(*) FROM source_to_standard s JOIN concept c ON c.concept_id = s.source_concept_id
                        WHERE c.invalid_reason = 'D'""") == 0
    assert _one(con, "SELECT count(*) FROM concept_relationship WHERE invalid_reason = 'D'") > 100
    # ICD10CM maps to SNOMED, NDC to RxNorm / RxNorm Extension
    assert {r[0] for r in con.execute("""SELECT DISTINCT target_vocabulary_id FROM source_to_standard
                                         WHERE source_vocabulary_id = 'NDC'""").fetchall()} == {
        "RxNorm", "RxNorm Extension"}
    code = _one(con, """SELECT concept_code FROM concept WHERE vocabulary_id = 'ICD10CM' AND invalid_reason IS NULL
                        AND valid_start_date = DATE '1970-01-01' ORDER BY concept_id LIMIT 1""")
    out = translate_column(con, pa.table({"vocabulary_id": ["ICD10CM", "ICD10CM"], "source_code": [code, "Z99.XX"]}))
    assert out["concept_id"][0].as_py() > 0 and out["domain_id"][0].as_py() is not None
    assert out["concept_id"][-1].as_py() == 0 and out["source_concept_id"][-1].as_py() == 0


def test_ancestor_is_the_closure_of_is_a(voc):
    _, _, con, _ = voc
    # a self row for every standard or classification concept, and for nothing else
    assert _one(con, """SELECT count(*) FROM concept c FULL JOIN (SELECT * FROM concept_ancestor
                        WHERE min_levels_of_separation = 0) a ON a.descendant_concept_id = c.concept_id
                        WHERE coalesce(c.standard_concept IN ('S', 'C'), false)
                              IS DISTINCT FROM (a.ancestor_concept_id IS NOT NULL)
                           OR a.ancestor_concept_id <> a.descendant_concept_id""") == 0
    # level 1 rows are exactly the 'Is a' edges
    assert _one(con, """SELECT count(*) FROM (SELECT descendant_concept_id, ancestor_concept_id FROM concept_ancestor
                        WHERE min_levels_of_separation = 1) a FULL JOIN (SELECT * FROM concept_relationship
                        WHERE relationship_id = 'Is a') r
                        ON r.concept_id_1 = a.descendant_concept_id AND r.concept_id_2 = a.ancestor_concept_id
                        WHERE r.concept_id_1 IS NULL OR a.descendant_concept_id IS NULL""") == 0
    # deeper rows follow an 'Is a' step and a shorter ancestor row; min = max in a tree
    assert _one(con, """SELECT count(*) FROM concept_ancestor a WHERE a.min_levels_of_separation > 1
                        AND NOT EXISTS (SELECT 1 FROM concept_relationship r JOIN concept_ancestor b
                                        ON b.descendant_concept_id = r.concept_id_2
                                       AND b.ancestor_concept_id = a.ancestor_concept_id
                                       AND b.min_levels_of_separation = a.min_levels_of_separation - 1
                                        WHERE r.concept_id_1 = a.descendant_concept_id
                                          AND r.relationship_id = 'Is a')""") == 0
    assert _one(con, "SELECT count(*) FROM concept_ancestor WHERE min_levels_of_separation <> "
                     "max_levels_of_separation") == 0
    assert _one(con, "SELECT max(min_levels_of_separation) FROM concept_ancestor") == 3
    # the tree stays within a vocabulary
    assert _one(con, """SELECT count(*) FROM concept_relationship r JOIN concept a ON a.concept_id = r.concept_id_1
                        JOIN concept b ON b.concept_id = r.concept_id_2
                        WHERE r.relationship_id = 'Is a' AND a.vocabulary_id <> b.vocabulary_id""") == 0


def test_every_referenced_id_exists(voc):
    _, _, con, _ = voc
    checks = [
        ("concept_relationship", "concept_id_1", "concept", "concept_id"),
        ("concept_relationship", "concept_id_2", "concept", "concept_id"),
        ("concept_relationship", "relationship_id", "relationship", "relationship_id"),
        ("concept_ancestor", "ancestor_concept_id", "concept", "concept_id"),
        ("concept_ancestor", "descendant_concept_id", "concept", "concept_id"),
        ("concept_synonym", "concept_id", "concept", "concept_id"),
        ("concept_synonym", "language_concept_id", "concept", "concept_id"),
        ("concept", "domain_id", "domain", "domain_id"),
        ("concept", "vocabulary_id", "vocabulary", "vocabulary_id"),
        ("concept", "concept_class_id", "concept_class", "concept_class_id"),
        ("relationship", "reverse_relationship_id", "relationship", "relationship_id"),
        ("relationship", "relationship_concept_id", "concept", "concept_id"),
        ("vocabulary", "vocabulary_concept_id", "concept", "concept_id"),
        ("domain", "domain_concept_id", "concept", "concept_id"),
        ("concept_class", "concept_class_concept_id", "concept", "concept_id"),
    ]
    for table, col, ref, key in checks:
        n = _one(con, f"SELECT count(*) FROM {table} t ANTI JOIN {ref} r ON r.{key} = t.{col}")
        assert n == 0, (table, col)
    for cid in (K.GENDER_MALE, K.VISIT_INPATIENT, K.TYPE_CLAIM, K.STATUS_PRIMARY_DIAGNOSIS, K.NO_MATCHING_CONCEPT):
        assert _one(con, f"SELECT count(*) FROM concept WHERE concept_id = {cid}") == 1
    langs = dict(con.execute("SELECT language_concept_id, count(*) FROM concept_synonym GROUP BY 1").fetchall())
    assert set(langs) == {K.LANGUAGE_ENGLISH, K.LANGUAGE_CHINESE, K.LANGUAGE_FINNISH}
    assert langs[K.LANGUAGE_CHINESE] > 400 and langs[K.LANGUAGE_FINNISH] > 400
    zh = _one(con, f"SELECT concept_synonym_name FROM concept_synonym WHERE language_concept_id = "
                   f"{K.LANGUAGE_CHINESE} LIMIT 1")
    assert all("\u4e00" <= ch <= "\u9fff" for ch in zh)


def test_structural_rows_are_written_even_below_the_target(tmp_path):
    report = write_athena_vocabulary(tmp_path / "x", concepts=5_000, relationships=10)
    assert report["files"]["CONCEPT_RELATIONSHIP.csv"] == report["relationships_structural"] > 10
    load_athena(duckdb.connect(), tmp_path / "x")


@pytest.mark.parametrize("kw, message", [
    (dict(concepts=4_999), "concepts must be between"),
    (dict(concepts=10**9), "concepts must be between"),
    (dict(relationships=-1), "relationships must be"),
])
def test_bad_arguments(tmp_path, kw, message):
    with pytest.raises(SynthArgumentError, match=message):
        write_athena_vocabulary(tmp_path / "x", **kw)
    assert not (tmp_path / "x").exists()


# ---------------------------------------------------------------- the loader's fast path
# terminology.athena reads a clean file tab-delimited (_stage_delimited) and falls back to the
# line-by-line reader (_stage_lines) for anything else; both must give the same table or the same error.
_DOMAIN_HEADER = "domain_id\tdomain_name\tdomain_concept_id"


def _outcome(path, fn):
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = true")
    con.execute("BEGIN")
    try:
        took = fn(con, path, "domain", "_s")
    except VocabularyFormatError as e:
        return ("error", str(e), e.line, e.field), None
    except duckdb.InvalidInputException as e:  # the line reader's own CSV errors (e.g. CR LF CR)
        return ("duckdb", str(e).split("\n")[0]), None
    cols = ", ".join(c for c, _, _ in VOCABULARY_TABLES["domain"])
    rows = con.execute(f"SELECT _line, {cols} FROM _s ORDER BY _line").fetchall() if took is not False else None
    left = sorted(r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary").fetchall())
    return ("rows", rows, left), took


def _same_as_line_reader(path) -> bool:
    """Assert _stage gives what _stage_lines gives; return whether the fast path took the file."""
    outcome, _ = _outcome(path, A._stage)
    old = _outcome(path, lambda *a: (A._check_header(a[1], a[2]), A._stage_lines(*a))[1])[0]
    assert outcome == old, path.read_bytes()
    fast_outcome, took = _outcome(path, lambda *a: (A._check_header(a[1], a[2]), A._stage_delimited(*a))[1])
    if took or outcome[0] == "error" and outcome[2] == 1:  # took it, or the header was wrong
        assert fast_outcome == outcome
    else:  # declined: nothing left behind
        assert fast_outcome == ("rows", None, [])
    return bool(took)


@pytest.mark.parametrize("body, fast", [
    ("\nCondition\tCondition\t19\nDrug\tDrug\t13\n", True),
    ("\r\nCondition\tCondition\t19\r\nDrug\tDrug\t13\r\n", True),
    ("\nCondition\tCondition\t19\nDrug\tDrug\t13", True),  # no line end at the end
    ("\nCondition\tCondition\t19\nDrug\tDrug\t-0\n", True),
    ("\nCondition\t\t19\nDrug\tDrug\t13\n", False),  # required field empty
    ('\n"Cond"\t"a b"\t007\n', True),
    ("\n", True),
    ("\nCondition\tCondition\t19\r\nDrug\tDrug\t13\r\n", False),  # mixed line ends make blank lines
    ("\nCondition\tCondition\t19\n\nDrug\tDrug\t13\n", False),  # blank line
    ("\nCondition\tCondition\t19\nDrug\tDrug\t13\n\n", False),
    ("\nCondition\tCondition\t19\rDrug\tDrug\t13\n", False),  # lone CR
    ("\r\nCondition\tCondition\t19\r\n\r\nDrug\tDrug\t13\r\n", False),
    ("\nCondition\tCondition\t19\t\nDrug\tDrug\t13\n", False),  # trailing tab
    ("\nCondition\tCondition\nDrug\tDrug\t13\n", False),  # a field short
    ("\nCondition\tCon\x1fdition\t19\n", False),
    ("\nCondition\tCondition\t+19\n", False), ("\nCondition\tCondition\t 19\n", False),
    ("\nCondition\tCondition\t1e3\n", False), ("\nCondition\tCondition\t2147483648\n", False),
    ("\n\tCondition\t19\n", False), ('\n"Cond"\t"a\tb"\t19\n', False),
])
def test_fast_path_matches_the_line_reader(tmp_path, body, fast):
    path = tmp_path / "DOMAIN.csv"
    path.write_bytes((_DOMAIN_HEADER + body).encode())
    assert _same_as_line_reader(path) == fast


_CHUNKS = st.sampled_from(["\n", "\r\n", "Drug", "a b", "19", "-7", "007", "+1", " 2", "1e3", "99999999999", "",
                           "\t", "\t", "\n", "\n", "\r\n", "\r", "\x1f", '"', "ä漢"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_CHUNKS, max_size=14))
def test_fast_path_matches_the_line_reader_on_any_bytes(tmp_path, chunks):
    path = tmp_path / "DOMAIN.csv"
    path.write_bytes((_DOMAIN_HEADER + "".join(chunks)).encode())
    _same_as_line_reader(path)


def test_fast_path_loads_the_synthetic_vocabulary_like_the_line_reader(voc, monkeypatch):
    out, _, con, _ = voc
    monkeypatch.setattr(A, "_stage_delimited", lambda *a: False)
    slow = duckdb.connect()
    load_athena(slow, out)
    for table in ("concept", "concept_relationship", "concept_ancestor", "concept_synonym", "vocabulary"):
        a = con.execute(f"SELECT * FROM {table}").fetchall()
        assert a == slow.execute(f"SELECT * FROM {table}").fetchall(), table

