import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings, strategies as st

from connectors.pseudonym import MissingSiteSecret, Pseudonymiser
from connectors.taiwan.national_id import LETTER_VALUES, check_digit, is_valid, make_ids, valid_mask


def _reference_valid(s: str) -> bool:
    """Independent scalar implementation of the published rule (DOMAIN.md)."""
    import re

    if not re.fullmatch(r"[A-Z][1289A-D]\d{8}", s):
        return False
    lv = LETTER_VALUES[s[0]]
    second = LETTER_VALUES[s[1]] % 10 if s[1].isalpha() else int(s[1])
    digits = [second] + [int(c) for c in s[2:9]]
    total = lv // 10 + (lv % 10) * 9 + sum(d * w for d, w in zip(digits, [8, 7, 6, 5, 4, 3, 2, 1]))
    return (total + int(s[9])) % 10 == 0


def test_known_examples():
    assert is_valid("A123456789")
    assert not is_valid("A123456788")
    assert not is_valid("a123456789") and not is_valid("A12345678") and not is_valid("A1234567890")
    assert not is_valid("A323456789")  # second char 3 is no valid form
    assert check_digit("A12345678") == "9"
    assert list(valid_mask(["A123456789", None, ""])) == [True, False, False]


ids = st.builds(
    lambda l, s, b: l + s + b,
    st.sampled_from(sorted(LETTER_VALUES)),
    st.sampled_from(list("1289ABCD")),
    st.text("0123456789", min_size=8, max_size=8),
)


@given(st.lists(ids | st.text(max_size=12), max_size=40))
@settings(max_examples=200, deadline=None)
def test_vectorised_mask_agrees_with_reference(values):
    assert list(valid_mask(values)) == [_reference_valid(v) for v in values]


@given(st.lists(st.tuples(st.sampled_from(sorted(LETTER_VALUES)), st.sampled_from(list("1289ABCD")),
                          st.integers(0, 9_999_999)), min_size=1, max_size=30),
       st.integers(2, 9), st.integers(1, 9))
@settings(max_examples=100, deadline=None)
def test_made_ids_are_valid_and_detectable_digit_changes_are_caught(parts, pos, delta):
    """A change of d at a position of weight w is caught iff d*w is not a multiple of 10
    (so e.g. +2 at the weight-5 position is, by design of the checksum, not caught)."""
    weight = [None, 8, 7, 6, 5, 4, 3, 2, 1, 1][pos]
    letters = np.array([ord(p[0]) for p in parts], dtype=np.uint8)
    seconds = np.array([ord(p[1]) for p in parts], dtype=np.uint8)
    made = make_ids(letters, seconds, np.array([p[2] for p in parts]))
    assert valid_mask(list(made)).all()
    corrupted = []
    for m in made:
        if pos == 1 and not m[1].isdigit():
            continue
        d = int(m[pos]) if m[pos].isdigit() else None
        if d is None:
            continue
        corrupted.append(m[:pos] + str((d + delta) % 10) + m[pos + 1:])
    if corrupted:
        caught = (delta * weight) % 10 != 0
        assert (~valid_mask(corrupted)).all() == caught


def test_pseudonyms_are_keyed_deterministic_and_null_preserving():
    a = Pseudonymiser("k1").column(pa.array(["A123456789", None, "A123456789"]))
    b = Pseudonymiser("k2").column(pa.array(["A123456789"]))
    assert a[0].as_py() == a[2].as_py() and a[1].as_py() is None
    assert a[0].as_py() != b[0].as_py() and len(a[0].as_py()) == 64
    assert "A123456789" not in a[0].as_py()
    with pytest.raises(MissingSiteSecret):
        Pseudonymiser("")
