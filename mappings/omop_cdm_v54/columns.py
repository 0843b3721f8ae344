"""Output projection: CDM v5.4 columns in specification order, typed for DuckDB.

Column lists come from the project's CDM declaration (``terminology.omop_cdm``).
Every CDM ``integer`` is ``BIGINT`` (ids are 60-bit; the warehouse DDL does the
same), ``float`` DOUBLE, ``varchar(n)`` VARCHAR, ``date`` DATE, ``datetime``
TIMESTAMP.  Columns a mapping does not set are NULL.
"""

from __future__ import annotations

from terminology.omop_cdm import CDM

from .provenance import EMPTY_PROV, PROV_TYPE  # noqa: F401  (re-exported)

_DUCK_TYPES = {
    "integer": "BIGINT",
    "bigint": "BIGINT",
    "float": "DOUBLE",
    "varchar": "VARCHAR",
    "date": "DATE",
    "datetime": "TIMESTAMP",
}

#: provenance columns of the build intermediates (not part of the CDM)
KEY_COL = "_key"
PROV_COL = "_prov"  # list of provenance ids (BIGINT[], see .provenance)


class MappingDefinitionError(ValueError):
    """A mapping names a column its CDM table does not have, or leaves a required one unset."""


def cdm_columns(table: str) -> list[str]:
    """CDM v5.4 column names of ``table`` in specification order."""
    return CDM.table(table).field_names


def duck_type(table: str, column: str) -> str:
    """DuckDB type used for one CDM column."""
    return _DUCK_TYPES[CDM.table(table).field(column).base_type]


def cdm_select(
    table: str,
    exprs: dict[str, str],
    from_sql: str,
    *,
    provenance: bool = False,
    key_sql: str | None = None,
    prov_sql: str | None = None,
    order_by: str | None = None,
    with_sql: str | None = None,
) -> str:
    """A SELECT producing exactly the CDM columns of ``table`` (cast to their types).

    ``exprs`` maps column name -> SQL expression over ``from_sql``; columns not
    given are NULL; unknown names and unset required columns raise
    :class:`MappingDefinitionError`.  Rows are ordered by ``order_by`` (default:
    first column).  With ``provenance`` the SELECT also yields ``_key`` (business
    key behind the row's id) and ``_prov`` (list of the provenance ids of the
    staged rows it came from, see :mod:`.provenance`) and is left unordered: the
    build sorts each table once when it writes it.
    """
    t = CDM.table(table)
    unknown = sorted(set(exprs) - set(t.field_names))
    if unknown:
        raise MappingDefinitionError(f"{table}: no such CDM column(s) {unknown}")
    missing = [f for f in t.required_fields if f not in exprs]
    if missing:
        raise MappingDefinitionError(f"{table}: required CDM column(s) not mapped: {missing}")
    items = []
    for f in t.fields:
        expr = exprs.get(f.name, "NULL")
        items.append(f"CAST({expr} AS {_DUCK_TYPES[f.base_type]}) AS {f.name}")
    if provenance:
        if key_sql is None or prov_sql is None:
            raise MappingDefinitionError(f"{table}: provenance needs key_sql and prov_sql")
        items.append(f"CAST({key_sql} AS VARCHAR) AS {KEY_COL}")
        items.append(f"CAST({prov_sql} AS {PROV_TYPE}) AS {PROV_COL}")
    select_list = ",\n    ".join(items)
    head = f"WITH {with_sql}\n" if with_sql else ""
    tail = "" if provenance else f"\nORDER BY {order_by or t.field_names[0]}"
    return f"{head}SELECT\n    {select_list}\nFROM {from_sql}{tail}"
