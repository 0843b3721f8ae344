"""Split an HL7 v2 file (bytes) into messages: separators, MLLP framing, batch envelopes, BOM.

Rules:

* Segment separators may be ``\\r``, ``\\n`` or ``\\r\\n``, mixed freely within a file;
  blank lines are dropped and leading blanks of a segment line are removed.
* MLLP framing (``\\x0b`` ... ``\\x1c\\r``) may wrap some or all messages; the framing
  bytes are removed and a frame boundary always ends the current message.
* A message starts at every segment whose name is ``MSH``.
* Batch envelope segments (``FHS``, ``BHS``, ``BTS``, ``FTS``) are not messages and
  belong to none: they are skipped.
* Segments that come before the first ``MSH`` of a frame (or of the file) and are not
  envelope segments belong to no message.  They are kept as one *orphan* item so that
  nothing is lost silently; the reader quarantines it as ``malformed``.
* A byte-order mark is removed: UTF-8 (``EF BB BF``, recorded as ``bom='utf-8'``);
  UTF-16/32 files (``FF FE`` / ``FE FF`` ...) are decoded whole and re-encoded as UTF-8
  so that the byte-level splitting below works (``bom='utf-16'`` / ``'utf-32'``).

Splitting works on bytes: every separator is ASCII, and neither ``\\r`` nor ``\\n`` can be
the trailing byte of a Big5/CP950, GB18030 or UTF-8 multi-byte character, so no message
is cut inside a character.  Decoding happens per message (:mod:`connectors.hl7v2.encoding`).
Output messages carry their segments joined by ``\\r`` (the HL7 standard separator).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["ENVELOPE_SEGMENTS", "RawMessage", "SplitFile", "split_messages"]

ENVELOPE_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")
_FRAME = re.compile(rb"[\x0b\x1c]")
_LINE = re.compile(rb"\r\n|\r|\n")
_BOMS = (  # longest first: the UTF-32 LE BOM starts with the UTF-16 LE one
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message (or orphan segments) as bytes: segments joined by ``\\r``, no trailing separator."""

    index: int  # 1-based position in the file (orphan items count too)
    data: bytes
    orphan: bool = False  # segments outside any message (no MSH)

    @property
    def segments(self) -> list[bytes]:
        return self.data.split(b"\r")


@dataclass(frozen=True, slots=True)
class SplitFile:
    messages: list[RawMessage]
    bom: str | None  # 'utf-8', 'utf-16', 'utf-32' or None
    envelope_segments: int  # FHS/BHS/BTS/FTS segments skipped


def _strip_bom(data: bytes) -> tuple[bytes, str | None]:
    for bom, name in _BOMS:
        if data.startswith(bom):
            if name == "utf-8":
                return data[len(bom):], name
            return data.decode(name).encode("utf-8"), name  # the codec consumes the BOM
    return data, None


def split_messages(data: bytes) -> SplitFile:
    """Messages of one file, in file order (see the module rules)."""
    data, bom = _strip_bom(data)
    messages: list[RawMessage] = []
    envelope = 0
    for frame in _FRAME.split(data):
        current: list[bytes] = []
        orphan: list[bytes] = []
        for line in _LINE.split(frame):
            seg = line.lstrip()
            if not seg:
                continue
            name = seg[:3]
            if name in ENVELOPE_SEGMENTS:
                envelope += 1
                continue
            if name == b"MSH":
                if current:
                    messages.append(RawMessage(len(messages) + 1, b"\r".join(current)))
                elif orphan:
                    messages.append(RawMessage(len(messages) + 1, b"\r".join(orphan), orphan=True))
                    orphan = []
                current = [seg]
            elif current:
                current.append(seg)
            else:
                orphan.append(seg)
        if current:
            messages.append(RawMessage(len(messages) + 1, b"\r".join(current)))
        elif orphan:
            messages.append(RawMessage(len(messages) + 1, b"\r".join(orphan), orphan=True))
    return SplitFile(messages, bom, envelope)
