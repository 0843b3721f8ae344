"""Cross-border concept sets: codes of one vocabulary -> standard concepts -> the codes of every other vocabulary.

:func:`expand_concept_set` answers "which codes mean type 2 diabetes in
ICD-10-CM, ICD-10 (Finnish), ICD-9-CM, ICPC ...?" from the OMOP store, all in
SQL:

1. **Input codes** of ``system`` match source concepts.  ``system`` is a
   vocabulary (name, alias or URI, :func:`terminology.systems.resolve_system`),
   ``'standard'`` (concept codes of standard concepts of any vocabulary) or
   ``'concept_id'`` (OMOP concept ids).  A code containing ``%`` is an SQL LIKE
   pattern (``_`` is then a one-character wildcard; a code without ``%`` is
   matched literally, so ``DRUG_ERUPTION`` is a code).  Literal codes are
   normalised (:func:`terminology.normalise.normalise_codes`: ``E119`` =
   ``E11.9``); in patterns, blanks are trimmed, letters upper-cased and, for
   the vocabularies whose dots are formatting (ICD-9-CM, ICD-10(-CM), ICD-9
   procedures, Finnish ICD-10), dots ignored on both sides: ``E11%`` and
   ``E11.%`` are the same pattern and match ``E11`` itself, ``E11.9`` and
   ``E11.3+H36.0``.  With a ``date`` only concepts valid on it match.
2. **Standard concepts**: the matched concepts' 'Maps to' targets
   (``invalid_reason`` null; with a date, valid on it), standard matched
   concepts themselves ('direct'), plus with ``include_descendants`` their
   standard descendants in ``concept_ancestor`` ('descendant').
3. **Targets**: every code of each target vocabulary whose current 'Maps to'
   is a standard concept of the set (deprecated codes included and flagged:
   historical data uses them).  Default targets: every vocabulary other than
   ``system`` with non-standard concepts that map to a standard concept of
   the set's domains (so a condition set does not list drug vocabularies);
   ``targets`` restricts them (vocabulary names, or a site: ``'finland'``,
   ``'taiwan'``).  Targets are grouped by site (:func:`terminology.systems.
   code_system`; 'international' when none).
4. **What did not translate**, stated explicitly: ``untranslated_source``
   (matched input codes without a standard concept), per target
   ``standard_without_code`` (standard concepts of the set no code of that
   vocabulary maps to), and ``unmatched_patterns``.  When no input code
   matches at all, :class:`EmptyConceptSet` is raised naming the patterns.

'Concept replaced by' is not followed here (a deprecated input code without
mappings lands in ``untranslated_source``); see :mod:`terminology.translation`.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from dataclasses import dataclass

import pyarrow as pa

from terminology.normalise import DOT_AFTER, FI_ICD10_VOCABULARIES, normalise_codes
from terminology.systems import code_system, resolve_system, site_vocabularies, system_uri
from terminology.translation import as_date

STANDARD = "standard"
CONCEPT_ID = "concept_id"
SITES = ("taiwan", "finland")
INTERNATIONAL = "international"
# vocabularies whose dots are formatting only: patterns ignore them
DOTTED_VOCABULARIES = tuple(sorted({v for v, at in DOT_AFTER.items() if at is not None} | set(FI_ICD10_VOCABULARIES)))


class EmptyConceptSet(ValueError):
    """No input code or pattern matched any concept."""

    def __init__(self, system: str, patterns, date: _dt.date | None = None):
        when = f" on {date.isoformat()}" if date else ""
        super().__init__(f"no code matches {', '.join(repr(p) for p in patterns)} in {system}{when}")
        self.system = system
        self.patterns = tuple(patterns)


@dataclass(frozen=True)
class SetSourceCode:
    """An input concept matched by the patterns, and the standard concepts it maps to."""

    vocabulary_id: str
    code: str
    concept_id: int
    name: str
    patterns: tuple[str, ...]
    standard_concept_ids: tuple[int, ...]


@dataclass(frozen=True)
class SetStandardConcept:
    """A standard concept of the set; ``via`` is 'direct' (mapped from the input) or 'descendant'."""

    concept_id: int
    vocabulary_id: str
    code: str
    name: str
    domain_id: str
    via: str


@dataclass(frozen=True)
class SetTargetCode:
    """A code of a target vocabulary that maps into the set."""

    code: str
    name: str
    concept_id: int
    standard_concept_ids: tuple[int, ...]
    deprecated: bool = False


@dataclass(frozen=True)
class TargetVocabulary:
    """The codes of one target vocabulary, and the standard concepts of the set none of them maps to."""

    vocabulary_id: str
    site: str
    codes: tuple[SetTargetCode, ...]
    standard_without_code: tuple[int, ...]


@dataclass(frozen=True)
class ConceptSet:
    """The expansion of codes of one vocabulary across the store (see the module docstring)."""

    system: str
    patterns: tuple[str, ...]
    include_descendants: bool
    date: _dt.date | None
    matched: tuple[SetSourceCode, ...]
    unmatched_patterns: tuple[str, ...]
    standard_concepts: tuple[SetStandardConcept, ...]
    targets: tuple[TargetVocabulary, ...]
    untranslated_source: tuple[SetSourceCode, ...]

    def target(self, vocabulary_id: str) -> TargetVocabulary:
        for t in self.targets:
            if t.vocabulary_id == vocabulary_id:
                return t
        raise KeyError(f"{vocabulary_id!r} is not a target of this concept set "
                       f"(targets: {', '.join(t.vocabulary_id for t in self.targets)})")

    def codes_for(self, vocabulary_id: str) -> list[str]:
        """Sorted codes of a vocabulary (a target, the input system, or a vocabulary of the standard concepts).

        Names, aliases and URIs are accepted; unknown ones raise
        :class:`terminology.errors.UnknownCodeSystem`.
        """
        present = ({t.vocabulary_id for t in self.targets} | {m.vocabulary_id for m in self.matched}
                   | {s.vocabulary_id for s in self.standard_concepts})
        v = resolve_system(vocabulary_id, present)
        codes = {c.code for t in self.targets if t.vocabulary_id == v for c in t.codes}
        codes |= {m.code for m in self.matched if m.vocabulary_id == v}
        codes |= {s.code for s in self.standard_concepts if s.vocabulary_id == v}
        return sorted(codes)

    @property
    def sites(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for t in self.targets:
            out.setdefault(t.site, []).append(t.vocabulary_id)
        return {k: sorted(v) for k, v in sorted(out.items())}

    @property
    def counts(self) -> dict[str, object]:
        return {
            "matched_source": len(self.matched),
            "unmatched_patterns": len(self.unmatched_patterns),
            "untranslated_source": len(self.untranslated_source),
            "standard_concepts": len(self.standard_concepts),
            "standard_direct": sum(1 for s in self.standard_concepts if s.via == "direct"),
            "standard_descendant": sum(1 for s in self.standard_concepts if s.via == "descendant"),
            "targets": {t.vocabulary_id: {"codes": len(t.codes),
                                          "standard_without_code": len(t.standard_without_code)}
                        for t in self.targets},
        }

    def to_dict(self) -> dict:
        """Deterministic JSON-ready dict (all lists sorted)."""
        def src(m: SetSourceCode) -> dict:
            return {"vocabulary_id": m.vocabulary_id, "code": m.code, "concept_id": m.concept_id, "name": m.name,
                    "patterns": list(m.patterns), "standard_concept_ids": list(m.standard_concept_ids)}
        return {
            "input": {"system": self.system, "patterns": list(self.patterns),
                      "include_descendants": self.include_descendants,
                      "date": self.date.isoformat() if self.date else None,
                      "matched": [src(m) for m in self.matched],
                      "unmatched_patterns": list(self.unmatched_patterns)},
            "standard_concepts": [{"concept_id": s.concept_id, "vocabulary_id": s.vocabulary_id, "code": s.code,
                                   "name": s.name, "domain_id": s.domain_id, "via": s.via}
                                  for s in self.standard_concepts],
            "targets": {t.vocabulary_id: {
                "site": t.site, "system": system_uri(t.vocabulary_id),
                "codes": [{"code": c.code, "name": c.name, "concept_id": c.concept_id,
                           "standard_concept_ids": list(c.standard_concept_ids), "deprecated": c.deprecated}
                          for c in t.codes],
                "standard_without_code": list(t.standard_without_code)} for t in self.targets},
            "sites": self.sites,
            "untranslated_source": [src(m) for m in self.untranslated_source],
            "counts": self.counts,
        }


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _patterns_table(system: str, codes: list[str]) -> pa.Table:
    """(p, pattern, kind, key, id): kind 'exact' | 'like' | 'id'."""
    kinds, keys, ids = [], [], []
    if system == CONCEPT_ID:
        for c in codes:
            text = str(c).strip()
            if not text.lstrip("-").isdigit():
                raise ValueError(f"concept id {c!r} is not an integer")
            kinds.append("id")
            keys.append(None)
            ids.append(int(text))
        return pa.table({"p": pa.array(range(len(codes)), pa.int32()), "pattern": [str(c) for c in codes],
                         "kind": kinds, "key": pa.array(keys, pa.string()), "id": pa.array(ids, pa.int64())})
    like = [("%" in c) for c in codes]
    if system == STANDARD:
        keys = [c.strip() for c in codes]
    else:
        exact = normalise_codes(pa.array([c for c, lk in zip(codes, like) if not lk], pa.string()), system)
        exact_iter = iter(exact.to_pylist())
        for c, lk in zip(codes, like):
            if not lk:
                keys.append(next(exact_iter))
            else:
                key = c.strip().upper()
                keys.append(key.replace(".", "") if system in DOTTED_VOCABULARIES else key)
    kinds = ["like" if lk else "exact" for lk in like]
    return pa.table({"p": pa.array(range(len(codes)), pa.int32()), "pattern": list(codes), "kind": kinds,
                     "key": pa.array(keys, pa.string()), "id": pa.nulls(len(codes), pa.int64())})


def _base_ctes(pats: str, system: str, include_descendants: bool, date: _dt.date | None) -> str:
    if system == STANDARD:
        sys_cond = "c.standard_concept = 'S'"
    elif system == CONCEPT_ID:
        sys_cond = "TRUE"
    else:
        sys_cond = f"c.vocabulary_id = {_lit(system)}"
    code_expr = "replace(c.concept_code, '.', '')" if system in DOTTED_VOCABULARIES else "c.concept_code"
    d = f"DATE {_lit(date.isoformat())}" if date else None
    concept_date = f"AND {d} BETWEEN c.valid_start_date AND c.valid_end_date" if d else ""
    rel_date = f"AND {d} BETWEEN r.valid_start_date AND r.valid_end_date" if d else ""
    descendants = """
        UNION ALL
        SELECT DISTINCT a.descendant_concept_id, 'descendant'
        FROM concept_ancestor AS a JOIN direct AS d ON d.concept_id = a.ancestor_concept_id
        JOIN concept AS t ON t.concept_id = a.descendant_concept_id AND t.standard_concept = 'S'
             AND t.invalid_reason IS NULL
        WHERE a.descendant_concept_id NOT IN (SELECT concept_id FROM direct)""" if include_descendants else ""
    return f"""
    matched AS (
        SELECT p.p, p.pattern, c.concept_id, c.vocabulary_id, c.concept_code, c.concept_name,
               c.standard_concept, c.invalid_reason
        FROM {pats} AS p JOIN concept AS c ON {sys_cond} {concept_date}
             AND ((p.kind = 'exact' AND c.concept_code = p.key)
                  OR (p.kind = 'like' AND {code_expr} LIKE p.key)
                  OR (p.kind = 'id' AND c.concept_id = p.id))),
    maps AS (
        SELECT m.concept_id AS source_id, r.concept_id_2 AS s_id
        FROM (SELECT DISTINCT concept_id FROM matched) AS m
        JOIN concept_relationship AS r ON r.concept_id_1 = m.concept_id AND r.relationship_id = 'Maps to'
             AND r.invalid_reason IS NULL {rel_date}
        JOIN concept AS t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S'
             AND t.invalid_reason IS NULL
        UNION
        SELECT concept_id, concept_id FROM matched WHERE standard_concept = 'S' AND invalid_reason IS NULL),
    direct AS (SELECT DISTINCT s_id AS concept_id FROM maps),
    closure AS (
        SELECT concept_id, 'direct' AS via FROM direct{descendants})"""


def _targets_ctes(targets: list[str]) -> str:
    vs = ", ".join(_lit(v) for v in targets) if targets else "NULL"
    return f"""
    tv AS (SELECT unnest([{vs}]::VARCHAR[]) AS vocabulary_id),
    tcodes AS (
        SELECT c2.vocabulary_id, c2.concept_code, c2.concept_name, c2.concept_id, c2.invalid_reason,
               r.concept_id_2 AS s_id
        FROM closure AS s
        JOIN concept_relationship AS r ON r.concept_id_2 = s.concept_id AND r.relationship_id = 'Maps to'
             AND r.invalid_reason IS NULL
        JOIN concept AS c2 ON c2.concept_id = r.concept_id_1
        JOIN tv ON tv.vocabulary_id = c2.vocabulary_id
        UNION
        SELECT c2.vocabulary_id, c2.concept_code, c2.concept_name, c2.concept_id, c2.invalid_reason, c2.concept_id
        FROM closure AS s JOIN concept AS c2 ON c2.concept_id = s.concept_id
        JOIN tv ON tv.vocabulary_id = c2.vocabulary_id)"""


def _resolve_targets(con, targets, system: str, known: list[str], base: str) -> list[str]:
    if targets is None:
        exclude = system if system not in (STANDARD, CONCEPT_ID) else ""
        rows = con.execute(f"""WITH {base}
            SELECT DISTINCT c.vocabulary_id FROM concept AS c
            JOIN concept_relationship AS r ON r.concept_id_1 = c.concept_id AND r.relationship_id = 'Maps to'
                 AND r.invalid_reason IS NULL
            JOIN concept AS t ON t.concept_id = r.concept_id_2 AND t.standard_concept = 'S'
            WHERE coalesce(c.standard_concept, '') <> 'S' AND c.vocabulary_id <> {_lit(exclude)}
              AND t.domain_id IN (SELECT DISTINCT x.domain_id FROM closure JOIN concept AS x USING (concept_id))
            ORDER BY 1""").fetchall()
        return [r[0] for r in rows]
    out: set[str] = set()
    for name in ([targets] if isinstance(targets, str) else targets):
        if name.strip().lower() in SITES:
            out |= {v for v in site_vocabularies(name.strip().lower()) if v in known}
        else:
            out.add(resolve_system(name, known))
    return sorted(out)


def expand_concept_set(con, system: str, codes, *, include_descendants: bool = True, targets=None,
                       date: _dt.date | str | None = None) -> ConceptSet:
    """Expand ``codes`` (codes or LIKE patterns) of ``system`` into a cross-border concept set."""
    codes = [codes] if isinstance(codes, str) else [str(c) if isinstance(c, int) else c for c in codes]
    if not codes:
        raise ValueError("expand_concept_set: no codes given")
    for c in codes:
        if not isinstance(c, str) or not c.strip():
            raise ValueError(f"expand_concept_set: empty or non-text code {c!r}")
    date = as_date(date)
    known = [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary ORDER BY 1").fetchall()]
    key = system.strip().lower()
    vocabulary = key if key in (STANDARD, CONCEPT_ID) else resolve_system(system, known)
    pats = f"_xb_cs_patterns_{uuid.uuid4().hex}"
    con.register(pats, _patterns_table(vocabulary, codes))
    try:
        base = _base_ctes(pats, vocabulary, include_descendants, date)
        matched_rows = con.execute(f"""WITH {base}
            SELECT m.vocabulary_id, m.concept_code, m.concept_id, m.concept_name,
                   list(DISTINCT m.pattern ORDER BY m.pattern) AS patterns,
                   coalesce((SELECT list(DISTINCT s_id ORDER BY s_id) FROM maps WHERE source_id = m.concept_id),
                            []) AS s_ids
            FROM matched AS m GROUP BY ALL ORDER BY m.vocabulary_id, m.concept_code, m.concept_id""").fetchall()
        matched = tuple(SetSourceCode(v, c, int(i), n, tuple(p), tuple(s)) for v, c, i, n, p, s in matched_rows)
        hit = {p for m in matched for p in m.patterns}
        unmatched = tuple(c for c in codes if c not in hit)
        if not matched:
            raise EmptyConceptSet(vocabulary, codes, date)
        std_rows = con.execute(f"""WITH {base}
            SELECT c.concept_id, c.vocabulary_id, c.concept_code, c.concept_name, c.domain_id, s.via
            FROM closure AS s JOIN concept AS c USING (concept_id)
            ORDER BY s.via DESC, c.vocabulary_id, c.concept_id""").fetchall()
        standard = tuple(SetStandardConcept(int(i), v, c, n, d, via) for i, v, c, n, d, via in std_rows)
        target_ids = _resolve_targets(con, targets, vocabulary, known, base)
        tq = f"WITH {base}, {_targets_ctes(target_ids)}"
        code_rows = con.execute(f"""{tq}
            SELECT vocabulary_id, concept_code, concept_name, concept_id, invalid_reason IS NOT NULL,
                   list(DISTINCT s_id ORDER BY s_id)
            FROM tcodes GROUP BY ALL ORDER BY vocabulary_id, concept_code, concept_id""").fetchall()
        missing_rows = con.execute(f"""{tq}
            SELECT tv.vocabulary_id, list(s.concept_id ORDER BY s.concept_id)
            FROM tv CROSS JOIN closure AS s
            WHERE NOT EXISTS (SELECT 1 FROM tcodes AS t
                              WHERE t.vocabulary_id = tv.vocabulary_id AND t.s_id = s.concept_id)
            GROUP BY tv.vocabulary_id""").fetchall()
    finally:
        con.unregister(pats)
    missing = dict(missing_rows)
    by_vocabulary: dict[str, list[SetTargetCode]] = {v: [] for v in target_ids}
    for v, c, n, i, dep, s in code_rows:
        by_vocabulary[v].append(SetTargetCode(c, n, int(i), tuple(s), bool(dep)))
    target_vocabularies = tuple(
        TargetVocabulary(v, _site(v), tuple(by_vocabulary[v]), tuple(missing.get(v, ()))) for v in target_ids)
    return ConceptSet(vocabulary, tuple(codes), include_descendants, date, matched, unmatched, standard,
                      target_vocabularies, tuple(m for m in matched if not m.standard_concept_ids))


def _site(vocabulary_id: str) -> str:
    cs = code_system(vocabulary_id)
    return cs.site if cs is not None and cs.site else INTERNATIONAL


__all__ = [
    "CONCEPT_ID", "ConceptSet", "DOTTED_VOCABULARIES", "EmptyConceptSet", "STANDARD", "SetSourceCode",
    "SetStandardConcept", "SetTargetCode", "TargetVocabulary", "expand_concept_set",
]
