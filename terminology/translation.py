"""Code translation with the semantics of FHIR R4 ``ConceptMap/$translate``, answered from the OMOP store.

:func:`translate` translates one code; :func:`translate_bulk` a whole Arrow
table with one SQL statement (both run the same SQL, so they agree).
:func:`to_parameters` gives the FHIR R4 ``Parameters`` that ``$translate``
returns, :func:`to_dict` a JSON-ready dict with stable keys.

Not to be confused with :mod:`terminology.translate`, the pipeline's plain
join to standard concepts (``translate_column``: no equivalence, no path, one
row per 'Maps to' target), which the OMOP build uses because it is ~9× faster
(docs/performance.md).  This module is the service on top; for a current
code with current mappings both give the same standard concept ids.

Rules
-----
* **Names.** ``system`` and ``target`` are vocabulary ids, aliases or FHIR
  system URIs (:func:`terminology.systems.resolve_system`, checked against the
  store's ``vocabulary`` table); ``target='standard'`` means OMOP standard
  concepts.  The code is normalised first (:func:`terminology.normalise.
  normalise_codes`: ``E119`` = ``E11.9``; Finnish ICD-10 by its own rules).
* **Source concept.** The concept of ``(vocabulary_id, code)``; with a
  ``date`` only one whose ``valid_start_date <= date <= valid_end_date``.
  Several concepts with one code: the current one (``invalid_reason`` null),
  then the latest ``valid_end_date``, then the lowest id.
* **To standard.** Its 'Maps to' relationships (``invalid_reason`` null and,
  with a date, valid on the date) to standard concepts (``S``, not invalid); a
  standard concept maps to itself.  A source without such a mapping that is
  deprecated and has a current 'Concept replaced by' is followed to its
  replacement (chains up to 10 hops; the replacement's current mappings, not
  date-checked, because the replacement postdates the code) and the message
  says so.  A code not valid on the date is not followed: result False, the
  message names its validity range.
* **Equivalence of a 'Maps to' hop.** From table ``mapping_equivalence`` when
  it states one (``equivalence_source`` 'stated'; the table may be absent);
  else ``equal`` when the concept is the standard concept itself ('same
  concept'), else ``equivalent`` ('assumed from OMOP Maps to').
* **To another vocabulary SYS2.** Source -> standard S -> concepts of SYS2
  whose 'Maps to' is S (or S itself when S is in SYS2).  Where none exist for
  S, the hierarchy (``concept_ancestor``) is searched both ways, closest level
  only (smallest ``min_levels_of_separation`` that has SYS2 codes): SYS2 codes
  of ancestors are ``wider``, of descendants ``narrower``; so an RxNorm drug
  reaches its ATC class when ATC is a classification (``C``) in the hierarchy,
  and ATC codes that map to RxNorm (the demo store) are found by 'Maps to'.
  Deprecated SYS2 codes are not answers.  The target code equal to the
  source concept is ``equal``.  One match per target concept (best
  equivalence, then the shorter hierarchy step, then the path text).
* **Composed equivalence** (:func:`compose`; ``a`` then ``b``, each as "the
  next concept relative to the previous"; the SYS2 -> S hop is inverted first,
  wider <-> narrower, subsumes <-> specializes)::

      equal      o equal                         = equal
      {equal, equivalent} o {equal, equivalent}  = equivalent
      {equal, equivalent} o X, X o {equal, equivalent} = X   (X directional)
      wider o wider = wider, narrower o narrower = narrower
                     (subsumes/specializes kept only when both hops say it)
      wider o narrower, narrower o wider         = inexact
      anything o inexact                         = inexact
      anything o relatedto                       = relatedto
      anything o unmatched = unmatched, anything o disjoint = disjoint
      (precedence: disjoint > unmatched > relatedto > inexact)

* **Path.** Steps ``(vocabulary_id, code, relationship to the next step)``,
  rendered ``ICD10CM E11.9 → SNOMED 44054006 ← ICD10fi E11.9`` (``→`` Maps to,
  ``←`` Mapped from, ``is a`` / ``subsumes`` hierarchy, ``replaced by``).
* **Unmatched** (bulk): ``concept_id`` 0 and equivalence ``unmatched``, the row
  kept; ``source_concept_id`` 0 when the code is not in the vocabulary (on the
  event date), as :func:`terminology.translate.translate_column`.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terminology.normalise import normalise_codes
from terminology.overlay import EQUIVALENCE_TABLE, FHIR_EQUIVALENCES
from terminology.systems import resolve_system, system_uri

STANDARD = "standard"
MAX_REPLACEMENT_HOPS = 10
# order of preference among matches (best first)
EQUIVALENCE_RANK = {e: i for i, e in enumerate(
    ("equal", "equivalent", "wider", "subsumes", "narrower", "specializes", "inexact", "relatedto",
     "unmatched", "disjoint"))}
_INVERSE = {"wider": "narrower", "narrower": "wider", "subsumes": "specializes", "specializes": "subsumes"}
_DIRECTION = {"equal": 0, "equivalent": 0, "wider": 1, "subsumes": 1, "narrower": -1, "specializes": -1}
_GENERIC = {1: "wider", -1: "narrower"}
ARROWS = {"Maps to": " → ", "Mapped from": " ← ", "Is a": " is a ", "Subsumes": " subsumes ",
          "Concept replaced by": " replaced by "}
KIND_LABELS = ("same concept", "stated", "assumed from OMOP Maps to")
BULK_COLUMNS = ("source_concept_id", "concept_id", "vocabulary_id_target", "concept_code_target",
                "equivalence", "path")
_ROW = "_xb_row"
_STEP = "STRUCT(vocabulary_id VARCHAR, code VARCHAR, relationship VARCHAR)"


def compose(a: str, b: str) -> str:
    """Equivalence of two hops in a row (see the module docstring's table)."""
    for worst in ("disjoint", "unmatched", "relatedto", "inexact"):
        if worst in (a, b):
            return worst
    if a == b == "equal":
        return "equal"
    da, db = _DIRECTION[a], _DIRECTION[b]
    if da == 0 and db == 0:
        return "equivalent"
    if da == 0 or db == 0:
        return b if da == 0 else a
    if da != db:
        return "inexact"
    return a if a == b else _GENERIC[da]


def inverse(e: str) -> str:
    """The equivalence read the other way (wider <-> narrower, subsumes <-> specializes)."""
    return _INVERSE.get(e, e)


class PathStep(NamedTuple):
    """One concept on a translation path and its relationship to the next step (None at the end)."""

    vocabulary_id: str
    code: str
    relationship: str | None


def render_path(steps) -> str:
    """``ICD10CM E11.9 → SNOMED 44054006 ← ICD10fi E11.9``."""
    return "".join(f"{s[0]} {s[1]}{ARROWS.get(s[2], '') if s[2] else ''}" for s in steps)


@dataclass(frozen=True)
class SourceCode:
    """The code asked about: as given, normalised, and its concept (None when not in the store)."""

    vocabulary_id: str
    code: str
    normalised_code: str | None
    concept_id: int | None = None
    name: str | None = None
    valid_start: _dt.date | None = None
    valid_end: _dt.date | None = None
    invalid_reason: str | None = None


@dataclass(frozen=True)
class Match:
    """One answer: the target concept, its equivalence to the source and how it was reached."""

    equivalence: str
    vocabulary_id: str
    code: str
    concept_id: int
    name: str
    standard: bool
    path: tuple[PathStep, ...]
    equivalence_source: str

    @property
    def path_string(self) -> str:
        return render_path(self.path)


@dataclass(frozen=True)
class Translation:
    """The answer to one ``$translate`` question."""

    result: bool
    message: str
    source: SourceCode
    target: str  # a vocabulary id or 'standard'
    date: _dt.date | None
    matches: tuple[Match, ...] = ()


# ---------------------------------------------------------------- SQL


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _values(rows, names: str) -> str:
    body = ", ".join("(" + ", ".join(_lit(x) if isinstance(x, str) else str(x) for x in r) + ")" for r in rows)
    return f"(VALUES {body}) AS t({names})"


def has_equivalence_table(con) -> bool:
    """Whether the store has the project's ``mapping_equivalence`` table."""
    return bool(con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND database_name = current_database()",
        [EQUIVALENCE_TABLE]).fetchall()[0][0])


def _step(v: str, c: str, r: str) -> str:
    return f"struct_pack(vocabulary_id := {v}, code := {c}, relationship := ({r})::VARCHAR)"


def _path_string_sql(path: str) -> str:
    arrows = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in ARROWS.items())
    return (f"array_to_string(list_transform({path}, lambda s: s.vocabulary_id || ' ' || s.code || "
            f"CASE s.relationship {arrows} ELSE '' END), '')")


def _core_ctes(keys: str, target: str | None, equivalence_table: bool) -> str:
    """CTEs (no WITH) from relation ``keys(k, vocabulary_id, code, event_date)`` to ``src`` and ``matches``.

    ``src(k, concept_id)``: the source concept chosen per key; ``matches``: k,
    concept_id, vocabulary_id, concept_code, concept_name, standard_concept,
    equivalence, equivalence_source, path (list of steps), path_string, match_no.
    """
    eqv = (f"SELECT concept_id_1, concept_id_2, min(equivalence) AS equivalence FROM {EQUIVALENCE_TABLE} "
           "WHERE relationship_id = 'Maps to' GROUP BY concept_id_1, concept_id_2" if equivalence_table else
           "SELECT NULL::INTEGER AS concept_id_1, NULL::INTEGER AS concept_id_2, NULL::VARCHAR AS equivalence "
           "WHERE false")
    comp = _values([(a, b, compose(a, b)) for a in FHIR_EQUIVALENCES for b in FHIR_EQUIVALENCES], "a, b, c")
    inv = _values([(a, inverse(a)) for a in FHIR_EQUIVALENCES], "a, b")
    rank = _values(list(EQUIVALENCE_RANK.items()), "e, r")
    kinds = " ".join(f"WHEN {i} THEN {_lit(label)}" for i, label in enumerate(KIND_LABELS))
    ctes = f"""
    eqv AS ({eqv}),
    comp AS (SELECT * FROM {comp}),
    inv AS (SELECT * FROM {inv}),
    erank AS (SELECT * FROM {rank}),
    src AS (
        SELECT i.k, i.event_date, c.concept_id, c.vocabulary_id, c.concept_code
        FROM {keys} AS i
        JOIN concept AS c ON c.vocabulary_id = i.vocabulary_id AND c.concept_code = i.code
             AND (i.event_date IS NULL OR i.event_date BETWEEN c.valid_start_date AND c.valid_end_date)
        QUALIFY row_number() OVER (PARTITION BY i.k ORDER BY (c.invalid_reason IS NULL) DESC,
                                   c.valid_end_date DESC, c.concept_id) = 1),
    chain(k, event_date, root_id, concept_id, depth, steps) AS (
        SELECT k, event_date, concept_id, concept_id, 0, []::{_STEP}[] FROM src
        UNION ALL
        SELECT ch.k, ch.event_date, ch.root_id, r.concept_id_2, ch.depth + 1,
               list_append(ch.steps, {_step('c.vocabulary_id', 'c.concept_code', "'Concept replaced by'")})
        FROM chain AS ch
        JOIN concept AS c ON c.concept_id = ch.concept_id AND c.invalid_reason IS NOT NULL
        JOIN concept_relationship AS r ON r.concept_id_1 = ch.concept_id
             AND r.relationship_id = 'Concept replaced by' AND r.invalid_reason IS NULL
        WHERE ch.depth < {MAX_REPLACEMENT_HOPS}),
    hop AS (
        SELECT ch.k, ch.root_id, ch.depth, ch.steps, ch.concept_id AS from_id, r.concept_id_2 AS s_id,
               CASE WHEN r.concept_id_1 = r.concept_id_2 THEN 'equal'
                    ELSE coalesce(e.equivalence, 'equivalent') END AS eq1,
               CASE WHEN r.concept_id_1 = r.concept_id_2 THEN 0 WHEN e.equivalence IS NOT NULL THEN 1
                    ELSE 2 END AS kind1
        FROM chain AS ch
        JOIN concept_relationship AS r ON r.concept_id_1 = ch.concept_id AND r.relationship_id = 'Maps to'
             AND r.invalid_reason IS NULL
             AND (ch.depth > 0 OR ch.event_date IS NULL
                  OR ch.event_date BETWEEN r.valid_start_date AND r.valid_end_date)
        JOIN concept AS t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S'
             AND t.invalid_reason IS NULL
        LEFT JOIN eqv AS e ON e.concept_id_1 = r.concept_id_1 AND e.concept_id_2 = r.concept_id_2
        UNION
        SELECT ch.k, ch.root_id, ch.depth, ch.steps, ch.concept_id, ch.concept_id, 'equal', 0
        FROM chain AS ch
        JOIN concept AS c ON c.concept_id = ch.concept_id AND c.standard_concept = 'S'
             AND c.invalid_reason IS NULL),
    std AS (
        SELECT h.*, f.vocabulary_id AS from_vocabulary_id, f.concept_code AS from_code,
               s.vocabulary_id AS s_vocabulary_id, s.concept_code AS s_code
        FROM hop AS h JOIN concept AS f ON f.concept_id = h.from_id JOIN concept AS s ON s.concept_id = h.s_id
        QUALIFY h.depth = min(h.depth) OVER (PARTITION BY h.k)),"""
    def to_s(p: str) -> str:  # the path up to S (without S): replacements, then the source's 'Maps to'
        return (f"list_concat({p}steps, CASE WHEN {p}from_id = {p}s_id THEN []::{_STEP}[] "
                f"ELSE [{_step(p + 'from_vocabulary_id', p + 'from_code', _lit('Maps to'))}] END")

    if target is None:
        ctes += f"""
    cand AS (
        SELECT k, root_id, s_id AS concept_id, eq1 AS equivalence, kind1 AS kind, 0 AS level, FALSE AS hier,
               {to_s('')}, [{_step('s_vocabulary_id', 's_code', 'NULL')}]) AS path
        FROM std),"""
    else:
        v = _lit(target)

        def v2(name: str, xs: str) -> str:  # codes of the target vocabulary for the concepts x_id of ``xs``
            return f"""
    {name} AS (
        SELECT r.concept_id_2 AS x_id, c2.concept_id AS c2_id,
               CASE WHEN r.concept_id_1 = r.concept_id_2 THEN 'equal'
                    ELSE coalesce(e.equivalence, 'equivalent') END AS eq2,
               CASE WHEN r.concept_id_1 = r.concept_id_2 THEN 0 WHEN e.equivalence IS NOT NULL THEN 1
                    ELSE 2 END AS kind2
        FROM (SELECT DISTINCT x_id FROM {xs}) AS xs
        JOIN concept_relationship AS r ON r.concept_id_2 = xs.x_id AND r.relationship_id = 'Maps to'
             AND r.invalid_reason IS NULL
        JOIN concept AS c2 ON c2.concept_id = r.concept_id_1 AND c2.vocabulary_id = {v}
             AND c2.invalid_reason IS NULL
        JOIN concept AS x ON x.concept_id = r.concept_id_2 AND x.standard_concept = 'S'
             AND x.invalid_reason IS NULL
        LEFT JOIN eqv AS e ON e.concept_id_1 = r.concept_id_1 AND e.concept_id_2 = r.concept_id_2
        UNION
        SELECT c.concept_id, c.concept_id, 'equal', 0
        FROM (SELECT DISTINCT x_id FROM {xs}) AS xs JOIN concept AS c ON c.concept_id = xs.x_id
        WHERE c.vocabulary_id = {v} AND c.standard_concept IN ('S', 'C') AND c.invalid_reason IS NULL),"""

        # exact codes first; the hierarchy only for standard concepts without one
        ctes += f"""
    sids AS (SELECT DISTINCT s_id, s_id AS x_id FROM std),
    {v2('v2x', 'sids')}
    hsids AS (SELECT s_id FROM sids WHERE s_id NOT IN (SELECT x_id FROM v2x)),
    near AS (
        SELECT a.descendant_concept_id AS s_id, a.ancestor_concept_id AS x_id, 'wider' AS dir,
               a.min_levels_of_separation AS level
        FROM concept_ancestor AS a JOIN hsids ON hsids.s_id = a.descendant_concept_id
        WHERE a.ancestor_concept_id <> a.descendant_concept_id
        UNION ALL
        SELECT a.ancestor_concept_id, a.descendant_concept_id, 'narrower', a.min_levels_of_separation
        FROM concept_ancestor AS a JOIN hsids ON hsids.s_id = a.ancestor_concept_id
        WHERE a.ancestor_concept_id <> a.descendant_concept_id),
    {v2('v2h', 'near')}
    near_v2 AS (
        SELECT s.*, s.s_id AS x_id, 'exact' AS dir, 0 AS level, v.c2_id, v.eq2, v.kind2
        FROM std AS s JOIN v2x AS v ON v.x_id = s.s_id
        UNION ALL
        SELECT * FROM (
            SELECT s.*, n.x_id, n.dir, n.level, v.c2_id, v.eq2, v.kind2
            FROM std AS s JOIN near AS n ON n.s_id = s.s_id JOIN v2h AS v ON v.x_id = n.x_id
            QUALIFY n.level = min(n.level) OVER (PARTITION BY n.s_id, n.dir))),
    cand AS (
        SELECT n.k, n.root_id, n.c2_id AS concept_id,
               CASE WHEN n.c2_id = n.root_id THEN 'equal' ELSE c2.c END AS equivalence,
               CASE WHEN n.c2_id = n.root_id THEN 0 ELSE greatest(n.kind1, n.kind2) END AS kind,
               n.level, n.dir <> 'exact' AND n.c2_id <> n.root_id AS hier,
               {to_s('n.')},
                   [{_step('n.s_vocabulary_id', 'n.s_code',
                           "CASE n.dir WHEN 'wider' THEN 'Is a' WHEN 'narrower' THEN 'Subsumes' "
                           "ELSE CASE WHEN n.c2_id = n.s_id THEN NULL ELSE 'Mapped from' END END")}],
                   CASE WHEN n.dir = 'exact' THEN []::{_STEP}[]
                        ELSE [{_step('x.vocabulary_id', 'x.concept_code',
                                     "CASE WHEN n.c2_id = n.x_id THEN NULL ELSE 'Mapped from' END")}] END,
                   CASE WHEN n.c2_id = n.x_id THEN []::{_STEP}[]
                        ELSE [{_step('t.vocabulary_id', 't.concept_code', 'NULL')}] END) AS path
        FROM near_v2 AS n
        JOIN concept AS x ON x.concept_id = n.x_id
        JOIN concept AS t ON t.concept_id = n.c2_id
        JOIN comp AS c1 ON c1.a = n.eq1
             AND c1.b = CASE n.dir WHEN 'exact' THEN 'equal' ELSE n.dir END
        JOIN inv ON inv.a = n.eq2
        JOIN comp AS c2 ON c2.a = c1.c AND c2.b = inv.b),"""
    ctes += f"""
    best AS (
        SELECT c.*, {_path_string_sql('c.path')} AS path_string, erank.r AS eq_rank
        FROM cand AS c JOIN erank ON erank.e = c.equivalence
        QUALIFY row_number() OVER (PARTITION BY c.k, c.concept_id
                                   ORDER BY erank.r, c.level, path_string) = 1),
    matches AS (
        SELECT b.k, b.concept_id, t.vocabulary_id, t.concept_code, t.concept_name, t.standard_concept,
               b.equivalence,
               CASE b.kind {kinds} END || CASE WHEN b.hier THEN ' + concept_ancestor' ELSE '' END
                   AS equivalence_source,
               b.path, b.path_string,
               row_number() OVER (PARTITION BY b.k ORDER BY b.eq_rank, t.vocabulary_id, t.concept_code,
                                  b.concept_id) AS match_no
        FROM best AS b JOIN concept AS t ON t.concept_id = b.concept_id)"""
    return ctes


def _known_vocabularies(con) -> list[str]:
    return [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary ORDER BY 1").fetchall()]


def resolve_target(con, target: str, known: list[str] | None = None) -> str | None:
    """None for 'standard', else the vocabulary id of ``target``."""
    if target.strip().lower() == STANDARD:
        return None
    return resolve_system(target, known if known is not None else _known_vocabularies(con))


# ---------------------------------------------------------------- one code


def translate(con, system: str, code: str, *, target: str = STANDARD,
              date: _dt.date | str | None = None) -> Translation:
    """Translate one code of ``system`` to standard concepts or to the codes of vocabulary ``target``.

    ``date`` (a date or ISO string) is the event date: see the module docstring.
    """
    known = _known_vocabularies(con)
    vocabulary_id = resolve_system(system, known)
    target_id = resolve_target(con, target, known)
    target_name = target_id or STANDARD
    date = as_date(date)
    normalised = normalise_codes(pa.array([code], pa.string()), vocabulary_id)[0].as_py()
    source = SourceCode(vocabulary_id, code, normalised)
    if normalised is None:
        return Translation(False, f"code {code!r} not in {vocabulary_id}", source, target_name, date)
    rows = con.execute(
        "SELECT concept_id, concept_name, valid_start_date, valid_end_date, invalid_reason FROM concept "
        "WHERE vocabulary_id = ? AND concept_code = ? "
        "ORDER BY (invalid_reason IS NULL) DESC, valid_end_date DESC, concept_id",
        [vocabulary_id, normalised]).fetchall()
    if not rows:
        return Translation(False, f"code {code!r} not in {vocabulary_id}", source, target_name, date)
    valid = [r for r in rows if date is None or r[2] <= date <= r[3]]
    chosen = (valid or rows)[0]
    source = SourceCode(vocabulary_id, code, normalised, *chosen)
    label = f"{vocabulary_id} {normalised}"
    if not valid:
        ranges = " and ".join(f"{r[2].isoformat()} to {r[3].isoformat()}" for r in rows)
        replaced = _replacements(con, [r[0] for r in rows])
        hint = f"; replaced by {', '.join(replaced)}" if replaced else ""
        return Translation(False, f"{label} is valid {ranges}, not on {date.isoformat()}{hint}",
                           source, target_name, date)
    matches = _translate_keys(con, vocabulary_id, normalised, date, target_id)
    replaced = sorted({_replacement(m.path) for m in matches} - {None})
    note = (f"{label} is deprecated ({chosen[4]}) and replaced by {', '.join(replaced)}; "
            if replaced else "")
    if not matches:
        if target_id is None:
            why = f"{label} has no standard concept ('Maps to')"
        else:
            why = (f"no {target_id} code maps to the standard concept of {label}, "
                   "nor to its closest ancestors or descendants")
        return Translation(False, note + why, source, target_name, date)
    n = len(matches)
    return Translation(True, f"{note}{label}: {n} match{'es' if n > 1 else ''} in {target_name}",
                       source, target_name, date, tuple(matches))


def _replacement(path: tuple[PathStep, ...]) -> str | None:
    """The concept a path reached through 'Concept replaced by' (the last one of a chain), or None."""
    hops = [i for i, step in enumerate(path) if step.relationship == "Concept replaced by"]
    return f"{path[hops[-1] + 1].vocabulary_id} {path[hops[-1] + 1].code}" if hops else None


def as_date(value) -> _dt.date | None:
    """None, a date, a datetime (its date) or an ISO string ``YYYY-MM-DD``; anything else is a ValueError."""
    if value is None or (isinstance(value, _dt.date) and not isinstance(value, _dt.datetime)):
        return value
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"date {value!r} is not an ISO date (YYYY-MM-DD)") from None
    raise ValueError(f"date {value!r} is not a date")


def _replacements(con, concept_ids: list[int]) -> list[str]:
    rows = con.execute(
        "SELECT DISTINCT c.vocabulary_id || ' ' || c.concept_code FROM concept_relationship AS r "
        "JOIN concept AS c ON c.concept_id = r.concept_id_2 "
        "WHERE r.relationship_id = 'Concept replaced by' AND r.invalid_reason IS NULL "
        f"AND r.concept_id_1 IN ({', '.join(str(int(i)) for i in concept_ids)}) ORDER BY 1").fetchall()
    return [r[0] for r in rows]


def _translate_keys(con, vocabulary_id: str, code: str, date, target_id: str | None) -> list[Match]:
    keys = pa.table({"k": pa.array([1], pa.int64()), "vocabulary_id": [vocabulary_id], "code": [code],
                     "event_date": pa.array([date], pa.date32())})
    name = f"_xb_tr_keys_{uuid.uuid4().hex}"
    sql = (f"WITH RECURSIVE {_core_ctes(name, target_id, has_equivalence_table(con))}\n"
           "SELECT concept_id, vocabulary_id, concept_code, concept_name, standard_concept, equivalence, "
           "equivalence_source, path FROM matches ORDER BY match_no")
    con.register(name, keys)
    try:
        rows = con.execute(sql).fetchall()
    finally:
        con.unregister(name)
    return [Match(equivalence=eq, vocabulary_id=v, code=c, concept_id=int(cid), name=nm, standard=std == "S",
                  path=tuple(PathStep(s["vocabulary_id"], s["code"], s["relationship"]) for s in path),
                  equivalence_source=es)
            for cid, v, c, nm, std, eq, es, path in rows]


# ---------------------------------------------------------------- many codes


def _normalise_pairs(pairs: pa.Table) -> pa.Array | pa.ChunkedArray:
    """Normalise ``source_code`` per vocabulary (loop over the distinct vocabularies only)."""
    out = pa.nulls(pairs.num_rows, pa.string())
    for vocabulary_id in pc.unique(pairs["vocabulary_id"]).to_pylist():
        mask = pc.equal(pairs["vocabulary_id"], vocabulary_id)
        out = pc.if_else(mask, normalise_codes(pairs["source_code"], vocabulary_id), out)
    return out


# Event dates -> date classes.  A translation changes only where a window of the code's concepts or of
# their 'Maps to' rows starts or ends, so every distinct (code, date) is replaced by the latest such
# boundary on or before the date (ASOF join): distinct keys ~ distinct codes, not codes x dates.
_DATE_CLASS_CTES = """
    dcodes AS (SELECT DISTINCT vocabulary_id, code FROM dk),
    dcs AS (SELECT c.concept_id, c.vocabulary_id, c.concept_code AS code, c.valid_start_date, c.valid_end_date
            FROM concept AS c JOIN dcodes AS u ON u.vocabulary_id = c.vocabulary_id AND u.code = c.concept_code),
    drel AS (SELECT cs.vocabulary_id, cs.code, r.valid_start_date, r.valid_end_date
             FROM dcs AS cs JOIN concept_relationship AS r ON r.concept_id_1 = cs.concept_id
                  AND r.relationship_id = 'Maps to' AND r.invalid_reason IS NULL),
    bounds AS (
        SELECT vocabulary_id, code, DATE '0001-01-01' AS boundary FROM dcodes
        UNION SELECT vocabulary_id, code, valid_start_date FROM dcs
        UNION SELECT vocabulary_id, code, valid_end_date + 1 FROM dcs
        UNION SELECT vocabulary_id, code, valid_start_date FROM drel
        UNION SELECT vocabulary_id, code, valid_end_date + 1 FROM drel),
    dkr AS (SELECT dk.vocabulary_id, dk.code, dk.event_date, b.boundary AS rep
            FROM dk ASOF LEFT JOIN bounds AS b ON b.vocabulary_id = dk.vocabulary_id AND b.code = dk.code
                 AND dk.event_date >= b.boundary),"""


def translate_bulk(con, codes: pa.Table, *, target: str = STANDARD, normalise: bool = True) -> pa.Table:
    """Translate a table of codes (``vocabulary_id``, ``source_code``, optional ``event_date``).

    One row per (input row, match), input order kept, input columns carried
    through, plus :data:`BULK_COLUMNS`; rows without a match are kept with
    ``concept_id`` 0 and equivalence ``unmatched``.  ``normalise`` normalises
    the distinct (vocabulary_id, source_code) pairs first (raw codes such as
    ``E119`` are fine); otherwise codes must be as Athena writes them.  The
    same SQL as :func:`translate`, run once over the distinct codes; event
    dates are first reduced to date classes (:data:`_DATE_CLASS_CTES`), so the
    work grows with the distinct codes, not codes x dates.
    ``source_concept_id`` is 0 when the code is not in the vocabulary on the
    event date (:func:`translate` still reports the concept and its range).
    """
    missing = [c for c in ("vocabulary_id", "source_code") if c not in codes.column_names]
    if missing:
        raise ValueError(f"translate_bulk: missing column(s) {missing}")
    clash = [c for c in (*BULK_COLUMNS, _ROW) if c in codes.column_names]
    if clash:
        raise ValueError(f"translate_bulk: input already has column(s) {clash}")
    target_id = resolve_target(con, target)
    has_date = "event_date" in codes.column_names
    if has_date:
        kind = codes.schema.field("event_date").type
        if pa.types.is_timestamp(kind) or pa.types.is_date64(kind):
            codes = codes.set_column(codes.schema.get_field_index("event_date"), "event_date",
                                     pc.cast(codes["event_date"], pa.date32()))
        elif not (pa.types.is_date32(kind) or pa.types.is_null(kind)):
            raise ValueError(f"translate_bulk: event_date must be a date or timestamp column, not {kind}")
    for col in ("vocabulary_id", "source_code"):
        kind = codes.schema.field(col).type
        if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_null(kind)):
            raise ValueError(f"translate_bulk: {col} must be a string column, not {kind}")
    table = codes.append_column(_ROW, pa.array(np.arange(codes.num_rows, dtype=np.int64)))
    tag = uuid.uuid4().hex
    inp, norm = f"_xb_tb_in_{tag}", f"_xb_tb_norm_{tag}"
    con.register(inp, table)
    registered = [inp]
    try:
        pairs = con.sql(f"SELECT DISTINCT vocabulary_id::VARCHAR AS vocabulary_id, "
                        f"source_code::VARCHAR AS source_code FROM {inp} "
                        "WHERE vocabulary_id IS NOT NULL AND source_code IS NOT NULL").to_arrow_table()
        normalised = _normalise_pairs(pairs) if normalise else pairs["source_code"]
        con.register(norm, pairs.append_column("code", normalised))
        registered.append(norm)
        keep = ", ".join(f'i."{c}"' for c in codes.column_names)
        join = f"""FROM {inp} AS i JOIN {norm} AS n
                ON n.vocabulary_id = i.vocabulary_id AND n.source_code = i.source_code
              WHERE n.code IS NOT NULL"""
        if has_date:
            keys = f"""
    dk AS (SELECT DISTINCT n.vocabulary_id, n.code, i.event_date {join}),
    {_DATE_CLASS_CTES}
    keys AS (SELECT row_number() OVER () AS k, vocabulary_id, code, rep AS event_date
             FROM (SELECT DISTINCT vocabulary_id, code, rep FROM dkr)),"""
            key_join = """LEFT JOIN dkr ON dkr.vocabulary_id = n.vocabulary_id AND dkr.code = n.code
     AND dkr.event_date IS NOT DISTINCT FROM i.event_date
LEFT JOIN keys AS ky ON ky.vocabulary_id = n.vocabulary_id AND ky.code = n.code
     AND ky.event_date IS NOT DISTINCT FROM dkr.rep"""
        else:
            keys = f"""
    keys AS (SELECT row_number() OVER () AS k, vocabulary_id, code, NULL::DATE AS event_date
             FROM (SELECT DISTINCT n.vocabulary_id, n.code {join})),"""
            key_join = "LEFT JOIN keys AS ky ON ky.vocabulary_id = n.vocabulary_id AND ky.code = n.code"
        sql = f"""WITH RECURSIVE {keys}
    {_core_ctes('keys', target_id, has_equivalence_table(con))}
SELECT {keep},
       coalesce(s.concept_id, 0)::INTEGER AS source_concept_id,
       coalesce(m.concept_id, 0)::INTEGER AS concept_id,
       m.vocabulary_id AS vocabulary_id_target,
       m.concept_code AS concept_code_target,
       coalesce(m.equivalence, 'unmatched') AS equivalence,
       m.path_string AS path
FROM {inp} AS i
LEFT JOIN {norm} AS n ON n.vocabulary_id = i.vocabulary_id AND n.source_code = i.source_code
{key_join}
LEFT JOIN src AS s ON s.k = ky.k
LEFT JOIN matches AS m ON m.k = ky.k
ORDER BY i.{_ROW}, m.match_no"""
        return con.sql(sql).to_arrow_table()
    finally:
        for name in registered:
            con.unregister(name)


# ---------------------------------------------------------------- output


def to_dict(t: Translation) -> dict:
    """JSON-ready dict with stable keys (dates as ISO strings)."""
    s = t.source
    return {
        "result": t.result,
        "message": t.message,
        "target": t.target,
        "date": t.date.isoformat() if t.date else None,
        "source": {
            "vocabulary_id": s.vocabulary_id, "code": s.code, "normalised_code": s.normalised_code,
            "concept_id": s.concept_id, "name": s.name,
            "valid_start": s.valid_start.isoformat() if s.valid_start else None,
            "valid_end": s.valid_end.isoformat() if s.valid_end else None,
            "invalid_reason": s.invalid_reason,
        },
        "matches": [{
            "equivalence": m.equivalence, "equivalence_source": m.equivalence_source,
            "vocabulary_id": m.vocabulary_id, "system": system_uri(m.vocabulary_id), "code": m.code,
            "concept_id": m.concept_id, "name": m.name, "standard": m.standard,
            "path": [list(step) for step in m.path], "path_string": m.path_string,
        } for m in t.matches],
    }


def to_parameters(t: Translation) -> dict:
    """The FHIR R4 ``Parameters`` resource ``ConceptMap/$translate`` returns.

    ``result``, ``message`` and one ``match`` per match (``equivalence`` and
    ``concept`` as a Coding with the system URI of :func:`terminology.systems.
    system_uri`).  R4 has no match part for a path (``source`` must be a
    ConceptMap URL), so the paths are appended to ``message``.
    """
    message = t.message
    if t.matches:
        message += ". Paths: " + "; ".join(m.path_string for m in t.matches)
    params: list[dict] = [{"name": "result", "valueBoolean": t.result},
                          {"name": "message", "valueString": message}]
    for m in t.matches:
        coding = {"system": system_uri(m.vocabulary_id), "code": m.code}
        if m.name:
            coding["display"] = m.name
        params.append({"name": "match", "part": [
            {"name": "equivalence", "valueCode": m.equivalence},
            {"name": "concept", "valueCoding": coding},
        ]})
    return {"resourceType": "Parameters", "parameter": params}


__all__ = [
    "ARROWS", "BULK_COLUMNS", "EQUIVALENCE_RANK", "Match", "PathStep", "STANDARD", "SourceCode", "Translation",
    "as_date", "compose", "has_equivalence_table", "inverse", "render_path", "resolve_target", "to_dict", "to_parameters",
    "translate", "translate_bulk",
]
