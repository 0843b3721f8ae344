"""Quoting for the SQL text the validators generate (DuckDB and PostgreSQL share these rules)."""

from __future__ import annotations


def quote_ident(identifier: str) -> str:
    """A double-quoted identifier, embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """A single-quoted string literal, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"
