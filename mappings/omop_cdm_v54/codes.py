"""Source-code normalisation as DuckDB macros: raw claim codes -> Athena ``concept_code``.

Taiwan files store codes without dots; Athena writes ICD codes with dots.  The
dot positions are terminology's (``terminology.normalise.DOT_AFTER``, from which
the macro below is generated; a test checks both give the same codes):

=============  ===========================================  =====================
vocabulary_id  rule                                          examples
=============  ===========================================  =====================
ICD9CM         dot after 3 characters; after 4 for E codes  25000 -> 250.00,
                                                            4019 -> 401.9,
                                                            V700 -> V70.0,
                                                            E8497 -> E849.7,
                                                            496 -> 496
ICD10CM        dot after 3 characters                       E119 -> E11.9,
                                                            J45909 -> J45.909, I10
ICD10 (WHO)    dot after 3 characters                       I219 -> I21.9
ICD9Proc       dot after 2 characters                       3995 -> 39.95
ICD10PCS       unchanged (no dots)                          5A1D70Z
ICD10fi        terminology.fi_icd10: dot after 3 in every    E113+H360 ->
               ICD-10 part, joiners kept                    E11.3+H36.0
VNRfi          digits left-padded with zeros to 6           12345 -> 012345
ICDO3          morphology/behaviour-topography              C349 + 81403 ->
                                                            8140/3-C34.9
others         unchanged (NHI Drug, NHI Fee, NBCT ...)      AC46525100, 09005C
=============  ===========================================  =====================

Codes are trimmed and upper-cased first; a code that already holds a dot, or is
not longer than the part before the dot, is left as it is.  Empty -> NULL.

Macros are TEMP (per connection); call :func:`register_macros` before running a
mapping SELECT.  ``cb_partial_date`` turns a registry date with unknown parts
written 99 (``YYYYMMDD``) into a date: unknown day -> the 1st of the month,
unknown month -> 1 January (documented imputation; the registry's own date
column wins when the connector already filled it).
"""

from __future__ import annotations

from terminology.fi_icd10 import register_fi_macros
from terminology.normalise import DOT_AFTER, FI_ICD10_VOCABULARIES, ICD9CM_E_CODE_DOT_AFTER, ICD10_START, ZERO_PAD_TO


def _norm_code_cases() -> str:
    """WHEN branches of cb_norm_code, one per vocabulary that writes a dot."""
    cases = []
    for vocabulary_id in FI_ICD10_VOCABULARIES:  # Finnish ICD-10: combination codes (terminology.fi_icd10)
        cases.append(f"WHEN vocabulary_id = '{vocabulary_id}' THEN cb_fi_icd10(code)")
    for vocabulary_id, width in ZERO_PAD_TO.items():  # digits-only codes padded with zeros (VNR)
        cases.append(
            f"WHEN vocabulary_id = '{vocabulary_id}' THEN CASE WHEN regexp_full_match(cb_clean_code(code), '[0-9]+') "
            f"THEN lpad(cb_clean_code(code), {width}, '0') ELSE cb_clean_code(code) END"
        )
    for vocabulary_id, n in DOT_AFTER.items():
        if n is None:
            continue
        if vocabulary_id == "ICD9CM":
            n_sql = f"CASE WHEN cb_clean_code(code) LIKE 'E%' THEN {ICD9CM_E_CODE_DOT_AFTER} ELSE {n} END"
        else:
            n_sql = str(n)
        cases.append(f"WHEN vocabulary_id = '{vocabulary_id}' THEN cb_dot_after(cb_clean_code(code), {n_sql})")
    return "\n        ".join(cases)


MACROS_SQL = r"""
CREATE OR REPLACE TEMP MACRO cb_dot_after(code, n) AS
    CASE WHEN code IS NULL THEN NULL
         WHEN contains(code, '.') OR length(code) <= n THEN code
         ELSE substr(code, 1, n) || '.' || substr(code, n + 1) END;

CREATE OR REPLACE TEMP MACRO cb_clean_code(code) AS
    nullif(upper(trim(code)), '');

CREATE OR REPLACE TEMP MACRO cb_norm_code(vocabulary_id, code) AS
    CASE
        WHEN cb_clean_code(code) IS NULL THEN NULL
        {NORM_CODE_CASES}
        ELSE cb_clean_code(code)
    END;

CREATE OR REPLACE TEMP MACRO cb_icdo3(casite, histbeh) AS
    CASE WHEN cb_clean_code(casite) IS NULL OR cb_clean_code(histbeh) IS NULL THEN NULL
         ELSE substr(cb_clean_code(histbeh), 1, 4) || '/' || substr(cb_clean_code(histbeh), 5, 1)
              || '-' || cb_dot_after(cb_clean_code(casite), 3) END;

CREATE OR REPLACE TEMP MACRO cb_partial_date(raw) AS
    CASE WHEN raw IS NULL OR NOT regexp_full_match(trim(raw), '[0-9]{8}') THEN NULL
         ELSE make_date(
             CAST(substr(trim(raw), 1, 4) AS INTEGER),
             CASE WHEN substr(trim(raw), 5, 2) = '99' THEN 1 ELSE CAST(substr(trim(raw), 5, 2) AS INTEGER) END,
             CASE WHEN substr(trim(raw), 5, 2) = '99' OR substr(trim(raw), 7, 2) = '99' THEN 1
                  ELSE CAST(substr(trim(raw), 7, 2) AS INTEGER) END) END;
""".replace("{NORM_CODE_CASES}", _norm_code_cases())

#: date from which claims code diagnoses in ICD-10-CM and procedures in ICD-10-PCS
ICD10_CLAIMS_FROM = ICD10_START.isoformat()
#: date from which death certificates code the underlying cause in WHO ICD-10
ICD10_DEATH_FROM = "2008-01-01"
#: ICD-9 death-certificate codes start in 1981 (earlier ones are ICD-8: left unmapped)
ICD9_DEATH_FROM = "1981-01-01"


def register_macros(con) -> None:
    """Create (or replace) the TEMP code-normalisation macros in a DuckDB connection."""
    register_fi_macros(con)  # cb_norm_code uses cb_fi_icd10
    for statement in MACROS_SQL.split(";"):
        if statement.strip():
            con.execute(statement)


def claims_icd_vocabulary_sql(date_sql: str) -> str:
    """SQL: 'ICD9CM' for claim events before 2016-01-01, 'ICD10CM' from then on."""
    return f"CASE WHEN {date_sql} < DATE '{ICD10_CLAIMS_FROM}' THEN 'ICD9CM' ELSE 'ICD10CM' END"


def claims_proc_vocabulary_sql(date_sql: str) -> str:
    """SQL: 'ICD9Proc' for claim procedures before 2016-01-01, 'ICD10PCS' from then on."""
    return f"CASE WHEN {date_sql} < DATE '{ICD10_CLAIMS_FROM}' THEN 'ICD9Proc' ELSE 'ICD10PCS' END"
