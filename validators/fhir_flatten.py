"""Flatten a FHIR R4 Bulk Data export (NDJSON, one file per resource type) into DuckDB tables.

The quality suite (:mod:`validators.fhir_suite`) checks these tables with Great
Expectations; this module only describes the export, it judges nothing.

Tables written (``rid`` = row of ``resource``; ``label`` = the resource id, or
``file:line`` when the id is missing or looks like a national identifier):

* ``resource``   rid, file, line, resource_type, id, label, json_ok, profiles, profile_count,
                 identifier_systems, validated, valid, error, national_id_count
* ``profile``    resource_type, label, file, line, rid, profile        (one row per meta.profile)
* ``identifier`` resource_type, label, file, line, rid, path, system   (every Identifier element; never the value)
* ``coding``     resource_type, label, file, line, rid, path, system, code   (every Coding element)
* ``reference``  resource_type, label, file, line, rid, path, reference, kind, target_type, target_id
                 (kind: relative | contained | absolute | invalid)
* ``contained``  resource_type, label, file, line, rid, contained_id
* ``known_system`` system, vocabulary_id, basis       (coding systems the hub knows)

How (the same tables as one ``json_tree`` over every line gave; memory bounded whatever
the export's size):

* Files are read in chunks of whole lines (``_CHUNK_BYTES``; numpy finds the line ends, a
  line longer than a chunk makes its chunk longer).  ``rid`` numbers the non-blank lines in
  (file name, line) order.  ``workers`` chunks are flattened at a time, each on its own
  DuckDB cursor, with Arrow tables for a chunk's intermediate results; the tables' rows are
  kept in Arrow and appended by whole row groups (which go straight to the database file).
  DuckDB runs with ``MEMORY_LIMIT`` and spills to ``<db>.tmp``.
* Per line, DuckDB's JSON functions give the head (resourceType, id, meta.profile).
* Elements (identifiers, codings, references, contained ids): the lines of an export share a
  few structures, so ``json_tree`` runs on one line of each structure, which becomes a
  *template*: the JSON type at the path of every leaf and empty container, nothing one past
  the end of each list, the number of members, and the paths of the element values.  A line
  has the template's structure when ``json_type`` gives those types and it has as many
  members (``":``; such lines have no backslash, carriage return, or space or tab after a
  quote, so no space before a colon); its element
  values are then read by ``json_extract_string`` at the template's paths.  Other lines go
  through ``json_tree`` themselves; a long line (``_TREE_MAX_BYTES``, where ``json_tree``
  would need memory in proportion to length times nodes) is cut into its members and list
  items first, and the items of a long list are matched to templates like lines.
* National identifiers: candidates by regex outside ``"code"`` values (Arrow's regex
  kernels pick the lines that have any, DuckDB extracts them), confirmed by the connectors'
  check-digit masks (vectorised).
* The only per-resource Python work is the structural validation with the
  ``fhir.resources`` R4B models, which can be limited to a deterministic sample (the best
  ``sample_size`` lines by seeded md5 are kept while the chunks go by).

The tables' rows are not stored in ``rid`` order (workers append their chunks as they finish):
order by ``rid`` where order matters.

Raw lines live only in memory (Arrow) and temporary tables: the database file never holds
them, so it can be kept for inspection without holding raw identifiers.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.fhir_in.flatten import first_error
from connectors.finland.hetu import valid_mask as hetu_valid_mask
from connectors.taiwan.national_id import valid_mask as tw_id_valid_mask
from terminology.systems import vocabulary_for_uri

# National-identifier candidates (word-bounded); confirmed by the check-digit masks.
TW_ID_SHAPE = r"[A-Z][1289A-D][0-9]{8}"  # 10 characters
HETU_SHAPE = r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]"  # 11 characters
TW_ID_PATTERN = rf"\b{TW_ID_SHAPE}\b"
HETU_PATTERN = rf"\b{HETU_SHAPE}\b"
_CANDIDATES = rf"\b({TW_ID_SHAPE}|{HETU_SHAPE})\b"
_ANY_CANDIDATE = rf"\b(?:{TW_ID_SHAPE}|{HETU_SHAPE})\b"
# values of "code" elements are terminology codes, not identifiers: Taiwan NHI drug codes
# (e.g. AC45856100) have the shape of old resident certificates and one in ten passes its check
_CODE_VALUE = r'"code"\s*:\s*"[^"\\]*"'
# Code systems of FHIR itself (status, category, class ...), accepted besides terminology.systems.
FHIR_INFRASTRUCTURE_PREFIXES = ("http://terminology.hl7.org/CodeSystem/", "http://hl7.org/fhir/")
FHIR_INFRASTRUCTURE_EXCLUDED = ("http://hl7.org/fhir/sid/",)  # external code systems: must be registered
VALIDATE_MODES = ("all", "sample")
_TYPE_NAME = re.compile(r"^[A-Z][A-Za-z]{0,63}$")
# json_tree paths of the elements kept: Identifier objects, and Coding objects (inside a
# CodeableConcept, or Coding-typed: Encounter.class, valueCoding, meta.tag, meta.security)
_IDENTIFIER_PATH = r"\.identifier(\[[0-9]+\])?$"
_ELEMENT_PATH = (r"\.(identifier|identifier\[[0-9]+\]|coding\[[0-9]+\]|class|valueCoding"
                 r"|tag\[[0-9]+\]|security\[[0-9]+\])$")
_CONTAINED_ID_PATH = r"\$\.contained\[[0-9]+\]\.id"
# json_tree rows (alias t) that are elements, and which table each goes to
_NODE_FILTER = f"""((t.key = 'reference' AND t.type = 'VARCHAR')
                   OR (t.type = 'OBJECT' AND regexp_matches(t.fullkey, '{_ELEMENT_PATH}'))
                   OR (t.key = 'id' AND regexp_full_match(t.fullkey, '{_CONTAINED_ID_PATH}')))"""
_IS_IDENTIFIER = f"(t.type = 'OBJECT' AND regexp_matches(t.fullkey, '{_IDENTIFIER_PATH}'))"
_IS_CODING_CANDIDATE = f"(t.type = 'OBJECT' AND NOT regexp_matches(t.fullkey, '{_IDENTIFIER_PATH}'))"
_IS_REFERENCE = "(t.key = 'reference' AND t.type = 'VARCHAR')"
_IS_CONTAINED = "(t.key = 'id' AND t.type = 'VARCHAR')"
# which table a json_tree node goes to ({has_coding}: SQL telling whether the object has a "coding")
_ELEMENT_OF_NODE = f"""(CASE WHEN {_IS_IDENTIFIER} THEN 'identifier'
                            WHEN {_IS_CODING_CANDIDATE} AND NOT {{has_coding}} THEN 'coding'
                            WHEN {_IS_REFERENCE} THEN 'reference'
                            WHEN {_IS_CONTAINED} THEN 'contained' END)"""
_BATCH_ROWS = 5000
_CHUNK_BYTES = 32 << 20  # NDJSON bytes flattened at a time
MEMORY_LIMIT = "512MB"  # DuckDB memory while flattening and checking (temporary data spills to <db>.tmp)
OUTPUT_TABLES = ("resource", "identifier", "coding", "reference", "contained", "profile")
_ROW_GROUP = 122_880  # DuckDB's rows per row group: the tables are appended to by whole row groups


class FhirExportError(ValueError):
    """The export cannot be read at all (missing directory, no NDJSON files, unreadable file)."""


@dataclass(frozen=True)
class FlattenSummary:
    """What was read: counts and the time spent on each step (seconds)."""

    files: tuple[str, ...]
    lines: int
    malformed: int
    validated: int
    seconds_read: float
    seconds_validate: float
    steps: dict[str, float] = field(default_factory=dict)  # seconds per step of the flattening


def file_resource_type(file_name: str) -> str | None:
    """The resource type a file name announces (``Patient.ndjson``, ``1.Patient.ndjson``), or None."""
    stem = file_name[: -len(".ndjson")] if file_name.endswith(".ndjson") else file_name
    for token in re.split(r"[._-]", stem):
        if _TYPE_NAME.match(token):
            return token
    return None


def list_ndjson_files(ndjson_dir: str | os.PathLike) -> list[Path]:
    """The export's ``*.ndjson`` files, sorted by name; FhirExportError when there are none."""
    root = Path(ndjson_dir)
    if not root.is_dir():
        raise FhirExportError(f"FHIR export directory does not exist: {root}")
    files = sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(".ndjson"))
    if not files:
        raise FhirExportError(f"no .ndjson files in FHIR export directory {root}")
    return files


class _Steps:
    """Seconds per step, summed over chunks (and over the workers' threads)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._t
        self._t = now

    def add(self, other: _Steps) -> None:
        for k, v in other.seconds.items():
            self.seconds[k] = self.seconds.get(k, 0.0) + v

    def restart(self) -> None:
        self._t = time.perf_counter()

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


@dataclass
class _Chunk:
    file: str
    file_type: str | None
    table: pa.Table  # rid, line, raw


def flatten_export(ndjson_dir: str | os.PathLike, db_path: str | os.PathLike, *, validate: str = "all",
                   sample_size: int = 1000, seed: int = 0, chunk_bytes: int = _CHUNK_BYTES,
                   workers: int | None = None) -> FlattenSummary:
    """Read every NDJSON file of ``ndjson_dir`` and write the tables above into ``db_path`` (replaced).

    ``workers`` chunks are flattened at a time (default: 2 when the machine has 2 CPUs or more).
    """
    if validate not in VALIDATE_MODES:
        raise ValueError(f"validate must be one of {VALIDATE_MODES}, got {validate!r}")
    if validate == "sample" and (not isinstance(sample_size, int) or sample_size < 1):
        raise ValueError(f"sample_size must be a positive integer, got {sample_size!r}")
    files = list_ndjson_files(ndjson_dir)
    n_workers = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))
    db = Path(db_path)
    if db.exists():
        db.unlink()
    steps = _Steps()
    t0 = time.perf_counter()
    # few checkpoints: each rewrites the tables' last, partly filled, row groups
    con = duckdb.connect(str(db), config={"memory_limit": MEMORY_LIMIT, "checkpoint_threshold": "512MB"})
    pool: list[_Worker] = []
    try:
        _create_tables(con)
        pool = [_Worker(con.cursor(), validate, sample_size, seed) for _ in range(n_workers)]
        validated = _run_workers(pool, _chunks(files, chunk_bytes, steps))
        for w in pool[1:]:  # the workers' last rows together: fewer partly filled row groups
            for table, parts in w.staged.items():
                pool[0].staged[table] += parts
            w.staged = {table: [] for table in OUTPUT_TABLES}
        pool[0].flush(final=True)
        for w in pool:
            steps.add(w.steps)
        steps.seconds["chunks_wall"] = time.perf_counter() - t0  # all chunks, read and flattened
        steps.restart()
        if validate == "sample":
            validated = _validate_sample(con, pool, sample_size)
            steps.lap("validate")
        _known_systems(con)
        lines, malformed = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT json_ok) FROM resource").fetchone()
        steps.lap("finish")
        con.execute("CHECKPOINT")
        steps.lap("checkpoint")
    finally:
        for w in pool:
            w.close()
        con.close()
    seconds = steps.rounded()
    validate_seconds = seconds.get("validate", 0.0)
    wall = time.perf_counter() - t0
    return FlattenSummary(tuple(p.name for p in files), lines, malformed, validated,
                          round(max(wall - validate_seconds, 0.0), 3), validate_seconds, seconds)


def _chunks(files: list[Path], chunk_bytes: int, steps: _Steps) -> Iterator[_Chunk]:
    next_rid = 1
    for path in files:
        file_type = file_resource_type(path.name)
        steps.restart()
        for lines, raws in _read_chunks(path, chunk_bytes):
            rids = np.arange(next_rid, next_rid + len(lines), dtype=np.int64)
            next_rid += len(lines)
            steps.lap("read")
            yield _Chunk(path.name, file_type, pa.table({"rid": rids, "line": lines, "raw": raws}))
            steps.restart()


def _run_workers(pool: list[_Worker], chunks: Iterator[_Chunk]) -> int:
    """Flatten the chunks, each on the first idle worker (one thread per worker); resources validated."""
    if len(pool) == 1:
        return sum(pool[0].flatten(chunk) for chunk in chunks)
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
    from queue import SimpleQueue

    idle: SimpleQueue[_Worker] = SimpleQueue()
    for w in pool:
        idle.put(w)

    def run(chunk: _Chunk) -> int:
        worker = idle.get()
        try:
            return worker.flatten(chunk)
        finally:
            idle.put(worker)

    validated = 0
    with ThreadPoolExecutor(max_workers=len(pool), thread_name_prefix="fhir-flatten") as ex:
        pending: set = set()
        try:
            for chunk in chunks:  # at most one chunk per worker in flight: memory stays bounded
                while len(pending) >= len(pool):
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    validated += sum(f.result() for f in done)
                pending.add(ex.submit(run, chunk))
            done, pending = wait(pending)
            validated += sum(f.result() for f in done)
        except BaseException:
            for f in pending:
                f.cancel()
            raise
    return validated


# --- reading -------------------------------------------------------------------------------

def _read_chunks(path: Path, chunk_bytes: int) -> Iterator[tuple[np.ndarray, pa.Array]]:
    """(line numbers, lines) of the non-blank lines of ``path``, in chunks of whole lines.

    A line is what lies between two ``\\n`` (numbered from 1, blank lines counted), without its
    ``\\r``/``\\n`` ending.  Blank = only spaces, tabs and ``\\r``.
    """
    line_base = 0
    parts: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            while True:
                block = fh.read(chunk_bytes)
                if not block:
                    body = b"".join(parts)
                    parts = []
                else:
                    cut = block.rfind(b"\n") + 1
                    if cut == 0:  # no line ends in this block: the line goes on
                        parts.append(block)
                        continue
                    body = b"".join([*parts, block[:cut]]) if parts else memoryview(block)[:cut]
                    parts = [block[cut:]] if cut < len(block) else []
                if body:
                    lines, raws, count = _split_lines(body, path)
                    yield lines + line_base, raws
                    line_base += count
                if not block:
                    return
    except OSError as exc:
        raise FhirExportError(f"cannot read {path.name}: {exc}") from exc


_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[9, 10, 13, 32]] = True  # what a blank line holds (\n: an empty line's own end)


def _split_lines(body: bytes | memoryview, path: Path) -> tuple[np.ndarray, pa.Array, int]:
    """Line numbers (1-based, within ``body``), texts of the non-blank lines (without their
    ``\\r``/``\\n`` ending), and the number of lines."""
    buf = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10) + 1  # one past each line's \n
    if buf[-1] != 10:  # the file's last line, without \n
        ends = np.append(ends, len(buf))
    starts = np.concatenate(([0], ends[:-1]))
    offsets = np.concatenate(([0], ends)).astype(np.int64 if len(buf) >= 2**31 else np.int32)
    kind = pa.large_string() if offsets.dtype == np.int64 else pa.string()
    text = pa.Array.from_buffers(kind, len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(body)])
    try:
        text.validate(full=True)  # UTF-8
    except pa.ArrowInvalid as exc:
        raise FhirExportError(f"cannot read {path.name} as UTF-8 text: {exc}") from exc
    keep = ~_WHITESPACE[buf[starts]]  # a line starting with a non-blank byte is not blank
    if not keep.all():  # the others: any non-blank byte at all? (every segment holds >= 1 byte)
        keep |= np.maximum.reduceat((~_WHITESPACE[buf]).view(np.uint8), starts).astype(bool)
        text = text.filter(pa.array(keep))
    kept = pc.utf8_rtrim(text, characters="\r\n")
    return np.flatnonzero(keep).astype(np.int64) + 1, kept.cast(pa.string()), len(ends)


# --- tables ----------------------------------------------------------------------------------

_HEAD = "resource_type VARCHAR, label VARCHAR, file VARCHAR, line BIGINT, rid BIGINT"


def _redact(expr: str) -> str:
    """SQL of ``expr`` with national-identifier shapes replaced by ``[redacted]``."""
    return (f"regexp_replace(regexp_replace({expr}, '{TW_ID_PATTERN}', '[redacted]', 'g'), "
            f"'{HETU_PATTERN}', '[redacted]', 'g')")


def _create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE TABLE resource (rid BIGINT, file VARCHAR, line BIGINT, resource_type VARCHAR, id VARCHAR,
                   label VARCHAR, json_ok BOOLEAN, profiles VARCHAR[], profile_count BIGINT,
                   identifier_systems VARCHAR[], validated BOOLEAN, valid BOOLEAN, error VARCHAR,
                   national_id_count BIGINT)""")
    con.execute(f"CREATE TABLE identifier ({_HEAD}, path VARCHAR, system VARCHAR)")
    con.execute(f"CREATE TABLE coding ({_HEAD}, path VARCHAR, system VARCHAR, code VARCHAR)")
    con.execute(f"""CREATE TABLE reference ({_HEAD}, path VARCHAR, reference VARCHAR, kind VARCHAR,
                    target_type VARCHAR, target_id VARCHAR)""")
    con.execute(f"CREATE TABLE contained ({_HEAD}, contained_id VARCHAR)")
    con.execute(f"CREATE TABLE profile ({_HEAD}, profile VARCHAR)")


# --- structures ----------------------------------------------------------------------------

# json_tree paths a template can be built on: plain member names and indexes (no quoting needed)
_PLAIN_PATH = re.compile(r"^\$(\.[A-Za-z_][A-Za-z0-9_]*|\[[0-9]+\])+$")
_TEMPLATE_MAX_NODES = 2000  # bigger structures (long lists) take json_tree line by line
_PLAIN_MAX_BYTES = 16_384
# json_tree needs memory in proportion to a line's length times its nodes: longer lines are cut first
_TREE_MAX_BYTES = 16_384
_BATCH_BYTES = 4 << 20  # JSON text per batch DuckDB works on
_NEW_TEMPLATES_PER_ROUND = 8
_MAX_TEMPLATES = 64  # templates a worker keeps (the most used)
_TEMPLATE_ROUNDS = 3


@dataclass
class _Template:
    """A structure shared by lines: paths and JSON types, and where the elements are.

    A line (parsed; no backslash, no ``\\r``, no space or tab after a ``"``) has this structure
    when it has as many members (``":`` occurrences) and ``json_type`` gives the same types at
    ``type_paths``: every leaf and empty container (a path resolves only through objects and
    lists, so these tell the other nodes' types too), and NULL one index past each list's end.
    Then it has exactly these nodes, so exactly these elements, whose values
    ``json_extract_string`` reads at ``value_paths`` (what ``->>`` on the element gave).
    """

    t_id: int
    members: int
    type_paths: list[str]
    types: list[str | None]
    value_paths: list[str]
    hits: int = 0

    def test_sql(self) -> str:
        paths = _sql_list(self.type_paths)
        types = "[" + ", ".join("NULL" if t is None else f"'{t}'" for t in self.types) + "]::VARCHAR[]"
        return f"members = {self.members} AND json_type(raw, {paths}) = {types}"

    def values_sql(self) -> str:
        return f"json_extract_string(raw, {_sql_list(self.value_paths)})" if self.value_paths else "[]::VARCHAR[]"


def _small_batches(table: pa.Table) -> pa.Table:
    """``table`` in record batches of at most ``_BATCH_BYTES`` of JSON text (``raw``/``value``) or
    2048 rows: DuckDB works a batch at a time, and its JSON functions keep their parse of
    every line of a batch until the batch is done."""
    texts = [c for c in ("raw", "value") if c in table.column_names]
    if not texts or table.num_rows == 0:
        return table
    sizes = np.zeros(table.num_rows, dtype=np.int64)
    for c in texts:
        sizes += pc.fill_null(pc.binary_length(table.column(c)), 0).to_numpy()
    if sizes.sum() <= _BATCH_BYTES and table.num_rows <= 2048:
        return table
    ends = np.cumsum(sizes)
    starts, cuts, start = [], [], 0
    while start < table.num_rows:  # one pass per batch (batches, not rows)
        limit = (ends[start - 1] if start else 0) + _BATCH_BYTES
        stop = max(start + 1, min(start + 2048, int(np.searchsorted(ends, limit, side="right"))))
        starts.append(start)
        cuts.append(stop)
        start = stop
    batches = [b for a, z in zip(starts, cuts) for b in table.slice(a, z - a).to_batches()]
    return pa.Table.from_batches(batches, schema=table.schema)


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"  # plain paths: no quote inside


class _Worker:
    """Flattens chunks on its own cursor (own temporary tables, templates and sample pool).

    A chunk's intermediate tables are Arrow tables registered on the cursor; its rows for the
    tables are kept in Arrow until a table has a row group's worth (see :meth:`flush`).
    """

    def __init__(self, cur: duckdb.DuckDBPyConnection, validate: str, sample_size: int, seed: int) -> None:
        self.cur = cur
        self.validate = validate
        self.sample_size = sample_size
        self.seed = seed
        self.steps = _Steps()
        self.templates: list[_Template] = []
        self.next_id = 1
        cur.execute("""CREATE TEMP TABLE template_element (t_id BIGINT, ids BIGINT[], elements VARCHAR[],
                       paths VARCHAR[], value_idx BIGINT[], system_idx BIGINT[], code_idx BIGINT[])""")
        cur.execute("CREATE TEMP TABLE sample_pool (rid BIGINT, declared_type VARCHAR, raw VARCHAR, k VARCHAR)")
        self.views: dict[str, pa.Table] = {}
        # a chunk's rows wait here, in Arrow, until a table has a row group's worth: appending chunk
        # by chunk would send every chunk's rows through the write-ahead log, and a temporary table
        # slows down as it grows
        self.staged: dict[str, list[pa.Table]] = {table: [] for table in OUTPUT_TABLES}
        self.schemas = {table: cur.sql(f"SELECT * FROM main.{table}").to_arrow_table().schema
                        for table in OUTPUT_TABLES}

    def close(self) -> None:
        self.cur.close()

    def flush(self, final: bool = False) -> None:
        """Move the staged rows of the tables that have a row group's worth (all, when ``final``)
        to the tables, in one transaction, whole row groups only (the rest waits): those go
        straight to the database file, not through the write-ahead log and a checkpoint."""
        ready = {}
        for table, parts in self.staged.items():
            staged = sum(p.num_rows for p in parts)
            n = staged if final else staged // _ROW_GROUP * _ROW_GROUP
            if n:
                rows = pa.concat_tables(parts)
                ready[table] = rows.slice(0, n)
                self.staged[table] = [rows.slice(n)] if n < staged else []
        if not ready:
            return
        cur = self.cur
        cur.execute("BEGIN")
        try:
            for table, rows in ready.items():
                cur.register("staged_rows", rows)
                cur.execute(f"INSERT INTO main.{table} SELECT * FROM staged_rows")
                cur.unregister("staged_rows")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def view(self, name: str, sql: str, params: dict | None = None) -> pa.Table:
        """Run ``sql`` and register its result as ``name`` (until the chunk is done)."""
        table = self.cur.sql(sql, params=params).to_arrow_table() if params else self.cur.sql(sql).to_arrow_table()
        self.put(name, table)
        return table

    def put(self, name: str, table: pa.Table) -> None:
        table = _small_batches(table)
        if name in self.views:
            self.cur.unregister(name)
        self.cur.register(name, table)
        self.views[name] = table

    def flatten(self, chunk: _Chunk) -> int:
        """Append one chunk to the tables; the number of resources validated."""
        self.steps.restart()
        try:
            self.put("chunk_in", chunk.table)
            self._load(chunk.file, chunk.file_type)
            self.steps.lap("parse")
            self.put("natid_in", _candidate_lines(self.views["c_line"].select(["rid", "raw", "json_ok"])))
            self.put("national_id", _national_id_counts(self.cur, "natid_in"))
            self.steps.lap("national_ids")
            self._elements()
            validated = self._validate(chunk.file)
            self._stage_rows(chunk.file)
            self.flush()
            self.steps.lap("flush")
        finally:
            for name in self.views:
                self.cur.unregister(name)
            self.views = {}
        return validated

    def _load(self, file: str, file_type: str | None) -> None:
        """``c_line``: rid, line, raw, json_ok, parsed head, pre-check error, label, profiles, and, for
        lines a template can describe (``plain``), the number of members."""
        type_name = _TYPE_NAME.pattern[1:-1]
        head = self.cur.sql(
            f"""WITH l AS (SELECT rid, line, raw,
                                  CASE WHEN json_valid(raw) THEN raw[1] = '{{' OR json_type(raw) = 'OBJECT'
                                       ELSE false END AS json_ok
                           FROM chunk_in),
                     p AS (SELECT *, CASE WHEN json_ok THEN
                                         json_extract(raw, ['$.resourceType', '$.id', '$.meta.profile']) END AS parts,
                                  json_ok AND strlen(raw) <= {_PLAIN_MAX_BYTES} AND NOT contains(raw, '\\')
                                      AND NOT contains(raw, '" ') AND NOT contains(raw, '"' || chr(9))
                                      AND NOT contains(raw, chr(13)) AS plain
                           FROM l),
                     h AS (SELECT rid, line, raw, json_ok, parts[1]->>'$' AS declared_type, parts[2]->>'$' AS id,
                                  json_type(parts[1]) AS declared_json_type,
                                  json_extract_string(parts[3], '$[*]') AS profile_list, plain,
                                  CASE WHEN plain THEN (strlen(raw) - strlen(replace(raw, '":', ''))) // 2 END
                                      AS members
                           FROM p)
                SELECT rid, line, json_ok, declared_type, id,
                       CASE WHEN regexp_full_match(declared_type, '{type_name}') THEN declared_type
                            ELSE coalesce($file_type, '(unknown)') END AS resource_type,
                       CASE WHEN NOT json_ok THEN 'malformed JSON line (not a JSON object)'
                            WHEN declared_type IS NULL OR declared_json_type <> 'VARCHAR'
                                 THEN 'resourceType missing or not a string'
                            WHEN NOT regexp_full_match(declared_type, '{type_name}')
                                 THEN 'resourceType is not a resource type name'
                            WHEN $file_type IS NOT NULL AND declared_type <> $file_type
                                 THEN 'resourceType ' || declared_type || ' in file of ' || $file_type
                       END AS precheck_error,
                       CASE WHEN id <> '' AND length(id) <= 64
                                 AND NOT regexp_matches(id, '{TW_ID_PATTERN}|{HETU_PATTERN}') THEN id
                            ELSE $file || ':' || line END AS label,
                       profile_list, plain, members
                FROM h""",
            params={"file": file, "file_type": file_type}).to_arrow_table()
        chunk = self.views["chunk_in"]
        if not head.column("rid").equals(chunk.column("rid")):  # a projection keeps the order; checked, cheaply
            raise RuntimeError("DuckDB reordered the lines of a chunk")
        self.put("c_line", head.add_column(2, "raw", chunk.column("raw")))

    # -- elements --

    def _elements(self) -> None:
        """``t_el``: rid, ord, element, path, system, code, value -- one row per element (``ord``: the
        element's place in its line, a list that sorts in document order)."""
        # (a view, not a copy of the lines)
        self.cur.execute("CREATE OR REPLACE TEMP VIEW c_doc AS SELECT rid AS doc, rid, [0]::BIGINT[] AS seq, "
                         "'$' AS prefix, raw, members FROM c_line WHERE plain")
        picked = self._template_elements("c_doc")
        # every other parsed line: json_tree on the line itself (a long line: on its pieces)
        self.view("t_rest", """SELECT rid, raw FROM c_line
                               WHERE json_ok AND rid NOT IN (SELECT doc FROM c_doc_assign WHERE t_id IS NOT NULL)""")
        self.view("t_node", f"""SELECT rid, [0, t.id]::BIGINT[] AS ord, t.key, t.type, t.fullkey,
                                       CAST(t.value AS VARCHAR) AS value
                                FROM (SELECT * FROM t_rest WHERE strlen(raw) <= {_TREE_MAX_BYTES}) l,
                                     json_tree(l.raw) t WHERE {_NODE_FILTER}""")
        parts = [picked]
        if self.cur.execute(f"SELECT count(*) FROM t_rest WHERE strlen(raw) > {_TREE_MAX_BYTES}").fetchall()[0][0]:
            nodes, elements = self._long_lines()
            self.put("t_node", pa.concat_tables([self.views["t_node"], nodes.cast(self.views["t_node"].schema)]))
            if elements is not None:
                parts.append(elements)
        parts.append(self.cur.sql(
            f"""SELECT rid, ord, element, path,
                       CASE WHEN element IN ('identifier', 'coding') THEN value->>'$.system' END AS system,
                       CASE WHEN element = 'coding' THEN value->>'$.code' END AS code,
                       CASE WHEN element IN ('reference', 'contained') THEN value->>'$' END AS value
                FROM (SELECT t.rid, t.ord, t.fullkey AS path, t.value,
                             {_ELEMENT_OF_NODE.replace('{has_coding}', "json_exists(t.value, '$.coding')")} AS element
                      FROM t_node t)
                WHERE element IS NOT NULL""").to_arrow_table())
        self.put("t_el", pa.concat_tables([t.cast(parts[0].schema) for t in parts]))
        self.steps.lap("elements_json_tree_lines")

    def _template_elements(self, docs: str) -> pa.Table:
        """Elements (rid, ord, element, path, system, code, value) of the documents of view ``docs``
        (doc, rid, seq, prefix, raw, members) that a template describes; ``<docs>_assign`` (doc, t_id)
        tells which (t_id NULL: none).  New templates are made from some of the others."""
        cur = self.cur
        assign = f"{docs}_assign"
        cases = " ".join(f"WHEN {t.test_sql()} THEN {t.t_id}" for t in self.templates)
        self.view(assign, f"""SELECT doc, members, {f'CASE {cases} END' if cases else 'CAST(NULL AS BIGINT)'} AS t_id
                              FROM {docs}""")
        self.steps.lap("elements_match")
        tried: list[int] = []
        for _ in range(_TEMPLATE_ROUNDS):  # documents of no known structure: new templates from some of them
            reps = [r for (r,) in cur.execute(
                f"""SELECT min(doc) FROM {assign}
                    WHERE t_id IS NULL {f'AND doc NOT IN ({", ".join(map(str, tried))})' if tried else ''}
                    GROUP BY members ORDER BY count(*) DESC, 1 LIMIT {_NEW_TEMPLATES_PER_ROUND}""").fetchall()]
            if not reps:
                break
            tried += reps
            new = self._new_templates(docs, reps)
            self.steps.lap("elements_templates")
            if new:
                cases = " ".join(f"WHEN {t.test_sql()} THEN {t.t_id}" for t in new)
                self.view(assign, f"""SELECT a.doc, a.members, coalesce(a.t_id, CASE {cases} END) AS t_id
                                      FROM {assign} a JOIN (SELECT doc, raw FROM {docs}) USING (doc)""")
            self.steps.lap("elements_match")
        counts = dict(cur.execute(f"SELECT t_id, count(*) FROM {assign} WHERE t_id IS NOT NULL GROUP BY 1").fetchall())
        for t in self.templates:
            t.hits += counts.get(t.t_id, 0)
        self.templates.sort(key=lambda t: -t.hits)  # most used first in the CASE
        values = " ".join(f"WHEN {t.t_id} THEN {t.values_sql()}" for t in self.templates if t.t_id in counts)
        del self.templates[_MAX_TEMPLATES:]  # an export of ever new structures: json_tree, not a growing CASE
        # a document inside a line (an item of a long list) has no contained resources of the line's own
        elements = self.cur.sql(
            f"""WITH v AS (SELECT d.rid, d.seq, d.prefix, a.t_id,
                                  {f'CASE a.t_id {values} END' if values else 'CAST(NULL AS VARCHAR[])'} AS vals
                           FROM {assign} a JOIN {docs} d USING (doc) WHERE a.t_id IS NOT NULL),
                     u AS (SELECT v.rid, v.seq, v.prefix, unnest(e.ids) AS id, unnest(e.elements) AS element,
                                  unnest(e.paths) AS path, unnest(list_select(v.vals, e.system_idx)) AS system,
                                  unnest(list_select(v.vals, e.code_idx)) AS code,
                                  unnest(list_select(v.vals, e.value_idx)) AS value
                           FROM v JOIN template_element e USING (t_id))
                SELECT rid, list_append(seq, id) AS ord, element,
                       CASE WHEN prefix = '$' THEN path ELSE prefix || substr(path, 2) END AS path, system, code, value
                FROM u WHERE prefix = '$' OR element <> 'contained'""").to_arrow_table()
        self.steps.lap("elements_pick")
        return elements

    def _long_lines(self) -> tuple[pa.Table, pa.Table]:
        """The element-candidate nodes (as ``json_tree`` gives them: rid, ord, key, type, fullkey, value)
        of the long lines of ``t_rest``, and the elements of their list items that templates describe.

        ``json_tree`` on a long line needs memory in proportion to its length times its nodes,
        so a long line is cut first: a long object or list becomes its members or items
        (``json_keys`` and ``$.*``, ``$[*]``: in order, duplicate names included), until every
        piece is short; ``json_tree`` then runs on each piece, its paths prefixed with the
        piece's.  The items of a long list are matched to templates like lines (only their own
        node needs json_tree's view).  ``seq`` (the piece's position) keeps document order.
        """
        cur = self.cur
        self.view("t_piece", f"""SELECT rid, [0]::BIGINT[] AS seq, '$' AS fullkey, CAST(NULL AS VARCHAR) AS key,
                                        'OBJECT' AS type, raw AS value
                                 FROM t_rest WHERE strlen(raw) > {_TREE_MAX_BYTES}""")
        nodes: list[pa.Table] = []
        elements: list[pa.Table] = []
        long_piece = f"type IN ('OBJECT', 'ARRAY') AND strlen(value) > {_TREE_MAX_BYTES}"
        next_doc = 1
        while self.views["t_piece"].num_rows:
            # the long containers are nodes; the short pieces go to json_tree
            nodes.append(cur.sql(f"""SELECT rid, list_append(seq, -1) AS ord, key, type, fullkey,
                                            CAST(value AS VARCHAR) AS value FROM t_piece t
                                     WHERE {long_piece} AND {_NODE_FILTER}""").to_arrow_table())
            nodes.append(cur.sql(
                f"""SELECT rid, ord, key, type, fullkey, value FROM (
                        SELECT p.rid, list_append(p.seq, t.id) AS ord,
                               CASE WHEN t.id = 0 THEN p.key ELSE t.key END AS key, t.type,
                               CASE WHEN t.id = 0 THEN p.fullkey ELSE p.fullkey || substr(t.fullkey, 2) END AS fullkey,
                               CAST(t.value AS VARCHAR) AS value
                        FROM (SELECT * FROM t_piece WHERE NOT ({long_piece})) p, json_tree(p.value) t) t
                    WHERE {_NODE_FILTER}""").to_arrow_table())
            self.view("t_long", f"SELECT * FROM t_piece WHERE {long_piece}")
            # a long list's items: objects a template can describe are documents; the others, pieces
            self.view("t_item", f"""SELECT rid, list_append(seq, i) AS seq, fullkey || '[' || (i - 1) || ']' AS fullkey,
                                           CAST(i - 1 AS VARCHAR) AS key, json_type(value) AS type, value,
                                           fullkey <> '$.contained' AND json_type(value) = 'OBJECT'
                                               AND strlen(value) <= {_PLAIN_MAX_BYTES} AND NOT contains(value, '\\')
                                               AS plain
                                    FROM (SELECT rid, seq, fullkey, unnest(items) AS value,
                                                 generate_subscripts(items, 1) AS i
                                          FROM (SELECT rid, seq, fullkey, json_extract(value, '$[*]') AS items
                                                FROM t_long WHERE type = 'ARRAY'))""")
            self.view("t_idoc", f"""SELECT {next_doc} + row_number() OVER () AS doc, rid, seq, fullkey AS prefix,
                                           value AS raw, (strlen(value) - strlen(replace(value, '":', ''))) // 2
                                               AS members
                                    FROM t_item WHERE plain""")
            next_doc += self.views["t_idoc"].num_rows
            self.put("t_idoc_assign", pa.table({"doc": pa.array([], pa.int64()), "t_id": pa.array([], pa.int64())}))
            if self.views["t_idoc"].num_rows:
                elements.append(self._template_elements("t_idoc"))
                # a described item itself: a node (an Identifier or Coding in a list is one)
                nodes.append(cur.sql(
                    f"""SELECT t.rid, list_append(t.seq, -1) AS ord, t.key, t.type, t.fullkey,
                               CAST(t.value AS VARCHAR) AS value
                        FROM t_item t JOIN t_idoc d ON d.rid = t.rid AND d.seq = t.seq
                        JOIN t_idoc_assign a USING (doc)
                        WHERE a.t_id IS NOT NULL AND {_NODE_FILTER}""").to_arrow_table())
            self.view("t_member", """SELECT rid, seq, fullkey, unnest(json_keys(value)) AS key,
                                            unnest(json_extract(value, '$.*')) AS value,
                                            generate_subscripts(json_keys(value), 1) AS i
                                     FROM t_long WHERE type = 'OBJECT'""")
            self.view("t_suffix", """SELECT d.key, substr(t.fullkey, 2) AS suffix
                                     FROM (SELECT DISTINCT key FROM t_member) d, json_tree(json_object(d.key, 0)) t
                                     WHERE t.id > 0""")
            self.view("t_piece", """SELECT rid, seq, fullkey, key, type, value FROM t_item i
                                    WHERE NOT plain OR NOT EXISTS (
                                        SELECT 1 FROM t_idoc d JOIN t_idoc_assign a USING (doc)
                                        WHERE a.t_id IS NOT NULL AND d.rid = i.rid AND d.seq = i.seq)
                                    UNION ALL
                                    SELECT m.rid, list_append(m.seq, m.i), m.fullkey || s.suffix, m.key,
                                           json_type(m.value), m.value
                                    FROM t_member m JOIN t_suffix s USING (key)""")
        node_table = pa.concat_tables([n.cast(nodes[0].schema) for n in nodes])
        return node_table, (pa.concat_tables([e.cast(elements[0].schema) for e in elements]) if elements else None)

    def _new_templates(self, docs: str, reps: list[int]) -> list[_Template]:
        """Templates from the structures of documents ``reps`` of view ``docs`` (those that qualify)."""
        rows = self.cur.execute(
            f"""SELECT l.doc, t.id, t.parent, t.key, t.type, t.fullkey,
                       CASE WHEN {_NODE_FILTER} THEN {_ELEMENT_OF_NODE.replace('{has_coding}', 'false')} END
                FROM {docs} l, json_tree(l.raw) t WHERE l.doc IN ({", ".join(map(str, reps))})
                ORDER BY l.doc, t.id""").fetchall()
        by_rid: dict[int, list[tuple]] = {}
        for row in rows:  # the nodes of a few structures, not data rows
            by_rid.setdefault(row[0], []).append(row[1:])
        new: list[_Template] = []
        element_rows: list[tuple] = []
        for nodes in by_rid.values():
            made = self._template(nodes)
            if made is not None:
                template, elements = made
                new.append(template)
                element_rows.append((template.t_id, *elements))
        if element_rows:
            cols = list(zip(*element_rows))
            self.cur.register("new_elements", pa.table({
                "t_id": pa.array(cols[0], pa.int64()), "ids": pa.array(cols[1], pa.list_(pa.int64())),
                "elements": pa.array(cols[2], pa.list_(pa.string())), "paths": pa.array(cols[3], pa.list_(pa.string())),
                "value_idx": pa.array(cols[4], pa.list_(pa.int64())),
                "system_idx": pa.array(cols[5], pa.list_(pa.int64())),
                "code_idx": pa.array(cols[6], pa.list_(pa.int64()))}))
            self.cur.execute("INSERT INTO template_element SELECT * FROM new_elements")
            self.cur.unregister("new_elements")
        self.templates += new
        return new

    def _template(self, nodes: list[tuple]) -> tuple[_Template, tuple] | None:
        """(template, element lists) of one line's json_tree nodes (id, parent, key, type, fullkey,
        element), or None when the structure cannot be a template."""
        if len(nodes) > _TEMPLATE_MAX_NODES:
            return None
        by_id = {n[0]: n for n in nodes}
        children: dict[int, list[tuple]] = {}
        for n in nodes[1:]:
            children.setdefault(n[1], []).append(n)
        paths = [n[4] for n in nodes[1:]]
        if len(set(paths)) != len(paths) or not all(_PLAIN_PATH.match(p) for p in paths):
            return None  # duplicate member names, or names a JSON path would need to quote
        # a path resolves only through objects (.name) and lists ([i]): the leaves and the empty
        # containers tell every node's type
        type_paths = [n[4] for n in nodes[1:] if n[0] not in children]
        types: list[str | None] = [n[3] for n in nodes[1:] if n[0] not in children]
        for n in nodes:
            if n[3] == "ARRAY":  # nothing one past the end
                type_paths.append(f"{n[4]}[{len(children.get(n[0], []))}]")
                types.append(None)
        members = sum(1 for n in nodes[1:] if by_id[n[1]][3] == "OBJECT")
        value_paths: list[str] = []
        ids, elements, el_paths, value_idx, system_idx, code_idx = [], [], [], [], [], []

        def value(path: str) -> int:
            value_paths.append(path)
            return len(value_paths)

        for node_id, _parent, _key, _type, path, element in nodes:
            if element is None:
                continue
            if element == "coding" and any(c[2] == "coding" for c in children.get(node_id, [])):
                continue  # an object with a coding (a CodeableConcept) is no Coding
            ids.append(node_id)
            elements.append(element)
            el_paths.append(path)
            value_idx.append(value(path) if element in ("reference", "contained") else 0)
            system_idx.append(value(path + ".system") if element in ("identifier", "coding") else 0)
            code_idx.append(value(path + ".code") if element == "coding" else 0)
        template = _Template(self.next_id, members, type_paths, types, value_paths)
        self.next_id += 1
        return template, (ids, elements, el_paths, value_idx, system_idx, code_idx)

    # -- validation, tables --

    def _validate(self, file: str) -> int:
        cur = self.cur
        if self.validate == "all":
            result = _validate_resources(
                cur, "SELECT rid, declared_type, raw FROM c_line WHERE precheck_error IS NULL ORDER BY rid")
            self.put("c_validation", result)
            self.steps.lap("validate")
            return result.num_rows
        self.put("c_validation", pa.table({"rid": pa.array([], pa.int64()), "ok": pa.array([], pa.bool_()),
                                           "error": pa.array([], pa.string())}))
        n = int(self.sample_size)
        cur.execute(
            f"""INSERT INTO sample_pool
                SELECT rid, declared_type, raw, md5(CAST($seed AS VARCHAR) || ':' || $file || ':' || line) AS k
                FROM c_line WHERE precheck_error IS NULL ORDER BY k, rid LIMIT {n}""",
            {"seed": self.seed, "file": file})
        cur.execute(f"DELETE FROM sample_pool WHERE rid NOT IN (SELECT rid FROM sample_pool ORDER BY k, rid LIMIT {n})")
        self.steps.lap("sample")
        return 0

    def _stage_rows(self, file: str) -> None:
        """The chunk's rows for the tables, kept (in Arrow) until :meth:`flush`."""
        self.cur.execute("CREATE OR REPLACE TEMP VIEW c_el AS "
                         "SELECT l.resource_type, l.label, l.line, e.* FROM t_el e JOIN c_line l USING (rid)")
        head = "resource_type, label, $file AS file, line, rid"
        stage = self._stage
        stage("resource", f"""
                SELECT h.rid, $file, h.line, h.resource_type, h.id, h.label, h.json_ok,
                       coalesce(list_sort(h.profile_list, 'ASC', 'NULLS LAST'), []), coalesce(len(h.profile_list), 0),
                       coalesce(i.systems, []),
                       h.precheck_error IS NOT NULL OR v.rid IS NOT NULL,
                       CASE WHEN h.precheck_error IS NOT NULL THEN false ELSE v.ok END,
                       {_redact("coalesce(h.precheck_error, v.error)")},
                       coalesce(n.n, 0)
                FROM c_line h
                LEFT JOIN (SELECT rid, list(system ORDER BY path, ord) AS systems FROM t_el
                           WHERE element = 'identifier' GROUP BY rid) i USING (rid)
                LEFT JOIN c_validation v USING (rid)
                LEFT JOIN national_id n USING (rid)""", file)
        self.steps.lap("write_resource")
        stage("identifier", f"SELECT {head}, path, system FROM c_el WHERE element = 'identifier'", file)
        stage("coding", f"SELECT {head}, path, system, code FROM c_el WHERE element = 'coding'", file)
        self.steps.lap("write_identifier_coding")
        # the reference's kind and target; a relative reference is Type/id[/_history/version]
        stage("reference", f"""
                SELECT {head}, path, value,
                       CASE WHEN starts_with(value, '#') THEN 'contained'
                            WHEN rel THEN 'relative'
                            WHEN regexp_matches(value, '^[A-Za-z][A-Za-z0-9+.-]*:') THEN 'absolute'
                            ELSE 'invalid' END,
                       CASE WHEN rel THEN split_part(value, '/', 1) ELSE nullif(regexp_extract(value,
                            '^([A-Z][A-Za-z]{{0,63}})/[A-Za-z0-9.-]{{1,64}}(/_history/|$)', 1), '') END,
                       CASE WHEN rel THEN split_part(value, '/', 2) ELSE nullif(regexp_extract(value,
                            '^[A-Z][A-Za-z]{{0,63}}/([A-Za-z0-9.-]{{1,64}})(/_history/|$)', 1), '') END
                FROM (SELECT *, coalesce(regexp_full_match(value,
                          '[A-Z][A-Za-z]{{0,63}}/[A-Za-z0-9.-]{{1,64}}(/_history/[A-Za-z0-9.-]{{1,64}})?'),
                          false) AS rel
                      FROM c_el WHERE element = 'reference')""", file)
        self.steps.lap("write_reference")
        stage("contained", f"SELECT {head}, value FROM c_el WHERE element = 'contained'", file)
        stage("profile", f"SELECT {head}, unnest(profile_list) FROM c_line WHERE json_ok", file)
        self.steps.lap("write_other")

    def _stage(self, table: str, sql: str, file: str) -> None:
        rows = self.cur.sql(sql, params={"file": file}).to_arrow_table()
        schema = self.schemas[table]
        self.staged[table].append(rows.rename_columns(schema.names).cast(schema))


# --- national identifiers ------------------------------------------------------------------

def _scan_national_ids(con: duckdb.DuckDBPyConnection, table: str = "line") -> None:
    """Temp table ``national_id``: rid -> number of confirmed national identifiers in ``table.raw``."""
    con.register("national_id_counts", _national_id_counts(con, table))
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE national_id AS SELECT * FROM national_id_counts")
    finally:
        con.unregister("national_id_counts")


def _candidate_lines(lines: pa.Table) -> pa.Table:
    """The (rid, raw) of ``lines`` (rid, raw, json_ok) that can hold a national-identifier candidate
    outside ``"code"`` values -- Arrow's regex kernels, several times faster than DuckDB's here.

    A parsed line without any candidate is skipped at once: in a JSON object a ``"code"`` value
    sits between structural characters, so removing it cannot make a candidate.  The others
    are kept when a candidate remains once the ``"code"`` values are removed (the scan's own text).
    """
    raw = lines.column("raw")
    maybe = pc.or_kleene(pc.invert(lines.column("json_ok")), pc.match_substring_regex(raw, _ANY_CANDIDATE))
    lines = lines.filter(maybe).select(["rid", "raw"])
    if not lines.num_rows:
        return lines
    stripped = pc.replace_substring_regex(lines.column("raw"), _CODE_VALUE, "")
    return lines.filter(pc.match_substring_regex(stripped, _ANY_CANDIDATE))


def _national_id_counts(con: duckdb.DuckDBPyConnection, table: str) -> pa.Table:
    """rid -> number of confirmed national identifiers in ``table.raw`` (rows with candidates only).

    DuckDB extracts the regex candidates (outside ``"code"`` values); the connectors'
    check-digit masks confirm them (vectorised over all candidates at once).
    """
    cand = con.sql(
        f"""SELECT rid, unnest(regexp_extract_all(regexp_replace(raw, '{_CODE_VALUE}', '', 'g'), '{_CANDIDATES}', 1))
                   AS candidate
            FROM {table}""").to_arrow_table()
    values = cand.column("candidate").combine_chunks()
    is_tw = pc.equal(pc.utf8_length(values), 10).to_numpy(zero_copy_only=False)  # Taiwan 10, HETU 11 characters
    confirmed = np.zeros(len(values), dtype=bool)
    if is_tw.any():
        confirmed[is_tw] = tw_id_valid_mask(values.filter(pa.array(is_tw)))
    if (~is_tw).any():
        confirmed[~is_tw] = hetu_valid_mask(values.filter(pa.array(~is_tw)))
    con.register("hits", pa.table({"rid": cand.column("rid"), "confirmed": pa.array(confirmed)}))
    try:
        return con.sql("SELECT rid, count(*) FILTER (WHERE confirmed) AS n FROM hits GROUP BY rid").to_arrow_table()
    finally:
        con.unregister("hits")


def count_national_ids(texts: pa.Array | list[str | None]) -> np.ndarray:
    """Number of valid Taiwan IDs / henkilötunnus codes (word-bounded, outside JSON ``"code"`` values)
    in each text; nulls count 0."""
    arr = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
    con = duckdb.connect()
    try:
        con.register("scan_input", pa.table({"rid": pa.array(np.arange(len(arr), dtype=np.int64)), "raw": arr}))
        _scan_national_ids(con, "scan_input")
        rows = con.sql("SELECT rid, n FROM national_id").to_arrow_table()
    finally:
        con.close()
    out = np.zeros(len(arr), dtype=np.int64)
    out[rows.column("rid").to_numpy()] = rows.column("n").to_numpy()
    return out


# --- FHIR model validation -------------------------------------------------------------------

def _validate_sample(con: duckdb.DuckDBPyConnection, pool: list[_Worker], sample_size: int) -> int:
    """Validate the sample -- the best lines of the workers' pools by seeded md5, then rid -- and mark
    it in ``resource``."""
    pools = pa.concat_tables([w.cur.sql("SELECT rid, declared_type, raw, k FROM sample_pool").to_arrow_table()
                              for w in pool])
    con.register("pools", pools)
    try:
        result = _validate_resources(
            con, f"""SELECT rid, declared_type, raw FROM (SELECT * FROM pools ORDER BY k, rid LIMIT {int(sample_size)})
                     ORDER BY rid""")
    finally:
        con.unregister("pools")
    con.register("validation_result", result)
    try:
        con.execute(
            f"""UPDATE resource SET validated = true, valid = v.ok, error = {_redact("v.error")}
                FROM validation_result v WHERE resource.rid = v.rid""")
    finally:
        con.unregister("validation_result")
    return result.num_rows


def _validate_resources(con: duckdb.DuckDBPyConnection, query: str) -> pa.Table:
    """Validate the rows of ``query`` (rid, declared_type, raw) with the fhir.resources R4B models:
    a table rid, ok, error."""
    from fhir.resources.R4B import get_fhir_model_class

    models: dict[str, object] = {}
    rids: list[np.ndarray] = []
    oks: list[bool] = []
    errors: list[str | None] = []
    reader = con.sql(query).to_arrow_reader(_BATCH_ROWS)
    for batch in reader:  # batches of rows; the model validation itself is per resource by nature
        rids.append(batch.column(0).to_numpy())
        for rtype, raw in zip(batch.column(1).to_pylist(), batch.column(2).to_pylist()):
            if rtype not in models:
                try:
                    models[rtype] = get_fhir_model_class(rtype)
                except (KeyError, ValueError):
                    models[rtype] = None
            model = models[rtype]
            if model is None:
                oks.append(False)
                errors.append(f"resourceType {rtype} is not a FHIR R4 resource")
                continue
            try:
                model.model_validate_json(raw)
            except (ValueError, TypeError) as exc:  # pydantic ValidationError is a ValueError
                oks.append(False)
                errors.append(first_error(exc))
            else:
                oks.append(True)
                errors.append(None)
    rid = np.concatenate(rids) if rids else np.zeros(0, dtype=np.int64)
    return pa.table({"rid": pa.array(rid, pa.int64()), "ok": pa.array(oks, pa.bool_()),
                     "error": pa.array(errors, pa.string())})


def _known_systems(con: duckdb.DuckDBPyConnection) -> None:
    """``known_system``: the distinct coding systems of the export that the hub knows, and why."""
    distinct = [s for (s,) in con.execute(
        "SELECT DISTINCT system FROM coding WHERE system IS NOT NULL AND trim(system) <> '' ORDER BY 1").fetchall()]
    rows: list[tuple[str, str | None, str]] = []
    for system in distinct:  # distinct code systems (a handful), not data rows
        vocabulary = vocabulary_for_uri(system)
        if vocabulary is not None:
            rows.append((system, vocabulary, "terminology.systems"))
        elif system.startswith(FHIR_INFRASTRUCTURE_PREFIXES) and not system.startswith(FHIR_INFRASTRUCTURE_EXCLUDED):
            rows.append((system, None, "FHIR infrastructure"))
    con.execute("CREATE TABLE known_system (system VARCHAR, vocabulary_id VARCHAR, basis VARCHAR)")
    if rows:
        con.executemany("INSERT INTO known_system VALUES (?, ?, ?)", rows)


__all__ = [
    "FHIR_INFRASTRUCTURE_PREFIXES", "FhirExportError", "FlattenSummary", "HETU_PATTERN", "MEMORY_LIMIT",
    "TW_ID_PATTERN", "VALIDATE_MODES", "count_national_ids", "file_resource_type", "flatten_export",
    "list_ndjson_files",
]
