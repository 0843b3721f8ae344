"""A study's concept sets, resolved in the site's own vocabulary, and their coverage in its data.

:func:`resolve_concept_sets` expands every set (:func:`terminology.concept_sets.expand_concept_set`)
and refuses, naming the field, a code or pattern that matches no concept, an unknown code
system, or a set that translates to no standard concept.  It runs before any measure.

:func:`coverage` then counts, per set, the records whose standard concept is in the set by
the vocabulary of their source concept, and the records *missed* through mapping: a source
concept among the set's codes at this site but a standard concept outside the set
(typically 0, unmapped).  Record counts only, computed in the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from studies.database import StudyDatabase
from studies.measures import DOMAIN_TABLES, EVENT_TABLES
from studies.spec import Study, StudySpecError

SOURCE_CONCEPT_COLUMNS = {
    "condition_occurrence": "condition_source_concept_id", "drug_exposure": "drug_source_concept_id",
    "procedure_occurrence": "procedure_source_concept_id", "measurement": "measurement_source_concept_id",
    "observation": "observation_source_concept_id", "device_exposure": "device_source_concept_id",
}
NO_SOURCE = "(none)"


@dataclass(frozen=True)
class ResolvedSet:
    name: str
    system: str  # the vocabulary the codes were matched in
    codes: tuple[str, ...]
    include_descendants: bool
    standard: tuple[dict, ...]  # {concept_id, name, vocabulary_id, domain_id, via}
    site_codes: dict[str, tuple[dict, ...]]  # vocabulary -> ({code, name, concept_id}, ...)

    @property
    def concept_ids(self) -> list[int]:
        return [s["concept_id"] for s in self.standard]

    @property
    def domains(self) -> list[str]:
        return sorted({s["domain_id"] for s in self.standard})

    def to_dict(self) -> dict:
        return {"system": self.system, "codes": list(self.codes), "include_descendants": self.include_descendants,
                "standard_concepts": [dict(s) for s in self.standard],
                "site_codes": {v: [{"code": c["code"], "name": c["name"]} for c in codes]
                               for v, codes in self.site_codes.items()}}


def resolve_concept_sets(db: StudyDatabase, study: Study, site: str | None) -> dict[str, ResolvedSet]:
    """Expand every concept set of ``study`` in ``db``'s vocabulary; StudySpecError names what fails."""
    from terminology.concept_sets import SITES, EmptyConceptSet, expand_concept_set
    from terminology.errors import UnknownCodeSystem

    con = db.vocabulary_connection()
    out: dict[str, ResolvedSet] = {}
    for name, cs in study.concept_sets.items():
        where = f"concept_sets.{name}"
        try:
            exp = expand_concept_set(con, cs.system, list(cs.codes), include_descendants=cs.include_descendants,
                                     targets=site if site in SITES else None)
        except UnknownCodeSystem as exc:
            raise StudySpecError(f"{where}.system", f"{exc} in the vocabulary of {db.label}") from None
        except EmptyConceptSet:
            raise StudySpecError(f"{where}.codes", f"no code of {list(cs.codes)} is a concept of {cs.system} in the "
                                 f"vocabulary of {db.label}") from None
        if exp.unmatched_patterns:
            bad = exp.unmatched_patterns[0]
            raise StudySpecError(f"{where}.codes[{cs.codes.index(bad)}]",
                                 f"{bad!r} matches no concept of {exp.system} in the vocabulary of {db.label}")
        if not exp.standard_concepts:
            raise StudySpecError(f"{where}.codes", f"{list(cs.codes)} translate to no standard concept (no 'Maps to' "
                                 f"in the vocabulary of {db.label}): the set would count nothing")
        standard = tuple({"concept_id": s.concept_id, "name": s.name, "vocabulary_id": s.vocabulary_id,
                          "domain_id": s.domain_id, "via": s.via} for s in exp.standard_concepts)
        site_codes: dict[str, list[dict]] = {}
        for m in exp.matched:
            site_codes.setdefault(m.vocabulary_id, []).append({"code": m.code, "name": m.name,
                                                               "concept_id": m.concept_id})
        for t in exp.targets:
            for c in t.codes:
                site_codes.setdefault(t.vocabulary_id, []).append({"code": c.code, "name": c.name,
                                                                   "concept_id": c.concept_id})
        site_codes = {v: tuple({c["concept_id"]: c for c in codes}.values()) for v, codes in sorted(site_codes.items())}
        out[name] = ResolvedSet(name, exp.system, cs.codes, cs.include_descendants, standard, site_codes)
    return out


def coverage(db: StudyDatabase, resolved: Mapping[str, ResolvedSet]) -> dict[str, dict]:
    """Per set: ``records`` (standard concept in the set), ``by_source_vocabulary`` and ``missed`` (see module)."""
    import pandas as pd

    rows = [(name, int(s["concept_id"]), "standard") for name, r in resolved.items() for s in r.standard]
    rows += [(name, int(c["concept_id"]), "source") for name, r in resolved.items()
             for codes in r.site_codes.values() for c in codes]
    ids = db.upload("study_cov", {"set_name": "VARCHAR", "concept_id": "BIGINT", "kind": "VARCHAR"}, rows)
    concept = db.vocab_table("concept")
    out: dict[str, dict] = {}
    for name, r in resolved.items():
        tables = [t for t in EVENT_TABLES if db.has(t) and t in {DOMAIN_TABLES.get(d) for d in r.domains}]
        parts = []
        for t in tables:
            ccol, src = EVENT_TABLES[t][0], SOURCE_CONCEPT_COLUMNS[t]
            std_in = f"{ccol} IN (SELECT concept_id FROM {ids} WHERE set_name = '{name}' AND kind = 'standard')"
            src_in = f"{src} IN (SELECT concept_id FROM {ids} WHERE set_name = '{name}' AND kind = 'source')"
            parts.append(f"""SELECT CASE WHEN {std_in} THEN 'records' ELSE 'missed' END AS what,
                                   COALESCE(c.vocabulary_id, '{NO_SOURCE}') AS vocabulary_id, COUNT(*) AS n
                            FROM {db.table(t)} AS x LEFT JOIN {concept} AS c ON c.concept_id = x.{src}
                              AND x.{src} <> 0
                            WHERE {std_in} OR {src_in}
                            GROUP BY 1, 2""")
        if "Specimen" in r.domains and db.has("specimen"):
            parts.append(f"""SELECT 'records' AS what, '{NO_SOURCE}' AS vocabulary_id, COUNT(*) AS n
                            FROM {db.table('specimen')} WHERE specimen_concept_id IN
                              (SELECT concept_id FROM {ids} WHERE set_name = '{name}' AND kind = 'standard')""")
            tables.append("specimen")
        frame = db.query(" UNION ALL ".join(parts)) if parts else pd.DataFrame(columns=["what", "vocabulary_id", "n"])
        frame["n"] = pd.to_numeric(frame["n"]).astype("int64")
        agg = frame.groupby(["what", "vocabulary_id"], sort=True)["n"].sum()
        recs = agg.get("records", pd.Series(dtype="int64"))
        missed = agg.get("missed", pd.Series(dtype="int64"))
        out[name] = {"tables": tables, "records": int(recs.sum()),
                     "by_source_vocabulary": {str(k): int(v) for k, v in recs.items()},
                     "missed": {str(k): int(v) for k, v in missed.items()}}
    return out


__all__ = ["NO_SOURCE", "ResolvedSet", "coverage", "resolve_concept_sets"]
