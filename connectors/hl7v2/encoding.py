"""Decode one HL7 v2 message from bytes, by its declared character set (MSH-18).

Rules:

* MSH-18 (first repetition) names the character set with HL7 table 0211 names:
  ``ASCII``, ``8859/1`` .. ``8859/9``, ``8859/15``, ``UNICODE UTF-8``, ``UNICODE``
  (read as UTF-8), ``BIG-5`` (decoded as CP950, its superset used by Taiwanese
  systems), ``GB 18030-2000``, ``KS X 1001`` (EUC-KR), ``ISO IR6`` (ASCII).
  A declared set that does not decode the bytes, or an unknown name, is
  :class:`BadEncoding` (the message is quarantined ``bad_encoding``).
  ``UNICODE UTF-16``/``UTF-32`` cannot be declared in a message whose MSH is readable
  as ASCII bytes: such files need a UTF-16/32 BOM, and then the whole file was decoded
  by the framing step already (MSH-18 is not consulted).
* Undeclared: a file BOM decides (UTF-8); otherwise UTF-8 is tried, then Latin-1
  (which decodes any bytes).  The label returned records which one was used, e.g.
  ``'utf-8 (declared)'``, ``'latin-1 (undeclared)'``, ``'utf-8 (bom)'``.
* MSH-18 is read from the bytes before decoding: the MSH segment up to MSH-18 is
  assumed ASCII (facility and application names in a multi-byte set before MSH-18
  could shift the fields; not seen in practice, and then the message is
  quarantined rather than mis-read).
"""

from __future__ import annotations

__all__ = ["BadEncoding", "CHARSETS", "declared_charset", "decode_message"]

#: HL7 table 0211 name -> Python codec
CHARSETS: dict[str, str] = {
    "ASCII": "ascii", "ISO IR6": "ascii",
    "8859/1": "latin-1", "8859/2": "iso8859-2", "8859/3": "iso8859-3", "8859/4": "iso8859-4",
    "8859/5": "iso8859-5", "8859/6": "iso8859-6", "8859/7": "iso8859-7", "8859/8": "iso8859-8",
    "8859/9": "iso8859-9", "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8", "UNICODE": "utf-8",
    "BIG-5": "cp950", "GB 18030-2000": "gb18030", "KS X 1001": "euc_kr",
}
_WIDE = {"UNICODE UTF-16": "utf-16", "UNICODE UTF-32": "utf-32"}


class BadEncoding(ValueError):
    """A message's bytes do not decode with its declared (or any accepted) character set."""


def declared_charset(data: bytes) -> str | None:
    """MSH-18 (first repetition, stripped, upper case) of a message's bytes, or None."""
    if not data.startswith(b"MSH") or len(data) < 8:
        return None
    sep = data[3:4]
    msh = data.split(b"\r", 1)[0]
    fields = msh.split(sep)
    if len(fields) < 18:
        return None
    rep = fields[1][1:2] or b"~"
    value = fields[17].split(rep, 1)[0].strip()
    if not value:
        return None
    return value.decode("ascii", errors="replace").upper()


def decode_message(data: bytes, bom: str | None = None) -> tuple[str, str]:
    """(text, encoding label) of a message; :class:`BadEncoding` when it cannot be decoded as declared."""
    if bom in ("utf-16", "utf-32"):  # the framing decoded the whole file already (and re-encoded it as UTF-8)
        return data.decode("utf-8"), f"{bom} (bom)"
    declared = declared_charset(data)
    if declared is not None:
        if declared in _WIDE:
            raise BadEncoding(f"MSH-18 declares {declared!r} but the message bytes are not {_WIDE[declared]} "
                              "(no byte-order mark)")
        codec = CHARSETS.get(declared)
        if codec is None:
            raise BadEncoding(f"MSH-18 character set {declared!r} is not supported; known: {', '.join(sorted(CHARSETS))}")
        try:
            return data.decode(codec), f"{codec} (declared)"
        except UnicodeDecodeError as exc:
            raise BadEncoding(f"bytes do not decode as MSH-18 {declared!r} ({codec}) at byte {exc.start}") from None
    if bom is not None:
        try:
            return data.decode("utf-8"), f"{bom} (bom)"
        except UnicodeDecodeError as exc:
            raise BadEncoding(f"bytes do not decode as UTF-8 in a file with a {bom} byte-order mark "
                              f"at byte {exc.start}") from None
    try:
        return data.decode("utf-8"), "utf-8 (undeclared)"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1 (undeclared)"
