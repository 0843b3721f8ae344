"""SQL pieces of the FHIR feed: dates, references, codings (DuckDB macros and expression builders).

* **Dates** (:data:`MACROS`): ``cb_fhir_date(text)`` is the calendar date a
  FHIR ``date`` / ``dateTime`` / ``instant`` states, as written (the local
  date of the source; a time zone does not shift it).  Partial dates are
  imputed to the first day (``2024`` -> 2024-01-01, ``2024-05`` ->
  2024-05-01), as the registries' partial dates are.  Anything else
  (``2024-02-30``, ``10.1.2024``, ``2024-01-10T25:00``) is NULL.
  ``cb_fhir_date_bad(text, earliest_year)`` is true for a present value that
  does not parse or lies outside ``earliest_year``-01-01 .. today.
* **References** (:func:`reference_parts_sql`): a literal reference
  ``Type/id``, an absolute URL ending in ``Type/id`` (a ``/_history/v``
  suffix is dropped) or, inside a Bundle, the ``fullUrl`` of an entry
  (``urn:uuid:...``), which the caller resolves first.  Contained references
  (``#id``) are resolved inside their resource.
* **Codings** (:func:`codings_sql`): per CodeableConcept, the source coding
  and the first standard coding (see :mod:`.layout`).
"""

from __future__ import annotations

#: FHIR ids are 1-64 of [A-Za-z0-9.-]; resource type names are capitalised words
ID_RE = r"[A-Za-z0-9.\-]{1,64}"
TYPE_RE = r"[A-Z][A-Za-z]{1,63}"
#: ``Type/id`` at the start or after a ``/`` (a relative reference or a URL), optionally ``/_history/<version>``
REFERENCE_RE = rf"(?:^|/)({TYPE_RE})/({ID_RE})(?:/_history/{ID_RE})?$"
CONDITIONAL_RE = r"^Patient\?identifier=([^|]*)\|(.+)$"
#: shapes of national identifiers (Taiwan ID / resident certificate, henkilötunnus) a resource id must not carry
NATIONAL_ID_SHAPE = r"^([A-Z][1289A-D][0-9]{8}|[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y])$"

_TIME = r"T([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)(\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?"
MACROS = rf"""
CREATE OR REPLACE TEMP MACRO cb_fhir_date(s) AS CASE
    WHEN s IS NULL THEN NULL
    WHEN regexp_full_match(s, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}({_TIME})?') THEN TRY_CAST(substr(s, 1, 10) AS DATE)
    WHEN regexp_full_match(s, '[0-9]{{4}}-[0-9]{{2}}') THEN TRY_CAST(s || '-01' AS DATE)
    WHEN regexp_full_match(s, '[0-9]{{4}}') THEN TRY_CAST(s || '-01-01' AS DATE)
END;
CREATE OR REPLACE TEMP MACRO cb_fhir_date_bad(s, earliest) AS
    s IS NOT NULL AND coalesce(cb_fhir_date(s) NOT BETWEEN make_date(earliest, 1, 1) AND current_date, TRUE);
CREATE OR REPLACE TEMP MACRO cb_json_number(j, path) AS
    json_type(j, path) IN ('DOUBLE', 'BIGINT', 'UBIGINT', 'HUGEINT');
"""


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def register_macros(con) -> None:
    """Create the TEMP macros of this module in a DuckDB connection."""
    for statement in MACROS.split(";"):
        if statement.strip():
            con.execute(statement)


def reference_parts_sql(ref_sql: str) -> str:
    """SQL: struct {t, i} of a literal or absolute reference (empty strings where it is neither)."""
    return f"regexp_extract({ref_sql}, {lit(REFERENCE_RE)}, ['t', 'i'])"


#: longest CodeableConcept.text staged as a code when no coding has one (OMOP *_source_value is varchar(50))
TEXT_CODE_MAX = 50


def codings_sql(cc_rel: str, systems_rel: str) -> str:
    """Per (row_no, role) of ``cc_rel`` (columns row_no, role, cc JSON): the source and standard coding.

    Columns: row_no, role, code_system, vocabulary_id, code (the source
    coding: non-standard first, then by position), std_vocabulary_id,
    std_code (the first coding of a standard vocabulary).  Codings without a
    code are ignored.  ``systems_rel`` (uri, vocabulary_id, standard) names the
    systems' vocabularies.  A CodeableConcept with no coded coding but a
    ``text`` of at most :data:`TEXT_CODE_MAX` characters (an OMOP source value
    without a code system, as the hub's own export writes unmapped codes) gets
    that text as its code, with no system and no vocabulary: it maps to concept
    0 with the text kept as the source value, never to a guessed code.
    """
    return f"""
WITH c AS (
    SELECT row_no, role, s.i AS i, trim(s.x->>'$.system') AS system, nullif(trim(s.x->>'$.code'), '') AS code
    FROM (SELECT row_no, role, unnest(list_transform(json_extract(cc, '$.coding[*]'), lambda x, i: {{'x': x, 'i': i}}))
                 AS s FROM {cc_rel})
), k AS (
    SELECT c.*, y.vocabulary_id, coalesce(y.standard, FALSE) AS standard
    FROM c LEFT JOIN {systems_rel} y ON y.uri = c.system WHERE c.code IS NOT NULL
), g AS (
    SELECT row_no, role,
           arg_min({{'system': system, 'vocabulary_id': vocabulary_id, 'code': code}},
                   CASE WHEN standard THEN 1000000 ELSE 0 END + i) AS src,
           arg_min({{'vocabulary_id': vocabulary_id, 'code': code}}, i) FILTER (WHERE standard) AS std
    FROM k GROUP BY row_no, role
), t AS (
    SELECT r.row_no, r.role, nullif(trim(r.cc->>'$.text'), '') AS text
    FROM {cc_rel} r ANTI JOIN g USING (row_no, role)
)
SELECT row_no, role, src.system AS code_system, src.vocabulary_id AS vocabulary_id, src.code AS code,
       std.vocabulary_id AS std_vocabulary_id, std.code AS std_code
FROM g
UNION ALL
SELECT row_no, role, NULL, NULL, text, NULL, NULL FROM t WHERE length(text) <= {TEXT_CODE_MAX}
"""
