"""Patient identifiers of PID-3 / MRG-1 (CX repetitions): recognise, validate, pseudonymise at once.

Rules:

* A repetition is ``id^check digit^scheme^assigning authority^identifier type ...``;
  one without an id is ignored.
* National identifiers are recognised by identifier type -- ``NNTWN`` (Taiwan),
  ``NNFIN`` (Finland), ``NI`` (the site's country; with no site, by shape) -- or, when
  the type is empty, by shape: a letter and nine characters (Taiwan ID / resident
  certificate) or ``DDMMYY`` + century sign + ``NNN`` + check character (henkilötunnus).
  They are validated (format and check character, ``connectors.taiwan.national_id`` and
  ``connectors.finland.hetu``); an invalid one raises :class:`InvalidNationalId` (the
  message is quarantined ``invalid_national_id``, the value is never reported).  A valid
  one becomes the site pseudonym ``HMAC(secret, id)`` -- the same as the registry
  connectors', so persons link across sources.
* Every other identifier (medical record numbers ...) becomes ``HMAC(secret,
  "<assigning authority>|<id>")``; characters outside ASCII are written as backslash
  escapes before hashing (the pseudonymiser hashes ASCII).
* Only pseudonyms leave this module; names, addresses and phone numbers are never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from connectors.finland import hetu
from connectors.pseudonym import Pseudonymiser
from connectors.taiwan import national_id

__all__ = ["InvalidNationalId", "PersonId", "clear_cache", "pseudonymise_ids"]

_TW_SHAPE = re.compile(r"[A-Z][0-9A-D][0-9]{8}")
_HETU_SHAPE = re.compile(r"[0-9]{6}[-+A-FU-Y][0-9]{3}[0-9A-Z]")
_TYPE_COUNTRY = {"NNTWN": "taiwan", "NNFIN": "finland"}
_VALIDATORS = {"taiwan": ("Taiwan national ID", national_id.is_valid), "finland": ("henkilötunnus", hetu.is_valid)}


class InvalidNationalId(ValueError):
    """A national identifier fails its format or check character."""

    def __init__(self, column: str, detail: str):
        super().__init__(f"{column}: {detail}")
        self.column = column
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PersonId:
    pseudonym: str
    national: bool


def _country(value: str, id_type: str, site: str | None) -> str | None:
    """'taiwan' / 'finland' when the identifier is to be treated as national, else None."""
    if id_type in _TYPE_COUNTRY:
        return _TYPE_COUNTRY[id_type]
    by_shape = "taiwan" if _TW_SHAPE.fullmatch(value) else "finland" if _HETU_SHAPE.fullmatch(value) else None
    if id_type == "NI":
        return site or by_shape or "unknown"
    if id_type == "":
        return by_shape
    return None


@lru_cache(maxsize=65_536)
def _valid(country: str, value: str) -> bool:
    """The validator's verdict, once per distinct identifier per process (persons recur in many messages)."""
    return _VALIDATORS[country][1](value)


def pseudonymise_ids(reps: list[tuple[str, str, str]], column: str, site: str | None,
                     keys: Pseudonymiser) -> list[PersonId]:
    """Pseudonyms of (id, assigning authority, identifier type) repetitions, in order, duplicates dropped."""
    out: list[PersonId] = []
    seen: set[str] = set()
    for n, (value, authority, id_type) in enumerate(reps, start=1):
        if not value:
            continue
        country = _country(value, id_type, site)
        if country is not None:
            if country not in _VALIDATORS:
                raise InvalidNationalId(column, f"repetition {n}: national identifier (type {id_type or '-'}) "
                                                "of no recognisable country (site not set)")
            label = _VALIDATORS[country][0]
            if not _valid(country, value):
                raise InvalidNationalId(column, f"repetition {n}: {label} (type {id_type or 'by shape'}) "
                                                "fails its format or check character")
            pseudonym, national = keys.one(value), True
        else:
            raw = f"{authority}|{value}"
            if not raw.isascii():
                raw = raw.encode("ascii", "backslashreplace").decode("ascii")
            pseudonym, national = keys.one(raw), False
        if pseudonym not in seen:
            seen.add(pseudonym)
            out.append(PersonId(pseudonym, national))
    return out


def clear_cache() -> None:
    """Forget the cached validator verdicts (benchmarks measure a cold cache with this)."""
    _valid.cache_clear()
