"""Load an OMOP Athena vocabulary download into DuckDB.

An Athena download is a folder of tab-separated files with a header line, no
quoting and dates written ``YYYYMMDD``.  :func:`load_athena` creates the OMOP
CDM v5.4 vocabulary tables, fills them from the files (and from optional
overlay folders in the same format, e.g. the project's NHI local
vocabularies), then creates the ``source_to_standard`` view.

Usagi mapping files (plain Usagi or FinOMOP usagi-extended, see
:mod:`terminology.usagi`) are loaded after the folders as further overlays:
their source concepts, 'Maps to' rows (and reverses), English and Finnish
synonyms and VOCABULARY row; then other imports (:mod:`terminology.overlay`:
FHIR CodeSystem / ConceptMap, SOURCE_TO_CONCEPT_MAP, names files).  A concept
id already loaded, or a mapping target missing from the loaded CONCEPT table
(checked with one join per file; ``check_targets=False`` skips it), is an
error naming the file and line.  After loading, every concept's vocabulary
must have a VOCABULARY row and 'Maps to' must have no cycle.

The load is all-or-nothing: it runs in one transaction and any error rolls it
back, leaving the connection as it was.  Malformed input raises
:class:`VocabularyFormatError` naming file, line and field.  Parsing is
vectorised: a clean file is read in one typed, tab-separated pass
(``_stage_delimited``) that marks, per check, any row the strict reader would
reject; only when one is marked (or the line endings are mixed) is the file
re-read line by line (``_stage_lines``) to name the first bad line, field and
value.  Python only loops over files and columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from terminology.source_to_standard import create_view
from terminology.errors import MappingCycleError, VocabularyFormatError
from terminology.overlay import (
    EQUIVALENCE_COLUMNS, EQUIVALENCE_TABLE, FHIR_EQUIVALENCES, OverlayBuilder, OverlayVocabulary, usagi_overlay,
)
from terminology.usagi import UsagiVocabulary, read_usagi

# A Usagi overlay: an already read UsagiVocabulary, or
# (path, vocabulary_id, concept_id_offset[, vocabulary_version[, vocabulary_name]])
UsagiSpec = UsagiVocabulary | tuple

# table -> ((column, kind, required), ...) in Athena / OMOP CDM v5.4 order.
# kinds: int (INTEGER), text (VARCHAR), date (YYYYMMDD -> DATE), float (DOUBLE)
VOCABULARY_TABLES: dict[str, tuple[tuple[str, str, bool], ...]] = {
    "concept": (
        ("concept_id", "int", True),
        ("concept_name", "text", True),
        ("domain_id", "text", True),
        ("vocabulary_id", "text", True),
        ("concept_class_id", "text", True),
        ("standard_concept", "text", False),
        ("concept_code", "text", True),
        ("valid_start_date", "date", True),
        ("valid_end_date", "date", True),
        ("invalid_reason", "text", False),
    ),
    "concept_relationship": (
        ("concept_id_1", "int", True),
        ("concept_id_2", "int", True),
        ("relationship_id", "text", True),
        ("valid_start_date", "date", True),
        ("valid_end_date", "date", True),
        ("invalid_reason", "text", False),
    ),
    "concept_ancestor": (
        ("ancestor_concept_id", "int", True),
        ("descendant_concept_id", "int", True),
        ("min_levels_of_separation", "int", True),
        ("max_levels_of_separation", "int", True),
    ),
    "concept_synonym": (
        ("concept_id", "int", True),
        ("concept_synonym_name", "text", True),
        ("language_concept_id", "int", True),
    ),
    "concept_class": (
        ("concept_class_id", "text", True),
        ("concept_class_name", "text", True),
        ("concept_class_concept_id", "int", True),
    ),
    "domain": (
        ("domain_id", "text", True),
        ("domain_name", "text", True),
        ("domain_concept_id", "int", True),
    ),
    "relationship": (
        ("relationship_id", "text", True),
        ("relationship_name", "text", True),
        ("is_hierarchical", "text", True),
        ("defines_ancestry", "text", True),
        ("reverse_relationship_id", "text", True),
        ("relationship_concept_id", "int", True),
    ),
    "vocabulary": (
        ("vocabulary_id", "text", True),
        ("vocabulary_name", "text", True),
        ("vocabulary_reference", "text", False),
        ("vocabulary_version", "text", False),
        ("vocabulary_concept_id", "int", True),
    ),
    # not an Athena table: the project's FHIR equivalence per mapping (terminology/overlay.py), optional file
    EQUIVALENCE_TABLE: (
        ("concept_id_1", "int", True),
        ("concept_id_2", "int", True),
        ("relationship_id", "text", True),
        ("equivalence", "text", True),
        ("source", "text", False),
    ),
    "drug_strength": (
        ("drug_concept_id", "int", True),
        ("ingredient_concept_id", "int", True),
        ("amount_value", "float", False),
        ("amount_unit_concept_id", "int", False),
        ("numerator_value", "float", False),
        ("numerator_unit_concept_id", "int", False),
        ("denominator_value", "float", False),
        ("denominator_unit_concept_id", "int", False),
        ("box_size", "int", False),
        ("valid_start_date", "date", True),
        ("valid_end_date", "date", True),
        ("invalid_reason", "text", False),
    ),
}
REQUIRED_FILES = ("concept", "concept_relationship", "vocabulary")
# In overlay folders only these two are required.
OVERLAY_REQUIRED_FILES = ("concept", "vocabulary")
# Keys that must be unique across the base folder and all overlays.
UNIQUE_KEYS = {
    "concept": "concept_id",
    "vocabulary": "vocabulary_id",
    "domain": "domain_id",
    "concept_class": "concept_class_id",
    "relationship": "relationship_id",
}
_SQL_TYPES = {"int": "INTEGER", "text": "VARCHAR", "date": "DATE", "float": "DOUBLE"}
_DELIMITER_NONE = "\x1f"  # read whole lines: ASCII unit separator never occurs in Athena text


@dataclass(frozen=True)
class VocabularyLoadReport:
    """What :func:`load_athena` loaded."""

    directories: tuple[str, ...]
    rows: dict[str, int] = field(default_factory=dict)  # table -> row count
    vocabulary_versions: dict[str, str | None] = field(default_factory=dict)  # vocabulary_id -> version
    usagi_files: tuple[str, ...] = ()  # Usagi overlays, in load order
    usagi: dict[str, dict[str, object]] = field(default_factory=dict)  # vocabulary_id -> read_usagi report
    imports: tuple[str, ...] = ()  # other overlays (FHIR, SOURCE_TO_CONCEPT_MAP, names), in load order
    import_reports: dict[str, dict[str, object]] = field(default_factory=dict)  # path -> overlay report
    checks: dict[str, int] = field(default_factory=dict)  # post-load checks: counts of what was noticed


def _find_files(directory: Path) -> dict[str, Path]:
    """Lower-case table name -> file for the ``*.csv`` files of a folder (names case-insensitive)."""
    if not directory.is_dir():
        raise VocabularyFormatError("vocabulary folder does not exist", directory)
    found: dict[str, Path] = {}
    for p in sorted(directory.iterdir()):
        if p.is_file() and p.suffix.lower() == ".csv":
            key = p.stem.lower()
            if key in VOCABULARY_TABLES:
                if key in found:
                    raise VocabularyFormatError(f"two files for table {key}: {found[key].name} and {p.name}", directory)
                found[key] = p
    return found


def _check_header(path: Path, table: str) -> None:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().rstrip("\r\n")
    expected = [c for c, _, _ in VOCABULARY_TABLES[table]]
    got = [c.strip().lower() for c in first.split("\t")]
    if got != expected:
        raise VocabularyFormatError(
            f"wrong header: expected {'<TAB>'.join(expected)!r}, found {first!r}", path, 1)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


_SCAN_BLOCK = 1 << 24
_NO_NULL = "\x1f\x1e"  # read_csv nullstr that no field can be (fields hold no \x1f): '' stays ''
_PAD = "_xb_extra"  # one column more than the table has: non-NULL when a line has too many fields


def _plain_data_lines(path: Path) -> int | None:
    """Data lines (after the header) of a file whose line ends are all ``\\n`` or all ``\\r\\n`` and that
    holds no ``\\x1f``; None for any other file (the line-by-line reader then decides what it means: it
    takes the line end of the header for the whole file, so mixed line ends make blank lines)."""
    lf = cr = crlf = 0
    prev_cr, last = False, b""
    with path.open("rb") as fh:
        while block := fh.read(_SCAN_BLOCK):
            if b"\x1f" in block:
                return None
            lf += block.count(b"\n")
            n_cr = block.count(b"\r")
            if n_cr or prev_cr:
                cr += n_cr
                crlf += block.count(b"\r\n") + (prev_cr and block[:1] == b"\n")
            prev_cr, last = block[-1:] == b"\r", block[-1:]
    if cr and not cr == crlf == lf:
        return None
    return lf - 1 if last == b"\n" else lf


def _stage_delimited(con, path: Path, table: str, stage: str) -> bool:
    """Fast path of :func:`_stage` for a clean file: one tab-delimited read that types every value and
    flags, per check, the rows the line-by-line reader would reject.  Returns False, leaving nothing
    behind, when anything is off (another field count, a blank line, mixed line ends, an empty required
    field, a bad value): :func:`_stage_lines` then finds and reports the first problem as before.
    Never raises on bad data (a failed statement would abort the caller's transaction)."""
    expected = _plain_data_lines(path)
    if expected is None:
        return False
    cols = VOCABULARY_TABLES[table]
    spec = ", ".join(f"{_q(c)}: 'VARCHAR'" for c in [*(c for c, _, _ in cols), _PAD])
    typed, flags = [], [f"{_PAD} IS NOT NULL OR {cols[-1][0]} IS NULL"
                         + "".join(f" OR {c} = ''" for c, _, req in cols if req)]
    for c, kind, _ in cols:
        v, t = f"nullif({c}, '')", f"_xb_t_{c}"
        if kind == "int":
            typed.append(f"TRY_CAST({v} AS INTEGER) AS {t}")
            flags.append(f"{c} <> '' AND (NOT regexp_full_match({c}, '-?[0-9]+') OR {t} IS NULL)")
        elif kind == "date":
            typed.append(f"CAST(TRY_STRPTIME({v}, '%Y%m%d') AS DATE) AS {t}")
            flags.append(f"{c} <> '' AND (NOT regexp_full_match({c}, '[0-9]{{8}}') OR {t} IS NULL)")
        elif kind == "float":
            typed.append(f"TRY_CAST({v} AS DOUBLE) AS {t}")
            flags.append(f"{c} <> '' AND {t} IS NULL")
        else:
            typed.append(f"{v} AS {t}")
    raw = f"{stage}_raw"
    con.execute(
        f"""CREATE TEMP TABLE {raw} AS
        SELECT {', '.join(typed)}, {', '.join(f'({f}) AS _xb_bad{i}' for i, f in enumerate(flags))}
        FROM read_csv({_q(str(path))}, columns={{{spec}}}, header=false, skip=1, delim=chr(9), quote='',
                      escape='', auto_detect=false, all_varchar=true, strict_mode=false, null_padding=true,
                      nullstr={_q(_NO_NULL)}, encoding='utf-8')""")
    n, bad, first = con.execute(
        f"SELECT count(*), {' OR '.join(f'coalesce(bool_or(_xb_bad{i}), false)' for i in range(len(flags)))}, "
        f"min(rowid) FROM {raw}").fetchall()[0]
    if n != expected or bad:
        con.execute(f"DROP TABLE {raw}")
        return False
    for c, _, _ in cols:
        con.execute(f"ALTER TABLE {raw} RENAME COLUMN _xb_t_{c} TO {c}")
    # insertion order is file order and row ids are consecutive from the first appended row
    con.execute(f"ALTER TABLE {raw} ADD COLUMN _line BIGINT")
    con.execute(f"UPDATE {raw} SET _line = rowid - {int(first or 0)} + 2")
    con.execute(f"ALTER TABLE {raw} RENAME TO {stage}")
    return True


def _stage(con, path: Path, table: str, stage: str) -> None:
    """Read one file into a typed staging table ``stage`` with a ``_line`` column; raise on bad values."""
    _check_header(path, table)
    if not _stage_delimited(con, path, table, stage):
        _stage_lines(con, path, table, stage)


def _stage_lines(con, path: Path, table: str, stage: str) -> None:
    """:func:`_stage` line by line: slower, but finds the first bad line, field and value."""
    cols = VOCABULARY_TABLES[table]
    n = len(cols)
    raw = f"{stage}_raw"
    con.execute(
        f"""CREATE TEMP TABLE {raw} AS
        SELECT rtrim(line, chr(13)) AS line
        FROM read_csv({_q(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, skip=1,
                      delim={_q(_DELIMITER_NONE)}, quote='', escape='', auto_detect=false,
                      all_varchar=true, strict_mode=false, encoding='utf-8')"""
    )
    # insertion order is file order and row ids are consecutive from the first
    # appended row, so rowid - first rowid + 2 is the line number (line 1 = header)
    con.execute(
        f"""CREATE TEMP TABLE {stage}_split AS
        SELECT rowid - (SELECT min(rowid) FROM {raw}) + 2 AS _line,
               string_split(coalesce(line, ''), chr(9)) AS f
        FROM {raw}"""
    )
    bad = con.execute(
        f"SELECT _line, len(f) FROM {stage}_split WHERE len(f) <> {n} ORDER BY _line LIMIT 1").fetchall()
    if bad:
        line, found = bad[0]
        raise VocabularyFormatError(f"wrong field count: expected {n} tab-separated fields, found {found}",
                                    path, int(line))
    fields = ", ".join(f"nullif(f[{i + 1}], '') AS {c}" for i, (c, _, _) in enumerate(cols))
    con.execute(f"CREATE TEMP TABLE {stage}_text AS SELECT _line, {fields} FROM {stage}_split")
    for c, kind, required in cols:
        if required:
            bad = con.execute(
                f"SELECT min(_line) FROM {stage}_text WHERE {c} IS NULL").fetchall()[0][0]
            if bad is not None:
                raise VocabularyFormatError("required field is empty", path, int(bad), c)
        if kind == "int":
            test = f"NOT regexp_full_match({c}, '-?[0-9]+') OR TRY_CAST({c} AS INTEGER) IS NULL"
            what = "not an integer (32-bit)"
        elif kind == "date":
            test = f"NOT regexp_full_match({c}, '[0-9]{{8}}') OR TRY_STRPTIME({c}, '%Y%m%d') IS NULL"
            what = "not a date YYYYMMDD"
        elif kind == "float":
            test = f"TRY_CAST({c} AS DOUBLE) IS NULL"
            what = "not a number"
        else:
            continue
        row = con.execute(
            f"SELECT _line, {c} FROM {stage}_text WHERE {c} IS NOT NULL AND ({test}) ORDER BY _line LIMIT 1"
        ).fetchall()
        if row:
            line, value = row[0]
            raise VocabularyFormatError(f"{what}: {value!r}", path, int(line), c)
    typed = []
    for c, kind, _ in cols:
        if kind == "int":
            typed.append(f"CAST({c} AS INTEGER) AS {c}")
        elif kind == "date":
            typed.append(f"CAST(strptime({c}, '%Y%m%d') AS DATE) AS {c}")
        elif kind == "float":
            typed.append(f"CAST({c} AS DOUBLE) AS {c}")
        else:
            typed.append(c)
    con.execute(f"CREATE TEMP TABLE {stage} AS SELECT _line, {', '.join(typed)} FROM {stage}_text")
    for t in (raw, f"{stage}_split", f"{stage}_text"):
        con.execute(f"DROP TABLE {t}")


def _create_tables(con, replace: bool) -> None:
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}
    clash = sorted(set(VOCABULARY_TABLES) & existing)
    if clash and not replace:
        raise VocabularyFormatError(f"vocabulary tables already exist: {', '.join(clash)} (use replace=True)")
    con.execute("DROP VIEW IF EXISTS source_to_standard")
    for table, cols in VOCABULARY_TABLES.items():
        if table in existing:
            con.execute(f"DROP TABLE {table}")
        body = ", ".join(f"{c} {_SQL_TYPES[k]}{' NOT NULL' if req else ''}" for c, k, req in cols)
        con.execute(f"CREATE TABLE {table} ({body})")


def _check_unique(con, table: str, staged: list[tuple[str, Path]]) -> None:
    key = UNIQUE_KEYS[table]
    union = " UNION ALL ".join(
        f"SELECT {key} AS k, _line, {i} AS part FROM {stage}" for i, (stage, _) in enumerate(staged))
    # a cheap GROUP BY first; the window query that names the lines runs only when there is a duplicate
    if not con.execute(f"SELECT count(*) FROM (SELECT k FROM ({union}) GROUP BY k HAVING count(*) > 1)"
                       ).fetchall()[0][0]:
        return
    row = con.execute(
        f"""WITH u AS ({union}),
                d AS (SELECT k, _line, part,
                             row_number() OVER (PARTITION BY k ORDER BY part, _line) AS rn FROM u)
            SELECT d2.k, d1._line, d1.part, d2._line, d2.part
            FROM d AS d2 JOIN d AS d1 ON d1.k = d2.k AND d1.rn = 1
            WHERE d2.rn = 2 ORDER BY d2.part, d2._line LIMIT 1"""
    ).fetchall()
    if row:
        k, first_line, first_part, second_line, second_part = row[0]
        first_file = staged[first_part][1]
        raise VocabularyFormatError(
            f"duplicate {key} {k!r} (first defined in {first_file}, line {first_line})",
            staged[second_part][1], int(second_line), key)


def read_usagi_specs(specs: Sequence[UsagiSpec]) -> list[UsagiVocabulary]:
    """Read every Usagi overlay spec (see ``UsagiSpec``); already read vocabularies pass through."""
    out = []
    for spec in specs:
        if isinstance(spec, UsagiVocabulary):
            out.append(spec)
            continue
        if not 3 <= len(spec) <= 5:
            raise ValueError(f"a Usagi overlay is (path, vocabulary_id, offset[, version[, name]]), not {spec!r}")
        path, vocabulary_id, offset, *rest = spec
        version = rest[0] if rest else None
        name = rest[1] if len(rest) > 1 else None
        out.append(read_usagi(path, vocabulary_id, concept_id_offset=offset, vocabulary_version=version,
                              vocabulary_name=name))
    return out


def _load_overlay(con, ov: OverlayVocabulary, i: int) -> None:
    """Append one overlay's rows to the loaded tables; raise on concept id or vocabulary clashes."""
    ids = f"_overlay_ids_{i}"
    con.register(ids, ov.concept_lines)
    try:
        clash = con.execute(
            f"""SELECT u.concept_id, u.line, c.vocabulary_id, c.concept_code FROM {ids} u
                JOIN concept c ON c.concept_id = u.concept_id ORDER BY u.line LIMIT 1""").fetchall()
    finally:
        con.unregister(ids)
    if clash:
        cid, line, vocab, code = clash[0]
        raise VocabularyFormatError(f"duplicate concept_id {cid} (already loaded as {vocab} {code!r})",
                                    ov.path, None if line is None else int(line), "concept_id")
    for vocabulary_id in ov.new_vocabularies:
        if con.execute("SELECT count(*) FROM vocabulary WHERE vocabulary_id = ?", [vocabulary_id]).fetchall()[0][0]:
            raise VocabularyFormatError(f"vocabulary {vocabulary_id!r} is already loaded", ov.path)
    for table in ("concept", "concept_relationship", "concept_synonym", "vocabulary", "concept_class"):
        if table not in ov.tables:
            continue
        name = f"_overlay_{table}_{i}"
        cols = ", ".join(c for c, _, _ in VOCABULARY_TABLES[table])
        con.register(name, ov.tables[table])
        try:
            where = (" WHERE concept_class_id NOT IN (SELECT concept_class_id FROM concept_class)"
                     if table == "concept_class" else "")
            con.execute(f"INSERT INTO {table} SELECT {cols} FROM {name}{where}")
        finally:
            con.unregister(name)
    if ov.equivalence.num_rows:
        name = f"_overlay_equivalence_{i}"
        con.register(name, ov.equivalence)
        try:
            con.execute(f"INSERT INTO {EQUIVALENCE_TABLE} SELECT {', '.join(EQUIVALENCE_COLUMNS)} FROM {name}")
        finally:
            con.unregister(name)


def _check_overlay_targets(con, ov: OverlayVocabulary, i: int) -> None:
    """Every mapping target must exist in the loaded CONCEPT table (one anti-join)."""
    if not ov.mapping_lines.num_rows:
        return
    name = f"_overlay_targets_{i}"
    con.register(name, ov.mapping_lines)
    try:
        row = con.execute(
            f"""SELECT m.line, m.source_code, m.target_concept_id FROM {name} m
                LEFT JOIN concept c ON c.concept_id = m.target_concept_id
                WHERE c.concept_id IS NULL ORDER BY m.line LIMIT 1""").fetchall()
    finally:
        con.unregister(name)
    if row:
        line, code, target = row[0]
        raise VocabularyFormatError(f"mapping target concept {target} of source code {code!r} is not in the "
                                    f"loaded CONCEPT table", ov.path, None if line is None else int(line),
                                    "conceptId")


def _where(plan: list[tuple[int, dict[str, Path]]], overlays: list[OverlayVocabulary], table: str,
           condition: str, params: list, overlay_key: tuple[str, str] | None = None) -> tuple[str, int | None]:
    """File and line holding the first row of ``table`` matching ``condition`` (used only to report an error)."""
    cols = [c for c, _, _ in VOCABULARY_TABLES[table]]
    sel = ", ".join(f"nullif(f[{k + 1}], '') AS {c}" for k, c in enumerate(cols))
    import duckdb

    probe = duckdb.connect()
    try:
        for _, files in plan:
            if table not in files:
                continue
            path = files[table]
            row = probe.execute(
                f"""WITH r AS (
                        SELECT row_number() OVER () + 1 AS _line, string_split(line, chr(9)) AS f
                        FROM read_csv({_q(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, skip=1,
                                      delim={_q(_DELIMITER_NONE)}, quote='', escape='', auto_detect=false))
                    SELECT _line FROM (SELECT _line, {sel} FROM r) WHERE {condition} ORDER BY _line LIMIT 1""",
                params).fetchall()
            if row:
                return str(path), int(row[0][0])
    finally:
        probe.close()
    if overlay_key is not None:
        for ov in overlays:
            lines = ov.mapping_lines if overlay_key[0] == "mapping" else ov.concept_lines
            if lines.num_rows:
                hit = [ln for v, ln in zip(lines[overlay_key[1]].to_pylist(), lines["line"].to_pylist())
                       if v == params[0]]
                if hit:
                    return ov.path, int(min(hit))
    return "the loaded vocabulary", None


def _check_vocabularies(con, plan, overlays) -> None:
    """Every concept's vocabulary_id must have a VOCABULARY row (one anti-join)."""
    row = con.execute(
        """SELECT c.concept_id, c.vocabulary_id FROM concept c
           LEFT JOIN vocabulary v ON v.vocabulary_id = c.vocabulary_id
           WHERE v.vocabulary_id IS NULL ORDER BY c.concept_id LIMIT 1""").fetchall()
    if row:
        cid, vocab = row[0]
        file, line = _where(plan, overlays, "concept", "CAST(concept_id AS BIGINT) = ?", [cid],
                            ("concept", "concept_id"))
        raise VocabularyFormatError(f"concept {cid} belongs to unknown vocabulary {vocab!r} "
                                    f"(no VOCABULARY row for it)", file, line, "vocabulary_id")


def _check_equivalences(con, plan) -> None:
    allowed = ", ".join(_q(e) for e in FHIR_EQUIVALENCES)
    row = con.execute(f"SELECT concept_id_1, concept_id_2, equivalence FROM {EQUIVALENCE_TABLE} "
                      f"WHERE equivalence NOT IN ({allowed}) LIMIT 1").fetchall()
    if row:
        a, b, e = row[0]
        file, line = _where(plan, [], EQUIVALENCE_TABLE, "equivalence = ?", [e])
        raise VocabularyFormatError(f"unknown equivalence {e!r} for {a} -> {b} (allowed: "
                                    f"{', '.join(FHIR_EQUIVALENCES)})", file, line, "equivalence")


MAX_MAPS_TO_DEPTH = 16


def _check_maps_to_cycles(con, plan, overlays) -> dict[str, int]:
    """'Maps to' must not lead back to where it started.

    Follows valid 'Maps to' rows between different concepts (a standard
    concept mapping to itself is the OMOP convention, not a cycle) with a
    recursive query that stops at a repeated concept; any path returning to
    its start is a cycle -> :class:`MappingCycleError` naming the file and
    line of one of its rows and the whole cycle.  Chains (a 'Maps to' whose
    target maps on to a third concept) are counted, not an error: OMOP
    resolves only one hop, so such a target is reported as unresolved.
    """
    con.execute(
        """CREATE TEMP TABLE _maps_to_edges AS
           SELECT DISTINCT concept_id_1 AS a, concept_id_2 AS b FROM concept_relationship
           WHERE relationship_id = 'Maps to' AND invalid_reason IS NULL AND concept_id_1 <> concept_id_2""")
    try:
        # only edges whose target itself has an outgoing edge can be part of a chain or cycle
        con.execute(
            """CREATE TEMP TABLE _maps_to_chain AS
               SELECT e.a, e.b FROM _maps_to_edges e WHERE e.b IN (SELECT a FROM _maps_to_edges)
               UNION SELECT e.a, e.b FROM _maps_to_edges e
               WHERE e.a IN (SELECT b FROM _maps_to_edges e2 WHERE e2.b IN (SELECT a FROM _maps_to_edges))""")
        chains = int(con.execute(
            "SELECT count(*) FROM _maps_to_edges WHERE b IN (SELECT a FROM _maps_to_edges)").fetchall()[0][0])
        cycle = con.execute(
            f"""WITH RECURSIVE walk(start, node, path, closed) AS (
                    SELECT a, b, [a, b], a = b FROM _maps_to_chain
                    UNION ALL
                    SELECT w.start, e.b, list_append(w.path, e.b), e.b = w.start
                    FROM walk w JOIN _maps_to_chain e ON e.a = w.node
                    WHERE NOT w.closed AND NOT list_contains(w.path[2:], e.b) AND len(w.path) < {MAX_MAPS_TO_DEPTH})
                SELECT path FROM walk WHERE closed ORDER BY start, len(path) LIMIT 1""").fetchall()
    finally:
        con.execute("DROP TABLE IF EXISTS _maps_to_chain")
        con.execute("DROP TABLE _maps_to_edges")
    if cycle:
        path = [int(x) for x in cycle[0][0]]
        a, b = path[0], path[1]
        file, line = _where(plan, overlays, "concept_relationship",
                            "CAST(concept_id_1 AS BIGINT) = ? AND CAST(concept_id_2 AS BIGINT) = ? "
                            "AND relationship_id = 'Maps to'", [a, b], ("mapping", "target_concept_id"))
        if file == "the loaded vocabulary":  # an overlay row: look it up by target
            file, line = _where(plan, overlays, "concept_relationship", "false", [b],
                                ("mapping", "target_concept_id"))
        raise MappingCycleError(f"'Maps to' cycle: {' -> '.join(map(str, path))}", file, line, "concept_id_1")
    return {"maps_to_chains": chains}


def load_athena(con, directory: str | Path, *, overlays: Sequence[str | Path] = (),
                replace: bool = False, usagi_files: Sequence[UsagiSpec] = (),
                check_targets: bool = True,
                imports: Sequence[OverlayVocabulary | OverlayBuilder] = ()) -> VocabularyLoadReport:
    """Load an Athena download (plus optional overlay folders) into DuckDB ``con``.

    ``directory`` must hold CONCEPT, CONCEPT_RELATIONSHIP and VOCABULARY files;
    the other six are optional (missing -> empty table), as is the project's
    MAPPING_EQUIVALENCE file (FHIR equivalence per mapping).  Each overlay
    folder (same format; CONCEPT and VOCABULARY required) is appended, e.g. the
    project's NHI local vocabularies; a concept id, vocabulary, domain, class or
    relationship defined twice is an error.  File names are matched
    case-insensitively.  Existing vocabulary tables are an error unless
    ``replace``.  All-or-nothing: on any error the transaction is rolled back
    and :class:`VocabularyFormatError` names the file and line.  Finally the
    ``source_to_standard`` view is created.

    ``usagi_files`` (see ``UsagiSpec``) are read and validated first, then
    loaded after the folders; ``imports`` (overlays from other formats, see
    :mod:`terminology.overlay`: FHIR CodeSystem / ConceptMap, SOURCE_TO_CONCEPT_MAP,
    names files) after them, in order; a builder is called with ``con`` inside
    the transaction.  With ``check_targets`` every mapping target must exist
    in the loaded CONCEPT table.  New vocabulary ids must be new.

    After loading: every concept's vocabulary must have a VOCABULARY row, and
    'Maps to' must have no cycle (:class:`MappingCycleError`).
    """
    folders = [Path(directory), *(Path(o) for o in overlays)]
    usagi = read_usagi_specs(usagi_files)
    seen: dict[str, str] = {}
    for voc in usagi:
        if voc.vocabulary_id in seen:
            raise VocabularyFormatError(
                f"vocabulary {voc.vocabulary_id!r} given twice (also {seen[voc.vocabulary_id]})", voc.path)
        seen[voc.vocabulary_id] = voc.path
    plan: list[tuple[int, dict[str, Path]]] = []
    for i, folder in enumerate(folders):
        files = _find_files(folder)
        required = REQUIRED_FILES if i == 0 else OVERLAY_REQUIRED_FILES
        missing = [t.upper() + ".csv" for t in required if t not in files]
        if missing:
            raise VocabularyFormatError(f"missing required file(s): {', '.join(missing)}", folder)
        plan.append((i, files))

    con.execute("SET preserve_insertion_order = true")  # rowid order = file order in _stage
    con.execute("BEGIN TRANSACTION")
    try:
        _create_tables(con, replace)
        for table in VOCABULARY_TABLES:
            staged: list[tuple[str, Path]] = []
            for i, files in plan:
                if table in files:
                    stage = f"_athena_{table}_{i}"
                    _stage(con, files[table], table, stage)
                    staged.append((stage, files[table]))
            if table in UNIQUE_KEYS and staged:
                _check_unique(con, table, staged)
            cols = ", ".join(c for c, _, _ in VOCABULARY_TABLES[table])
            for stage, _ in staged:
                con.execute(f"INSERT INTO {table} SELECT {cols} FROM {stage} ORDER BY _line")
                con.execute(f"DROP TABLE {stage}")
        _check_equivalences(con, plan)
        loaded: list[OverlayVocabulary] = []
        for voc in usagi:
            ov = usagi_overlay(voc)
            _load_overlay(con, ov, len(loaded))
            loaded.append(ov)
        for imp in imports:
            ov = imp if isinstance(imp, OverlayVocabulary) else imp(con)
            for vocabulary_id in ov.new_vocabularies:
                if vocabulary_id in seen:
                    raise VocabularyFormatError(f"vocabulary {vocabulary_id!r} given twice (also "
                                                f"{seen[vocabulary_id]})", ov.path)
                seen[vocabulary_id] = ov.path
            _load_overlay(con, ov, len(loaded))
            loaded.append(ov)
        if check_targets:
            for i, ov in enumerate(loaded):
                _check_overlay_targets(con, ov, i)
        _check_vocabularies(con, plan, loaded)
        checks = _check_maps_to_cycles(con, plan, loaded)
        create_view(con)
        rows = {t: int(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]) for t in VOCABULARY_TABLES}
        versions = dict(con.execute(
            "SELECT vocabulary_id, vocabulary_version FROM vocabulary ORDER BY vocabulary_id").fetchall())
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return VocabularyLoadReport(tuple(str(f) for f in folders), rows, versions,
                                tuple(v.path for v in usagi), {v.vocabulary_id: dict(v.report) for v in usagi},
                                tuple(ov.path for ov in loaded[len(usagi):]),
                                {ov.path: dict(ov.report) for ov in loaded[len(usagi):]}, checks)


def vocabulary_tables_present(con) -> list[str]:
    """Names of the vocabulary tables that exist in ``con`` (helper for checks and tests)."""
    existing = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}
    return [t for t in VOCABULARY_TABLES if t in existing]


__all__ = [
    "MappingCycleError", "UsagiSpec", "VOCABULARY_TABLES", "VocabularyFormatError", "VocabularyLoadReport",
    "load_athena", "read_usagi_specs", "vocabulary_tables_present",
]
