"""One HL7 v2 message -> a pseudonymised message record, or a rejection with a quarantine reason.

Checks, in this order (the first failure decides the reason):

1. framing: segments outside any message -> ``malformed``;
2. decoding by MSH-18 (:mod:`connectors.hl7v2.encoding`) -> ``bad_encoding``;
3. MSH: field separator, encoding characters (MSH-2), segment names -> ``malformed``;
4. MSH-12 version, 2.3 .. 2.8.2 -> ``unsupported_version`` (``missing_required_field`` if empty);
5. MSH-9 type: ADT A01 A02 A03 A04 A08 A11 A13 A40, ORU R01 -> ``unsupported_message_type``;
6. required segments and fields (:data:`REQUIRED`) -> ``missing_required_field`` naming the
   field (``PID-3``) or segment (``PID``);
7. every date/time the mapping uses (:data:`DATE_FIELDS`) -> ``bad_date`` naming the field;
8. hl7apy STRICT structural check of every non-Z segment (:mod:`connectors.hl7v2.structure`),
   plus numeric NM results and OBX-before-OBR order -> ``malformed`` with hl7apy's message;
9. national identifiers of PID-3 and MRG-1 (:mod:`connectors.hl7v2.identity`) -> ``invalid_national_id``.

Details never carry identifier values or message text.

The record (a plain, picklable dict; the input of ``mappings.fhir_r4.hl7v2``) holds only
what the FHIR mapping needs, with every identifier already a keyed HMAC and every
date/time already a FHIR string:

``source_file, index, control_id, application, facility, type, trigger, version, encoding,
message_time, event_time, sort`` (UTC seconds of EVN-2, else MSH-7), ``assumed_zone``,
``patient`` {``ids``: [[pseudonym, national bool] ...], ``gender`` (PID-8), ``birth_date``,
``deceased`` (PID-30 Y/N or None), ``deceased_time``}, ``merges`` (A40: [{``ids``, ``prior_ids``}]),
``visit`` ({``key``, ``class`` (PV1-2), ``location``/``prior_location`` (PV1-3/PV1-6 as
{point_of_care, room, bed, facility}), ``service`` (PV1-10), ``admit``/``discharge``
(PV1-44/45), ``disposition`` (PV1-36)} or None), ``orders`` (ORU: [{``key``, ``position``,
``code`` (OBR-4), ``effective`` (OBR-7), ``issued`` (OBR-22, FHIR instant or None),
``status`` (OBR-25), ``observations``: [{``position``, ``set_id``, ``value_type``, ``code``
(OBX-3), ``sub_id``, ``value``, ``extra_values``, ``units`` (OBX-6), ``range`` (OBX-7),
``flags`` (OBX-8), ``status`` (OBX-11), ``effective`` (OBX-14)}]}]).  Coded values are
{code, display, system, alt_code, alt_display, alt_system}.

Names (PID-5), addresses (PID-11), phone numbers (PID-13/14) and next of kin are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from connectors.hl7v2.dtm import BadDate, HL7Time, parse_offset, to_fhir_date, to_fhir_datetime, to_fhir_instant
from connectors.hl7v2.encoding import BadEncoding, decode_message
from connectors.hl7v2.framing import RawMessage
from connectors.hl7v2.identity import InvalidNationalId, pseudonymise_ids
from connectors.hl7v2.structure import StructuralError, check_segments, library_version
from connectors.pseudonym import Pseudonymiser

__all__ = [
    "DATE_FIELDS", "REASONS", "REQUIRED", "SUPPORTED_TYPES", "ParseContext", "Rejection", "parse_raw_message", "unescape",
]

REASONS: dict[str, str] = {
    "unsupported_message_type": "MSH-9 names a message type/trigger the hub does not map",
    "unsupported_version": "MSH-12 names an HL7 version outside 2.3-2.8.2",
    "missing_required_field": "a segment or field the mapping needs is empty or absent",
    "bad_date": "a date/time field is not a valid HL7 date/time",
    "malformed": "hl7apy (STRICT) refuses a segment or field, or the message structure is broken",
    "bad_encoding": "the bytes do not decode with the declared (or any accepted) character set",
    "invalid_national_id": "a national identifier fails its format or check character",
}
SUPPORTED_TYPES: dict[str, frozenset[str]] = {
    "ADT": frozenset({"A01", "A02", "A03", "A04", "A08", "A11", "A13", "A40"}),
    "ORU": frozenset({"R01"}),
}
_ENCOUNTER_EVENTS = frozenset({"A01", "A02", "A03", "A04", "A11", "A13"})
#: (message type, trigger or '*') -> required (segment, field or None), checked in order
REQUIRED: dict[tuple[str, str], tuple[tuple[str, int | None], ...]] = {
    ("*", "*"): (("MSH", 7), ("MSH", 10), ("PID", None), ("PID", 3)),
    ("ADT", "A01"): (("PV1", None), ("PV1", 2), ("PV1", 19)),
    ("ADT", "A04"): (("PV1", None), ("PV1", 19)),
    ("ADT", "A02"): (("PV1", None), ("PV1", 3), ("PV1", 19)),
    ("ADT", "A03"): (("PV1", None), ("PV1", 19)),
    ("ADT", "A11"): (("PV1", None), ("PV1", 19)),
    ("ADT", "A13"): (("PV1", None), ("PV1", 19)),
    ("ADT", "A40"): (("MRG", None), ("MRG", 1)),
    ("ORU", "R01"): (("OBR", None),),
}
#: date/time fields converted for the mapping (field -> FHIR date rather than dateTime)
DATE_FIELDS: dict[tuple[str, int], bool] = {
    ("MSH", 7): False, ("EVN", 2): False, ("PID", 7): True, ("PID", 29): False,
    ("PV1", 44): False, ("PV1", 45): False, ("OBR", 7): False, ("OBR", 22): False, ("OBX", 14): False,
}
_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_DATE_VALUE_TYPES = frozenset({"DT", "DTM", "TS"})


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    column: str | None
    detail: str


@dataclass
class ParseContext:
    """What parsing needs besides the message: the pseudonymiser, site, zone and file BOM."""

    keys: Pseudonymiser
    site: str | None
    zone: ZoneInfo
    source_file: str = ""
    bom: str | None = None


class _Reject(Exception):
    def __init__(self, reason: str, column: str | None, detail: str):
        super().__init__(detail)
        self.reason, self.column, self.detail = reason, column, detail


def unescape(text: str, fs: str, comp: str, rep: str, esc: str, sub: str, line_break: str = "\n") -> str:
    """HL7 escape sequences decoded (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\, \\.br\\ -> ``line_break``, \\Xhh..\\);
    highlighting, character-set switches and formatting sequences are dropped."""
    if esc not in text:
        return text
    e = re.escape(esc)
    table = {"F": fs, "S": comp, "T": sub, "R": rep, "E": esc, ".br": line_break}

    def repl(m: re.Match) -> str:
        code = m.group(1)
        if code in table:
            return table[code]
        if code[:1] == "X" and re.fullmatch(r"X(?:[0-9A-Fa-f]{2})+", code):
            return bytes.fromhex(code[1:]).decode("latin-1")
        return ""

    return re.sub(e + "(.*?)" + e, repl, text)


class _Message:
    """A decoded message split into segments and fields, with HL7 accessors."""

    __slots__ = ("segments", "fs", "comp", "rep", "esc", "sub", "seps")

    def __init__(self, text: str):
        if len(text) < 8 or not text.startswith("MSH"):
            raise _Reject("malformed", "MSH", "message does not start with an MSH segment")
        fs = text[3]
        if fs.isalnum() or fs.isspace():
            raise _Reject("malformed", "MSH-1", "field separator is a letter, digit or blank")
        segments = [s.rstrip().split(fs) for s in text.split("\r")]
        enc = segments[0][1] if len(segments[0]) > 1 else ""
        if len(enc) < 4 or len(set(enc[:4] + fs)) != 5 or any(c.isalnum() or c.isspace() for c in enc[:4]):
            raise _Reject("malformed", "MSH-2", "encoding characters are not 4 distinct separators")
        for n, seg in enumerate(segments, start=1):
            if not _SEGMENT_NAME.fullmatch(seg[0]):
                raise _Reject("malformed", None, f"segment {n} has no valid segment name")
        self.segments = segments
        self.fs, self.comp, self.rep, self.esc, self.sub = fs, enc[0], enc[1], enc[2], enc[3]
        self.seps = fs + enc[:4]

    def first(self, name: str) -> list[str] | None:
        for seg in self.segments:
            if seg[0] == name:
                return seg
        return None

    @staticmethod
    def field(seg: list[str] | None, n: int) -> str:
        """Field n (1-based) of a split segment, '' when absent (MSH counts MSH-1 = separator)."""
        if seg is None:
            return ""
        i = n - 1 if seg[0] == "MSH" else n
        return seg[i] if 0 < i < len(seg) else ""

    def unescape(self, text: str) -> str:
        return unescape(text, self.fs, self.comp, self.rep, self.esc, self.sub)

    def reps(self, text: str) -> list[str]:
        return text.split(self.rep) if text else []

    def comp_n(self, text: str, n: int) -> str:
        """Component n (1-based) of the first repetition, unescaped and stripped."""
        if not text:
            return ""
        parts = text.split(self.rep, 1)[0].split(self.comp)
        return self.unescape(parts[n - 1]).strip() if n <= len(parts) else ""

    def coded(self, text: str) -> dict | None:
        """CE/CWE/CNE of the first repetition: {code, display, system, alt_code, alt_display, alt_system}."""
        if not text.strip():
            return None
        parts = [self.unescape(p).strip() for p in text.split(self.rep, 1)[0].split(self.comp)[:6]]
        parts += [""] * (6 - len(parts))
        if not any(parts):
            return None
        keys = ("code", "display", "system", "alt_code", "alt_display", "alt_system")
        return {k: (v or None) for k, v in zip(keys, parts)}


def _field_name(seg: str, n: int) -> str:
    return f"{seg}-{n}"


def _check_required(msg: _Message, mtype: str, trigger: str) -> None:
    for key in (("*", "*"), (mtype, trigger)):
        for seg_name, n in REQUIRED.get(key, ()):
            if n is None:
                if not any(s[0] == seg_name for s in msg.segments):
                    raise _Reject("missing_required_field", seg_name, f"{mtype}^{trigger} has no {seg_name} segment")
                continue
            empty = msg.comp + msg.rep + msg.sub + " "
            for seg in (s for s in msg.segments if s[0] == seg_name):
                if not msg.field(seg, n).strip(empty):
                    raise _Reject("missing_required_field", _field_name(seg_name, n),
                                  f"{_field_name(seg_name, n)} is empty")
    if mtype == "ORU":
        seen_obr = False
        for seg in msg.segments:
            if seg[0] == "OBR":
                seen_obr = True
                if not msg.field(seg, 4).strip(msg.comp + " "):
                    raise _Reject("missing_required_field", "OBR-4", "OBR-4 (universal service identifier) is empty")
            elif seg[0] == "OBX":
                if not seen_obr:
                    raise _Reject("malformed", "OBX", "OBX before any OBR")
                for n, what in ((3, "observation identifier"), (11, "result status")):
                    if not msg.field(seg, n).strip(msg.comp + " "):
                        raise _Reject("missing_required_field", f"OBX-{n}", f"OBX-{n} ({what}) is empty")
                if msg.field(seg, 5).strip() and not msg.field(seg, 2).strip():
                    raise _Reject("missing_required_field", "OBX-2", "OBX-2 (value type) is empty but OBX-5 is valued")


class _Times:
    """Converted date/time fields of a message (converted once, all checked before anything is built)."""

    def __init__(self, msg: _Message, zone: ZoneInfo):
        self.msg, self.zone = msg, zone
        self.default_offset = None
        self.assumed = False
        self.values: dict[tuple[int, int], HL7Time | str] = {}

    def convert_all(self) -> None:
        msh7 = self.msg.comp_n(self.msg.field(self.msg.segments[0], 7), 1)
        try:
            self.default_offset = parse_offset(msh7)
        except BadDate as exc:
            raise _Reject("bad_date", "MSH-7", f"MSH-7: {exc}") from None
        for pos, seg in enumerate(self.msg.segments):
            for n in range(1, len(seg) + 1):
                as_date = DATE_FIELDS.get((seg[0], n))
                if as_date is None:
                    continue
                value = self.msg.comp_n(self.msg.field(seg, n), 1)
                if not value:
                    continue
                try:
                    if as_date:
                        self.values[(pos, n)] = to_fhir_date(value)
                    else:
                        t = to_fhir_datetime(value, default_offset=self.default_offset, zone=self.zone)
                        self.assumed |= t.assumed
                        self.values[(pos, n)] = t
                except BadDate as exc:
                    raise _Reject("bad_date", _field_name(seg[0], n), f"{_field_name(seg[0], n)}: {exc}") from None

    def get(self, pos: int, n: int) -> HL7Time | None:
        v = self.values.get((pos, n))
        return v if isinstance(v, HL7Time) else None

    def text(self, pos: int, n: int) -> str | None:
        v = self.values.get((pos, n))
        return v if isinstance(v, str) or v is None else v.fhir


def _cx_reps(msg: _Message, text: str) -> list[tuple[str, str, str]]:
    out = []
    for rep in msg.reps(text):
        c = rep.split(msg.comp)
        get = (lambda i: msg.unescape(c[i]).strip() if i < len(c) else "")
        out.append((get(0), get(3), get(4).upper()))
    return out


def _ids(msg: _Message, text: str, column: str, ctx: ParseContext) -> list[list]:
    ids = pseudonymise_ids(_cx_reps(msg, text), column, ctx.site, ctx.keys)
    if not ids:
        raise _Reject("missing_required_field", column, f"{column} has no repetition with an identifier")
    return [[p.pseudonym, p.national] for p in ids]


def _location(msg: _Message, text: str) -> dict | None:
    if not text.strip(msg.comp + " "):
        return None
    keys = ("point_of_care", "room", "bed", "facility")
    loc = {k: (msg.comp_n(text, i + 1).split(msg.sub)[0] or None) for i, k in enumerate(keys)}
    return loc if any(loc.values()) else None


def _key(ctx: ParseContext, *parts: str) -> str:
    raw = "|".join(parts)
    if not raw.isascii():
        raw = raw.encode("ascii", "backslashreplace").decode("ascii")
    return ctx.keys.one(raw)


def _obx_value(msg: _Message, vtype: str, text: str, times_zone, default_offset) -> tuple[object, int]:
    """(value of the first repetition typed by OBX-2, number of further repetitions)."""
    reps = [r for r in msg.reps(text) if r.strip(msg.comp + " ")]
    if not reps:
        return None, 0
    first = reps[0]
    if vtype in ("ST", "TX", "FT"):
        return "\n".join(msg.unescape(r) for r in reps), 0
    extra = len(reps) - 1
    if vtype == "NM":
        v = msg.unescape(first).strip()
        if not _NUMBER.fullmatch(v):
            raise _Reject("malformed", "OBX-5", "OBX-2 is NM but OBX-5 is not a number")
        return v, extra
    if vtype == "SN":
        c = [msg.unescape(x).strip() for x in first.split(msg.comp)] + ["", "", "", ""]
        for n in (c[1], c[3]):
            if n and not _NUMBER.fullmatch(n):
                raise _Reject("malformed", "OBX-5", "OBX-2 is SN but a number component of OBX-5 is not a number")
        return {"comparator": c[0] or None, "num1": c[1] or None, "separator": c[2] or None, "num2": c[3] or None}, extra
    if vtype in ("CE", "CWE", "CNE", "CF"):
        return msg.coded(first), extra
    if vtype in _DATE_VALUE_TYPES:
        v = msg.unescape(first.split(msg.comp)[0]).strip()
        try:
            return to_fhir_datetime(v, default_offset=default_offset, zone=times_zone).fhir, extra
        except BadDate as exc:
            raise _Reject("bad_date", "OBX-5", f"OBX-5 ({vtype}): {exc}") from None
    return msg.unescape(first), extra


def _orders(msg: _Message, times: _Times, ctx: ParseContext, facility: str, control_id: str) -> list[dict]:
    orders: list[dict] = []
    for pos, seg in enumerate(msg.segments):
        if seg[0] == "OBR":
            filler = msg.field(seg, 3).split(msg.rep, 1)[0]
            placer = msg.field(seg, 2).split(msg.rep, 1)[0]
            if filler.strip(msg.comp + " "):
                key = _key(ctx, "order", facility, "filler", msg.unescape(filler))
            elif placer.strip(msg.comp + " "):
                key = _key(ctx, "order", facility, "placer", msg.unescape(placer))
            else:
                key = _key(ctx, "order", facility, "message", control_id, str(pos))
            issued = times.get(pos, 22)
            orders.append({
                "key": key, "position": pos, "code": msg.coded(msg.field(seg, 4)),
                "effective": times.text(pos, 7), "issued": to_fhir_instant(issued) if issued else None,
                "status": msg.comp_n(msg.field(seg, 25), 1) or None, "observations": [],
            })
        elif seg[0] == "OBX":
            vtype = msg.comp_n(msg.field(seg, 2), 1).upper()
            value, extra = _obx_value(msg, vtype, msg.field(seg, 5), ctx.zone, times.default_offset)
            orders[-1]["observations"].append({
                "position": pos, "set_id": msg.comp_n(msg.field(seg, 1), 1) or None, "value_type": vtype or None,
                "code": msg.coded(msg.field(seg, 3)), "sub_id": msg.comp_n(msg.field(seg, 4), 1) or None,
                "value": value, "extra_values": extra, "units": msg.coded(msg.field(seg, 6)),
                "range": msg.comp_n(msg.field(seg, 7), 1) or None,
                "flags": [f for f in (msg.unescape(r).split(msg.comp)[0].strip() for r in msg.reps(msg.field(seg, 8)))
                          if f],
                "status": msg.comp_n(msg.field(seg, 11), 1).upper() or None, "effective": times.text(pos, 14),
            })
    return orders


def _visit(msg: _Message, times: _Times, ctx: ParseContext, facility: str) -> dict | None:
    pos, pv1 = next(((i, s) for i, s in enumerate(msg.segments) if s[0] == "PV1"), (None, None))
    if pv1 is None:
        return None
    number = msg.comp_n(msg.field(pv1, 19), 1)
    if not number:
        return None
    authority = msg.comp_n(msg.field(pv1, 19), 4) or facility
    return {
        "key": _key(ctx, "visit", authority, number),
        "class": msg.comp_n(msg.field(pv1, 2), 1).upper() or None,
        "location": _location(msg, msg.field(pv1, 3)),
        "prior_location": _location(msg, msg.field(pv1, 6)),
        "service": msg.comp_n(msg.field(pv1, 10), 1) or None,
        "admit": times.text(pos, 44), "discharge": times.text(pos, 45),
        "disposition": msg.comp_n(msg.field(pv1, 36), 1) or None,
    }


def _parse(raw: RawMessage, ctx: ParseContext) -> dict:
    if raw.orphan:
        n = raw.data.count(b"\r") + 1
        raise _Reject("malformed", None, f"{n} segment(s) outside any message (no MSH before them)")
    try:
        text, encoding = decode_message(raw.data, ctx.bom)
    except BadEncoding as exc:
        raise _Reject("bad_encoding", "MSH-18", str(exc)) from None
    msg = _Message(text)
    msh = msg.segments[0]
    version = msg.comp_n(msg.field(msh, 12), 1)
    if not version:
        raise _Reject("missing_required_field", "MSH-12", "MSH-12 (version) is empty")
    lib = library_version(version)
    if lib is None:
        raise _Reject("unsupported_version", "MSH-12",
                      f"HL7 version {version[:10]!r} is not supported (2.3 to 2.8.2)")
    mtype = msg.comp_n(msg.field(msh, 9), 1).upper()
    trigger = msg.comp_n(msg.field(msh, 9), 2).upper()
    if not mtype:
        raise _Reject("missing_required_field", "MSH-9", "MSH-9 (message type) is empty")
    if trigger not in SUPPORTED_TYPES.get(mtype, ()):
        supported = ", ".join(f"{t}^{g}" for t, gs in SUPPORTED_TYPES.items() for g in sorted(gs))
        raise _Reject("unsupported_message_type", "MSH-9",
                      f"message type {mtype[:8]}^{trigger[:8]} is not mapped (supported: {supported})")
    _check_required(msg, mtype, trigger)
    times = _Times(msg, ctx.zone)
    times.convert_all()
    try:
        check_segments(msg.segments, lib, msg.seps)
    except StructuralError as exc:
        raise _Reject("malformed", exc.column, exc.detail) from None

    facility = msg.comp_n(msg.field(msh, 4), 1)
    application = msg.comp_n(msg.field(msh, 3), 1)
    control_id = msg.comp_n(msg.field(msh, 10), 1)
    pid_pos = next(i for i, s in enumerate(msg.segments) if s[0] == "PID")
    pid = msg.segments[pid_pos]
    try:
        patient_ids = _ids(msg, msg.field(pid, 3), "PID-3", ctx)
        merges = []
        if trigger == "A40":
            current = patient_ids
            for seg in msg.segments[pid_pos + 1:]:
                if seg[0] == "PID":
                    current = _ids(msg, msg.field(seg, 3), "PID-3", ctx)
                elif seg[0] == "MRG":
                    merges.append({"ids": current, "prior_ids": _ids(msg, msg.field(seg, 1), "MRG-1", ctx)})
    except InvalidNationalId as exc:
        raise _Reject("invalid_national_id", exc.column, exc.detail) from None

    evn_pos = next((i for i, s in enumerate(msg.segments) if s[0] == "EVN"), None)
    message_time = times.get(0, 7)
    if message_time is None:
        raise _Reject("missing_required_field", "MSH-7", "MSH-7 (date/time of message) has no time component")
    event = (times.get(evn_pos, 2) if evn_pos is not None else None) or message_time
    deceased_flag = msg.comp_n(msg.field(pid, 30), 1).upper()
    record = {
        "source_file": ctx.source_file, "index": raw.index, "control_id": control_id,
        "application": application, "facility": facility, "type": mtype, "trigger": trigger,
        "version": version, "encoding": encoding,
        "message_time": message_time.fhir, "event_time": event.fhir, "sort": event.epoch,
        "assumed_zone": times.assumed,
        "patient": {
            "ids": patient_ids,
            "gender": msg.comp_n(msg.field(pid, 8), 1).upper() or None,
            "birth_date": times.text(pid_pos, 7),
            "deceased": {"Y": True, "N": False}.get(deceased_flag),
            "deceased_time": times.text(pid_pos, 29),
        },
        "merges": merges,
        "visit": _visit(msg, times, ctx, facility),
        "orders": _orders(msg, times, ctx, facility, control_id) if mtype == "ORU" else [],
    }
    if mtype == "ADT" and trigger in _ENCOUNTER_EVENTS and record["visit"] is None:  # PV1-19 checked above
        raise _Reject("missing_required_field", "PV1-19", "PV1-19 (visit number) is empty")
    return record


def parse_raw_message(raw: RawMessage, ctx: ParseContext) -> dict | Rejection:
    """The record of one message, or its :class:`Rejection` (see the module rules)."""
    try:
        return _parse(raw, ctx)
    except _Reject as r:
        return Rejection(r.reason, r.column, r.detail)
