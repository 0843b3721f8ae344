"""Code normalisation: padding, case, dot placement, idempotence, ICD-O-3 and ICD version by date."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from terminology.normalise import icd_vocabulary_for_date, icdo3_code, normalise_codes

DIGITS = "0123456789"
ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
VOCABS = ["ICD9CM", "ICD10CM", "ICD10", "ICD9Proc", "ICD10PCS", "ATC", "NHI Drug", "NHI Fee"]

icd9 = st.one_of(
    st.text(DIGITS, min_size=3, max_size=5),
    st.builds(lambda d: "V" + d, st.text(DIGITS, min_size=2, max_size=4)),
    st.builds(lambda d: "E" + d, st.text(DIGITS, min_size=3, max_size=4)),
)
icd10 = st.builds(lambda a, d, r: a + d + r, st.sampled_from("ABCDEFGIJKLMNORSTZ"),
                  st.text(DIGITS, min_size=2, max_size=2), st.text(ALNUM, min_size=0, max_size=4))
padding = st.text(" \t", max_size=3)


def _norm(values, vocab):
    return normalise_codes(pa.array(values, type=pa.string()), vocab).to_pylist()


@pytest.mark.parametrize(
    "vocab, raw, expected",
    [
        ("ICD9CM", "25000  ", "250.00"),
        ("ICD9CM", "4019", "401.9"),
        ("ICD9CM", "496", "496"),
        ("ICD9CM", "v700", "V70.0"),
        ("ICD9CM", "E8809", "E880.9"),
        ("ICD9CM", "E880", "E880"),
        ("ICD9CM", "250.00", "250.00"),
        ("ICD10CM", "E119", "E11.9"),
        ("ICD10CM", "I10", "I10"),
        ("ICD10CM", "j45909 ", "J45.909"),
        ("ICD10", "C349", "C34.9"),
        ("ICD9Proc", "3995", "39.95"),
        ("ICD9Proc", "39", "39"),
        ("ICD10PCS", "5a1d70z", "5A1D70Z"),
        ("ATC", " a10ba02", "A10BA02"),
        ("NHI Drug", "AC46525100  ", "AC46525100"),
        ("NHI Fee", "09005c", "09005C"),
        ("ICD9CM", "   ", None),
        ("ICD10CM", "", None),
        ("ICD10CM", None, None),
    ],
)
def test_examples(vocab, raw, expected):
    assert _norm([raw], vocab) == [expected]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(icd9, padding, padding), max_size=30), st.sampled_from(VOCABS))
def test_idempotent(items, vocab):
    raw = [left + code + right for code, left, right in items]
    once = normalise_codes(pa.array(raw, type=pa.string()), vocab)
    assert normalise_codes(once, vocab).to_pylist() == once.to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(icd9, padding, padding), max_size=30))
def test_icd9cm_dot_placement_and_padding(items):
    raw = [left + code.lower() + right for code, left, right in items]
    out = _norm(raw, "ICD9CM")
    for (code, _, _), got in zip(items, out):
        at = 4 if code.startswith("E") else 3
        expected = code if len(code) <= at else code[:at] + "." + code[at:]
        assert got == expected
        assert got.replace(".", "") == code  # nothing but the dot is added


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(icd10, padding, padding), max_size=30), st.sampled_from(["ICD10CM", "ICD10"]))
def test_icd10_dot_after_three(items, vocab):
    out = _norm([left + code + right for code, left, right in items], vocab)
    for (code, _, _), got in zip(items, out):
        assert got == (code if len(code) <= 3 else code[:3] + "." + code[3:])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(ALNUM, min_size=1, max_size=12), padding, padding), max_size=30),
       st.sampled_from(["ICD10PCS", "ATC", "NHI Drug", "NHI Fee"]))
def test_no_dot_vocabularies_only_strip_and_upper(items, vocab):
    out = _norm([left + code.lower() + right for code, left, right in items], vocab)
    assert out == [code.upper() for code, _, _ in items]


def test_chunked_arrays_are_accepted():
    arr = pa.chunked_array([["4019 ", None], ["25000"]], type=pa.string())
    out = normalise_codes(arr, "ICD9CM")
    assert out.to_pylist() == ["401.9", None, "250.00"]


def test_rejects_non_string_arrays():
    with pytest.raises(TypeError):
        normalise_codes(pa.array([1, 2]), "ICD9CM")


def test_icdo3_code():
    out = icdo3_code(pa.array(["C349", " c509", "C18.9", "C61", None, "C220"]),
                     pa.array(["81403", "85003", "81403", "81403", "81403", "8170"]))
    assert out.to_pylist() == ["8140/3-C34.9", "8500/3-C50.9", "8140/3-C18.9", None, None, None]


@settings(max_examples=100, deadline=None)
@given(st.text(DIGITS, min_size=3, max_size=3), st.text(DIGITS, min_size=5, max_size=5))
def test_icdo3_code_shape(site_digits, histbeh):
    (code,) = icdo3_code(pa.array(["C" + site_digits]), pa.array([histbeh])).to_pylist()
    assert code == f"{histbeh[:4]}/{histbeh[4]}-C{site_digits[:2]}.{site_digits[2]}"


def test_icd_vocabulary_for_date():
    dates = pa.array([dt.date(2015, 12, 31), dt.date(2016, 1, 1), None, dt.date(2020, 5, 1)])
    assert icd_vocabulary_for_date(dates).to_pylist() == ["ICD9CM", "ICD10CM", None, "ICD10CM"]
    assert icd_vocabulary_for_date(dates, "procedure").to_pylist() == ["ICD9Proc", "ICD10PCS", None, "ICD10PCS"]
    ts = pa.array([dt.datetime(2015, 12, 31, 23, 59)], type=pa.timestamp("us"))
    assert icd_vocabulary_for_date(ts).to_pylist() == ["ICD9CM"]
    with pytest.raises(ValueError):
        icd_vocabulary_for_date(dates, "drug")
