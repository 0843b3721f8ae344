"""Export a source vocabulary of the store as a FinOMOP usagi-extended file.

One row per (source code, 'Maps to'-family target), as Usagi writes them:
approved mappings (``mappingStatus`` APPROVED, ``mappingType`` from the
relationship, ``equivalence`` from ``mapping_equivalence`` when the store
states one, else UNREVIEWED); codes without a mapping get one row with
``conceptId`` 0 and status UNCHECKED, so a mapper sees them.  The
``ADD_INFO`` columns carry the source concept (id, class, domain, validity,
Finnish name), so :func:`terminology.usagi.read_usagi` reads the file back
to the same concepts, mappings and equivalences.  Built in one SQL query.
"""

from __future__ import annotations

from pathlib import Path

from terminology.concepts import LANGUAGE_FINNISH
from terminology.errors import UnknownCodeSystem
from terminology.usagi import MAPPING_TYPES, write_usagi

_REL_TO_TYPE = {rel: mtype for mtype, (rel, _) in MAPPING_TYPES.items()}


def export_usagi(con, vocabulary_id: str, path: str | Path, *, include_unmapped: bool = True) -> dict:
    """Write ``vocabulary_id``'s source concepts and mappings to ``path``; returns a small report."""
    known = [r[0] for r in con.execute("SELECT vocabulary_id FROM vocabulary").fetchall()]
    if vocabulary_id not in known:
        raise UnknownCodeSystem(vocabulary_id, sorted(known))
    has_eq = bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = "
                              "'mapping_equivalence'").fetchall()[0][0])
    eq_join = ("LEFT JOIN mapping_equivalence e ON e.concept_id_1 = r.concept_id_1 "
               "AND e.concept_id_2 = r.concept_id_2 AND e.relationship_id = r.relationship_id"
               if has_eq else "LEFT JOIN (SELECT NULL::INTEGER AS x, NULL AS equivalence) e ON false")
    rels = ", ".join(f"'{r}'" for r in _REL_TO_TYPE)
    types = " ".join(f"WHEN '{r}' THEN '{t}'" for r, t in _REL_TO_TYPE.items())
    table = con.sql(f"""
        WITH src AS (
            SELECT c.*, (SELECT min(s.concept_synonym_name) FROM concept_synonym s
                         WHERE s.concept_id = c.concept_id AND s.language_concept_id = {LANGUAGE_FINNISH}) AS name_fi
            FROM concept c WHERE c.vocabulary_id = $v AND c.standard_concept IS NULL),
        maps AS (
            SELECT r.concept_id_1, r.concept_id_2, r.relationship_id, any_value(e.equivalence) AS equivalence
            FROM concept_relationship r {eq_join}
            WHERE r.relationship_id IN ({rels}) AND r.invalid_reason IS NULL
              AND r.concept_id_1 IN (SELECT concept_id FROM src)
            GROUP BY ALL)
        SELECT s.concept_code AS "sourceCode", s.concept_name AS "sourceName", '' AS "sourceFrequency",
               CASE WHEN m.concept_id_2 IS NULL THEN 'UNCHECKED' ELSE 'APPROVED' END AS "mappingStatus",
               CASE WHEN m.equivalence IS NULL THEN 'UNREVIEWED' ELSE upper(m.equivalence) END AS "equivalence",
               coalesce(m.concept_id_2, 0)::VARCHAR AS "conceptId", coalesce(t.concept_name, '') AS "conceptName",
               coalesce(t.domain_id, '') AS "domainId",
               CASE m.relationship_id {types} ELSE 'MAPS_TO' END AS "mappingType",
               s.concept_id::VARCHAR AS "ADD_INFO:sourceConceptId",
               s.concept_class_id AS "ADD_INFO:sourceConceptClass", s.domain_id AS "ADD_INFO:sourceDomain",
               strftime(s.valid_start_date, '%Y-%m-%d') AS "ADD_INFO:sourceValidStartDate",
               strftime(s.valid_end_date, '%Y-%m-%d') AS "ADD_INFO:sourceValidEndDate",
               coalesce(s.name_fi, '') AS "ADD_INFO:sourceName_fi"
        FROM src s LEFT JOIN maps m ON m.concept_id_1 = s.concept_id
        LEFT JOIN concept t ON t.concept_id = m.concept_id_2
        {'' if include_unmapped else 'WHERE m.concept_id_2 IS NOT NULL'}
        ORDER BY s.concept_code, s.concept_id, m.relationship_id, m.concept_id_2""",
        params={"v": vocabulary_id}).to_arrow_table()
    write_usagi(path, table)
    mapped = table.filter(table["mappingStatus"].to_numpy(zero_copy_only=False) == "APPROVED")
    return {"path": str(path), "vocabulary_id": vocabulary_id, "rows": table.num_rows,
            "codes": len(set(table["sourceCode"].to_pylist())),
            "mapped_codes": len(set(mapped["sourceCode"].to_pylist())), "mappings": mapped.num_rows}


__all__ = ["export_usagi"]
