"""FHIR R4 CodeSystem and ConceptMap: export from the vocabulary store, import as overlays.

Export (JSON built in bulk by DuckDB, one SQL statement per resource part; no
model object per concept):

* :func:`export_codesystem` -- one vocabulary as a CodeSystem: ``url`` =
  :func:`terminology.systems.system_uri`, ``version`` = the store's
  vocabulary_version, ``content`` complete, concepts sorted by code with
  ``display`` = concept_name, ``designation`` = CONCEPT_SYNONYM rows in
  English ``en``, Chinese ``zh-TW`` and Finnish ``fi`` (other languages are
  skipped and counted; an English synonym equal to the display is not
  repeated), and the properties of :data:`CODESYSTEM_PROPERTIES`
  (``concept-id``, ``domain``, ``concept-class``, ``valid-from``,
  ``valid-to``, ``status`` active/deprecated, ``invalid-reason`` D/U when
  set, ``parent`` for every valid 'Is a' inside the vocabulary).
* :func:`export_conceptmap` -- the 'Maps to' mappings of a source vocabulary,
  either to the standard concepts (``target='standard'``: one group per
  target vocabulary, plus one group without ``target`` for the unmapped
  codes) or to another vocabulary (source -> standard <- target: the target
  codes whose 'Maps to' reaches the same standard concept).  ``url`` is
  ``urn:crossbridge:conceptmap:<source>:<target>`` (percent-encoded ids): the
  system URIs are often OIDs (``urn:oid:...``), which cannot take a path.
* :func:`write_codesystem` / :func:`write_conceptmap` -- the same resources
  streamed to a file in batches (one compact line per concept / element), for
  vocabularies too large for a Python dict; :func:`write_json` writes a dict.

Equivalence of a mapping: the row of the store table ``mapping_equivalence``
when there is one (several: the one of the first source), else ``equal`` for a
standard concept mapped to itself, else ``equivalent``.  Composed mappings
(target vocabulary): ``equal`` for the same concept; when one leg is
equal/equivalent, the other leg's equivalence (seen from the target side:
wider <-> narrower, subsumes <-> specializes); otherwise ``inexact``; each with
the comment "via OMOP standard concept <id>".  Codes that map nowhere give an
element with one target ``{"equivalence": "unmatched"}`` (R4 allows a target
without a code) unless ``include_unmapped=False``.

Import (file -> :class:`terminology.overlay.OverlayVocabulary`; DuckDB reads the
JSON, numpy finds the file line of every concept/element):

* :func:`import_codesystem` -- a new source vocabulary: ids from the
  ``concept-id`` property (inside the block ``[offset, offset + 100000)``) or
  offset + position (document order, 1-based); nested concepts and the
  ``parent`` property give 'Is a' / 'Subsumes'; display -> concept_name and an
  English synonym; designations -> synonyms (language from the designation or
  the resource; en*/fi*/zh* known, others skipped and counted).  Concepts are
  non-standard; domain / class / dates from the properties, else Observation /
  Undefined / 1970-01-01..2099-12-31; status deprecated/retired or
  ``inactive`` true -> invalid_reason D.
* :func:`import_conceptmap` -- checks the file at once and returns a
  :class:`ConceptMapBuilder` (an :data:`terminology.overlay.OverlayBuilder`):
  called with the store it resolves source and target codes (one join each),
  adds 'Maps to' + 'Mapped from' (validity of the source concept) and the
  equivalence rows for the equivalences of :data:`MAPS_TO_EQUIVALENCES`;
  unmatched/disjoint/relatedto targets add nothing; a mapping the store has
  already is skipped and counted; a target that is not a valid standard
  concept is an error.

Errors are :class:`VocabularyFormatError` naming the file, the JSON path as
``field`` (``concept[12].code``, ``group[0].element[3].target[1]``) and the
line of the concept/element (or top-level key) where it can be found;
unknown system URIs raise :class:`UnknownCodeSystem` naming the file.
DuckDB's JSON parser is lenient (a trailing comma or NaN passes);
``validate=True`` also parses the file strictly and checks it with the
fhir.resources R4B model (which does not check code bindings: the checks
above do).  The concept file lines come from a byte scan of the text
(:class:`_JsonIndex`) and are the line of each concept's ``{``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_ENGLISH, LANGUAGE_FINNISH, LOCAL_BLOCK_SIZE
from terminology.errors import UnknownCodeSystem, VocabularyFormatError
from terminology.overlay import (EQUIVALENCE_SCHEMA, EQUIVALENCE_TABLE, FHIR_EQUIVALENCES, LINES_SCHEMA,
                                 MAPPING_LINES_SCHEMA, OverlayVocabulary)
from terminology.systems import system_uri, vocabulary_for_uri
from terminology.usagi import ATHENA_SCHEMAS

LANGUAGE_CODES = {LANGUAGE_ENGLISH: "en", LANGUAGE_CHINESE: "zh-TW", LANGUAGE_FINNISH: "fi"}
# primary language subtag -> language concept (import)
LANGUAGE_SUBTAGS = {"en": LANGUAGE_ENGLISH, "zh": LANGUAGE_CHINESE, "fi": LANGUAGE_FINNISH}
_FHIR_PROPERTIES = "http://hl7.org/fhir/concept-properties#"
CODESYSTEM_PROPERTIES = (
    {"code": "concept-id", "type": "integer", "description": "OMOP concept_id"},
    {"code": "domain", "type": "string", "description": "OMOP domain_id"},
    {"code": "concept-class", "type": "string", "description": "OMOP concept_class_id"},
    {"code": "valid-from", "type": "dateTime", "description": "OMOP valid_start_date"},
    {"code": "valid-to", "type": "dateTime", "description": "OMOP valid_end_date"},
    {"code": "status", "type": "code", "uri": _FHIR_PROPERTIES + "status",
     "description": "active, or deprecated when OMOP invalid_reason is set"},
    {"code": "invalid-reason", "type": "code", "description": "OMOP invalid_reason (D deleted, U upgraded)"},
    {"code": "parent", "type": "code", "uri": _FHIR_PROPERTIES + "parent",
     "description": "OMOP 'Is a' inside this vocabulary"},
)
CONCEPTMAP_URN = "urn:crossbridge:conceptmap:"
STANDARD_TARGET = "standard"
STANDARD_VALUESET_URI = "urn:crossbridge:valueset:omop-standard"
# equivalences that give an OMOP 'Maps to' on import
MAPS_TO_EQUIVALENCES = ("equal", "equivalent", "wider", "narrower", "inexact", "subsumes", "specializes")
_RANK = ("equal", "equivalent", "wider", "subsumes", "narrower", "specializes", "inexact", "relatedto",
         "disjoint", "unmatched")
_DEFAULT_START, _DEFAULT_END = "1970-01-01", "2099-12-31"
_FHIR_CODE_RE = r"[^\s]+(\s[^\s]+)*"


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------
def write_json(resource: dict, path: str | Path) -> Path:
    """Write a resource as UTF-8 JSON (not ASCII-escaped, sorted keys, indent 1, final newline)."""
    p = Path(path)
    p.write_text(json.dumps(resource, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return p


def read_resource(path: str | Path, expected_type: str) -> dict:
    """Read a small FHIR JSON resource of ``resourceType`` ``expected_type``; clear errors naming the file."""
    p = Path(path)
    if not p.is_file():
        raise VocabularyFormatError("file does not exist", p)
    data = p.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise VocabularyFormatError(f"not UTF-8 text ({exc.reason})", p, data.count(b"\n", 0, exc.start) + 1) from exc
    try:
        resource = json.loads(text)
    except json.JSONDecodeError as exc:
        raise VocabularyFormatError(f"not JSON: {exc.msg}", p, exc.lineno) from exc
    if not isinstance(resource, dict):
        raise VocabularyFormatError("not a JSON object", p, 1)
    if resource.get("resourceType") != expected_type:
        raise VocabularyFormatError(f"not a FHIR {expected_type} (resourceType {resource.get('resourceType')!r})",
                                    p, _JsonIndex(data).root_key_line("resourceType"), "resourceType")
    return resource


def fhir_name(text: str) -> str:
    """A FHIR ``name`` (``[A-Z]([A-Za-z0-9_]){0,254}``) from free text: words joined, each capitalised."""
    words = "".join(ch if ch.isascii() and ch.isalnum() else " " for ch in text).split()
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Unnamed"
    return (name if name[0].isalpha() else "V" + name)[:255]


def _fhir_id(text: str) -> str:
    out = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-.") else "-" for ch in text)
    return "-".join(p for p in out.split("-") if p)[:64].lower() or "unnamed"


def _validate(model: str, resource: dict, file: str | Path | None) -> None:
    """Check a resource with the fhir.resources R4B model; error names the JSON path of the first problem."""
    from pydantic import ValidationError

    if model == "CodeSystem":
        from fhir.resources.R4B.codesystem import CodeSystem as cls
    else:
        from fhir.resources.R4B.conceptmap import ConceptMap as cls
    try:
        cls.model_validate(resource)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
        raise VocabularyFormatError(f"not a valid FHIR R4 {model}: {err['msg']}", file, None, where or None) from exc


def _store_tables(con) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()").fetchall()}


def _vocabulary_row(con, vocabulary_id: str) -> tuple[str, str | None]:
    row = con.execute("SELECT vocabulary_name, vocabulary_version FROM vocabulary WHERE vocabulary_id = ?",
                      [vocabulary_id]).fetchall()
    if not row:
        known = [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary ORDER BY 1").fetchall()]
        raise UnknownCodeSystem(vocabulary_id, known)
    return row[0]


def _unknown_system(uri: str, file: Path | str, where: str, hint: str = "") -> UnknownCodeSystem:
    exc = UnknownCodeSystem(uri)
    exc.args = (f"{file}, field {where}: {exc.args[0]}{hint}",)
    exc.file, exc.field = str(file), where
    return exc


# ---------------------------------------------------------------------------
# file lines: a vectorised structural index of the JSON text
# ---------------------------------------------------------------------------
class _JsonIndex:
    """Byte positions of the brackets and colons outside strings, to find elements' lines.

    numpy only (no Python loop over the text): real quotes are those preceded
    by an even run of backslashes; a token is outside strings when an even
    number of real quotes precede it; nesting level = running sum of opens
    minus closes.  Assumes the text is valid JSON (checked first).
    """

    def __init__(self, data: bytes):
        b = np.frombuffer(data, np.uint8)
        self._b = b
        self._newlines = np.flatnonzero(b == 0x0A)
        q = np.flatnonzero(b == 0x22)
        run = np.zeros(len(q), np.int64)
        k = 1
        live = np.flatnonzero(q >= k)
        live = live[b[q[live] - k] == 0x5C]
        while len(live):
            run[live] += 1
            k += 1
            live = live[q[live] >= k]
            live = live[b[q[live] - k] == 0x5C]
        self._quotes = q[run % 2 == 0]
        table = np.zeros(256, bool)
        table[list(b"{}[]:")] = True
        t = np.flatnonzero(table[b])
        t = t[np.searchsorted(self._quotes, t) % 2 == 0]
        kind = b[t]
        delta = (np.isin(kind, list(b"{["))).astype(np.int32) - np.isin(kind, list(b"}]")).astype(np.int32)
        self._tok, self._kind, self._level = t, kind, np.cumsum(delta, dtype=np.int32)
        opens = np.flatnonzero(delta == 1)
        self._open_tok, self._open_pos, self._open_level = opens, t[opens], self._level[opens]
        n = len(data) + 1
        comb = self._open_level.astype(np.int64) * n + self._open_pos
        order = np.argsort(comb, kind="stable")
        sorted_comb = comb[order]
        probe = (self._open_level.astype(np.int64) - 1) * n + self._open_pos
        i = np.searchsorted(sorted_comb, probe) - 1
        cand = order[np.maximum(i, 0)]
        ok = (i >= 0) & (self._open_level[cand] == self._open_level - 1)
        self._parent = np.where(ok, self._open_pos[cand], -1)  # position of the enclosing open bracket

    def lines(self, positions: np.ndarray) -> np.ndarray:
        return np.searchsorted(self._newlines, positions) + 1

    def _key_is(self, colon_tok: np.ndarray, key: str) -> np.ndarray:
        """For colon tokens: is the key before it ``key``?"""
        kb = key.encode()
        qi = np.searchsorted(self._quotes, self._tok[colon_tok]) - 1
        ok = qi >= 1
        close = self._quotes[np.maximum(qi, 0)]
        start = self._quotes[np.maximum(qi - 1, 0)] + 1
        ok &= (close - start) == len(kb)
        for j, ch in enumerate(kb):
            ok &= self._b[np.minimum(start + j, len(self._b) - 1)] == ch
        return ok

    def root(self) -> int:
        return int(self._open_pos[0]) if len(self._open_pos) and self._b[self._open_pos[0]] == 0x7B else -1

    def root_key_line(self, key: str) -> int | None:
        colons = np.flatnonzero((self._kind == 0x3A) & (self._level == 1))
        hit = colons[self._key_is(colons, key)]
        return int(self.lines(self._tok[hit[:1]])[0]) if len(hit) else None

    def items(self, parents: np.ndarray, key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Object items of the arrays under ``key`` directly inside the objects at ``parents``.

        Returns (item positions, position of the object holding the array,
        index in the array), in document order.
        """
        arr = (self._b[self._open_pos] == 0x5B) & np.isin(self._parent, parents)
        cand = np.flatnonzero(arr)
        prev = self._open_tok[cand] - 1
        keyed = prev >= 0
        keyed[keyed] = self._kind[prev[keyed]] == 0x3A
        cand = cand[keyed]
        cand = cand[self._key_is(self._open_tok[cand] - 1, key)]
        arrays = self._open_pos[cand]
        is_item = (self._b[self._open_pos] == 0x7B) & np.isin(self._parent, arrays)
        pos = self._open_pos[is_item]
        arr_of = self._parent[is_item]
        holder = self._parent[np.searchsorted(self._open_pos, arr_of)]
        idx = np.arange(len(pos))
        start = np.r_[True, arr_of[1:] != arr_of[:-1]] if len(pos) else np.zeros(0, bool)
        first = np.maximum.accumulate(np.where(start, idx, 0)) if len(pos) else idx
        return pos, holder, idx - first


# ---------------------------------------------------------------------------
# reading a JSON file into a private DuckDB
# ---------------------------------------------------------------------------
_TOP_KEYS = ("resourceType", "url", "version", "name", "title", "language", "content", "concept", "group",
             "sourceUri", "sourceCanonical", "targetUri", "targetCanonical")


@dataclass
class _Doc:
    """A JSON resource file loaded into a private DuckDB (table ``doc(j JSON)``) with its structural index.

    ``fields``: top-level key -> (JSON type, value as text) for :data:`_TOP_KEYS`
    (read in one pass: every json function call parses the whole document).
    """

    path: Path
    con: Any
    index: _JsonIndex
    fields: dict[str, tuple[str | None, str | None]]

    def error(self, message: str, where: str | None = None, line: int | None = None) -> VocabularyFormatError:
        if line is None and where is not None and "." not in where and "[" not in where:
            line = self.index.root_key_line(where)
        return VocabularyFormatError(message, self.path, line, where)

    def first(self, sql: str, params: Any = None) -> tuple | None:
        rows = self.con.execute(sql + " LIMIT 1", params).fetchall()
        return rows[0] if rows else None

    def top(self, key: str) -> str | None:
        return self.fields[key][1]

    def top_type(self, key: str) -> str | None:
        return self.fields[key][0]

    def required_string(self, key: str) -> str:
        kind, value = self.fields[key]
        if kind != "VARCHAR" or not value:
            raise self.error(f"missing {key} (a non-empty string)", key)
        return value


def _open_doc(path: str | Path, resource_type: str) -> _Doc:
    p = Path(path)
    if not p.is_file():
        raise VocabularyFormatError("file does not exist", p)
    data = p.read_bytes()
    body = memoryview(data)[3:] if data.startswith(b"\xef\xbb\xbf") else memoryview(data)
    blob = pa.Array.from_buffers(pa.large_binary(), 1, [None, pa.array([0, len(body)], pa.int64()).buffers()[1],
                                                        pa.py_buffer(body)])
    con = duckdb.connect()
    try:
        con.register("_blob", pa.table({"b": blob}))
        try:
            con.execute("CREATE TEMP TABLE doc AS SELECT decode(b)::JSON AS j FROM _blob")
        except (duckdb.ConversionException, duckdb.InvalidInputException) as db_error:
            try:
                json.loads(bytes(body).decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise VocabularyFormatError(f"not UTF-8 text ({exc.reason})", p,
                                            data.count(b"\n", 0, exc.start) + 1) from exc
            except json.JSONDecodeError as exc:
                raise VocabularyFormatError(f"not JSON: {exc.msg}", p, exc.lineno) from exc
            raise VocabularyFormatError(f"not JSON ({db_error})", p) from db_error
        con.unregister("_blob")
        paths = "['$', " + ", ".join(f"'$.{k}'" for k in _TOP_KEYS) + "]"
        types, values = con.execute(f"SELECT json_type(j, {paths}), json_extract_string(j, {paths}) FROM doc"
                                    ).fetchall()[0]
        doc = _Doc(p, con, _JsonIndex(data), {})
        kind, types, values = types[0], types[1:], values[1:]
        if kind != "OBJECT":
            raise doc.error("not a JSON object", None, 1)
        doc.fields.update(zip(_TOP_KEYS, zip(types, values)))
        if doc.top("resourceType") != resource_type:
            raise doc.error(f"not a FHIR {resource_type} (resourceType {doc.top('resourceType')!r})",
                            "resourceType")
        return doc
    except BaseException:
        con.close()
        raise


def _check_array_of_objects(doc: _Doc, source: str, json_col: str, key: str, order: str) -> None:
    """Rows of ``source`` whose ``key`` is present but not an array -> error naming path.key."""
    bad = doc.first(f"SELECT path FROM {source} WHERE json_type({json_col}, '$.{key}') NOT IN ('ARRAY') "
                    f"ORDER BY {order}")
    if bad:
        raise doc.error(f"{key} is not an array", f"{bad[0]}.{key}".lstrip("."))


# ---------------------------------------------------------------------------
# CodeSystem
# ---------------------------------------------------------------------------
def _codesystem_parts(con, vocabulary_id: str) -> tuple[dict, str, int]:
    """(resource without ``concept``, SQL of the concept JSON texts ``j`` in order, skipped synonyms)."""
    name, version = _vocabulary_row(con, vocabulary_id)
    count = con.execute("SELECT count(*) FROM concept WHERE vocabulary_id = ?", [vocabulary_id]).fetchall()[0][0]
    skipped = con.execute(
        f"""SELECT count(*) FROM concept_synonym s JOIN concept c ON c.concept_id = s.concept_id
            WHERE c.vocabulary_id = ? AND s.language_concept_id NOT IN ({', '.join(map(str, LANGUAGE_CODES))})""",
        [vocabulary_id]).fetchall()[0][0]
    resource: dict[str, Any] = {
        "resourceType": "CodeSystem", "id": _fhir_id(vocabulary_id), "url": system_uri(vocabulary_id),
        "name": fhir_name(vocabulary_id), "title": name or vocabulary_id, "status": "active",
        "caseSensitive": True, "content": "complete", "count": int(count),
        "property": [dict(p) for p in CODESYSTEM_PROPERTIES],
    }
    if version:
        resource["version"] = version
    langs = ", ".join(f"({k}, '{v}')" for k, v in LANGUAGE_CODES.items())
    # one JSON text per concept, keys in sorted order (as write_json writes them)
    sql = f"""
    WITH c AS (SELECT * FROM concept WHERE vocabulary_id = $vid),
    lang(language_concept_id, language) AS (VALUES {langs}),
    syn AS (SELECT DISTINCT s.concept_id, l.language, s.concept_synonym_name AS value
            FROM concept_synonym s JOIN c ON c.concept_id = s.concept_id
            JOIN lang l ON l.language_concept_id = s.language_concept_id
            WHERE NOT (l.language = 'en' AND s.concept_synonym_name = c.concept_name)),
    des AS (SELECT concept_id, to_json(list(struct_pack(language := language, value := value)
                                            ORDER BY language, value))::VARCHAR AS j
            FROM syn GROUP BY concept_id),
    par AS (SELECT r.concept_id_1 AS concept_id,
                   list(DISTINCT json_object('code', 'parent', 'valueCode', p.concept_code)) AS props
            FROM concept_relationship r JOIN c ON c.concept_id = r.concept_id_1
            JOIN concept p ON p.concept_id = r.concept_id_2 AND p.vocabulary_id = $vid
            WHERE r.relationship_id = 'Is a' AND r.invalid_reason IS NULL AND p.concept_id <> c.concept_id
            GROUP BY r.concept_id_1)
    SELECT '{{"code":' || to_json(c.concept_code) || coalesce(',"designation":' || des.j, '')
           || ',"display":' || to_json(c.concept_name)
           || ',"property":' || to_json(list_concat([
                json_object('code', 'concept-id', 'valueInteger', c.concept_id),
                json_object('code', 'domain', 'valueString', c.domain_id),
                json_object('code', 'concept-class', 'valueString', c.concept_class_id),
                json_object('code', 'valid-from', 'valueDateTime', strftime(c.valid_start_date, '%Y-%m-%d')),
                json_object('code', 'valid-to', 'valueDateTime', strftime(c.valid_end_date, '%Y-%m-%d')),
                json_object('code', 'status', 'valueCode',
                            CASE WHEN c.invalid_reason IS NULL THEN 'active' ELSE 'deprecated' END)],
                CASE WHEN c.invalid_reason IS NOT NULL
                     THEN [json_object('code', 'invalid-reason', 'valueCode', c.invalid_reason)] END,
                list_sort(par.props)))::VARCHAR || '}}' AS j, c.concept_code AS k1, c.concept_id AS k2
    FROM c LEFT JOIN des ON des.concept_id = c.concept_id LEFT JOIN par ON par.concept_id = c.concept_id
    ORDER BY k1, k2"""
    return resource, sql, int(skipped)


def export_codesystem(con, vocabulary_id: str, *, validate: bool = False,
                      report: dict | None = None) -> dict:
    """The vocabulary ``vocabulary_id`` of the store as a FHIR R4 CodeSystem (a JSON-ready dict).

    See the module docstring.  ``report`` (a dict, filled in) gets
    ``concepts`` and ``skipped_synonyms`` (languages other than en/zh-TW/fi).
    Unknown vocabulary -> :class:`UnknownCodeSystem`.  For very large
    vocabularies prefer :func:`write_codesystem` (no Python object per concept).
    """
    resource, sql, skipped = _codesystem_parts(con, vocabulary_id)
    text = con.execute(f"SELECT '[' || coalesce(string_agg(j, ',' ORDER BY k1, k2), '') || ']' FROM ({sql})",
                       {"vid": vocabulary_id}).fetchall()[0][0]
    concepts = json.loads(text)
    if concepts:
        resource["concept"] = concepts
    if report is not None:
        report.update({"concepts": resource["count"], "skipped_synonyms": skipped})
    if validate:
        _validate("CodeSystem", resource, f"CodeSystem of {vocabulary_id}")
    return resource


def write_codesystem(con, vocabulary_id: str, path: str | Path, *, report: dict | None = None) -> Path:
    """Write :func:`export_codesystem`'s resource to ``path``, streamed from DuckDB (one line per concept).

    Same content as ``write_json(export_codesystem(...))`` (sorted keys), but
    concepts are written as compact one-line objects in batches, so memory does
    not grow with the vocabulary.
    """
    resource, sql, skipped = _codesystem_parts(con, vocabulary_id)
    p = Path(path)
    if not resource["count"]:
        write_json(resource, p)
    else:
        with p.open("w", encoding="utf-8") as fh:
            _write_spliced(fh, resource, "concept", lambda: _stream_rows(con, sql, {"vid": vocabulary_id}, fh, "  "))
    if report is not None:
        report.update({"concepts": resource["count"], "skipped_synonyms": skipped})
    return p


_SENTINEL = "\x00crossbridge-rows\x00"


def _write_spliced(fh, resource: dict, key: str, write_rows, indent: int | None = 1) -> None:
    """Write ``resource`` as sorted-key JSON with the (non-empty) array ``key`` written by ``write_rows()``."""
    text = json.dumps({**resource, key: _SENTINEL}, ensure_ascii=False, sort_keys=True, indent=indent)
    before, after = text.split(json.dumps(_SENTINEL))
    fh.write(before + "[\n")
    write_rows()
    fh.write("\n" + " " * (indent or 0) + "]" + after + ("\n" if indent else ""))


def _stream_rows(con, sql: str, params: dict, fh, prefix: str, batch_rows: int = 50_000) -> int:
    """Write the one-column text rows of ``sql`` to ``fh``, ``",\n"``-separated; a loop over batches only."""
    reader = con.sql(sql, params=params).to_arrow_reader(batch_rows)
    n = 0
    for batch in reader:
        if batch.num_rows:
            fh.write((",\n" if n else "") + prefix + (",\n" + prefix).join(batch.column(0).to_pylist()))
            n += batch.num_rows
    return n


def import_codesystem(path: str | Path, *, vocabulary_id: str | None = None, concept_id_offset: int,
                      vocabulary_version: str | None = None, validate: bool = False) -> OverlayVocabulary:
    """Read a FHIR R4 CodeSystem file as a new source vocabulary (see the module docstring)."""
    if not 0 <= concept_id_offset <= 2**31 - 1 - LOCAL_BLOCK_SIZE:
        raise ValueError(f"concept_id_offset {concept_id_offset} does not leave a block of {LOCAL_BLOCK_SIZE} "
                         "32-bit concept ids")
    doc = _open_doc(path, "CodeSystem")
    try:
        if validate:
            _validate("CodeSystem", read_resource(doc.path, "CodeSystem"), doc.path)
        return _import_codesystem(doc, vocabulary_id, concept_id_offset, vocabulary_version)
    finally:
        doc.con.close()


def _concept_tree(doc: _Doc) -> None:
    """Table ``nodes(key INTEGER[], path, parent_key, c JSON)``: every concept, nested ones too."""
    con = doc.con
    if doc.top_type("concept") not in (None, "ARRAY"):
        raise doc.error("concept is not an array", "concept")
    con.execute("""CREATE TEMP TABLE lvl0 AS
        SELECT [k] AS key, 'concept[' || k || ']' AS path, NULL::INTEGER[] AS parent_key, c
        FROM (SELECT unnest(range(len(l)))::INTEGER AS k, unnest(l) AS c
              FROM (SELECT json_extract(j, '$.concept[*]') AS l FROM doc))""")
    con.execute("CREATE TEMP TABLE nodes AS SELECT * FROM lvl0 WHERE false")
    level = 0
    while con.execute(f"SELECT count(*) FROM lvl{level}").fetchall()[0][0]:
        bad = doc.first(f"SELECT path FROM lvl{level} WHERE json_type(c) <> 'OBJECT' ORDER BY key")
        if bad:
            raise doc.error("concept is not a JSON object", bad[0])
        _check_array_of_objects(doc, f"lvl{level}", "c", "concept", "key")
        con.execute(f"INSERT INTO nodes SELECT * FROM lvl{level}")
        con.execute(f"""CREATE TEMP TABLE lvl{level + 1} AS
            SELECT key || [k] AS key, path || '.concept[' || k || ']' AS path, key AS parent_key, c
            FROM (SELECT key, path, unnest(range(len(l)))::INTEGER AS k, unnest(l) AS c
                  FROM (SELECT key, path, json_extract(c, '$.concept[*]') AS l FROM lvl{level}
                        WHERE json_type(c, '$.concept') = 'ARRAY'))""")
        con.execute(f"DROP TABLE lvl{level}")
        level += 1


def _import_codesystem(doc: _Doc, vocabulary_id: str | None, offset: int, version: str | None) -> OverlayVocabulary:
    con, path = doc.con, doc.path
    url = doc.required_string("url")
    if vocabulary_id is None:
        vocabulary_id = vocabulary_for_uri(url)
        if vocabulary_id is None:
            raise _unknown_system(url, path, "url", " (pass vocabulary_id to import it)")
    version = version if version is not None else doc.top("version")
    vocabulary_name = doc.top("title") or doc.top("name") or vocabulary_id
    language = doc.top("language")
    _concept_tree(doc)
    con.execute("""CREATE TEMP TABLE n AS
        SELECT row_number() OVER (ORDER BY key) AS pos, key, parent_key, path,
               json_type(c, '$.code') AS code_type, json_extract_string(c, '$.code') AS code,
               json_type(c, '$.display') AS display_type, json_extract_string(c, '$.display') AS display,
               c FROM nodes""")
    con.execute("DROP TABLE nodes")
    # file lines of the concepts, in document order (= pos order)
    index = doc.index
    parents, found = np.array([index.root()]), []
    while len(parents):
        parents = index.items(parents, "concept")[0]
        found.append(parents)
    positions = np.sort(np.concatenate(found))
    n_concepts = con.execute("SELECT count(*) FROM n").fetchall()[0][0]
    lines = index.lines(positions) if len(positions) == n_concepts else np.full(n_concepts, -1)
    lines_of = pa.table({"pos": pa.array(np.arange(1, n_concepts + 1, dtype=np.int64)),
                        "line": pa.array(lines.astype(np.int64))})

    def fail(row, message: str) -> VocabularyFormatError:  # row = (pos, path)
        line = int(lines[row[0] - 1]) if lines[row[0] - 1] > 0 else None
        return doc.error(message, row[1], line)

    checks = (
        ("code_type IS DISTINCT FROM 'VARCHAR' OR code = ''", "missing code (a non-empty string)", ".code"),
        (f"NOT regexp_full_match(code, '{_FHIR_CODE_RE}')", "not a valid FHIR code (no leading, trailing or "
                                                             "double whitespace)", ".code"),
        ("display_type IS NOT NULL AND (display_type <> 'VARCHAR' OR display = '')",
         "display is not a non-empty string", ".display"),
        ("json_type(c, '$.property') <> 'ARRAY'", "property is not an array", ".property"),
        ("json_type(c, '$.designation') <> 'ARRAY'", "designation is not an array", ".designation"),
    )
    for where, message, suffix in checks:
        bad = doc.first(f"SELECT pos, path || '{suffix}' FROM n WHERE {where} ORDER BY pos")
        if bad:
            raise fail(bad, message)
    bad = doc.first("""SELECT pos, path || '.code', first_path FROM (
        SELECT pos, path, first_value(path) OVER (PARTITION BY code ORDER BY pos) AS first_path,
               min(pos) OVER (PARTITION BY code) AS first_pos FROM n) WHERE pos > first_pos ORDER BY pos""")
    if bad:
        raise fail(bad, f"duplicate code (first at {bad[2]})")

    # properties
    con.execute("""CREATE TEMP TABLE p AS
        SELECT pos, k, path, json_type(pr) AS ptype, json_type(pr, '$.code') AS ctype,
               json_extract_string(pr, '$.code') AS pcode,
               coalesce(json_extract_string(pr, '$.valueCode'), json_extract_string(pr, '$.valueString'),
                        json_extract_string(pr, '$.valueInteger'), json_extract_string(pr, '$.valueDateTime'),
                        json_extract_string(pr, '$.valueBoolean'), json_extract_string(pr, '$.valueDecimal'),
                        json_extract_string(pr, '$.valueCoding.code')) AS v
        FROM (SELECT pos, k, path || '.property[' || k || ']' AS path, pr
              FROM (SELECT pos, path, unnest(range(len(l)))::INTEGER AS k, unnest(l) AS pr
                    FROM (SELECT pos, path, json_extract(c, '$.property[*]') AS l FROM n
                          WHERE json_type(c, '$.property') = 'ARRAY')))""")
    single = ("concept-id", "domain", "concept-class", "valid-from", "valid-to", "status", "invalid-reason",
              "inactive")
    in_single = "pcode IN (" + ", ".join(f"'{c}'" for c in single) + ")"
    date_ok = ("regexp_full_match(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}(T.*)?') "
               "AND TRY_CAST(left(v, 10) AS DATE) IS NOT NULL")
    for where, message in (
        ("ptype <> 'OBJECT'", "property is not a JSON object"),
        ("ctype IS DISTINCT FROM 'VARCHAR' OR pcode = ''", "property without code"),
        ("v IS NULL", "property without a value (valueCode, valueString, valueInteger, valueDateTime, ...)"),
        ("pcode = 'concept-id' AND (NOT regexp_full_match(v, '-?[0-9]+') OR TRY_CAST(v AS INTEGER) IS NULL)",
         "concept-id is not an integer"),
        (f"pcode = 'concept-id' AND (TRY_CAST(v AS BIGINT) < {offset} "
         f"OR TRY_CAST(v AS BIGINT) >= {offset + LOCAL_BLOCK_SIZE})",
         f"concept-id outside the block {offset}..{offset + LOCAL_BLOCK_SIZE - 1}"),
        (f"pcode IN ('valid-from', 'valid-to') AND NOT ({date_ok})", "not a date (YYYY-MM-DD[Thh:mm:ss...])"),
        ("pcode = 'invalid-reason' AND v NOT IN ('D', 'U')", "invalid-reason must be D or U"),
        ("pcode IN ('domain', 'concept-class', 'parent') AND trim(v) = ''", "empty property value"),
    ):
        bad = doc.first(f"SELECT pos, path FROM p WHERE {where} ORDER BY pos, k")
        if bad:
            raise fail(bad, message)
    bad = doc.first(f"""SELECT pos, path, pcode FROM (
        SELECT pos, k, path, pcode, count(*) OVER (PARTITION BY pos, pcode) AS nn FROM p WHERE {in_single})
        WHERE nn > 1 ORDER BY pos, k""")
    if bad:
        raise fail(bad, f"property {bad[2]!r} given twice")
    ignored = dict(con.execute(f"""SELECT pcode, count(*) FROM p WHERE NOT {in_single} AND pcode <> 'parent'
                                   GROUP BY pcode ORDER BY pcode""").fetchall())

    con.register("_lines", lines_of)
    con.execute(f"""CREATE TEMP TABLE cc AS
        SELECT n.pos, n.path, n.key, n.parent_key, n.code, n.display, l.line,
               CAST(coalesce(TRY_CAST(pv.cid AS BIGINT), {offset} + n.pos) AS BIGINT) AS concept_id,
               coalesce(n.display, n.code) AS concept_name,
               coalesce(pv.domain, 'Observation') AS domain_id,
               coalesce(pv.cls, 'Undefined') AS concept_class_id,
               coalesce(CAST(left(pv.vf, 10) AS DATE), DATE '{_DEFAULT_START}') AS valid_start_date,
               coalesce(CAST(left(pv.vt, 10) AS DATE), DATE '{_DEFAULT_END}') AS valid_end_date,
               pv.vt_path,
               CASE WHEN pv.ir IS NOT NULL THEN pv.ir
                    WHEN pv.status IN ('deprecated', 'retired') OR pv.inactive = 'true' THEN 'D' END
                 AS invalid_reason
        FROM n JOIN _lines l ON l.pos = n.pos LEFT JOIN (
            SELECT pos, any_value(v) FILTER (WHERE pcode = 'concept-id') AS cid,
                   any_value(v) FILTER (WHERE pcode = 'domain') AS domain,
                   any_value(v) FILTER (WHERE pcode = 'concept-class') AS cls,
                   any_value(v) FILTER (WHERE pcode = 'valid-from') AS vf,
                   any_value(v) FILTER (WHERE pcode = 'valid-to') AS vt,
                   any_value(path) FILTER (WHERE pcode = 'valid-to') AS vt_path,
                   any_value(v) FILTER (WHERE pcode = 'status') AS status,
                   any_value(v) FILTER (WHERE pcode = 'invalid-reason') AS ir,
                   any_value(v) FILTER (WHERE pcode = 'inactive') AS inactive
            FROM p GROUP BY pos) pv ON pv.pos = n.pos""")
    con.unregister("_lines")
    bad = doc.first(f"SELECT pos, path FROM cc WHERE concept_id >= {offset + LOCAL_BLOCK_SIZE} ORDER BY pos")
    if bad:
        raise fail(bad, f"position-based concept id past the block {offset}..{offset + LOCAL_BLOCK_SIZE - 1} "
                        "(more than 100000 concepts, or give concept-id properties)")
    bad = doc.first("SELECT pos, coalesce(vt_path, path) FROM cc WHERE valid_end_date < valid_start_date "
                    "ORDER BY pos")
    if bad:
        raise fail(bad, "valid-to before valid-from")
    bad = doc.first("""SELECT pos, path, concept_id, first_path FROM (
        SELECT pos, path, concept_id, first_value(path) OVER (PARTITION BY concept_id ORDER BY pos) AS first_path,
               min(pos) OVER (PARTITION BY concept_id) AS first_pos FROM cc) WHERE pos > first_pos ORDER BY pos""")
    if bad:
        raise fail(bad, f"concept id {bad[2]} used twice (first at {bad[3]})")

    # hierarchy: nesting and 'parent' properties
    bad = doc.first("""SELECT p.pos, p.path, p.v FROM p LEFT JOIN cc pa ON pa.code = p.v
                       WHERE p.pcode = 'parent' AND pa.code IS NULL ORDER BY p.pos, p.k""")
    if bad:
        raise fail(bad, f"parent code {bad[2]!r} is not in this CodeSystem")
    bad = doc.first("SELECT p.pos, p.path FROM p JOIN n ON n.pos = p.pos WHERE p.pcode = 'parent' AND p.v = n.code "
                    "ORDER BY p.pos")
    if bad:
        raise fail(bad, "a concept cannot be its own parent")
    con.execute("""CREATE TEMP TABLE isa AS
        SELECT DISTINCT ch.concept_id AS child, pa.concept_id AS parent, ch.valid_start_date, ch.valid_end_date
        FROM cc ch JOIN cc pa ON pa.key = ch.parent_key
        UNION
        SELECT ch.concept_id, pa.concept_id, ch.valid_start_date, ch.valid_end_date
        FROM p JOIN cc ch ON ch.pos = p.pos JOIN cc pa ON pa.code = p.v WHERE p.pcode = 'parent'""")

    # designations
    lang_case = " ".join(f"WHEN '{k}' THEN {v}" for k, v in LANGUAGE_SUBTAGS.items())
    con.execute("""CREATE TEMP TABLE d AS
        SELECT pos, k, path, json_type(de) AS dtype, json_type(de, '$.value') AS vtype,
               json_extract_string(de, '$.value') AS value, json_type(de, '$.language') AS ltype,
               coalesce(json_extract_string(de, '$.language'), $lang::VARCHAR) AS language
        FROM (SELECT pos, k, path || '.designation[' || k || ']' AS path, de
              FROM (SELECT pos, path, unnest(range(len(l)))::INTEGER AS k, unnest(l) AS de
                    FROM (SELECT pos, path, json_extract(c, '$.designation[*]') AS l FROM n
                          WHERE json_type(c, '$.designation') = 'ARRAY')))""", {"lang": language})
    for where, message in (
        ("dtype <> 'OBJECT'", "designation is not a JSON object"),
        ("vtype IS DISTINCT FROM 'VARCHAR' OR value = ''", "designation without value (a non-empty string)"),
        ("ltype IS NOT NULL AND ltype <> 'VARCHAR'", "designation language is not a string"),
    ):
        bad = doc.first(f"SELECT pos, path FROM d WHERE {where} ORDER BY pos, k")
        if bad:
            raise fail(bad, message)
    con.execute(f"""CREATE TEMP TABLE syn AS
        SELECT DISTINCT concept_id, concept_synonym_name, language_concept_id FROM (
            SELECT concept_id, display AS concept_synonym_name, {LANGUAGE_ENGLISH} AS language_concept_id
            FROM cc WHERE display IS NOT NULL
            UNION ALL
            SELECT cc.concept_id, d.value,
                   CASE lower(split_part(d.language, '-', 1)) {lang_case} END
            FROM d JOIN cc ON cc.pos = d.pos)
        WHERE language_concept_id IS NOT NULL""")
    known = ", ".join(f"'{k}'" for k in LANGUAGE_SUBTAGS)
    skipped = con.execute(f"""SELECT count(*) FROM d WHERE language IS NULL
        OR lower(split_part(language, '-', 1)) NOT IN ({known})""").fetchall()[0][0]

    def arrow(sql: str, table: str) -> pa.Table:
        params = {"vid": vocabulary_id} if "$vid" in sql else None
        return con.sql(sql, params=params).to_arrow_table().cast(ATHENA_SCHEMAS[table])

    tables = {
        "concept": arrow("""SELECT concept_id::INTEGER AS concept_id, concept_name, domain_id,
            $vid AS vocabulary_id, concept_class_id, NULL::VARCHAR AS standard_concept, code AS concept_code,
            valid_start_date, valid_end_date, invalid_reason FROM cc ORDER BY concept_id""", "concept"),
        "concept_relationship": arrow("""SELECT c1::INTEGER AS concept_id_1, c2::INTEGER AS concept_id_2,
                relationship_id, min(valid_start_date) AS valid_start_date, max(valid_end_date) AS valid_end_date,
                NULL::VARCHAR AS invalid_reason
            FROM (SELECT child AS c1, parent AS c2, 'Is a' AS relationship_id, valid_start_date, valid_end_date
                  FROM isa
                  UNION ALL
                  SELECT parent, child, 'Subsumes', valid_start_date, valid_end_date FROM isa)
            GROUP BY ALL ORDER BY concept_id_1, relationship_id, concept_id_2""", "concept_relationship"),
        "concept_synonym": arrow("""SELECT concept_id::INTEGER AS concept_id, concept_synonym_name,
            language_concept_id::INTEGER AS language_concept_id FROM syn
            ORDER BY concept_id, language_concept_id, concept_synonym_name""", "concept_synonym"),
        "concept_class": arrow("""SELECT DISTINCT concept_class_id, concept_class_id AS concept_class_name,
            0::INTEGER AS concept_class_concept_id FROM cc ORDER BY 1""", "concept_class"),
        "vocabulary": pa.table([[vocabulary_id], [vocabulary_name], [url], [version], pa.array([0], pa.int32())],
                               schema=ATHENA_SCHEMAS["vocabulary"]),
    }
    concept_lines = con.sql("SELECT concept_id::INTEGER AS concept_id, nullif(line, -1) AS line FROM cc "
                                "ORDER BY concept_id").to_arrow_table().cast(LINES_SCHEMA)
    report = {
        "url": url, "content": doc.top("content"), "concepts": int(n_concepts),
        "synonyms": tables["concept_synonym"].num_rows, "skipped_designations": int(skipped),
        "is_a": con.execute("SELECT count(*) FROM isa").fetchall()[0][0], "ignored_properties": ignored,
    }
    return OverlayVocabulary(str(path), tables, concept_lines=concept_lines, new_vocabularies=(vocabulary_id,),
                             report=report)


# ---------------------------------------------------------------------------
# ConceptMap export
# ---------------------------------------------------------------------------
def _legs_sql(param: str, has_equivalence: bool) -> str:
    """(s, x, eq): valid 'Maps to' from concepts of vocabulary ``param`` to valid standard concepts.

    A valid standard concept without a 'Maps to' row to itself maps to itself (``equal``).
    """
    stated = ("LEFT JOIN (SELECT concept_id_1, concept_id_2, arg_min(equivalence, source) AS equivalence "
              f"FROM {EQUIVALENCE_TABLE} WHERE relationship_id = 'Maps to' GROUP BY ALL) e "
              "ON e.concept_id_1 = s.concept_id AND e.concept_id_2 = x.concept_id") if has_equivalence else ""
    eq = "e.equivalence" if has_equivalence else "NULL"
    return f"""
        SELECT s.concept_id AS s, x.concept_id AS x,
               coalesce({eq}, CASE WHEN s.concept_id = x.concept_id THEN 'equal' ELSE 'equivalent' END) AS eq
        FROM concept s
        JOIN concept_relationship r ON r.concept_id_1 = s.concept_id AND r.relationship_id = 'Maps to'
             AND r.invalid_reason IS NULL
        JOIN concept x ON x.concept_id = r.concept_id_2 AND x.standard_concept = 'S' AND x.invalid_reason IS NULL
        {stated}
        WHERE s.vocabulary_id = {param}
        UNION ALL
        SELECT s.concept_id, s.concept_id, 'equal' FROM concept s
        WHERE s.vocabulary_id = {param} AND s.standard_concept = 'S' AND s.invalid_reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM concept_relationship r WHERE r.concept_id_1 = s.concept_id
                          AND r.concept_id_2 = s.concept_id AND r.relationship_id = 'Maps to'
                          AND r.invalid_reason IS NULL)"""


def _conceptmap_parts(con, source_vocabulary_id: str, target: str, include_unmapped: bool
                      ) -> tuple[dict, list[tuple[str | None, dict]], str, dict]:
    """(resource without ``group``, [(group vocabulary, group without ``element``)], SQL of the element
    JSON texts ``j`` with columns gv, k1, k2 (order), its parameters)."""
    _, src_version = _vocabulary_row(con, source_vocabulary_id)
    to_standard = target == STANDARD_TARGET
    tgt_version = None if to_standard else _vocabulary_row(con, target)[1]
    has_eq = EQUIVALENCE_TABLE in _store_tables(con)
    if has_eq:
        allowed = ", ".join(f"'{e}'" for e in FHIR_EQUIVALENCES)
        bad = con.execute(f"SELECT concept_id_1, concept_id_2, equivalence, source FROM {EQUIVALENCE_TABLE} "
                          f"WHERE equivalence NOT IN ({allowed}) LIMIT 1").fetchall()
        if bad:
            c1, c2, e, src = bad[0]
            raise VocabularyFormatError(f"{EQUIVALENCE_TABLE} row {c1} -> {c2} has equivalence {e!r}, not a FHIR "
                                        f"R4 equivalence", src, None, "equivalence")
    rank = "CASE eq " + " ".join(f"WHEN '{e}' THEN {i}" for i, e in enumerate(_RANK)) + " ELSE 99 END"
    if to_standard:
        pairs = f"""SELECT s, x AS t, eq,
                CASE eq WHEN 'narrower' THEN 'The target concept is narrower than the source concept'
                        WHEN 'inexact' THEN 'The target concept overlaps the source concept inexactly' END
                  AS comment
            FROM ({_legs_sql('$src', has_eq)})"""
    else:
        inverse = ("CASE b.eq WHEN 'wider' THEN 'narrower' WHEN 'narrower' THEN 'wider' WHEN 'subsumes' "
                   "THEN 'specializes' WHEN 'specializes' THEN 'subsumes' ELSE b.eq END")
        pairs = f"""SELECT s, t, eq, 'via OMOP standard concept ' || x AS comment FROM (
            SELECT a.s, b.s AS t, a.x,
                   CASE WHEN a.s = b.s THEN 'equal'
                        WHEN b.eq IN ('equal', 'equivalent')
                             THEN CASE WHEN a.eq = 'equal' THEN 'equivalent' ELSE a.eq END
                        WHEN a.eq IN ('equal', 'equivalent') THEN {inverse}
                        ELSE 'inexact' END AS eq
            FROM ({_legs_sql('$src', has_eq)}) a JOIN ({_legs_sql('$tgt', has_eq)}) b ON a.x = b.x)
            QUALIFY row_number() OVER (PARTITION BY s, t ORDER BY {rank}, x) = 1"""
    sql = f"""
    WITH pairs AS ({pairs}),
    targets AS (
        SELECT p.s, tc.vocabulary_id AS gv, tc.concept_code AS tcode,
               json_merge_patch('{{}}', json_object('code', tc.concept_code, 'comment', p.comment,
                                                   'display', tc.concept_name, 'equivalence', p.eq))::VARCHAR AS tj
        FROM pairs p JOIN concept tc ON tc.concept_id = p.t),
    el AS (
        SELECT s, gv, '[' || string_agg(tj, ',' ORDER BY tcode, tj) || ']' AS tl FROM targets GROUP BY s, gv
        UNION ALL
        SELECT sc.concept_id, $unmatched_group::VARCHAR, '[{{"equivalence":"unmatched"}}]' FROM concept sc
        WHERE sc.vocabulary_id = $src AND $include_unmapped::BOOLEAN
          AND NOT EXISTS (SELECT 1 FROM pairs p WHERE p.s = sc.concept_id))
    SELECT json_object('code', sc.concept_code, 'display', sc.concept_name, 'target', el.tl::JSON)::VARCHAR AS j,
           el.gv, sc.concept_code AS k1, sc.concept_id AS k2
    FROM el JOIN concept sc ON sc.concept_id = el.s"""
    params = {"src": source_vocabulary_id, "unmatched_group": None if to_standard else target,
              "include_unmapped": include_unmapped}
    if not to_standard:
        params["tgt"] = target
    versions = dict(con.execute("SELECT vocabulary_id, vocabulary_version FROM vocabulary").fetchall())
    src_uri = system_uri(source_vocabulary_id)
    groups = []
    for (gv,) in con.execute(f"SELECT DISTINCT gv FROM ({sql}) ORDER BY gv NULLS LAST", params).fetchall():
        group: dict[str, Any] = {"source": src_uri}
        if src_version:
            group["sourceVersion"] = src_version
        if gv is not None:
            group["target"] = system_uri(gv)
            if versions.get(gv):
                group["targetVersion"] = versions[gv]
        groups.append((gv, group))
    label = f"{source_vocabulary_id} to {'OMOP standard concepts' if to_standard else target}"
    resource: dict[str, Any] = {
        "resourceType": "ConceptMap", "id": _fhir_id(f"{source_vocabulary_id}-to-{target}"),
        "url": CONCEPTMAP_URN + quote(source_vocabulary_id, safe="") + ":" + quote(target, safe=""),
        "name": fhir_name(f"{source_vocabulary_id} to {target}"), "title": f"{label} (OMOP 'Maps to')",
        "status": "active", "sourceUri": src_uri,
        "targetUri": STANDARD_VALUESET_URI if to_standard else system_uri(target),
    }
    version = src_version if to_standard else "|".join(v or "" for v in (src_version, tgt_version))
    if version and version != "|":
        resource["version"] = version
    return resource, groups, sql, params


def export_conceptmap(con, source_vocabulary_id: str, *, target: str = STANDARD_TARGET,
                      include_unmapped: bool = True, validate: bool = False) -> dict:
    """The mappings of a source vocabulary as a FHIR R4 ConceptMap (see the module docstring).

    ``target``: ``'standard'`` (OMOP standard concepts, one group per target
    vocabulary) or a vocabulary id (codes of that vocabulary reaching the same
    standard concept).  Unknown vocabularies -> :class:`UnknownCodeSystem`.
    For very large vocabularies prefer :func:`write_conceptmap`.
    """
    resource, groups, sql, params = _conceptmap_parts(con, source_vocabulary_id, target, include_unmapped)
    texts = dict(con.execute(f"SELECT gv, '[' || string_agg(j, ',' ORDER BY k1, k2) || ']' FROM ({sql}) "
                             "GROUP BY gv", params).fetchall())
    if groups:
        resource["group"] = [{**group, "element": json.loads(texts[gv])} for gv, group in groups]
    if validate:
        _validate("ConceptMap", resource, f"ConceptMap of {source_vocabulary_id}")
    return resource


def write_conceptmap(con, source_vocabulary_id: str, path: str | Path, *, target: str = STANDARD_TARGET,
                     include_unmapped: bool = True) -> Path:
    """Write :func:`export_conceptmap`'s resource to ``path``, streamed from DuckDB (one line per element)."""
    resource, groups, sql, params = _conceptmap_parts(con, source_vocabulary_id, target, include_unmapped)
    p = Path(path)
    if not groups:
        return write_json(resource, p)

    def write_groups() -> None:
        for i, (gv, group) in enumerate(groups):  # a handful of groups
            fh.write(",\n" if i else "")
            _write_spliced(fh, group, "element", lambda: _stream_rows(
                con, f"SELECT j FROM ({sql}) WHERE gv IS NOT DISTINCT FROM $gv::VARCHAR ORDER BY k1, k2",
                {**params, "gv": gv}, fh, ""), indent=None)

    with p.open("w", encoding="utf-8") as fh:
        _write_spliced(fh, resource, "group", write_groups)
    return p


# ---------------------------------------------------------------------------
# ConceptMap import
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ConceptMapBuilder:
    """A checked ConceptMap file, waiting for the store to resolve its codes (an ``OverlayBuilder``).

    ``rows``: one row per (element, target) -- or per element without
    targets -- with group/element/target index, JSON path, source and target
    vocabulary ids, codes, equivalence and the element's file line.
    """

    path: str
    rows: pa.Table
    report: dict[str, Any] = field(default_factory=dict)

    def __call__(self, con) -> OverlayVocabulary:
        return _resolve_conceptmap(self, con)


def import_conceptmap(path: str | Path, *, validate: bool = False) -> ConceptMapBuilder:
    """Read and check a FHIR R4 ConceptMap file; the result, called with the store, gives the overlay.

    File errors (JSON, structure, equivalence codes, unknown system URIs) are
    raised here; unknown codes and non-standard targets when the builder is
    called (see the module docstring).
    """
    doc = _open_doc(path, "ConceptMap")
    try:
        if validate:
            _validate("ConceptMap", read_resource(doc.path, "ConceptMap"), doc.path)
        return _read_conceptmap(doc)
    finally:
        doc.con.close()


def _read_conceptmap(doc: _Doc) -> ConceptMapBuilder:
    con, path = doc.con, doc.path
    if doc.top_type("group") not in (None, "ARRAY"):
        raise doc.error("group is not an array", "group")
    index = doc.index
    gpos, _, _ = index.items(np.array([index.root()]), "group")
    epos, eholder, eidx = index.items(gpos, "element")
    con.register("_elines", pa.table({"g": pa.array(np.searchsorted(gpos, eholder), pa.int32()),
                                      "e": pa.array(eidx, pa.int32()),
                                      "line": pa.array(index.lines(epos).astype(np.int64))}))
    # each json function parses the whole group: read what is needed in one pass each
    con.execute("""CREATE TEMP TABLE grp AS
        SELECT k AS g, 'group[' || k || ']' AS path, json_type(gr, ['$', '$.source', '$.target', '$.element']) AS ty,
               json_extract_string(gr, ['$.source', '$.target']) AS uri, json_extract(gr, '$.element[*]') AS elements
        FROM (SELECT unnest(range(len(l)))::INTEGER AS k, unnest(l) AS gr
              FROM (SELECT json_extract(j, '$.group[*]') AS l FROM doc))""")
    for where, message in (("ty[1] <> 'OBJECT'", "group is not a JSON object"),
                           ("ty[4] <> 'ARRAY'", "element is not an array")):
        bad = doc.first(f"SELECT g, path FROM grp WHERE {where} ORDER BY g")
        if bad:
            raise doc.error(message, bad[1] + (".element" if "element" in message else ""),
                            int(index.lines(gpos[bad[0]:bad[0] + 1])[0]) if bad[0] < len(gpos) else None)
    # system URIs: group.source/target, else the resource's sourceUri/targetUri (or canonical)
    top_src = doc.top("sourceUri") or doc.top("sourceCanonical")
    top_tgt = doc.top("targetUri") or doc.top("targetCanonical")
    con.execute("""CREATE TEMP TABLE el AS
        SELECT g, k AS e, path || '.element[' || k || ']' AS path, el FROM (
            SELECT g, path, unnest(range(len(elements)))::INTEGER AS k, unnest(elements) AS el FROM grp)""")
    con.execute("CREATE TEMP TABLE el2 AS SELECT el.*, l.line FROM el LEFT JOIN _elines l USING (g, e)")
    con.unregister("_elines")

    def fail(row, message):  # row = (line, path)
        return doc.error(message, row[1], None if row[0] is None else int(row[0]))

    for where, message in (
        ("json_type(el) <> 'OBJECT'", "element is not a JSON object"),
        ("json_type(el, '$.code') IS DISTINCT FROM 'VARCHAR' OR json_extract_string(el, '$.code') = ''",
         "element without code (a non-empty string)"),
    ):
        bad = doc.first(f"SELECT line, path FROM el2 WHERE {where} ORDER BY g, e")
        if bad:
            raise fail(bad, message)
    bad = doc.first("SELECT line, path || '.target' FROM el2 WHERE json_type(el, '$.target') <> 'ARRAY' "
                    "ORDER BY g, e")
    if bad:
        raise fail(bad, "target is not an array")
    con.execute("""CREATE TEMP TABLE tg AS
        SELECT g, e, k AS t, path || '.target[' || k || ']' AS tpath, line, code, tr FROM (
            SELECT g, e, path, line, json_extract_string(el, '$.code') AS code,
                   unnest(range(len(l)))::INTEGER AS k, unnest(l) AS tr
            FROM (SELECT *, json_extract(el, '$.target[*]') AS l FROM el2
                  WHERE json_type(el, '$.target') = 'ARRAY'))""")
    allowed = ", ".join(f"'{e}'" for e in FHIR_EQUIVALENCES)
    for where, suffix, message in (
        ("json_type(tr) <> 'OBJECT'", "", "target is not a JSON object"),
        ("json_type(tr, '$.equivalence') IS DISTINCT FROM 'VARCHAR'", ".equivalence",
         "target without equivalence"),
        (f"json_extract_string(tr, '$.equivalence') NOT IN ({allowed})", ".equivalence",
         f"unknown equivalence (allowed: {', '.join(FHIR_EQUIVALENCES)})"),
        ("json_type(tr, '$.code') IS NOT NULL AND (json_type(tr, '$.code') <> 'VARCHAR' "
         "OR json_extract_string(tr, '$.code') = '')", ".code", "target code is not a non-empty string"),
        ("json_type(tr, '$.code') IS NULL AND json_extract_string(tr, '$.equivalence') <> 'unmatched'", ".code",
         "target without code (only an 'unmatched' target may have none)"),
    ):
        bad = doc.first(f"SELECT line, tpath || '{suffix}' FROM tg WHERE {where} ORDER BY g, e, t")
        if bad:
            raise fail(bad, message)
    rows = con.sql("""
        SELECT el2.g::INTEGER AS g, el2.e::INTEGER AS e, tg.t::INTEGER AS t, el2.path,
               coalesce(tg.tpath, el2.path) AS tpath, json_extract_string(el2.el, '$.code') AS source_code,
               json_extract_string(tg.tr, '$.code') AS target_code,
               json_extract_string(tg.tr, '$.equivalence') AS equivalence, el2.line::BIGINT AS line
        FROM el2 LEFT JOIN tg ON tg.g = el2.g AND tg.e = el2.e ORDER BY el2.g, el2.e, tg.t""").to_arrow_table()
    con.register("_rows", rows)
    groups = con.execute("""SELECT grp.g, path, ty[2], uri[1], ty[3], uri[2], coalesce(r.coded, 0),
                                   coalesce(r.n_elements, 0)
                            FROM grp LEFT JOIN (
                                SELECT g, count(DISTINCT e) AS n_elements,
                                       count(*) FILTER (WHERE target_code IS NOT NULL AND equivalence <> 'unmatched')
                                         AS coded
                                FROM _rows GROUP BY g) r ON r.g = grp.g
                            ORDER BY grp.g""").fetchall()
    con.unregister("_rows")
    src_ids, tgt_ids = [None] * len(groups), [None] * len(groups)
    for g, gpath, stype, src, ttype, tgt, coded, elements in groups:  # one per group: a handful
        line = int(index.lines(gpos[g:g + 1])[0]) if g < len(gpos) else None
        for key, kind, value, top, out, needed in (("source", stype, src, top_src, src_ids, elements > 0),
                                                   ("target", ttype, tgt, top_tgt, tgt_ids, coded > 0)):
            if kind is not None and kind != "VARCHAR":
                raise doc.error(f"{key} is not a string", f"{gpath}.{key}", line)
            uri = value or top
            if not needed:
                continue
            if not uri:
                raise doc.error(f"group without {key} system (and no {key}Uri on the ConceptMap)",
                                f"{gpath}.{key}", line)
            out[g] = vocabulary_for_uri(uri)
            if out[g] is None:
                raise _unknown_system(uri, path, f"{gpath}.{key}")
    g_col = rows["g"].to_numpy(zero_copy_only=False)
    rows = rows.append_column("source_vocabulary_id", pa.array(src_ids, pa.string()).take(pa.array(g_col))) \
        .append_column("target_vocabulary_id", pa.array(tgt_ids, pa.string()).take(pa.array(g_col)))
    counts = dict(con.execute("""SELECT json_extract_string(tr, '$.equivalence'), count(*) FROM tg
                                 GROUP BY 1 ORDER BY 1""").fetchall())
    report = {"groups": len(groups), "elements": int(con.execute("SELECT count(*) FROM el2").fetchall()[0][0]),
              "targets": int(sum(counts.values())), "equivalences": counts}
    return ConceptMapBuilder(str(path), rows, report)


def _resolve_conceptmap(b: ConceptMapBuilder, con) -> OverlayVocabulary:
    """Resolve the codes of a checked ConceptMap against the store; the 'Maps to' overlay."""
    path = b.path
    known = {r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary").fetchall()}
    for col, key in (("source_vocabulary_id", "source"), ("target_vocabulary_id", "target")):
        used = b.rows.select(["g", col]).group_by(["g", col]).aggregate([]).sort_by("g").to_pylist()
        for row in used:  # one per group
            if row[col] is not None and row[col] not in known:
                raise _unknown_system(row[col], path, f"group[{row['g']}].{key}",
                                      " (vocabulary not loaded in the store)")
    maps = ", ".join(f"'{e}'" for e in MAPS_TO_EQUIVALENCES)
    con.register("_cm_rows", b.rows)
    try:
        resolved = con.sql(f"""
            WITH vocabularies AS (SELECT source_vocabulary_id AS v FROM _cm_rows
                                  UNION SELECT target_vocabulary_id FROM _cm_rows),
            cpt AS (SELECT concept_id, vocabulary_id, concept_code, standard_concept, invalid_reason,
                           valid_start_date, valid_end_date FROM concept
                    WHERE vocabulary_id IN (SELECT v FROM vocabularies)
                    QUALIFY row_number() OVER (PARTITION BY vocabulary_id, concept_code
                                               ORDER BY invalid_reason IS NOT NULL, concept_id) = 1)
            SELECT r.*, s.concept_id AS s, s.valid_start_date, s.valid_end_date,
                   t.concept_id AS tid, t.standard_concept, t.invalid_reason,
                   r.equivalence IN ({maps}) AS maps_to
            FROM _cm_rows r
            LEFT JOIN cpt s ON s.vocabulary_id = r.source_vocabulary_id AND s.concept_code = r.source_code
            LEFT JOIN cpt t ON t.vocabulary_id = r.target_vocabulary_id AND t.concept_code = r.target_code
                           AND r.equivalence <> 'unmatched'""").to_arrow_table()
    finally:
        con.unregister("_cm_rows")
    con.register("_cm", resolved)
    try:
        def first(where: str) -> tuple | None:
            rows = con.execute(f"SELECT line, tpath, path, source_vocabulary_id, source_code, "
                               f"target_vocabulary_id, target_code FROM _cm WHERE {where} ORDER BY g, e, t LIMIT 1"
                               ).fetchall()
            return rows[0] if rows else None

        bad = first("s IS NULL")
        if bad:
            raise VocabularyFormatError(f"source code {bad[4]!r} is not in vocabulary {bad[3]!r} of the store",
                                        path, bad[0], bad[2])
        bad = first("target_code IS NOT NULL AND equivalence <> 'unmatched' AND tid IS NULL")
        if bad:
            raise VocabularyFormatError(f"target code {bad[6]!r} is not in vocabulary {bad[5]!r} of the store",
                                        path, bad[0], bad[1])
        bad = first("maps_to AND (standard_concept IS DISTINCT FROM 'S' OR invalid_reason IS NOT NULL)")
        if bad:
            raise VocabularyFormatError(f"target {bad[5]} {bad[6]!r} is not a valid standard concept ('Maps to' "
                                        "must end on a standard concept)", path, bad[0], bad[1])
        bad = con.execute("""SELECT line, tpath, equivalence, first_eq FROM (
                SELECT *, first_value(equivalence) OVER (w ORDER BY g, e, t) AS first_eq,
                       row_number() OVER (w ORDER BY g, e, t) AS rn
                FROM _cm WHERE maps_to WINDOW w AS (PARTITION BY s, tid))
            WHERE rn > 1 AND equivalence <> first_eq ORDER BY g, e, t LIMIT 1""").fetchall()
        if bad:
            line, where, eq, first_eq = bad[0]
            raise VocabularyFormatError(f"mapping given twice with different equivalences ({first_eq!r}, then "
                                        f"{eq!r})", path, line, where)
        # one row per new (source, target); mappings the store has already are counted and left out
        pairs = con.sql("""
            SELECT s, tid, any_value(equivalence) AS equivalence, min(valid_start_date) AS valid_start_date,
                   max(valid_end_date) AS valid_end_date, min(source_code) AS source_code, min(line) AS line,
                   count(*) AS n,
                   EXISTS (SELECT 1 FROM concept_relationship r WHERE r.concept_id_1 = s
                           AND r.concept_id_2 = tid AND r.relationship_id = 'Maps to') AS present
            FROM _cm WHERE maps_to GROUP BY s, tid ORDER BY s, tid""").to_arrow_table()
        stats = con.execute("""SELECT count(*) FILTER (WHERE maps_to),
                                      count(*) FILTER (WHERE equivalence = 'unmatched'),
                                      count(*) FILTER (WHERE NOT maps_to AND equivalence <> 'unmatched')
                               FROM _cm WHERE equivalence IS NOT NULL""").fetchall()[0]
    finally:
        con.unregister("_cm")
    new = pairs.filter(pc.invert(pairs["present"]))
    con.register("_cm_new", new)
    try:
        rel = con.sql("""
            SELECT concept_id_1::INTEGER AS concept_id_1, concept_id_2::INTEGER AS concept_id_2, relationship_id,
                   valid_start_date, valid_end_date, NULL::VARCHAR AS invalid_reason FROM (
                SELECT s AS concept_id_1, tid AS concept_id_2, 'Maps to' AS relationship_id, valid_start_date,
                       valid_end_date FROM _cm_new
                UNION ALL
                SELECT tid, s, 'Mapped from', valid_start_date, valid_end_date FROM _cm_new)
            ORDER BY concept_id_1, relationship_id, concept_id_2""").to_arrow_table()
        equivalence = con.sql("""SELECT s::INTEGER AS concept_id_1, tid::INTEGER AS concept_id_2,
                'Maps to' AS relationship_id, equivalence, $path AS source FROM _cm_new ORDER BY s, tid""",
                              params={"path": path}).to_arrow_table()
        mapping_lines = con.sql("""SELECT source_code, tid::INTEGER AS target_concept_id, line FROM _cm_new
                                   ORDER BY line, tid""").to_arrow_table()
    finally:
        con.unregister("_cm_new")
    duplicates = pc.sum(pc.subtract(pairs["n"], 1)).as_py() or 0
    present = pairs.num_rows - new.num_rows
    report = dict(b.report)
    report.update({"maps_to_targets": int(stats[0]), "unmatched": int(stats[1]), "not_mapping": int(stats[2]),
                   "mappings_added": new.num_rows, "already_present": present,
                   "duplicates": int(duplicates)})
    return OverlayVocabulary(
        path, {"concept_relationship": rel.cast(ATHENA_SCHEMAS["concept_relationship"])},
        equivalence=equivalence.cast(EQUIVALENCE_SCHEMA), mapping_lines=mapping_lines.cast(MAPPING_LINES_SCHEMA),
        new_vocabularies=(), report=report)


__all__ = [
    "CODESYSTEM_PROPERTIES", "CONCEPTMAP_URN", "ConceptMapBuilder", "LANGUAGE_CODES", "MAPS_TO_EQUIVALENCES",
    "STANDARD_TARGET", "STANDARD_VALUESET_URI", "export_codesystem", "export_conceptmap", "fhir_name",
    "import_codesystem", "import_conceptmap", "read_resource", "write_codesystem", "write_conceptmap", "write_json",
]
