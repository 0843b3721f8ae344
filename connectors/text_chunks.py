"""Chunked reader for delimited text files without quoting (CSV/TSV/semicolon).

The file is read in byte blocks of about ``chunk_bytes`` cut at the last
``b"\\n"`` (safe for CP950/Big5: 0x0A is never a trail byte), so memory stays
bounded whatever the file size.  Each block becomes one :class:`TextChunk`:
an Arrow table with every column as string plus ``_row_number`` (the physical
line number, header = line 1), and the list of lines that were rejected with a
reason.  Every physical data line ends in exactly one of the two.

Per block:

1. Pure-ASCII blocks (``bytes.isascii()``) need no decoding.  Otherwise only
   the lines holding a byte >= 0x80 (found with numpy, never a Python loop
   over all lines) are checked one by one: bytes invalid in the codec ->
   ``undecodable``; in a file whose codec is not UTF-8, a line that is valid
   UTF-8 with non-ASCII text -> ``wrong_encoding`` (CP950 Chinese text is
   almost never valid UTF-8, so such a line was written by another tool).
   The remaining bytes are decoded once, as a whole, to UTF-8.
2. Field counts.  Fast path: when the block holds no empty line and no bare
   carriage return (C-level substring scans), ``pyarrow.csv`` parses it with
   an ``invalid_row_handler`` that lists rows with the wrong field count; if
   it lists none, every line is a row and line numbers follow.  If it lists
   some, with their line index (single-threaded parsing gives it), lines are
   still rows for the parser, so those lines are rejected and the other rows
   keep their numbers, without a second parse.  Otherwise the
   exact path counts fields per line with numpy on the UTF-8 buffer (where an
   ASCII delimiter is never the trail byte of a character, unlike ``|`` in
   CP950 ``育``), rejects lines with the wrong count or a bare CR
   (``wrong_field_count``), and parses the rest with the handler as a guard
   raising :class:`ReaderInvariantError`.  The line numbers come from our own
   count because pyarrow reports none when parsing with threads, reads an
   empty line as a row of empty fields, and breaks lines at a bare CR.
3. Parsing uses no quoting and no escaping, all columns string, empty lines
   not ignored.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

DEFAULT_CHUNK_BYTES = 16 << 20
ROW_NUMBER = "_row_number"

# ASCII-compatible codecs in which bytes below 0x40 (newline, CR, the usual
# delimiters) only ever stand for themselves.
SUPPORTED_CODECS = frozenset(
    {"ascii", "utf-8", "cp950", "big5", "big5hkscs", "latin-1", "iso8859-1", "iso8859-15", "cp1252"}
)
_UTF8_NAMES = frozenset({"utf-8", "ascii"})

_NL, _CR = 0x0A, 0x0D


class TextFormatError(ValueError):
    """The file cannot be read as delimited text (bad header, unsupported codec...)."""


class ReaderInvariantError(RuntimeError):
    """The CSV parser disagreed with our own field count: line numbers would be wrong."""


@dataclass(frozen=True)
class RejectedLine:
    """One physical line that did not make it into the parsed table."""

    line_number: int  # physical line number in the file, header = 1
    reason: str  # 'undecodable' | 'wrong_encoding' | 'wrong_field_count'
    detail: str  # never the line's text (it may hold identifiers)


@dataclass
class TextChunk:
    """One block of the file: parsed rows plus the lines rejected from it."""

    index: int  # 0-based chunk number within the file
    first_line: int  # physical line number of the chunk's first line
    n_lines: int  # physical lines in the chunk (= table rows + rejected)
    table: pa.Table  # the columns, all string, then ``_row_number`` int64
    rejected: list[RejectedLine] = field(default_factory=list)
    end_offset: int = 0  # byte offset in the file just after this chunk


def normalise_codec(encoding: str) -> str:
    """Canonical codec name; raises :class:`TextFormatError` for unsupported codecs."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise TextFormatError(f"unknown text encoding {encoding!r}") from exc
    if name not in SUPPORTED_CODECS:
        raise TextFormatError(
            f"encoding {encoding!r} is not supported: the reader needs an ASCII-compatible codec "
            f"whose multibyte characters never contain bytes below 0x40 ({sorted(SUPPORTED_CODECS)})"
        )
    return name


class LineBlock(NamedTuple):
    data: bytes  # whole lines; ends with b"\n" except possibly the file's last block
    first_line: int  # physical line number of the first line
    n_lines: int  # physical lines in ``data``
    end_offset: int  # file offset just after the block


def iter_line_blocks(
    f: BinaryIO, chunk_bytes: int = DEFAULT_CHUNK_BYTES, first_line: int = 1
) -> Iterator[LineBlock]:
    """Yield blocks of whole lines of about ``chunk_bytes`` from a binary file.

    Blocks are cut after the last ``b"\n"``; a line longer than
    ``chunk_bytes`` makes its block longer (a line is never cut).  A final
    line without a newline still counts as a line.
    """
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    carry = b""
    line = first_line
    offset = f.tell()
    while True:
        data = f.read(chunk_bytes)
        if not data:
            if carry:
                offset += len(carry)
                yield LineBlock(carry, line, carry.count(b"\n") + 1, offset)
            return
        buf = carry + data if carry else data
        cut = buf.rfind(b"\n")
        if cut < 0:
            carry = buf
            continue
        block, carry = buf[: cut + 1], buf[cut + 1 :]
        offset += len(block)
        n = block.count(b"\n")
        yield LineBlock(block, line, n, offset)
        line += n


def _line_bounds(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets and end offsets (position of the '\\n') of the lines of a buffer ending in '\\n'."""
    ends = np.flatnonzero(arr == _NL)
    starts = np.empty_like(ends)
    if ends.size:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    return starts, ends


def _per_line_counts(positions: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """How many of the sorted byte ``positions`` fall in each line (lines given by their '\\n' offsets)."""
    upto = np.searchsorted(positions, ends)
    counts = np.empty_like(upto)
    if upto.size:
        counts[0] = upto[0]
        counts[1:] = np.diff(upto)
    return counts


def _drop_lines(arr: np.ndarray, starts: np.ndarray, ends: np.ndarray, drop: np.ndarray) -> bytes:
    """The buffer without the lines flagged in ``drop`` (vectorised byte mask)."""
    if not drop.any():
        return arr.tobytes()
    keep = np.repeat(~drop, ends - starts + 1)  # one flag per byte, lines cover the whole buffer
    return arr[keep].tobytes()


class DelimitedTextFile:
    """A delimited text file with a header line, read in bounded chunks.

    ``header`` holds the header's field names (decoded, stripped, BOM
    removed).  :meth:`chunks` yields :class:`TextChunk` objects whose tables
    have ``column_names`` (default: the header) as string columns.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        encoding: str = "cp950",
        delimiter: str = ",",
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        use_threads: bool = False,
        flag_utf8_lines: bool | None = None,
    ):
        self.path = Path(path)
        self.codec = normalise_codec(encoding)
        if len(delimiter) != 1 or ord(delimiter) >= 0x80 or delimiter in "\r\n":
            raise TextFormatError(f"delimiter must be one ASCII character other than CR/LF, got {delimiter!r}")
        self.delimiter = delimiter
        self.chunk_bytes = chunk_bytes
        self.use_threads = use_threads
        # In a non-UTF-8 file, a valid UTF-8 line with non-ASCII text is 'wrong_encoding'.
        self.flag_utf8_lines = (self.codec not in _UTF8_NAMES) if flag_utf8_lines is None else flag_utf8_lines
        self.size = self.path.stat().st_size
        self.header, self._data_offset = self._read_header()

    def _read_header(self) -> tuple[list[str], int]:
        with self.path.open("rb") as f:
            raw = f.readline(1 << 20)
            offset = f.tell()
        if raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        raw = raw.rstrip(b"\r\n")
        if not raw:
            return [], offset
        try:
            text = raw.decode(self.codec)
        except UnicodeDecodeError as exc:
            raise TextFormatError(f"{self.path.name}: line 1 (header) is not valid {self.codec}: {exc.reason}") from exc
        return [name.strip() for name in text.split(self.delimiter)], offset

    def chunks(self, column_names: list[str] | None = None) -> Iterator[TextChunk]:
        """Yield the data lines (line 2 on) as :class:`TextChunk` objects, in file order."""
        names = list(column_names if column_names is not None else self.header)
        if not names:
            raise TextFormatError(f"{self.path.name}: no column names (empty header)")
        for index, block in enumerate(self.blocks()):
            yield self.parse_block(block, names, index)

    def blocks(self) -> Iterator[LineBlock]:
        """The data lines (line 2 on) as raw :class:`LineBlock` objects, in file order (no parsing).

        With :meth:`parse_block` this splits :meth:`chunks` in two, so that
        blocks can be read in one process and parsed in others.
        """
        with self.path.open("rb") as f:
            f.seek(self._data_offset)
            yield from iter_line_blocks(f, self.chunk_bytes, first_line=2)

    def parse_block(self, block: LineBlock, column_names: list[str] | None = None, index: int = 0) -> TextChunk:
        """Parse one block from :meth:`blocks` into a :class:`TextChunk` numbered ``index``."""
        names = list(column_names if column_names is not None else self.header)
        if not names:
            raise TextFormatError(f"{self.path.name}: no column names (empty header)")
        chunk = self._parse_block(block, names)
        chunk.index = index
        chunk.end_offset = block.end_offset
        return chunk

    @property
    def data_offset(self) -> int:
        """Byte offset of the first data line (just after the header line)."""
        return self._data_offset

    # -- one block ---------------------------------------------------------

    def _parse_block(self, lines: LineBlock, names: list[str]) -> TextChunk:
        block, first_line, n_lines = lines.data, lines.first_line, lines.n_lines
        if not block.endswith(b"\n"):
            block += b"\n"
        rejected: list[RejectedLine] = []
        line_numbers = np.arange(first_line, first_line + n_lines, dtype=np.int64)
        if block.isascii():
            utf8 = block
        else:
            utf8, line_numbers = self._decode(block, line_numbers, rejected)
        if self._looks_clean(utf8):
            table, complaints = self._parse_csv(utf8, names, strict=False)
            if not complaints and table.num_rows == len(line_numbers):
                table = table.append_column(ROW_NUMBER, pa.array(line_numbers, type=pa.int64()))
                return TextChunk(0, first_line, n_lines, table, sorted(rejected, key=lambda r: r.line_number))
            if complaints:
                # Lines are lines for the parser too (no empty line, no bare CR): it skipped exactly
                # the lines whose field count is wrong; name them without parsing again.
                found = self._skipped_lines(complaints, line_numbers, len(names))
                if found is not None and table.num_rows + len(found[0]) == len(line_numbers):
                    table = table.append_column(ROW_NUMBER, pa.array(found[1], type=pa.int64()))
                    rejected.extend(found[0])
                    rejected.sort(key=lambda r: r.line_number)  # a sort of the rejected lines only
                    return TextChunk(0, first_line, n_lines, table, rejected)
        # exact path: count fields per line with numpy, drop bad lines, parse the rest
        utf8, line_numbers = self._check_fields(utf8, line_numbers, len(names), rejected)
        table, _ = self._parse_csv(utf8, names, strict=True)
        if table.num_rows != len(line_numbers):
            raise ReaderInvariantError(
                f"{self.path.name}: parser returned {table.num_rows} rows for {len(line_numbers)} lines"
            )
        table = table.append_column(ROW_NUMBER, pa.array(line_numbers, type=pa.int64()))
        rejected.sort(key=lambda r: r.line_number)  # a sort of the rejected lines only
        return TextChunk(0, first_line, n_lines, table, rejected)

    def _skipped_lines(
        self, complaints: list[tuple[int | None, int]], line_numbers: np.ndarray, n_fields: int
    ) -> tuple[list[RejectedLine], np.ndarray] | None:
        """The lines the parser skipped (by its 1-based line index) and the line numbers of the rows it kept.

        None when the parser gave no line index (threaded parsing) or an
        inconsistent one: the caller then takes the exact path.
        """
        index = np.array([-1 if i is None else i - 1 for i, _ in complaints], dtype=np.int64)  # skipped lines only
        if index.size == 0 or index.min() < 0 or index.max() >= line_numbers.size or np.any(np.diff(index) <= 0):
            return None
        found = [
            RejectedLine(int(line_numbers[i]), "wrong_field_count", f"expected {n_fields} fields, found {actual}")
            for i, (_, actual) in zip(index.tolist(), complaints)
        ]
        keep = np.ones(line_numbers.size, dtype=bool)
        keep[index] = False
        return found, line_numbers[keep]

    @staticmethod
    def _looks_clean(utf8: bytes) -> bool:
        """No empty line and no bare CR (C-level scans): then the parser alone can judge field counts."""
        if utf8.startswith((b"\n", b"\r\n")) or b"\n\n" in utf8:
            return False
        crs = utf8.count(b"\r")
        return crs == 0 or (crs == utf8.count(b"\r\n") and b"\n\r\n" not in utf8)

    def _decode(
        self, block: bytes, line_numbers: np.ndarray, rejected: list[RejectedLine]
    ) -> tuple[bytes, np.ndarray]:
        arr = np.frombuffer(block, dtype=np.uint8)
        starts, ends = _line_bounds(arr)
        high = np.flatnonzero(arr >= 0x80)
        lines_high = np.unique(np.searchsorted(ends, high))
        drop = np.zeros(ends.size, dtype=bool)
        codec = self.codec
        check_codec = codec not in ("latin-1", "iso8859-1")  # every byte is valid Latin-1
        for i in lines_high.tolist():  # only lines that hold a byte >= 0x80
            line = block[starts[i] : ends[i]]
            if self.flag_utf8_lines:
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    drop[i] = True
                    rejected.append(
                        RejectedLine(int(line_numbers[i]), "wrong_encoding", f"valid UTF-8 text in a {codec} file")
                    )
                    continue
            if check_codec:
                try:
                    line.decode(codec)
                except UnicodeDecodeError as exc:
                    drop[i] = True
                    bad = line[exc.start : exc.end].hex(" ")
                    rejected.append(
                        RejectedLine(
                            int(line_numbers[i]),
                            "undecodable",
                            f"bytes {bad} at offset {exc.start} are not valid {codec}",
                        )
                    )
        kept = _drop_lines(arr, starts, ends, drop)
        if codec not in _UTF8_NAMES:
            kept = kept.decode(codec).encode("utf-8")
        return kept, line_numbers[~drop]

    def _check_fields(
        self, utf8: bytes, line_numbers: np.ndarray, n_fields: int, rejected: list[RejectedLine]
    ) -> tuple[bytes, np.ndarray]:
        """Drop (and report) lines with the wrong number of fields or a bare CR."""
        arr = np.frombuffer(utf8, dtype=np.uint8)
        starts, ends = _line_bounds(arr)
        if not ends.size:
            return utf8, line_numbers
        counts = _per_line_counts(np.flatnonzero(arr == ord(self.delimiter)), ends) + 1
        crs = _per_line_counts(np.flatnonzero(arr == _CR), ends)
        crlf = np.zeros(ends.size, dtype=bool)
        nonempty = ends > starts
        crlf[nonempty] = arr[ends[nonempty] - 1] == _CR
        bare_cr = (crs - crlf) > 0
        bad = (counts != n_fields) | bare_cr
        for i in np.flatnonzero(bad).tolist():  # only the bad lines
            if bare_cr[i]:
                detail = "carriage return inside the line"
            else:
                detail = f"expected {n_fields} fields, found {int(counts[i])}"
            rejected.append(RejectedLine(int(line_numbers[i]), "wrong_field_count", detail))
        return _drop_lines(arr, starts, ends, bad), line_numbers[~bad]

    def _parse_csv(self, utf8: bytes, names: list[str], strict: bool) -> tuple[pa.Table, list[tuple[int | None, int]]]:
        """Parse clean UTF-8 lines; returns the table and the rows the parser found invalid.

        Not ``strict``: invalid rows are skipped and listed as (1-based line
        index in ``utf8`` or None when parsing with threads, field count).
        ``strict``: an invalid row raises :class:`ReaderInvariantError`, since
        every line was already counted.
        """
        if not utf8:
            return pa.table([pa.array([], type=pa.string()) for _ in names], names=names), []
        complaints: list[tuple[int | None, int]] = []

        def handler(row: pacsv.InvalidRow) -> str:  # called for invalid rows only
            if strict:
                raise ReaderInvariantError(
                    f"{self.path.name}: parser found {row.actual_columns} fields where {row.expected_columns} "
                    "were counted; refusing to guess line numbers"
                )
            complaints.append((row.number, row.actual_columns))
            return "skip"

        table = pacsv.read_csv(
            io.BytesIO(utf8),
            read_options=pacsv.ReadOptions(
                column_names=names, use_threads=self.use_threads, block_size=len(utf8) + 1
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=self.delimiter,
                quote_char=False,
                escape_char=False,
                double_quote=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=handler,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                check_utf8=False,  # we produced (or verified) the UTF-8 ourselves
            ),
        )
        return table, complaints
