"""Code-bearing events of the Finnish registers, translated and routed like Taiwan's (see :mod:`..events`).

Every source code becomes one event row in the shape of ``..events.EVENT_COLUMNS``:

==============  =====================================  ==============================  ==========
stg table       codes                                  vocabulary                      default
==============  =====================================  ==============================  ==========
hilmo_diag      KOODI per (HILMO_ID, N), the parts     ICD10fi from 1996, ICD9fi       Condition
                PDGE/SDGE (cause) + PDGO/SDGO          1987-1995, ICD8fi before (by
                (symptom) & ULKSYY (external) joined   discharge, else admission date)
                into one combination code
hilmo_proc      TOIMP                                  NCSPfi                          Procedure
avohilmo_icd10  ICD10 (combination codes written       ICD10fi                         Condition
                whole)
avohilmo_icpc2  ICPC2; process codes (-30 ...)         ICPC                            Condition /
                                                                                        Observation
avohilmo_proc   TOIMP                                  NCSPfi (SPAT for SPAT codes)    Procedure
kela_purchase   VNRO, else ATC when the VNR has no     VNRfi / ATC                     Drug
                mapping (column group 'ATC (VNRO
                unmapped)'; the source value stays
                the VNR)
kela_reimb      DIAG (the diagnosis of the right), else  ICD10fi / REIMB                 Condition
                the right SK1 itself
fcr             MORFO/BEH-TOPO                         ICDO3                           Condition
cod             TPKS, VKS, M1..M4 (cause roles)        ICD10fi/ICD9fi/ICD8fi by KPV    Condition
fi_bb_consent   consent given / withdrawn              Crossbridge (local)             Observation
finngen         CODE1..4 by SOURCE (DOMAIN.md; PRIM_OUT by SOURCE, ICDVER and         by SOURCE
                CATEGORY ICD<n> / ICP<n> / OP<n>)      CATEGORY
==============  =====================================  ==============================  ==========

**Combination codes** (Finnish ICD-10: ``+`` cause, ``*`` symptom, ``&``
external cause, ``#`` ATC): the whole code is normalised
(``terminology.fi_icd10``, ``E113+H360`` -> ``E11.3+H36.0``) and looked up
first; when the vocabulary has no 'Maps to' for the whole code, each part
becomes its own event (``cb_fi_icd10_parts``: ICD-10 parts in ICD10fi, the ``#``
part in ATC, routed by its target's domain), carrying the provenance of every
staged row behind the combination.  Unmapped parts keep concept 0.

**Condition status**: register main diagnosis (N / JARJESTYS 0, FinnGen
CATEGORY 0) 32902 primary, others 32908 secondary; causes of death 32911
underlying (TPKS, CATEGORY U), 32897 immediate (VKS, I), 32894 contributory
(M1-M4, c1..c4).  Types: care registers, cancer registry, reimbursement rights
and FinnGen 32879 registry; Kela purchases (and FinnGen PURCH) 32869 pharmacy
claim; causes of death (and FinnGen DEATH) 32815 death certificate.

Drug purchases: quantity = PLKM (packages; negative for a returned purchase),
days_supply not recorded by Kela (NULL: end = start).  A '#' ATC part routes to
drug_exposure: the register states the drug caused the condition.
"""

from __future__ import annotations

from terminology import concepts as C

from ..events import _event, _q, events_of_known_persons_sql, maps_to_sql, routed_events_sql
from ..relations import Shared
from .relations import ICD10_FROM, icd_vocabulary_sql, staged

COMBINATION_CHARS = "+*&#"
CONSENT_GIVEN_CODE = "BIOBANK_BROAD_CONSENT"
CONSENT_WITHDRAWN_CODE = "BIOBANK_CONSENT_WITHDRAWN"
CONSENT_VOCABULARY = "Crossbridge"
DEATH_ROLES = (
    ("TPKS", C.STATUS_UNDERLYING_CAUSE_OF_DEATH),
    ("VKS", C.STATUS_IMMEDIATE_CAUSE_OF_DEATH),
    ("M1", C.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH),
    ("M2", C.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH),
    ("M3", C.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH),
    ("M4", C.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH),
)
FINNGEN_ICD = {"10": "ICD10fi", "9": "ICD9fi", "8": "ICD8fi"}


def _status(first_sql: str) -> str:
    return f"CASE WHEN {first_sql} THEN {C.STATUS_PRIMARY_DIAGNOSIS} ELSE {C.STATUS_SECONDARY_DIAGNOSIS} END"


def _finngen_icd_vocabulary(alias: str = "f") -> str:
    cases = " ".join(f"WHEN '{v}' THEN '{vid}'" for v, vid in FINNGEN_ICD.items())
    return f"CASE cb_clean_code({alias}.ICDVER) {cases} ELSE {icd_vocabulary_sql(f'{alias}.APPROX_EVENT_DAY')} END"


def mapped_codes_sql(vocabulary_id: str) -> str:
    """Distinct source codes of ``vocabulary_id`` that have a 'Maps to' target (never NULL: the set is used
    with NOT IN, which a NULL member would turn to NULL for every row)."""
    return (
        f"SELECT DISTINCT source_code FROM ({maps_to_sql()}) "
        f"WHERE source_vocabulary_id = {_q(vocabulary_id)} AND source_code IS NOT NULL"
    )


def split_combinations_sql(events_sql: str) -> str:
    """Events with ICD10fi combination codes resolved: the whole code if it maps, else one event per part.

    ``events_sql`` yields event rows whose ``raw_code`` may be a combination and
    whose ``source_code`` is NULL for ICD10fi rows.
    """
    mapped = mapped_codes_sql("ICD10fi")
    return f"""
WITH _e AS (
    SELECT *, CASE WHEN vocabulary_id = 'ICD10fi' THEN cb_fi_icd10(raw_code) END AS _whole FROM ({events_sql})
), _split AS (
    SELECT *, (_whole IS NOT NULL AND regexp_matches(_whole, '[+*&#]')
               AND _whole NOT IN ({mapped})) AS _parts
    FROM _e
)
SELECT * EXCLUDE (_whole, _parts) REPLACE (coalesce(_whole, source_code) AS source_code)
FROM _split WHERE NOT _parts
UNION ALL BY NAME
SELECT * EXCLUDE (_whole, _parts, _p) REPLACE (
           _p.vocabulary_id AS vocabulary_id,
           _p.code AS source_code,
           replace(_p.code, '.', '') AS raw_code,
           event_key || '|' || _p.role || ':' || _p.code AS event_key,
           CASE WHEN _p.vocabulary_id = 'ATC' THEN 'Drug' ELSE default_domain END AS default_domain)
FROM (SELECT *, unnest(cb_fi_icd10_parts(_whole)) AS _p FROM _split WHERE _parts)
"""


def hilmo_events(s: Shared) -> list[str]:
    """Diagnoses (combined per HILMO_ID and N) and procedures of Hilmo episodes."""
    v = f"{s.visits_rel('hilmo')}"
    era_date = "coalesce(v.LPVM, v.TUPVA)"
    diag = f"""(
    SELECT HILMO_ID, N,
           max(KOODI) FILTER (WHERE KENTTA IN ('PDGE', 'SDGE')) AS cause,
           max(KOODI) FILTER (WHERE KENTTA IN ('PDGO', 'SDGO')) AS symptom,
           max(KOODI) FILTER (WHERE KENTTA = 'ULKSYY') AS external,
           max(KOODI) FILTER (WHERE KENTTA NOT IN ('PDGE', 'SDGE', 'PDGO', 'SDGO', 'ULKSYY')) AS other,
           string_agg(DISTINCT KENTTA, '/' ORDER BY KENTTA) AS fields,
           min(_src) AS _src, list(_src ORDER BY _src) AS _srcs
    FROM (SELECT *, row_number() OVER (PARTITION BY HILMO_ID, N, KENTTA ORDER BY _source_file, _row_number) AS _k
          FROM {staged('hilmo_diag', s)})
    GROUP BY HILMO_ID, N, _k
)"""
    whole = (
        "concat_ws('&', CASE WHEN d.cause IS NOT NULL AND d.symptom IS NOT NULL THEN d.cause || '+' || d.symptom "
        "ELSE coalesce(d.symptom, d.cause, d.other) END, d.external)"
    )
    parts = [
        _event(
            {
                "family": "'hilmo'",
                "stg_table": "'hilmo_diag'",
                "column_group": "'KOODI'",
                "column_name": "d.fields",
                "position": "CAST(d.N AS INTEGER)",
                "person_key": "v.person_key",
                "visit_occurrence_id": "v.visit_occurrence_id",
                "start_date": "v.TUPVA",
                "end_date": "v.LPVM",
                "type_concept_id": str(C.TYPE_REGISTRY),
                "vocabulary_id": icd_vocabulary_sql(era_date),
                "raw_code": whole,
                "default_domain": "'Condition'",
                "emit_unmapped": "TRUE",
                "status_concept_id": _status("d.N = 0"),
                "status_source_value": "CASE WHEN d.N = 0 THEN 'PDG' ELSE 'SDG' END",
                "event_key": "'hilmo_diag|' || d.HILMO_ID || '|' || CAST(d.N AS VARCHAR) || '|' || CAST(d._src AS VARCHAR)",
                "_src": "d._src",
                "_srcs": "d._srcs",
            },
            f"{diag} d JOIN {v} v ON v.HILMO_ID = d.HILMO_ID",
        ),
        _event(
            {
                "family": "'hilmo'",
                "stg_table": "'hilmo_proc'",
                "column_group": "'TOIMP'",
                "column_name": "'TOIMP'",
                "position": "CAST(p.N AS INTEGER)",
                "person_key": "v.person_key",
                "visit_occurrence_id": "v.visit_occurrence_id",
                "start_date": "coalesce(p.TOIMPPVM, v.TUPVA)",
                "type_concept_id": str(C.TYPE_REGISTRY),
                "vocabulary_id": "'NCSPfi'",
                "raw_code": "p.TOIMP",
                "default_domain": "'Procedure'",
                "emit_unmapped": "TRUE",
                "event_key": "'hilmo_proc|' || CAST(p._src AS VARCHAR)",
                "_src": "p._src",
            },
            f"{staged('hilmo_proc', s)} p JOIN {v} v ON v.HILMO_ID = p.HILMO_ID",
        ),
    ]
    return parts


def avohilmo_events(s: Shared) -> list[str]:
    """ICD-10, ICPC-2 and procedure codes of Avohilmo contacts."""
    v = s.visits_rel("avohilmo")
    common = {
        "family": "'avohilmo'",
        "person_key": "v.person_key",
        "visit_occurrence_id": "v.visit_occurrence_id",
        "start_date": "v.KAYNTI_ALKOI",
        "type_concept_id": str(C.TYPE_REGISTRY),
        "emit_unmapped": "TRUE",
        "position": "CAST(c.JARJESTYS AS INTEGER)",
        "_src": "c._src",
    }
    return [
        _event(
            {
                **common,
                "stg_table": "'avohilmo_icd10'",
                "column_group": "'ICD10'",
                "column_name": "'ICD10'",
                "vocabulary_id": icd_vocabulary_sql("v.KAYNTI_ALKOI"),
                "raw_code": "c.ICD10",
                "default_domain": "'Condition'",
                "status_concept_id": _status("c.JARJESTYS = 0"),
                "status_source_value": "'JARJESTYS ' || CAST(c.JARJESTYS AS VARCHAR)",
                "event_key": "'avohilmo_icd10|' || CAST(c._src AS VARCHAR)",
            },
            f"{staged('avohilmo_icd10', s)} c JOIN {v} v ON v.AVOHILMO_ID = c.AVOHILMO_ID",
        ),
        _event(
            {
                **common,
                "stg_table": "'avohilmo_icpc2'",
                "column_group": "CASE WHEN starts_with(trim(c.ICPC2), '-') THEN 'ICPC2 process' ELSE 'ICPC2' END",
                "column_name": "'ICPC2'",
                "vocabulary_id": "'ICPC'",
                "raw_code": "c.ICPC2",
                "default_domain": "CASE WHEN starts_with(trim(c.ICPC2), '-') THEN 'Observation' ELSE 'Condition' END",
                "status_concept_id": (
                    f"CASE WHEN starts_with(trim(c.ICPC2), '-') THEN NULL ELSE {_status('c.JARJESTYS = 0')} END"
                ),
                "event_key": "'avohilmo_icpc2|' || CAST(c._src AS VARCHAR)",
            },
            f"{staged('avohilmo_icpc2', s)} c JOIN {v} v ON v.AVOHILMO_ID = c.AVOHILMO_ID",
        ),
        _event(
            {
                **common,
                "stg_table": "'avohilmo_proc'",
                "column_group": "'TOIMP'",
                "column_name": "'TOIMP'",
                "vocabulary_id": "CASE WHEN upper(trim(c.TOIMP)) LIKE 'SPAT%' THEN 'SPAT' ELSE 'NCSPfi' END",
                "raw_code": "c.TOIMP",
                "default_domain": "'Procedure'",
                "event_key": "'avohilmo_proc|' || CAST(c._src AS VARCHAR)",
            },
            f"{staged('avohilmo_proc', s)} c JOIN {v} v ON v.AVOHILMO_ID = c.AVOHILMO_ID",
        ),
    ]


def kela_events(s: Shared) -> list[str]:
    """Drug purchases (VNR, else ATC) and special reimbursement rights."""
    vnr_mapped = mapped_codes_sql("VNRfi")
    vnr = "cb_norm_code('VNRfi', k.VNRO)"
    use_vnr = f"({vnr} IN ({vnr_mapped}) OR cb_clean_code(k.ATC) IS NULL)"
    has_diag = "cb_clean_code(r.DIAG) IS NOT NULL"
    return [
        _event(
            {
                "family": "'kela'",
                "stg_table": "'kela_purchase'",
                "column_group": f"CASE WHEN {use_vnr} THEN 'VNRO' ELSE 'ATC (VNRO unmapped)' END",
                "column_name": f"CASE WHEN {use_vnr} THEN 'VNRO' ELSE 'ATC' END",
                "person_key": "k.person_key",
                "visit_occurrence_id": "k.visit_occurrence_id",
                "start_date": "k.OSTOPV",
                "type_concept_id": str(C.TYPE_PHARMACY_CLAIM),
                "vocabulary_id": f"CASE WHEN {use_vnr} THEN 'VNRfi' ELSE 'ATC' END",
                "raw_code": "coalesce(k.VNRO, k.ATC)",  # drug_source_value: the package number as purchased
                "source_code": f"CASE WHEN {use_vnr} THEN {vnr} ELSE cb_norm_code('ATC', k.ATC) END",
                "default_domain": "'Drug'",
                "emit_unmapped": "TRUE",
                "quantity": "k.PLKM",
                "value_as_string": "k.ATC",
                "event_key": "'kela_purchase|' || CAST(k._src AS VARCHAR)",
                "_src": "k._src",
            },
            f"{s.visits_rel('kela')} k",
        ),
        _event(
            {
                "family": "'reimb'",
                "stg_table": "'kela_reimb'",
                "column_group": f"CASE WHEN {has_diag} THEN 'DIAG' ELSE 'SK1' END",
                "column_name": f"CASE WHEN {has_diag} THEN 'DIAG' ELSE 'SK1' END",
                "person_key": "r.person_key",
                "start_date": "r.ALPV",
                "end_date": "r.LOPV",
                "type_concept_id": str(C.TYPE_REGISTRY),
                "vocabulary_id": f"CASE WHEN {has_diag} THEN 'ICD10fi' ELSE 'REIMB' END",
                "raw_code": f"CASE WHEN {has_diag} THEN r.DIAG ELSE r.SK1 END",
                "default_domain": "'Condition'",
                "emit_unmapped": "TRUE",
                "value_as_string": "'SK1 ' || r.SK1",
                "status_source_value": "'SK1 ' || r.SK1",
                "event_key": "'kela_reimb|' || CAST(r._src AS VARCHAR)",
                "_src": "r._src",
            },
            f"{staged('kela_reimb', s)} r",
        ),
    ]


def registry_events(s: Shared) -> list[str]:
    """Cancer registry tumours, causes of death (one event per cause role), biobank consents."""
    parts = [
        _event(
            {
                "family": "'cancer'",
                "stg_table": "'fcr'",
                "column_group": "'MORFO/BEH-TOPO'",
                "column_name": "'MORFO/BEH-TOPO'",
                "person_key": "c.person_key",
                "start_date": "c.DG_PVM",
                "type_concept_id": str(C.TYPE_REGISTRY),
                "vocabulary_id": "'ICDO3'",
                "raw_code": "cb_clean_code(c.MORFO) || '/' || cb_clean_code(c.BEH) || '-' || cb_clean_code(c.TOPO)",
                "source_code": "cb_icdo3(c.TOPO, cb_clean_code(c.MORFO) || cb_clean_code(c.BEH))",
                "default_domain": "'Condition'",
                "emit_unmapped": "TRUE",
                "event_key": "'fcr|' || CAST(c._src AS VARCHAR)",
                "_src": "c._src",
            },
            f"{staged('fcr', s)} c",
        )
    ]
    for col, status in DEATH_ROLES:
        parts.append(
            _event(
                {
                    "family": "'death'",
                    "stg_table": "'cod'",
                    "column_group": _q(col),
                    "column_name": _q(col),
                    "person_key": "d.person_key",
                    "start_date": "d.KPV",
                    "type_concept_id": str(C.TYPE_DEATH_CERTIFICATE),
                    "vocabulary_id": icd_vocabulary_sql("d.KPV"),
                    "raw_code": f"d.{col}",
                    "default_domain": "'Condition'",
                    "emit_unmapped": "TRUE",
                    "status_concept_id": str(status),
                    "status_source_value": _q(col),
                    "event_key": f"'cod|' || CAST(d._src AS VARCHAR) || {_q('|' + col)}",
                    "_src": "d._src",
                },
                f"{staged('cod', s)} d",
                f"cb_clean_code(d.{col}) IS NOT NULL",
            )
        )
    for code, date_col, where in (
        (CONSENT_GIVEN_CODE, "SUOSTUMUSPV", "b.SUOSTUMUSPV IS NOT NULL"),
        (CONSENT_WITHDRAWN_CODE, "PERUUTUSPV", "b.PERUUTUSPV IS NOT NULL"),
    ):
        parts.append(
            _event(
                {
                    "family": "'biobank'",
                    "stg_table": "'fi_bb_consent'",
                    "column_group": _q(date_col),
                    "column_name": _q(date_col),
                    "person_key": "b.person_key",
                    "start_date": f"b.{date_col}",
                    "type_concept_id": str(C.TYPE_REGISTRY),
                    "vocabulary_id": _q(CONSENT_VOCABULARY),
                    "raw_code": _q(code),
                    "source_code": _q(code),
                    "default_domain": "'Observation'",
                    "emit_unmapped": "TRUE",
                    "value_as_string": "b.BIOPANKKI || ' ' || b.SUOSTUMUS",
                    "event_key": f"'fi_bb_consent|' || CAST(b._src AS VARCHAR) || {_q('|' + code)}",
                    "_src": "b._src",
                },
                f"{staged('fi_bb_consent', s)} b",
                where,
            )
        )
    return parts


def finngen_events(s: Shared) -> list[str]:
    """FinnGen longitudinal rows: one event per row, codes read by SOURCE (DOMAIN.md)."""
    f_all = f"{staged('finngen', s)} f"
    visits = s.visits_rel("finngen")
    f_visit = (
        f"{f_all} LEFT JOIN (SELECT _src AS _vsrc, visit_occurrence_id FROM {visits}) fv ON fv._vsrc = f._src"
    )
    vnr = "cb_norm_code('VNRfi', f.CODE3)"
    use_vnr = f"({vnr} IN ({mapped_codes_sql('VNRfi')}) OR cb_clean_code(f.CODE1) IS NULL)"
    icd_whole = (
        "CASE WHEN cb_clean_code(f.CODE2) IS NOT NULL AND cb_clean_code(f.ICDVER) = '10' "
        "AND f.SOURCE IN ('INPAT', 'OUTPAT', 'PRIM_OUT') "
        "THEN cb_clean_code(f.CODE2) || '+' || cb_clean_code(f.CODE1) ELSE f.CODE1 END"
    )
    death_status = (
        f"CASE WHEN upper(f.CATEGORY) = 'U' THEN {C.STATUS_UNDERLYING_CAUSE_OF_DEATH} "
        f"WHEN upper(f.CATEGORY) = 'I' THEN {C.STATUS_IMMEDIATE_CAUSE_OF_DEATH} "
        f"ELSE {C.STATUS_CONTRIBUTORY_CAUSE_OF_DEATH} END"
    )
    vocabulary = f"""CASE
        WHEN f.SOURCE IN ('OPER_IN', 'OPER_OUT') THEN 'NCSPfi'
        WHEN f.SOURCE = 'PURCH' THEN CASE WHEN {use_vnr} THEN 'VNRfi' ELSE 'ATC' END
        WHEN f.SOURCE = 'CANC' THEN 'ICDO3'
        WHEN f.SOURCE = 'REIMB' AND cb_clean_code(f.CODE2) IS NULL THEN 'REIMB'
        WHEN f.SOURCE = 'PRIM_OUT' AND upper(coalesce(f.CATEGORY, '')) LIKE 'ICP%' THEN 'ICPC'
        WHEN f.SOURCE = 'PRIM_OUT' AND upper(coalesce(f.CATEGORY, '')) LIKE 'OP%' THEN 'NCSPfi'
        ELSE {_finngen_icd_vocabulary('f')} END"""
    raw = f"""CASE
        WHEN f.SOURCE = 'PURCH' THEN CASE WHEN {use_vnr} THEN f.CODE3 ELSE f.CODE1 END
        WHEN f.SOURCE = 'CANC' THEN cb_clean_code(f.CODE2) || '/' || cb_clean_code(f.CODE3) || '-' || cb_clean_code(f.CODE1)
        WHEN f.SOURCE = 'REIMB' THEN coalesce(cb_clean_code(f.CODE2), f.CODE1)
        ELSE {icd_whole} END"""
    domain = """CASE
        WHEN f.SOURCE IN ('OPER_IN', 'OPER_OUT') THEN 'Procedure'
        WHEN f.SOURCE = 'PRIM_OUT' AND upper(coalesce(f.CATEGORY, '')) LIKE 'OP%' THEN 'Procedure'
        WHEN f.SOURCE = 'PRIM_OUT' AND starts_with(coalesce(trim(f.CODE1), ''), '-') THEN 'Observation'
        WHEN f.SOURCE = 'PURCH' THEN 'Drug' ELSE 'Condition' END"""
    type_concept = (
        f"CASE f.SOURCE WHEN 'PURCH' THEN {C.TYPE_PHARMACY_CLAIM} WHEN 'DEATH' THEN {C.TYPE_DEATH_CERTIFICATE} "
        f"ELSE {C.TYPE_REGISTRY} END"
    )
    status = f"""CASE
        WHEN f.SOURCE = 'DEATH' THEN {death_status}
        WHEN f.SOURCE IN ('INPAT', 'OUTPAT') THEN {_status("coalesce(f.CATEGORY, '0') = '0'")}
        WHEN f.SOURCE = 'PRIM_OUT' AND upper(coalesce(f.CATEGORY, '')) NOT LIKE 'OP%'
             AND NOT starts_with(coalesce(trim(f.CODE1), ''), '-')
        THEN {_status("regexp_extract(coalesce(f.CATEGORY, ''), '[0-9]+$') = '0'")} END"""
    return [
        _event(
            {
                "family": "'finngen'",
                "stg_table": "'finngen'",
                "column_group": "f.SOURCE",
                "column_name": "'CODE1..4'",
                "person_key": "f.person_key",
                "visit_occurrence_id": "fv.visit_occurrence_id",
                "start_date": "f.APPROX_EVENT_DAY",
                "type_concept_id": type_concept,
                "vocabulary_id": vocabulary,
                "raw_code": raw,
                "source_code": (
                    "CASE WHEN f.SOURCE = 'CANC' THEN cb_icdo3(f.CODE1, cb_clean_code(f.CODE2) || "
                    "cb_clean_code(f.CODE3)) END"
                ),
                "default_domain": domain,
                "emit_unmapped": "TRUE",
                "quantity": "CASE WHEN f.SOURCE = 'PURCH' THEN TRY_CAST(replace(f.CODE4, ',', '.') AS DOUBLE) END",
                "status_concept_id": status,
                "status_source_value": "f.SOURCE || ' ' || coalesce(f.CATEGORY, '')",
                "event_key": "'finngen|' || CAST(f._src AS VARCHAR)",
                "_src": "f._src",
            },
            f_visit,
        )
    ]


def source_events_sql(s: Shared) -> str:
    """All Finnish events of known persons, combination codes resolved, ``source_code`` normalised."""
    parts = hilmo_events(s) + avohilmo_events(s) + kela_events(s) + registry_events(s) + finngen_events(s)
    union = "\nUNION ALL\n".join(parts)
    return events_of_known_persons_sql([f"SELECT * FROM ({split_combinations_sql(union)})"], s)


def fi_routed_events_sql(s: Shared) -> str:
    """The routed events of the Finnish site (see :func:`..events.routed_events_sql`)."""
    return routed_events_sql(s, source_events_sql(s))


__all__ = ["ICD10_FROM", "fi_routed_events_sql", "source_events_sql"]
