"""Small-cell thresholds per jurisdiction: defaults of this project, not law.

A count ``c`` with ``0 < c < threshold`` is a small cell and must not leave the
site.  The table below is where a release starts; the study's permit decides,
so every value can be overridden per call (``overrides``) or per deployment
(settings pass their table here).  Defaults, with what they rest on:

* ``ohdsi``: 5 — OHDSI network studies suppress counts below 5 by default.
* ``finland``: 5 — Findata verifies that results leaving its secure processing
  environment are anonymous, case by case (risk-based); 5 is the conventional
  minimum frequency and this project's conservative default, not a number
  quoted from the Act on the Secondary Use of Health and Social Data.
* ``taiwan``: 5 — HWDC releases only aggregates after review; its on-site
  rules are commonly cited with a lower cut-off (counts below 3), which a
  permit can set with ``overrides={"taiwan": 3}``; the default here errs on
  the side of suppressing more.

Jurisdiction names are case-insensitive.  Unknown names raise
:class:`UnknownJurisdiction` (no silent fallback to some other table entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from releases.disclosure.errors import InvalidThreshold, UnknownJurisdiction

JURISDICTION_THRESHOLDS: Mapping[str, int] = MappingProxyType({"finland": 5, "taiwan": 5, "ohdsi": 5})


def validate_threshold(value: object, what: str = "threshold") -> int:
    """Return ``value`` as an int if it is an integer >= 1 (bools refused), else raise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidThreshold(f"{what} must be an integer >= 1, got {value!r}")
    return value


def threshold_for(jurisdiction: str, overrides: Mapping[str, int] | None = None) -> int:
    """The small-cell threshold of ``jurisdiction``: ``overrides`` first, then the defaults.

    ``overrides`` may also name jurisdictions that have no default (a new partner).
    """
    key = jurisdiction.strip().lower()
    table = {name.lower(): value for name, value in JURISDICTION_THRESHOLDS.items()}
    if overrides:
        table.update({name.strip().lower(): value for name, value in overrides.items()})
    if key not in table:
        raise UnknownJurisdiction(
            f"no small-cell threshold for jurisdiction {jurisdiction!r}; known: {sorted(table)}; "
            "pass overrides={name: threshold} for a new one"
        )
    return validate_threshold(table[key], f"threshold of {key!r}")
