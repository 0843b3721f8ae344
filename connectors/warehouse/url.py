"""Warehouse URLs: ``duckdb:PATH`` (or a path ending ``.duckdb``) and
``postgresql://user@host:port/db[?schema=NAME]``.

A URL may carry a password (libpq also reads ``PGPASSWORD`` / ``.pgpass``);
:func:`redact` gives a form that is safe to log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Dialect = Literal["duckdb", "postgresql"]

_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class InvalidWarehouseUrl(ValueError):
    """A warehouse URL that names no supported warehouse or is malformed."""


@dataclass(frozen=True)
class WarehouseUrl:
    """A parsed warehouse URL.

    ``target`` is the DuckDB file path (``:memory:`` for an in-memory database)
    or the libpq connection URL without the ``schema`` query parameter.
    """

    dialect: Dialect
    target: str
    schema: str | None

    def redacted(self) -> str:
        """The URL with any password replaced by ``***``."""
        if self.dialect == "duckdb":
            base = f"duckdb:{self.target}"
        else:
            base = redact(self.target)
        return base + (f"?schema={self.schema}" if self.schema else "")


def check_identifier(name: str, what: str = "schema") -> str:
    """Return ``name`` if it is a plain SQL identifier, else raise InvalidWarehouseUrl."""
    if not _SCHEMA_NAME.match(name):
        raise InvalidWarehouseUrl(f"{what} name {name!r} is not a plain identifier ([A-Za-z_][A-Za-z0-9_]*, <= 63 chars)")
    return name


def redact(url: str) -> str:
    """Replace the password of a URL with ``***`` (URLs without one are returned unchanged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[1]}"))


def parse_warehouse_url(url: str) -> WarehouseUrl:
    """Parse a warehouse URL; raise :class:`InvalidWarehouseUrl` naming the problem."""
    if not url:
        raise InvalidWarehouseUrl("empty warehouse URL")
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = None
        rest = []
        for key, value in query:
            if key == "schema":
                schema = check_identifier(value)
            else:
                rest.append((key, value))
        if not parts.hostname and not parts.path.strip("/"):
            raise InvalidWarehouseUrl(f"PostgreSQL URL names neither host nor database: {redact(url)}")
        target = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(rest)))
        return WarehouseUrl("postgresql", target, schema)
    if url.startswith("duckdb:"):
        path, _, query = url[len("duckdb:"):].partition("?")
        if path.startswith("//"):
            path = path[2:]
        schema = None
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key != "schema":
                raise InvalidWarehouseUrl(f"unknown DuckDB URL parameter {key!r} in {url!r}")
            schema = check_identifier(value)
        if not path:
            raise InvalidWarehouseUrl(f"DuckDB URL has no path: {url!r} (use duckdb::memory: for in-memory)")
        return WarehouseUrl("duckdb", path, schema)
    if url.endswith(".duckdb"):
        return WarehouseUrl("duckdb", url, None)
    raise InvalidWarehouseUrl(
        f"unsupported warehouse URL {redact(url)!r}: expected duckdb:PATH, PATH.duckdb or postgresql://..."
    )
