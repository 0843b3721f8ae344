"""SQL builders that make FHIR JSON text in DuckDB, one column expression per resource (no model objects).

Every builder returns a SQL expression of type VARCHAR holding a JSON value, or
NULL when the value is absent.  Objects and arrays drop their NULL members
(``concat_ws`` skips NULLs) and are themselves NULL when empty, so the output
never holds ``null``, ``{}`` or ``[]`` -- FHIR forbids all three.

Strings go through ``to_json`` (correct escaping of quotes, control characters
and non-ASCII text); numbers through ``to_json`` of a DOUBLE or BIGINT; dates
and datetimes are formatted by ``strftime`` (FHIR ``date`` / ``dateTime``; a
datetime without a zone gets none, which FHIR allows only at date precision, so
datetimes are written in UTC with ``Z``, as the hub stores them).

Field order inside an object is the order of the arguments; the resource
builders put ``resourceType`` and ``id`` first.
"""

from __future__ import annotations


def q(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def lit(value: str) -> str:
    """A constant JSON string (escaped in Python, emitted as a SQL literal)."""
    import json

    return q(json.dumps(value, ensure_ascii=False))


def string(expr: str) -> str:
    """A JSON string from a SQL expression (NULL and '' give NULL)."""
    return f"to_json(NULLIF(CAST({expr} AS VARCHAR), ''))"


def number(expr: str) -> str:
    """A JSON number from a numeric SQL expression (NULL and non-finite give NULL)."""
    return f"CASE WHEN isfinite(CAST({expr} AS DOUBLE)) THEN to_json(CAST({expr} AS DOUBLE)) END"


def integer(expr: str) -> str:
    return f"to_json(CAST({expr} AS BIGINT))"


def boolean(expr: str) -> str:
    return f"CASE WHEN ({expr}) IS NULL THEN NULL WHEN ({expr}) THEN 'true' ELSE 'false' END"


def date(expr: str) -> str:
    """A FHIR date from a DATE/TIMESTAMP expression."""
    return f"('\"' || strftime(CAST({expr} AS DATE), '%Y-%m-%d') || '\"')"


def datetime(datetime_expr: str, date_expr: str | None = None) -> str:
    """A FHIR dateTime: the timestamp when present (UTC, ``Z``), else the date (date precision)."""
    ts = f"('\"' || strftime(CAST({datetime_expr} AS TIMESTAMP), '%Y-%m-%dT%H:%M:%S') || 'Z\"')"
    if date_expr is None:
        return ts
    return f"coalesce({ts}, {date(date_expr)})"


def field(name: str, value_expr: str) -> str:
    """``"name":value`` or NULL when the value is NULL."""
    return f"({lit(name)} || ':' || ({value_expr}))"


def obj(*fields: str) -> str:
    """A JSON object from ``field`` pieces; NULL when every piece is NULL."""
    if not fields:
        raise ValueError("an object needs at least one field")
    return "('{' || NULLIF(concat_ws(',', " + ", ".join(fields) + "), '') || '}')"


def arr(*items: str) -> str:
    """A JSON array of the non-NULL items; NULL when every item is NULL."""
    if not items:
        raise ValueError("an array needs at least one item")
    return "('[' || NULLIF(concat_ws(',', " + ", ".join(items) + "), '') || ']')"


def arr_agg(list_expr: str) -> str:
    """A JSON array from a SQL list of JSON texts (NULL items dropped); NULL when empty."""
    return f"('[' || NULLIF(array_to_string(list_filter({list_expr}, x -> x IS NOT NULL), ','), '') || ']')"


def reference(resource_type: str, id_expr: str) -> str:
    """``{"reference":"Type/id"}`` or NULL when the id is NULL."""
    return obj(field("reference", f"to_json({q(resource_type + '/')} || CAST({id_expr} AS VARCHAR))"))


def coding(system_expr: str, code_expr: str, display_expr: str | None = None) -> str:
    """A Coding (NULL unless both system and code are present)."""
    pieces = [field("system", string(system_expr)), field("code", string(code_expr))]
    if display_expr is not None:
        pieces.append(field("display", string(display_expr)))
    return f"CASE WHEN NULLIF(CAST({code_expr} AS VARCHAR), '') IS NOT NULL AND ({system_expr}) IS NOT NULL " \
           f"THEN {obj(*pieces)} END"


def constant_coding(system: str, code: str, display: str | None = None) -> str:
    pieces = [field("system", lit(system)), field("code", lit(code))]
    if display is not None:
        pieces.append(field("display", lit(display)))
    return obj(*pieces)


def codeable(*codings: str, text_expr: str | None = None) -> str:
    """A CodeableConcept from codings (and a text); NULL when nothing is present."""
    pieces = [field("coding", arr(*codings))]
    if text_expr is not None:
        pieces.append(field("text", string(text_expr)))
    return obj(*pieces)


__all__ = [
    "arr", "arr_agg", "boolean", "codeable", "coding", "constant_coding", "date", "datetime", "field", "integer",
    "lit", "number", "obj", "q", "reference", "string",
]
