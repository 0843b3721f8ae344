"""Concept names in English, Traditional Chinese and Finnish: names files, attaching them by code, and search.

Athena downloads carry English names only, and the concept ids of source
concepts (ICD10CM, ICD9CM, ...) differ between downloads, so names in other
languages are kept in **names files** keyed by code and attached to whatever
store they are loaded into.

Names file format
-----------------
UTF-8 (a byte-order mark is allowed), tab-separated, one header line, no
quoting, lines ending in ``\\n`` (``\\r\\n`` accepted)::

    vocabulary_id<TAB>concept_code<TAB>language<TAB>name
    ICD10CM<TAB>E11.9<TAB>zh-TW<TAB>第二型糖尿病，未伴有併發症

* ``vocabulary_id``: an OMOP vocabulary id as in the store (``ICD10CM``).
* ``concept_code``: the code as Athena writes ``concept.concept_code``; for
  the ICD vocabularies with a dot (ICD9CM, ICD10CM, ICD10, ICD9Proc) a code
  written without it (``E119``) is normalised by :mod:`terminology.normalise`
  when attached.
* ``language``: a BCP-47 tag among :data:`LANGUAGES` (``en``, ``zh-TW``,
  ``fi``; matched case-insensitively, stored in this spelling), i.e. the
  CONCEPT_SYNONYM languages :data:`terminology.concepts.LANGUAGE_ENGLISH`,
  ``LANGUAGE_CHINESE`` and ``LANGUAGE_FINNISH``.
* ``name``: the name; a code may have several names per language.

Fields are trimmed of surrounding blanks.  A wrong header, a wrong field count,
an unknown language, an empty code, vocabulary or name and a repeated
(vocabulary_id, concept_code, language, name) row are errors
(:class:`NamesFormatError`, naming file, line and column).  Parsing is
vectorised (pyarrow.compute over the whole file); Python loops over columns only.

Attaching names
---------------
:func:`names_overlay` returns an :data:`terminology.overlay.OverlayBuilder`:
called with a connection holding the loaded CONCEPT table, it joins the names
to CONCEPT on (vocabulary_id, concept_code) in one join and gives an
:class:`~terminology.overlay.OverlayVocabulary` with CONCEPT_SYNONYM rows only
(no new vocabulary).  A code not in the store is an error naming file and line
(``unknown='error'``) or is counted and skipped (``unknown='skip'``); a name
identical to an existing (concept_id, name, language) synonym, or given twice
for one concept, is skipped and counted.  A code held by several concepts of
one vocabulary gets the name on each.

Search
------
:func:`search_concepts` searches concept names and synonyms in all languages
in one SQL query (case-insensitive via ``lower()``; Chinese matches by
substring of characters) and codes exactly; :func:`concept_names` gives the
first name per language of given concepts.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_ENGLISH, LANGUAGE_FINNISH
from terminology.errors import VocabularyFormatError
from terminology.normalise import DOT_AFTER, FI_ICD10_VOCABULARIES, normalise_codes
from terminology.overlay import OverlayBuilder, OverlayVocabulary
from terminology.usagi import ATHENA_SCHEMAS

# BCP-47 tag <-> CONCEPT_SYNONYM language concept id
LANGUAGES: dict[str, int] = {"en": LANGUAGE_ENGLISH, "zh-TW": LANGUAGE_CHINESE, "fi": LANGUAGE_FINNISH}
LANGUAGE_TAGS: dict[int, str] = {v: k for k, v in LANGUAGES.items()}
NAMES_COLUMNS = ("vocabulary_id", "concept_code", "language", "name")
# what read_names returns: the four columns plus the file line of each row
NAMES_SCHEMA = pa.schema([("vocabulary_id", pa.string()), ("concept_code", pa.string()), ("language", pa.string()),
                          ("name", pa.string()), ("line", pa.int64())])
# vocabularies whose codes are normalised (dot placed) before the join
NORMALISED_VOCABULARIES = tuple(v for v, at in DOT_AFTER.items() if at is not None)
UNKNOWN_POLICIES = ("error", "skip")
# search: fuzzy (token) matches need this similarity (mean over query tokens of
# the best Jaro-Winkler similarity to a name token); Latin-script queries only
FUZZY_THRESHOLD = 0.85
MATCH_TYPES = ("code", "exact", "prefix", "substring", "similar")
SEARCH_SCHEMA = pa.schema([
    ("rank", pa.int64()), ("concept_id", pa.int32()), ("vocabulary_id", pa.string()), ("concept_code", pa.string()),
    ("concept_name", pa.string()), ("matched_name", pa.string()), ("language", pa.string()),
    ("standard_concept", pa.string()), ("domain_id", pa.string()), ("score", pa.float64()),
    ("match_type", pa.string()),
])
CONCEPT_NAMES_SCHEMA = pa.schema([("concept_id", pa.int32()), ("en", pa.string()), ("zh_tw", pa.string()),
                                  ("fi", pa.string())])
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
_CODE_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+&#/\- ]{0,29}")


class NamesFormatError(VocabularyFormatError):
    """A names file is missing or malformed; names the file, line and column."""

    field_label = "column"


def _first_true(mask) -> int | None:
    """Index of the first true value of a boolean array (nulls count as false), or None."""
    idx = pc.index(pc.fill_null(mask, False), True).as_py()
    return None if idx < 0 else idx


def read_names(path: str | Path) -> pa.Table:
    """Read a names file (see module docstring) into a table of :data:`NAMES_SCHEMA`, in file order."""
    path = Path(path)
    if not path.is_file():
        raise NamesFormatError("names file does not exist", path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise NamesFormatError("not UTF-8 text", path, data[:e.start].count(b"\n") + 1) from None
    text = text.removeprefix("\ufeff")
    if text.endswith("\n"):
        text = text[:-1]
    lines = pc.list_flatten(pc.split_pattern(pa.array([text], pa.large_string()), "\n"))
    lines = pc.replace_substring_regex(lines, r"\r$", "")
    expected = "\t".join(NAMES_COLUMNS)
    header = lines[0].as_py() if len(lines) else ""
    if [h.strip().lower() for h in header.split("\t")] != list(NAMES_COLUMNS):
        raise NamesFormatError(f"wrong header: expected {expected.replace(chr(9), '<TAB>')!r}, found {header!r}",
                               path, 1)
    body = lines.slice(1)
    line_no = pa.array(np.arange(2, len(body) + 2, dtype=np.int64))
    fields = pc.split_pattern(body, "\t")
    count = pc.list_value_length(fields)
    bad = _first_true(pc.not_equal(count, len(NAMES_COLUMNS)))
    if bad is not None:
        raise NamesFormatError(f"wrong field count: expected {len(NAMES_COLUMNS)} tab-separated fields, "
                               f"found {count[bad].as_py()}", path, bad + 2)
    cols = {c: pc.cast(pc.utf8_trim_whitespace(pc.list_element(fields, i)), pa.string())
            for i, c in enumerate(NAMES_COLUMNS)}
    for c in NAMES_COLUMNS:
        bad = _first_true(pc.equal(pc.utf8_length(cols[c]), 0))
        if bad is not None:
            raise NamesFormatError(f"{c} is empty", path, bad + 2, c)
    tags = pa.array(list(LANGUAGES))
    lang_idx = pc.index_in(pc.utf8_lower(cols["language"]), pc.utf8_lower(tags))
    bad = _first_true(pc.is_null(lang_idx))
    if bad is not None:
        raise NamesFormatError(f"unknown language {cols['language'][bad].as_py()!r} "
                               f"(known: {', '.join(LANGUAGES)})", path, bad + 2, "language")
    cols["language"] = pc.take(tags, lang_idx)
    table = pa.table([*cols.values(), line_no], schema=NAMES_SCHEMA)
    _check_duplicates(table, path)
    return table


def _check_duplicates(table: pa.Table, path: Path) -> None:
    """A repeated (vocabulary_id, concept_code, language, name) row is an error at its second line."""
    if table.num_rows < 2:
        return
    s = table.sort_by([(c, "ascending") for c in NAMES_COLUMNS] + [("line", "ascending")])
    same = None  # row i+1 repeats row i
    for c in NAMES_COLUMNS:
        eq = pc.equal(s[c].slice(1), s[c].slice(0, s.num_rows - 1))
        same = eq if same is None else pc.and_(same, eq)
    if not pc.any(same).as_py():
        return
    repeat_lines = pc.filter(s["line"].slice(1), same)
    line = pc.min(repeat_lines).as_py()
    at = pc.index(s["line"], line).as_py()
    first = at
    while first > 0 and same[first - 1].as_py():  # back to the group's first row (a few rows at most)
        first -= 1
    row = s.slice(at, 1).to_pylist()[0]
    raise NamesFormatError(f"duplicate name {row['name']!r} for {row['vocabulary_id']} {row['concept_code']!r} "
                           f"({row['language']}); first given on line {s['line'][first].as_py()}",
                           path, line, "name")


def write_names(table: pa.Table, path: str | Path) -> None:
    """Write a table with the :data:`NAMES_COLUMNS` (extra columns ignored) as a names file, rows in table order.

    A value containing a tab or a line break cannot be written (ValueError).
    """
    missing = [c for c in NAMES_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"names table lacks column(s): {', '.join(missing)}")
    t = table.select(list(NAMES_COLUMNS))
    t = pa.table([pc.cast(t[c], pa.string()) for c in NAMES_COLUMNS], names=list(NAMES_COLUMNS))
    for c in NAMES_COLUMNS:
        if pc.any(pc.match_substring_regex(t[c], r"[\t\r\n]")).as_py():
            raise ValueError(f"column {c} holds a tab or line break; names files cannot carry it")
    lines = pc.binary_join_element_wise(*(t[c] for c in NAMES_COLUMNS), "\t")
    body = pc.binary_join(pa.ListArray.from_arrays(pa.array([0, len(lines)], pa.int32()),
                                                   pa.concat_arrays(lines.chunks) if lines.num_chunks
                                                   else pa.array([], pa.string())), "\n")[0].as_py()
    text = "\t".join(NAMES_COLUMNS) + "\n" + (body + "\n" if len(lines) else "")
    Path(path).write_bytes(text.encode("utf-8"))


def _normalised_codes(names: pa.Table) -> pa.Array | pa.ChunkedArray:
    """concept_code with the ICD vocabularies' codes normalised (dot placed); others as written."""
    codes = names["concept_code"]
    for vocabulary_id in NORMALISED_VOCABULARIES:  # a handful of vocabularies, each vectorised
        mask = pc.equal(names["vocabulary_id"], vocabulary_id)
        if pc.any(mask).as_py():
            codes = pc.if_else(mask, normalise_codes(codes, vocabulary_id), codes)
    return codes


def names_overlay(path: str | Path, *, unknown: str = "error") -> OverlayBuilder:
    """A builder attaching the names of ``path`` by code to a loaded store (see module docstring).

    The file is read and checked at once (format errors raise here); the
    returned callable takes the connection and returns the overlay.
    """
    if unknown not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown must be one of {UNKNOWN_POLICIES}, not {unknown!r}")
    path = Path(path)
    names = read_names(path)

    def build(con) -> OverlayVocabulary:
        staged = pa.table({
            "line": names["line"], "vocabulary_id": names["vocabulary_id"], "concept_code": _normalised_codes(names),
            "language_concept_id": pc.take(pa.array(list(LANGUAGES.values()), pa.int32()),
                                           pc.index_in(names["language"], pa.array(list(LANGUAGES)))),
            "name": names["name"],
        })
        view = f"_names_{uuid.uuid4().hex}"
        con.register(view, staged)
        try:
            joined = con.sql(
                f"""SELECT n.line, n.vocabulary_id, n.concept_code, n.language_concept_id, n.name, c.concept_id,
                           (SELECT count(*) FROM vocabulary v WHERE v.vocabulary_id = n.vocabulary_id) > 0
                               AS vocabulary_loaded
                    FROM {view} n
                    LEFT JOIN concept c ON c.vocabulary_id = n.vocabulary_id AND c.concept_code = n.concept_code
                    ORDER BY n.line, c.concept_id""").to_arrow_table()
        finally:
            con.unregister(view)
        missing = joined.filter(pc.is_null(joined["concept_id"]))
        if missing.num_rows and unknown == "error":
            row = missing.slice(0, 1).to_pylist()[0]
            why = "" if row["vocabulary_loaded"] else f" (vocabulary {row['vocabulary_id']!r} is not loaded)"
            raise NamesFormatError(f"{row['vocabulary_id']} code {row['concept_code']!r} is not in the loaded "
                                   f"CONCEPT table{why}", path, row["line"], "concept_code")
        found = joined.filter(pc.is_valid(joined["concept_id"]))
        return _synonym_overlay(con, path, names, found, missing.num_rows)

    return build


def _synonym_overlay(con, path: Path, names: pa.Table, found: pa.Table, unknown_codes: int) -> OverlayVocabulary:
    """CONCEPT_SYNONYM rows for the matched names, without ones already in the store or given twice."""
    view = f"_names_found_{uuid.uuid4().hex}"
    con.register(view, found.select(["line", "concept_id", "name", "language_concept_id"]))
    try:
        rows = con.sql(
            f"""WITH f AS (
                    SELECT concept_id, name, language_concept_id, min(line) AS line, count(*) AS n
                    FROM {view} GROUP BY ALL),
                e AS (
                    SELECT f.*, EXISTS (SELECT 1 FROM concept_synonym s
                                        WHERE s.concept_id = f.concept_id AND s.concept_synonym_name = f.name
                                          AND s.language_concept_id = f.language_concept_id) AS existing
                    FROM f)
                SELECT concept_id, name, language_concept_id, existing, n FROM e
                ORDER BY line, concept_id""").to_arrow_table()
    finally:
        con.unregister(view)
    new = rows.filter(pc.invert(rows["existing"]))
    synonyms = pa.table([pc.cast(new["concept_id"], pa.int32()), new["name"],
                         pc.cast(new["language_concept_id"], pa.int32())], schema=ATHENA_SCHEMAS["concept_synonym"])
    counts = pc.value_counts(pc.take(pa.array(list(LANGUAGES)), pc.index_in(
        new["language_concept_id"], pa.array(list(LANGUAGES.values()), pa.int32())))).to_pylist()
    report = {
        "file": str(path),
        "rows": names.num_rows,
        "synonyms": synonyms.num_rows,
        "unknown_codes": unknown_codes,
        "existing_synonyms": int(pc.sum(pc.cast(rows["existing"], pa.int64())).as_py() or 0),
        "repeated": int((pc.sum(rows["n"]).as_py() or 0) - rows.num_rows),
        "languages": {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: c["values"])},
    }
    return OverlayVocabulary(str(path), {"concept_synonym": synonyms}, new_vocabularies=(), report=report)


def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _language_expr(column: str) -> str:
    whens = " ".join(f"WHEN {cid} THEN {_q(tag)}" for tag, cid in LANGUAGES.items())
    return f"CASE {column} {whens} END"


def _code_candidates(text: str) -> list[tuple[str, str]]:
    """(vocabulary_id, concept_code) forms of a code-like query for the ICD vocabularies (normalised)."""
    if not _CODE_LIKE.fullmatch(text):
        return []
    out = []
    for vocabulary_id in (*NORMALISED_VOCABULARIES, *FI_ICD10_VOCABULARIES):
        code = normalise_codes(pa.array([text], pa.string()), vocabulary_id)[0].as_py()
        if code:
            out.append((vocabulary_id, code))
    return out


def _check_list(name: str, values) -> list[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = list(values)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError(f"{name} must be a non-empty list of strings")
    return values


def search_concepts(con, text: str, *, languages: Sequence[str] | None = None,
                    vocabularies: Sequence[str] | None = None, domains: Sequence[str] | None = None,
                    standard_only: bool = False, limit: int = 20) -> pa.Table:
    """Concepts whose code, name or synonym (any language) matches ``text``, best first (:data:`SEARCH_SCHEMA`).

    Matching is case-insensitive (``lower()``, Unicode-aware, so Finnish ä/ö
    work; Chinese matches by substring of characters).  Kinds, best first, with
    scores: the code itself (``code``, 1.0; ``'E11.9'`` or ``'E119'`` for the
    ICD vocabularies via :mod:`terminology.normalise`, any vocabulary's code
    case-insensitively), the whole name (``exact``, 1.0), a name starting with
    the text (``prefix``, 0.8-0.9) or containing it (``substring``, 0.6-0.7),
    then, for Latin-script text with a word of three or more letters, names
    containing the first three letters of one of its words whose words are
    similar to the text's words (``similar``, at most 0.5: 0.4 x the mean over
    the text's words of the best Jaro-Winkler similarity to a word of the name,
    which must be at least :data:`FUZZY_THRESHOLD`, + 0.1 x the length ratio).
    Within a kind, names closer in length to the text score higher.

    One row per concept, its best match; ``concept_name`` is the concept's
    (English) name, ``matched_name`` the name or code that matched,
    ``language`` its tag (null for codes) and ``match_type`` the kind.
    Filters: ``languages`` (tags of :data:`LANGUAGES`; limits the names
    searched, not codes), ``vocabularies``, ``domains``, ``standard_only``
    (standard_concept 'S').  One SQL query; ties are ordered by valid before
    invalid concepts, shorter matched name, vocabulary, code and concept id, so
    the order is deterministic.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("search text must be a non-empty string")
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, not {limit!r}")
    languages = _check_list("languages", languages)
    vocabularies = _check_list("vocabularies", vocabularies)
    domains = _check_list("domains", domains)
    if languages is not None:
        by_lower = {t.lower(): t for t in LANGUAGES}
        unknown = [t for t in languages if t.lower() not in by_lower]
        if unknown:
            raise ValueError(f"unknown language(s) {', '.join(unknown)} (known: {', '.join(LANGUAGES)})")
        languages = [by_lower[t.lower()] for t in languages]
    raw = text.strip()
    q = raw.lower()
    latin = _CJK.search(q) is None
    q_tokens = re.findall(r"[^\W_]+", q)
    # fuzzy candidates must contain the first 3 letters of a query word (cheap RE2 prefilter)
    stems = sorted({t[:3] for t in q_tokens if len(t) >= 3 and re.search(r"[^\W\d_]", t)})
    fuzzy = latin and bool(stems)

    where, params = [], []
    if vocabularies is not None:
        where.append("vocabulary_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(vocabularies)
    if domains is not None:
        where.append("domain_id IN (SELECT unnest(?::VARCHAR[]))")
        params.append(domains)
    if standard_only:
        where.append("standard_concept = 'S'")
    concept_filter = " AND ".join(where) if where else "TRUE"
    language_filter = "TRUE"
    if languages is not None:
        language_filter = "language IN (SELECT unnest(?::VARCHAR[]))"
    candidates = _code_candidates(raw)
    code_terms = ["upper(concept_code) = upper(?)"] + ["(vocabulary_id = ? AND concept_code = ?)"] * len(candidates)
    code_params: list = [raw] + [x for pair in candidates for x in pair]
    fuzzy_sql = f"""
        UNION ALL
        SELECT concept_id, name, language, 4 AS kind,
               0.4 * sim + 0.1 * least(1.0, length(?) / length(l)) AS score FROM (
            SELECT concept_id, name, language,
                   list_avg(list_transform(?::VARCHAR[], lambda qt: list_max(list_transform(
                       regexp_split_to_array(l, '[^\\p{{L}}\\p{{N}}]+'),
                       lambda nt: jaro_winkler_similarity(nt, qt))))) AS sim
                   , l
            FROM m WHERE regexp_matches(l, ?) AND NOT contains(l, ?)) WHERE sim >= {FUZZY_THRESHOLD}""" if fuzzy else ""
    sql = f"""
        WITH c AS (
            SELECT concept_id, concept_name, vocabulary_id, concept_code, standard_concept, domain_id, invalid_reason
            FROM concept WHERE {concept_filter}),
        n AS (
            SELECT concept_id, concept_name AS name, 'en' AS language FROM c
            UNION ALL
            SELECT s.concept_id, s.concept_synonym_name, {_language_expr('s.language_concept_id')}
            FROM concept_synonym s SEMI JOIN c ON c.concept_id = s.concept_id),
        m AS (SELECT concept_id, name, language, lower(name) AS l FROM n WHERE {language_filter}),
        hits AS (
            SELECT concept_id, concept_code AS name, NULL AS language, 0 AS kind, 1.0 AS score
            FROM c WHERE {' OR '.join(code_terms)}
            UNION ALL
            SELECT concept_id, name, language,
                   CASE WHEN l = ? THEN 1 WHEN starts_with(l, ?) THEN 2 ELSE 3 END AS kind,
                   CASE WHEN l = ? THEN 1.0
                        WHEN starts_with(l, ?) THEN 0.8 + 0.1 * length(?) / length(l)
                        ELSE 0.6 + 0.1 * length(?) / length(l) END AS score
            FROM m WHERE contains(l, ?)
            {fuzzy_sql}),
        best AS (
            SELECT * FROM hits
            QUALIFY row_number() OVER (PARTITION BY concept_id
                                       ORDER BY score DESC, kind, length(name), language NULLS FIRST, name) = 1)
        SELECT row_number() OVER (ORDER BY b.score DESC, b.kind, c.invalid_reason IS NOT NULL, length(b.name),
                                           c.vocabulary_id, c.concept_code, c.concept_id) AS rank,
               c.concept_id, c.vocabulary_id, c.concept_code, c.concept_name, b.name AS matched_name,
               b.language, c.standard_concept, c.domain_id, CAST(b.score AS DOUBLE) AS score,
               list_extract(?::VARCHAR[], b.kind + 1) AS match_type
        FROM best b JOIN c ON c.concept_id = b.concept_id
        ORDER BY rank LIMIT {int(limit)}"""
    params += ([languages] if languages is not None else [])
    params += code_params + [q] * 7
    if fuzzy:
        params += [q, q_tokens, "|".join(stems), q]
    params.append(list(MATCH_TYPES))
    result = con.sql(sql, params=params).to_arrow_table()
    return pa.table([pc.cast(result[f.name], f.type) for f in SEARCH_SCHEMA], schema=SEARCH_SCHEMA)


def concept_names(con, concept_ids: Iterable[int] | pa.Array | pa.ChunkedArray) -> pa.Table:
    """The English, Traditional Chinese and Finnish name of each concept id, in input order.

    ``en`` is ``concept.concept_name``; ``zh_tw`` and ``fi`` the first
    CONCEPT_SYNONYM name of that language in load order (the lowest rowid, so
    deterministic for a given store).  Unknown ids and missing names are null;
    repeated ids give repeated rows.  One query.
    """
    if isinstance(concept_ids, (pa.Array, pa.ChunkedArray)):
        ids = pc.cast(concept_ids, pa.int32())
    else:
        ids = pa.array(list(concept_ids), pa.int32())
    staged = pa.table({"concept_id": ids, "pos": pa.array(np.arange(len(ids), dtype=np.int64))})
    view = f"_concept_names_{uuid.uuid4().hex}"
    con.register(view, staged)
    try:
        result = con.sql(
            f"""WITH s AS (
                    SELECT concept_id, language_concept_id, concept_synonym_name, rowid AS r FROM concept_synonym
                    WHERE language_concept_id IN ({LANGUAGE_CHINESE}, {LANGUAGE_FINNISH})
                      AND concept_id IN (SELECT concept_id FROM {view})),
                f AS (
                    SELECT concept_id,
                           arg_min(concept_synonym_name, r) FILTER (WHERE language_concept_id = {LANGUAGE_CHINESE})
                               AS zh_tw,
                           arg_min(concept_synonym_name, r) FILTER (WHERE language_concept_id = {LANGUAGE_FINNISH})
                               AS fi
                    FROM s GROUP BY concept_id)
                SELECT i.concept_id, c.concept_name AS en, f.zh_tw, f.fi
                FROM {view} i LEFT JOIN concept c ON c.concept_id = i.concept_id
                LEFT JOIN f ON f.concept_id = i.concept_id
                ORDER BY i.pos""").to_arrow_table()
    finally:
        con.unregister(view)
    return pa.table([pc.cast(result[f.name], f.type) for f in CONCEPT_NAMES_SCHEMA], schema=CONCEPT_NAMES_SCHEMA)


__all__ = [
    "CONCEPT_NAMES_SCHEMA", "FUZZY_THRESHOLD", "LANGUAGES", "LANGUAGE_TAGS", "MATCH_TYPES", "NAMES_COLUMNS",
    "NAMES_SCHEMA", "NamesFormatError", "SEARCH_SCHEMA", "concept_names", "names_overlay", "read_names",
    "search_concepts", "write_names",
]
