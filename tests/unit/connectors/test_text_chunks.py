"""The chunked delimited-text reader: every line ends in the table or in the rejected list."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.text_chunks import DelimitedTextFile, TextFormatError, iter_line_blocks


def read_all(path: Path, **kw) -> tuple[list[dict], list[tuple[int, str]], int]:
    f = DelimitedTextFile(path, **kw)
    rows, rejected, n_lines = [], [], 0
    for ch in f.chunks():
        rows += ch.table.to_pylist()
        rejected += [(r.line_number, r.reason) for r in ch.rejected]
        n_lines += ch.n_lines
        assert ch.table.num_rows + len(ch.rejected) == ch.n_lines
    return rows, rejected, n_lines


def test_cp950_trail_bytes_next_to_the_delimiter(tmp_path: Path) -> None:
    # 許 功 蓋 end in 0x5C '\', 育 in 0x7C '|': naive escaping or byte splitting breaks on them
    assert "許".encode("cp950")[1:] == b"\\" and "育".encode("cp950")[1:] == b"|"
    text = "ID,NAME,NOTE\n1,許,功\n2,蓋育,育\n3,許功蓋育,\n"
    p = tmp_path / "a.csv"
    p.write_bytes(text.encode("cp950"))
    rows, rejected, n = read_all(p)
    assert rejected == [] and n == 3
    assert [(r["NAME"], r["NOTE"], r["_row_number"]) for r in rows] == [
        ("許", "功", 2), ("蓋育", "育", 3), ("許功蓋育", "", 4)
    ]


def test_pipe_delimiter_does_not_split_inside_cp950_characters(tmp_path: Path) -> None:
    p = tmp_path / "p.txt"
    p.write_bytes("A|B|C\n1|育|許\n2|院育|x\n".encode("cp950"))  # 院 and 育 both have trail byte 0x7C
    rows, rejected, _ = read_all(p, delimiter="|")
    assert rejected == []
    assert [(r["A"], r["B"], r["C"]) for r in rows] == [("1", "育", "許"), ("2", "院育", "x")]


def test_crlf_missing_final_newline_and_small_chunks(tmp_path: Path) -> None:
    p = tmp_path / "c.csv"
    p.write_bytes(b"A,B\r\n1,x\r\n2,y\r\n3,z")
    for chunk_bytes in (1, 3, 1 << 20):
        rows, rejected, n = read_all(p, chunk_bytes=chunk_bytes)
        assert rejected == [] and n == 3
        assert [(r["A"], r["B"], r["_row_number"]) for r in rows] == [("1", "x", 2), ("2", "y", 3), ("3", "z", 4)]


def test_line_longer_than_the_chunk_is_not_cut(tmp_path: Path) -> None:
    p = tmp_path / "l.csv"
    long = "x" * 5000
    p.write_bytes(f"A,B\n1,{long}\n2,b\n".encode())
    rows, rejected, _ = read_all(p, chunk_bytes=64)
    assert rejected == [] and rows[0]["B"] == long and rows[1]["_row_number"] == 3


def test_reasons_and_details(tmp_path: Path) -> None:
    p = tmp_path / "r.csv"
    p.write_bytes(
        b"A,B,C\n"
        + "1,許,x\n".encode("cp950")  # 2 good
        + b"2,y\n"  # 3 too few
        + b"\n"  # 4 empty
        + b"3,a,b,c\n"  # 5 too many
        + b"4,a\rb,c\n"  # 6 bare CR
        + "5,中文,z\n".encode("utf-8")  # 7 UTF-8 inside CP950
        + b"6,\xff\xfe,z\n"  # 8 bytes invalid in CP950
        + b"7,\xa4,z\n"  # 9 lone lead byte
        + b"8,ok,z\n"  # 10 good
    )
    f = DelimitedTextFile(p)
    chunks = list(f.chunks())
    assert len(chunks) == 1
    got = {r.line_number: (r.reason, r.detail) for r in chunks[0].rejected}
    assert {k: v[0] for k, v in got.items()} == {
        3: "wrong_field_count", 4: "wrong_field_count", 5: "wrong_field_count", 6: "wrong_field_count",
        7: "wrong_encoding", 8: "undecodable", 9: "undecodable",
    }
    assert got[3][1] == "expected 3 fields, found 2" and got[5][1] == "expected 3 fields, found 4"
    assert "ff" in got[8][1] and "cp950" in got[8][1]
    assert all("中" not in d and "ok" not in d for _, d in got.values())
    assert chunks[0].table.column("_row_number").to_pylist() == [2, 10]


def test_utf8_file_has_no_wrong_encoding_but_rejects_invalid_bytes(tmp_path: Path) -> None:
    p = tmp_path / "u.csv"
    p.write_bytes("A,B\n1,中文\n".encode() + b"2,\xa4\xa4\n")
    rows, rejected, _ = read_all(p, encoding="utf-8")
    assert [r["B"] for r in rows] == ["中文"]
    assert rejected == [(3, "undecodable")]


def test_header_bom_and_unsupported_codec(tmp_path: Path) -> None:
    p = tmp_path / "h.csv"
    p.write_bytes(b"\xef\xbb\xbfA , B\n1,2\n")
    assert DelimitedTextFile(p, encoding="utf-8").header == ["A", "B"]
    with pytest.raises(TextFormatError, match="not supported"):
        DelimitedTextFile(p, encoding="utf-16")
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert DelimitedTextFile(empty).header == []


def test_iter_line_blocks_counts_lines(tmp_path: Path) -> None:
    p = tmp_path / "b.txt"
    p.write_bytes(b"a\nbb\nccc\nd")
    with p.open("rb") as f:
        blocks = list(iter_line_blocks(f, 4))
    assert b"".join(b.data for b in blocks) == b"a\nbb\nccc\nd"
    assert [b.data for b in blocks] == [b"a\n", b"bb\n", b"ccc\n", b"d"]
    assert [(b.first_line, b.n_lines, b.end_offset) for b in blocks] == [(1, 1, 2), (2, 1, 5), (3, 1, 9), (4, 1, 10)]


# -- property: every line is accounted for, with the right reason -------------------------

ALPHABET = "abcXYZ019 -_.\"'\\|/許功蓋育中文醫院"
_field = st.text(alphabet=ALPHABET, max_size=5)
_kind = st.sampled_from(["good", "good", "good", "short", "long", "empty", "bare_cr", "bad_byte", "lead_byte", "utf8"])


def _make(kind: str, fields: list[str]) -> tuple[bytes, str | None, list[str] | None]:
    """(line bytes without newline, expected reason or None, expected fields if good)."""
    if kind in ("good", "bare_cr", "lead_byte"):
        data = ",".join(fields).encode("cp950")
        if kind == "bare_cr":
            data = data[:1] + b"\r" + data[1:] if data else b"\r,"
        if kind == "lead_byte":
            data += b"\xa4"
    elif kind == "short":
        data = ",".join(fields[:2]).encode("cp950")
    elif kind == "long":
        data = ",".join(fields + ["x"]).encode("cp950")
    elif kind == "empty":
        data = b""
    elif kind == "bad_byte":
        data = b"\xff" + ",".join(fields).encode("cp950")
    else:  # utf8
        data = ",".join([fields[0] + "中", *fields[1:]]).encode("utf-8")
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                data.decode("cp950")
            except UnicodeDecodeError:
                return data, "undecodable", None
        else:
            return data, "wrong_encoding", None
    text = data.decode("cp950")
    if "\r" in text or text.count(",") != 2:
        return data, "wrong_field_count", None
    return data, None, text.split(",")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=st.lists(st.tuples(_kind, st.lists(_field, min_size=3, max_size=3), st.booleans()), max_size=25),
    chunk_bytes=st.integers(1, 120),
    final_newline=st.booleans(),
)
def test_every_line_is_parsed_or_rejected(tmp_path: Path, specs, chunk_bytes: int, final_newline: bool) -> None:
    body = b""
    expected_rows, expected_rejected = [], []
    for i, (kind, fields, crlf) in enumerate(specs):
        data, reason, values = _make(kind, fields)
        line_no = i + 2
        body += data + (b"\r\n" if crlf else b"\n")
        if reason is None:
            expected_rows.append({"A": values[0], "B": values[1], "C": values[2], "_row_number": line_no})
        else:
            expected_rejected.append((line_no, reason))
    if specs and not final_newline:
        # drop the last line's newline; a last line that was empty then no longer exists
        body = body[:-2] if body.endswith(b"\r\n") else body[:-1]
        if body == b"" or body.endswith(b"\n"):
            last = len(specs) + 1
            expected_rejected = [r for r in expected_rejected if r[0] != last]
            expected_rows = [r for r in expected_rows if r["_row_number"] != last]
    p = tmp_path / "prop.csv"
    p.write_bytes(b"A,B,C\n" + body)
    rows, rejected, n_lines = read_all(p, chunk_bytes=chunk_bytes)
    assert rows == expected_rows
    assert rejected == expected_rejected
    assert n_lines == len(expected_rows) + len(expected_rejected)


def test_table_columns_are_strings_with_row_number(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(b"A,B\n1,2\n")
    ch = next(DelimitedTextFile(p).chunks())
    assert ch.table.schema.types == [pa.string(), pa.string(), pa.int64()]


def test_wrong_field_counts_are_named_without_a_second_parse(tmp_path: Path, monkeypatch) -> None:
    # no empty line and no bare CR: the parser's own line index names the bad lines
    p = tmp_path / "w.csv"
    p.write_bytes(b"A,B,C\n1,2,3\n4,5\n6,7,8\r\n9,10,11,12\n13,14,15\n16\n")
    with monkeypatch.context() as m:
        m.setattr(DelimitedTextFile, "_check_fields", lambda *a: pytest.fail("took the exact path"))
        single = read_all(p)
    assert single[1] == [(3, "wrong_field_count"), (5, "wrong_field_count"), (7, "wrong_field_count")]
    assert [r["_row_number"] for r in single[0]] == [2, 4, 6]
    assert [r["C"] for r in single[0]] == ["3", "8", "15"]
    details = [r.detail for ch in DelimitedTextFile(p).chunks() for r in ch.rejected]
    assert details == ["expected 3 fields, found 2", "expected 3 fields, found 4", "expected 3 fields, found 1"]
    # threaded parsing gives no line index: the exact path must find the same
    assert read_all(p, use_threads=True) == single
    # and so does a block with an empty line (exact path from the start)
    q = tmp_path / "e.csv"
    q.write_bytes(p.read_bytes() + b"\n17,18,19\n")
    rows, rejected, _ = read_all(q)
    assert rows[:3] == single[0] and rows[3]["_row_number"] == 9
    assert rejected == single[1] + [(8, "wrong_field_count")]


def test_blocks_and_parse_block_split_chunks(tmp_path: Path) -> None:
    p = tmp_path / "b.csv"
    p.write_bytes(b"A,B\n" + b"".join(b"%d,x\n" % i for i in range(50)))
    f = DelimitedTextFile(p, chunk_bytes=40)
    blocks = list(f.blocks())
    assert len(blocks) > 3 and f.data_offset == 4
    chunks = [f.parse_block(b, index=i) for i, b in enumerate(blocks)]
    direct = list(DelimitedTextFile(p, chunk_bytes=40).chunks())
    assert [(c.index, c.first_line, c.n_lines, c.end_offset) for c in chunks] == [
        (c.index, c.first_line, c.n_lines, c.end_offset) for c in direct
    ]
    assert pa.concat_tables([c.table for c in chunks]).equals(pa.concat_tables([c.table for c in direct]))
    assert chunks[-1].end_offset == p.stat().st_size
