"""Read FHIR input files into blocks of JSON documents (Arrow tables), without parsing JSON in Python.

Two input kinds (:data:`.layout.INPUT_KINDS`), either optionally gzip-compressed:

* **NDJSON** (``.ndjson``, ``.jsonl``): one JSON document per line.  The file
  is read in blocks of about ``chunk_bytes`` cut after a newline; a block's
  lines become one Arrow string column without a Python loop (newline
  positions by numpy, the Arrow array built from the block's buffer and
  those offsets).  ``line`` is the 1-based physical line number.  Blank
  lines are skipped and counted.
* **JSON document** (``.json``): the whole file is one document (a Bundle, or
  a single resource), ``line`` 0.

A UTF-8 byte-order mark at the start of a file is dropped.

A line (or document) that is not valid UTF-8 is refused here (``invalid_json``
with "not valid UTF-8"); finding *which* lines of a block are bad is the only
per-line Python work, and only runs when the block as a whole fails the
(C-level) UTF-8 check.  Everything else (JSON validity, bundle expansion,
field extraction) is DuckDB's work (:mod:`.flatten`).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .layout import JSON_DOCUMENT, NDJSON, FhirInput

DEFAULT_CHUNK_BYTES = 16 << 20
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some exporters write first


class UnreadableInput(OSError):
    """An input file cannot be opened or decompressed."""


@dataclass
class Block:
    """One block of documents of a file: ``docs`` has ``line`` (int64) and ``text`` (large_string)."""

    index: int
    docs: pa.Table
    bad_utf8: list[int] = field(default_factory=list)  # line numbers refused as not UTF-8
    blank_lines: int = 0
    nbytes: int = 0


def _open(path: Path):
    try:
        return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")
    except OSError as exc:
        raise UnreadableInput(f"cannot open FHIR input {path}: {exc}") from exc


def _doc_table(lines: np.ndarray, texts: pa.Array) -> pa.Table:
    return pa.table({"line": pa.array(lines, pa.int64()), "text": texts})


def split_lines(buf: bytes, first_line: int) -> Block:
    """The non-blank lines of ``buf`` (whole lines) as a :class:`Block` (index 0), numbered from ``first_line``."""
    data = np.frombuffer(buf, dtype=np.uint8)
    newlines = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], newlines + 1)).astype(np.int64)
    ends = np.concatenate((newlines + 1, [len(data)])).astype(np.int64)
    if len(data) and data[-1] == 10:  # the text after the last newline is empty: not a line
        starts, ends = starts[:-1], ends[:-1]
    n = len(starts)
    offsets = np.concatenate((starts, ends[-1:] if n else [0])).astype(np.int64)
    raw = pa.Array.from_buffers(pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(buf)])
    numbers = np.arange(first_line, first_line + n, dtype=np.int64)
    bad: list[int] = []
    try:
        text = raw.cast(pa.large_string())  # validates UTF-8 in C
    except pa.ArrowInvalid:
        ok = np.ones(n, dtype=bool)
        for i, b in enumerate(raw.to_pylist()):  # only when the block holds invalid UTF-8: find the bad lines
            try:
                b.decode("utf-8")
            except UnicodeDecodeError:
                ok[i] = False
        bad = numbers[~ok].tolist()
        keep = pa.array(ok)
        raw, numbers = raw.filter(keep), numbers[ok]
        text = raw.cast(pa.large_string())
    # blank = only whitespace (the trailing \n or \r\n stays in the text: JSON allows it)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0).to_numpy(zero_copy_only=False)
    docs = _doc_table(numbers[~blank], text.filter(pa.array(~blank)))
    return Block(0, docs, bad, int(blank.sum()), len(buf))


def ndjson_blocks(path: Path, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Block]:
    """Blocks of whole lines of an NDJSON file (gzip or plain), about ``chunk_bytes`` each."""
    index, line, carry = 0, 1, b""
    with _open(path) as fh:
        while True:
            try:
                piece = fh.read(chunk_bytes)
            except (OSError, EOFError) as exc:
                raise UnreadableInput(f"cannot read FHIR input {path}: {exc}") from exc
            if not piece:
                break
            if index == 0 and not carry and piece.startswith(BOM):  # a byte-order mark is not part of line 1
                piece = piece[len(BOM):]
            buf = carry + piece
            cut = buf.rfind(b"\n")
            if cut < 0:  # no newline yet: keep reading (a line longer than a block)
                carry = buf
                continue
            carry = buf[cut + 1:]
            block = split_lines(buf[: cut + 1], line)
            line += buf.count(b"\n", 0, cut + 1)
            block.index = index
            index += 1
            yield block
        if carry:
            block = split_lines(carry, line)
            block.index = index
            yield block


def document_block(path: Path) -> Block:
    """The whole file as one document (line 0)."""
    with _open(path) as fh:
        try:
            buf = fh.read()
        except (OSError, EOFError) as exc:
            raise UnreadableInput(f"cannot read FHIR input {path}: {exc}") from exc
    try:
        text = buf.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return Block(0, _doc_table(np.zeros(0, np.int64), pa.array([], pa.large_string())), [0], 0, len(buf))
    if not text.strip():
        return Block(0, _doc_table(np.zeros(0, np.int64), pa.array([], pa.large_string())), [], 1, len(buf))
    return Block(0, _doc_table(np.zeros(1, np.int64), pa.array([text], pa.large_string())), [], 0, len(buf))


def blocks(path: Path, kind: FhirInput, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[Block]:
    """The blocks of an input file of ``kind``."""
    if kind is NDJSON or kind.key == NDJSON.key:
        yield from ndjson_blocks(path, chunk_bytes)
    elif kind is JSON_DOCUMENT or kind.key == JSON_DOCUMENT.key:
        yield document_block(path)
    else:
        raise ValueError(f"unknown FHIR input kind {kind!r}")
