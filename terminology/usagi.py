"""Usagi and FinOMOP "usagi-extended" mapping files: read, validate, turn into Athena tables, write back.

A Usagi file is a quoted CSV with one row per (source code, target concept):
``sourceCode, sourceName, sourceFrequency, sourceAutoAssignedConceptIds,
matchScore, mappingStatus, equivalence, statusSetBy, statusSetOn, conceptId,
conceptName, domainId, mappingType, comment, createdBy, createdOn,
assignedReviewer``.  FinOMOP's usagi-extended files add ``ADD_INFO:*`` columns
describing the source concept (``sourceConceptId``, ``sourceConceptClass``,
``sourceDomain``, ``sourceValidStartDate``, ``sourceValidEndDate``,
``sourceParents``, ``sourceParentVocabulary``, ``sourceName_fi``).

Rules implemented here:

* One source concept per distinct ``sourceCode``.  Its id is
  ``ADD_INFO:sourceConceptId`` when the column is present, else
  ``concept_id_offset`` + the code's position (1-based, order of first
  appearance); neither -> error.  One id for two codes, or two ids for one
  code -> error.
* Only rows with ``mappingStatus = APPROVED`` and ``conceptId > 0`` give
  relationships; ``mappingType`` MAPS_TO -> 'Maps to', MAPS_TO_VALUE -> 'Maps
  to value', MAPS_TO_UNIT -> 'Maps to unit', MAPS_TO_OPERATOR -> 'Maps to
  operator' (each with its reverse: 'Mapped from', 'Value mapped from' ...).
  Several rows for one code = several targets.  The Usagi ``equivalence`` is
  kept per mapping (FHIR ConceptMap equivalence needs it).
* Unapproved rows keep the source concept but give no mapping (counted in
  :attr:`UsagiVocabulary.report`).
* Names: ``sourceName`` (English, language 4180186) and ``sourceName_fi``
  (Finnish, :data:`terminology.concepts.LANGUAGE_FINNISH`) become
  CONCEPT_SYNONYM rows.
* Validation errors (:class:`UsagiFormatError`) name file, line and column:
  unknown mappingStatus / equivalence / mappingType, non-integer conceptId or
  sourceConceptId, bad dates (``YYYY-MM-DD`` or ``YYYYMMDD``), empty
  sourceCode, ids outside the vocabulary's block.

Parsing and checks are vectorised (pyarrow.compute); Python loops only over
columns.  Line numbers count physical lines (a quoted field may span lines).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from terminology.concepts import LANGUAGE_ENGLISH, LANGUAGE_FINNISH, LOCAL_BLOCK_SIZE
from terminology.errors import VocabularyFormatError

USAGI_COLUMNS = (
    "sourceCode", "sourceName", "sourceFrequency", "sourceAutoAssignedConceptIds", "matchScore",
    "mappingStatus", "equivalence", "statusSetBy", "statusSetOn", "conceptId", "conceptName", "domainId",
    "mappingType", "comment", "createdBy", "createdOn", "assignedReviewer",
)
ADD_INFO_COLUMNS = (
    "ADD_INFO:sourceConceptId", "ADD_INFO:sourceConceptClass", "ADD_INFO:sourceDomain",
    "ADD_INFO:sourceValidStartDate", "ADD_INFO:sourceValidEndDate", "ADD_INFO:sourceParents",
    "ADD_INFO:sourceParentVocabulary", "ADD_INFO:sourceName_fi",
)
REQUIRED_COLUMNS = ("sourceCode", "sourceName", "mappingStatus", "conceptId")
MAPPING_STATUSES = ("APPROVED", "UNCHECKED", "AUTO_MAPPED", "AUTO_MAPPED_TO_1", "INVALID_TARGET", "FLAGGED",
                    "IGNORED")
EQUIVALENCES = ("EQUAL", "EQUIVALENT", "WIDER", "NARROWER", "INEXACT", "UNMATCHED", "UNREVIEWED")
# mappingType -> (relationship_id, reverse relationship_id)
MAPPING_TYPES: dict[str, tuple[str, str]] = {
    "MAPS_TO": ("Maps to", "Mapped from"),
    "MAPS_TO_VALUE": ("Maps to value", "Value mapped from"),
    "MAPS_TO_UNIT": ("Maps to unit", "Unit mapped from"),
    "MAPS_TO_OPERATOR": ("Maps to operator", "Operator mapped from"),
}
DEFAULT_VALID_START = dt.date(1970, 1, 1)
DEFAULT_VALID_END = dt.date(2099, 12, 31)
DEFAULT_CONCEPT_CLASS = "Undefined"
DEFAULT_DOMAIN = "Observation"

ATHENA_SCHEMAS: dict[str, pa.Schema] = {
    "concept": pa.schema([
        ("concept_id", pa.int32()), ("concept_name", pa.string()), ("domain_id", pa.string()),
        ("vocabulary_id", pa.string()), ("concept_class_id", pa.string()), ("standard_concept", pa.string()),
        ("concept_code", pa.string()), ("valid_start_date", pa.date32()), ("valid_end_date", pa.date32()),
        ("invalid_reason", pa.string())]),
    "concept_relationship": pa.schema([
        ("concept_id_1", pa.int32()), ("concept_id_2", pa.int32()), ("relationship_id", pa.string()),
        ("valid_start_date", pa.date32()), ("valid_end_date", pa.date32()), ("invalid_reason", pa.string())]),
    "concept_synonym": pa.schema([
        ("concept_id", pa.int32()), ("concept_synonym_name", pa.string()), ("language_concept_id", pa.int32())]),
    "concept_class": pa.schema([
        ("concept_class_id", pa.string()), ("concept_class_name", pa.string()),
        ("concept_class_concept_id", pa.int32())]),
    "vocabulary": pa.schema([
        ("vocabulary_id", pa.string()), ("vocabulary_name", pa.string()), ("vocabulary_reference", pa.string()),
        ("vocabulary_version", pa.string()), ("vocabulary_concept_id", pa.int32())]),
}


class UsagiFormatError(VocabularyFormatError):
    """A Usagi file is missing or malformed; names the file, line and column."""

    field_label = "column"

    def __init__(self, message: str, file: Path | str | None = None, line: int | None = None,
                 column: str | None = None):
        super().__init__(message, file, line, column)
        self.column = column


@dataclass(frozen=True)
class UsagiVocabulary:
    """A source vocabulary read from one Usagi file.

    ``rows``: every file row, all columns as text plus ``_line`` (physical line),
    ``_source_concept_id``, ``_target_concept_id`` and ``_approved``;
    ``concepts``: one row per source code (concept_id, concept_code,
    concept_name, name_fi, domain_id, concept_class_id, valid_start_date,
    valid_end_date, parents, parent_vocabularies, line);
    ``mappings``: approved rows (source_concept_id, source_code,
    target_concept_id, relationship_id, reverse_relationship_id, equivalence,
    mapping_type, target_concept_name, target_domain_id, line).
    """

    path: str
    vocabulary_id: str
    vocabulary_name: str
    vocabulary_version: str | None
    concept_id_offset: int | None
    rows: pa.Table
    concepts: pa.Table
    mappings: pa.Table
    report: dict[str, object] = field(default_factory=dict)

    def equivalence(self) -> dict[tuple[str, int], str]:
        """(source_code, target_concept_id) -> Usagi equivalence of every approved mapping."""
        m = self.mappings
        return dict(zip(zip(m["source_code"].to_pylist(), m["target_concept_id"].to_pylist()),
                        m["equivalence"].to_pylist()))

    def to_athena_tables(self) -> dict[str, pa.Table]:
        """CONCEPT, CONCEPT_RELATIONSHIP (with reverse rows), CONCEPT_SYNONYM, CONCEPT_CLASS, VOCABULARY.

        Tables are keyed by lower-case Athena table name, with the column names
        and types the loader creates (dates as date32).  Source concepts are
        non-standard (standard_concept null); relationships are valid for the
        source concept's validity range.
        """
        c = self.concepts
        n = c.num_rows
        null_s = pa.nulls(n, pa.string())
        concept = pa.table([
            c["concept_id"], c["concept_name"], c["domain_id"], pa.array([self.vocabulary_id] * n, pa.string()),
            c["concept_class_id"], null_s, c["concept_code"], c["valid_start_date"], c["valid_end_date"], null_s,
        ], schema=ATHENA_SCHEMAS["concept"])
        # relationships: join mappings to the concept validity range
        m = self.mappings.select(["source_concept_id", "target_concept_id", "relationship_id",
                                  "reverse_relationship_id"])
        m = m.join(c.select(["concept_id", "valid_start_date", "valid_end_date"]), "source_concept_id",
                   "concept_id", join_type="left outer")
        fwd = pa.table([m["source_concept_id"], m["target_concept_id"], m["relationship_id"],
                        m["valid_start_date"], m["valid_end_date"], pa.nulls(m.num_rows, pa.string())],
                       schema=ATHENA_SCHEMAS["concept_relationship"])
        rev = pa.table([m["target_concept_id"], m["source_concept_id"], m["reverse_relationship_id"],
                        m["valid_start_date"], m["valid_end_date"], pa.nulls(m.num_rows, pa.string())],
                       schema=ATHENA_SCHEMAS["concept_relationship"])
        rel = pa.concat_tables([fwd, rev]).group_by(
            ["concept_id_1", "concept_id_2", "relationship_id"], use_threads=False).aggregate(
            [("valid_start_date", "min"), ("valid_end_date", "max")])
        rel = pa.table([rel["concept_id_1"], rel["concept_id_2"], rel["relationship_id"],
                        rel["valid_start_date_min"], rel["valid_end_date_max"], pa.nulls(rel.num_rows, pa.string())],
                       schema=ATHENA_SCHEMAS["concept_relationship"]).sort_by(
            [("concept_id_1", "ascending"), ("relationship_id", "ascending"), ("concept_id_2", "ascending")])
        en = pa.table([c["concept_id"], c["concept_name"], pa.array(np.full(n, LANGUAGE_ENGLISH, np.int32))],
                      schema=ATHENA_SCHEMAS["concept_synonym"])
        fi_rows = c.filter(pc.not_equal(c["name_fi"], ""))
        fi = pa.table([fi_rows["concept_id"], fi_rows["name_fi"],
                       pa.array(np.full(fi_rows.num_rows, LANGUAGE_FINNISH, np.int32))],
                      schema=ATHENA_SCHEMAS["concept_synonym"])
        synonym = pa.concat_tables([en, fi]).sort_by([("concept_id", "ascending"),
                                                      ("language_concept_id", "ascending")])
        classes = pc.unique(c["concept_class_id"]).sort()
        concept_class = pa.table([classes, classes, pa.array(np.zeros(len(classes), np.int32))],
                                 schema=ATHENA_SCHEMAS["concept_class"])
        vocabulary = pa.table([[self.vocabulary_id], [self.vocabulary_name], [Path(self.path).name],
                               [self.vocabulary_version], pa.array([0], pa.int32())],
                              schema=ATHENA_SCHEMAS["vocabulary"])
        return {"concept": concept, "concept_relationship": rel, "concept_synonym": synonym,
                "concept_class": concept_class, "vocabulary": vocabulary}


# ---------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------
def _header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        first = next(csv.reader(fh), None)
    if not first:
        raise UsagiFormatError("empty file (no header line)", path, 1)
    return [h.strip() for h in first]


def _line_numbers(table: pa.Table) -> np.ndarray:
    """Physical line of each data row (header = line 1); quoted fields may hold line breaks."""
    extra = np.zeros(table.num_rows, dtype=np.int64)
    for col in table.columns:
        extra += pc.fill_null(pc.count_substring(col, "\n"), 0).to_numpy(zero_copy_only=False)
    before = np.concatenate([[0], np.cumsum(extra)[:-1]]) if table.num_rows else extra
    return np.arange(table.num_rows, dtype=np.int64) + 2 + before


def _fail_first(mask, lines: np.ndarray, values, message: str, path: Path, column: str) -> None:
    mask = pc.fill_null(mask, False)
    if pc.any(mask).as_py():
        i = pc.index(mask, True).as_py()
        raise UsagiFormatError(f"{message}: {values[i].as_py()!r}", path, int(lines[i]), column)


def _int_column(t: pa.Table, name: str, lines: np.ndarray, path: Path, *, empty_as: int | None) -> pa.Array:
    col = pc.utf8_trim_whitespace(t[name].combine_chunks())
    is_empty = pc.equal(col, "")
    ok = pc.match_substring_regex(col, r"^-?[0-9]{1,10}$")
    bad = pc.and_(pc.invert(is_empty), pc.invert(ok)) if empty_as is not None else pc.invert(ok)
    _fail_first(bad, lines, col, "not an integer", path, name)
    filled = pc.if_else(is_empty, str(empty_as if empty_as is not None else 0), col)
    as64 = pc.cast(filled, pa.int64())
    _fail_first(pc.or_(pc.greater(as64, 2**31 - 1), pc.less(as64, -(2**31))), lines, col,
                "not a 32-bit integer", path, name)
    return pc.cast(as64, pa.int32())


def _date_column(t: pa.Table, name: str, default: dt.date, lines: np.ndarray, path: Path) -> pa.Array:
    if name not in t.column_names:
        return pa.array(np.full(t.num_rows, np.datetime64(default, "D")), pa.date32())
    col = pc.utf8_trim_whitespace(t[name].combine_chunks())
    iso = pc.match_substring_regex(col, r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    compact = pc.match_substring_regex(col, r"^[0-9]{8}$")
    text = pc.if_else(compact, pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(col, 0, 4), pc.utf8_slice_codeunits(col, 4, 6),
        pc.utf8_slice_codeunits(col, 6, 8), "-"), col)
    empty = pc.equal(col, "")
    parsed = pc.strptime(pc.if_else(pc.or_(iso, compact), text, None), "%Y-%m-%d", "s", error_is_null=True)
    # strptime rolls impossible days over (2023-02-31 -> March): require the date to print back unchanged
    printed = pc.strftime(parsed, "%Y-%m-%d")
    bad = pc.and_(pc.invert(empty), pc.or_(pc.is_null(parsed), pc.fill_null(pc.not_equal(printed, text), True)))
    _fail_first(bad, lines, col, "not a date (YYYY-MM-DD or YYYYMMDD)", path, name)
    dates = pc.cast(parsed, pa.date32())
    return pc.if_else(empty, pa.scalar(default, pa.date32()), dates)


def _check_domain(t: pa.Table, name: str, allowed: tuple[str, ...], lines, path: Path) -> None:
    col = t[name].combine_chunks()
    _fail_first(pc.invert(pc.is_in(col, pa.array(allowed))), lines, col,
                f"unknown value (allowed: {', '.join(allowed)})", path, name)


def read_usagi(path: str | Path, vocabulary_id: str, *, concept_id_offset: int | None = None,
               vocabulary_version: str | None = None, vocabulary_name: str | None = None) -> UsagiVocabulary:
    """Read and validate a Usagi (or usagi-extended) CSV file as source vocabulary ``vocabulary_id``.

    See the module docstring for the rules.  ``concept_id_offset`` is the first
    id of the vocabulary's block: ids come from it when the file has no
    ``ADD_INFO:sourceConceptId`` column, and ids in the file must lie in
    ``[offset, offset + 100000)`` when it is given.
    """
    path = Path(path)
    if not path.is_file():
        raise UsagiFormatError("Usagi file does not exist", path)
    header = _header(path)
    dup = sorted({h for h in header if header.count(h) > 1})
    if dup:
        raise UsagiFormatError(f"duplicate column(s) {dup}", path, 1)
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UsagiFormatError(f"missing column(s) {missing}", path, 1)
    try:
        t = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.string() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except pa.ArrowInvalid as exc:  # wrong field count, bad quoting, bad UTF-8
        raise UsagiFormatError(f"not a readable CSV: {exc}", path) from exc
    t = t.rename_columns([h.strip() for h in t.column_names])
    lines = _line_numbers(t)
    n = t.num_rows

    def col(name: str, default: str = "") -> pa.Array:
        if name in t.column_names:
            return t[name].combine_chunks()
        return pa.array([default] * n, pa.string())

    code = pc.utf8_trim_whitespace(col("sourceCode"))
    _fail_first(pc.equal(code, ""), lines, code, "empty sourceCode", path, "sourceCode")
    status = pc.utf8_trim_whitespace(col("mappingStatus"))
    _fail_first(pc.invert(pc.is_in(status, pa.array(MAPPING_STATUSES))), lines, status,
                f"unknown mappingStatus (allowed: {', '.join(MAPPING_STATUSES)})", path, "mappingStatus")
    equivalence = pc.utf8_trim_whitespace(col("equivalence", "UNREVIEWED"))
    _fail_first(pc.invert(pc.is_in(equivalence, pa.array(EQUIVALENCES))), lines, equivalence,
                f"unknown equivalence (allowed: {', '.join(EQUIVALENCES)})", path, "equivalence")
    mtype = pc.utf8_trim_whitespace(col("mappingType", "MAPS_TO"))
    mtype = pc.if_else(pc.equal(mtype, ""), "MAPS_TO", mtype)
    _fail_first(pc.invert(pc.is_in(mtype, pa.array(list(MAPPING_TYPES)))), lines, mtype,
                f"unknown mappingType (allowed: {', '.join(MAPPING_TYPES)})", path, "mappingType")
    target = _int_column(t, "conceptId", lines, path, empty_as=0)

    # source concept ids: from the file, else offset + position of the code's first appearance
    codes_unique = pc.unique(code)
    position = pc.index_in(code, codes_unique)  # 0-based, order of first appearance
    has_ids = "ADD_INFO:sourceConceptId" in t.column_names
    if has_ids:
        sid = _int_column(t, "ADD_INFO:sourceConceptId", lines, path, empty_as=None)
    elif concept_id_offset is not None:
        sid = pc.cast(pc.add(pc.cast(position, pa.int64()), concept_id_offset + 1), pa.int32())
    else:
        raise UsagiFormatError("no ADD_INFO:sourceConceptId column and no concept_id_offset given: "
                               "source concept ids cannot be assigned", path, 1, "ADD_INFO:sourceConceptId")
    if concept_id_offset is not None:
        out = pc.or_(pc.less(sid, concept_id_offset), pc.greater_equal(sid, concept_id_offset + LOCAL_BLOCK_SIZE))
        _fail_first(out, lines, sid, f"source concept id outside the block {concept_id_offset}.."
                                     f"{concept_id_offset + LOCAL_BLOCK_SIZE - 1}", path, "ADD_INFO:sourceConceptId")
    pairs = pa.table({"code": code, "sid": sid, "_line": pa.array(lines)})
    _check_one_to_one(pairs, "sid", "code", path, "ADD_INFO:sourceConceptId",
                      "source concept id used for two codes")
    _check_one_to_one(pairs, "code", "sid", path, "ADD_INFO:sourceConceptId", "two source concept ids for one code")

    start = _date_column(t, "ADD_INFO:sourceValidStartDate", DEFAULT_VALID_START, lines, path)
    end = _date_column(t, "ADD_INFO:sourceValidEndDate", DEFAULT_VALID_END, lines, path)
    _fail_first(pc.less(end, start), lines, col("ADD_INFO:sourceValidEndDate"),
                "valid end date before valid start date", path, "ADD_INFO:sourceValidEndDate")

    approved = pc.and_(pc.equal(status, "APPROVED"), pc.greater(target, 0))
    rel = pc.take(pa.array([v[0] for v in MAPPING_TYPES.values()]),
                  pc.index_in(mtype, pa.array(list(MAPPING_TYPES))))
    rev = pc.take(pa.array([v[1] for v in MAPPING_TYPES.values()]),
                  pc.index_in(mtype, pa.array(list(MAPPING_TYPES))))
    domain_src = col("ADD_INFO:sourceDomain")
    tdomain = col("domainId")
    domain = pc.if_else(pc.not_equal(domain_src, ""), domain_src,
                        pc.if_else(pc.not_equal(tdomain, ""), tdomain, DEFAULT_DOMAIN))
    cls = col("ADD_INFO:sourceConceptClass")
    cls = pc.if_else(pc.equal(cls, ""), DEFAULT_CONCEPT_CLASS, cls)

    rows = t.append_column("_line", pa.array(lines)).append_column("_source_concept_id", sid) \
        .append_column("_target_concept_id", target).append_column("_approved", approved)
    full = pa.table({
        "concept_id": sid, "concept_code": code, "concept_name": col("sourceName"),
        "name_fi": col("ADD_INFO:sourceName_fi"),
        "domain_id": domain, "concept_class_id": cls, "valid_start_date": start, "valid_end_date": end,
        "parents": col("ADD_INFO:sourceParents"), "parent_vocabularies": col("ADD_INFO:sourceParentVocabulary"),
        "line": pa.array(lines), "_pos": position,
    })
    # first row of each code describes the concept
    first = pc.equal(pa.array(np.arange(n, dtype=np.int64)),
                     pc.take(pc.cast(_first_index(position, len(codes_unique)), pa.int64()), position))
    concepts = full.filter(first).sort_by("_pos").drop_columns(["_pos"])
    mappings = pa.table({
        "source_concept_id": sid, "source_code": code, "target_concept_id": target, "relationship_id": rel,
        "reverse_relationship_id": rev, "equivalence": equivalence, "mapping_type": mtype,
        "target_concept_name": col("conceptName"), "target_domain_id": tdomain, "line": pa.array(lines),
    }).filter(approved)
    status_counts = {d["values"]: d["counts"] for d in pc.value_counts(status).to_pylist()}
    mapped_codes = pc.unique(mappings["source_code"]) if mappings.num_rows else pa.array([], pa.string())
    report = {
        "rows": n, "concepts": concepts.num_rows, "mappings": mappings.num_rows,
        "mapped_codes": len(mapped_codes), "unmapped_codes": concepts.num_rows - len(mapped_codes),
        "unapproved_rows": n - int(pc.sum(pc.cast(pc.equal(status, "APPROVED"), pa.int64())).as_py() or 0),
        "status_counts": dict(sorted(status_counts.items())),
        "finnish_names": int(pc.sum(pc.cast(pc.not_equal(concepts["name_fi"], ""), pa.int64())).as_py() or 0),
    }
    return UsagiVocabulary(str(path), vocabulary_id, vocabulary_name or vocabulary_id, vocabulary_version,
                           concept_id_offset, rows, concepts, mappings, report)


def _first_index(position: pa.Array, n_unique: int) -> pa.Array:
    """For each distinct position value, the first row index holding it."""
    pos = position.to_numpy(zero_copy_only=False)
    first = np.full(n_unique, -1, dtype=np.int64)
    values, index = np.unique(pos, return_index=True)
    first[values] = index
    return pa.array(first)


def _check_one_to_one(pairs: pa.Table, key: str, value: str, path: Path, column: str, message: str) -> None:
    g = pairs.group_by(key, use_threads=False).aggregate([(value, "count_distinct")])
    bad = g.filter(pc.greater(g[f"{value}_count_distinct"], 1))
    if bad.num_rows:
        k = bad[key][0].as_py()
        rows = pairs.filter(pc.equal(pairs[key], k))
        firsts = rows.group_by(value, use_threads=False).aggregate([("_line", "min")]).sort_by("_line_min")
        line = int(firsts["_line_min"][1].as_py())
        raise UsagiFormatError(f"{message}: {key} {k!r} has {value}s "
                               f"{firsts[value].to_pylist()} (first at line {firsts['_line_min'][0].as_py()})",
                               path, line, column)


# ---------------------------------------------------------------------------
# FinOMOP vocabularies.csv
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class UsagiSource:
    """One row of a FinOMOP ``vocabularies.csv``: which file holds which vocabulary at which offset."""

    vocabulary_id: str
    vocabulary_name: str
    offset: int
    path: Path
    ignore: bool = False


def read_vocabularies_csv(path: str | Path) -> list[UsagiSource]:
    """Read a FinOMOP ``vocabularies.csv`` (source_vocabulary_id, source_vocabulary_name,
    source_concept_id_offset, path_to_usagi_file, path_to_news_file, ignore); paths are relative to it."""
    path = Path(path)
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        need = ("source_vocabulary_id", "source_vocabulary_name", "source_concept_id_offset", "path_to_usagi_file")
        missing = [c for c in need if c not in (reader.fieldnames or [])]
        if missing:
            raise UsagiFormatError(f"missing column(s) {missing}", path, 1)
        out = []
        for i, r in enumerate(reader, start=2):
            off = r["source_concept_id_offset"].strip()
            if not off.isdigit():
                raise UsagiFormatError(f"not an integer: {off!r}", path, i, "source_concept_id_offset")
            ignore = (r.get("ignore") or "FALSE").strip().upper() == "TRUE"
            out.append(UsagiSource(r["source_vocabulary_id"].strip(), r["source_vocabulary_name"].strip(), int(off),
                                   (path.parent / r["path_to_usagi_file"].strip()).resolve(), ignore))
    return out


# ---------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------
def _csv_field(arr: pa.Array) -> pa.Array:
    """Quote a text column as CSV needs it (RFC 4180, minimal quoting), vectorised."""
    arr = pc.cast(arr, pa.string())
    arr = pc.fill_null(arr, "")
    needs = pc.match_substring_regex(arr, r'[",\r\n]')
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)


def write_usagi(path: str | Path, vocabulary: UsagiVocabulary | pa.Table, *, extended: bool = True) -> Path:
    """Write a usagi-extended CSV (``extended=False``: the standard Usagi columns only).

    ``vocabulary`` is a :class:`UsagiVocabulary` (its rows are written back,
    with the source concept ids it assigned) or a table holding (a subset of)
    the Usagi / ADD_INFO columns as text; missing columns are written empty.
    Minimal quoting, ``\\n`` line ends, UTF-8: deterministic output.
    """
    path = Path(path)
    if isinstance(vocabulary, UsagiVocabulary):
        t = vocabulary.rows
        if "ADD_INFO:sourceConceptId" not in t.column_names:
            t = t.append_column("ADD_INFO:sourceConceptId", pc.cast(t["_source_concept_id"], pa.string()))
    else:
        t = vocabulary
    columns = list(USAGI_COLUMNS) + (list(ADD_INFO_COLUMNS) if extended else [])
    extra = [c for c in t.column_names if c.startswith("ADD_INFO:") and c not in columns] if extended else []
    columns += extra
    n = t.num_rows
    fields = [_csv_field(t[c].combine_chunks()) if c in t.column_names else pa.array([""] * n, pa.string())
              for c in columns]
    body = pc.binary_join_element_wise(*fields, ",") if fields else pa.array([], pa.string())
    lines = body.to_pylist()
    text = ",".join(columns) + "\n" + ("\n".join(lines) + "\n" if lines else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


__all__ = [
    "ADD_INFO_COLUMNS", "ATHENA_SCHEMAS", "EQUIVALENCES", "MAPPING_STATUSES", "MAPPING_TYPES", "USAGI_COLUMNS",
    "UsagiFormatError", "UsagiSource", "UsagiVocabulary", "read_usagi", "read_vocabularies_csv", "write_usagi",
]
