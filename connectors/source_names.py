"""Person names and addresses of the inbound sources, for the release scanner's denylist.

:func:`names_and_addresses` walks a landing folder and collects, as written (the denylist
normalises them), from the sources that carry them:

* **HL7 v2** (:func:`connectors.hl7v2.layout.identify`: ``.hl7``, ``.hl7v2``, ``.er7``, ``.mllp``):
  messages split by :func:`connectors.hl7v2.framing.split_messages` and decoded by
  :func:`connectors.hl7v2.encoding.decode_message` (MSH-18, BOM, UTF-8 / Latin-1 fallback).  A
  message that does not decode as declared is read as Latin-1 anyway (every byte decodes): the
  connector quarantines it, but its names are still names.  Every PID segment (also outside a
  message), every repetition of

  - PID-5 (XPN): family, given and further given names (components 1-3, subcomponents and
    components joined with spaces) -> one name;
  - PID-11 (XAD): the street line (components 1-2) and the whole address (components 1-6:
    street, other designation, city, state, postcode, country) -> two addresses; nothing when
    the street is empty.
* **FHIR** NDJSON / JSON documents (:func:`connectors.fhir_in.layout.identify`, gzip too), read
  with :func:`connectors.fhir_in.read.blocks` and DuckDB's JSON functions: Patient resources, on
  their own or as Bundle entries, and their ``contact``:

  - each HumanName: ``text``, and family + given joined with spaces -> names;
  - each Address: each ``line``, lines + city joined (when there is a line), and ``text`` when it
    holds a digit -> addresses.

  A city, postcode or country on its own is a place, not an address: as a denylist entry it
  would block every release that names the site's city.
* Registry extracts (Taiwan NHI claims, enrolment, registries, biobank; Finnish Hilmo, Avohilmo,
  Kela, cause-of-death and cancer registers, FinnGen) carry no names or addresses -- persons
  appear only by identifier, and places by region or facility codes -- so nothing is read from them.

Cities, postcodes and single name components are not returned on their own: the
:class:`releases.scanner.Denylist` decides which parts to match.  The result lives in memory
only; nothing here writes or logs a value.
"""

from __future__ import annotations

import re
from pathlib import Path

from connectors.fhir_in.layout import identify as identify_fhir
from connectors.fhir_in.read import blocks as fhir_blocks
from connectors.hl7v2.encoding import BadEncoding, decode_message
from connectors.hl7v2.framing import split_messages
from connectors.hl7v2.parse import unescape
from connectors.hl7v2.layout import identify as identify_hl7v2

__all__ = ["NotASourceFile", "fhir_names_and_addresses", "hl7v2_names_and_addresses", "names_and_addresses"]

_DEFAULT_ENCODING = "^~\\&"
_SPACES = re.compile(r"\s+")


class NotASourceFile(ValueError):
    """A file given to a per-format reader is not of that format (by its name)."""


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


class _Seps:
    """Separators of one HL7 message (MSH-1, MSH-2), and HL7 escape decoding."""

    def __init__(self, text: str):
        fs, enc = "|", _DEFAULT_ENCODING
        if text.startswith("MSH") and len(text) > 8:
            fs = text[3]
            enc = text[4:].split(fs, 1)[0]
            enc = (enc + _DEFAULT_ENCODING[len(enc):])[:4]  # a short MSH-2: the standard characters for the rest
        self.fs, self.comp, self.rep, self.esc, self.sub = fs, enc[0], enc[1], enc[2], enc[3]

    def unescape(self, text: str) -> str:
        return unescape(text, self.fs, self.comp, self.rep, self.esc, self.sub, line_break=" ")

    def parts(self, component: str) -> str:
        """A component with its subcomponents unescaped and joined by spaces."""
        return _clean(" ".join(self.unescape(s) for s in component.split(self.sub)))


def _pid_values(seg: str, seps: _Seps, names: set[str], addresses: set[str]) -> None:
    fields = seg.split(seps.fs)
    if len(fields) > 5:
        for rep in fields[5].split(seps.rep):
            comps = [seps.parts(c) for c in rep.split(seps.comp)[:3]]
            name = _clean(" ".join(comps))
            if name:
                names.add(name)
    if len(fields) > 11:
        for rep in fields[11].split(seps.rep):
            comps = [seps.parts(c) for c in rep.split(seps.comp)[:6]]
            street = _clean(" ".join(comps[:2]))
            if street:  # a city, postcode or country alone is nobody's address
                addresses.update((street, _clean(" ".join(comps))))


def hl7v2_names_and_addresses(path: Path) -> tuple[set[str], set[str]]:
    """Names (PID-5) and addresses (PID-11) of one HL7 v2 file."""
    names: set[str] = set()
    addresses: set[str] = set()
    split = split_messages(path.read_bytes())
    for raw in split.messages:
        if b"PID" not in raw.data:
            continue
        try:
            text, _ = decode_message(raw.data, split.bom)
        except BadEncoding:  # quarantined by the connector; its names are names all the same
            text = raw.data.decode("latin-1")
        seps = _Seps(text if not raw.orphan else "")
        for seg in text.split("\r"):
            if seg.startswith("PID" + seps.fs):
                _pid_values(seg, seps, names, addresses)
    return names, addresses


_FHIR_SQL = """
WITH doc AS (SELECT text FROM _blk WHERE json_valid(text)),
items AS (
    SELECT text AS r FROM doc WHERE json_extract_string(text, '$.resourceType') = 'Patient'
    UNION ALL
    SELECT CAST(e AS VARCHAR) FROM (
        SELECT unnest(json_extract(text, '$.entry[*].resource')) AS e FROM doc
        WHERE json_extract_string(text, '$.resourceType') = 'Bundle')
    WHERE json_extract_string(e, '$.resourceType') = 'Patient'),
hn AS (  -- HumanName and Address objects of patients and of their contacts
    SELECT unnest(json_extract(r, '$.name[*]')) AS n, NULL::JSON AS a FROM items
    UNION ALL SELECT NULL, unnest(json_extract(r, '$.address[*]')) FROM items
    UNION ALL SELECT json_extract(c, '$.name'), json_extract(c, '$.address')
              FROM (SELECT unnest(json_extract(r, '$.contact[*]')) AS c FROM items)),
vals AS (
    SELECT 'name' AS what, n ->> '$.text' AS v FROM hn WHERE n IS NOT NULL
    UNION ALL
    SELECT 'name', concat_ws(' ', n ->> '$.family', array_to_string(json_extract_string(n, '$.given[*]'), ' '))
    FROM hn WHERE n IS NOT NULL
    UNION ALL  -- a text without a digit is a place name ("Helsinki"), not an address
    SELECT 'address', a ->> '$.text' FROM hn WHERE a IS NOT NULL AND regexp_matches(a ->> '$.text', '[0-9]')
    UNION ALL SELECT 'address', unnest(json_extract_string(a, '$.line[*]')) FROM hn WHERE a IS NOT NULL
    UNION ALL
    SELECT 'address', concat_ws(' ', array_to_string(json_extract_string(a, '$.line[*]'), ' '), a ->> '$.city')
    FROM hn WHERE a IS NOT NULL AND len(json_extract_string(a, '$.line[*]')) > 0)
SELECT DISTINCT what, trim(regexp_replace(v, '\\s+', ' ', 'g')) AS v FROM vals WHERE v IS NOT NULL AND trim(v) <> ''
"""


def fhir_names_and_addresses(path: Path) -> tuple[set[str], set[str]]:
    """Names and addresses of the Patient resources (and their contacts) of one FHIR input file."""
    import duckdb

    kind = identify_fhir(path.name)
    if kind is None:
        raise NotASourceFile(f"{path.name} is not a FHIR input file (NDJSON or JSON)")
    names: set[str] = set()
    addresses: set[str] = set()
    con = duckdb.connect()
    try:
        for block in fhir_blocks(path, kind):
            if not block.docs.num_rows:
                continue
            con.register("_blk", block.docs)
            found = con.sql(_FHIR_SQL).to_arrow_table()
            con.unregister("_blk")
            what, values = found.column("what").to_pylist(), found.column("v").to_pylist()
            names.update(v for w, v in zip(what, values) if w == "name")
            addresses.update(v for w, v in zip(what, values) if w == "address")
    finally:
        con.close()
    return names, addresses


def names_and_addresses(landing: Path) -> tuple[set[str], set[str]]:
    """(names, addresses) of every HL7 v2 and FHIR file under ``landing`` (recursively)."""
    names: set[str] = set()
    addresses: set[str] = set()
    for path in sorted(p for p in Path(landing).rglob("*") if p.is_file()):
        if identify_hl7v2(path.name) is not None:
            n, a = hl7v2_names_and_addresses(path)
        elif identify_fhir(path.name) is not None:
            n, a = fhir_names_and_addresses(path)
        else:
            continue  # registry extracts and other files: no names or addresses
        names |= n
        addresses |= a
    return names, addresses
