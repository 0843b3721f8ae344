"""Taiwan national identifiers: format and check-digit validation, vectorised.

Accepted forms (see DOMAIN.md):
  * national ID                 ``^[A-Z][12]\\d{8}$``  (1 male, 2 female)
  * new resident certificate    ``^[A-Z][89]\\d{8}$``
  * old resident certificate    ``^[A-Z][A-D]\\d{8}$`` (2nd letter contributes the
    units digit of its letter value)

Checksum: tens and units of the first letter's value weighted 1 and 9, the
next eight characters weighted 8..1, the check digit weighted 1; the sum is
divisible by 10.  ``A123456789`` is valid.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

LETTER_VALUES = {
    "A": 10, "B": 11, "C": 12, "D": 13, "E": 14, "F": 15, "G": 16, "H": 17, "I": 34,
    "J": 18, "K": 19, "L": 20, "M": 21, "N": 22, "O": 35, "P": 23, "Q": 24, "R": 25,
    "S": 26, "T": 27, "U": 28, "V": 29, "W": 32, "X": 30, "Y": 31, "Z": 33,
}
_WEIGHTS = np.array([8, 7, 6, 5, 4, 3, 2, 1, 1], dtype=np.int64)
_PATTERN = r"^[A-Z][1289A-D][0-9]{8}$"

# lookup table indexed by byte value: letter value, or -1
_LV = np.full(256, -1, dtype=np.int64)
for _k, _v in LETTER_VALUES.items():
    _LV[ord(_k)] = _v


def _digit_values(second: np.ndarray) -> np.ndarray:
    """Value of the second character: a digit, or the units of an old-style letter."""
    out = second.astype(np.int64) - ord("0")
    is_letter = (second >= ord("A")) & (second <= ord("D"))
    out[is_letter] = _LV[second[is_letter]] % 10
    return out


def valid_mask(ids: pa.Array | pa.ChunkedArray | list[str | None]) -> np.ndarray:
    """Boolean numpy mask: True where the identifier is well-formed with a correct check digit.

    Nulls and anything not matching the format are False.  Runs in C/numpy;
    no Python loop over rows.
    """
    arr = pa.array(ids, type=pa.string()) if isinstance(ids, list) else ids
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    fmt = pc.fill_null(pc.match_substring_regex(arr, _PATTERN), False).to_numpy(zero_copy_only=False)
    n = len(arr)
    ok = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(fmt)
    if idx.size == 0:
        return ok
    sel = pc.take(arr, pa.array(idx)).to_numpy(zero_copy_only=False).astype("S10")
    b = np.frombuffer(sel.tobytes(), dtype=np.uint8).reshape(-1, 10).astype(np.int64)
    lv = _LV[b[:, 0]]
    total = (lv // 10) + (lv % 10) * 9
    rest = b[:, 1:].copy() - ord("0")
    rest[:, 0] = _digit_values(b[:, 1].copy())
    total = total + rest @ _WEIGHTS
    ok[idx] = (total % 10) == 0
    return ok


def is_valid(national_id: str) -> bool:
    """Scalar convenience wrapper around :func:`valid_mask`."""
    return bool(valid_mask([national_id])[0])


def check_digit(first9: str) -> str:
    """The check digit that completes a 9-character prefix (letter + 8 characters)."""
    if len(first9) != 9:
        raise ValueError(f"need the first 9 characters of an ID, got {len(first9)}")
    letter, second, body = first9[0], first9[1], first9[2:]
    lv = LETTER_VALUES[letter]
    second_val = LETTER_VALUES[second] % 10 if second in "ABCD" else int(second)
    digits = [second_val] + [int(ch) for ch in body]
    total = lv // 10 + (lv % 10) * 9 + sum(d * w for d, w in zip(digits, _WEIGHTS[:8]))
    return str((10 - total % 10) % 10)


def make_ids(letters: np.ndarray, seconds: np.ndarray, bodies: np.ndarray) -> np.ndarray:
    """Vectorised construction of valid IDs (used by the synthetic generator).

    ``letters``: uint8 array of ASCII 'A'..'Z'; ``seconds``: uint8 ASCII second
    character ('1','2','8','9','A'..'D'); ``bodies``: int array 0..9_999_999
    (seven digits).  Returns a numpy array of 10-character str.
    """
    n = len(letters)
    b = np.empty((n, 10), dtype=np.uint8)
    b[:, 0] = letters
    b[:, 1] = seconds
    body = np.asarray(bodies, dtype=np.int64)
    for i in range(7):  # 7 columns, not rows
        b[:, 8 - i] = ord("0") + (body // 10**i) % 10
    lv = _LV[b[:, 0].astype(np.int64)]
    total = (lv // 10) + (lv % 10) * 9
    rest = b[:, 1:9].astype(np.int64) - ord("0")
    rest[:, 0] = _digit_values(b[:, 1].copy())
    total = total + rest @ _WEIGHTS[:8]
    b[:, 9] = ord("0") + (10 - total % 10) % 10
    return np.frombuffer(b.tobytes(), dtype="S10").astype(str)
