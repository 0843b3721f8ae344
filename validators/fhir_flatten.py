"""Flatten a FHIR R4 Bulk Data export (NDJSON, one file per resource type) into DuckDB tables.

The quality suite (:mod:`validators.fhir_suite`) checks these tables with Great
Expectations; this module only describes the export, it judges nothing.  Lines are
read and parsed by DuckDB (``read_text`` + JSON functions, ``json_tree`` for nested
elements); the only per-resource Python work is the structural validation with the
``fhir.resources`` R4B models, which can be limited to a deterministic sample.

Tables written (``rid`` = row of ``resource``; ``label`` = the resource id, or
``file:line`` when the id is missing or looks like a national identifier):

* ``resource``   file, line, resource_type, id, label, json_ok, profiles, identifier_systems,
                 profile_count, validated, valid, error, national_id_count
* ``profile``    rid, profile                         (one row per meta.profile)
* ``identifier`` rid, path, system                    (every Identifier element; never the value)
* ``coding``     rid, path, system, code              (every Coding element)
* ``reference``  rid, path, reference, kind, target_type, target_id
                 (kind: relative | contained | absolute | invalid)
* ``contained``  rid, contained_id
* ``known_system`` system, vocabulary_id, basis       (coding systems the hub knows)

Raw lines live only in a temporary table: the database file never holds them, so
it can be kept for inspection without holding raw identifiers.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
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
_BATCH_ROWS = 5000


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


def flatten_export(ndjson_dir: str | os.PathLike, db_path: str | os.PathLike, *, validate: str = "all",
                   sample_size: int = 1000, seed: int = 0) -> FlattenSummary:
    """Read every NDJSON file of ``ndjson_dir`` and write the tables above into ``db_path`` (replaced)."""
    if validate not in VALIDATE_MODES:
        raise ValueError(f"validate must be one of {VALIDATE_MODES}, got {validate!r}")
    if validate == "sample" and (not isinstance(sample_size, int) or sample_size < 1):
        raise ValueError(f"sample_size must be a positive integer, got {sample_size!r}")
    files = list_ndjson_files(ndjson_dir)
    db = Path(db_path)
    if db.exists():
        db.unlink()
    t0 = time.perf_counter()
    con = duckdb.connect(str(db))
    try:
        _load_lines(con, files)
        _build_tables(con)
        _scan_national_ids(con)
        t1 = time.perf_counter()
        validated = _validate_resources(con, validate, sample_size, seed)
        t2 = time.perf_counter()
        _finish_resource_table(con)
        _known_systems(con)
        lines, malformed = con.execute("SELECT count(*), count(*) FILTER (WHERE NOT json_ok) FROM resource").fetchone()
    finally:
        con.close()
    return FlattenSummary(tuple(p.name for p in files), lines, malformed, validated,
                          round(t1 - t0 + (time.perf_counter() - t2), 3), round(t2 - t1, 3))


def _load_lines(con: duckdb.DuckDBPyConnection, files: list[Path]) -> None:
    """Temp table ``raw_line``: every non-blank line with file name, line number and parse flags."""
    con.execute("CREATE TEMP TABLE raw_line (file VARCHAR, file_type VARCHAR, line BIGINT, raw VARCHAR)")
    for path in files:  # one statement per file (files, not rows)
        try:
            con.execute(
                """INSERT INTO raw_line
                   WITH t AS (SELECT string_split(content, chr(10)) AS ls FROM read_text(?))
                   SELECT ?, ?, line, rtrim(raw, chr(13)) FROM (
                       SELECT generate_subscripts(ls, 1) AS line, unnest(ls) AS raw FROM t)
                   WHERE trim(raw, ' ' || chr(9) || chr(13)) <> ''""",
                [str(path), path.name, file_resource_type(path.name)])
        except duckdb.Error as exc:
            raise FhirExportError(f"cannot read {path.name} as UTF-8 text: {exc}") from exc
    con.execute(
        """CREATE TEMP TABLE line AS
           SELECT row_number() OVER (ORDER BY file, line) AS rid, file, file_type, line, raw,
                  CASE WHEN json_valid(raw) THEN json_type(raw) = 'OBJECT' ELSE false END AS json_ok
           FROM raw_line""")
    con.execute("DROP TABLE raw_line")


def _build_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Parsed columns per line, and the element tables from ``json_tree`` (one pass)."""
    con.execute(
        """CREATE TEMP TABLE parsed AS
            SELECT rid, raw->>'$.resourceType' AS declared_type, raw->>'$.id' AS id,
                   json_type(raw, '$.resourceType') AS declared_json_type
            FROM line WHERE json_ok""")
    con.execute(
        f"""CREATE TEMP TABLE head AS
            SELECT l.rid, l.file, l.line, l.file_type, l.json_ok, p.declared_type, p.id,
                   CASE WHEN regexp_full_match(p.declared_type, '{_TYPE_NAME.pattern[1:-1]}') THEN p.declared_type
                        ELSE coalesce(l.file_type, '(unknown)') END AS resource_type,
                   CASE WHEN NOT l.json_ok THEN 'malformed JSON line (not a JSON object)'
                        WHEN p.declared_type IS NULL OR p.declared_json_type <> 'VARCHAR'
                             THEN 'resourceType missing or not a string'
                        WHEN NOT regexp_full_match(p.declared_type, '{_TYPE_NAME.pattern[1:-1]}')
                             THEN 'resourceType is not a resource type name'
                        WHEN l.file_type IS NOT NULL AND p.declared_type <> l.file_type
                             THEN 'resourceType ' || p.declared_type || ' in file of ' || l.file_type
                   END AS precheck_error
            FROM line l LEFT JOIN parsed p USING (rid)""")
    con.execute(
        f"""CREATE TEMP TABLE node AS
            SELECT l.rid, t.key, t.type, t.fullkey, t.value
            FROM line l, json_tree(l.raw) t
            WHERE l.json_ok AND (
                  (t.key = 'reference' AND t.type = 'VARCHAR')
               OR (t.type = 'OBJECT' AND regexp_matches(t.fullkey, '{_ELEMENT_PATH}'))
               OR (t.key = 'id' AND regexp_full_match(t.fullkey, '{_CONTAINED_ID_PATH}')))""")
    con.execute(
        f"""CREATE TABLE identifier AS
            SELECT rid, fullkey AS path, value->>'$.system' AS system FROM node
            WHERE type = 'OBJECT' AND regexp_matches(fullkey, '{_IDENTIFIER_PATH}')""")
    con.execute(
        f"""CREATE TABLE coding AS
            SELECT rid, fullkey AS path, value->>'$.system' AS system, value->>'$.code' AS code FROM node
            WHERE type = 'OBJECT' AND NOT regexp_matches(fullkey, '{_IDENTIFIER_PATH}')
              AND NOT json_exists(value, '$.coding')""")
    con.execute(
        """CREATE TABLE reference AS
           SELECT rid, path, reference,
                  CASE WHEN starts_with(reference, '#') THEN 'contained'
                       WHEN regexp_matches(reference, '^[A-Za-z][A-Za-z0-9+.-]*:') THEN 'absolute'
                       WHEN regexp_full_match(reference,
                            '[A-Z][A-Za-z]{0,63}/[A-Za-z0-9.-]{1,64}(/_history/[A-Za-z0-9.-]{1,64})?') THEN 'relative'
                       ELSE 'invalid' END AS kind,
                  nullif(regexp_extract(reference, '^([A-Z][A-Za-z]{0,63})/[A-Za-z0-9.-]{1,64}(/_history/|$)', 1), '')
                      AS target_type,
                  nullif(regexp_extract(reference, '^[A-Z][A-Za-z]{0,63}/([A-Za-z0-9.-]{1,64})(/_history/|$)', 1), '')
                      AS target_id
           FROM (SELECT rid, fullkey AS path, value->>'$' AS reference FROM node
                 WHERE key = 'reference' AND type = 'VARCHAR')""")
    con.execute(
        """CREATE TABLE contained AS
           SELECT rid, value->>'$' AS contained_id FROM node WHERE key = 'id' AND type = 'VARCHAR'""")
    con.execute(
        """CREATE TABLE profile AS
           SELECT rid, unnest(json_extract_string(raw, '$.meta.profile[*]')) AS profile
           FROM line WHERE json_ok""")
    con.execute("DROP TABLE node")


def _scan_national_ids(con: duckdb.DuckDBPyConnection, table: str = "line") -> None:
    """Temp table ``national_id``: rid -> number of confirmed national identifiers in ``table.raw``.

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
    con.execute("""CREATE OR REPLACE TEMP TABLE national_id AS
                   SELECT rid, count(*) FILTER (WHERE confirmed) AS n FROM hits GROUP BY rid""")
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


def _sample_rids(con: duckdb.DuckDBPyConnection, validate: str, sample_size: int, seed: int) -> None:
    """Temp table ``to_validate``: rows passing the pre-checks (all, or a seeded md5-ordered sample)."""
    limit = f"ORDER BY md5(CAST(? AS VARCHAR) || ':' || h.file || ':' || h.line), h.rid LIMIT {int(sample_size)}" \
        if validate == "sample" else ""
    params = [seed] if validate == "sample" else []
    con.execute(f"""CREATE TEMP TABLE to_validate AS
                    SELECT h.rid, h.declared_type, l.raw FROM head h JOIN line l USING (rid)
                    WHERE h.precheck_error IS NULL {limit}""", params)


def _validate_resources(con: duckdb.DuckDBPyConnection, validate: str, sample_size: int, seed: int) -> int:
    """Validate the selected resources with the fhir.resources R4B models; temp table ``validation``."""
    from fhir.resources.R4B import get_fhir_model_class

    _sample_rids(con, validate, sample_size, seed)
    models: dict[str, object] = {}
    rids: list[np.ndarray] = []
    oks: list[bool] = []
    errors: list[str | None] = []
    reader = con.sql("SELECT rid, declared_type, raw FROM to_validate ORDER BY rid").to_arrow_reader(_BATCH_ROWS)
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
    con.register("validation_result", pa.table({"rid": pa.array(rid, pa.int64()), "ok": pa.array(oks, pa.bool_()),
                                                "error": pa.array(errors, pa.string())}))
    con.execute("CREATE TEMP TABLE validation AS SELECT * FROM validation_result")
    con.unregister("validation_result")
    return len(oks)


def _finish_resource_table(con: duckdb.DuckDBPyConnection) -> None:
    """The ``resource`` table: head + profiles + identifier systems + validation + national-ID count."""
    message = "coalesce(h.precheck_error, v.error)"
    redact = f"regexp_replace(regexp_replace({message}, '{TW_ID_PATTERN}', '[redacted]', 'g'), " \
             f"'{HETU_PATTERN}', '[redacted]', 'g')"
    con.execute(
        f"""CREATE TABLE resource AS
            SELECT h.rid, h.file, h.line, h.resource_type, h.id,
                   CASE WHEN h.id <> '' AND length(h.id) <= 64
                             AND NOT regexp_matches(h.id, '{TW_ID_PATTERN}|{HETU_PATTERN}') THEN h.id
                        ELSE h.file || ':' || h.line END AS label,
                   h.json_ok,
                   coalesce(p.profiles, []) AS profiles,
                   coalesce(len(p.profiles), 0) AS profile_count,
                   coalesce(i.systems, []) AS identifier_systems,
                   h.precheck_error IS NOT NULL OR v.rid IS NOT NULL AS validated,
                   CASE WHEN h.precheck_error IS NOT NULL THEN false ELSE v.ok END AS valid,
                   {redact} AS error,
                   coalesce(n.n, 0) AS national_id_count
            FROM head h
            LEFT JOIN (SELECT rid, list(profile ORDER BY profile) AS profiles FROM profile GROUP BY rid) p USING (rid)
            LEFT JOIN (SELECT rid, list(system ORDER BY path) AS systems FROM identifier GROUP BY rid) i USING (rid)
            LEFT JOIN validation v USING (rid)
            LEFT JOIN national_id n USING (rid)
            ORDER BY h.rid""")
    for table in ("identifier", "coding", "reference", "contained", "profile"):  # add type, label, file, line
        con.execute(f"""CREATE OR REPLACE TABLE {table} AS
                        SELECT r.resource_type, r.label, r.file, r.line, t.* FROM {table} t JOIN resource r USING (rid)
                        ORDER BY t.rid""")


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
    "FHIR_INFRASTRUCTURE_PREFIXES", "FhirExportError", "FlattenSummary", "HETU_PATTERN", "TW_ID_PATTERN",
    "VALIDATE_MODES", "count_national_ids", "file_resource_type", "flatten_export", "list_ndjson_files",
]
