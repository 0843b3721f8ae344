"""Finnish ICD-10: normalisation, combination-code parsing, pyarrow and DuckDB versions agree."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminology.fi_icd10 import (
    SQL_MACROS,
    CodePart,
    InvalidCode,
    normalise_fi_icd10,
    normalise_fi_icd10_array,
    parse_fi_icd10,
    register_fi_macros,
)
from terminology.normalise import DOT_AFTER, normalise_codes

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS

icd_part = st.builds(lambda a, d, r: a + d + r, st.sampled_from(LETTERS), st.text(DIGITS, min_size=2, max_size=2),
                     st.text(ALNUM, max_size=2))
atc_part = st.builds(lambda a, d, b, e: a + d + b + e, st.sampled_from(LETTERS),
                     st.text(DIGITS, min_size=2, max_size=2), st.text(LETTERS, min_size=2, max_size=2),
                     st.text(DIGITS, min_size=2, max_size=2))
combination = st.builds(
    lambda a, pair, ext, atc: a + (pair[0] + pair[1] if pair else "") + ("&" + ext if ext else "")
    + ("#" + atc if atc else ""),
    icd_part, st.one_of(st.none(), st.tuples(st.sampled_from("+*"), icd_part)),
    st.one_of(st.none(), icd_part), st.one_of(st.none(), atc_part))


def _dotted(code: str) -> str:
    """Put dots into a generated code the way a register might (after 3 characters of an ICD part)."""
    return ".".join([code[:3], code[3:]]) if len(code) > 3 and code[3] not in "+*&#" else code


@pytest.fixture(scope="module")
def con():
    c = duckdb.connect()
    register_fi_macros(c)
    yield c
    c.close()


@pytest.mark.parametrize("raw, expected", [
    ("E113+H360", "E11.3+H36.0"),
    ("I10", "I10"),
    ("S7200&W19", "S72.00&W19"),
    ("L270#J01CA04", "L27.0#J01CA04"),
    ("D77*A188", "D77*A18.8"),
    ("A01.0+G01", "A01.0+G01"),
    ("  e11.3 + h36.0 ", "E11.3+H36.0"),
    ("F0000*G300", "F00.00*G30.0"),
    ("", None), ("   ", None), (None, None),
])
def test_examples(raw, expected):
    assert normalise_fi_icd10(raw) == expected


@pytest.mark.parametrize("junk", ["XX", "E1", "1234", "E113++H360", "E113#1234", "E113+", "A01-A09", "E11.3X+H36.0Y7",
                                  "J01CA04#L270", "E113+H360+G01"])
def test_junk_raises_invalid_code(junk):
    with pytest.raises(InvalidCode) as err:
        normalise_fi_icd10(junk)
    assert isinstance(err.value, ValueError) and repr(junk) in str(err.value)
    with pytest.raises(InvalidCode):
        parse_fi_icd10(junk)


@pytest.mark.parametrize("raw, parts", [
    ("E113+H360", [("E11.3", "cause", "ICD10fi"), ("H36.0", "symptom", "ICD10fi")]),
    ("D77*A188", [("D77", "symptom", "ICD10fi"), ("A18.8", "cause", "ICD10fi")]),
    ("A17.0+G01", [("A17.0", "cause", "ICD10fi"), ("G01", "symptom", "ICD10fi")]),
    ("S7200&W19", [("S72.00", "main", "ICD10fi"), ("W19", "external", "ICD10fi")]),
    ("L270#J01CA04", [("L27.0", "main", "ICD10fi"), ("J01CA04", "atc", "ATC")]),
    ("I10", [("I10", "main", "ICD10fi")]),
    ("", []),
])
def test_parse(raw, parts):
    assert parse_fi_icd10(raw) == [CodePart(*p) for p in parts]


@settings(max_examples=300, deadline=None)
@given(combination, st.booleans())
def test_python_idempotent_and_only_dots_added(code, dotted):
    raw = _dotted(code) if dotted else code
    once = normalise_fi_icd10(raw)
    assert normalise_fi_icd10(once) == once
    assert once.replace(".", "") == code
    for part in parse_fi_icd10(raw):
        bare = part.code.replace(".", "")
        if part.vocabulary_id == "ICD10fi":
            assert part.code == (bare if len(bare) <= 3 else bare[:3] + "." + bare[3:])
        else:
            assert "." not in part.code and part.role == "atc"
    assert "".join(p.code for p in parse_fi_icd10(raw)).replace(".", "") == \
        code.replace("+", "").replace("*", "").replace("&", "").replace("#", "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(combination, st.sampled_from(["", "  ", "junk", "E1", "E113+"])), max_size=25))
def test_array_matches_scalar(values):
    def scalar(v):
        try:
            return normalise_fi_icd10(v)
        except InvalidCode:
            return None
    assert normalise_fi_icd10_array(pa.array(values, pa.string())).to_pylist() == [scalar(v) for v in values]
    # normalise_codes delegates ICD10fi here
    assert normalise_codes(pa.array(values, pa.string()), "ICD10fi").to_pylist() == [scalar(v) for v in values]


def test_array_raise_names_row():
    with pytest.raises(InvalidCode, match=r"row 2.*'E1'"):
        normalise_fi_icd10_array(["I10", None, "E1"], invalid="raise")
    assert normalise_fi_icd10_array(pa.chunked_array([["E113+H360"], ["I10"]]), invalid="raise").to_pylist() == [
        "E11.3+H36.0", "I10"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(combination, st.booleans()), min_size=1, max_size=15))
def test_sql_macros_equal_python(con, items):
    raw = [_dotted(c) if d else c for c, d in items]
    rows = con.execute("SELECT cb_fi_icd10(c), cb_fi_icd10_parts(c) FROM unnest(?::VARCHAR[]) WITH ORDINALITY t(c, i) "
                       "ORDER BY i", [raw]).fetchall()
    for r, (whole, parts) in zip(raw, rows):
        assert whole == normalise_fi_icd10(r)
        assert [CodePart(p["code"], p["role"], p["vocabulary_id"]) for p in parts] == parse_fi_icd10(r)


@pytest.mark.parametrize("value", ["", "  ", None, "junk", "E113+"])
def test_sql_blank_and_junk(con, value):
    whole, parts = con.execute("SELECT cb_fi_icd10(?), cb_fi_icd10_parts(?)", [value, value]).fetchall()[0]
    assert whole is None
    blank = value is None or not value.strip()
    assert parts == ([] if blank else None)


def test_sql_macros_are_temp_and_typed(con):
    assert "TEMP MACRO cb_fi_icd10(" in SQL_MACROS and "TEMP MACRO cb_fi_icd10_parts(" in SQL_MACROS
    t = con.execute("SELECT typeof(cb_fi_icd10_parts('E113+H360'))").fetchall()[0][0]
    assert t == 'STRUCT(code VARCHAR, "role" VARCHAR, vocabulary_id VARCHAR)[]'


@pytest.mark.parametrize("vocab, raw, expected", [
    ("ICD9fi", " 6269x", "6269X"), ("ICD8fi", "25000", "25000"), ("ICPC", "t90", "T90"), ("ICPC", "-30", "-30"),
    ("NCSPfi", "jea00", "JEA00"), ("REIMB", "103", "103"), ("VNRfi", "1187", "001187"), ("VNRfi", "001187", "001187"),
    ("ATC", "j01ca04", "J01CA04"), ("VNRfi", " ", None),
])
def test_other_finnish_vocabularies(vocab, raw, expected):
    assert vocab in DOT_AFTER and DOT_AFTER[vocab] is None or vocab == "ATC"
    assert normalise_codes(pa.array([raw], pa.string()), vocab).to_pylist() == [expected]
