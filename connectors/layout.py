"""Site-independent pieces of a raw-file layout: column kinds and the staging schema.

Each site declares its file types in its own ``connectors/<site>/layout.py``
with :class:`Column` objects whose ``kind`` says how the connector types the
raw text (see :mod:`connectors.typed_columns`).  A file type is any object with

* ``key`` (staging table name), ``columns`` (tuple of :class:`Column`),
  ``column_names``, ``source_name`` (the register's name for the file, used in
  messages), ``description``;
* ``delimiter`` (one ASCII character), ``encoding`` (default codec of the raw
  files; a site setting may override it) and ``null_tokens`` (field values
  that mean "missing", besides the empty string, e.g. ``NA`` in FinnGen files);
* ``file_pattern`` (compiled regex matching the lower-cased landing file name).

:func:`staging_columns` gives the staged Parquet schema of any such file type.

Declarations the staging quality suites (``validators/staging_suites.py``) are
generated from, all optional (their defaults change nothing in the connector):

* on a :class:`Column`: ``formats`` (the shapes a code may take, per era, as
  :class:`CodeFormat`), ``era_column`` (the date deciding a code's era) and
  ``values`` (the complete set of allowed codes);
* on a file type: ``unique_key`` (staged columns identifying a row after
  consolidation) and ``links`` (:class:`Link`: the parent rows a row refers to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    # identity: validated, then replaced by person_key (the site pseudonym)
    "national_id",  # Taiwan national ID / resident certificate
    "hetu",  # Finnish personal identity code (henkilötunnus)
    "study_id",  # an already pseudonymous study id (e.g. FINNGENID): non-empty, re-keyed with the site secret
    # text
    "str",  # free text; '' -> null
    "code",  # code: leading/trailing blanks stripped, '' -> null
    # numbers
    "int",
    "decimal",  # '.' decimal separator
    "fi_decimal",  # ',' or '.' decimal separator (Finnish registers write 12,50)
    # dates
    "date",  # Western YYYYMMDD
    "ym",  # Western YYYYMM (kept as text)
    "year",  # Western YYYY
    "roc_date",  # ROC YYY/MM/DD (year = AD - 1911)
    "partial_date",  # YYYYMMDD where unknown month/day are written 99
    "fi_date",  # dd.mm.yyyy, optionally followed by a time ' hh:mm' or ' hh:mm:ss' (the time is dropped)
    "iso_date",  # yyyy-mm-dd
]

#: kinds that carry a person identifier (replaced by ``person_key`` in staging)
IDENTITY_KINDS = frozenset({"national_id", "hetu", "study_id"})


@dataclass(frozen=True)
class CodeFormat:
    """One shape a staged code may take (blanks stripped, no dots), in one era.

    ``pattern`` must match the whole value (RE2 syntax, as DuckDB's
    ``regexp_full_match``).  ``since`` / ``until`` (ISO dates, ``until``
    exclusive) bound the era by the column's ``era_column``; formats of one
    column sharing an era are alternatives (a value matching any of them is fine).
    """

    system: str  # code system, e.g. "ICD-10-CM", "ATC", "NHI drug code"
    pattern: str
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Link:
    """Rows of a file type refer to rows of ``parent`` (a file type key) by ``columns``.

    ``parent_columns`` name the parent's columns when they differ (default: the same names).
    After consolidation every staged row with a non-empty reference has its parent row.
    """

    parent: str
    columns: tuple[str, ...]
    parent_columns: tuple[str, ...] = ()

    @property
    def parent_key(self) -> tuple[str, ...]:
        return self.parent_columns or self.columns


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    width: int | None = None  # padded width for "code" columns; fixed length for ids
    required: bool = False  # a required column that is empty quarantines the row
    earliest_year: int = 1900  # date kinds: earlier dates are impossible_date (birth dates reach the 1800s)
    # --- declarations for the staging quality suites only (the connector ignores them)
    formats: tuple[CodeFormat, ...] = ()  # code kinds: accepted shapes (per era)
    # date column deciding a code's era: "COL", or "<parent key>.COL" (through the file type's Link to that
    # parent); a tuple means the first non-empty of these dates
    era_column: str | tuple[str, ...] | None = None
    values: tuple[str, ...] = ()  # code kinds: the complete set of allowed values

    def __post_init__(self) -> None:
        if any(f.since or f.until for f in self.formats) and not self.era_column:
            raise ValueError(f"column {self.name}: code formats with an era need era_column")


def C(
    name: str,
    kind: Kind = "str",
    width: int | None = None,
    required: bool = False,
    earliest_year: int = 1900,
    *,
    formats: tuple[CodeFormat, ...] | CodeFormat = (),
    era_column: str | tuple[str, ...] | None = None,
    values: tuple[str, ...] = (),
) -> Column:
    if isinstance(formats, CodeFormat):
        formats = (formats,)
    return Column(name, kind, width, required, earliest_year, tuple(formats), era_column, tuple(values))


# Code shapes shared by both sites.
ATC = CodeFormat("ATC", r"[A-Z][0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?")  # anatomical group .. substance (J01CA04)
ICDO3_TOPOGRAPHY = CodeFormat("ICD-O-3 topography", r"C[0-9]{3}")  # without dot: C349


# Provenance columns every staged row carries.
PROVENANCE = ("_source_file", "_row_number")
PERSON_KEY = "person_key"  # site pseudonym (hex HMAC-SHA256) replacing the identifier


def staging_columns(ft) -> list[tuple[str, str]]:
    """(name, Arrow type name) of the staged Parquet for a file type.

    The identity column becomes ``person_key`` (a henkilötunnus column also gives
    what the code itself states: ``person_key_temporary`` (individual number
    900-999), ``hetu_birth_date`` and ``hetu_sex`` ('1' male, '2' female), so a
    person is known even when the population register is not delivered); codes are strings with the
    padding stripped; every date kind becomes date32 (``partial_date`` also keeps
    the raw text in ``<NAME>_RAW``); ``ym`` stays a string ``YYYYMM``; ``year``
    is int32, ``int`` int64, decimals float64.
    """
    out: list[tuple[str, str]] = []
    for c in ft.columns:
        if c.kind in IDENTITY_KINDS:
            out.append((PERSON_KEY, "string"))
            if c.kind == "hetu":  # what the code itself says: temporary flag, birth date, sex
                out.append((PERSON_KEY + "_temporary", "bool"))
                out.append(("hetu_birth_date", "date32"))
                out.append(("hetu_sex", "string"))
        elif c.kind in ("date", "roc_date", "fi_date", "iso_date"):
            out.append((c.name, "date32"))
        elif c.kind == "partial_date":
            out.append((c.name, "date32"))
            out.append((c.name + "_RAW", "string"))
        elif c.kind == "year":
            out.append((c.name, "int32"))
        elif c.kind == "int":
            out.append((c.name, "int64"))
        elif c.kind in ("decimal", "fi_decimal"):
            out.append((c.name, "float64"))
        else:  # str, code, ym
            out.append((c.name, "string"))
    out.append(("_source_file", "string"))
    out.append(("_row_number", "int64"))
    return out


def identify_file(file_types, file_name: str):
    """The file type (of ``file_types``) a landing-zone file name belongs to, or None (case-insensitive)."""
    low = file_name.lower()
    for ft in file_types:  # a dozen file types, not rows
        if ft.file_pattern.match(low):
            return ft
    return None


# Quarantine reason codes every site's connector may write (sites add their own).
COMMON_QUARANTINE_REASONS = {
    "invalid_national_id": "person identifier fails the format or check-character rule",
    "impossible_date": "a date field does not parse or lies outside 1900..today",
    "bad_number": "a numeric field does not parse",
    "missing_required": "a required field is empty",
    "wrong_field_count": "the line has too few or too many fields (e.g. truncated)",
    "undecodable": "the line's bytes are not valid in the file's encoding",
    "wrong_encoding": "the line is valid UTF-8 text inside a file in another encoding",
    "duplicate_row": "an exact repeat of an earlier row of the same file type",
}


@dataclass(frozen=True)
class SiteLayout:
    """What the site-independent staging engine needs to know about one site."""

    site: str
    file_types: tuple  # the site's file types (see the module docstring)
    quarantine_reasons: dict[str, str]
    clear_derived: object = None  # callable(staging: Path): remove outputs derived from staged rows

    def identify(self, file_name: str):
        """The file type a landing-zone file name belongs to, or None."""
        return identify_file(self.file_types, file_name)

    @property
    def by_key(self) -> dict:
        return {ft.key: ft for ft in self.file_types}
