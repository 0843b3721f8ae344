"""The ``source_to_standard`` view: source codes to standard concepts through 'Maps to'.

Mappings join normalised source codes (as written in ``concept.concept_code``,
i.e. with dots for ICD) on ``(source_vocabulary_id, source_code)`` and keep
rows whose event date lies in ``[source_valid_start, source_valid_end]``.
A source code with several 'Maps to' targets yields several rows (OMOP
convention: one record per target).  Standard concepts map to themselves.
A code absent from the view is unmapped: concept_id 0, source value kept.
"""

from __future__ import annotations

VIEW_NAME = "source_to_standard"

VIEW_SQL = f"""
CREATE OR REPLACE VIEW {VIEW_NAME} AS
SELECT
    s.vocabulary_id      AS source_vocabulary_id,
    s.concept_code       AS source_code,
    s.concept_id         AS source_concept_id,
    s.valid_start_date   AS source_valid_start,
    s.valid_end_date     AS source_valid_end,
    t.concept_id         AS target_concept_id,
    t.vocabulary_id      AS target_vocabulary_id,
    t.domain_id          AS target_domain_id
FROM concept s
JOIN concept_relationship r
  ON r.concept_id_1 = s.concept_id
 AND r.relationship_id = 'Maps to'
 AND r.invalid_reason IS NULL
JOIN concept t
  ON t.concept_id = r.concept_id_2
 AND t.standard_concept = 'S'
 AND t.invalid_reason IS NULL
"""


def create_view(con) -> None:
    """Create (or replace) the view in a DuckDB connection holding the vocabulary tables."""
    con.execute(VIEW_SQL)
