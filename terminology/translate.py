"""Bulk translation of normalised source codes to standard concepts.

One DuckDB join per call: the input Arrow table is registered in the
connection, joined to ``concept`` (the source concept valid on the event
date) and to the ``source_to_standard`` view ('Maps to' targets).  Unmapped
policy (OMOP): ``concept_id = 0``, ``source_concept_id = 0`` when the code is
not in the vocabulary at all, ``domain_id`` null; the source value is kept.
A code with several 'Maps to' targets yields one output row per target.

The terminology service (equivalence, path, targets in other source systems,
deprecated codes followed) is :mod:`terminology.translation`.
"""

from __future__ import annotations

import uuid

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from terminology.source_to_standard import VIEW_NAME

ADDED_COLUMNS = ("source_concept_id", "concept_id", "domain_id")
_ROW = "_xb_row"


def translate_column(con, codes: pa.Table) -> pa.Table:
    """Add ``source_concept_id``, ``concept_id`` and ``domain_id`` to a table of codes.

    ``codes`` needs ``vocabulary_id`` and ``source_code`` (as Athena writes
    it: see :mod:`terminology.normalise`) and may have ``event_date``; when it
    does, only source concepts whose validity range contains the date are used
    (a null date matches any).  Other columns are carried through.  Output
    rows keep the input order; a code mapping to N standard concepts gives N
    rows (ordered by concept_id).
    """
    missing = [c for c in ("vocabulary_id", "source_code") if c not in codes.column_names]
    if missing:
        raise ValueError(f"translate_column: missing column(s) {missing}")
    clash = [c for c in (*ADDED_COLUMNS, _ROW) if c in codes.column_names]
    if clash:
        raise ValueError(f"translate_column: input already has column(s) {clash}")
    has_date = "event_date" in codes.column_names
    if has_date and pa.types.is_timestamp(codes.schema.field("event_date").type):
        idx = codes.schema.get_field_index("event_date")
        codes = codes.set_column(idx, "event_date", pc.cast(codes["event_date"], pa.date32()))
    table = codes.append_column(_ROW, pa.array(np.arange(codes.num_rows, dtype=np.int64)))
    name = f"_xb_translate_{uuid.uuid4().hex}"
    date_cond = ("AND (i.event_date IS NULL OR i.event_date BETWEEN s.valid_start_date AND s.valid_end_date)"
                 if has_date else "")
    keep = ", ".join(f'i."{c}"' for c in codes.column_names)
    sql = f"""
        SELECT {keep},
               coalesce(s.concept_id, 0)::INTEGER AS source_concept_id,
               coalesce(m.target_concept_id, 0)::INTEGER AS concept_id,
               m.target_domain_id AS domain_id
        FROM {name} AS i
        LEFT JOIN concept AS s
               ON s.vocabulary_id = i.vocabulary_id AND s.concept_code = i.source_code {date_cond}
        LEFT JOIN {VIEW_NAME} AS m ON m.source_concept_id = s.concept_id
        ORDER BY i.{_ROW}, m.target_concept_id
    """
    con.register(name, table)
    try:
        out = con.sql(sql).to_arrow_table()
    finally:
        con.unregister(name)
    return out


def mapping_coverage(con, translated: pa.Table) -> pa.Table:
    """Per vocabulary: rows, mapped rows, share mapped, distinct codes and distinct unmapped codes."""
    name = f"_xb_coverage_{uuid.uuid4().hex}"
    con.register(name, translated)
    try:
        return con.sql(f"""
            SELECT vocabulary_id,
                   count(*) AS n_rows,
                   count(*) FILTER (WHERE concept_id <> 0) AS n_mapped,
                   round(count(*) FILTER (WHERE concept_id <> 0) / count(*), 4) AS share_mapped,
                   count(DISTINCT source_code) AS n_codes,
                   count(DISTINCT source_code) FILTER (WHERE concept_id = 0) AS n_unmapped_codes
            FROM {name} GROUP BY vocabulary_id ORDER BY vocabulary_id""").to_arrow_table()
    finally:
        con.unregister(name)


def unmapped_codes(con, translated: pa.Table) -> pa.Table:
    """Unmapped (vocabulary_id, source_code) pairs with their row counts, most frequent first."""
    name = f"_xb_unmapped_{uuid.uuid4().hex}"
    con.register(name, translated)
    try:
        return con.sql(f"""
            SELECT vocabulary_id, source_code, count(*) AS n_rows
            FROM {name} WHERE concept_id = 0
            GROUP BY vocabulary_id, source_code
            ORDER BY n_rows DESC, vocabulary_id, source_code""").to_arrow_table()
    finally:
        con.unregister(name)
