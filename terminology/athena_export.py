"""Export the vocabulary store in Athena download format (what :func:`terminology.athena.load_athena` reads).

:func:`export_athena` writes one file per vocabulary table (``CONCEPT.csv``,
``CONCEPT_RELATIONSHIP.csv`` ...): tab-separated, lower-case header with the
columns of :data:`terminology.athena.VOCABULARY_TABLES` in order, no quoting,
empty field for NULL, dates ``YYYYMMDD``.  DuckDB ``COPY`` writes every file;
Python loops only over tables.  All nine files are written, header-only when
a table has no rows.

Rules:

* ``vocabularies=None`` exports every row of every table: loading the folder
  with ``load_athena`` gives the store back, table for table.
* ``vocabularies=[...]`` exports those vocabularies as an **overlay folder**
  (e.g. the NHI local vocabularies, to load on top of a site's Athena
  download): their VOCABULARY rows and concepts, the synonyms of those
  concepts, ``drug_strength`` rows of their drugs, and each CONCEPT_RELATIONSHIP,
  CONCEPT_ANCESTOR (and MAPPING_EQUIVALENCE) row whose **larger concept id**
  is one of them.  Local vocabularies extend public ones with higher ids
  (OMOP reserves ids above 2,000,000,000 for local concepts), so a local
  code's 'Maps to' an RxNorm concept, and the 'Mapped from' back, travel with
  the local vocabulary; and exports of disjoint selections split the rows with
  none twice, so loading them together gives no duplicate.  A CONCEPT_CLASS
  or DOMAIN row goes with the subset holding the lowest concept id of that
  class or domain, a RELATIONSHIP row with the subset owning the lowest-id
  row of that relationship: shared ones stay with the base (public, low-id)
  vocabularies, which the loader needs since it rejects a class, domain or
  relationship defined twice; again a partition.  Rows nothing uses are
  exported only by a full export.
* ``mapping_equivalence`` (project table, may be absent in older stores) goes
  to ``MAPPING_EQUIVALENCE.csv`` when ``include_equivalence`` and the table
  exists.
* Text holding a tab, line break or the ASCII unit separator, and empty text
  in a required column, cannot be written in this format (the loader splits
  lines on tabs and reads an empty field as missing): one query finds the
  first such value and :class:`VocabularyFormatError` names the file, table,
  row key and column; nothing is written then.
* ``out_dir`` may not already hold vocabulary files unless ``overwrite``
  (then stale vocabulary files, e.g. an old MAPPING_EQUIVALENCE.csv, are removed).

The report gives rows, bytes and SHA-256 per file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from terminology.athena import VOCABULARY_TABLES
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.overlay import EQUIVALENCE_COLUMNS, EQUIVALENCE_TABLE

ATHENA_TABLES = tuple(t for t in VOCABULARY_TABLES if t != EQUIVALENCE_TABLE)
# table -> key column named in errors
_KEYS = {
    "concept": "concept_id", "concept_relationship": "concept_id_1", "concept_ancestor": "ancestor_concept_id",
    "concept_synonym": "concept_id", "concept_class": "concept_class_id", "domain": "domain_id",
    "relationship": "relationship_id", "vocabulary": "vocabulary_id", "drug_strength": "drug_concept_id",
    EQUIVALENCE_TABLE: "concept_id_1",
}
# table -> the pair of concept id columns whose larger id decides the owner (subset exports)
_PAIRS = {
    "concept_relationship": ("concept_id_1", "concept_id_2"),
    "concept_ancestor": ("ancestor_concept_id", "descendant_concept_id"),
    EQUIVALENCE_TABLE: ("concept_id_1", "concept_id_2"),
}
# reference table -> (key column, SQL of its uses: (key, concept id deciding the owner of the using row))
_REFERENCE_USES = {
    "concept_class": ("concept_class_id", "SELECT concept_class_id AS k, concept_id AS c FROM concept"),
    "domain": ("domain_id", "SELECT domain_id AS k, concept_id AS c FROM concept"),
    "relationship": ("relationship_id", "SELECT relationship_id AS k, greatest(concept_id_1, concept_id_2) AS c "
                                        "FROM concept_relationship"),
}
# (column, kind, required) of MAPPING_EQUIVALENCE.csv, as terminology.overlay.EQUIVALENCE_SCHEMA
_EQUIVALENCE_SPEC = tuple(zip(EQUIVALENCE_COLUMNS, ("int", "int", "text", "text", "text"),
                              (True, True, True, True, False)))
_BAD_TEXT = "[\\t\\n\\r\\x1f]"


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _columns(table: str) -> tuple[tuple[str, str, bool], ...]:
    return _EQUIVALENCE_SPEC if table == EQUIVALENCE_TABLE else VOCABULARY_TABLES[table]


def _existing_tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}


def _row_source(table: str, selected: str | None) -> str:
    """SQL of the rows of ``table`` to export; ``selected`` = SQL list of selected vocabulary ids."""
    if selected is None:
        return f"SELECT * FROM {table}"
    sel_ids = f"(SELECT concept_id FROM concept WHERE vocabulary_id IN ({selected}))"
    if table == "concept":
        return f"SELECT * FROM concept WHERE vocabulary_id IN ({selected})"
    if table == "vocabulary":
        return f"SELECT * FROM vocabulary WHERE vocabulary_id IN ({selected})"
    if table == "concept_synonym":
        return f"SELECT * FROM concept_synonym WHERE concept_id IN {sel_ids}"
    if table == "drug_strength":
        return f"SELECT * FROM drug_strength WHERE drug_concept_id IN {sel_ids}"
    if table in _PAIRS:
        a, b = _PAIRS[table]
        return f"SELECT * FROM {table} WHERE greatest({a}, {b}) IN {sel_ids}"
    key, uses = _REFERENCE_USES[table]
    # the lowest concept id using the row is selected
    return f"SELECT * FROM {table} WHERE {key} IN (SELECT k FROM ({uses}) u GROUP BY k HAVING min(c) IN {sel_ids})"


def _check_text(con, sources: dict[str, str], out_dir: Path) -> None:
    """Raise on the first text value the Athena format cannot carry (one query over all tables)."""
    parts = []
    for table, source in sources.items():
        key = _KEYS[table]
        for col, kind, required in _columns(table):
            if kind != "text":
                continue
            bad = f"regexp_matches({col}, {_q(_BAD_TEXT)})"
            if required:
                bad += f" OR {col} = ''"
            parts.append(f"SELECT {_q(table)} AS t, {_q(key)} AS k, CAST({key} AS VARCHAR) AS v, {_q(col)} AS c, "
                         f"{col} = '' AS empty FROM ({source}) WHERE {bad}")
    row = con.execute(" UNION ALL ".join(parts) + " ORDER BY t, v, c LIMIT 1").fetchall()
    if row:
        table, key, value, col, empty = row[0]
        what = ("is empty in a required column (the loader reads an empty field as missing)" if empty else
                "holds a tab, line break or unit separator, which the Athena format cannot carry")
        raise VocabularyFormatError(f"{table} row with {key} {value}: {col} {what}",
                                    out_dir / f"{table.upper()}.csv", None, col)


def _select_list(table: str) -> str:
    out = []
    for col, kind, _ in _columns(table):
        if kind == "date":
            out.append(f"strftime({col}, '%Y%m%d') AS {col}")
        elif kind == "text":
            out.append(f"nullif({col}, '') AS {col}")
        else:
            out.append(col)
    return ", ".join(out)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_athena(con, out_dir: str | Path, *, vocabularies: Sequence[str] | None = None,
                  include_equivalence: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Write the store's vocabulary tables to ``out_dir`` in Athena format (see the module docstring).

    Returns ``{"directory", "vocabularies", "files": {file name: {"table", "rows", "bytes", "sha256"}}}``
    with files in load order.  Unknown vocabulary ids raise :class:`UnknownCodeSystem`.
    """
    out_dir = Path(out_dir)
    present = _existing_tables(con)
    missing = [t for t in ATHENA_TABLES if t not in present]
    if missing:
        raise VocabularyFormatError(f"the store has no vocabulary table(s) {', '.join(missing)}")
    selected = None
    if vocabularies is not None:
        wanted = sorted(set(vocabularies))
        if not wanted:
            raise ValueError("vocabularies is empty: pass None to export every vocabulary")
        known = [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary ORDER BY 1").fetchall()]
        unknown = [v for v in wanted if v not in known]
        if unknown:
            raise UnknownCodeSystem(unknown[0], known)
        selected = ", ".join(_q(v) for v in wanted)
    tables = list(ATHENA_TABLES)
    if include_equivalence and EQUIVALENCE_TABLE in present:
        tables.insert(tables.index("vocabulary") + 1, EQUIVALENCE_TABLE)
    sources = {t: _row_source(t, selected) for t in tables}
    _check_text(con, sources, out_dir)

    names = {t: f"{t.upper()}.csv" for t in VOCABULARY_TABLES} | {EQUIVALENCE_TABLE: "MAPPING_EQUIVALENCE.csv"}
    vocab_files = {n.lower() for n in names.values()}
    if out_dir.exists():
        stale = sorted(p for p in out_dir.iterdir() if p.is_file() and p.name.lower() in vocab_files)
        if stale and not overwrite:
            raise VocabularyFormatError(f"folder already holds vocabulary files ({', '.join(p.name for p in stale)}); "
                                        f"pass overwrite=True to replace them", out_dir)
        for p in stale:
            p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)

    files: dict[str, dict[str, Any]] = {}
    for table in tables:
        path = out_dir / names[table]
        order = ", ".join(c for c, _, _ in _columns(table))
        rows = con.execute(
            f"""COPY (SELECT {_select_list(table)} FROM ({sources[table]}) ORDER BY {order})
                TO {_q(str(path))} (FORMAT csv, DELIMITER '\t', HEADER true, QUOTE '', ESCAPE '', NULLSTR '')"""
        ).fetchall()[0][0]
        files[path.name] = {"table": table, "rows": int(rows), "bytes": path.stat().st_size, "sha256": _sha256(path)}
    return {"directory": str(out_dir), "vocabularies": None if vocabularies is None else sorted(set(vocabularies)),
            "files": files}


__all__ = ["ATHENA_TABLES", "export_athena"]
