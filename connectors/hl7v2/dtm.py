"""HL7 v2 date/time values (DT, TS, DTM) -> FHIR ``date`` / ``dateTime`` / ``instant`` strings.

HL7: ``YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]`` (TS: the first component).

Rules:

* The value must be a real calendar date/time (``20240230`` and ``2024013125`` are bad);
  anything else raises :class:`BadDate` (the message is quarantined ``bad_date``,
  naming the field).
* Precision is kept where FHIR can express it: year, year-month and date stay as they
  are; with a time FHIR needs hours, minutes *and* seconds and an offset, so hour or
  minute precision is padded with zeros (``2024010512`` -> ``2024-01-05T12:00:00+08:00``)
  and fractions of a second are kept as written (up to 4 digits).
* Offset: the value's own, else the message's (MSH-7's), else the local offset of
  ``zone`` (a :class:`zoneinfo.ZoneInfo`) at that moment (``assumed`` is then True).
* :attr:`HL7Time.epoch` (seconds since 1970 UTC, start of the stated precision) orders
  events across messages.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["BadDate", "HL7Time", "parse_offset", "to_fhir_date", "to_fhir_datetime", "to_fhir_instant"]

_DTM = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


class BadDate(ValueError):
    """A value is not a valid HL7 date/time."""


@dataclass(frozen=True, slots=True)
class HL7Time:
    fhir: str  # FHIR date or dateTime
    epoch: float  # UTC seconds since 1970 (ordering key)
    has_time: bool
    seconds_precision: bool  # seconds were given (FHIR instant possible)
    assumed: bool  # the offset came from the configured zone, not from the message


def parse_offset(value: str) -> dt.timezone | None:
    """The ``+HHMM``/``-HHMM`` offset at the end of an HL7 date/time, or None."""
    m = _DTM.fullmatch(value.strip())
    if m is None or m.group(8) is None:
        return None
    return _offset(m.group(8))


def _offset(text: str) -> dt.timezone:
    hh, mm = int(text[1:3]), int(text[3:5])
    if hh > 14 or mm > 59:
        raise BadDate(f"offset {text!r} out of range")
    delta = dt.timedelta(hours=hh, minutes=mm)
    return dt.timezone(-delta if text[0] == "-" else delta)


def _fmt_offset(tz: dt.tzinfo, moment: dt.datetime) -> str:
    off = tz.utcoffset(moment) or dt.timedelta(0)
    sign = "-" if off < dt.timedelta(0) else "+"
    minutes = abs(int(off.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def to_fhir_datetime(value: str, *, default_offset: dt.timezone | None = None,
                     zone: ZoneInfo | dt.timezone = dt.timezone.utc) -> HL7Time:
    """FHIR ``dateTime`` of an HL7 DTM/TS value (see the module rules); :class:`BadDate` if invalid."""
    m = _DTM.fullmatch(value.strip())
    if m is None:
        raise BadDate("not of the form YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]")
    y, mo, d, h, mi, s, frac, off = m.groups()
    if frac is not None and s is None:
        raise BadDate("fraction of a second without seconds")
    try:
        naive = dt.datetime(int(y), int(mo or 1), int(d or 1), int(h or 0), int(mi or 0), int(s or 0))
    except ValueError as exc:
        raise BadDate(f"not a calendar date/time ({exc})") from None
    tz: dt.tzinfo | None = _offset(off) if off else default_offset
    assumed = tz is None
    if tz is None:
        tz = zone
    moment = naive.replace(tzinfo=tz)
    epoch = (moment - _EPOCH).total_seconds()
    if h is None:
        text = y if mo is None else (f"{y}-{mo}" if d is None else f"{y}-{mo}-{d}")
        return HL7Time(text, epoch, False, False, False)
    text = f"{y}-{mo}-{d}T{h}:{mi or '00'}:{s or '00'}{frac or ''}{_fmt_offset(tz, moment)}"
    return HL7Time(text, epoch, True, s is not None, assumed)


def to_fhir_date(value: str) -> str:
    """FHIR ``date`` (YYYY, YYYY-MM or YYYY-MM-DD) of an HL7 DT/DTM value; a time part is checked, then dropped."""
    return to_fhir_datetime(value).fhir[:10]


def to_fhir_instant(t: HL7Time) -> str | None:
    """FHIR ``instant`` of a converted value, or None when it has no seconds (an instant needs them)."""
    return t.fhir if t.seconds_precision else None
