"""Deterministic OMOP identifiers derived from business keys, in SQL.

Every id is a positive 60-bit BIGINT:

* ``person_id`` = the first 15 hex digits of the site pseudonym ``person_key``
  (a 64-hex HMAC), read as an integer;
* every other id = the first 15 hex digits of ``md5(<key>)`` where ``<key>`` is a
  namespaced business key ``'<omop table>|<business key>'`` (e.g.
  ``'visit_occurrence|opdte|<visit_key>'``).  The table name in front keeps ids of
  different tables apart even when their business keys are equal.

Both are pure functions of staged values, so a re-run on the same staging gives
the same ids.  Two different keys can still give the same 60-bit id (about
``n**2 / 2**61`` expected pairs); :func:`find_id_collisions` finds them and the
build fails with :class:`IdCollision` rather than merging two records.
"""

from __future__ import annotations

import re

#: hex digits used (15 x 4 = 60 bits: always a positive BIGINT)
HEX_DIGITS = 15

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class IdCollision(ValueError):
    """Two different business keys produced the same OMOP id (or one key produced two rows)."""


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def hash_id_sql(key_sql: str) -> str:
    """SQL expression: 60-bit id from an already namespaced key expression (NULL key -> NULL id)."""
    return f"('0x' || substr(md5({key_sql}), 1, {HEX_DIGITS}))::BIGINT"


def key_sql(namespace: str, key_sql_expr: str) -> str:
    """SQL expression of the namespaced business key ``'<namespace>|' || <key>`` (NULL stays NULL)."""
    return f"({_sql_literal(namespace + '|')} || {key_sql_expr})"


def id_sql(namespace: str, key_sql_expr: str) -> str:
    """SQL expression: the id of table ``namespace`` for the business key ``key_sql_expr``."""
    return hash_id_sql(key_sql(namespace, key_sql_expr))


def person_id_sql(person_key_sql: str = "person_key") -> str:
    """SQL expression: ``person_id`` from the first 15 hex digits of the pseudonym."""
    return f"('0x' || substr({person_key_sql}, 1, {HEX_DIGITS}))::BIGINT"


def python_id(namespace: str, key: str) -> int:
    """The same id computed in Python (for tests and for looking a record up by key)."""
    import hashlib

    return int(hashlib.md5(f"{namespace}|{key}".encode()).hexdigest()[:HEX_DIGITS], 16)


def python_person_id(person_key: str) -> int:
    """``person_id`` for a pseudonym, computed in Python."""
    return int(person_key[:HEX_DIGITS], 16)


def find_id_collisions(con, table: str, id_col: str, key_col: str = "_key", limit: int = 20) -> list[tuple]:
    """Ids in ``table`` that more than one distinct business key maps to.

    ``table`` must carry the business key next to the id (the build computes
    ``_key`` for the rows whose id repeats).  Returns up to ``limit`` tuples
    ``(id, n_keys, [first keys...])``; empty when ids are collision-free.
    """
    for name in (table, id_col, key_col):
        if not _IDENT.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
    return con.execute(
        f"""
        SELECT {id_col}, count(DISTINCT {key_col}) AS n_keys,
               list(DISTINCT {key_col} ORDER BY {key_col})[1:3] AS keys
        FROM {table}
        GROUP BY {id_col}
        HAVING count(DISTINCT {key_col}) > 1
        ORDER BY {id_col}
        LIMIT {int(limit)}
        """
    ).fetchall()


def find_duplicate_ids(con, table: str, id_col: str, limit: int = 20) -> list[tuple]:
    """Ids that occur on more than one row of ``table``: ``(id, n_rows)``."""
    for name in (table, id_col):
        if not _IDENT.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")
    return con.execute(
        f"""
        SELECT {id_col}, count(*) FROM {table} GROUP BY {id_col} HAVING count(*) > 1
        ORDER BY {id_col} LIMIT {int(limit)}
        """
    ).fetchall()
