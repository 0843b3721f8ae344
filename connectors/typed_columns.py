"""Typed conversion of raw columns (any site), vectorised, with reasons for refused rows.

:func:`type_chunk` turns one parsed chunk (all columns string) into the staged
table (exactly :func:`connectors.layout.staging_columns`) and a quarantine
table.  Values listed in the file type's ``null_tokens`` (``NA`` in FinnGen
files) count as empty.  Each column is converted by its
:class:`connectors.layout.Column` kind:

* ``national_id``: blanks trimmed, checked with :func:`national_id.valid_mask`
  (else ``invalid_national_id``), then replaced by ``person_key`` (keyed
  pseudonym); the raw identifier never leaves this module, not even in the
  quarantine detail (which gives its length only).
* ``hetu`` (Finnish henkilötunnus): trimmed, checked with
  :func:`connectors.finland.hetu.valid_mask` (format, date, century sign,
  check character; else ``invalid_national_id``), replaced by ``person_key``;
  temporary numbers (individual number 900-999) are kept and flagged in
  ``person_key_temporary``.
* ``study_id`` (an already pseudonymous id such as FINNGENID): 1-64 of
  ``[A-Za-z0-9_-]`` (else ``invalid_national_id``), re-keyed with the site secret.
* ``str``: kept verbatim; ``''`` -> null.
* ``code``: leading/trailing blanks stripped; ``''`` -> null.
* ``int`` / ``decimal``: ``[-]digits`` / ``[+-]digits[.digits][e[+-]digits]``,
  else ``bad_number``.  (Arrow's own cast would accept ``0x10``, ``nan``, ``inf``.)
* ``date``: ``YYYYMMDD`` (eight ASCII digits) split with integer arithmetic
  and checked against the calendar (20140230 is refused; Arrow's strptime
  would silently turn it into 2014-03-02), and plausibility
  1900-01-01..today; else ``impossible_date``.
* ``fi_date``: ``dd.mm.yyyy`` (day and month may have one digit), optionally
  followed by `` hh:mm`` or `` hh:mm:ss`` (the time is dropped), calendar and
  plausibility checked like ``date``.
* ``iso_date``: ``yyyy-mm-dd``, checked likewise.
* ``fi_decimal``: a decimal with ``,`` or ``.`` as separator (``12,50``).
* ``ym``: ``YYYYMM`` with month 01-12, 190001..this month; kept as text.
* ``year``: ``YYYY`` in 1900..this year -> int32 (else ``impossible_date``).
* ``roc_date``: ROC ``YYY/MM/DD`` (also ``YY/M/D``), ``YYYMMDD`` or
  ``民國YYY年M月D日`` -> AD date (year + 1911).
* ``partial_date``: ``YYYYMMDD`` where an unknown month or day is written 99.
  Unknown parts are imputed to the middle of the period they leave open:
  unknown day -> 15, unknown month -> July 15 (the day of an unknown month is
  meaningless, so it is imputed too).  Mid-period imputation halves the
  worst-case error compared with the first of the period and does not bias
  durations systematically early.  The raw text is kept in ``<NAME>_RAW``.

A required column that is empty -> ``missing_required``.  A row with several
problems is quarantined once, with the first problem in column order; the
quarantine ``column`` names the column and the ``detail`` describes it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.layout import IDENTITY_KINDS, PERSON_KEY, Column, staging_columns
from connectors.pseudonym import Pseudonymiser
from connectors.quarantine import QUARANTINE_SCHEMA, quarantine_table

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "date32": pa.date32(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}
TEMPORARY_FLAG = PERSON_KEY + "_temporary"  # staged next to person_key for hetu columns
MIN_DATE = dt.date(1900, 1, 1)
_NULL_STR = pa.scalar(None, pa.string())
_BLANKS = " \t"  # padding stripped from codes and numbers
_DETAIL_VALUE_CHARS = 40  # raw values in quarantine details are cut to this length
_INT_RE = r"^-?[0-9]{1,18}$"
_DEC_RE = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$"
_FI_DATE_RE = (
    r"^(?P<d>[0-9]{1,2})\.(?P<m>[0-9]{1,2})\.(?P<y>[0-9]{4})"
    r"(?: (?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?)?$"
)
_ISO_DATE_RE = r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})$"
_STUDY_ID_RE = r"^[A-Za-z0-9_-]{1,64}$"
_ROC_PATTERNS = (
    r"^(?P<y>[0-9]{2,3})/(?P<m>[0-9]{1,2})/(?P<d>[0-9]{1,2})$",
    r"^(?P<y>[0-9]{3})(?P<m>[0-9]{2})(?P<d>[0-9]{2})$",
    r"^民國(?P<y>[0-9]{1,3})年(?P<m>[0-9]{1,2})月(?P<d>[0-9]{1,2})日$",
)
ROC_OFFSET = 1911  # AD year = ROC year + 1911


def staging_schema(ft) -> pa.Schema:
    """Arrow schema of the staged Parquet of a file type (from :func:`layout.staging_columns`)."""
    return pa.schema([pa.field(n, ARROW_TYPES[t]) for n, t in staging_columns(ft)])


@dataclass
class Converted:
    """One column after conversion."""

    values: pa.Array  # typed values; null where missing or invalid
    missing: np.ndarray  # bool: empty after trimming
    invalid: np.ndarray  # bool: not empty but refused
    reason: str = ""  # quarantine reason for ``invalid``
    message: str = ""  # what was expected, for the quarantine detail
    extra: dict[str, pa.Array] = field(default_factory=dict)  # additional staged columns


# -- helpers -------------------------------------------------------------------


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    if isinstance(mask, pa.ChunkedArray):
        mask = mask.combine_chunks()
    if mask.null_count:
        mask = pc.fill_null(mask, False)
    return mask.to_numpy(zero_copy_only=False)


def _mask_arr(mask: np.ndarray) -> pa.Array:
    return pa.array(mask, type=pa.bool_())


def _blank_to_null(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    missing = _np(pc.equal(arr, ""))
    if missing.any():
        arr = pc.if_else(_mask_arr(missing), _NULL_STR, arr)
    return arr, missing


def _trimmed(arr: pa.Array) -> tuple[pa.Array, np.ndarray]:
    # the blanks are ASCII, never part of a multibyte UTF-8 character: the byte-wise trim is exact
    return _blank_to_null(pc.ascii_trim(arr, _BLANKS))


def _null_where(arr: pa.Array, mask: np.ndarray) -> pa.Array:
    if not mask.any():
        return arr
    return pc.if_else(_mask_arr(mask), pa.scalar(None, arr.type), arr)


def _digits(arr: pa.Array, length: int) -> np.ndarray:
    """True where the (non-null) value is exactly ``length`` ASCII digits."""
    # all ASCII digits -> bytes = characters, so the (much cheaper) byte length is exact
    return _np(pc.and_(pc.equal(pc.binary_length(arr), length), pc.ascii_is_decimal(arr)))


def _ymd_valid(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """True where year/month/day form a real calendar date (vectorised)."""
    ok = (m >= 1) & (m <= 12) & (d >= 1) & (y >= 1) & (y <= 9999)
    leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
    month_len = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(m, 0, 12)]
    month_len = month_len + ((m == 2) & leap)
    return ok & (d <= month_len)


def _ymd_to_date(
    y: np.ndarray, m: np.ndarray, d: np.ndarray, today: dt.date, earliest: dt.date = MIN_DATE
) -> tuple[pa.Array, np.ndarray]:
    """date32 array from integer parts (numpy datetime arithmetic), and the rows that are
    not a real calendar date in 1900-01-01..today."""
    y, m, d = (np.asarray(a, dtype=np.int64) for a in (y, m, d))
    ok = _ymd_valid(y, m, d)
    months = np.where(ok, (y - 1970) * 12 + (m - 1), 0)
    days = months.astype("datetime64[M]").astype("datetime64[D]") + np.where(ok, d - 1, 0)
    good = ok & (days >= np.datetime64(earliest)) & (days <= np.datetime64(today))
    dates = pa.array(days.astype("datetime64[D]"), type=pa.date32())
    return _null_where(dates, ~good), ~good


def _parse_yyyymmdd(text: pa.Array, candidate: np.ndarray, today: dt.date) -> tuple[pa.Array, np.ndarray]:
    """Parse 8-digit ``YYYYMMDD`` strings where ``candidate``; return (date32, not-a-plausible-date).

    Integer arithmetic plus a calendar check (so 20140230 is refused, not
    rolled over to March as Arrow's strptime would do).
    """
    num = pc.cast(pc.if_else(_mask_arr(candidate), text, pa.scalar("19000101")), pa.int64()).to_numpy(
        zero_copy_only=False
    )
    dates, bad = _ymd_to_date(num // 10000, (num // 100) % 100, num % 100, today)
    bad |= ~candidate
    return _null_where(dates, bad), bad


# -- one converter per kind ----------------------------------------------------------


def convert_str(arr: pa.Array) -> Converted:
    """Free text: verbatim, '' -> null."""
    values, missing = _blank_to_null(arr)
    return Converted(values, missing, np.zeros(len(arr), dtype=bool))


def convert_code(arr: pa.Array) -> Converted:
    """Space-padded code: blanks stripped, '' -> null."""
    values, missing = _trimmed(arr)
    return Converted(values, missing, np.zeros(len(arr), dtype=bool))


def convert_int(arr: pa.Array, to: pa.DataType = pa.int64()) -> Converted:
    """Integer ``[-]digits`` (at most 18); anything else -> bad_number."""
    text, missing = _trimmed(arr)
    ok = _np(pc.and_(pc.ascii_is_decimal(text), pc.less_equal(pc.binary_length(text), 18)))
    rest = ~ok & ~missing
    if rest.any():  # negatives and junk: the regex only runs when needed
        ok |= _np(pc.match_substring_regex(text, _INT_RE)) & rest
    invalid = ~ok & ~missing
    values = pc.cast(_null_where(text, invalid), to)
    return Converted(values, missing, invalid, "bad_number", "is not an integer")


def convert_decimal(arr: pa.Array) -> Converted:
    """Decimal number; ``nan``/``inf``/hex and other junk -> bad_number."""
    text, missing = _trimmed(arr)
    ok = _np(pc.match_substring_regex(text, _DEC_RE))
    invalid = ~ok & ~missing
    values = pc.cast(_null_where(text, invalid), pa.float64())
    return Converted(values, missing, invalid, "bad_number", "is not a decimal number")


def convert_date(arr: pa.Array, today: dt.date) -> Converted:
    """Western ``YYYYMMDD`` -> date32; unparsable or outside 1900..today -> impossible_date."""
    text, missing = _trimmed(arr)
    candidate = _digits(text, 8)
    dates, bad = _parse_yyyymmdd(text, candidate, today)
    return Converted(dates, missing, bad & ~missing, "impossible_date", "is not a date YYYYMMDD in 1900..today")


def convert_ym(arr: pa.Array, today: dt.date) -> Converted:
    """Western ``YYYYMM`` kept as text; month 01-12 and 190001..this month, else impossible_date."""
    text, missing = _trimmed(arr)
    cand = _digits(text, 6)
    num = pc.cast(pc.if_else(_mask_arr(cand), text, pa.scalar("190001")), pa.int32()).to_numpy(zero_copy_only=False)
    month = num % 100
    ok = cand & (month >= 1) & (month <= 12) & (num >= 190001) & (num <= today.year * 100 + today.month)
    invalid = ~ok & ~missing
    return Converted(_null_where(text, invalid), missing, invalid, "impossible_date", "is not a month YYYYMM in 1900..today")


def convert_year(arr: pa.Array, today: dt.date) -> Converted:
    """Western ``YYYY`` -> int32 in 1900..this year, else impossible_date."""
    text, missing = _trimmed(arr)
    cand = _digits(text, 4)
    num = pc.cast(pc.if_else(_mask_arr(cand), text, pa.scalar("1900")), pa.int32()).to_numpy(zero_copy_only=False)
    ok = cand & (num >= MIN_DATE.year) & (num <= today.year)
    invalid = ~ok & ~missing
    values = pc.cast(_null_where(text, ~ok), pa.int32())
    return Converted(values, missing, invalid, "impossible_date", "is not a year in 1900..today")


def _regex_ymd(text: pa.Array, patterns: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Year, month, day (int64 arrays) from the named groups y/m/d of the first matching pattern, and the match mask."""
    n = len(text)
    y = np.zeros(n, dtype=np.int64)
    m = np.zeros(n, dtype=np.int64)
    d = np.zeros(n, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    for pattern in patterns:  # a few patterns, not rows
        parts = pc.extract_regex(text, pattern)
        hit = _np(pc.is_valid(parts)) & ~matched
        if not hit.any():
            continue
        for name, target in (("y", y), ("m", m), ("d", d)):
            field_ = pc.struct_field(parts, name)
            nums = pc.cast(pc.if_else(_mask_arr(hit), field_, pa.scalar("0")), pa.int64()).to_numpy(zero_copy_only=False)
            target[hit] = nums[hit]
        matched |= hit
    return y, m, d, matched


def convert_fi_date(arr: pa.Array, today: dt.date, earliest_year: int = MIN_DATE.year) -> Converted:
    """Finnish ``dd.mm.yyyy`` (optionally `` hh:mm[:ss]``, dropped) -> date32, in earliest_year..today."""
    text, missing = _trimmed(arr)
    y, m, d, matched = _regex_ymd(text, (_FI_DATE_RE,))
    dates, bad = _ymd_to_date(np.where(matched, y, 0), m, d, today, dt.date(earliest_year, 1, 1))
    bad |= ~matched
    return Converted(
        _null_where(dates, bad), missing, bad & ~missing, "impossible_date",
        f"is not a date dd.mm.yyyy [hh:mm] in {earliest_year}..today",
    )


def convert_iso_date(arr: pa.Array, today: dt.date) -> Converted:
    """ISO ``yyyy-mm-dd`` -> date32."""
    text, missing = _trimmed(arr)
    y, m, d, matched = _regex_ymd(text, (_ISO_DATE_RE,))
    dates, bad = _ymd_to_date(np.where(matched, y, 0), m, d, today)
    bad |= ~matched
    return Converted(
        _null_where(dates, bad), missing, bad & ~missing, "impossible_date", "is not a date yyyy-mm-dd in 1900..today"
    )


def convert_roc_date(arr: pa.Array, today: dt.date) -> Converted:
    """ROC date (``YYY/MM/DD``, ``YYYMMDD`` or ``民國YYY年M月D日``) -> AD date32."""
    text, missing = _trimmed(arr)
    y, m, d, matched = _regex_ymd(text, _ROC_PATTERNS)
    y = np.where(matched, y + ROC_OFFSET, 0)
    dates, bad = _ymd_to_date(y, m, d, today)
    bad |= ~matched
    return Converted(
        _null_where(dates, bad), missing, bad & ~missing, "impossible_date", "is not a ROC date YYY/MM/DD or YYYMMDD"
    )


def convert_partial_date(arr: pa.Array, today: dt.date) -> Converted:
    """``YYYYMMDD`` with 99 for an unknown month/day -> imputed date32 (mid-period), raw text kept."""
    text, missing = _trimmed(arr)
    cand = _digits(text, 8)
    num = pc.cast(pc.if_else(_mask_arr(cand), text, pa.scalar("19000101")), pa.int64()).to_numpy(zero_copy_only=False)
    y, m, d = num // 10000, (num // 100) % 100, num % 100
    month_unknown = m == 99
    d = np.where(month_unknown | (d == 99), 15, d)
    m = np.where(month_unknown, 7, m)
    dates, bad = _ymd_to_date(y, m, d, today)
    bad |= ~cand
    return Converted(
        _null_where(dates, bad),
        missing,
        bad & ~missing,
        "impossible_date",
        "is not a date YYYYMMDD (99 = unknown month/day) in 1900..today",
    )


def convert_fi_decimal(arr: pa.Array) -> Converted:
    """Decimal with a comma or a point as separator (``12,50``); junk -> bad_number."""
    text, _ = _trimmed(arr)
    conv = convert_decimal(pc.replace_substring(pc.fill_null(text, ""), ",", ".", max_replacements=1))
    conv.message = "is not a decimal number (12,50 or 12.50)"
    return conv


def convert_hetu(arr: pa.Array, today: dt.date | None = None) -> Converted:
    """Trimmed henkilötunnus checked for format, date, century sign and check character.

    Values are the raw codes (the caller pseudonymises); ``extra`` holds the
    temporary-number flag (individual number 900-999) of the valid ones.
    """
    from connectors.finland.hetu import birth_dates, sex_codes, temporary_mask, valid_mask

    text, missing = _trimmed(arr)
    births = birth_dates(text)
    # a code whose birth date lies in the future (e.g. sign A on 131052: born 2052) is not a real person
    ok = valid_mask(text) & ~_np(pc.greater(births, pa.scalar(today or dt.date.today(), pa.date32())))
    invalid = ~ok & ~missing
    conv = Converted(
        text, missing, invalid, "invalid_national_id",
        "fails the henkilötunnus format, date, sign or check rule, or states a future birth date",
    )
    conv.extra[TEMPORARY_FLAG] = _mask_arr(temporary_mask(text) & ok)
    conv.extra["hetu_birth_date"] = births
    conv.extra["hetu_sex"] = sex_codes(text)
    return conv


def convert_study_id(arr: pa.Array) -> Converted:
    """An already pseudonymous study id (FINNGENID): 1-64 characters of [A-Za-z0-9_-]."""
    text, missing = _trimmed(arr)
    ok = _np(pc.match_substring_regex(text, _STUDY_ID_RE))
    invalid = ~ok & ~missing
    return Converted(text, missing, invalid, "invalid_national_id", "is not a study id ([A-Za-z0-9_-]{1,64})")


def convert_national_id(arr: pa.Array) -> Converted:
    """Trimmed national ID checked for format and check digit; values are the raw IDs (caller pseudonymises)."""
    from connectors.taiwan.national_id import valid_mask

    text, missing = _trimmed(arr)
    ok = valid_mask(text)
    invalid = ~ok & ~missing
    return Converted(text, missing, invalid, "invalid_national_id", "fails the format or check-digit rule")


def convert_column(col: Column, arr: pa.Array, today: dt.date) -> Converted:
    """Dispatch on :attr:`Column.kind`."""
    kind = col.kind
    if kind == "national_id":
        return convert_national_id(arr)
    if kind == "hetu":
        return convert_hetu(arr, today)
    if kind == "study_id":
        return convert_study_id(arr)
    if kind == "fi_date":
        return convert_fi_date(arr, today, col.earliest_year)
    if kind == "iso_date":
        return convert_iso_date(arr, today)
    if kind == "fi_decimal":
        return convert_fi_decimal(arr)
    if kind == "str":
        return convert_str(arr)
    if kind == "code":
        return convert_code(arr)
    if kind == "int":
        return convert_int(arr, pa.int64())
    if kind == "decimal":
        return convert_decimal(arr)
    if kind == "date":
        return convert_date(arr, today)
    if kind == "ym":
        return convert_ym(arr, today)
    if kind == "year":
        return convert_year(arr, today)
    if kind == "roc_date":
        return convert_roc_date(arr, today)
    if kind == "partial_date":
        conv = convert_partial_date(arr, today)
        conv.extra[col.name + "_RAW"] = _trimmed(arr)[0]
        return conv
    raise ValueError(f"column {col.name}: unknown kind {kind!r}")


# -- one chunk -------------------------------------------------------------------------


def _details(col: Column, raw: pa.Array, rows: np.ndarray, conv: Converted, is_missing: np.ndarray) -> pa.Array:
    """Quarantine details for the ``rows`` of one column (vectorised over those rows)."""
    idx = pa.array(rows, type=pa.int64())
    n = len(rows)
    missing_text = f"{col.name} is empty (required)"
    if col.kind in IDENTITY_KINDS:
        length = pc.cast(pc.utf8_length(pc.take(pc.utf8_trim(raw, _BLANKS), idx)), pa.string())
        invalid_text = pc.binary_join_element_wise(
            f"{col.name} {conv.message} (value withheld, ", length, " characters)", ""
        )
    else:
        value = pc.utf8_slice_codeunits(pc.take(raw, idx), 0, _DETAIL_VALUE_CHARS)
        invalid_text = pc.binary_join_element_wise(f"{col.name}='", value, f"' {conv.message}", "")
    return pc.if_else(_mask_arr(is_missing), pa.array([missing_text] * n, pa.string()), invalid_text)


def type_chunk(
    ft,
    raw: pa.Table,
    source_file: str,
    pseudonymiser: Pseudonymiser,
    today: dt.date | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Type one parsed chunk: (staged table with :func:`staging_schema`, quarantine table).

    ``raw`` has the layout's column names (strings) and ``_row_number``.  Reuse
    one :class:`Pseudonymiser` across chunks: it caches pseudonyms it has made.
    """
    today = today or dt.date.today()
    n = raw.num_rows
    first_col = np.full(n, -1, dtype=np.int32)  # index of the first failing column
    first_missing = np.zeros(n, dtype=bool)
    converted: list[Converted] = []
    raws: list[pa.Array] = []
    null_tokens = tuple(getattr(ft, "null_tokens", ()))
    for i, col in enumerate(ft.columns):
        arr = raw.column(col.name).combine_chunks()
        arr = pc.fill_null(arr, "") if arr.null_count else arr
        if null_tokens:
            arr = pc.if_else(pc.is_in(arr, pa.array(null_tokens, pa.string())), pa.scalar("", pa.string()), arr)
        conv = convert_column(col, arr, today)
        miss = conv.missing & col.required
        fail = (miss | conv.invalid) & (first_col < 0)
        first_col[fail] = i
        first_missing[fail] = miss[fail]
        converted.append(conv)
        raws.append(arr)

    good = first_col < 0
    all_good = bool(good.all())
    good_arr = _mask_arr(good)

    def keep(values: pa.Array) -> pa.Array:
        return values if all_good else pc.filter(values, good_arr)

    cols: dict[str, pa.Array] = {}
    for col, conv in zip(ft.columns, converted):
        values = keep(conv.values)
        if col.kind in IDENTITY_KINDS:
            cols[PERSON_KEY] = pseudonymiser.column(values)
        else:
            cols[col.name] = values
        for name, extra in conv.extra.items():
            cols[name] = keep(extra)
    row_numbers = raw.column("_row_number").combine_chunks()
    kept_rows = keep(row_numbers)
    cols["_source_file"] = pa.repeat(pa.scalar(source_file, pa.string()), len(kept_rows))
    cols["_row_number"] = kept_rows
    schema = staging_schema(ft)
    staged = pa.Table.from_arrays(
        [cols[f.name] if cols[f.name].type == f.type else cols[f.name].cast(f.type) for f in schema], schema=schema
    )

    bad_idx = np.flatnonzero(~good)
    if bad_idx.size == 0:
        return staged, QUARANTINE_SCHEMA.empty_table()
    reasons = np.empty(bad_idx.size, dtype=object)
    columns = np.empty(bad_idx.size, dtype=object)
    detail_parts: list[tuple[np.ndarray, pa.Array]] = []
    fc = first_col[bad_idx]
    fm = first_missing[bad_idx]
    for i, (col, conv) in enumerate(zip(ft.columns, converted)):  # columns, not rows
        sel = np.flatnonzero(fc == i)
        if sel.size == 0:
            continue
        rows = bad_idx[sel]
        reasons[sel] = np.where(fm[sel], "missing_required", conv.reason)
        columns[sel] = col.name
        detail_parts.append((sel, _details(col, raws[i], rows, conv, fm[sel])))
    order = np.concatenate([s for s, _ in detail_parts])
    details = pc.take(
        pa.concat_arrays([d for _, d in detail_parts]), pa.array(np.argsort(order, kind="stable"), pa.int64())
    )
    quarantine = quarantine_table(
        source_file,
        ft.key,
        pc.take(row_numbers, pa.array(bad_idx, pa.int64())),
        pa.array(reasons, pa.string()),
        pa.array(columns, pa.string()),
        details,
    )
    return staged, quarantine
