"""HL7 v2 framing: any mix of separators, MLLP frames, batch envelopes and BOMs around N messages gives N messages."""

from __future__ import annotations

import codecs

from hypothesis import given, settings, strategies as st

from connectors.hl7v2.framing import split_messages

_field = st.text(alphabet="ABCXYZ0123456789 ^&~.-", min_size=0, max_size=12)
_segment_name = st.sampled_from(["EVN", "PID", "PV1", "OBR", "OBX", "NTE", "ZPI", "ORC"])


@st.composite
def messages(draw) -> list[list[str]]:
    """1..6 messages, each MSH + 0..5 segments (segment texts without separators)."""
    out = []
    for i in range(draw(st.integers(1, 6))):
        segs = [f"MSH|^~\\&|APP|FAC|||2024||ADT^A01|C{i}|P|2.5"]
        for _ in range(draw(st.integers(0, 5))):
            segs.append(draw(_segment_name) + "|" + "|".join(draw(st.lists(_field, min_size=1, max_size=4))))
        out.append(segs)
    return out


_sep = st.sampled_from(["\r", "\n", "\r\n"])


@settings(max_examples=150, deadline=None)
@given(msgs=messages(), data=st.data())
def test_any_separators_and_framing_give_the_same_messages(msgs, data):
    envelope = data.draw(st.booleans())
    bom = data.draw(st.sampled_from([b"", codecs.BOM_UTF8]))
    text = ""
    if envelope:
        text += "FHS|^~\\&|APP\r\nBHS|^~\\&|APP" + data.draw(_sep)
    for segs in msgs:
        body = "".join(s + data.draw(_sep) for s in segs)
        if data.draw(st.booleans()):
            body = "\x0b" + body + "\x1c" + data.draw(st.sampled_from(["\r", "", "\n"]))
        text += body + data.draw(st.sampled_from(["", "\n", "\r\n\r\n"]))  # blank lines between messages
    if envelope:
        text += "BTS|1\rFTS|1" + data.draw(_sep)
    split = split_messages(bom + text.encode())
    assert [m.segments for m in split.messages] == [[s.encode() for s in segs] for segs in msgs]
    assert [m.index for m in split.messages] == list(range(1, len(msgs) + 1))
    assert not any(m.orphan for m in split.messages)
    assert split.envelope_segments == (4 if envelope else 0)
    assert split.bom == ("utf-8" if bom else None)


def test_segments_before_the_first_msh_are_one_orphan_item_not_lost():
    split = split_messages(b"PID|1||X\rOBX|1\rMSH|^~\\&|A\rPID|2\r")
    assert [(m.index, m.orphan) for m in split.messages] == [(1, True), (2, False)]
    assert split.messages[0].segments == [b"PID|1||X", b"OBX|1"]


def test_an_mllp_frame_ends_a_message():
    split = split_messages(b"\x0bMSH|^~\\&|A\rPID|1\x1c\r\x0bPID|orphan\x1c\r")
    assert [(m.segments, m.orphan) for m in split.messages] == [([b"MSH|^~\\&|A", b"PID|1"], False),
                                                                 ([b"PID|orphan"], True)]


def test_utf16_file_with_bom_is_decoded_whole():
    text = "MSH|^~\\&|A|Ä\rPID|1\r"
    split = split_messages(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert split.bom == "utf-16"
    assert split.messages[0].data == "MSH|^~\\&|A|Ä\rPID|1".encode()


def test_empty_file_has_no_messages():
    assert split_messages(b"").messages == []
    assert split_messages(b"\r\n\n  \r").messages == []
