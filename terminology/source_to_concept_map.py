"""OMOP CDM v5.4 SOURCE_TO_CONCEPT_MAP files: export from the store, read back as an overlay.

Columns (OMOP CDM v5.4 field spec; required unless noted): ``source_code``
varchar(50), ``source_concept_id`` integer, ``source_vocabulary_id``
varchar(20), ``source_code_description`` varchar(255) (optional),
``target_concept_id`` integer, ``target_vocabulary_id`` varchar(20),
``valid_start_date`` date, ``valid_end_date`` date, ``invalid_reason``
varchar(1) (optional: D, U or empty).

Export (:func:`export_source_to_concept_map`): one row per mapping the
``source_to_standard`` view resolves (valid 'Maps to' to a valid standard
concept) of every non-standard concept of the given vocabularies, with the
relationship's dates; with ``include_unmapped`` a code without one gets one
row with ``target_concept_id`` 0 and ``target_vocabulary_id`` 'None' (the
vocabulary of concept 0 in Athena) and the concept's dates.  Standard
concepts (which map to themselves) are not written.  Dates are ISO
``YYYY-MM-DD`` (the CDM type is DATE); CSV quoting only where a value needs
it.  Values wider than the CDM columns are an error naming the concept.

Reading (:func:`read_source_to_concept_map`): the file is parsed and checked
at once (tab or comma detected from the header; extra columns ignored;
values trimmed; dates ``YYYY-MM-DD`` or ``YYYYMMDD``); every error is a
:class:`VocabularyFormatError` naming file, line and column: missing column,
empty required value, too wide a value, non-integer or negative id, bad
date, end before start, invalid_reason other than D/U, target 0 with a
target vocabulary other than 'None', duplicate (source_vocabulary_id,
source_code, target_concept_id), one code with two source_concept_ids, one
source_concept_id for two codes, a code both unmapped (target 0) and mapped.
The result is an :data:`terminology.overlay.OverlayBuilder`; called with the
store it checks and builds the overlay:

* Targets other than 0 must be standard concepts of the store, of the stated
  target_vocabulary_id.  Target 0 keeps the source concept, without a mapping.
* A source vocabulary not in the store is NEW: its codes become concepts
  (name = first description, else the code; domain = the first target's, else
  Observation; class Undefined; validity = the widest range of the code's
  rows) with ids from ``source_concept_id`` when > 0 (>= 2,000,000,000, unused,
  inside ``[concept_id_offset, + 100,000)`` when an offset is given), else
  ``concept_id_offset`` + the code's position (1-based, first appearance among
  the new vocabularies' codes); its VOCABULARY row is created.
* A source vocabulary already in the store gets mappings only: each code must
  be a concept of it (and a ``source_concept_id`` > 0 must be that concept's
  id); a mapping already in the store is an error.
* Each mapping gives 'Maps to' and 'Mapped from' with the file's dates and
  invalid_reason.  SOURCE_TO_CONCEPT_MAP states no equivalence: none is added.

Parsing and checks are SQL over the whole file (DuckDB); Python loops only
over columns and checks.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from terminology.concepts import LOCAL_BLOCK_SIZE, LOCAL_CONCEPT_ID_START
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.overlay import LINES_SCHEMA, MAPPING_LINES_SCHEMA, OverlayVocabulary
from terminology.usagi import ATHENA_SCHEMAS, DEFAULT_CONCEPT_CLASS, DEFAULT_DOMAIN, _line_numbers

# (column, kind, required, max width) as in the OMOP CDM v5.4 field spec
STCM_FIELDS: tuple[tuple[str, str, bool, int | None], ...] = (
    ("source_code", "text", True, 50),
    ("source_concept_id", "int", True, None),
    ("source_vocabulary_id", "text", True, 20),
    ("source_code_description", "text", False, 255),
    ("target_concept_id", "int", True, None),
    ("target_vocabulary_id", "text", True, 20),
    ("valid_start_date", "date", True, None),
    ("valid_end_date", "date", True, None),
    ("invalid_reason", "text", False, 1),
)
STCM_COLUMNS = tuple(c for c, _, _, _ in STCM_FIELDS)
UNMAPPED_VOCABULARY = "None"  # vocabulary_id of concept 0 in Athena
INVALID_REASONS = ("D", "U")
_names = itertools.count()
ROWS_SCHEMA = pa.schema([
    ("source_code", pa.string()), ("source_concept_id", pa.int32()), ("source_vocabulary_id", pa.string()),
    ("source_code_description", pa.string()), ("target_concept_id", pa.int32()),
    ("target_vocabulary_id", pa.string()), ("valid_start_date", pa.date32()), ("valid_end_date", pa.date32()),
    ("invalid_reason", pa.string()), ("_line", pa.int64()),
])


class SourceToConceptMapError(VocabularyFormatError):
    """A SOURCE_TO_CONCEPT_MAP file is missing or malformed; names file, line and column."""

    field_label = "column"


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------
def export_source_to_concept_map(con, vocabulary_ids: Sequence[str], path: str | Path, *, delimiter: str = "\t",
                                 include_unmapped: bool = True) -> dict[str, Any]:
    """Write the mappings of ``vocabulary_ids`` as a SOURCE_TO_CONCEPT_MAP file (see the module docstring).

    Rows are sorted by (source_vocabulary_id, source_code, target_concept_id).
    Returns ``{"path", "rows", "codes", "mapped_codes", "unmapped_codes", "bytes", "sha256",
    "vocabularies": {vocabulary_id: rows}}``.
    """
    if delimiter not in ("\t", ","):
        raise ValueError(f"delimiter must be a tab or a comma, not {delimiter!r}")
    wanted = sorted(set(vocabulary_ids))
    if not wanted:
        raise ValueError("no vocabulary_ids given")
    known = [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary ORDER BY 1").fetchall()]
    unknown = [v for v in wanted if v not in known]
    if unknown:
        raise UnknownCodeSystem(unknown[0], known)
    path = Path(path)
    sel = ", ".join(_q(v) for v in wanted)
    unmapped = f"""UNION ALL
        SELECT s.concept_code, s.concept_id, s.vocabulary_id, s.concept_name, 0, {_q(UNMAPPED_VOCABULARY)},
               s.valid_start_date, s.valid_end_date, NULL
        FROM src s WHERE s.concept_id NOT IN (SELECT source_concept_id FROM m)""" if include_unmapped else ""
    query = f"""
        WITH src AS (SELECT * FROM concept WHERE vocabulary_id IN ({sel})
                     AND standard_concept IS DISTINCT FROM 'S'),
        m AS (SELECT s.concept_code AS source_code, s.concept_id AS source_concept_id,
                     s.vocabulary_id AS source_vocabulary_id, s.concept_name AS source_code_description,
                     t.concept_id AS target_concept_id, t.vocabulary_id AS target_vocabulary_id,
                     r.valid_start_date, r.valid_end_date, r.invalid_reason
              FROM src s
              JOIN concept_relationship r ON r.concept_id_1 = s.concept_id AND r.relationship_id = 'Maps to'
                   AND r.invalid_reason IS NULL
              JOIN concept t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S'
                   AND t.invalid_reason IS NULL)
        SELECT * FROM m {unmapped}"""
    wide = [(c, w) for c, _, _, w in STCM_FIELDS if w and c != "invalid_reason"]
    which = " ".join(f"WHEN length({c}) > {w} THEN {_q(c)}" for c, w in wide)
    bad = _first(con, f"""SELECT * FROM (SELECT source_vocabulary_id, source_code, source_concept_id,
                                                CASE {which} END AS col FROM ({query}))
                          WHERE col IS NOT NULL ORDER BY ALL LIMIT 1""")
    if bad:
        vocab, code, cid, col = bad
        raise VocabularyFormatError(f"{vocab} concept {cid} ({code!r}): {col} is longer than the "
                                    f"{dict(wide)[col]} characters SOURCE_TO_CONCEPT_MAP allows", path, None, col)
    delim = "\t" if delimiter == "\t" else ","
    rows = con.execute(
        f"""COPY (SELECT {', '.join(STCM_COLUMNS)} FROM ({query})
                  ORDER BY source_vocabulary_id, source_code, target_concept_id)
            TO {_q(str(path))} (FORMAT csv, DELIMITER {_q(delim)}, HEADER true, QUOTE '"', ESCAPE '"',
                                NULLSTR '', DATEFORMAT '%Y-%m-%d')""").fetchall()[0][0]
    counts = con.execute(
        f"""SELECT source_vocabulary_id, count(*), count(DISTINCT source_code),
                   count(DISTINCT source_code) FILTER (WHERE target_concept_id <> 0)
            FROM ({query}) GROUP BY 1 ORDER BY 1""").fetchall()
    codes = sum(r[2] for r in counts)
    mapped = sum(r[3] for r in counts)
    return {"path": str(path), "rows": int(rows), "codes": codes, "mapped_codes": mapped,
            "unmapped_codes": codes - mapped, "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "vocabularies": {v: int(n) for v, n, _, _ in counts}}


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _header(path: Path) -> tuple[list[str], str]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = fh.readline().rstrip("\r\n")
    if not first.strip():
        raise SourceToConceptMapError("empty file (no header line)", path, 1)
    if "\t" in first:
        delim = "\t"
    elif "," in first:
        delim = ","
    else:
        raise SourceToConceptMapError(f"cannot tell the delimiter: the header {first!r} has neither a tab "
                                      f"nor a comma", path, 1)
    names = [h.strip().lower() for h in next(csv.reader([first], delimiter=delim))]
    dup = sorted({h for h in names if names.count(h) > 1})
    if dup:
        raise SourceToConceptMapError(f"duplicate column(s) {dup}", path, 1, dup[0])
    missing = [c for c, _, req, _ in STCM_FIELDS if req and c not in names]
    if missing:
        raise SourceToConceptMapError(f"missing column(s) {missing}", path, 1, missing[0])
    return names, delim


def _first(con, sql: str) -> tuple | None:
    rows = con.execute(sql).fetchall()
    return rows[0] if rows else None


def _date_sql(c: str) -> str:
    return (f"CASE WHEN regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
            f"THEN CAST(try_strptime({c}, '%Y-%m-%d') AS DATE) "
            f"WHEN regexp_full_match({c}, '[0-9]{{8}}') THEN CAST(try_strptime({c}, '%Y%m%d') AS DATE) END")


def _check_raw(con, path: Path) -> None:
    """Field-level checks on table ``raw`` (all text, trimmed, '' for empty, plus _line)."""
    for c, kind, required, width in STCM_FIELDS:
        if required:
            line = con.execute(f"SELECT min(_line) FROM raw WHERE {c} = ''").fetchall()[0][0]
            if line is not None:
                raise SourceToConceptMapError("required value is empty", path, int(line), c)
        if width:
            row = _first(con, f"SELECT _line, {c} FROM raw WHERE length({c}) > {width} ORDER BY _line LIMIT 1")
            if row:
                raise SourceToConceptMapError(f"longer than {width} characters: {row[1]!r}", path, int(row[0]), c)
        if kind == "int":
            row = _first(con, f"""SELECT _line, {c} FROM raw WHERE {c} <> '' AND (NOT regexp_full_match({c}, '-?[0-9]+')
                                  OR TRY_CAST({c} AS INTEGER) IS NULL) ORDER BY _line LIMIT 1""")
            if row:
                raise SourceToConceptMapError(f"not an integer (32-bit): {row[1]!r}", path, int(row[0]), c)
            row = _first(con, f"SELECT _line, {c} FROM raw WHERE TRY_CAST({c} AS INTEGER) < 0 ORDER BY _line LIMIT 1")
            if row:
                raise SourceToConceptMapError(f"negative concept id: {row[1]!r}", path, int(row[0]), c)
        elif kind == "date":
            row = _first(con, f"SELECT _line, {c} FROM raw WHERE {c} <> '' AND ({_date_sql(c)}) IS NULL "
                              f"ORDER BY _line LIMIT 1")
            if row:
                raise SourceToConceptMapError(f"not a date (YYYY-MM-DD or YYYYMMDD): {row[1]!r}", path,
                                              int(row[0]), c)
    allowed = ", ".join(_q(r) for r in ("", *INVALID_REASONS))
    row = _first(con, f"SELECT _line, invalid_reason FROM raw WHERE invalid_reason NOT IN ({allowed}) "
                      f"ORDER BY _line LIMIT 1")
    if row:
        raise SourceToConceptMapError(f"invalid_reason must be D, U or empty, not {row[1]!r}", path, int(row[0]),
                                      "invalid_reason")


def _check_typed(con, path: Path) -> None:
    """Row and cross-row checks on table ``typed``."""
    row = _first(con, "SELECT _line FROM typed WHERE valid_end_date < valid_start_date ORDER BY _line LIMIT 1")
    if row:
        raise SourceToConceptMapError("valid_end_date before valid_start_date", path, int(row[0]), "valid_end_date")
    row = _first(con, f"""SELECT _line, target_vocabulary_id FROM typed WHERE target_concept_id = 0
                          AND target_vocabulary_id <> {_q(UNMAPPED_VOCABULARY)} ORDER BY _line LIMIT 1""")
    if row:
        raise SourceToConceptMapError(f"target_concept_id 0 (unmapped) needs target_vocabulary_id "
                                      f"{UNMAPPED_VOCABULARY!r}, not {row[1]!r}", path, int(row[0]),
                                      "target_vocabulary_id")
    row = _first(con, """SELECT _line, first_line, source_vocabulary_id, source_code, target_concept_id FROM (
                             SELECT *, min(_line) OVER (PARTITION BY source_vocabulary_id, source_code,
                                                        target_concept_id) AS first_line FROM typed)
                         WHERE _line > first_line ORDER BY _line LIMIT 1""")
    if row:
        line, first, vocab, code, target = row
        raise SourceToConceptMapError(f"duplicate mapping {vocab} {code!r} -> {target} (first at line {first})",
                                      path, int(line), "target_concept_id")
    row = _first(con, """SELECT _line, first_line, source_vocabulary_id, source_code, first_id, source_concept_id FROM (
                             SELECT *, first_value(source_concept_id) OVER w AS first_id,
                                    first_value(_line) OVER w AS first_line FROM typed
                             WINDOW w AS (PARTITION BY source_vocabulary_id, source_code ORDER BY _line))
                         WHERE source_concept_id <> first_id ORDER BY _line LIMIT 1""")
    if row:
        line, first, vocab, code, a, b = row
        raise SourceToConceptMapError(f"two source_concept_ids for {vocab} {code!r}: {a} (line {first}) and {b}",
                                      path, int(line), "source_concept_id")
    row = _first(con, """SELECT _line, first_line, source_concept_id, first_vocab, first_code FROM (
                             SELECT *, first_value(source_vocabulary_id) OVER w AS first_vocab,
                                    first_value(source_code) OVER w AS first_code,
                                    first_value(_line) OVER w AS first_line FROM typed WHERE source_concept_id > 0
                             WINDOW w AS (PARTITION BY source_concept_id ORDER BY _line))
                         WHERE source_vocabulary_id <> first_vocab OR source_code <> first_code
                         ORDER BY _line LIMIT 1""")
    if row:
        line, first, cid, vocab, code = row
        raise SourceToConceptMapError(f"source_concept_id {cid} is used for two codes (first {vocab} {code!r} "
                                      f"at line {first})", path, int(line), "source_concept_id")
    row = _first(con, """SELECT _line, source_vocabulary_id, source_code FROM (
                             SELECT *, count(*) OVER w AS n FROM typed
                             WINDOW w AS (PARTITION BY source_vocabulary_id, source_code))
                         WHERE target_concept_id = 0 AND n > 1 ORDER BY _line LIMIT 1""")
    if row:
        raise SourceToConceptMapError(f"{row[1]} {row[2]!r} is both unmapped (target_concept_id 0) and mapped",
                                      path, int(row[0]), "target_concept_id")


def _parse(path: Path) -> pa.Table:
    names, delim = _header(path)
    try:
        t = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", use_threads=False, column_names=names, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=delim, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:  # wrong field count, bad quoting, bad UTF-8
        raise SourceToConceptMapError(f"not a readable {'TSV' if delim == chr(9) else 'CSV'} file: {exc}",
                                      path) from exc
    lines = _line_numbers(t)
    cols = {c: (pc.utf8_trim_whitespace(t[c].combine_chunks()) if c in names else pa.array([""] * t.num_rows))
            for c in STCM_COLUMNS}
    raw = pa.table({**cols, "_line": pa.array(lines)})
    con = duckdb.connect()
    try:
        con.register("raw", raw)
        _check_raw(con, path)
        typed = []
        for c, kind, _, _ in STCM_FIELDS:
            if kind == "int":
                typed.append(f"CAST({c} AS INTEGER) AS {c}")
            elif kind == "date":
                typed.append(f"{_date_sql(c)} AS {c}")
            else:
                typed.append(f"nullif({c}, '') AS {c}")
        con.execute(f"CREATE TABLE typed AS SELECT {', '.join(typed)}, _line FROM raw ORDER BY _line")
        _check_typed(con, path)
        out = con.sql("SELECT * FROM typed ORDER BY _line").to_arrow_table()
    finally:
        con.close()
    return out.cast(ROWS_SCHEMA)


@dataclass(frozen=True)
class SourceToConceptMap:
    """A read and checked SOURCE_TO_CONCEPT_MAP file; call it with the store to get its overlay.

    ``rows``: every file row typed (:data:`ROWS_SCHEMA`, descriptions and
    invalid_reason null when empty) with its physical ``_line``.
    """

    path: str
    rows: pa.Table
    concept_id_offset: int | None = None
    vocabulary_name: str | None = None
    vocabulary_version: str | None = None

    def __call__(self, con) -> OverlayVocabulary:
        return _build(self, con)


def read_source_to_concept_map(path: str | Path, *, concept_id_offset: int | None = None,
                               vocabulary_name: str | None = None,
                               vocabulary_version: str | None = None) -> SourceToConceptMap:
    """Read and check a SOURCE_TO_CONCEPT_MAP file (CSV or TSV); returns an overlay builder.

    ``concept_id_offset``: first id of the block for new vocabularies' codes
    (needed when their source_concept_id is 0); ``vocabulary_name`` (only
    when the file defines one new vocabulary) and ``vocabulary_version`` fill
    the VOCABULARY row.  See the module docstring for the rules.
    """
    path = Path(path)
    if not path.is_file():
        raise SourceToConceptMapError("SOURCE_TO_CONCEPT_MAP file does not exist", path)
    if concept_id_offset is not None and concept_id_offset < LOCAL_CONCEPT_ID_START:
        raise ValueError(f"concept_id_offset must be >= {LOCAL_CONCEPT_ID_START} (local concept ids), "
                         f"not {concept_id_offset}")
    return SourceToConceptMap(str(path), _parse(path), concept_id_offset, vocabulary_name, vocabulary_version)


# ---------------------------------------------------------------------------
# building the overlay against the store
# ---------------------------------------------------------------------------
def _check_targets(con, rows: str, path: str) -> None:
    row = _first(con, f"""SELECT r._line, r.target_concept_id, r.target_vocabulary_id, c.concept_id IS NULL,
                                 c.standard_concept, c.vocabulary_id, c.concept_code
                          FROM {rows} r LEFT JOIN concept c ON c.concept_id = r.target_concept_id
                          WHERE r.target_concept_id <> 0 AND (c.concept_id IS NULL
                                OR c.standard_concept IS DISTINCT FROM 'S' OR c.vocabulary_id <> r.target_vocabulary_id)
                          ORDER BY r._line LIMIT 1""")
    if not row:
        return
    line, target, stated, missing, standard, vocab, code = row
    if missing:
        raise SourceToConceptMapError(f"target concept {target} is not in the store", path, int(line),
                                      "target_concept_id")
    if standard != "S":
        raise SourceToConceptMapError(f"target concept {target} ({vocab} {code!r}) is not a standard concept",
                                      path, int(line), "target_concept_id")
    raise SourceToConceptMapError(f"target concept {target} belongs to vocabulary {vocab!r}, not {stated!r}",
                                  path, int(line), "target_vocabulary_id")


def _check_existing_codes(con, rows: str, existing: list[str], path: str) -> None:
    if not existing:
        return
    sel = ", ".join(_q(v) for v in existing)
    row = _first(con, f"""SELECT _line, source_vocabulary_id, source_code, source_concept_id, store_id, n FROM (
                              SELECT r._line, r.source_vocabulary_id, r.source_code, r.source_concept_id,
                                     min(c.concept_id) OVER (PARTITION BY r._line) AS store_id,
                                     count(c.concept_id) OVER (PARTITION BY r._line) AS n
                              FROM {rows} r LEFT JOIN concept c
                                ON c.vocabulary_id = r.source_vocabulary_id AND c.concept_code = r.source_code
                              WHERE r.source_vocabulary_id IN ({sel}))
                          WHERE n <> 1 OR (source_concept_id <> 0 AND source_concept_id <> store_id)
                          ORDER BY _line LIMIT 1""")
    if not row:
        return
    line, vocab, code, cid, store_id, n = row
    if n == 0:
        raise SourceToConceptMapError(f"code {code!r} is not in vocabulary {vocab!r}, which is already loaded: "
                                      f"a file may add mappings to a loaded vocabulary, not codes", path, int(line),
                                      "source_code")
    if n > 1:
        raise SourceToConceptMapError(f"code {code!r} matches {n} concepts of vocabulary {vocab!r}", path,
                                      int(line), "source_code")
    raise SourceToConceptMapError(f"source_concept_id {cid} of {vocab} {code!r} differs from the store's "
                                  f"concept {store_id}", path, int(line), "source_concept_id")


def _new_codes(con, rows: str, new: list[str], spec: SourceToConceptMap) -> pa.Table:
    """One row per code of the new vocabularies with its concept id (checked)."""
    path, offset = spec.path, spec.concept_id_offset
    sel = ", ".join(_q(v) for v in new) if new else "NULL"
    base = (f"""SELECT source_vocabulary_id, source_code, min(_line) AS line, max(source_concept_id) AS sid
                FROM {rows} WHERE source_vocabulary_id IN ({sel}) GROUP BY ALL""")
    if offset is None:
        row = _first(con, f"SELECT line, source_vocabulary_id FROM ({base}) WHERE sid = 0 ORDER BY line LIMIT 1")
        if row:
            raise SourceToConceptMapError(
                f"source_concept_id is 0 and no concept_id_offset was given: the codes of new vocabulary "
                f"{row[1]!r} need concept ids", path, int(row[0]), "source_concept_id")
    gen = "NULL" if offset is None else f"{int(offset)} + position"
    codes = con.sql(f"""SELECT source_vocabulary_id, source_code, line, sid,
                               CAST(CASE WHEN sid > 0 THEN sid ELSE {gen} END AS BIGINT) AS concept_id
                        FROM (SELECT *, row_number() OVER (ORDER BY line) AS position FROM ({base}))
                        ORDER BY line""").to_arrow_table()
    name = f"_stcm_codes_{next(_names)}"
    con.register(name, codes)
    try:
        row = _first(con, f"SELECT line, sid FROM {name} WHERE sid > 0 AND sid < {LOCAL_CONCEPT_ID_START} "
                          f"ORDER BY line LIMIT 1")
        if row:
            raise SourceToConceptMapError(
                f"source_concept_id {row[1]} of a new vocabulary's code must be >= {LOCAL_CONCEPT_ID_START} "
                f"(local concept ids)", path, int(row[0]), "source_concept_id")
        if offset is not None:
            row = _first(con, f"""SELECT line, concept_id, sid FROM {name}
                                  WHERE concept_id < {offset} OR concept_id >= {offset + LOCAL_BLOCK_SIZE}
                                  ORDER BY line LIMIT 1""")
            if row:
                what = "source_concept_id" if row[2] else f"generated id (more than {LOCAL_BLOCK_SIZE} codes?)"
                raise SourceToConceptMapError(
                    f"{what} {row[1]} lies outside the block {offset}..{offset + LOCAL_BLOCK_SIZE - 1}",
                    path, int(row[0]), "source_concept_id")
        row = _first(con, f"""SELECT n.line, n.concept_id, c.vocabulary_id, c.concept_code FROM {name} n
                              JOIN concept c ON c.concept_id = n.concept_id ORDER BY n.line LIMIT 1""")
        if row:
            raise SourceToConceptMapError(f"concept id {row[1]} is already used in the store ({row[2]} {row[3]!r})",
                                          path, int(row[0]), "source_concept_id")
        row = _first(con, f"""SELECT line, concept_id, first_line FROM (
                                  SELECT *, min(line) OVER (PARTITION BY concept_id) AS first_line FROM {name})
                              WHERE line > first_line ORDER BY line LIMIT 1""")
        if row:
            raise SourceToConceptMapError(f"concept id {row[1]} is given to two codes (first at line {row[2]})",
                                          path, int(row[0]), "source_concept_id")
    finally:
        con.unregister(name)
    return codes


def _build(spec: SourceToConceptMap, con) -> OverlayVocabulary:
    path = spec.path
    rows = f"_stcm_rows_{next(_names)}"
    con.register(rows, spec.rows)
    codes_name = f"_stcm_new_{next(_names)}"
    registered = [rows]
    try:
        _check_targets(con, rows, path)
        vocabs = con.execute(f"""SELECT DISTINCT r.source_vocabulary_id, v.vocabulary_id IS NOT NULL FROM {rows} r
                                 LEFT JOIN vocabulary v ON v.vocabulary_id = r.source_vocabulary_id
                                 ORDER BY 1""").fetchall()
        existing = [v for v, known in vocabs if known]
        new = [v for v, known in vocabs if not known]
        if spec.vocabulary_name is not None and len(new) != 1:
            raise SourceToConceptMapError(f"vocabulary_name given, but the file defines {len(new)} new "
                                          f"vocabularies ({', '.join(new) or 'none'})", path)
        _check_existing_codes(con, rows, existing, path)
        codes = _new_codes(con, rows, new, spec)
        con.register(codes_name, codes)
        registered.append(codes_name)
        sel = ", ".join(_q(v) for v in existing) if existing else "NULL"
        resolved = f"""SELECT r.*, CAST(coalesce(e.concept_id, n.concept_id) AS INTEGER) AS sid FROM {rows} r
                       LEFT JOIN concept e ON r.source_vocabulary_id IN ({sel})
                            AND e.vocabulary_id = r.source_vocabulary_id AND e.concept_code = r.source_code
                       LEFT JOIN {codes_name} n ON n.source_vocabulary_id = r.source_vocabulary_id
                            AND n.source_code = r.source_code"""
        row = _first(con, f"""SELECT r._line, r.sid, r.target_concept_id FROM ({resolved}) r
                              JOIN concept_relationship cr ON cr.concept_id_1 = r.sid
                                   AND cr.concept_id_2 = r.target_concept_id AND cr.relationship_id = 'Maps to'
                              ORDER BY r._line LIMIT 1""")
        if row:
            raise SourceToConceptMapError(f"mapping {row[1]} -> {row[2]} ('Maps to') is already in the store",
                                          path, int(row[0]), "target_concept_id")
        concept = con.sql(f"""
            SELECT CAST(n.concept_id AS INTEGER) AS concept_id,
                   coalesce(arg_min(r.source_code_description, r._line)
                            FILTER (WHERE r.source_code_description IS NOT NULL), n.source_code) AS concept_name,
                   coalesce(arg_min(t.domain_id, r._line) FILTER (WHERE r.target_concept_id <> 0),
                            {_q(DEFAULT_DOMAIN)}) AS domain_id,
                   n.source_vocabulary_id AS vocabulary_id, {_q(DEFAULT_CONCEPT_CLASS)} AS concept_class_id,
                   CAST(NULL AS VARCHAR) AS standard_concept, n.source_code AS concept_code,
                   min(r.valid_start_date) AS valid_start_date, max(r.valid_end_date) AS valid_end_date,
                   CAST(NULL AS VARCHAR) AS invalid_reason, n.line AS _line
            FROM {codes_name} n
            JOIN {rows} r ON r.source_vocabulary_id = n.source_vocabulary_id AND r.source_code = n.source_code
            LEFT JOIN concept t ON t.concept_id = r.target_concept_id
            GROUP BY n.concept_id, n.source_code, n.source_vocabulary_id, n.line
            ORDER BY concept_id""").to_arrow_table()
        relationship = con.sql(f"""
            SELECT * FROM (
                SELECT sid AS concept_id_1, target_concept_id AS concept_id_2, 'Maps to' AS relationship_id,
                       valid_start_date, valid_end_date, invalid_reason FROM ({resolved}) WHERE target_concept_id <> 0
                UNION ALL
                SELECT target_concept_id, sid, 'Mapped from', valid_start_date, valid_end_date, invalid_reason
                FROM ({resolved}) WHERE target_concept_id <> 0)
            ORDER BY concept_id_1, relationship_id, concept_id_2""").to_arrow_table()
        mapping_lines = con.sql(f"""SELECT source_code, target_concept_id, _line AS line FROM {rows}
                                    WHERE target_concept_id <> 0 ORDER BY _line""").to_arrow_table()
        counts = con.execute(f"""SELECT count(*), count(DISTINCT (source_vocabulary_id, source_code)),
                                        count(DISTINCT (source_vocabulary_id, source_code))
                                            FILTER (WHERE target_concept_id <> 0),
                                        count(*) FILTER (WHERE target_concept_id <> 0)
                                 FROM {rows}""").fetchall()[0]
    finally:
        for name in registered:
            con.unregister(name)
    n_rows, n_codes, n_mapped, n_mappings = (int(x) for x in counts)
    tables: dict[str, pa.Table] = {
        "concept": concept.drop_columns(["_line"]).cast(ATHENA_SCHEMAS["concept"]),
        "concept_relationship": relationship.cast(ATHENA_SCHEMAS["concept_relationship"]),
    }
    if new:
        tables["vocabulary"] = pa.table([
            new, [spec.vocabulary_name or v for v in new], [Path(path).name] * len(new),
            [spec.vocabulary_version] * len(new), pa.array([0] * len(new), pa.int32())],
            schema=ATHENA_SCHEMAS["vocabulary"])
        if concept.num_rows:
            tables["concept_class"] = pa.table([[DEFAULT_CONCEPT_CLASS], [DEFAULT_CONCEPT_CLASS],
                                                pa.array([0], pa.int32())], schema=ATHENA_SCHEMAS["concept_class"])
    concept_lines = pa.table([concept["concept_id"], concept["_line"]], schema=LINES_SCHEMA)
    report = {"rows": n_rows, "codes": n_codes, "mapped": n_mapped, "unmapped": n_codes - n_mapped,
              "mappings": n_mappings, "concepts": concept.num_rows, "new_vocabularies": new,
              "existing_vocabularies": existing}
    return OverlayVocabulary(path, tables, concept_lines=concept_lines,
                             mapping_lines=mapping_lines.cast(MAPPING_LINES_SCHEMA),
                             new_vocabularies=tuple(new), report=report)


__all__ = [
    "ROWS_SCHEMA", "STCM_COLUMNS", "STCM_FIELDS", "SourceToConceptMap", "SourceToConceptMapError",
    "UNMAPPED_VOCABULARY", "export_source_to_concept_map", "read_source_to_concept_map",
]
