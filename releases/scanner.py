"""Release scanner: block a release whose files hold anything shaped like a person identifier or a source name.

Kinds of hit:

* ``taiwan_id`` -- ``[A-Z][1289][0-9]{8}`` (national ID 1/2, new resident certificate 8/9) or
  ``[A-Z][A-D][0-9]{8}`` (old resident certificate);
* ``henkilotunnus`` -- ``[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]`` (the 2023 century signs included);
* ``source_name`` / ``source_address`` -- an entry of a :class:`Denylist` (names and addresses read from
  the inbound sources, :mod:`connectors.source_names`) as whole words, case- and accent-insensitively.

Rules:

* **A shape blocks.**  An identifier-shaped value blocks the release whether or not its check
  character is right: a mistyped or deliberately broken ID still points to a person, and the
  national examples themselves fail their check digit (DOMAIN.md).  Each hit reports
  ``check_valid``, how many of its matches also pass the connectors' validators
  (:func:`connectors.taiwan.national_id.valid_mask`, :func:`connectors.finland.hetu.valid_mask`:
  check digit; for the henkilötunnus also a real date and NNN >= 002).
* IDs are word-bounded: an ID inside a longer run of ASCII letters and digits (a SHA-256 digest, a
  64-hex pseudonym, ``A1234567890``) is not one; ``_`` and non-ASCII characters are boundaries.
  Upper case only.  Values holding full-width forms are NFKC-normalised first (``Ａ１２...`` is
  found).  OMOP ids,
  ISO dates, UUIDs (segments of 8/4/12 characters) and ICD codes cannot take these shapes.
  NHI drug codes can (``AC99999100`` is an old-resident shape): pass such known code values as
  ``exempt``; exempted matches are counted in ``ScanReport.exempted``, never hits.
* Names: values and entries are normalised alike (NFKD, combining marks dropped, lower case with
  ``ß``->``ss``, NFKC) and split into tokens: runs of letters/digits, each CJK/kana/Hangul
  character a token of its own (those scripts are written without spaces).  An entry matches
  where its tokens occur consecutively in one value (one line of a text file).
* Nothing of a match is reported: per hit the file, Parquet column (and first row) or text line,
  kind, count and a masked example (the first 2 characters of an ID, the first character of a
  normalised name or address, the rest ``*``).  A relative path that itself holds a hit is
  replaced by ``[path withheld: file k of n]``.
* Parquet: every string, large_string, string_view, binary (if UTF-8) and dictionary column, also
  inside lists, structs and maps, read in batches of :data:`BATCH_ROWS` rows; dictionary columns
  scan their dictionary once.  Column names and key-value metadata are scanned as column
  ``(schema)``.  Other types cannot hold an ID shape or a name entry (entries need a letter).
* Text (CSV, NDJSON, JSON, JSON-LD, HTML, XML, TXT, MD ...; ``.gz`` too) is read in blocks of
  ``chunk_bytes`` and scanned line by line; a line is never cut except when longer than a block,
  then at an ASCII separator with an overlap of :data:`OVERLAP_BYTES` whose matches are counted
  once (a match across a block boundary is found).  JSON escapes (``\\u00e4``, ``\\n``) and
  HTML/XML entities are decoded before scanning.  UTF-16/32 text is recognised by its byte-order
  mark; other text that is not UTF-8 is read as Latin-1 (recorded as the file's encoding).
  Files of other formats are listed in ``not_scanned`` with a reason (a binary file is sniffed by
  its NUL bytes), never skipped silently.
* ``ScanReport.blocked`` is true when there is any hit; files that could not be scanned do not
  block by themselves (plots are legitimate outputs): :func:`raise_if_blocked` takes
  ``allow_not_scanned=False`` for a stricter gate.
"""

from __future__ import annotations

import codecs
import gzip
import html
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connectors.finland.hetu import valid_mask as hetu_valid_mask
from connectors.taiwan.national_id import valid_mask as taiwan_valid_mask

__all__ = [
    "BATCH_ROWS", "DEFAULT_CHUNK_BYTES", "Denylist", "Hit", "KINDS", "NotScanned", "OVERLAP_BYTES", "PATH_COLUMN",
    "ReleaseBlocked", "SCHEMA_COLUMN", "ScanError", "ScanReport", "ScannedFile", "UnreadableReleaseFile",
    "raise_if_blocked", "scan_release", "scan_values",
]

KINDS = ("taiwan_id", "henkilotunnus", "source_name", "source_address")
DEFAULT_CHUNK_BYTES = 4 << 20
OVERLAP_BYTES = 4096
BATCH_ROWS = 65_536
MAX_LINE_HITS = 100  # per file and kind; further lines are merged into one hit (counts stay exact)
MIN_ENTRY_WEIGHT = 4  # characters, a CJK/kana/Hangul character counting 2
MAX_ENTRY_TOKENS = 16  # longer entries are matched on their first 16 tokens (more hits, never fewer)

_ID_SHAPES = {  # RE2 pattern (pyarrow), Python pattern (same matches on '_'-free text), validator, shown chars
    "taiwan_id": (r"\b[A-Z][1289A-D][0-9]{8}\b",
                  re.compile(r"(?<![0-9A-Za-z_])[A-Z][1289A-D][0-9]{8}(?![0-9A-Za-z_])"), taiwan_valid_mask),
    "henkilotunnus": (r"\b[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]\b",
                      re.compile(r"(?<![0-9A-Za-z_])[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y](?![0-9A-Za-z_])"),
                      hetu_valid_mask),
}
_BITS = {"source_name": 1, "source_address": 2}
_WIDE = ((0x1100, 0x11FF), (0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF),
         (0xF900, 0xFAFF), (0x20000, 0x3134F))
_WIDE_RE2 = "[" + "".join(f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in _WIDE) + "]"
_NOT_WORD_RE2 = r"[^\p{L}\p{N}\x{0}-\x{7F}]+"  # non-ASCII characters that are neither letters nor digits
_WIDE_PY = re.compile("[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _WIDE) + "]")
_LETTER_PY = re.compile(r"[^\W\d_]")
_WORD_BYTE = np.zeros(256, dtype=bool)  # after normalisation: ASCII letters/digits and every non-ASCII byte
_WORD_BYTE[[*range(48, 58), *range(97, 123), *range(65, 91), *range(128, 256)]] = True

PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".md", ".ndjson", ".jsonl", ".json", ".jsonld", ".geojson",
                           ".html", ".htm", ".xml", ".svg", ".rdf", ".ttl", ".nt", ".nq", ".yaml", ".yml", ".sql",
                           ".log", ".tex", ".rst"})
_JSON_SUFFIXES = frozenset({".ndjson", ".jsonl", ".json", ".jsonld", ".geojson"})
_MARKUP_SUFFIXES = frozenset({".html", ".htm", ".xml", ".svg", ".rdf"})
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".tif", ".tiff", ".bmp", ".ico", ".pdf",
                             ".zip", ".7z", ".tar", ".bz2", ".xz", ".zst", ".xlsx", ".xls", ".docx", ".doc",
                             ".pptx", ".odt", ".ods", ".duckdb", ".db", ".sqlite", ".feather", ".arrow", ".avro",
                             ".orc", ".pkl", ".npy", ".npz", ".h5"})
_CUT_BYTES = tuple(b" \t\r,\"'{}[]<>|=/()")  # ASCII bytes no match contains: long lines are cut after one
_SNIFF_BYTES = 1 << 16
SCHEMA_COLUMN = "(schema)"  # pseudo-column of a Parquet file: field names and key-value metadata
PATH_COLUMN = "(path)"  # pseudo-column of a hit in a file's relative path


class ScanError(RuntimeError):
    """The release folder cannot be scanned."""


class UnreadableReleaseFile(ScanError):
    """A file of the release cannot be read in its format (a corrupt Parquet file, an I/O error)."""


class ReleaseBlocked(RuntimeError):
    """The release holds identifier-shaped values or source names/addresses (the message names files and kinds)."""


class _NotUtf8(Exception):
    """Internal: a text file turned out not to be UTF-8 (it is re-read as Latin-1)."""


# ------------------------------------------------------------------------------------------------ report
@dataclass(frozen=True)
class Hit:
    """Matches of one kind in one Parquet column, or on one text line (``lines`` > 1: merged lines)."""

    file: str
    kind: str
    count: int
    example: str  # masked
    column: str | None = None
    row: int | None = None  # first row (0-based) of a Parquet column hit
    line: int | None = None  # 1-based line of a text hit (the first of them when lines > 1)
    lines: int | None = None
    check_valid: int | None = None  # ID kinds: matches that pass the connectors' validator

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ScannedFile:
    file: str
    format: str  # 'parquet' | 'text'
    units: int  # rows (Parquet) or lines (text)
    encoding: str | None = None  # text: 'utf-8' or 'latin-1 (not UTF-8)'
    columns: int | None = None  # Parquet: string columns scanned

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class NotScanned:
    file: str
    reason: str
    column: str | None = None  # a Parquet column that could not be read as text

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class ScanReport:
    folder: str
    hits: list[Hit] = field(default_factory=list)
    files_scanned: list[ScannedFile] = field(default_factory=list)
    not_scanned: list[NotScanned] = field(default_factory=list)
    exempted: dict[str, int] = field(default_factory=dict)  # ID-shaped matches of exempt code values
    denylist_entries: int = 0

    @property
    def blocked(self) -> bool:
        return bool(self.hits)

    def totals(self) -> dict[str, int]:
        out = {k: 0 for k in KINDS}
        for h in self.hits:
            out[h.kind] += h.count
        return out

    def to_dict(self) -> dict:
        return {"folder": self.folder, "blocked": self.blocked, "totals": self.totals(),
                "hits": [h.to_dict() for h in self.hits], "files_scanned": [f.to_dict() for f in self.files_scanned],
                "not_scanned": [n.to_dict() for n in self.not_scanned], "exempted": dict(self.exempted),
                "denylist_entries": self.denylist_entries}


def raise_if_blocked(report: ScanReport, *, allow_not_scanned: bool = True) -> None:
    """:class:`ReleaseBlocked` when the report has hits (or, unless allowed, files it could not scan)."""
    problems: dict[str, set[str]] = {}
    for h in report.hits:
        problems.setdefault(h.file, set()).add(h.kind)
    if not allow_not_scanned:
        for n in report.not_scanned:
            problems.setdefault(n.file, set()).add("not_scanned")
    if problems:
        listed = "; ".join(f"{f}: {', '.join(sorted(k))}" for f, k in sorted(problems.items()))
        raise ReleaseBlocked(f"release blocked, {len(problems)} file(s): {listed}")


def _mask(value: str, shown: int) -> str:
    return value[:shown] + "*" * max(len(value) - shown, 0)


# ------------------------------------------------------------------------------------------------ denylist
def _weight(text: str) -> int:
    return len(text) + len(_WIDE_PY.findall(text))


class Denylist:
    """Names and addresses of the sources, normalised for whole-word matching; in memory only.

    Entry rules (see the module docstring for the normalisation):

    * every name and every address is an entry as a whole (its tokens in order);
    * each token of a name with a weight >= 4 is an entry too (``Matti Virtanen`` also blocks
      ``Virtanen`` alone), because releases rarely repeat a full name verbatim; address parts are
      not (``Main``, a city or a postcode alone is no one's address);
    * entries (and parts) of weight < :data:`MIN_ENTRY_WEIGHT` -- characters without separators, a
      CJK/kana/Hangul character counting 2 -- or without any letter are ignored: short strings and
      numbers (house numbers, postcodes, phone numbers) occur everywhere in outputs and would block
      every release.  ``王小明`` (weight 6) is kept; a one-character family name or a two-character
      given name alone is not a part (weight 2 per token), so CJK names match as full names only.

    Never written anywhere: no serialisation (pickling raises ``TypeError``) and ``repr`` shows counts only.
    """

    __slots__ = ("_single", "_single_bits", "_multi", "_multi_tokens", "stats")

    def __init__(self, names: Iterable[str] = (), addresses: Iterable[str] = ()):
        raw = [(s, 1, True) for s in names if s] + [(s, 2, False) for s in addresses if s]
        self.stats = {"names": sum(1 for r in raw if r[2]), "addresses": sum(1 for r in raw if not r[2]),
                      "ignored_short": 0, "ignored_no_letter": 0, "name_parts": 0}
        entries: dict[str, int] = {}
        if raw:
            for tokens, (_, bit, is_name) in zip(_token_lists([r[0] for r in raw]), raw):
                if self._keep(tokens):
                    key = " ".join(tokens[:MAX_ENTRY_TOKENS])
                    entries[key] = entries.get(key, 0) | bit
                if is_name and len(tokens) > 1:
                    for t in tokens:
                        if _weight(t) >= MIN_ENTRY_WEIGHT and _LETTER_PY.search(t):
                            self.stats["name_parts"] += t not in entries
                            entries[t] = entries.get(t, 0) | bit
        single = {k: b for k, b in entries.items() if " " not in k}
        self._single = pa.array(list(single), pa.large_string())
        self._single_bits = np.array(list(single.values()), dtype=np.uint8)
        by_n: dict[int, dict[str, int]] = {}
        for k, b in entries.items():
            if " " in k:
                by_n.setdefault(k.count(" ") + 1, {})[k] = b
        self._multi = {n: (pa.array(list(d), pa.large_string()), np.array(list(d.values()), dtype=np.uint8))
                       for n, d in sorted(by_n.items())}
        self._multi_tokens = pa.array(sorted({t for d in by_n.values() for k in d for t in k.split(" ")}),
                                      pa.large_string())
        self.stats["entries"] = len(entries)
        self.stats["multi_token_entries"] = sum(len(d) for d in by_n.values())

    def _keep(self, tokens: list[str]) -> bool:
        if not any(_LETTER_PY.search(t) for t in tokens):
            self.stats["ignored_no_letter"] += 1
            return False
        if sum(_weight(t) for t in tokens) < MIN_ENTRY_WEIGHT:
            self.stats["ignored_short"] += 1
            return False
        return True

    @classmethod
    def from_landing(cls, landing: Path | str) -> Denylist:
        """The names and addresses of the HL7 v2 and FHIR files under ``landing`` (:mod:`connectors.source_names`)."""
        from connectors.source_names import names_and_addresses

        names, addresses = names_and_addresses(Path(landing))
        return cls(names, addresses)

    def __len__(self) -> int:
        return self.stats["entries"]

    def __contains__(self, text: object) -> bool:
        """Whether ``text`` normalises to an entry (of either kind)."""
        if not isinstance(text, str):
            return False
        tokens = _token_lists([text])[0][:MAX_ENTRY_TOKENS]
        table = self._single if len(tokens) == 1 else self._multi.get(len(tokens), (None,))[0]
        return table is not None and pc.index_in(pa.scalar(" ".join(tokens), pa.large_string()),
                                                 value_set=table).is_valid

    def __repr__(self) -> str:
        return f"Denylist({self.stats['entries']} entries)"

    def __reduce__(self):
        raise TypeError("a Denylist holds personal data and is never serialised")


# ------------------------------------------------------------------------------------------------ matching
def _non_ascii(arr: pa.Array) -> pa.Array | None:
    """Boolean mask of the non-ASCII values, or None when every value is ASCII (or null)."""
    mask = pc.invert(pc.fill_null(pc.string_is_ascii(arr), True))
    return mask if pc.any(mask).as_py() else None


@dataclass
class _Prepared:
    """A value array in the forms the matchers read (computed once per array)."""

    raw: pa.Array
    folded: pa.Array  # names: NFKD without combining marks (compatibility forms, accents folded), case kept
    mask: pa.Array | None  # the non-ASCII values (None: all ASCII, ``folded`` is ``raw``)

    @classmethod
    def of(cls, arr: pa.Array) -> _Prepared:
        mask = _non_ascii(arr)
        if mask is None:
            return cls(arr, arr, None)
        sub = pc.replace_substring_regex(pc.utf8_normalize(arr.filter(mask), "NFKD"), r"\p{Mn}+", "")
        return cls(arr, pc.replace_with_mask(arr, mask, sub), mask)

    def id_text(self) -> pa.Array:
        """IDs: the values with full-width forms made ASCII (NFKC of those values only: accented and
        other non-ASCII letters stay, and stay word boundaries) and ``_`` as a space (RE2's ``\\b``
        counts ``_`` as a word character; we do not)."""
        text = self.raw
        if self.mask is not None:
            wide = pc.fill_null(pc.match_substring_regex(text, r"[\x{FF01}-\x{FF5E}]"), False)
            if pc.any(wide).as_py():
                text = pc.replace_with_mask(text, wide, pc.utf8_normalize(text.filter(wide), "NFKC"))
        return pc.replace_substring(text, "_", " ")

    def normalised(self) -> pa.Array:
        """Lower case (``ß`` -> ``ss``, ``ς`` -> ``σ``), NFKC, non-ASCII non-letters/digits as spaces,
        CJK/kana/Hangul characters surrounded by spaces."""
        out = pc.utf8_lower(self.folded)  # not ascii_lower: pyarrow 26 corrupts arrays whose offsets start above 0
        if self.mask is None:
            return out
        sub = pc.utf8_lower(self.folded.filter(self.mask))
        sub = pc.utf8_normalize(pc.replace_substring(pc.replace_substring(sub, "ß", "ss"), "ς", "σ"), "NFKC")
        sub = pc.replace_substring_regex(pc.replace_substring_regex(sub, _NOT_WORD_RE2, " "), _WIDE_RE2, r" \0 ")
        return pc.replace_with_mask(out, self.mask, sub)


def _tokenise(prep: _Prepared) -> tuple[pa.Array, np.ndarray]:
    """Tokens of the normalised values (large_string, in order) and the row of each token.

    A token is a maximal run of word bytes within one value (numpy over the UTF-8 buffer; after
    :meth:`_Prepared.normalised` every non-ASCII character left is a letter or digit, and a CJK/kana/Hangul
    character stands alone between spaces).
    """
    norm = prep.normalised()
    if norm.null_count:
        norm = pc.fill_null(norm, "")
    _, off_buf, data_buf = norm.buffers()
    offsets = np.frombuffer(off_buf, dtype=np.int64, count=len(norm) + 1, offset=norm.offset * 8)
    base, end = int(offsets[0]), int(offsets[-1])
    data = np.frombuffer(data_buf, dtype=np.uint8, count=end - base, offset=base) if end > base \
        else np.zeros(0, np.uint8)
    offsets = offsets - base
    word = _WORD_BYTE[data]
    step = np.diff(word.view(np.int8), prepend=np.int8(0), append=np.int8(0))
    bounds = offsets[1:-1]
    bounds = bounds[(bounds > 0) & (bounds < len(data))]
    inner = np.unique(bounds[word[bounds] & word[bounds - 1]])  # a run of word bytes across two values: split
    starts = np.flatnonzero(step == 1)
    ends = np.flatnonzero(step == -1)
    if inner.size:
        starts = np.sort(np.concatenate((starts, inner)))
        ends = np.sort(np.concatenate((ends, inner)))
    tok_offsets = np.concatenate(([0], np.cumsum(ends - starts))).astype(np.int64)
    tokens = pa.Array.from_buffers(pa.large_string(), len(starts),
                                   [None, pa.py_buffer(tok_offsets), pa.py_buffer(data[word].tobytes())])
    parents = np.searchsorted(offsets, starts, side="right") - 1
    return tokens, parents


def _token_lists(texts: list[str]) -> list[list[str]]:
    """Per text, its tokens (for building and querying a denylist: a few thousand strings)."""
    tokens, parents = _tokenise(_Prepared.of(pa.array(texts, pa.large_string())))
    out: list[list[str]] = [[] for _ in texts]
    for p, t in zip(parents.tolist(), tokens.to_pylist()):
        out[p].append(t)
    return out


@dataclass
class _Found:
    """Matches of one kind in an array: per row (unique, ascending) the count, check-valid count, first match."""

    rows: np.ndarray
    counts: np.ndarray
    valid: np.ndarray | None
    firsts: pa.Array  # the first matched value (or entry) of each row: masked before it is reported
    shown: int  # characters a masked example keeps


def _group(rows: np.ndarray, valid: np.ndarray | None, values: pa.Array, shown: int) -> _Found:
    order = np.argsort(rows, kind="stable")
    uniq, start, counts = np.unique(rows[order], return_index=True, return_counts=True)
    v = None if valid is None else np.add.reduceat(valid[order].astype(np.int64), start)
    return _Found(uniq, counts.astype(np.int64), v, values.take(pa.array(order[start])), shown)


def _find_ids(prep: _Prepared, exempt: pa.Array | None, exempted: dict[str, int]) -> dict[str, _Found]:
    text = prep.id_text()
    out: dict[str, _Found] = {}
    for kind, (re2, py_re, validator) in _ID_SHAPES.items():
        counts = pc.fill_null(pc.count_substring_regex(text, re2), 0).to_numpy(zero_copy_only=False)
        hit = np.flatnonzero(counts)
        if not hit.size:
            continue
        one = hit[counts[hit] == 1]
        rows = [one]
        values = [pc.struct_field(pc.extract_regex(text.take(pa.array(one)), f"(?P<v>{re2})"), [0])]
        many = hit[counts[hit] > 1]
        if many.size:  # values/lines holding several IDs (rare): Python over those only
            found = [(r, m.group(0)) for r, t in zip(many.tolist(), text.take(pa.array(many)).to_pylist())
                     for m in py_re.finditer(t)]
            rows.append(np.array([f[0] for f in found], dtype=np.int64))
            values.append(pa.array([f[1] for f in found], values[0].type))
        rows_a, values_a = np.concatenate(rows).astype(np.int64), pa.concat_arrays(values)
        if exempt is not None:
            ex = pc.is_in(values_a, value_set=exempt).to_numpy(zero_copy_only=False)
            if ex.any():
                exempted[kind] = exempted.get(kind, 0) + int(ex.sum())
                rows_a, values_a = rows_a[~ex], values_a.filter(pa.array(~ex))
        if rows_a.size:
            out[kind] = _group(rows_a, validator(values_a), values_a, 2)
    return out


def _find_entries(prep: _Prepared, dl: Denylist) -> dict[str, _Found]:
    tokens, parents = _tokenise(prep)
    rows: dict[int, list[np.ndarray]] = {1: [], 2: []}
    values: dict[int, list[pa.Array]] = {1: [], 2: []}

    def record(idx: np.ndarray, starts: np.ndarray, table: pa.Array, bits: np.ndarray) -> None:
        hit = np.flatnonzero(idx >= 0)
        for bit in (1, 2):
            sel = hit[(bits[idx[hit]] & bit) > 0]
            if sel.size:
                rows[bit].append(parents[starts[sel]])
                values[bit].append(table.take(pa.array(idx[sel])))

    if len(dl._single):
        idx = pc.fill_null(pc.index_in(tokens, value_set=dl._single), -1).to_numpy(zero_copy_only=False)
        record(idx, np.arange(len(tokens)), dl._single, dl._single_bits)
    if dl._multi:
        in_m = pc.is_in(tokens, value_set=dl._multi_tokens).to_numpy(zero_copy_only=False)
        cand = np.flatnonzero(in_m)
        if cand.size:  # run of consecutive multi-entry tokens from each candidate, within its row
            n_tok = len(tokens)
            falses = np.flatnonzero(~in_m)
            row_starts = np.flatnonzero(np.diff(parents) != 0) + 1
            run = np.minimum(np.append(falses, n_tok)[np.searchsorted(falses, cand)],
                             np.append(row_starts, n_tok)[np.searchsorted(row_starts, cand, side="right")]) - cand
            for n, (table, bits) in dl._multi.items():
                starts = cand[run >= n]
                if starts.size:
                    grams = pc.binary_join_element_wise(*[tokens.take(pa.array(starts + k)) for k in range(n)],
                                                        pa.scalar(" ", pa.large_string()))
                    idx = pc.fill_null(pc.index_in(grams, value_set=table), -1).to_numpy(zero_copy_only=False)
                    record(idx, starts, table, bits)
    return {kind: _group(np.concatenate(rows[bit]), None, pa.concat_arrays(values[bit]), 1)
            for kind, bit in _BITS.items() if rows[bit]}


@dataclass
class _Context:
    denylist: Denylist | None
    exempt: pa.Array | None
    chunk_bytes: int
    exempted: dict[str, int] = field(default_factory=dict)


def _scan_array(arr: pa.Array, ctx: _Context) -> dict[str, _Found]:
    """Hits per kind in a string array (rows = its positions)."""
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    if not len(arr) or arr.null_count == len(arr):
        return {}
    prep = _Prepared.of(arr)
    out = _find_ids(prep, ctx.exempt, ctx.exempted)
    if ctx.denylist is not None and len(ctx.denylist):
        out.update(_find_entries(prep, ctx.denylist))
    return out


def scan_values(values: Iterable[str | None] | pa.Array, *, denylist: Denylist | None = None,
                exempt: Iterable[str] = ()) -> dict[str, int]:
    """Matches per kind (kinds without a match left out) in a list or array of strings, e.g. before writing a table."""
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(list(values), pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    ex = sorted(set(exempt))
    found = _scan_array(arr, _Context(denylist, pa.array(ex, pa.large_string()) if ex else None, DEFAULT_CHUNK_BYTES))
    return {kind: int(found[kind].counts.sum()) for kind in KINDS if kind in found}


class _Hits:
    """Per (place, kind) -- place = Parquet column or text line -- occurrence arrays, grouped at the end."""

    def __init__(self) -> None:
        self.parts: dict[tuple[object, str], list[tuple[np.ndarray, np.ndarray, np.ndarray | None, pa.Array, int]]] = {}

    def add(self, place: object, found: dict[str, _Found], rows: Callable[[np.ndarray], np.ndarray]) -> None:
        for kind, f in found.items():
            self.parts.setdefault((place, kind), []).append((rows(f.rows), f.counts, f.valid, f.firsts, f.shown))

    def merged(self, place: object, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, pa.Array, int]:
        """(rows unique ascending, counts, valid counts, first value per row, shown) of one place and kind."""
        parts = self.parts[(place, kind)]
        rows = np.concatenate([p[0] for p in parts])
        counts = np.concatenate([p[1] for p in parts])
        valid = None if parts[0][2] is None else np.concatenate([p[2] for p in parts])
        firsts = pa.concat_arrays([p[3] for p in parts])
        order = np.argsort(rows, kind="stable")
        uniq, start = np.unique(rows[order], return_index=True)
        c = np.add.reduceat(counts[order], start)
        v = None if valid is None else np.add.reduceat(valid[order], start)
        return uniq, c, v, firsts.take(pa.array(order[start])), parts[0][4]


# ------------------------------------------------------------------------------------------------ Parquet
def _is_texty(t: pa.DataType) -> bool:
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
            or pa.types.is_large_binary(t) or pa.types.is_string_view(t):
        return True
    if pa.types.is_dictionary(t) or pa.types.is_list(t) or pa.types.is_large_list(t) \
            or pa.types.is_fixed_size_list(t):
        return _is_texty(t.value_type)
    if pa.types.is_map(t):
        return _is_texty(t.key_type) or _is_texty(t.item_type)
    if pa.types.is_struct(t):
        return any(_is_texty(t.field(i).type) for i in range(t.num_fields))
    return False


def _leaves(name: str, arr: pa.Array, rows: np.ndarray | None) -> Iterator[tuple[str, pa.Array, np.ndarray | None]]:
    """(column path, flat string-like array, top-level row of each position or None = the same)."""
    t = arr.type
    if not _is_texty(t):
        return
    if pa.types.is_map(t):  # as a list of key/value structs (list_parent_indices aborts on a MapArray)
        entry = pa.struct([pa.field("key", t.key_type), pa.field("value", t.item_type)])
        yield from _leaves(name, arr.cast(pa.list_(entry)), rows)
    elif pa.types.is_struct(t):
        for i, child in enumerate(arr.flatten()):
            yield from _leaves(f"{name}.{t.field(i).name}", child, rows)
    elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        parents = pc.list_parent_indices(arr).to_numpy(zero_copy_only=False).astype(np.int64)
        yield from _leaves(f"{name}[]", pc.list_flatten(arr), parents if rows is None else rows[parents])
    else:
        yield name, arr, rows


def _scan_leaf(arr: pa.Array, ctx: _Context) -> dict[str, _Found]:
    if pa.types.is_dictionary(arr.type):  # scan the dictionary once, count per row through the indices
        found = _scan_array(arr.dictionary, ctx)
        idx = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        out = {}
        for kind, f in found.items():
            per = np.zeros(len(arr.dictionary) + 1, dtype=np.int64)  # last slot: null indices
            per[f.rows] = f.counts
            rows = np.flatnonzero(per[idx])
            if not rows.size:
                continue
            valid = None
            if f.valid is not None:
                per_v = np.zeros_like(per)
                per_v[f.rows] = f.valid
                valid = per_v[idx[rows]]
            slot = np.full(len(per), -1, dtype=np.int64)
            slot[f.rows] = np.arange(len(f.rows))
            out[kind] = _Found(rows, per[idx[rows]], valid, f.firsts.take(pa.array(slot[idx[rows]])), f.shown)
        return out
    if pa.types.is_binary(arr.type) or pa.types.is_large_binary(arr.type):
        arr = arr.cast(pa.large_string())  # ArrowInvalid when not UTF-8: the caller lists the column
    return _scan_array(arr, ctx)


def _parquet_hits(rel: str, acc: _Hits) -> list[Hit]:
    hits = []
    for (col, kind) in sorted(acc.parts, key=lambda k: (k[0], KINDS.index(k[1]))):
        rows, counts, valid, firsts, shown = acc.merged(col, kind)
        hits.append(Hit(rel, kind, int(counts.sum()), _mask(firsts[0].as_py(), shown), column=col,
                        row=None if col == SCHEMA_COLUMN else int(rows[0]),
                        check_valid=None if valid is None else int(valid.sum())))
    return hits


def _scan_parquet(path: Path, rel: str, ctx: _Context) -> tuple[ScannedFile, list[Hit], list[NotScanned]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        schema = pf.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableReleaseFile(f"{rel}: not a readable Parquet file ({type(exc).__name__})") from None
    acc = _Hits()
    names: list[str] = []

    def field_names(f: pa.Field) -> None:
        names.append(f.name)
        t = f.type
        if pa.types.is_struct(t):
            for i in range(t.num_fields):
                field_names(t.field(i))
        elif pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
            field_names(t.value_field)

    for f in schema:
        field_names(f)
    meta = [(k + b" " + v).decode("utf-8", "replace") for k, v in (schema.metadata or {}).items()
            if k != b"ARROW:schema"]  # the serialised schema: its names are scanned above
    acc.add(SCHEMA_COLUMN, _scan_array(pa.array(names + meta, pa.large_string()), ctx), lambda r: r)
    columns = [f.name for f in schema if _is_texty(f.type)]
    bad: dict[str, str] = {}
    offset = 0
    try:
        for batch in (pf.iter_batches(batch_size=BATCH_ROWS, columns=columns, use_threads=False) if columns else ()):
            for name in columns:
                for leaf, arr, rows_map in _leaves(name, batch.column(name), None):
                    if leaf in bad:
                        continue
                    try:
                        found = _scan_leaf(arr, ctx)
                    except pa.ArrowInvalid:
                        bad[leaf] = "binary column whose values are not UTF-8 text"
                        continue
                    base = offset
                    acc.add(leaf, found, (lambda r, m=rows_map, b=base: (r if m is None else m[r]) + b))
            offset += batch.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise UnreadableReleaseFile(f"{rel}: cannot read Parquet data ({type(exc).__name__})") from None
    not_scanned = [NotScanned(rel, reason, column=col) for col, reason in sorted(bad.items())]
    return ScannedFile(rel, "parquet", pf.metadata.num_rows, columns=len(columns)), _parquet_hits(rel, acc), not_scanned


# ------------------------------------------------------------------------------------------------ text
_JSON_ESCAPE = re.compile(r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))")
_NEWLINE_ENTITY = re.compile(r"&(?:#0*1[03](?![0-9])|#[xX]0*[aAdD](?![0-9a-fA-F])|NewLine);?")
_CUT_RE = re.compile(b"[" + re.escape(bytes(_CUT_BYTES)) + b"]")
_BOM = b"\xef\xbb\xbf"


def _json_unescape(m: re.Match) -> str:
    if m.group(1):
        return chr(0x10000 + ((int(m.group(1), 16) - 0xD800) << 10) + int(m.group(2), 16) - 0xDC00)
    if m.group(3):
        c = int(m.group(3), 16)
        return " " if c < 0x20 or 0xD800 <= c <= 0xDFFF else chr(c)  # no line breaks, no lone surrogates
    return " " if m.group(4) in "nrtbf" else m.group(4)


def _decode_markup(window: bytes, flavour: str) -> bytes:
    """JSON escapes or HTML/XML entities decoded, never adding a line break (line numbers stay)."""
    if flavour == "json" and b"\\" in window:
        return _JSON_ESCAPE.sub(_json_unescape, window.decode("utf-8")).encode("utf-8")
    if flavour == "markup" and b"&" in window:
        return html.unescape(_NEWLINE_ENTITY.sub(" ", window.decode("utf-8"))).encode("utf-8", "replace")
    return window


def _lines_array(window: bytes) -> pa.Array:
    """The lines of ``window`` (each with its newline) as a large_string array; :class:`_NotUtf8` if invalid."""
    data = np.frombuffer(window, dtype=np.uint8)
    ends = np.flatnonzero(data == 10) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    raw = pa.Array.from_buffers(pa.large_binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(window)])
    try:
        return raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        raise _NotUtf8() from None


def _last_cut(buf: bytes) -> int:
    """Index just after the last cut byte of ``buf``, or -1."""
    pos = max(buf.rfind(bytes([c])) for c in _CUT_BYTES)
    return pos + 1 if pos >= 0 else -1


def _windows(stream, chunk: int, recode: Callable[[bytes], bytes]) -> Iterator[tuple[bytes, int, int]]:
    """(window, line number of its first line, length of its overlap prefix) of a text stream.

    A window ends at a line end, or -- inside a line longer than ``chunk`` -- just after a cut
    byte; the next window then starts with an overlap (up to :data:`OVERLAP_BYTES`, starting
    just after a cut byte) whose own matches the caller subtracts, so that a multi-token entry
    across the cut is found and nothing is counted twice.
    """
    carry, overlap, line, first = b"", b"", 1, True
    while block := stream.read(chunk):
        if first and block.startswith(_BOM):
            block = block[len(_BOM):]
        first = False
        buf = carry + recode(block)
        nl = buf.rfind(b"\n")
        if nl >= 0:
            yield overlap + buf[: nl + 1], line, len(overlap)
            line += buf.count(b"\n", 0, nl + 1)
            carry, overlap = buf[nl + 1:], b""
        else:
            carry = buf
        if len(carry) > chunk:
            cut = _last_cut(carry)
            if cut <= 0 and len(carry) > 4 * chunk:
                cut = len(carry)  # no separator in 4 blocks: a hard cut (it may split one token)
            if cut > 0:
                piece = overlap + carry[:cut]
                yield piece, line, len(overlap)
                m = _CUT_RE.search(piece, max(len(piece) - OVERLAP_BYTES, 0))
                overlap = piece[m.end():] if m else b""
                carry = carry[cut:]
    if carry:
        yield overlap + carry, line, len(overlap)


_WIDE_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
              (codecs.BOM_UTF16_BE, "utf-16"))  # UTF-32 LE first: its BOM starts with the UTF-16 LE one


def _wide_codec(head: bytes) -> str | None:
    return next((name for bom, name in _WIDE_BOMS if head.startswith(bom)), None)


def _scan_text(opener: Callable[[], object], rel: str, flavour: str, ctx: _Context, codec: str
               ) -> tuple[ScannedFile, list[Hit]]:
    """Scan one text file read as ``codec`` ('utf-8' raises :class:`_NotUtf8` on invalid bytes)."""
    if codec == "utf-8":
        recode = None
    else:  # re-encoded to UTF-8 block by block (an incremental decoder keeps characters split across blocks)
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")

        def recode(b: bytes) -> bytes:
            return decoder.decode(b).encode("utf-8")
    acc = _Hits()
    lines = 0
    with opener() as stream:
        for window, line, overlap in _windows(stream, ctx.chunk_bytes, recode or (lambda b: b)):
            try:
                found = _scan_array(_lines_array(_decode_markup(window, flavour)), ctx)
                seen = {}
                if overlap:  # its exempted matches were counted with the previous window too
                    scratch = _Context(ctx.denylist, ctx.exempt, ctx.chunk_bytes)
                    seen = _scan_array(_lines_array(_decode_markup(window[:overlap], flavour)), scratch)
                    for kind, n in scratch.exempted.items():
                        ctx.exempted[kind] = ctx.exempted.get(kind, 0) - n
            except UnicodeDecodeError:
                raise _NotUtf8() from None
            for kind, f in found.items():
                if kind in seen:  # matches inside the overlap were counted with the previous window (row 0)
                    counts = f.counts.copy()
                    counts[f.rows == 0] -= int(seen[kind].counts.sum())
                    valid = None
                    if f.valid is not None:
                        valid = f.valid.copy()
                        valid[f.rows == 0] -= int(seen[kind].valid.sum())
                    keep = counts > 0
                    f = _Found(f.rows[keep], counts[keep], None if valid is None else valid[keep],
                               f.firsts.filter(pa.array(keep)), f.shown)
                if f.rows.size:
                    acc.add("text", {kind: f}, lambda r, base=line: r + base)
            lines = line + window.count(b"\n") - (1 if window.endswith(b"\n") else 0)
    hits: list[Hit] = []
    for kind in KINDS:
        if ("text", kind) not in acc.parts:
            continue
        rows, counts, valid, firsts, shown = acc.merged("text", kind)
        k = min(len(rows), MAX_LINE_HITS)
        examples = [_mask(v, shown) for v in firsts.slice(0, k + 1).to_pylist()]
        for i in range(k):
            hits.append(Hit(rel, kind, int(counts[i]), examples[i], line=int(rows[i]),
                            check_valid=None if valid is None else int(valid[i])))
        if len(rows) > k:  # the rest in one hit: counts stay exact, the report stays small
            hits.append(Hit(rel, kind, int(counts[k:].sum()), examples[k], line=int(rows[k]), lines=len(rows) - k,
                            check_valid=None if valid is None else int(valid[k:].sum())))
    return ScannedFile(rel, "text", lines, encoding="latin-1 (not UTF-8)" if codec == "latin-1" else codec), hits


def _scan_text_file(opener: Callable[[], object], rel: str, flavour: str, ctx: _Context
                    ) -> tuple[ScannedFile, list[Hit]]:
    """UTF-16/32 by byte-order mark, else UTF-8, else (any invalid byte) Latin-1 from a clean slate."""
    try:
        with opener() as stream:
            codec = _wide_codec(stream.read(4)) or "utf-8"
        local = _Context(ctx.denylist, ctx.exempt, ctx.chunk_bytes)
        try:
            found = _scan_text(opener, rel, flavour, local, codec)
        except _NotUtf8:
            local = _Context(ctx.denylist, ctx.exempt, ctx.chunk_bytes)
            found = _scan_text(opener, rel, flavour, local, "latin-1")
    except (OSError, EOFError) as exc:
        raise UnreadableReleaseFile(f"{rel}: cannot read ({type(exc).__name__})") from None
    for kind, n in local.exempted.items():
        ctx.exempted[kind] = ctx.exempted.get(kind, 0) + n
    return found


# ------------------------------------------------------------------------------------------------ files
def _classify(path: Path) -> tuple[str, str]:
    """(format, flavour or reason): ('parquet', ''), ('text', 'json'|'markup'|'plain'), ('gzip-text', flavour),
    or ('skip', reason)."""
    name = path.name.lower()
    suffix = Path(name).suffix
    if suffix == ".gz":
        inner = Path(name[:-3]).suffix
        if inner in TEXT_SUFFIXES:
            return "gzip-text", _flavour(inner)
        return "skip", f"gzip-compressed {inner or 'file'}: only compressed text formats are scanned"
    if suffix in PARQUET_SUFFIXES:
        return "parquet", ""
    if suffix in TEXT_SUFFIXES:
        return "text", _flavour(suffix)
    if suffix in BINARY_SUFFIXES:
        return "skip", f"binary format ({suffix}): no text or Parquet reader for it"
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
    except OSError as exc:
        raise UnreadableReleaseFile(f"cannot read a file of the release ({type(exc).__name__})") from None
    if head.startswith(b"PAR1"):
        return "parquet", ""
    if b"\x00" in head and _wide_codec(head) is None:
        return "skip", f"binary content (file type {suffix or 'without extension'}): no reader for it"
    return "text", "plain"


def _flavour(suffix: str) -> str:
    return "json" if suffix in _JSON_SUFFIXES else "markup" if suffix in _MARKUP_SUFFIXES else "plain"


def _walk(folder: Path) -> tuple[list[str], list[NotScanned]]:
    """Relative paths (posix, sorted) of the regular files; symlinked directories and special files listed apart."""
    files, odd = [], []
    for root, dirs, names in os.walk(folder, followlinks=False):
        base = Path(root)
        for d in dirs:
            if (base / d).is_symlink():
                odd.append(NotScanned((base / d).relative_to(folder).as_posix(), "symbolic link to a directory: "
                                      "not followed"))
        for n in names:
            p = base / n
            rel = p.relative_to(folder).as_posix()
            (files if p.is_file() else odd).append(rel if p.is_file() else NotScanned(rel, "not a regular file"))
    return sorted(files), sorted(odd, key=lambda x: x.file)


def scan_release(folder: Path | str, *, denylist: Denylist | None = None,
                 progress: Callable[[str, int, int], None] | None = None, exempt: Iterable[str] = (),
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> ScanReport:
    """Scan every file under ``folder`` (see the module rules).

    ``denylist``: source names and addresses (None: identifier shapes only).  ``progress(file,
    done, total)`` is called after each file.  ``exempt``: code values that are not identifiers
    although ID-shaped (e.g. the NHI drug codes of the drug master).  ``chunk_bytes``: text block size.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ScanError(f"release folder {root} does not exist or is not a directory")
    if chunk_bytes < 2 * OVERLAP_BYTES:
        raise ScanError(f"chunk_bytes must be at least {2 * OVERLAP_BYTES}, got {chunk_bytes}")
    ex = sorted(set(exempt))
    ctx = _Context(denylist, pa.array(ex, pa.large_string()) if ex else None, chunk_bytes)
    files, odd = _walk(root)
    report = ScanReport(str(root), denylist_entries=len(denylist) if denylist is not None else 0)
    path_hits = _scan_array(pa.array(files, pa.large_string()), ctx)
    shown = {i: rel for i, rel in enumerate(files)}
    for kind, f in path_hits.items():
        valid = [None] * len(f.rows) if f.valid is None else f.valid.tolist()
        for i, c, v, first in zip(f.rows.tolist(), f.counts.tolist(), valid, f.firsts.to_pylist()):
            shown[i] = f"[path withheld: file {i + 1} of {len(files)}]"
            report.hits.append(Hit(shown[i], kind, c, _mask(first, f.shown), column=PATH_COLUMN, check_valid=v))
    for i, rel in enumerate(files):
        path, name = root / rel, shown[i]
        fmt, how = _classify(path)
        if fmt == "parquet":
            scanned, hits, skipped = _scan_parquet(path, name, ctx)
            report.not_scanned += skipped
        elif fmt in ("text", "gzip-text"):
            opener = (lambda p=path: gzip.open(p, "rb")) if fmt == "gzip-text" else (lambda p=path: p.open("rb"))
            scanned, hits = _scan_text_file(opener, name, how, ctx)
        else:
            report.not_scanned.append(NotScanned(name, how))
            scanned, hits = None, []
        if scanned is not None:
            report.files_scanned.append(scanned)
        report.hits += hits
        if progress is not None:
            progress(name, i + 1, len(files))
    report.not_scanned += odd
    report.exempted = dict(ctx.exempted)
    return report
