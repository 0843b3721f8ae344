"""Finnish ICD-10 (``ICD10fi``): normalisation and combination codes.

Finnish registers write ICD-10 without dots, may add a Finnish 5th character
(``S7200`` -> ``S72.00``) and join codes into one combination code:

* ``+`` marks the cause (dagger) code: ``A+B`` = A cause, B symptom;
* ``*`` marks the symptom (asterisk) code: ``A*B`` = A symptom, B cause
  (both orders occur: ``A01.0+G01`` and ``D77*A18.8``);
* ``&`` joins an external cause: ``S7200&W19``;
* ``#`` joins an ATC code (the drug behind an adverse effect): ``L270#J01CA04``.

Grammar (after trimming, upper-casing, removing blanks and dots)::

    code  := icd [ ('+' | '*') icd ] [ '&' icd ] [ '#' atc ]
    icd   := letter digit digit [alnum [alnum]]        (E11, E113, S7200, Z50A)
    atc   := letter digit digit [letter [letter [digit digit]]]   (J01, J01CA04)

Normal form (as FinOMOP writes ``concept_code``): a dot after 3 characters in
every ICD-10 part longer than 3, none in the ATC part, joiners kept:
``E113+H360`` -> ``E11.3+H36.0``, ``I10`` -> ``I10``, ``S7200&W19`` ->
``S72.00&W19``, ``L270#J01CA04`` -> ``L27.0#J01CA04``.  Idempotent.

Three implementations of one rule, checked equal by tests:

* scalar Python: :func:`normalise_fi_icd10` (blank -> None, junk ->
  :class:`InvalidCode`) and :func:`parse_fi_icd10` (the parts with their role
  and vocabulary);
* vectorised pyarrow: :func:`normalise_fi_icd10_array` (junk -> null, or raise);
* DuckDB TEMP macros in :data:`SQL_MACROS`: ``cb_fi_icd10(code)`` (NULL for
  blank or junk) and ``cb_fi_icd10_parts(code)`` (``LIST(STRUCT(code, role,
  vocabulary_id))``; empty list for blank, NULL for junk).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import pyarrow as pa
import pyarrow.compute as pc

from terminology.normalise import _as_string_array

VOCABULARY_ID = "ICD10fi"
ATC_VOCABULARY_ID = "ATC"
ROLES = ("main", "cause", "symptom", "external", "atc")
JOINERS = {"+": "cause (dagger) code before, symptom after", "*": "symptom (asterisk) code before, cause after",
           "&": "external cause follows", "#": "ATC code follows"}

ICD_PART = r"[A-Z][0-9]{2}[0-9A-Z]{0,2}"
ATC_PART = r"[A-Z][0-9]{2}(?:[A-Z](?:[A-Z](?:[0-9]{2})?)?)?"
# groups: 1 first ICD part, 2 '+' or '*', 3 second ICD part, 4 external cause, 5 ATC
PATTERN = rf"^({ICD_PART})(?:([+*])({ICD_PART}))?(?:&({ICD_PART}))?(?:#({ATC_PART}))?$"
_RE = re.compile(PATTERN)
_GROUPS = ("a", "j", "b", "e", "t")
# pyarrow (RE2) needs named groups for extract_regex
_ARROW_PATTERN = (rf"^(?P<a>{ICD_PART})(?:(?P<j>[+*])(?P<b>{ICD_PART}))?(?:&(?P<e>{ICD_PART}))?"
                  rf"(?:#(?P<t>{ATC_PART}))?$")
DOT_AFTER = 3


class InvalidCode(ValueError):
    """A value is not a Finnish ICD-10 code (or combination code) of the documented grammar."""

    def __init__(self, value, reason: str = "not a Finnish ICD-10 code", index: int | None = None):
        where = f" (row {index})" if index is not None else ""
        super().__init__(f"{reason}{where}: {value!r}; expected letter + 2 digits + up to 2 characters per "
                         f"part, joined by + * & # (e.g. E113+H360, S7200&W19, L270#J01CA04)")
        self.value = value
        self.index = index


class CodePart(NamedTuple):
    """One part of a (combination) code: normalised code, role and vocabulary."""

    code: str
    role: str  # main | cause | symptom | external | atc
    vocabulary_id: str  # 'ICD10fi' or 'ATC'


def _clean(code: str | None) -> str | None:
    if code is None:
        return None
    s = re.sub(r"\s+", "", str(code)).upper().replace(".", "")
    return s or None


def _dot(part: str) -> str:
    return part if len(part) <= DOT_AFTER else part[:DOT_AFTER] + "." + part[DOT_AFTER:]


def _match(code: str | None) -> dict[str, str] | None:
    s = _clean(code)
    if s is None:
        return None
    m = _RE.match(s)
    if m is None:
        raise InvalidCode(code)
    return {g: (v or "") for g, v in zip(_GROUPS, m.groups())}


def normalise_fi_icd10(code: str | None) -> str | None:
    """Finnish ICD-10 code (or combination code) in normal form; None for blank; raises :class:`InvalidCode`."""
    m = _match(code)
    if m is None:
        return None
    out = _dot(m["a"])
    if m["j"]:
        out += m["j"] + _dot(m["b"])
    if m["e"]:
        out += "&" + _dot(m["e"])
    if m["t"]:
        out += "#" + m["t"]
    return out


def parse_fi_icd10(code: str | None) -> list[CodePart]:
    """The parts of a (combination) code in written order; [] for blank; raises :class:`InvalidCode`.

    ``A+B``: A cause, B symptom; ``A*B``: A symptom, B cause; a lone ICD-10
    code (also before ``&`` / ``#``) is 'main'; ``&X``: X external; ``#X``: X atc
    (vocabulary 'ATC').  ICD-10 parts are in normal form (dotted).
    """
    m = _match(code)
    if m is None:
        return []
    first_role = {"+": "cause", "*": "symptom", "": "main"}[m["j"]]
    parts = [CodePart(_dot(m["a"]), first_role, VOCABULARY_ID)]
    if m["j"]:
        parts.append(CodePart(_dot(m["b"]), "symptom" if m["j"] == "+" else "cause", VOCABULARY_ID))
    if m["e"]:
        parts.append(CodePart(_dot(m["e"]), "external", VOCABULARY_ID))
    if m["t"]:
        parts.append(CodePart(m["t"], "atc", ATC_VOCABULARY_ID))
    return parts


def _arrow_dot(arr):
    dotted = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(arr, 0, DOT_AFTER), pc.utf8_slice_codeunits(arr, DOT_AFTER), ".")
    return pc.if_else(pc.greater(pc.utf8_length(arr), DOT_AFTER), dotted, arr)


def normalise_fi_icd10_array(arr, *, invalid: str = "null") -> pa.Array | pa.ChunkedArray:
    """Vectorised :func:`normalise_fi_icd10` on a pyarrow string array (or list of str).

    Blank -> null.  ``invalid='null'`` turns codes outside the grammar into null
    (keep the raw column as the source value); ``invalid='raise'`` raises
    :class:`InvalidCode` naming the first bad value and its row.
    """
    if invalid not in ("null", "raise"):
        raise ValueError(f"invalid must be 'null' or 'raise', not {invalid!r}")
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = _as_string_array(arr)
    s = pc.replace_substring(pc.replace_substring_regex(pc.utf8_upper(arr), r"\s+", ""), ".", "")
    s = pc.if_else(pc.equal(pc.utf8_length(s), 0), pa.scalar(None, s.type), s)
    ok = pc.match_substring_regex(s, _ARROW_PATTERN)  # null where blank
    if invalid == "raise":
        bad = pc.and_(pc.is_valid(s), pc.invert(pc.fill_null(ok, False)))
        if pc.any(bad).as_py():
            i = pc.index(bad, True).as_py()
            raise InvalidCode(arr[i].as_py(), index=i)
    m = pc.extract_regex(pc.fill_null(s, ""), _ARROW_PATTERN)  # null struct where no match
    a, j, b, e, t = (pc.struct_field(m, g) for g in _GROUPS)
    empty = pa.scalar("", pa.string())
    out = pc.binary_join_element_wise(
        _arrow_dot(a),
        pc.if_else(pc.equal(j, ""), empty, pc.binary_join_element_wise(j, _arrow_dot(b), "")),
        pc.if_else(pc.equal(e, ""), empty, pc.binary_join_element_wise("&", _arrow_dot(e), "")),
        pc.if_else(pc.equal(t, ""), empty, pc.binary_join_element_wise("#", t, "")),
        "")
    return pc.if_else(pc.fill_null(ok, False), out, pa.scalar(None, pa.string()))


def is_fi_icd10(arr) -> pa.Array:
    """Boolean array: the value is blank-free and a valid Finnish ICD-10 (combination) code."""
    return pc.is_valid(normalise_fi_icd10_array(arr, invalid="null"))


# ---------------------------------------------------------------------------
# DuckDB macros (TEMP, per connection).  Same grammar and results as above.
# ---------------------------------------------------------------------------
_SQL_PATTERN = PATTERN.replace("'", "''")
_PARTS_TYPE = "STRUCT(code VARCHAR, role VARCHAR, vocabulary_id VARCHAR)[]"

SQL_MACROS = f"""
CREATE OR REPLACE TEMP MACRO cb_fi_icd10_clean(code) AS
    nullif(replace(regexp_replace(upper(code), '\\s+', '', 'g'), '.', ''), '');

CREATE OR REPLACE TEMP MACRO cb_fi_icd10_match(code) AS
    CASE WHEN regexp_full_match(coalesce(cb_fi_icd10_clean(code), ''), '{_SQL_PATTERN}')
         THEN regexp_extract(cb_fi_icd10_clean(code), '{_SQL_PATTERN}', ['a', 'j', 'b', 'e', 't']) END;

CREATE OR REPLACE TEMP MACRO cb_fi_icd10_dot(part) AS
    CASE WHEN length(part) > {DOT_AFTER} THEN substr(part, 1, {DOT_AFTER}) || '.' || substr(part, {DOT_AFTER + 1})
         ELSE part END;

CREATE OR REPLACE TEMP MACRO cb_fi_icd10_format(m) AS
    CASE WHEN m IS NULL THEN NULL
         ELSE cb_fi_icd10_dot(struct_extract(m, 'a'))
              || CASE WHEN struct_extract(m, 'j') = '' THEN ''
                      ELSE struct_extract(m, 'j') || cb_fi_icd10_dot(struct_extract(m, 'b')) END
              || CASE WHEN struct_extract(m, 'e') = '' THEN '' ELSE '&' || cb_fi_icd10_dot(struct_extract(m, 'e')) END
              || CASE WHEN struct_extract(m, 't') = '' THEN '' ELSE '#' || struct_extract(m, 't') END
    END;

CREATE OR REPLACE TEMP MACRO cb_fi_icd10(code) AS
    cb_fi_icd10_format(cb_fi_icd10_match(code));

CREATE OR REPLACE TEMP MACRO cb_fi_icd10_parts_of(m) AS
    CAST(list_filter([
        {{'code': cb_fi_icd10_dot(struct_extract(m, 'a')),
          'role': CASE struct_extract(m, 'j') WHEN '+' THEN 'cause' WHEN '*' THEN 'symptom' ELSE 'main' END,
          'vocabulary_id': '{VOCABULARY_ID}'}},
        {{'code': CASE WHEN struct_extract(m, 'j') <> '' THEN cb_fi_icd10_dot(struct_extract(m, 'b')) END,
          'role': CASE struct_extract(m, 'j') WHEN '+' THEN 'symptom' ELSE 'cause' END,
          'vocabulary_id': '{VOCABULARY_ID}'}},
        {{'code': CASE WHEN struct_extract(m, 'e') <> '' THEN cb_fi_icd10_dot(struct_extract(m, 'e')) END,
          'role': 'external', 'vocabulary_id': '{VOCABULARY_ID}'}},
        {{'code': CASE WHEN struct_extract(m, 't') <> '' THEN struct_extract(m, 't') END,
          'role': 'atc', 'vocabulary_id': '{ATC_VOCABULARY_ID}'}}
    ], lambda x: x.code IS NOT NULL) AS {_PARTS_TYPE});

CREATE OR REPLACE TEMP MACRO cb_fi_icd10_parts(code) AS
    CASE WHEN cb_fi_icd10_clean(code) IS NULL THEN CAST([] AS {_PARTS_TYPE})
         WHEN cb_fi_icd10_match(code) IS NULL THEN NULL
         ELSE cb_fi_icd10_parts_of(cb_fi_icd10_match(code)) END;
"""


def register_fi_macros(con) -> None:
    """Create (or replace) the Finnish ICD-10 TEMP macros in a DuckDB connection."""
    for statement in SQL_MACROS.split(";"):
        if statement.strip():
            con.execute(statement)


__all__ = [
    "ATC_VOCABULARY_ID", "CodePart", "InvalidCode", "PATTERN", "ROLES", "SQL_MACROS", "VOCABULARY_ID",
    "is_fi_icd10", "normalise_fi_icd10", "normalise_fi_icd10_array", "parse_fi_icd10", "register_fi_macros",
]
