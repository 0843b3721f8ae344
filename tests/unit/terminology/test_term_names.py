"""Names files (read, write, attach by code), the demo Chinese names, and concept search in three languages."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import terminology.concepts as C
from terminology.errors import VocabularyFormatError
from terminology.names import (
    LANGUAGES,
    NAMES_COLUMNS,
    SEARCH_SCHEMA,
    NamesFormatError,
    concept_names,
    names_overlay,
    read_names,
    search_concepts,
    write_names,
)
from terminology.vocabulary import DEMO_ATHENA_DIR, load_site_vocabulary

DEMO_NAMES = DEMO_ATHENA_DIR.parent / "names" / "zh-TW.tsv"
HEADER = "vocabulary_id\tconcept_code\tlanguage\tname\n"
TAIWAN_VOCABULARIES = ("ICD10CM", "ICD9CM", "ICD10PCS", "ICD9Proc", "NHI Fee")


def _write(tmp_path: Path, body: str, header: str = HEADER, name: str = "names.tsv") -> Path:
    p = tmp_path / name
    p.write_text(header + body, encoding="utf-8")
    return p


def _insert(con, overlay) -> None:
    con.register("_test_synonyms", overlay.tables["concept_synonym"])
    try:
        con.execute("INSERT INTO concept_synonym SELECT * FROM _test_synonyms")
    finally:
        con.unregister("_test_synonyms")


@pytest.fixture(scope="module")
def plain_con():
    """A demo store loaded without names files (``names=False``)."""
    con = duckdb.connect()
    load_site_vocabulary(con, names=False)
    yield con
    con.close()


@pytest.fixture(scope="module")
def named_con(demo_con):
    """The default demo store: ``load_site_vocabulary`` attaches the names files."""
    return demo_con


def _concept_id(con, vocabulary_id: str, code: str) -> int:
    return con.execute("SELECT concept_id FROM concept WHERE vocabulary_id = ? AND concept_code = ?",
                       [vocabulary_id, code]).fetchall()[0][0]


def _hits(result: pa.Table) -> set[tuple[str, str]]:
    return {(r["vocabulary_id"], r["concept_code"]) for r in result.to_pylist()}


# ---- names files ------------------------------------------------------------------------------------------

def test_languages_map_tags_to_the_synonym_language_concepts():
    assert LANGUAGES == {"en": C.LANGUAGE_ENGLISH, "zh-TW": C.LANGUAGE_CHINESE, "fi": C.LANGUAGE_FINNISH}


def test_read_demo_names_file():
    t = read_names(DEMO_NAMES)
    assert t.column_names == [*NAMES_COLUMNS, "line"]
    assert t.num_rows == 76
    assert set(t["language"].to_pylist()) == {"zh-TW"}
    assert t["line"].to_pylist() == list(range(2, 78))
    first = t.slice(0, 1).to_pylist()[0]
    assert first == {"vocabulary_id": "ICD10CM", "concept_code": "B18.1", "language": "zh-TW",
                     "name": "慢性病毒性B型肝炎未伴有D型肝炎病毒", "line": 2}
    rows = {(r["vocabulary_id"], r["concept_code"]): r["name"] for r in t.to_pylist()}
    assert rows[("ICD10CM", "E11.9")] == "第二型糖尿病，未伴有併發症"
    assert rows[("ICD10CM", "I10")] == "本態性(原發性)高血壓"
    keys = list(zip(t["vocabulary_id"].to_pylist(), t["concept_code"].to_pylist()))
    assert keys == sorted(keys), "keep zh-TW.tsv sorted by vocabulary_id and concept_code"


def test_read_accepts_bom_crlf_blanks_and_tag_case(tmp_path):
    p = tmp_path / "n.tsv"
    p.write_bytes("\ufeff".encode() + HEADER.replace("\n", "\r\n").encode()
                  + " ICD10CM \tE11.9\tZH-tw\t 糖尿病 \r\nICD10fi\tE11.9\tFI\tTyypin 2 diabetes\r\n".encode())
    t = read_names(p)
    assert t.to_pylist() == [
        {"vocabulary_id": "ICD10CM", "concept_code": "E11.9", "language": "zh-TW", "name": "糖尿病", "line": 2},
        {"vocabulary_id": "ICD10fi", "concept_code": "E11.9", "language": "fi", "name": "Tyypin 2 diabetes",
         "line": 3},
    ]


def test_read_header_only_gives_empty_table(tmp_path):
    t = read_names(_write(tmp_path, ""))
    assert t.num_rows == 0 and t.column_names == [*NAMES_COLUMNS, "line"]


@pytest.mark.parametrize("body, line, column, message", [
    ("ICD10CM\tE11.9\tzh-TW\n", 2, None, "wrong field count: expected 4 tab-separated fields, found 3"),
    ("ICD10CM\tE11.9\tzh-TW\tA\nICD10CM\tI10\tzh-TW\tB\tC\n", 3, None, "found 5"),
    ("ICD10CM\tE11.9\tzh-TW\tA\n\nICD10CM\tI10\tzh-TW\tB\n", 3, None, "found 1"),
    ("ICD10CM\tE11.9\tsv\tDiabetes\n", 2, "language", "unknown language 'sv' (known: en, zh-TW, fi)"),
    ("ICD10CM\tE11.9\tzh-TW\t  \n", 2, "name", "name is empty"),
    ("ICD10CM\t\tzh-TW\t糖尿病\n", 2, "concept_code", "concept_code is empty"),
    ("\tE11.9\tzh-TW\t糖尿病\n", 2, "vocabulary_id", "vocabulary_id is empty"),
    ("ICD10CM\tE11.9\tzh-TW\t糖尿病\nICD10CM\tI10\tzh-TW\t高血壓\nICD10CM\tE11.9\tzh-TW\t糖尿病\n", 4, "name",
     "duplicate name '糖尿病' for ICD10CM 'E11.9' (zh-TW); first given on line 2"),
])
def test_bad_names_files_name_file_line_and_column(tmp_path, body, line, column, message):
    p = _write(tmp_path, body)
    with pytest.raises(NamesFormatError) as e:
        read_names(p)
    assert isinstance(e.value, VocabularyFormatError)
    assert (e.value.file, e.value.line, e.value.field) == (str(p), line, column)
    assert message in str(e.value)
    assert str(p) in str(e.value) and f"line {line}" in str(e.value)
    if column:
        assert f"column {column}" in str(e.value)


def test_wrong_header(tmp_path):
    p = _write(tmp_path, "ICD10CM\tE11.9\tzh-TW\t糖尿病\n", header="vocabulary_id\tcode\tlanguage\tname\n")
    with pytest.raises(NamesFormatError, match=r"line 1: wrong header: expected "
                                                r"'vocabulary_id<TAB>concept_code<TAB>language<TAB>name'"):
        read_names(p)
    with pytest.raises(NamesFormatError, match="wrong header"):
        read_names(_write(tmp_path, "", header="", name="empty.tsv"))


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(NamesFormatError, match="names file does not exist"):
        read_names(tmp_path / "nope.tsv")
    p = tmp_path / "latin1.tsv"
    p.write_bytes(HEADER.encode() + "ICD10CM\tE11.9\tfi\tok\nICD10CM\tI10\tfi\tverenpaine\xe4\n".encode("latin-1"))
    with pytest.raises(NamesFormatError, match=r"line 3: not UTF-8 text"):
        read_names(p)


def test_write_names_refuses_tabs_and_missing_columns(tmp_path):
    bad = pa.table({"vocabulary_id": ["ICD10CM"], "concept_code": ["E11.9"], "language": ["en"], "name": ["a\tb"]})
    with pytest.raises(ValueError, match="column name holds a tab or line break"):
        write_names(bad, tmp_path / "x.tsv")
    with pytest.raises(ValueError, match="lacks column"):
        write_names(bad.drop_columns(["name"]), tmp_path / "x.tsv")


_TEXT = st.text(alphabet=st.one_of(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")), st.just(" ")),
                min_size=1, max_size=12).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, st.sampled_from(list(LANGUAGES)), _TEXT), max_size=15, unique=True))
def test_write_then_read_round_trips(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("names") / "n.tsv"
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(NAMES_COLUMNS)})
    write_names(table, path)
    back = read_names(path)
    assert back.drop_columns(["line"]).to_pylist() == table.to_pylist()
    assert back["line"].to_pylist() == list(range(2, len(rows) + 2))


# ---- attaching names by code -----------------------------------------------------------------------------

def test_demo_names_attach_with_every_row_matching(plain_con, demo_con):
    overlay = names_overlay(DEMO_NAMES)(plain_con)  # unknown='error': every row must name a demo code
    assert overlay.new_vocabularies == ()
    assert set(overlay.tables) == {"concept_synonym"}
    syn = overlay.tables["concept_synonym"]
    assert syn.schema.names == ["concept_id", "concept_synonym_name", "language_concept_id"]
    assert set(syn["language_concept_id"].to_pylist()) == {C.LANGUAGE_CHINESE}
    assert overlay.report["unknown_codes"] == 0, "every row of zh-TW.tsv must name a code of the demo vocabulary"
    assert overlay.report["synonyms"] == 76 and overlay.report["languages"] == {"zh-TW": 76}
    e119 = _concept_id(plain_con, "ICD10CM", "E11.9")
    assert {"concept_id": e119, "concept_synonym_name": "第二型糖尿病，未伴有併發症",
            "language_concept_id": C.LANGUAGE_CHINESE} in syn.to_pylist()
    assert search_concepts(plain_con, "糖尿病").num_rows == 0
    plain_con.execute("BEGIN TRANSACTION")
    try:
        _insert(plain_con, overlay)
        assert ("ICD10CM", "E11.9") in _hits(search_concepts(plain_con, "糖尿病"))
        query = f"""SELECT concept_id, concept_synonym_name FROM concept_synonym
                    WHERE language_concept_id = {C.LANGUAGE_CHINESE} ORDER BY ALL"""
        assert plain_con.execute(query).fetchall() == demo_con.execute(query).fetchall()  # as the loader does
    finally:
        plain_con.execute("ROLLBACK")


def test_every_taiwan_code_of_the_demo_vocabulary_has_a_chinese_name(named_con):
    missing = named_con.execute(
        f"""SELECT vocabulary_id, concept_code, concept_name FROM concept c
            WHERE vocabulary_id IN (SELECT unnest(?::VARCHAR[]))
              AND NOT EXISTS (SELECT 1 FROM concept_synonym s WHERE s.concept_id = c.concept_id
                              AND s.language_concept_id = {C.LANGUAGE_CHINESE})
            ORDER BY vocabulary_id, concept_code""", [list(TAIWAN_VOCABULARIES)]).fetchall()
    lines = "\n".join(f"{v}\t{code}\tzh-TW\t<Traditional Chinese name of: {name}>" for v, code, name in missing)
    assert not missing, f"add these rows to {DEMO_NAMES} (official NHI Chinese wording):\n{lines}"


def test_unknown_code_is_an_error_naming_file_and_line(plain_con, tmp_path):
    p = _write(tmp_path, "ICD10CM\tE11.9\tzh-TW\t糖尿病\nICD10CM\tZ99.999\tzh-TW\t不存在\n"
                         "Klingon\tX1\ten\tnothing\n")
    with pytest.raises(NamesFormatError) as e:
        names_overlay(p)(plain_con)
    assert (e.value.file, e.value.line, e.value.field) == (str(p), 3, "concept_code")
    assert "ICD10CM code 'Z99.999' is not in the loaded CONCEPT table" in str(e.value)
    p2 = _write(tmp_path, "Klingon\tX1\ten\tnothing\n", name="k.tsv")
    with pytest.raises(NamesFormatError,
                       match=r"line 2, column concept_code: .*\(vocabulary 'Klingon' is not loaded\)"):
        names_overlay(p2)(plain_con)


def test_skip_policy_counts_unknown_codes_and_existing_or_repeated_names(plain_con, tmp_path):
    p = _write(tmp_path, "ICD10CM\tE11.9\tzh-TW\t糖尿病\n"
                         "ICD10CM\tE119\tzh-TW\t糖尿病\n"           # same concept once normalised: repeated
                         "ICD10CM\tZ99.999\tzh-TW\t不存在\n"        # unknown code: skipped
                         "NHI Drug\tAC27531100\tzh-TW\t安莫西林\n"  # already in nhi_local: existing
                         "ICD10fi\tE11.9\ten\tType 2 diabetes\n")
    overlay = names_overlay(p, unknown="skip")(plain_con)
    e119 = _concept_id(plain_con, "ICD10CM", "E11.9")
    fi = _concept_id(plain_con, "ICD10fi", "E11.9")
    assert overlay.tables["concept_synonym"].to_pylist() == [
        {"concept_id": e119, "concept_synonym_name": "糖尿病", "language_concept_id": C.LANGUAGE_CHINESE},
        {"concept_id": fi, "concept_synonym_name": "Type 2 diabetes", "language_concept_id": C.LANGUAGE_ENGLISH},
    ]
    assert overlay.report == {"file": str(p), "rows": 5, "synonyms": 2, "unknown_codes": 1, "existing_synonyms": 1,
                              "repeated": 1, "languages": {"en": 1, "zh-TW": 1}}


def test_overlay_rejects_bad_policy_and_reads_the_file_at_once(tmp_path):
    with pytest.raises(ValueError, match="unknown must be one of"):
        names_overlay(DEMO_NAMES, unknown="ignore")
    with pytest.raises(NamesFormatError, match="unknown language"):
        names_overlay(_write(tmp_path, "ICD10CM\tE11.9\txx\tn\n"))


# ---- search ----------------------------------------------------------------------------------------------

def test_search_chinese_finds_icd10_icd9_and_nhi_drug(named_con):
    r = search_concepts(named_con, "糖尿病", limit=50)
    assert r.schema == SEARCH_SCHEMA
    hits = _hits(r)
    assert {("ICD10CM", "E11.9"), ("ICD9CM", "250.00"), ("ICD9CM", "250")} <= hits
    rows = {(x["vocabulary_id"], x["concept_code"]): x for x in r.to_pylist()}
    assert rows[("ICD9CM", "250")]["match_type"] == "exact" and rows[("ICD9CM", "250")]["rank"] == 1
    assert rows[("ICD10CM", "E11.9")]["matched_name"] == "第二型糖尿病，未伴有併發症"
    assert rows[("ICD10CM", "E11.9")]["language"] == "zh-TW"
    assert rows[("ICD10CM", "E11.9")]["concept_name"] == "Type 2 diabetes mellitus without complications"
    drug = search_concepts(named_con, "胰島素")
    assert _hits(drug) == {("NHI Drug", "KC00822209")}
    assert search_concepts(named_con, "糖病").num_rows == 0  # no fuzzy matching of Chinese text


def test_search_english_finds_standard_and_source_concepts(named_con):
    r = search_concepts(named_con, "diabetes", limit=100)
    hits = _hits(r)
    assert {("SNOMED", "44054006"), ("SNOMED", "73211009"), ("ICD10CM", "E11.9"), ("ICD9CM", "250.00"),
            ("ICD10", "E11.9")} <= hits
    assert r["rank"].to_pylist() == list(range(1, r.num_rows + 1))
    scores = r["score"].to_pylist()
    assert scores == sorted(scores, reverse=True)
    assert search_concepts(named_con, "DIABETES", limit=100).equals(r)  # case-insensitive, deterministic


def test_search_finnish_finds_icd10fi_codes(named_con):
    r = search_concepts(named_con, "Tyypin 2 diabetes", limit=10)
    rows = {(x["vocabulary_id"], x["concept_code"]): x for x in r.to_pylist()}
    for code in ("E11.9", "E11.3", "E11.2"):
        assert rows[("ICD10fi", code)]["match_type"] == "prefix"
        assert rows[("ICD10fi", code)]["language"] == "fi"
    assert rows[("ICD10fi", "E11.9")]["matched_name"] == "Tyypin 2 diabetes ilman komplikaatioita"
    upper = search_concepts(named_con, "ÄKILLINEN SYDÄNINFARKTI", languages=["fi"])
    assert ("ICD10fi", "I21.9") in _hits(upper)


def test_search_by_code(named_con):
    for text in ("E11.9", "E119", " e11.9 "):
        r = search_concepts(named_con, text)
        assert {("ICD10CM", "E11.9"), ("ICD10", "E11.9"), ("ICD10fi", "E11.9")} <= _hits(r)
        assert set(r.filter(pa.compute.equal(r["match_type"], "code"))["score"].to_pylist()) == {1.0}
    assert ("ICD9CM", "250.00") in _hits(search_concepts(named_con, "25000"))
    fee = search_concepts(named_con, "08011c")
    assert fee.slice(0, 1).to_pylist()[0]["concept_code"] == "08011C"
    assert fee.slice(0, 1).to_pylist()[0]["match_type"] == "code"


def test_search_similar_words(named_con):
    r = search_concepts(named_con, "diabetis mellitus", vocabularies=["SNOMED"])
    top = r.slice(0, 1).to_pylist()[0]
    assert (top["concept_code"], top["match_type"]) == ("73211009", "similar")
    assert 0.45 < top["score"] <= 0.5
    reordered = search_concepts(named_con, "mellitus diabetes", vocabularies=["SNOMED"])
    assert reordered.slice(0, 1).to_pylist()[0]["concept_code"] == "73211009"


def test_search_filters(named_con):
    r = search_concepts(named_con, "diabetes", vocabularies=["ICD10CM", "ICD9CM"], limit=50)
    assert set(r["vocabulary_id"].to_pylist()) == {"ICD10CM", "ICD9CM"}
    std = search_concepts(named_con, "diabetes", standard_only=True, limit=50)
    assert std.num_rows > 0 and set(std["standard_concept"].to_pylist()) == {"S"}
    drugs = search_concepts(named_con, "metformin", domains=["Drug"], limit=50)
    assert drugs.num_rows >= 3 and set(drugs["domain_id"].to_pylist()) == {"Drug"}
    fi_only = search_concepts(named_con, "diabetes", languages=["fi"], limit=50)
    assert fi_only.num_rows > 0 and set(fi_only["language"].to_pylist()) == {"fi"}
    assert search_concepts(named_con, "diabetes", languages=["zh-TW"]).num_rows == 0
    assert search_concepts(named_con, "diabetes", limit=3).num_rows == 3


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "  "}, "search text must be a non-empty string"),
    ({"text": "x", "limit": 0}, "limit must be a positive integer"),
    ({"text": "x", "languages": ["sv"]}, r"unknown language\(s\) sv"),
    ({"text": "x", "vocabularies": []}, "vocabularies must be a non-empty list"),
])
def test_search_rejects_bad_arguments(named_con, kwargs, message):
    with pytest.raises(ValueError, match=message):
        search_concepts(named_con, **kwargs)


def test_concept_names_in_three_languages(named_con):
    e11_fi = _concept_id(named_con, "ICD10fi", "E11.9")
    e11_cm = _concept_id(named_con, "ICD10CM", "E11.9")
    drug = _concept_id(named_con, "NHI Drug", "KC00822209")
    t = concept_names(named_con, [e11_fi, 201826, e11_cm, drug, 999, e11_cm])
    assert t.to_pylist() == [
        {"concept_id": e11_fi, "en": "Non-insulin-dependent diabetes mellitus without complications", "zh_tw": None,
         "fi": "Tyypin 2 diabetes ilman komplikaatioita"},
        {"concept_id": 201826, "en": "Type 2 diabetes mellitus", "zh_tw": None, "fi": None},
        {"concept_id": e11_cm, "en": "Type 2 diabetes mellitus without complications",
         "zh_tw": "第二型糖尿病，未伴有併發症", "fi": None},
        {"concept_id": drug, "en": "INSULIN GLARGINE 100U/ML", "zh_tw": "甘精胰島素", "fi": None},
        {"concept_id": 999, "en": None, "zh_tw": None, "fi": None},
        {"concept_id": e11_cm, "en": "Type 2 diabetes mellitus without complications",
         "zh_tw": "第二型糖尿病，未伴有併發症", "fi": None},
    ]
    fee = _concept_id(named_con, "NHI Fee", "09005C")
    assert concept_names(named_con, pa.array([fee]))["zh_tw"].to_pylist() == ["血液及體液葡萄糖"]  # first given
