"""Mapping work for human mappers: propose candidates, export them in Usagi format, import the review.

Three steps, all data in / data out (a DuckDB connection holding the
vocabulary store counts as data in):

1. :func:`candidate_concepts` proposes up to ``n`` standard concepts per source
   name by string similarity, in one DuckDB query.
2. :func:`export_for_review` writes the unmapped codes of one vocabulary with
   their candidates as a usagi-extended CSV (:func:`terminology.usagi.write_usagi`).
3. :func:`import_reviewed` checks the reviewed file against the store and,
   given the vocabulary's existing Usagi file, writes the merged file that the
   loader (``load_athena(..., usagi_files=[(path, vocabulary_id, offset)])``)
   takes in place of the old one.

Candidate scoring (``candidate_concepts``)
------------------------------------------
* Normalising: lower case, accents stripped, a possessive ``'s`` dropped, every
  run of characters that are not letters or digits -> one space.
* Tokens: the distinct words of the normalised name minus a short English
  stop-word list (:data:`STOP_WORDS`).
* Targets: standard (``standard_concept = 'S'``), valid (``invalid_reason`` null)
  concepts of ``vocabularies`` (and of ``domains`` when given, and of the
  source's ``domain_id`` when the source has one).  Each concept is matched by
  its name and by its English synonyms (language 4180186); every distinct
  normalised name is one entry of an inverted token index built in the query.
* Blocking: a source is compared only with the names that share at least one
  *blocking token* with it.  Blocking tokens are the source's rarest tokens
  (at most :data:`BLOCK_TOKENS`) among those found in at most
  ``max_token_concepts`` target concepts: very common words such as
  'disorder', 'structure', 'tablet' are dropped, as in a 1M-concept store
  each would pull tens of thousands of names per source.  A source whose
  tokens are all common blocks on its single rarest token (if that is found
  in at most 20 x ``max_token_concepts`` concepts).  The pairs are pre-scored
  by the summed IDF (``ln(N / df)``) of the shared blocking tokens and only
  the best ``max_pairs`` names per source are scored (``max_by`` top-k, ties
  by name), so the work per source is bounded (at most ``BLOCK_TOKENS x
  max_token_concepts`` index rows joined, ``max_pairs`` names scored)
  whatever the store size.  The index itself (normalising and tokenising
  every eligible name and English synonym) is built inside the query on each
  call: a fixed cost that grows with the store, not with the sources.
* Score of a (source, name) pair, in [0, 1]:
  ``0.6 * jaccard(token sets) + 0.4 * jaro_winkler_similarity(normalised
  strings)``, rounded to 6 decimals.  Common words count in the Jaccard even
  though they do not block.  A concept's score is its best name's score; the
  name that gave it is ``matched_name``.  Candidates with ``match_score <
  min_score`` are dropped; the others are ranked per source by score
  (descending), ties broken by ``concept_id`` (ascending); ranks 1..n kept.

Export (``export_for_review``)
------------------------------
One row per (code, candidate), best candidate first; a code without candidate
gets one row with ``conceptId`` 0.  Rows are ordered by frequency (descending),
then code.  Conventions follow OHDSI Usagi's own reader/writer
(``ReadCodeMappingsFromFile`` / ``WriteCodeMappingsToFile``):

* Usagi reads consecutive rows of one ``sourceCode`` as *one* mapping with
  several targets: opened in Usagi, the candidates appear as the code's
  targets, the reviewer removes the wrong ones and approves.  Edited as a
  spreadsheet, the reviewer sets ``mappingStatus`` APPROVED on the rows to keep.
* ``sourceAutoAssignedConceptIds``: Usagi's ';'-joined set of concept ids that
  its search can be restricted to ("filter by automatically assigned concept
  ids"); we put every candidate id of the code there (rank order).
* ``createdOn`` / ``statusSetOn``: Usagi writes Java epoch milliseconds (a
  ``long``); we write ``createdOn`` = ``today`` 00:00 UTC in epoch
  milliseconds and ``statusSetOn`` 0 (not set).  :func:`read_usagi` does not
  parse either column, so the file reads back.
* ``ADD_INFO:sourceConceptId``: the store's id of the source concept; codes
  not in the store get provisional ids after the largest id the vocabulary has
  in the store (or after ``concept_id_offset``), because ``read_usagi`` needs
  an id on every row once the column exists.  :func:`import_reviewed` assigns
  final ids to new codes.
* ``ADD_INFO:sourceName_fi`` / ``ADD_INFO:sourceName_zh``: the source
  concept's Finnish / Chinese synonym (alphabetically first), the zh column
  only when some code has one.  ``sourceName`` is its English synonym, else
  its concept name, else empty.

Import (``import_reviewed``)
----------------------------
A code is *approved* when any of its rows is APPROVED; its approved rows with
``conceptId > 0`` are its mapping (none: the reviewer approved "no match", the
first approved row is kept).  Else a code is *ignored* (an IGNORED row),
*flagged* (FLAGGED / INVALID_TARGET) or *unchecked*.  Checks, one join each:
every approved target exists in the store, is standard and valid (else
:class:`~terminology.usagi.UsagiFormatError` naming file, line and column
``conceptId``); an approved code whose current store 'Maps to' targets differ
is reported as a *changed mapping* (not an error).  Merge with ``base_usagi``:
base rows of codes not approved are kept as they were; the rows of an approved
code known to the base are replaced, in place, by its approved rows, taking
the source description (``sourceName`` and every ``ADD_INFO`` column the base
has, the source concept id included) from the base and the mapping columns
from the review; approved codes new to the base are appended in review order
with ids after the base's largest id.  The merged file is read back with
:func:`read_usagi` (block and id checks) before returning.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terminology.concepts import LANGUAGE_CHINESE, LANGUAGE_ENGLISH, LANGUAGE_FINNISH
from terminology.usagi import ADD_INFO_COLUMNS, USAGI_COLUMNS, UsagiFormatError, read_usagi, write_usagi

STOP_WORDS = ("a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with")
DEFAULT_VOCABULARIES = ("SNOMED", "RxNorm", "LOINC")
MAX_TOKEN_CONCEPTS = 2000
MAX_PAIRS = 200
BLOCK_TOKENS = 4  # a source blocks on at most its 4 rarest tokens
CANDIDATE_COLUMNS = ("vocabulary_id", "source_code", "source_name", "rank", "concept_id", "concept_name",
                     "domain_id", "target_vocabulary_id", "concept_class_id", "match_score", "matched_name")
# Usagi columns that describe the source concept (kept from the base file on merge)
SOURCE_COLUMNS = ("sourceName",)
_ID_COL = "ADD_INFO:sourceConceptId"
_STATUS_ORDER = ("approved", "ignored", "flagged", "unchecked")


def _norm(x: str) -> str:
    """SQL: normalised text of expression ``x`` (see the module docstring)."""
    return (f"trim(regexp_replace(regexp_replace(strip_accents(lower(coalesce({x}, ''))), '[''’]s\\b', '', 'g'), "
            f"'[^\\p{{L}}\\p{{N}}]+', ' ', 'g'))")


def _tokens(norm: str) -> str:
    stop = "[" + ", ".join(f"'{w}'" for w in STOP_WORDS) + "]"
    return f"list_distinct(list_filter(string_split({norm}, ' '), lambda t: t <> '' AND NOT list_contains({stop}, t)))"


def _name(prefix: str) -> str:
    return f"_xb_{prefix}_{uuid.uuid4().hex}"


def _q(col: str) -> str:
    return '"' + col.replace('"', '""') + '"'


_CANDIDATE_SQL = """
WITH
src AS (
    SELECT _row, vocabulary_id, source_code, source_name,
           nullif(trim(coalesce(domain_id, '')), '') AS src_domain, {norm_src} AS norm
    FROM {src}
),
src_tok AS (SELECT *, {tok_src} AS toks FROM src),
eligible AS (
    SELECT concept_id, concept_name, domain_id, vocabulary_id, concept_class_id FROM concept
    WHERE standard_concept = 'S' AND invalid_reason IS NULL
      AND vocabulary_id IN (SELECT unnest($vocabularies::VARCHAR[]))
      AND ($domains::VARCHAR[] IS NULL OR domain_id IN (SELECT unnest($domains::VARCHAR[])))
),
names_raw AS (
    SELECT concept_id, domain_id, concept_name AS name, 0 AS is_syn FROM eligible
    UNION ALL
    SELECT e.concept_id, e.domain_id, s.concept_synonym_name, 1
    FROM concept_synonym s JOIN eligible e ON e.concept_id = s.concept_id
    WHERE s.language_concept_id = {english}
),
names AS (
    SELECT concept_id, domain_id, name, is_syn, norm, {tok_name} AS toks,
           row_number() OVER (ORDER BY concept_id, is_syn, name) AS name_id
    FROM (SELECT *, {norm_name} AS norm FROM names_raw)
    WHERE norm <> ''
    QUALIFY row_number() OVER (PARTITION BY concept_id, norm ORDER BY is_syn, name) = 1
),
name_tok AS (SELECT name_id, concept_id, domain_id, unnest(toks) AS token FROM names),
df AS (SELECT token, count(DISTINCT concept_id) AS df FROM name_tok GROUP BY token),
n_concepts AS (SELECT greatest(count(*), 1)::DOUBLE AS n FROM eligible),
src_df AS (
    SELECT s._row, s.src_domain, t.token, df.df
    FROM (SELECT _row, src_domain, unnest(toks) AS token FROM src_tok) t
    JOIN src_tok s USING (_row)
    JOIN df USING (token)
),
block AS (
    SELECT _row, src_domain, token, df FROM src_df
    QUALIFY (row_number() OVER (PARTITION BY _row ORDER BY df, token) <= {block_tokens} AND df <= $max_token_concepts)
         OR (row_number() OVER (PARTITION BY _row ORDER BY df, token) = 1 AND df <= 20 * $max_token_concepts)
),
pair_pre AS (
    SELECT b._row, t.name_id, round(sum(ln((SELECT n FROM n_concepts) / b.df)), 9) AS pre
    FROM block b JOIN name_tok t ON t.token = b.token
    WHERE b.src_domain IS NULL OR t.domain_id = b.src_domain
    GROUP BY b._row, t.name_id
),
pairs AS (
    SELECT _row, unnest(max_by(name_id, {{'pre': pre, 'neg_id': -name_id}}, $max_pairs)) AS name_id
    FROM pair_pre GROUP BY _row
),
scored AS (
    SELECT p._row, nm.concept_id, nm.name, nm.is_syn,
           round(least(1.0, greatest(0.0,
               0.6 * len(list_intersect(s.toks, nm.toks))
                   / greatest(len(s.toks) + len(nm.toks) - len(list_intersect(s.toks, nm.toks)), 1)
               + 0.4 * jaro_winkler_similarity(s.norm, nm.norm))), 6) AS score
    FROM pairs p JOIN names nm USING (name_id) JOIN src_tok s USING (_row)
),
best AS (
    SELECT * FROM scored
    QUALIFY row_number() OVER (PARTITION BY _row, concept_id ORDER BY score DESC, is_syn, name) = 1
),
ranked AS (
    SELECT _row, concept_id, name, score,
           row_number() OVER (PARTITION BY _row ORDER BY score DESC, concept_id) AS rank
    FROM best WHERE score >= $min_score
    QUALIFY rank <= $n
)
SELECT s.vocabulary_id, s.source_code, s.source_name, r.rank::INTEGER AS rank, r.concept_id::INTEGER AS concept_id,
       e.concept_name, e.domain_id, e.vocabulary_id AS target_vocabulary_id, e.concept_class_id,
       r.score::DOUBLE AS match_score, r.name AS matched_name
FROM ranked r JOIN src s USING (_row) JOIN eligible e USING (concept_id)
ORDER BY r._row, r.rank
"""


def candidate_concepts(con, sources: pa.Table, *, n: int = 3, domains: Iterable[str] | None = None,
                       vocabularies: Sequence[str] = DEFAULT_VOCABULARIES, min_score: float = 0.0,
                       max_token_concepts: int = MAX_TOKEN_CONCEPTS, max_pairs: int = MAX_PAIRS) -> pa.Table:
    """Up to ``n`` candidate standard concepts per row of ``sources``, scored by name similarity.

    ``sources``: ``vocabulary_id``, ``source_code``, ``source_name`` (English
    text), optional ``domain_id`` (null / empty = unknown).  Returns
    :data:`CANDIDATE_COLUMNS` (``rank`` 1..n, ``match_score`` in [0, 1]), in
    input row order then rank; rows without a candidate are absent.  One SQL
    query; scoring and blocking as in the module docstring
    (``max_token_concepts``: a token in more target concepts does not block;
    ``max_pairs``: names scored per source).
    """
    missing = [c for c in ("vocabulary_id", "source_code", "source_name") if c not in sources.column_names]
    if missing:
        raise ValueError(f"candidate_concepts: sources lack column(s) {missing}")
    if n < 1:
        raise ValueError(f"candidate_concepts: n must be >= 1, not {n}")
    cols = {c: pc.cast(sources[c], pa.string()) for c in ("vocabulary_id", "source_code", "source_name")}
    cols["domain_id"] = (pc.cast(sources["domain_id"], pa.string()) if "domain_id" in sources.column_names
                         else pa.nulls(sources.num_rows, pa.string()))
    cols["_row"] = pa.array(np.arange(sources.num_rows, dtype=np.int64))
    src = _name("cand_src")
    sql = _CANDIDATE_SQL.format(src=src, norm_src=_norm("source_name"), tok_src=_tokens("norm"),
                                norm_name=_norm("name"), tok_name=_tokens("norm"), english=LANGUAGE_ENGLISH,
                                block_tokens=BLOCK_TOKENS)
    params = {"vocabularies": list(vocabularies), "domains": None if domains is None else list(domains),
              "max_token_concepts": int(max_token_concepts), "max_pairs": int(max_pairs),
              "min_score": float(min_score), "n": int(n)}
    con.register(src, pa.table(cols))
    try:
        return con.sql(sql, params=params).to_arrow_table()
    finally:
        con.unregister(src)


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------
def _epoch_millis(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


_SOURCES_SQL = """
WITH codes AS (
    SELECT trim(source_code) AS source_code, sum(coalesce(n_records, 0))::BIGINT AS n_records
    FROM {usage} WHERE vocabulary_id = $vocabulary_id AND nullif(trim(source_code), '') IS NOT NULL
    GROUP BY 1
),
syn AS (
    SELECT s.concept_id,
           min(s.concept_synonym_name) FILTER (WHERE s.language_concept_id = {english}) AS name_en,
           min(s.concept_synonym_name) FILTER (WHERE s.language_concept_id = {finnish}) AS name_fi,
           min(s.concept_synonym_name) FILTER (WHERE s.language_concept_id = {chinese}) AS name_zh
    FROM concept_synonym s JOIN concept c ON c.concept_id = s.concept_id AND c.vocabulary_id = $vocabulary_id
    GROUP BY s.concept_id
)
SELECT $vocabulary_id AS vocabulary_id, k.source_code, k.n_records,
       c.concept_id AS source_concept_id,
       coalesce(y.name_en, c.concept_name, '') AS source_name,
       coalesce(y.name_fi, '') AS name_fi, coalesce(y.name_zh, '') AS name_zh,
       coalesce(c.domain_id, '') AS source_domain, coalesce(c.concept_class_id, '') AS source_class,
       coalesce(strftime(c.valid_start_date, '%Y-%m-%d'), '') AS valid_start,
       coalesce(strftime(c.valid_end_date, '%Y-%m-%d'), '') AS valid_end
FROM codes k
LEFT JOIN (
    SELECT * FROM concept WHERE vocabulary_id = $vocabulary_id
    QUALIFY row_number() OVER (PARTITION BY concept_code
                               ORDER BY invalid_reason IS NOT NULL, valid_end_date DESC, concept_id) = 1
) c ON c.concept_code = k.source_code
LEFT JOIN syn y ON y.concept_id = c.concept_id
ORDER BY k.n_records DESC, k.source_code
"""

_EXPORT_SQL = """
WITH s AS (
    SELECT *, row_number() OVER (ORDER BY n_records DESC, source_code) AS pos,
           row_number() OVER (PARTITION BY source_concept_id IS NULL ORDER BY n_records DESC, source_code) AS new_pos
    FROM {sources}
),
auto AS (
    SELECT source_code, string_agg(concept_id::VARCHAR, ';' ORDER BY rank) AS ids FROM {cands} GROUP BY source_code
)
SELECT s.source_code AS "sourceCode", s.source_name AS "sourceName", s.n_records::VARCHAR AS "sourceFrequency",
       coalesce(a.ids, '') AS "sourceAutoAssignedConceptIds",
       CASE WHEN c.concept_id IS NULL THEN '0' ELSE printf('%.4f', c.match_score) END AS "matchScore",
       'UNCHECKED' AS "mappingStatus", 'UNREVIEWED' AS "equivalence", '' AS "statusSetBy", '0' AS "statusSetOn",
       coalesce(c.concept_id, 0)::VARCHAR AS "conceptId", coalesce(c.concept_name, '') AS "conceptName",
       coalesce(c.domain_id, '') AS "domainId", 'MAPS_TO' AS "mappingType", '' AS "comment",
       $created_by AS "createdBy", $created_on AS "createdOn", '' AS "assignedReviewer",
       coalesce(s.source_concept_id, $next_id + s.new_pos)::VARCHAR AS "ADD_INFO:sourceConceptId",
       s.source_class AS "ADD_INFO:sourceConceptClass", s.source_domain AS "ADD_INFO:sourceDomain",
       s.valid_start AS "ADD_INFO:sourceValidStartDate", s.valid_end AS "ADD_INFO:sourceValidEndDate",
       s.name_fi AS "ADD_INFO:sourceName_fi", s.name_zh AS "ADD_INFO:sourceName_zh",
       c.concept_id IS NOT NULL AS _has_candidate, s.source_concept_id IS NOT NULL AS _in_store
FROM s
LEFT JOIN {cands} c ON c.source_code = s.source_code
LEFT JOIN auto a ON a.source_code = s.source_code
ORDER BY s.pos, c.rank
"""


def export_for_review(con, usage: pa.Table, vocabulary_id: str, path: str | Path, *, n: int = 3,
                      created_by: str = "crossbridge", today: dt.date | None = None,
                      domains: Iterable[str] | None = None, vocabularies: Sequence[str] = DEFAULT_VOCABULARIES,
                      min_score: float = 0.0, match_domain: bool = False,
                      concept_id_offset: int | None = None) -> dict:
    """Write the codes of ``vocabulary_id`` in ``usage`` with up to ``n`` candidates each as a Usagi file.

    ``usage``: ``vocabulary_id``, ``source_code``, ``n_records`` (several rows
    per code are summed; other vocabularies and empty codes are skipped).
    Candidates come from :func:`candidate_concepts` on the source concept's
    English name, restricted to the source concept's domain only with
    ``match_domain`` (the domain of a source concept read from a Usagi file is
    often only a default); ``domains`` restricts all codes.  Columns and conventions: module
    docstring.  ``concept_id_offset`` is needed only when the vocabulary has
    no concept in the store and some code must get a provisional id.
    Returns a report: vocabulary_id, path, codes, rows, codes_with_candidate,
    codes_in_store, records.
    """
    missing = [c for c in ("vocabulary_id", "source_code", "n_records") if c not in usage.column_names]
    if missing:
        raise ValueError(f"export_for_review: usage lacks column(s) {missing}")
    today = today or dt.date.today()
    u = _name("usage")
    con.register(u, usage.select(["vocabulary_id", "source_code", "n_records"]))
    try:
        sources = con.sql(_SOURCES_SQL.format(usage=u, english=LANGUAGE_ENGLISH, finnish=LANGUAGE_FINNISH,
                                              chinese=LANGUAGE_CHINESE),
                          params={"vocabulary_id": vocabulary_id}).to_arrow_table()
    finally:
        con.unregister(u)
    in_store = pc.is_valid(sources["source_concept_id"])
    next_id = None
    if not pc.all(in_store).as_py():
        top = con.execute("SELECT max(concept_id) FROM concept WHERE vocabulary_id = ?",
                          [vocabulary_id]).fetchall()[0][0]
        if top is None and concept_id_offset is None:
            raise ValueError(f"export_for_review: vocabulary {vocabulary_id!r} has no concept in the store; give "
                             f"concept_id_offset so codes not in the store get provisional source concept ids")
        next_id = max(v for v in (top, concept_id_offset) if v is not None)
    cand_cols = ["vocabulary_id", "source_code", "source_name"]
    cand_src = sources.select(cand_cols)
    if match_domain:
        cand_src = cand_src.append_column("domain_id", sources["source_domain"])
    cands = candidate_concepts(con, cand_src, n=n,
                               domains=domains, vocabularies=vocabularies, min_score=min_score)
    s, c = _name("exp_src"), _name("exp_cand")
    con.register(s, sources)
    con.register(c, cands)
    try:
        rows = con.sql(_EXPORT_SQL.format(sources=s, cands=c), params={
            "created_by": created_by, "created_on": str(_epoch_millis(today)),
            "next_id": next_id if next_id is not None else 0}).to_arrow_table()
    finally:
        con.unregister(s)
        con.unregister(c)
    has_zh = bool(pc.any(pc.not_equal(rows["ADD_INFO:sourceName_zh"], "")).as_py()) if rows.num_rows else False
    table = rows.drop_columns(["_has_candidate", "_in_store"] + ([] if has_zh else ["ADD_INFO:sourceName_zh"]))
    write_usagi(path, table)
    return {
        "vocabulary_id": vocabulary_id, "path": str(path), "codes": sources.num_rows, "rows": rows.num_rows,
        "codes_with_candidate": len(pc.unique(cands["source_code"])) if cands.num_rows else 0,
        "codes_in_store": _count_true(in_store),
        "records": int(pc.sum(sources["n_records"]).as_py() or 0),
    }


# ---------------------------------------------------------------------------
# import
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ReviewResult:
    """What :func:`import_reviewed` found (and wrote).

    ``mappings``: the approved mappings (:attr:`UsagiVocabulary.mappings` of
    the reviewed file); ``codes``: one row per reviewed code (source_code,
    status approved/ignored/flagged/unchecked, line, in_store, in_base (null
    without base), changed); ``changed``: approved codes the store maps
    differently (source_code, store_targets, reviewed_targets, line);
    ``out_path``: the merged Usagi file, when a base was given.
    """

    path: str
    vocabulary_id: str
    mappings: pa.Table
    codes: pa.Table
    changed: pa.Table
    report: dict = field(default_factory=dict)
    out_path: str | None = None


_TARGET_CHECK_SQL = """
SELECT m.line, m.source_code, m.target_concept_id, c.concept_id IS NULL AS missing,
       c.standard_concept, c.invalid_reason, c.vocabulary_id, c.concept_code
FROM {m} m LEFT JOIN concept c ON c.concept_id = m.target_concept_id
WHERE c.concept_id IS NULL OR c.standard_concept IS DISTINCT FROM 'S' OR c.invalid_reason IS NOT NULL
ORDER BY m.line LIMIT 1
"""

_CODES_SQL = """
WITH per_code AS (
    SELECT _code AS source_code,
           CASE WHEN bool_or(_status = 'APPROVED') THEN 'approved'
                WHEN bool_or(_status = 'IGNORED') THEN 'ignored'
                WHEN bool_or(_status IN ('FLAGGED', 'INVALID_TARGET')) THEN 'flagged'
                ELSE 'unchecked' END AS status,
           min(_line) AS line
    FROM {rows} GROUP BY _code
),
reviewed AS (
    SELECT source_code, list_sort(list_distinct(list(target_concept_id))) AS targets
    FROM {m} WHERE relationship_id = 'Maps to' GROUP BY source_code
),
store AS (
    SELECT s.concept_code AS source_code, list_sort(list_distinct(list(r.concept_id_2))) AS targets
    FROM concept s
    JOIN concept_relationship r ON r.concept_id_1 = s.concept_id AND r.relationship_id = 'Maps to'
                               AND r.invalid_reason IS NULL
    WHERE s.vocabulary_id = $vocabulary_id AND s.concept_code IN (SELECT source_code FROM per_code)
    GROUP BY s.concept_code
),
known AS (SELECT DISTINCT concept_code AS source_code FROM concept WHERE vocabulary_id = $vocabulary_id)
SELECT p.source_code, p.status, p.line, k.source_code IS NOT NULL AS in_store,
       st.targets AS store_targets, coalesce(rv.targets, []::INTEGER[]) AS reviewed_targets,
       p.status = 'approved' AND st.targets IS NOT NULL
           AND st.targets <> coalesce(rv.targets, []::INTEGER[]) AS changed,
       p.status = 'approved' AND st.targets IS NOT NULL
           AND st.targets = coalesce(rv.targets, []::INTEGER[]) AS unchanged
FROM per_code p
LEFT JOIN known k USING (source_code)
LEFT JOIN store st USING (source_code)
LEFT JOIN reviewed rv USING (source_code)
ORDER BY p.line
"""


def _count_true(mask) -> int:
    return int(pc.sum(pc.cast(mask, pa.int64())).as_py() or 0)


def _usagi_columns(columns: list[str]) -> list[str]:
    return [c for c in columns if c in USAGI_COLUMNS or c.startswith("ADD_INFO:")]


def _with_keys(rows: pa.Table) -> pa.Table:
    code = pc.utf8_trim_whitespace(rows["sourceCode"].combine_chunks())
    status = pc.utf8_trim_whitespace(rows["mappingStatus"].combine_chunks())
    return rows.append_column("_code", code).append_column("_status", status)


def _check_targets(con, voc) -> None:
    m = _name("rev_targets")
    con.register(m, voc.mappings.select(["line", "source_code", "target_concept_id"]))
    try:
        bad = con.sql(_TARGET_CHECK_SQL.format(m=m)).fetchall()
    finally:
        con.unregister(m)
    if bad:
        line, code, target, missing, standard, invalid, vocab, ccode = bad[0]
        if missing:
            why = "is not in the vocabulary store"
        elif invalid is not None:
            why = f"is not valid (invalid_reason {invalid!r}; {vocab} {ccode!r})"
        else:
            why = f"is not a standard concept (standard_concept {standard!r}; {vocab} {ccode!r})"
        raise UsagiFormatError(f"approved target concept {target} of source code {code!r} {why}",
                               voc.path, int(line), "conceptId")


def _merge_sql(base_cols: list[str], rev_cols: list[str], out_cols: list[str], b: str, r: str) -> str:
    """SQL of the merged rows (see the module docstring); every output column as text."""
    def pick(alias: str, col: str, have: list[str]) -> str:
        return f'{alias}.{_q(col)}' if col in have else "''"

    part_a, part_b, part_c = [], [], []
    for col in out_cols:
        out = _q(col)
        if col == _ID_COL:
            part_a.append(f"CAST(b._source_concept_id AS VARCHAR) AS {out}")
            part_b.append(f"CAST(f._source_concept_id AS VARCHAR) AS {out}")
            part_c.append(f"CAST(nid.new_id AS VARCHAR) AS {out}")
            continue
        part_a.append(f"{pick('b', col, base_cols)} AS {out}")
        if col in SOURCE_COLUMNS or col.startswith("ADD_INFO:"):
            src = pick("f", col, base_cols) if col in base_cols else pick("k", col, rev_cols)
            part_b.append(f"{src} AS {out}")
        else:
            part_b.append(f"{pick('k', col, rev_cols)} AS {out}")
        part_c.append(f"{pick('k', col, rev_cols)} AS {out}")
    return f"""
WITH approved AS (SELECT DISTINCT _code FROM {r} WHERE _status = 'APPROVED'),
rev_appr AS (
    SELECT *, bool_or(_target_concept_id > 0) OVER (PARTITION BY _code) AS has_target,
           row_number() OVER (PARTITION BY _code ORDER BY _line) AS rn
    FROM {r} WHERE _status = 'APPROVED'
),
k_rows AS (SELECT * FROM rev_appr WHERE _target_concept_id > 0 OR (NOT has_target AND rn = 1)),
first_base AS (SELECT * FROM {b} QUALIFY row_number() OVER (PARTITION BY _code ORDER BY _line) = 1),
new_codes AS (
    SELECT _code, min(_line) AS first_line FROM k_rows
    WHERE _code NOT IN (SELECT _code FROM first_base) GROUP BY _code
),
nid AS (SELECT _code, $max_id + row_number() OVER (ORDER BY first_line) AS new_id FROM new_codes)
SELECT * EXCLUDE (_k1, _k2, _k3, _new) FROM (
    SELECT {', '.join(part_a)}, 0 AS _k1, b._line AS _k2, 0 AS _k3, false AS _new
    FROM {b} b WHERE b._code NOT IN (SELECT _code FROM approved)
    UNION ALL
    SELECT {', '.join(part_b)}, 0, f._line, k._line, false
    FROM k_rows k JOIN first_base f USING (_code)
    UNION ALL
    SELECT {', '.join(part_c)}, 1, k._line, 0, true
    FROM k_rows k JOIN nid USING (_code)
) ORDER BY _k1, _k2, _k3
"""


def _merge(con, voc, base, vocabulary_id: str, out_path: Path, concept_id_offset: int | None) -> dict:
    """Write the merged Usagi file (validated through a temporary file); return merge counts."""
    brows, rrows = _with_keys(base.rows), _with_keys(voc.rows)
    base_cols, rev_cols = _usagi_columns(brows.column_names), _usagi_columns(rrows.column_names)
    out_cols = list(dict.fromkeys([*USAGI_COLUMNS, *ADD_INFO_COLUMNS, *base_cols, *rev_cols]))
    if base.concepts.num_rows:
        max_id = int(pc.max(base.concepts["concept_id"]).as_py())
    elif concept_id_offset is not None:
        max_id = concept_id_offset
    else:
        raise ValueError(f"import_reviewed: base {base.path} has no codes; give concept_id_offset")
    b, r = _name("merge_base"), _name("merge_rev")
    con.register(b, brows)
    con.register(r, rrows)
    try:
        merged = con.sql(_merge_sql(base_cols, rev_cols, out_cols, b, r), params={"max_id": max_id}).to_arrow_table()
    finally:
        con.unregister(b)
        con.unregister(r)
    # new ids must not belong to another concept of the store
    new_ids = merged.filter(pc.greater(pc.cast(merged[_ID_COL], pa.int64()), max_id))
    n = _name("merge_new")
    con.register(n, new_ids.select(["sourceCode", _ID_COL]))
    try:
        clash = con.sql(f"""SELECT n."sourceCode", c.concept_id, c.vocabulary_id, c.concept_code
                            FROM {n} n JOIN concept c ON c.concept_id = CAST(n.{_q(_ID_COL)} AS INTEGER)
                            WHERE NOT (c.vocabulary_id = $v AND c.concept_code = trim(n."sourceCode"))
                            ORDER BY c.concept_id LIMIT 1""", params={"v": vocabulary_id}).fetchall()
    finally:
        con.unregister(n)
    if clash:
        code, cid, vocab, ccode = clash[0]
        raise ValueError(f"import_reviewed: new source code {code!r} would get concept id {cid}, already used by "
                         f"{vocab} {ccode!r} in the store")
    tmp = out_path.with_name(out_path.name + ".tmp")
    write_usagi(tmp, merged)
    try:
        check = read_usagi(tmp, vocabulary_id, concept_id_offset=concept_id_offset)
    except UsagiFormatError:
        tmp.unlink()
        raise
    tmp.replace(out_path)
    new_codes = pc.unique(pc.utf8_trim_whitespace(new_ids["sourceCode"])) if new_ids.num_rows else []
    return {"out_rows": merged.num_rows, "out_codes": check.concepts.num_rows,
            "out_mapped_codes": check.report["mapped_codes"], "new_codes": len(new_codes)}


def import_reviewed(con, reviewed_path: str | Path, vocabulary_id: str, *, base_usagi: str | Path | None = None,
                    out_path: str | Path | None = None, concept_id_offset: int | None = None) -> ReviewResult:
    """Check a reviewed Usagi file against the store; with ``base_usagi``, write the merged file to ``out_path``.

    Rules: module docstring.  Raises :class:`~terminology.usagi.UsagiFormatError`
    (a :class:`~terminology.errors.VocabularyFormatError`) naming file, line and
    column for a malformed file or an approved target that is missing, not
    standard or not valid.  ``concept_id_offset`` is the vocabulary's block
    (passed to :func:`read_usagi` for both files and the merged one).
    """
    if (base_usagi is None) != (out_path is None):
        raise ValueError("import_reviewed: give both base_usagi and out_path, or neither")
    voc = read_usagi(reviewed_path, vocabulary_id, concept_id_offset=concept_id_offset)
    _check_targets(con, voc)
    rows, m = _name("rev_rows"), _name("rev_maps")
    con.register(rows, _with_keys(voc.rows).select(["_code", "_status", "_line"]))
    con.register(m, voc.mappings.select(["source_code", "target_concept_id", "relationship_id"]))
    try:
        codes = con.sql(_CODES_SQL.format(rows=rows, m=m), params={"vocabulary_id": vocabulary_id}).to_arrow_table()
    finally:
        con.unregister(rows)
        con.unregister(m)
    status_counts = {s: 0 for s in _STATUS_ORDER}
    status_counts.update({d["values"]: d["counts"] for d in pc.value_counts(codes["status"]).to_pylist()})
    approved = pc.equal(codes["status"], "approved")
    report = {
        "vocabulary_id": vocabulary_id, "path": str(reviewed_path), "codes": codes.num_rows,
        **{f"{s}_codes": status_counts[s] for s in _STATUS_ORDER},
        "approved_rows": voc.mappings.num_rows,
        "approved_no_match_codes": _count_true(
            pc.and_(approved, pc.equal(pc.list_value_length(codes["reviewed_targets"]), 0))),
        "changed_codes": _count_true(codes["changed"]), "unchanged_codes": _count_true(codes["unchanged"]),
        "approved_not_in_store_codes": _count_true(pc.and_(approved, pc.invert(codes["in_store"]))),
    }
    changed = codes.filter(codes["changed"]).select(["source_code", "store_targets", "reviewed_targets", "line"])
    in_base = pa.nulls(codes.num_rows, pa.bool_())
    written = None
    if base_usagi is not None:
        base = read_usagi(base_usagi, vocabulary_id, concept_id_offset=concept_id_offset)
        in_base = pc.is_in(codes["source_code"], base.concepts["concept_code"])
        written = Path(out_path)
        report.update({"base_path": str(base_usagi), "out_path": str(written),
                       **_merge(con, voc, base, vocabulary_id, written, concept_id_offset)})
    codes = codes.select(["source_code", "status", "line", "in_store", "changed"]).append_column("in_base", in_base)
    return ReviewResult(str(reviewed_path), vocabulary_id, voc.mappings, codes, changed,
                        dict(sorted(report.items())), None if written is None else str(written))


__all__ = [
    "CANDIDATE_COLUMNS", "DEFAULT_VOCABULARIES", "ReviewResult", "STOP_WORDS", "candidate_concepts",
    "export_for_review", "import_reviewed",
]
