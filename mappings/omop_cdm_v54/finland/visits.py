"""Finnish visits: Hilmo episodes, Avohilmo contacts, Kela pharmacy visits, FinnGen care records.

The unique-visit relations (one per source, materialised by the build as
``<visits><source>``) hold every staged row that belongs to a visit, with the
``visit_occurrence_id`` of its visit:

=========  ==========================================  ==========================  ============
source     visit                                       concept                     type
=========  ==========================================  ==========================  ============
hilmo      one per HILMO_ID (kept episode)             PALA 1 ward -> 9201, with   32879
                                                       KIIREELLISYYS P -> 262;     registry
                                                       93 emergency -> 9203;
                                                       others (91 outpatient,
                                                       5 day surgery) -> 9202
avohilmo   one per AVOHILMO_ID                         9202 outpatient             32879
kela       one per person and purchase date (OSTOPV)   581458 pharmacy             32869
finngen    one per person, SOURCE and INDEX for        INPAT/OPER_IN 9201,         32879; PURCH
           INPAT OUTPAT PRIM_OUT OPER_IN OPER_OUT       others 9202, PURCH 581458   32869
           PURCH
=========  ==========================================  ==========================  ============

Dates: Hilmo TUPVA .. LPVM (an episode still open at the end of the extract
ends on its admission date: the register has no later date for it); Avohilmo
KAYNTI_ALKOI; Kela OSTOPV; FinnGen the first and last APPROX_EVENT_DAY of the record.
care_site: Hilmo PALTU (the provider).
"""

from __future__ import annotations

from terminology import concepts as C

from .. import ids
from ..relations import Shared
from .relations import staged

VISIT_SOURCES = ("hilmo", "avohilmo", "kela", "finngen")
FINNGEN_VISIT_SOURCES = {
    "INPAT": C.VISIT_INPATIENT,
    "OPER_IN": C.VISIT_INPATIENT,
    "OUTPAT": C.VISIT_OUTPATIENT,
    "OPER_OUT": C.VISIT_OUTPATIENT,
    "PRIM_OUT": C.VISIT_OUTPATIENT,
    "PURCH": C.VISIT_PHARMACY,
}


def hilmo_visit_concept_sql(alias: str = "h") -> str:
    a = alias
    return (
        f"CASE WHEN cb_clean_code({a}.PALA) = '1' AND cb_clean_code({a}.KIIREELLISYYS) = 'P' "
        f"THEN {C.VISIT_ER_AND_INPATIENT} "
        f"WHEN cb_clean_code({a}.PALA) = '1' THEN {C.VISIT_INPATIENT} "
        f"WHEN cb_clean_code({a}.PALA) = '93' THEN {C.VISIT_EMERGENCY} ELSE {C.VISIT_OUTPATIENT} END"
    )


def unique_visits_sql(source: str, s: Shared) -> str:
    """Rows of one visit source with ``visit_key``, ``visit_occurrence_id``, dates, concept, type, ``_src``."""
    if source == "hilmo":
        key = "'hilmo|' || h.HILMO_ID"
        return f"""
SELECT h.*, {key} AS visit_key, {ids.id_sql('visit_occurrence', key)} AS visit_occurrence_id,
       h.TUPVA AS visit_start, greatest(coalesce(h.LPVM, h.TUPVA), h.TUPVA) AS visit_end,
       {hilmo_visit_concept_sql('h')} AS visit_concept_id, {C.TYPE_REGISTRY} AS visit_type_concept_id,
       'PALA ' || coalesce(cb_clean_code(h.PALA), '?') AS visit_source_value
FROM {staged('hilmo', s)} h"""
    if source == "avohilmo":
        key = "'avohilmo|' || a.AVOHILMO_ID"
        return f"""
SELECT a.*, {key} AS visit_key, {ids.id_sql('visit_occurrence', key)} AS visit_occurrence_id,
       a.KAYNTI_ALKOI AS visit_start, a.KAYNTI_ALKOI AS visit_end,
       {C.VISIT_OUTPATIENT} AS visit_concept_id, {C.TYPE_REGISTRY} AS visit_type_concept_id,
       a.KAYNTI_YHTEYSTAPA AS visit_source_value
FROM {staged('avohilmo', s)} a"""
    if source == "kela":
        key = "'kela|' || k.person_key || '|' || strftime(k.OSTOPV, '%Y%m%d')"
        return f"""
SELECT k.*, {key} AS visit_key, {ids.id_sql('visit_occurrence', key)} AS visit_occurrence_id,
       k.OSTOPV AS visit_start, k.OSTOPV AS visit_end,
       {C.VISIT_PHARMACY} AS visit_concept_id, {C.TYPE_PHARMACY_CLAIM} AS visit_type_concept_id,
       'kela purchase' AS visit_source_value
FROM {staged('kela_purchase', s)} k"""
    if source == "finngen":
        key = "'finngen|' || f.person_key || '|' || f.SOURCE || '|' || f.\"INDEX\""
        cases = " ".join(f"WHEN '{src}' THEN {cid}" for src, cid in FINNGEN_VISIT_SOURCES.items())
        sources = ", ".join(f"'{x}'" for x in FINNGEN_VISIT_SOURCES)
        return f"""
SELECT f.*, {key} AS visit_key, {ids.id_sql('visit_occurrence', key)} AS visit_occurrence_id,
       min(f.APPROX_EVENT_DAY) OVER (PARTITION BY {key}) AS visit_start,
       max(f.APPROX_EVENT_DAY) OVER (PARTITION BY {key}) AS visit_end,
       CASE f.SOURCE {cases} END AS visit_concept_id,
       CASE WHEN f.SOURCE = 'PURCH' THEN {C.TYPE_PHARMACY_CLAIM} ELSE {C.TYPE_REGISTRY} END AS visit_type_concept_id,
       'FinnGen ' || f.SOURCE AS visit_source_value
FROM {staged('finngen', s)} f WHERE f.SOURCE IN ({sources})"""
    raise KeyError(f"no Finnish visit source {source!r}; known: {VISIT_SOURCES}")
