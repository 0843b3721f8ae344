"""Henkilötunnus rules (DOMAIN.md): format, century signs, real dates, NNN range, check character."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from connectors.finland.hetu import (
    CENTURY_SIGNS, CHECK_CHARS, InvalidHetu, birth_dates, check_char, individual_numbers, is_valid, make_hetus,
    sex_codes, temporary_mask, valid_mask,
)

ALL_SIGNS = [s for signs in CENTURY_SIGNS.values() for s in signs]
SIGN_CENTURY = {s: c for c, signs in CENTURY_SIGNS.items() for s in signs}


def _reference_valid(s) -> bool:
    """Independent scalar implementation of the published rule."""
    if not isinstance(s, str) or len(s) != 11:
        return False
    body, sign, nnn, chk = s[:6], s[6], s[7:10], s[10]
    if not (body.isdigit() and body.isascii() and nnn.isdigit() and nnn.isascii()) or sign not in SIGN_CENTURY:
        return False
    try:
        dt.date(SIGN_CENTURY[sign] + int(body[4:]), int(body[2:4]), int(body[:2]))
    except ValueError:
        return False
    return int(nnn) >= 2 and chk == "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(body + nnn) % 31]


def _code(d: dt.date, sign: str, nnn: int) -> str:
    body = d.strftime("%d%m") + f"{d.year % 100:02d}"
    return f"{body}{sign}{nnn:03d}{CHECK_CHARS[int(body + f'{nnn:03d}') % 31]}"


dates = st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31))


def test_known_examples_and_scalar_helpers():
    assert is_valid("131052-308T")
    assert _reference_valid("131052-308T")
    assert check_char("131052", "308") == "T"
    for sign in "YXWVU":  # the 2023 signs of the 1900s: same birth date, another code
        assert is_valid(f"131052{sign}308T")
    assert is_valid("131052A308T")  # 13.10.2052 exists too: a valid code of another person
    assert is_valid("131052+308T")  # 13.10.1852 exists: valid
    assert not is_valid("131052-308U")  # wrong check char
    assert not is_valid("131052-308t")  # lower case
    assert not is_valid("131052G308T") and not is_valid("131052Z308T") and not is_valid("131052*308T")
    assert not is_valid(" 131052-308T") and not is_valid("131052-308") and not is_valid("")
    with pytest.raises(InvalidHetu):
        check_char("13105", "308")


def test_sign_century_mismatch_on_leap_days():
    # 29 February exists in 2000 but not in 1900 or 1800 (century years not divisible by 400)
    leap2000 = _code(dt.date(2000, 2, 29), "A", 2)
    assert is_valid(leap2000)
    for sign in ("-", "Y", "U", "+"):
        assert not is_valid(leap2000[:6] + sign + leap2000[7:]), sign
    for sign in "BCDEF":
        assert is_valid(leap2000[:6] + sign + leap2000[7:])
    # 29.02.1896 exists (leap), 29.02.1996 too, 29.02.2096 too: all three centuries valid
    c = _code(dt.date(1896, 2, 29), "+", 123)
    assert all(is_valid(c[:6] + s + c[7:]) for s in ALL_SIGNS)
    # days that exist in no month: 31 April, 30 February
    assert not is_valid("310499-0024") and not is_valid("300299A0024")


def test_individual_number_ranges_and_temporary_numbers():
    d = dt.date(1970, 5, 17)
    assert not is_valid(_code(d, "-", 0)) and not is_valid(_code(d, "-", 1))
    assert is_valid(_code(d, "-", 2)) and is_valid(_code(d, "-", 899))
    codes = pa.array([_code(d, "-", 899), _code(d, "-", 900), _code(d, "-", 999), _code(d, "-", 1), None])
    assert list(temporary_mask(codes)) == [False, True, True, False, False]
    assert list(valid_mask(codes)) == [True, True, True, False, False]
    assert sex_codes(codes).to_pylist() == ["1", "2", "1", None, None]
    assert individual_numbers(codes).tolist() == [899, 900, 999, -1, -1]
    assert birth_dates(codes).to_pylist() == [d, d, d, None, None]
    assert birth_dates(codes).type == pa.date32()


def test_check_character_table():
    assert len(CHECK_CHARS) == 31 and len(set(CHECK_CHARS)) == 31
    assert not set(CHECK_CHARS) & set("GIOQZ")
    # every remainder 0..30 appears as a check character of some code and validates
    for r in range(31):
        n = next(x for x in range(2, 900) if (10_170 * 1000 + x) % 31 == r)  # DDMMYY = 010170
        code = f"010170-{n:03d}{CHECK_CHARS[r]}"
        assert is_valid(code) and _reference_valid(code)


@given(dates, st.data(), st.integers(2, 999))
@settings(max_examples=300, deadline=None)
def test_any_date_every_sign_of_its_century_every_nnn_is_valid(d, data, nnn):
    sign = data.draw(st.sampled_from(CENTURY_SIGNS[(d.year // 100) * 100]))
    code = _code(d, sign, nnn)
    assert is_valid(code) and _reference_valid(code)
    assert birth_dates([code]).to_pylist() == [d]
    assert sex_codes([code]).to_pylist() == ["1" if nnn % 2 else "2"]
    assert bool(temporary_mask([code])[0]) == (nnn >= 900)


@given(dates, st.integers(2, 999), st.integers(0, 10), st.characters(min_codepoint=32, max_codepoint=255))
@settings(max_examples=400, deadline=None)
def test_single_character_changes_are_caught(d, nnn, pos, ch):
    code = _code(d, CENTURY_SIGNS[(d.year // 100) * 100][0], nnn)
    if ch == code[pos]:
        return
    changed = code[:pos] + ch + code[pos + 1:]
    if pos == 6 and ch in SIGN_CENTURY:
        same_century = SIGN_CENTURY[ch] == (d.year // 100) * 100
        if same_century:  # an equivalent sign: still valid (another code for the same birth date)
            assert is_valid(changed)
        else:  # another century: valid iff the date exists there (then it is another person's code)
            assert is_valid(changed) == _reference_valid(changed)
        return
    assert not is_valid(changed), changed


@given(st.lists(st.one_of(
    st.builds(_code, dates, st.sampled_from(ALL_SIGNS), st.integers(0, 999)),
    st.text(alphabet="0123456789-+ABCDEFUVWXYHTab", min_size=10, max_size=12),
    st.none()), max_size=40))
@settings(max_examples=200, deadline=None)
def test_vectorised_agrees_with_scalar_reference(values):
    arr = pa.array(values, pa.string())
    expected = [_reference_valid(v) for v in values]
    assert list(valid_mask(arr)) == expected
    assert [is_valid(v) if v is not None else False for v in values] == expected
    bd = birth_dates(arr).to_pylist()
    assert [b is not None for b in bd] == expected


def test_random_arrays_vectorised_vs_scalar():
    rng = np.random.default_rng(5)
    alphabet = np.array(list("0123456789-+ABCDEFUVWXYHJKTx"))
    vals = ["".join(row) for row in alphabet[rng.integers(0, alphabet.size, (3000, 11))]]
    born = (rng.integers(-60000, 40000, 3000)).astype("M8[D]")
    made = make_hetus(born, rng.random(3000) < 0.5, rng).to_pylist()
    vals += [v[:10] + ("Y" if v[10] != "Y" else "X") for v in made[:500]] + made
    mask = valid_mask(pa.array(vals))
    assert list(mask) == [_reference_valid(v) for v in vals]
    assert mask[-3000:].all() and not mask[-3500:-3000].any()


def test_make_hetus_valid_unique_sexed_with_all_sign_classes():
    rng = np.random.default_rng(11)
    n = 20_000
    born = rng.integers(np.datetime64("1850-01-01").astype(int), np.datetime64("2030-12-31").astype(int), n)
    male = rng.random(n) < 0.5
    codes = make_hetus(born.astype("M8[D]"), male, rng, temporary_share=0.05)
    vals = codes.to_pylist()
    assert valid_mask(codes).all() and len(set(vals)) == n
    assert np.unique(born * 1000 + individual_numbers(codes)).size == n  # birth date + NNN unique
    assert np.array_equal(np.array(sex_codes(codes).to_pylist()) == "1", male)
    assert np.array_equal(birth_dates(codes).cast(pa.int32()).to_numpy(), born)
    assert 0.03 < temporary_mask(codes).mean() < 0.07
    assert {v[6] for v in vals} == set(ALL_SIGNS)
    # `taken` keys are avoided
    d = np.full(300, np.datetime64("1980-06-01"))
    first = make_hetus(d, np.ones(300, bool), rng)
    keys = d.astype(np.int64) * 1000 + individual_numbers(first)
    second = make_hetus(d[:100], np.ones(100, bool), rng, taken=keys)
    assert not set(individual_numbers(second)) & set(individual_numbers(first))
    third = make_hetus(d[:100], np.ones(100, bool), rng, taken=lambda k: np.isin(k, keys))  # a look-up callable
    assert not set(individual_numbers(third)) & set(individual_numbers(first))


def test_make_hetus_rejects_impossible_requests():
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidHetu):
        make_hetus(np.array(["1799-12-31"], "M8[D]"), np.array([True]), rng)
    with pytest.raises(InvalidHetu):
        make_hetus(np.array(["2100-01-01"], "M8[D]"), np.array([True]), rng)
    with pytest.raises(InvalidHetu):  # 449 ordinary odd numbers per day
        make_hetus(np.full(450, np.datetime64("1990-01-01")), np.ones(450, bool), rng)
    with pytest.raises(InvalidHetu):
        make_hetus(np.full(2, np.datetime64("1990-01-01")), np.ones(3, bool), rng)
