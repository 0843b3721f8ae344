"""FHIR R4 Bulk Data NDJSON export -> transaction Bundles a FHIR server can load idempotently.

:func:`write_bundles` reads an export directory (``<Type>.ndjson`` files written by
:func:`mappings.fhir_r4.export.export_fhir`) and writes ``bundle-00001.json`` ... (one
compact Bundle per file, UTF-8); :func:`make_bundles` does the same for resources held in
memory (tests, small feeds).  Load the files **in name order**: later bundles refer to
resources created by earlier ones.

Entries (Bundle.type ``transaction``):

* ``fullUrl`` = ``urn:uuid:<uuid5(NAMESPACE_URL, "<Type>/<id>")>`` (stable across runs).
* Every resource but Provenance: ``request`` = ``POST <Type>`` with
  ``ifNoneExist: identifier=<system>|<value>`` (a *conditional create*), the record
  identifier being the one ``urn:crossbridge:<scope>:<cdm table>`` identifier
  (:func:`mappings.fhir_r4.common.record_identifier_item`; other identifiers, e.g. a
  pseudonym or an organisation code, are not used).  The resource goes in **without its
  id**: a server assigns ids on POST.  Loading the same export twice creates nothing new.
  A resource other than Provenance without exactly one record identifier is an error
  (:class:`BundleInputError`): it could not be loaded idempotently.
* Provenance (no identifier): ``PUT Provenance/<id>`` keeping its id (update as create,
  idempotent; a re-load makes a new version with the same content).

References (``{"reference": "<Type>/<id>"}`` anywhere in a resource):

* target in the same bundle -> that entry's ``urn:uuid:`` fullUrl;
* target in another bundle -> conditional reference ``<Type>?identifier=<system>|<value>``
  (R4 transactions resolve these on the server); targets in a *later* bundle are counted
  as ``conditional_forward`` (they fail when bundles are loaded in order; the grouping
  below rules them out for every reference the export writes, unless a record's visit
  belongs to another person);
* a Provenance target that is not in the same bundle stays ``Provenance/<id>``
  (``literal``: its id is kept by PUT);
* ``#...`` (contained) references are left as they are (``contained``);
* a target not in the export at all is left unchanged and counted (``unresolved``, with
  examples in the report).

Token escaping: ``\\ | , $`` in system or value are backslash-escaped (FHIR search
rules), then each part is percent-encoded (``:`` ``/`` ``@`` and unreserved characters
kept); the ``|`` separator stays literal.

Grouping and order (deterministic: the same export gives byte-identical files):

1. shared resources (Organization, Location, Practitioner) in their own bundles;
2. patient bundles: each Patient with every resource whose ``subject`` or ``patient``
   references it, Patient first, then Encounters, then the other types, each by id;
   patients sorted by id (as text) and packed whole into bundles of at most
   ``bundle_size`` entries; a patient larger than ``bundle_size`` starts a new bundle
   and is split across bundles in order (its later parts refer to the earlier ones
   conditionally);
3. other resources with no patient (none in the current export) by type and id;
4. Provenance bundles last (their targets are all conditional references).

How: DuckDB reads the files with ``read_json_objects``, extracts type, id, record
identifier and owning patient, checks them (:class:`BundleInputError`: not an object,
no resourceType/id, duplicate ``Type/id``, missing or ambiguous record identifier), sorts
(spilling to disk when large) and streams the lines in order.  The reference index
(``Type/id`` -> search token and position) is a Python dict built in one query before
streaming: about 300 bytes per resource (24 MB for the 79,000 resources of the Taiwan
synthetic export), acceptable up to a few million resources; beyond that, build bundles
per person partition.  An index from the export rather than ids parsed by prefix
(``vd-``, ``m-``, ``o-``): it also tells which targets exist (needed to count unresolved
references), and it follows the identifiers the resources actually carry (scope, table)
instead of re-deriving the export's rules in a second place.  DuckDB's own peak (parse and
sort) was about 550 MB resident for that export; sorts larger than memory spill to a
temporary directory.

Per line ``json.loads`` (with an ``object_hook`` doing the reference rewriting) and one
``json.dumps`` per bundle in Python: this is the on-request path (a server load), not the
bulk path; measured 14,000-19,000 entries/s on 2 shared cores (about 1.5 s of the total is
DuckDB reading and sorting).  Numbers are re-serialised as Python floats (the export writes
DOUBLEs, so no digits are lost; trailing zeros such as ``1.10`` would become ``1.1``).
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

import duckdb
import pyarrow as pa

from terminology.omop_cdm import cdm_tables

#: Resource types shared between patients: loaded first, in this order.
SHARED_TYPES: tuple[str, ...] = ("Organization", "Location", "Practitioner")
#: Order of types inside a patient (other types follow, by name).
PATIENT_TYPE_ORDER: tuple[str, ...] = (
    "Patient", "Encounter", "Condition", "Procedure", "Observation", "Specimen",
    "MedicationRequest", "MedicationDispense", "MedicationStatement",
)
SECTIONS: tuple[str, ...] = ("shared", "patient", "other", "provenance")
RECORD_SYSTEM_PREFIX = "urn:crossbridge:"
BUNDLE_GLOB = "bundle-*.json"
MAX_UNRESOLVED_EXAMPLES = 20
_FETCH_ROWS = 5_000
_PLAIN = re.compile(r"[A-Za-z0-9._~:/@-]*")
_FHIR_ESCAPES = str.maketrans({"\\": "\\\\", "|": "\\|", ",": "\\,", "$": "\\$"})


class BundleInputError(ValueError):
    """The export cannot be turned into idempotent transaction Bundles (what, where, why)."""


@dataclass
class BundleReport:
    out_dir: str | None
    bundle_size: int
    bundles: int = 0
    bundles_by_section: dict[str, int] = field(default_factory=dict)  # shared/patient/other/provenance -> bundles
    lines_read: dict[str, int] = field(default_factory=dict)  # resource type -> input resources
    entries: dict[str, int] = field(default_factory=dict)  # resource type -> entries written
    requests: dict[str, int] = field(default_factory=dict)  # POST / PUT -> entries
    patients: int = 0  # patient groups (owners of subject/patient references)
    patients_split: int = 0  # patient groups spread over more than one bundle
    references: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("same_bundle", "conditional", "conditional_forward", "literal", "contained", "unresolved"), 0))
    unresolved_examples: list[str] = field(default_factory=list)  # "<from Type/id> -> <reference>"
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.entries.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"] = self.total
        d["entries_per_second"] = round(self.total / self.seconds) if self.seconds else None
        return d


def search_token(system: str, value: str) -> str:
    """``system|value`` as a FHIR token search value inside a URL query (escaped, percent-encoded)."""
    return f"{_encode(system)}|{_encode(value)}"


def _encode(part: str) -> str:
    if _PLAIN.fullmatch(part):  # the usual case (urn:crossbridge:..., digits): nothing to escape
        return part
    return quote(part.translate(_FHIR_ESCAPES), safe=":/@")


def full_url(resource_type: str, resource_id: str) -> str:
    """The entry's stable ``urn:uuid:`` (uuid5 of ``Type/id`` in the URL namespace)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{resource_type}/{resource_id}')}"


# --------------------------------------------------------------------------- SQL side

def _sql_list(items: Iterable[str]) -> str:
    return "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in items) + "]"


def _prepare(con: duckdb.DuckDBPyConnection, source_sql: str) -> None:
    """Create ``_bx`` (one row per resource with its sort keys and record identifier) and check it."""
    type_order = SHARED_TYPES + PATIENT_TYPE_ORDER
    type_case = " ".join(f"WHEN '{t}' THEN {i}" for i, t in enumerate(type_order))
    tables = _sql_list(cdm_tables())
    subj = "json->'subject'->>'reference'"
    pat = "json->'patient'->>'reference'"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _bx AS
        WITH parsed AS (
            SELECT source, json::VARCHAR AS line, json_type(json) AS jtype,
                   json->>'resourceType' AS rtype, json->>'id' AS rid,
                   CASE WHEN starts_with({subj}, 'Patient/') THEN {subj}
                        WHEN starts_with({pat}, 'Patient/') THEN {pat} END AS owner_ref,
                   list_filter(json_transform(json->'identifier', '[{{"system":"VARCHAR","value":"VARCHAR"}}]'),
                               lambda x: x.value IS NOT NULL AND starts_with(x.system, '{RECORD_SYSTEM_PREFIX}')
                                    AND list_contains({tables}, regexp_extract(x.system, ':([^:]*)$', 1))) AS rec
            FROM ({source_sql})),
        keyed AS (
            SELECT *,
                   CASE WHEN rtype IN ({', '.join(repr(t) for t in SHARED_TYPES)}) THEN 0
                        WHEN rtype = 'Provenance' THEN 3
                        WHEN rtype = 'Patient' OR owner_ref IS NOT NULL THEN 1
                        ELSE 2 END AS section,
                   CASE WHEN rtype = 'Patient' THEN rid ELSE substr(owner_ref, 9) END AS owner,
                   coalesce(CASE rtype {type_case} END, 1000) AS tord
            FROM parsed)
        SELECT source, line, jtype, rtype, rid, section, tord,
               CASE WHEN section = 1 THEN owner END AS owner,
               rec, len(rec) AS n_rec, rec[1].system AS rec_system, rec[1].value AS rec_value,
               row_number() OVER (ORDER BY section, CASE WHEN section = 1 THEN owner END, tord, rtype, rid) AS rank,
               count(*) OVER (PARTITION BY section, CASE WHEN section = 1 THEN owner END) AS group_n
        FROM keyed""")
    _check(con)


def _check(con: duckdb.DuckDBPyConnection) -> None:
    def bad(where: str, what: str, cols: str = "source, rtype, rid") -> None:
        rows = con.execute(f"SELECT {cols} FROM _bx WHERE {where} ORDER BY 1, 2, 3 LIMIT 5").fetchall()
        if rows:
            n = con.execute(f"SELECT count(*) FROM _bx WHERE {where}").fetchone()[0]
            shown = "; ".join(f"{r[0]}: {r[1]}/{r[2]}" + (f" identifiers {r[3]}" if len(r) > 3 else "")
                              for r in rows)
            raise BundleInputError(f"{n} resource(s) {what} (first: {shown})")

    bad("jtype IS DISTINCT FROM 'OBJECT' OR rtype IS NULL OR rid IS NULL OR rtype = '' OR rid = ''",
        "are not JSON objects with resourceType and id")
    bad("rtype <> 'Provenance' AND coalesce(n_rec, 0) <> 1",
        "lack exactly one record identifier urn:crossbridge:<scope>:<cdm table> (needed for ifNoneExist)",
        "source, rtype, rid, list_transform(rec, lambda x: x.system || '|' || x.value)")
    dup = con.execute("""SELECT rtype, rid, count(*), string_agg(DISTINCT source, ', ') FROM _bx
                         GROUP BY rtype, rid HAVING count(*) > 1 ORDER BY rtype, rid LIMIT 5""").fetchall()
    if dup:
        shown = "; ".join(f"{t}/{i} x{n} in {s}" for t, i, n, s in dup)
        raise BundleInputError(f"duplicate resource ids: a Type/id must occur once in an export (first: {shown})")


def _index(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, int]]:
    """``Type/id`` -> (search token of its record identifier, or None for Provenance; its position)."""
    index: dict[str, tuple[str | None, int]] = {}
    cur = con.execute("SELECT rtype, rid, rec_system, rec_value, rank FROM _bx")
    while rows := cur.fetchmany(50_000):
        for rtype, rid, system, value, rank in rows:
            token = search_token(system, value) if system is not None and rtype != "Provenance" else None
            index[f"{rtype}/{rid}"] = (token, rank)
    return index


# --------------------------------------------------------------------------- Python side

@dataclass
class _Row:
    line: str
    rtype: str
    rid: str
    section: int
    owner: str | None
    group_n: int
    rank: int


def _rows(con: duckdb.DuckDBPyConnection) -> Iterator[_Row]:
    cur = con.execute("SELECT line, rtype, rid, section, owner, group_n, rank FROM _bx ORDER BY rank")
    while batch := cur.fetchmany(_FETCH_ROWS):
        for values in batch:
            yield _Row(*values)


def _pack(rows: Iterable[_Row], bundle_size: int, report: BundleReport) -> Iterator[list[_Row]]:
    """Cut the ordered rows into bundles: sections apart, patients whole unless larger than a bundle."""
    current: list[_Row] = []
    prev: _Row | None = None
    split_owner: str | None = None
    for row in rows:
        new_group = prev is None or row.section != prev.section or (row.section == 1 and row.owner != prev.owner)
        if new_group and row.section == 1:
            report.patients += 1
        if current and (row.section != current[-1].section
                        or (new_group and row.section == 1 and len(current) + row.group_n > bundle_size)):
            yield current
            current = []
        if not current and prev is not None and not new_group and row.section == 1 and split_owner != row.owner:
            report.patients_split += 1  # this bundle continues the previous one's patient
            split_owner = row.owner
        current.append(row)
        prev = row
        if len(current) >= bundle_size:
            yield current
            current = []
    if current:
        yield current


def _bundle(rows: list[_Row], index: dict[str, tuple[str | None, int]], report: BundleReport) -> dict:
    local = {f"{r.rtype}/{r.rid}": full_url(r.rtype, r.rid) for r in rows}
    last_rank = rows[-1].rank
    refs = report.references
    entries = []
    for row in rows:
        here = f"{row.rtype}/{row.rid}"

        def resolve(ref: str, here: str = here) -> str:
            if ref.startswith("#"):
                refs["contained"] += 1
                return ref
            url = local.get(ref)
            if url is not None:
                refs["same_bundle"] += 1
                return url
            hit = index.get(ref)
            if hit is None:
                refs["unresolved"] += 1
                if len(report.unresolved_examples) < MAX_UNRESOLVED_EXAMPLES:
                    report.unresolved_examples.append(f"{here} -> {ref}")
                return ref
            token, rank = hit
            if token is None:
                refs["literal"] += 1
                return ref
            refs["conditional"] += 1
            if rank > last_rank:
                refs["conditional_forward"] += 1
            return f"{ref.split('/', 1)[0]}?identifier={token}"

        resource = json.loads(row.line, object_hook=_reference_hook(resolve))
        if row.rtype == "Provenance":
            request = {"method": "PUT", "url": f"Provenance/{quote(row.rid, safe='')}"}
        else:
            resource.pop("id", None)
            request = {"method": "POST", "url": row.rtype, "ifNoneExist": f"identifier={index[here][0]}"}
        entries.append({"fullUrl": local[here], "resource": resource, "request": request})
        report.entries[row.rtype] = report.entries.get(row.rtype, 0) + 1
        report.requests[request["method"]] = report.requests.get(request["method"], 0) + 1
    section = SECTIONS[rows[0].section]
    report.bundles += 1
    report.bundles_by_section[section] = report.bundles_by_section.get(section, 0) + 1
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


def _reference_hook(resolve: Callable[[str], str]) -> Callable[[dict], dict]:
    """A ``json.loads`` object_hook replacing every Reference.reference string by ``resolve(reference)``
    while the line is parsed (one call per JSON object, cheaper than walking the result)."""
    def hook(obj: dict) -> dict:
        ref = obj.get("reference")
        if isinstance(ref, str):
            obj["reference"] = resolve(ref)
        return obj
    return hook


def _load(con: duckdb.DuckDBPyConnection, source_sql: str, bundle_size: int,
          report: BundleReport) -> dict[str, tuple[str | None, int]]:
    """Read and check every resource, count them per type; returns the reference index."""
    if bundle_size < 1:
        raise ValueError(f"bundle_size must be at least 1, got {bundle_size}")
    _prepare(con, source_sql)
    report.lines_read = dict(con.execute("SELECT rtype, count(*) FROM _bx GROUP BY rtype ORDER BY rtype").fetchall())
    return _index(con)


def _emit(con: duckdb.DuckDBPyConnection, index: dict[str, tuple[str | None, int]], bundle_size: int,
          report: BundleReport) -> Iterator[dict]:
    for rows in _pack(_rows(con), bundle_size, report):
        yield _bundle(rows, index, report)
    if report.entries != report.lines_read:  # nothing lost, nothing invented (an internal invariant)
        raise AssertionError(f"entries {report.entries} differ from resources read {report.lines_read}")


def _connect(tmp: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute(f"SET temp_directory = '{tmp.replace(chr(39), chr(39) * 2)}'")  # large sorts spill here
    return con


# --------------------------------------------------------------------------- public API

def make_bundles(resources: Iterable[dict | str], *, bundle_size: int = 500) -> tuple[list[dict], BundleReport]:
    """Transaction Bundles (dicts, in load order) for resources held in memory (dicts or JSON texts),
    and the report.  Same rules and order as :func:`write_bundles`; no files are read or written."""
    started = time.perf_counter()
    texts = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in resources]
    report = BundleReport(out_dir=None, bundle_size=bundle_size)
    with tempfile.TemporaryDirectory(prefix="crossbridge-bundles-") as tmp:
        con = _connect(tmp)
        try:
            con.register("_bx_src", pa.table({"source": [f"resources[{i}]" for i in range(len(texts))],
                                              "text": pa.array(texts, pa.string())}))
            try:
                index = _load(con, "SELECT source, text::JSON AS json FROM _bx_src", bundle_size, report)
            except (duckdb.ConversionException, duckdb.InvalidInputException) as e:
                raise BundleInputError(f"a resource is not valid JSON: {e}") from e
            bundles = list(_emit(con, index, bundle_size, report))
        finally:
            con.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return bundles, report


def write_bundles(ndjson_dir: str | Path, out_dir: str | Path, *, bundle_size: int = 500,
                  progress: Callable[[str, int], None] | None = None) -> BundleReport:
    """Write ``bundle-00001.json`` ... to ``out_dir`` from the ``*.ndjson`` files of ``ndjson_dir``.

    The whole export is read and checked first: on a :class:`BundleInputError` nothing in ``out_dir``
    is touched; otherwise its old ``bundle-*.json`` are replaced.  ``progress(file name, entries)`` is
    called after each bundle written."""
    started = time.perf_counter()
    src = Path(ndjson_dir)
    files = sorted(src.glob("*.ndjson"))
    if not files:
        raise BundleInputError(f"no *.ndjson files in {src}: not a FHIR NDJSON export directory")
    out = Path(out_dir)
    report = BundleReport(out_dir=str(out), bundle_size=bundle_size)
    source_sql = (f"SELECT filename AS source, json FROM read_json_objects({_sql_list(str(f) for f in files)}, "
                  f"format='newline_delimited', filename=true, maximum_object_size=1073741824)")
    with tempfile.TemporaryDirectory(prefix="crossbridge-bundles-") as tmp:
        con = _connect(tmp)
        try:
            try:
                index = _load(con, source_sql, bundle_size, report)
            except duckdb.InvalidInputException as e:
                raise BundleInputError(f"cannot read the NDJSON export in {src}: {e}") from e
            out.mkdir(parents=True, exist_ok=True)
            for old in out.glob(BUNDLE_GLOB):
                old.unlink()
            width = max(5, len(str(sum(report.lines_read.values()))))  # names sort in load order
            for n, bundle in enumerate(_emit(con, index, bundle_size, report), start=1):
                name = f"bundle-{n:0{width}d}.json"
                text = json.dumps(bundle, ensure_ascii=False, separators=(",", ":"))  # C encoder, unlike dump
                with open(out / name, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write(text)
                if progress:
                    progress(name, len(bundle["entry"]))
        finally:
            con.close()
    report.seconds = round(time.perf_counter() - started, 3)
    return report


__all__ = ["BundleInputError", "BundleReport", "PATIENT_TYPE_ORDER", "SHARED_TYPES", "full_url", "make_bundles",
           "search_token", "write_bundles"]
