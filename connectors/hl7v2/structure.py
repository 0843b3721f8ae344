"""Structural check of every segment of a message by hl7apy (STRICT), with verdicts cached per component.

What hl7apy checks when it parses a segment strictly (``hl7apy.parser.parse_segment``
with ``VALIDATION_LEVEL.STRICT``): the segment name exists in the declared version;
every field exists in the segment (no field past the last one); a field has no more
repetitions than allowed; every repetition parses as the field's datatype (no more
components/subcomponents than the datatype has, lengths within the maximum, DT/DTM/TM,
NM and SI values well formed).  This module gets exactly that verdict for a segment,
but much faster:

* a segment's verdict is the conjunction of (a) the segment name is known, (b) the
  repetition count of each field is within its maximum (hl7apy's own ``repetitions``
  table of the segment) and (c) ``hl7apy.parser.parse_field`` accepts each repetition
  -- the same calls, with the same references, that ``parse_fields`` makes;
* (a) is cached per (version, segment name) and (c) per (version, encoding characters,
  field name, component position and text) -- a field is accepted exactly when each of
  its non-empty components, alone at its position, is; and a component hl7apy checks
  for length only is probed with its characters masked (see :func:`_probes`).  Identical
  probes (message types, codes, units, facilities, authorities, statuses, reference
  ranges, name parts, identifiers of one length ...) are parsed by hl7apy once per
  process; dates, times and numbers go to hl7apy's datatype factory once per distinct
  value.

``tests/unit/connectors/test_hl7v2_structure.py`` checks that the verdict equals
``parse_segment(..., STRICT)``'s on generated and mutated segments.

Z-segments are site-defined: they are not checked (and not mapped).  hl7apy's
message-level grouping (``find_groups``) is not used: segment order is checked where
the mapping depends on it (an OBX needs an OBR before it).

Error details never carry field values: hl7apy's messages quote the value (e.g.
``MaxLengthReached``), so every piece of the offending value is replaced by ``<value>``.

Measured: see :mod:`connectors.hl7v2` (about 20x faster than hl7apy's ``parse_message``
on generated ADT/ORU feeds, on par with the ``hl7`` package's splitting).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["SUPPORTED_VERSIONS", "StructuralError", "check_segments", "clear_cache", "library_version"]

#: MSH-12 version -> hl7apy library version (2.7.1 has no hl7apy library; its structures are 2.7's)
SUPPORTED_VERSIONS: dict[str, str] = {
    "2.3": "2.3", "2.3.1": "2.3.1", "2.4": "2.4", "2.5": "2.5", "2.5.1": "2.5.1", "2.6": "2.6",
    "2.7": "2.7", "2.7.1": "2.7", "2.8": "2.8", "2.8.1": "2.8.1", "2.8.2": "2.8.2",
}
FIELD_CACHE_SIZE = 262_144


class StructuralError(ValueError):
    """hl7apy refuses a segment or field: ``column`` names it (``PID-3``, or a segment name)."""

    def __init__(self, column: str, detail: str):
        super().__init__(f"{column}: {detail}")
        self.column = column
        self.detail = detail


def library_version(version: str) -> str | None:
    """The hl7apy library version for an MSH-12 version, or None when unsupported."""
    return SUPPORTED_VERSIONS.get(version)


@lru_cache(maxsize=1)
def _strict() -> int:
    from hl7apy.consts import VALIDATION_LEVEL

    _memoise_load_library()
    return VALIDATION_LEVEL.STRICT


def _memoise_load_library() -> None:
    """Memoise ``hl7apy.load_library`` (version -> its module) where hl7apy looks it up.

    hl7apy calls it for every element it builds (``is_base_datatype``, datatype factories),
    each time through ``importlib.import_module``: ~20% of its parse time.  The result is a
    pure function of the version (the module, which importlib caches anyway), so a memo
    changes nothing but the time.
    """
    import hl7apy
    import hl7apy.core
    import hl7apy.factories

    if getattr(hl7apy.load_library, "cache_info", None) is not None:
        return
    memo = lru_cache(maxsize=None)(hl7apy.load_library)
    for module in (hl7apy, hl7apy.core, hl7apy.factories):
        module.load_library = memo


@lru_cache(maxsize=None)
def _segment_info(version: str, name: str) -> tuple[dict | None, dict | None, bool, str | None]:
    """(structure_by_name, repetitions, allow_infinite_children, error) of a segment in a version."""
    from hl7apy.core import Segment
    from hl7apy.exceptions import HL7apyException

    try:
        seg = Segment(name, version=version, validation_level=_strict())
    except HL7apyException as exc:
        return None, None, False, f"{type(exc).__name__}: {exc}"
    reps = {k: int(v[1]) for k, v in seg.repetitions.items()}
    return seg.structure_by_name, reps, bool(seg.allow_infinite_children), None


@lru_cache(maxsize=16)
def _encoding_chars(seps: str) -> dict[str, str]:
    field, comp, rep, esc, sub = seps[0], seps[1], seps[2], seps[3], seps[4]
    return {"FIELD": field, "COMPONENT": comp, "SUBCOMPONENT": sub, "REPETITION": rep, "ESCAPE": esc,
            "SEGMENT": "\r", "GROUP": "\r"}


@lru_cache(maxsize=FIELD_CACHE_SIZE)
def _field_error(version: str, seps: str, name: str, text: str) -> str | None:
    """hl7apy's objection to one field repetition, or None (cached)."""
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_field

    structure, _, infinite, _ = _segment_info(version, name[:3])
    ref = structure[name]["ref"] if structure is not None and name in structure else None
    try:
        parse_field(text, name, version, _encoding_chars(seps), _strict(), ref, infinite)
    except (HL7apyException, ValueError) as exc:  # ValueError: hl7apy's datatype checks (dates, NM, SI)
        return f"{type(exc).__name__}: {exc}"
    return None


def _redact(message: str, text: str, seps: str) -> str:
    """hl7apy's message with every piece (3+ characters) of the offending value replaced by ``<value>``."""
    pieces = {text, *re.split("[" + re.escape(seps[1:]) + "]", text)}
    for piece in sorted((p for p in pieces if len(p) >= 3), key=len, reverse=True):
        message = message.replace(piece, "<value>")
    return message


def check_segments(segments: list[list[str]], version: str, seps: str) -> None:
    """Raise :class:`StructuralError` unless hl7apy accepts every non-Z segment (STRICT).

    ``segments``: each segment split on the field separator (``[name, field1, ...]``;
    for MSH ``['MSH', MSH-2, MSH-3, ...]``).  ``version``: an hl7apy library version
    (:func:`library_version`).  ``seps``: field, component, repetition, escape and
    subcomponent characters, in that order.
    """
    rep_sep = seps[2]
    for fields in segments:
        name = fields[0]
        if name[:1] == "Z":
            continue
        structure, reps, _, error = _segment_info(version, name)
        if error is not None:
            raise StructuralError(name, f"segment {name!r} is not defined in HL7 v{version} ({error})")
        first = 2 if name == "MSH" else 1
        for pos, text in enumerate(fields[1:], start=first):
            if not text.strip():
                continue
            fname = f"{name}_{pos}"
            parts = [text] if fname == "MSH_2" else text.split(rep_sep)
            most = reps.get(fname, -1)
            if -1 < most < len(parts):
                raise StructuralError(f"{name}-{pos}", f"MaxChildLimitReached: {len(parts)} repetitions, "
                                                       f"HL7 v{version} allows {most}")
            for part in parts:
                for probe in _probes(part, seps, version, fname) if fname != "MSH_2" else (part,):
                    if isinstance(probe, tuple):  # (datatype, value) of a leaf: hl7apy's value check
                        error = _value_error(version, *probe)
                    else:
                        error = _field_error(version, seps, fname, probe)
                    if error is not None:
                        raise StructuralError(f"{name}-{pos}", _redact(error, part, seps))


#: base datatypes whose values hl7apy checks with its datatype factory, and a value each accepts
PLACEHOLDERS = {"DTM": "2000", "DT": "2000", "TM": "00", "NM": "1", "SI": "1"}
#: hl7apy datatypes whose strict check of a value is its length only (``TextualDataType`` with a
#: maximum length; TN, which also checks a pattern, is not one of them)
LENGTH_ONLY = frozenset({"ST", "ID", "IS", "TX", "FT", "GTS", "SNM"})


def _length_only(version: str, dt: str | None) -> bool:
    from hl7apy import load_library
    from hl7apy.base_datatypes import TN, TextualDataType

    if dt not in LENGTH_ONLY:
        return False
    cls = load_library(version).get_base_datatypes().get(dt)
    return cls is not None and issubclass(cls, TextualDataType) and not issubclass(cls, TN)


def _leaf_plan(version: str, dt: str) -> bool | str:
    """True for a length-only datatype, the datatype's name for a value-checked one, else False."""
    if _length_only(version, dt):
        return True
    if dt in PLACEHOLDERS:
        from hl7apy import load_library

        cls = load_library(version).get_base_datatypes().get(dt)
        return dt if cls is not None and cls.__module__ == "hl7apy.base_datatypes" else False
    return False


@lru_cache(maxsize=FIELD_CACHE_SIZE)
def _value_error(version: str, datatype: str, value: str) -> str | None:
    """hl7apy's objection to a leaf value of a base datatype (its datatype factory, STRICT), or None (cached)."""
    from hl7apy.exceptions import HL7apyException
    from hl7apy.factories import datatype_factory

    try:
        datatype_factory(datatype, value, version, _strict())
    except (HL7apyException, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@lru_cache(maxsize=None)
def _field_kind(version: str, field_name: str) -> str:
    """'complex' (a datatype with components), 'leaf' (a base datatype), 'varies' or 'unknown'."""
    structure = _segment_info(version, field_name[:3])[0]
    if structure is None or field_name not in structure:
        return "unknown"
    ref = structure[field_name]["ref"]
    if ref[0] != "leaf":
        return "complex"
    return "varies" if ref[2] == "varies" else "leaf"


@lru_cache(maxsize=None)
def _mask_plan(version: str, field_name: str, index: int) -> bool | str | tuple[bool, ...]:
    """How to probe component ``index`` (0-based) of a field: True (a length-only leaf: mask all of
    it), a datatype name (a value-checked leaf), a tuple (a component with subcomponents: which of
    them are length-only leaves), or False (probe it as it is)."""
    structure = _segment_info(version, field_name[:3])[0]
    if structure is None or field_name not in structure:
        return False
    ref = structure[field_name]["ref"]
    if ref[0] == "leaf":
        if ref[2] == "varies":  # OBX-5: every component is made of ST subcomponents
            return _length_only(version, "ST")
        return index == 0 and _leaf_plan(version, ref[2])
    child = next((c for c in ref[1] if c[0] == f"{ref[2]}_{index + 1}"), None)
    if child is None:
        return False
    if child[1][0] == "leaf":
        return _leaf_plan(version, child[1][2])
    sub = child[1]
    if sub[0] != "sequence":
        return False
    names = {c[0]: c[1] for c in sub[1]}
    plan = tuple(r is not None and r[0] == "leaf" and _length_only(version, r[2])
                 for r in (names.get(f"{sub[2]}_{j + 1}") for j in range(len(sub[1]))))
    return plan if any(plan) else False


@lru_cache(maxsize=16)
def _mask_pattern(seps: str) -> re.Pattern:
    return re.compile(r"[^\s" + re.escape(seps) + "]")


def _probes(text: str, seps: str, version: str, field_name: str) -> list[str | tuple[str, str]]:
    """The texts whose hl7apy verdicts together are the verdict of field repetition ``text``.

    hl7apy parses the components of a field independently (the component's name comes
    from its position) and then adds them to the field: a datatype with components
    accepts each named one once, a base datatype (ST, NM, DTM ...) only one.  So the
    field is accepted exactly when each non-empty component, alone at its position
    (``^^^value``), is accepted: a component past the datatype's last one is refused
    alone too.  A field of a base datatype or of ``varies`` (OBX-5), or of no known
    type, that has components, and a repetition with no non-empty component, is probed
    whole (hl7apy keeps their empty components).

    A component that is a leaf of a length-only datatype (:data:`LENGTH_ONLY`: hl7apy
    checks nothing but its length) is probed with every character other than blanks and
    separators replaced by ``x``: same lengths, same subcomponents, same verdict; so are
    the length-only subcomponents of a component with subcomponents (hl7apy parses
    subcomponents independently too).  A leaf of a value-checked base datatype (DTM, DT,
    TM, NM, SI) is two probes: its value, for hl7apy's datatype factory -- the very call
    that checks it inside ``parse_field`` -- shared by every field of that datatype, and
    its position, parsed with a value the datatype accepts (:data:`PLACEHOLDERS`).  So
    identifiers, control ids and free text of one length share one verdict, and
    components such as assigning authorities, code systems, units and name parts repeat
    across messages where whole fields do not.
    """
    comp, sub = seps[1], seps[4]
    if comp in text and _field_kind(version, field_name) != "complex":
        return [text]  # a base datatype keeps even empty components (and refuses a second one)
    parts = text.split(comp)
    probes = []
    for i, c in enumerate(parts):
        if not c.strip():
            continue
        plan = _mask_plan(version, field_name, i)
        if plan is True:
            c = _mask_pattern(seps).sub("x", c)
        elif isinstance(plan, str) and sub not in c:
            probes.append((plan, c))  # the value, checked by hl7apy's datatype factory
            c = PLACEHOLDERS[plan]  # the structure, checked with a value the datatype accepts
        elif isinstance(plan, tuple):
            subs = c.split(sub)
            c = sub.join(_mask_pattern(seps).sub("x", x) if j < len(plan) and plan[j] else x
                         for j, x in enumerate(subs))
        probes.append(comp * i + c)
    return probes or [text]


def clear_cache() -> None:
    """Forget the cached verdicts (benchmarks measure a cold cache with this)."""
    _field_error.cache_clear()
    _value_error.cache_clear()
