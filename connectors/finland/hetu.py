"""Finnish personal identity code (henkilötunnus, HETU): validation and construction, vectorised.

Form (DOMAIN.md): ``DDMMYY`` + century sign + ``NNN`` + check character, 11 characters, upper case.

* Century signs: ``+`` 1800s; ``-``, ``Y``, ``X``, ``W``, ``V``, ``U`` 1900s; ``A``, ``B``, ``C``,
  ``D``, ``E``, ``F`` 2000s (the extra signs exist since 2023; signs of one century are equivalent
  for the birth date but give a different code, i.e. another person).
* ``NNN`` individual number: 002-899 ordinary, 900-999 temporary; 000 and 001 are not used
  (invalid).  Odd = male, even = female.
* Check character = ``"0123456789ABCDEFHJKLMNPRSTUVWXY"[int(DDMMYY + NNN) % 31]``.
* The date must exist in the sign's century (29.02.1900 does not, 29.02.2000 does).

``131052-308T`` is valid.  All array functions take a pyarrow string array (or a list of
str/None) and run in pyarrow/numpy without a Python loop over rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CENTURY_SIGNS", "CHECK_CHARS", "InvalidHetu", "birth_dates", "check_char", "individual_numbers", "is_valid",
    "make_hetus", "sex_codes", "temporary_mask", "valid_mask",
]

CHECK_CHARS = "0123456789ABCDEFHJKLMNPRSTUVWXY"
CENTURY_SIGNS: dict[int, tuple[str, ...]] = {
    1800: ("+",),
    1900: ("-", "Y", "X", "W", "V", "U"),
    2000: ("A", "B", "C", "D", "E", "F"),
}
_PATTERN = r"^[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]$"
_TEMPORARY_FROM = 900
_FIRST_NNN = 2

_CENTURY = np.full(256, -1, dtype=np.int64)  # byte value of a sign -> century
for _c, _signs in CENTURY_SIGNS.items():
    for _s in _signs:
        _CENTURY[ord(_s)] = _c
_CHECK_BYTES = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)


class InvalidHetu(ValueError):
    """A henkilötunnus cannot be built or fails the format/date/check-character rule."""


def _as_array(arr) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not isinstance(arr, pa.Array):
        arr = pa.array(list(arr), type=pa.string())
    if arr.type != pa.string():
        arr = arr.cast(pa.string())
    return arr


def _decode(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(valid mask, day number since 1970-01-01, NNN, format mask) of every element."""
    n = len(arr)
    fmt = pc.fill_null(pc.match_substring_regex(arr, _PATTERN), False).to_numpy(zero_copy_only=False)
    ok = np.zeros(n, dtype=bool)
    day = np.zeros(n, dtype=np.int64)
    nnn = np.full(n, -1, dtype=np.int64)
    idx = np.flatnonzero(fmt)
    if idx.size == 0:
        return ok, day, nnn, fmt
    sel = pc.take(arr, pa.array(idx)).to_numpy(zero_copy_only=False).astype("S11")
    b = np.frombuffer(sel.tobytes(), dtype=np.uint8).reshape(-1, 11).astype(np.int64)
    dig = b - ord("0")
    dd = dig[:, 0] * 10 + dig[:, 1]
    mm = dig[:, 2] * 10 + dig[:, 3]
    yy = dig[:, 4] * 10 + dig[:, 5]
    num = dig[:, 7] * 100 + dig[:, 8] * 10 + dig[:, 9]
    year = _CENTURY[b[:, 6]] + yy
    month_ok = (mm >= 1) & (mm <= 12)
    ym = ((year - 1970) * 12 + np.where(month_ok, mm, 1) - 1).astype("M8[M]")
    first = ym.astype("M8[D]").astype(np.int64)
    dim = (ym + 1).astype("M8[D]").astype(np.int64) - first
    date_ok = month_ok & (dd >= 1) & (dd <= dim)
    check = _CHECK_BYTES[((dd * 10_000 + mm * 100 + yy) * 1000 + num) % 31]
    good = date_ok & (num >= _FIRST_NNN) & (check == b[:, 10])
    ok[idx] = good
    day[idx] = np.where(good, first + dd - 1, 0)
    nnn[idx] = np.where(good, num, -1)
    return ok, day, nnn, fmt


def valid_mask(arr) -> np.ndarray:
    """True where the element is a valid henkilötunnus (format, upper case, real date in the
    sign's century, NNN >= 002, correct check character).  Nulls are False."""
    return _decode(_as_array(arr))[0]


def temporary_mask(arr) -> np.ndarray:
    """True where the element is a valid *temporary* henkilötunnus (NNN 900-999)."""
    ok, _, nnn, _ = _decode(_as_array(arr))
    return ok & (nnn >= _TEMPORARY_FROM)


def individual_numbers(arr) -> np.ndarray:
    """NNN of valid codes as int64, -1 where invalid."""
    return _decode(_as_array(arr))[2]


def birth_dates(arr) -> pa.Array:
    """Birth date (date32) of valid codes, null where invalid."""
    ok, day, _, _ = _decode(_as_array(arr))
    return pa.array(day.astype(np.int32), type=pa.date32(), mask=~ok)


def sex_codes(arr) -> pa.Array:
    """'1' (male, odd NNN) / '2' (female, even NNN) of valid codes, null where invalid."""
    ok, _, nnn, _ = _decode(_as_array(arr))
    codes = pa.array(np.where(nnn % 2 == 1, "1", "2"), type=pa.string())
    return pc.if_else(pa.array(ok), codes, pa.scalar(None, pa.string()))


def is_valid(code: str) -> bool:
    """Scalar convenience wrapper around :func:`valid_mask`."""
    return bool(valid_mask(pa.array([code], pa.string()))[0])


def check_char(ddmmyy: str, nnn: str) -> str:
    """The check character completing ``DDMMYY`` and ``NNN`` (digits only)."""
    if len(ddmmyy) != 6 or len(nnn) != 3 or not (ddmmyy + nnn).isdigit():
        raise InvalidHetu(f"need 6 date digits and 3 individual-number digits, got {len(ddmmyy)}+{len(nnn)}")
    return CHECK_CHARS[int(ddmmyy + nnn) % 31]


def _draw_nnn(male: np.ndarray, temporary: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Individual numbers of the right parity: ordinary 002-899 (449 each sex), temporary 900-999 (50)."""
    n = male.size
    k = np.where(temporary, rng.integers(0, 50, n), rng.integers(0, 449, n))
    base = np.where(temporary, _TEMPORARY_FROM, _FIRST_NNN)
    return base + 2 * k + male.astype(np.int64)


def make_hetus(
    birth: np.ndarray,
    male: np.ndarray,
    rng: np.random.Generator,
    temporary_share: float = 0.0,
    *,
    new_sign_share: float = 0.1,
    taken: np.ndarray | Callable[[np.ndarray], np.ndarray] | None = None,
) -> pa.Array:
    """Valid, unique codes for persons born on ``birth`` (datetime64[D] or day numbers) of sex ``male``.

    ``temporary_share`` of them get a temporary number (900-999).  The century sign is ``+``
    (1800s), else ``-`` / ``A`` except for ``new_sign_share`` that get one of the 2023 signs
    (Y X W V U / B C D E F).  Date + NNN is unique within the call and avoids the keys
    (day number * 1000 + NNN, see :func:`individual_numbers`) in ``taken``: an array of keys, or
    a callable returning a boolean mask "already taken" for an array of keys.
    """
    day = np.asarray(birth).astype("M8[D]").astype(np.int64) if np.asarray(birth).dtype.kind == "M" \
        else np.asarray(birth, dtype=np.int64)
    male = np.asarray(male, dtype=bool)
    n = day.size
    if male.size != n:
        raise InvalidHetu(f"birth and male differ in length ({n} vs {male.size})")
    if not (0.0 <= temporary_share <= 1.0 and 0.0 <= new_sign_share <= 1.0):
        raise InvalidHetu("temporary_share and new_sign_share must lie in [0, 1]")
    dt = day.astype("M8[D]")
    year = dt.astype("M8[Y]").astype(np.int64) + 1970
    if n and (year.min() < 1800 or year.max() > 2099):
        raise InvalidHetu(f"birth years must lie in 1800..2099, got {year.min()}..{year.max()}")
    month = dt.astype("M8[M]").astype(np.int64) % 12 + 1
    dd = (dt - dt.astype("M8[M]").astype("M8[D]")).astype(np.int64) + 1
    temporary = rng.random(n) < temporary_share
    nnn = _draw_nnn(male, temporary, rng)
    if taken is None or callable(taken):
        used = np.zeros(0, np.int64)
    else:
        used = np.sort(np.asarray(taken, dtype=np.int64))
    for _ in range(200):  # redraw rounds (not rows): collisions within the call or with `taken`
        key = day * 1000 + nnn
        _, first = np.unique(key, return_index=True)
        dup = np.ones(n, dtype=bool)
        dup[first] = False
        if used.size:
            pos = np.clip(np.searchsorted(used, key), 0, used.size - 1)
            dup |= used[pos] == key
        elif callable(taken):
            dup |= np.asarray(taken(key), dtype=bool)
        if not dup.any():
            break
        nnn[dup] = _draw_nnn(male[dup], temporary[dup], rng)
    else:
        raise InvalidHetu("too many persons of one sex born on one day to give each a unique individual number")

    century = (year // 100) * 100
    new = rng.random(n) < new_sign_share
    pick = rng.integers(1, 6, n)
    sign_1900 = np.frombuffer(b"-YXWVU", dtype=np.uint8)
    sign_2000 = np.frombuffer(b"ABCDEF", dtype=np.uint8)
    sign = np.where(century == 1800, ord("+"),
                    np.where(century == 1900, sign_1900[np.where(new, pick, 0)], sign_2000[np.where(new, pick, 0)]))
    yy = year % 100
    b = np.empty((n, 11), dtype=np.uint8)
    for j, v in enumerate((dd, month, yy)):  # three 2-digit fields (columns, not rows)
        b[:, 2 * j] = ord("0") + v // 10
        b[:, 2 * j + 1] = ord("0") + v % 10
    b[:, 6] = sign
    b[:, 7] = ord("0") + nnn // 100
    b[:, 8] = ord("0") + (nnn // 10) % 10
    b[:, 9] = ord("0") + nnn % 10
    b[:, 10] = _CHECK_BYTES[((dd * 10_000 + month * 100 + yy) * 1000 + nnn) % 31]
    offsets = np.arange(0, 11 * (n + 1), 11, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(b.tobytes()))
