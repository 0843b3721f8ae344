"""Normalise source codes to the form Athena writes in ``concept.concept_code``.

Raw Taiwan claims store codes without dots, left-aligned and space-padded
(``'25000  '``); Athena writes ICD codes with dots (``'250.00'``).  Everything
here works on whole pyarrow string arrays (pyarrow.compute), never row by row.

Dot rules (as Athena writes them):

* ICD9CM: after 3 characters (``'250.00'``, ``'V70.0'``), after 4 for E-codes
  (``'E880.9'``);
* ICD10CM, ICD10: after 3 characters (``'E11.9'``, ``'I10'``);
* ICD9Proc: after 2 characters (``'39.95'``);
* ICD10PCS, ATC, NHI codes and anything else: no dot.

Finnish vocabularies (FinOMOP ids): ICD9fi (``6269X``), ICD8fi (5 digits),
ICPC (``T90``, process codes ``-30``), NCSPfi (``JEA00``) and REIMB (``103``)
are kept as written (trimmed, upper case); VNRfi package numbers are left-padded
with zeros to 6 digits (``ZERO_PAD_TO``); Finnish ICD-10 (``ICD10fi``, with
combination codes such as ``E113+H360``) has its own rules in
:mod:`terminology.fi_icd10`, which :func:`normalise_codes` delegates to
(invalid ICD10fi codes become null there).

For the ICD vocabularies an existing dot is removed first, so normalising is
idempotent.  Blank and empty values become null.
"""

from __future__ import annotations

import datetime as _dt

import pyarrow as pa
import pyarrow.compute as pc

# vocabulary_id -> position of the dot (None: no dot); E-codes handled separately
DOT_AFTER: dict[str, int | None] = {
    "ICD9CM": 3,
    "ICD10CM": 3,
    "ICD10": 3,
    "ICD9Proc": 2,
    "ICD10PCS": None,
    "ATC": None,
    "NHI Drug": None,
    "NHI Fee": None,
    # Finnish vocabularies (FinOMOP): written without dots, kept as written
    "ICD9fi": None,
    "ICD8fi": None,
    "ICPC": None,
    "NCSPfi": None,
    "REIMB": None,
    "VNRfi": None,
}
# vocabulary_id -> width: digits-only codes left-padded with '0' to this width
ZERO_PAD_TO: dict[str, int] = {"VNRfi": 6}
# vocabularies whose codes are normalised by terminology.fi_icd10 (combination codes)
FI_ICD10_VOCABULARIES = ("ICD10fi",)
ICD9CM_E_CODE_DOT_AFTER = 4  # ICD-9-CM external-cause codes: E849.7
ICD10_START = _dt.date(2016, 1, 1)  # Taiwan NHI switched ICD-9-CM -> ICD-10-CM/PCS on 2016-01-01


def _as_string_array(arr) -> pa.Array | pa.ChunkedArray:
    if isinstance(arr, (list, tuple)):
        arr = pa.array(arr, type=pa.string())
    if pa.types.is_large_string(arr.type) or pa.types.is_string(arr.type):
        return arr
    if pa.types.is_null(arr.type):
        return arr.cast(pa.string())
    raise TypeError(f"expected a string array, got {arr.type}")


def _clean(arr) -> pa.Array | pa.ChunkedArray:
    """Strip surrounding blanks, upper-case, '' -> null."""
    arr = pc.utf8_upper(pc.utf8_trim_whitespace(_as_string_array(arr)))
    return pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, arr.type), arr)


def _insert_dot(arr, at: int) -> pa.Array | pa.ChunkedArray:
    """Insert '.' after ``at`` characters where the code is longer than ``at``."""
    dotted = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(arr, 0, at), pc.utf8_slice_codeunits(arr, at), ".")
    return pc.if_else(pc.greater(pc.utf8_length(arr), at), dotted, arr)


def _zero_pad(arr, width: int) -> pa.Array | pa.ChunkedArray:
    """Left-pad digits-only codes with '0' to ``width`` (VNR 1187 -> 001187); others unchanged."""
    digits = pc.fill_null(pc.match_substring_regex(arr, r"^[0-9]+$"), False)
    return pc.if_else(digits, pc.utf8_lpad(arr, width, "0"), arr)


def normalise_codes(arr, vocabulary_id: str) -> pa.Array | pa.ChunkedArray:
    """Normalise raw codes of one vocabulary to Athena's ``concept_code`` form.

    Strips blanks, upper-cases, turns empty values into null and, for the ICD
    vocabularies, places the dot where Athena writes it (see module docstring).
    Idempotent: normalising a normalised array changes nothing.
    """
    if vocabulary_id in FI_ICD10_VOCABULARIES:
        from terminology.fi_icd10 import normalise_fi_icd10_array  # local import: fi_icd10 imports this module

        return normalise_fi_icd10_array(arr, invalid="null")
    arr = _clean(arr)
    if vocabulary_id in ZERO_PAD_TO:
        return _zero_pad(arr, ZERO_PAD_TO[vocabulary_id])
    if vocabulary_id not in DOT_AFTER or DOT_AFTER[vocabulary_id] is None:
        return arr
    arr = pc.replace_substring(arr, ".", "")
    arr = pc.if_else(pc.equal(pc.utf8_length(arr), 0), pa.scalar(None, arr.type), arr)
    if vocabulary_id == "ICD9CM":
        is_e = pc.fill_null(pc.starts_with(arr, "E"), False)
        return pc.if_else(is_e, _insert_dot(arr, ICD9CM_E_CODE_DOT_AFTER), _insert_dot(arr, DOT_AFTER["ICD9CM"]))
    return _insert_dot(arr, DOT_AFTER[vocabulary_id])


def icdo3_code(casite, histbeh) -> pa.Array | pa.ChunkedArray:
    """ICD-O-3 code in OMOP form from Taiwan Cancer Registry fields.

    ``CASITE`` is the topography without dot (``'C349'``), ``HISTBEH`` the
    morphology and behaviour digit (``'81403'``); the result is
    ``'8140/3-C34.9'``.  Null where either part is missing or not of the form
    ``C`` + 3 digits / 5 digits.
    """
    site = pc.replace_substring(_clean(casite), ".", "")
    hist = _clean(histbeh)
    site_ok = pc.fill_null(pc.match_substring_regex(site, r"^C[0-9]{3}$"), False)
    hist_ok = pc.fill_null(pc.match_substring_regex(hist, r"^[0-9]{5}$"), False)
    morph = pc.utf8_slice_codeunits(hist, 0, 4)
    behaviour = pc.utf8_slice_codeunits(hist, 4, 5)
    topo = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(site, 0, 3), pc.utf8_slice_codeunits(site, 3), ".")
    code = pc.binary_join_element_wise(morph, "/", behaviour, "-", topo, "")
    return pc.if_else(pc.and_(site_ok, hist_ok), code, pa.scalar(None, pa.string()))


def icd_vocabulary_for_date(dates, kind: str = "diagnosis", *,
                            switch_date: _dt.date = ICD10_START) -> pa.Array | pa.ChunkedArray:
    """Which ICD vocabulary a Taiwan claim code of that date is in.

    ``kind='diagnosis'``: 'ICD9CM' before ``switch_date`` (2016-01-01), else
    'ICD10CM'; ``kind='procedure'``: 'ICD9Proc' / 'ICD10PCS'.  Null dates give
    null.  ``dates`` is a date32/date64/timestamp array.
    """
    pairs = {"diagnosis": ("ICD9CM", "ICD10CM"), "procedure": ("ICD9Proc", "ICD10PCS")}
    if kind not in pairs:
        raise ValueError(f"kind must be 'diagnosis' or 'procedure', not {kind!r}")
    old, new = pairs[kind]
    if isinstance(dates, (list, tuple)):
        dates = pa.array(dates, type=pa.date32())
    if pa.types.is_timestamp(dates.type):
        dates = pc.cast(dates, pa.date32())
    before = pc.less(dates, pa.scalar(switch_date, type=dates.type))
    return pc.if_else(before, pa.scalar(old), pa.scalar(new))
