"""Code-bearing source events, translated and routed to their OMOP table (once, for all tables).

Every source column that carries a code becomes rows of one uniform *event*
relation (one row per staged row and code column):

==================  =================================  ==============  =================
source              column group                       vocabulary      default table
==================  =================================  ==============  =================
opdte / ipdte       ICD9CM_1..n (``ICD9CM_n``)         ICD9CM before   condition
                                                       2016, ICD10CM
opdte / ipdte       ICD_OP_CODE1..n (``ICD_OP_CODEn``) ICD9Proc /      procedure
                                                       ICD10PCS
opdto / ipdto       DRUG_NO / ORDER_CODE, ORDER_TYPE 1 NHI Drug        drug_exposure
opdto / ipdto       ... ORDER_TYPE 3                   NHI Fee         device_exposure
opdto / ipdto       ... any other ORDER_TYPE (2 ...)   NHI Fee         procedure
drugo               DRUG_NO                            NHI Drug        drug_exposure
cancer              CASITE+HISTBEH                     ICDO3           condition
cancer              SURG_CODE / RT_CODE / CHEMO_CODE   TCR Treatment   procedure (concept
                                                       (local)         0 if unmapped)
bb_participant      consent given / withdrawn          Crossbridge     observation
                                                       (local)
==================  =================================  ==============  =================

Dates: outpatient and pharmacy events take the visit's FUNC_DATE; inpatient
events take their billing segment's APPL_BEG_DATE (and link to the stay's
visit_occurrence and the segment's visit_detail).  The ICD era (ICD-9 vs
ICD-10) is decided by that same event date.

Routing (:func:`routed_events_sql`): the normalised code joins
``source_to_standard`` on (vocabulary, code) with the event date inside the
source concept's validity; the target concept's domain picks the table
(Condition, Drug, Procedure, Measurement, Device, Observation; any other domain
goes to observation).  Several 'Maps to' targets give several rows; no target
gives one row in the column's default table with concept 0.
``source_concept_id`` is the source code's own concept when the vocabulary
has it (even if it maps to nothing), else 0.
"""

from __future__ import annotations

from dataclasses import replace

from connectors.taiwan import layout
from terminology import concepts as C
from terminology.omop_cdm import CDM

from . import ids
from .codes import claims_icd_vocabulary_sql, claims_proc_vocabulary_sql
from .columns import cdm_select
from .provenance import files_sql, staged_sql
from .relations import VISIT_TABLES, Shared, shared_or_inline

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("family", "VARCHAR"),  # claims | cancer | biobank
    ("stg_table", "VARCHAR"),
    ("column_group", "VARCHAR"),
    ("column_name", "VARCHAR"),
    ("position", "INTEGER"),  # 1 = primary diagnosis column
    ("person_key", "VARCHAR"),
    ("visit_occurrence_id", "BIGINT"),  # from the visit row (see unique_visits_sql)
    ("visit_detail_id", "BIGINT"),
    ("start_date", "DATE"),
    ("end_date", "DATE"),
    ("type_concept_id", "INTEGER"),
    ("vocabulary_id", "VARCHAR"),
    ("raw_code", "VARCHAR"),
    ("source_code", "VARCHAR"),  # NULL = derive with cb_norm_code(vocabulary_id, raw_code)
    ("default_domain", "VARCHAR"),
    ("emit_unmapped", "BOOLEAN"),
    ("quantity", "DOUBLE"),
    ("days_supply", "INTEGER"),
    ("sig", "VARCHAR"),
    ("value_as_string", "VARCHAR"),
    ("status_concept_id", "INTEGER"),  # condition status (primary/secondary diagnosis, cause-of-death role)
    ("status_source_value", "VARCHAR"),
    ("event_key", "VARCHAR"),
    ("_src", "BIGINT"),  # provenance id of the staged row (see .provenance)
    ("_srcs", "BIGINT[]"),  # provenance ids of further staged rows behind the event (combined code parts)
)

#: target domain -> OMOP table; other domains go to observation
DOMAIN_TABLE = {
    "Condition": "condition_occurrence",
    "Drug": "drug_exposure",
    "Procedure": "procedure_occurrence",
    "Measurement": "measurement",
    "Device": "device_exposure",
    "Observation": "observation",
}
FALLBACK_TABLE = "observation"

# Local vocabularies this module expects the terminology store to provide (may be absent: then concept 0).
TCR_TREATMENT_VOCABULARY = "TCR Treatment"  # codes '<FIELD>-<code>', e.g. 'SURG_CODE-30'
NBCT_CONSENT_VOCABULARY = "Crossbridge"  # project concepts (terminology/demo_vocabulary, local block)
CONSENT_GIVEN_CODE = "BIOBANK_BROAD_CONSENT"
CONSENT_WITHDRAWN_CODE = "BIOBANK_CONSENT_WITHDRAWN"


def _event(values: dict[str, str], from_sql: str, where: str | None = None) -> str:
    unknown = set(values) - {c for c, _ in EVENT_COLUMNS}
    if unknown:
        raise KeyError(f"unknown event columns {sorted(unknown)}")
    items = ", ".join(f"CAST({values.get(c, 'NULL')} AS {t}) AS {c}" for c, t in EVENT_COLUMNS)
    return f"SELECT {items} FROM {from_sql}" + (f" WHERE {where}" if where else "")


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _numbered(ft: layout.FileType, prefix: str) -> list[tuple[str, int]]:
    out = []
    for name in ft.column_names:
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            out.append((name, int(name[len(prefix):])))
    return out


def ranked_sql(rel_sql: str, keys: tuple[str, ...], rank_col: str, order: str = "_source_file, _row_number") -> str:
    """Rows of ``rel_sql`` plus ``rank_col`` = row_number() OVER (PARTITION BY ``keys`` ORDER BY ``order``).

    Keys are nearly always unique, so the window runs only over the rows whose
    key hash (``hash(keys)``, NULL keys hash alike) occurs more than once: a
    key's rows all share its hash, so every key with several rows is ranked
    in full; every other row has rank 1.  Row order is not kept.
    """
    part = ", ".join(keys)
    return f"""
WITH _r AS (SELECT *, hash({part}) AS _cb_h FROM ({rel_sql})),
_d AS (SELECT _cb_h FROM _r GROUP BY _cb_h HAVING count(*) > 1)
SELECT _r.* EXCLUDE (_cb_h), CAST(1 AS BIGINT) AS {rank_col} FROM _r ANTI JOIN _d ON _r._cb_h = _d._cb_h
UNION ALL
SELECT _r.* EXCLUDE (_cb_h), row_number() OVER (PARTITION BY {part} ORDER BY {order}) AS {rank_col}
FROM _r SEMI JOIN _d ON _r._cb_h = _d._cb_h
"""


def visit_keys_sql(ft_key: str, alias: str | None = None) -> tuple[str, str | None]:
    """Business keys (without table namespace) of a visit row's visit_occurrence and visit_detail (or None).

    opdte / druge: '<file type>|<visit_uid>'; ipdte: the stay 'ipdte|<stay_key>'
    and the segment 'ipdte|<visit_uid>'.
    """
    a = f"{alias}." if alias else ""
    if ft_key in ("opdte", "druge"):
        return f"'{ft_key}|' || {a}visit_uid", None
    if ft_key == "ipdte":
        return f"'ipdte|' || {a}stay_key", f"'ipdte|' || {a}visit_uid"
    raise KeyError(ft_key)


def unique_visits_sql(ft_key: str, shared: Shared | None = None) -> str:
    """Visit rows of ``stg_<ft_key>`` with ``visit_uid`` (the visit_key, made unique), ids and ``_src``.

    Consolidation may leave several kept visit rows with one visit_key (it counts
    them as ``repeated_visit_keys``).  The first by (_source_file, _row_number)
    keeps the plain key; later ones get ``<visit_key>#<n>``, so each still makes
    its own visit and events.  Orders (which carry only visit_key) attach to the
    first (``visit_rank`` = 1).  ``visit_occurrence_id`` / ``visit_detail_id``
    are the ids of the visit (stay for ipdte) and segment the row belongs to
    (:func:`visit_keys_sql`), computed once per row for every event of the
    visit; ``_src`` is the row's provenance id (:mod:`.provenance`).
    """
    s = shared_or_inline(shared)
    ranked = ranked_sql(staged_sql(ft_key, s.files_rel()), ("visit_key",), "visit_rank")
    vo_key, vd_key = visit_keys_sql(ft_key)
    vd_id = ids.id_sql("visit_detail", vd_key) if vd_key else "NULL"
    return f"""
SELECT *, {ids.id_sql('visit_occurrence', vo_key)} AS visit_occurrence_id,
       CAST({vd_id} AS BIGINT) AS visit_detail_id
FROM (SELECT *, visit_key || CASE WHEN visit_rank > 1 THEN '#' || CAST(visit_rank AS VARCHAR) ELSE '' END
                AS visit_uid
      FROM ({ranked}))
"""


def unique_orders_sql(ft_key: str, shared: Shared | None = None) -> str:
    """Order rows of ``stg_<ft_key>`` with ``order_uid`` = visit_key|ORDER_SEQ_NO, made unique like visits."""
    s = shared_or_inline(shared)
    ranked = ranked_sql(staged_sql(ft_key, s.files_rel()), ("visit_key", "ORDER_SEQ_NO"), "order_rank")
    return f"""
SELECT *, visit_key || '|' || CAST(ORDER_SEQ_NO AS VARCHAR)
          || CASE WHEN order_rank > 1 THEN '#' || CAST(order_rank AS VARCHAR) ELSE '' END AS order_uid
FROM ({ranked})
"""


def _claims_visit_context(ft_key: str, alias: str) -> dict[str, str]:
    """Per visit table: date, visit_occurrence id and visit_detail id expressions (over the unique visits)."""
    dates = {"opdte": "FUNC_DATE", "ipdte": "APPL_BEG_DATE", "druge": "FUNC_DATE"}
    if ft_key not in dates:
        raise KeyError(ft_key)
    return {
        "start_date": f"{alias}.{dates[ft_key]}",
        "visit_occurrence_id": f"{alias}.visit_occurrence_id",
        "visit_detail_id": f"{alias}.visit_detail_id",
    }


def claims_code_events(shared: Shared | None = None) -> list[str]:
    """Event SELECTs for diagnosis and procedure code columns of opdte and ipdte."""
    s = shared_or_inline(shared)
    parts: list[str] = []
    for ft in (layout.OPDTE, layout.IPDTE):
        ctx = _claims_visit_context(ft.key, "v")
        date = ctx["start_date"]
        for group, prefix, vocab_sql, domain in (
            ("ICD9CM_n", "ICD9CM_", claims_icd_vocabulary_sql(date), "Condition"),
            ("ICD_OP_CODEn", "ICD_OP_CODE", claims_proc_vocabulary_sql(date), "Procedure"),
        ):
            for col, pos in _numbered(ft, prefix):
                parts.append(
                    _event(
                        {
                            **ctx,
                            "family": "'claims'",
                            "stg_table": _q(ft.key),
                            "column_group": _q(group),
                            "column_name": _q(col),
                            "position": str(pos),
                            "person_key": "v.person_key",
                            "type_concept_id": str(C.TYPE_CLAIM),
                            "vocabulary_id": vocab_sql,
                            "raw_code": f"v.{col}",
                            "default_domain": _q(domain),
                            "emit_unmapped": "TRUE",
                            "status_concept_id": (
                                (str(C.STATUS_PRIMARY_DIAGNOSIS if pos == 1 else C.STATUS_SECONDARY_DIAGNOSIS))
                                if group == "ICD9CM_n" else "NULL"
                            ),
                            "status_source_value": _q(col) if group == "ICD9CM_n" else "NULL",
                            "event_key": f"{_q(ft.key + '|')} || v.visit_uid || {_q('|' + col)}",
                            "_src": "v._src",
                        },
                        f"{s.visits_rel(ft.key)} v",
                        f"nullif(trim(v.{col}), '') IS NOT NULL",
                    )
                )
    return parts


def order_events(shared: Shared | None = None) -> list[str]:
    """Event SELECTs for the order tables (opdto, ipdto, drugo), dated by their visit."""
    s = shared_or_inline(shared)
    parts: list[str] = []
    for order_ft, visit_ft, code_col, qty_col in (
        ("opdto", "opdte", "DRUG_NO", "TOTAL_QTY"),
        ("ipdto", "ipdte", "ORDER_CODE", "ORDER_QTY"),
        ("drugo", "druge", "DRUG_NO", "TOTAL_QTY"),
    ):
        ctx = _claims_visit_context(visit_ft, "v")
        if order_ft == "drugo":
            order_type = "'1'"
            type_concept = str(C.TYPE_PHARMACY_CLAIM)
            group = _q(code_col)
        else:
            order_type = "o.ORDER_TYPE"
            type_concept = str(C.TYPE_CLAIM)
            group = f"{_q(code_col + ':ORDER_TYPE ')} || o.ORDER_TYPE"
        parts.append(
            _event(
                {
                    **ctx,
                    "family": "'claims'",
                    "stg_table": _q(order_ft),
                    "column_group": group,
                    "column_name": _q(code_col),
                    "person_key": "v.person_key",
                    "type_concept_id": type_concept,
                    "vocabulary_id": f"CASE WHEN {order_type} = '1' THEN 'NHI Drug' ELSE 'NHI Fee' END",
                    "raw_code": f"o.{code_col}",
                    "default_domain": (
                        f"CASE {order_type} WHEN '1' THEN 'Drug' WHEN '3' THEN 'Device' ELSE 'Procedure' END"
                    ),
                    "emit_unmapped": "TRUE",
                    "quantity": f"o.{qty_col}",
                    "days_supply": "o.DRUG_DAY",
                    "sig": "o.DRUG_FRE",
                    "event_key": f"{_q(order_ft + '|')} || o.order_uid",
                    "_src": "o._src",
                },
                f"({unique_orders_sql(order_ft, s)}) o "
                f"JOIN {s.visits_rel(visit_ft)} v ON v.visit_key = o.visit_key AND v.visit_rank = 1",
                f"nullif(trim(o.{code_col}), '') IS NOT NULL",
            )
        )
    return parts


def cancer_events(shared: Shared | None = None) -> list[str]:
    """Event SELECTs for the cancer registry: the tumour (ICDO3) and its treatments."""
    cancer = f"({staged_sql('cancer', shared_or_inline(shared).files_rel())}) c"
    date = "coalesce(c.DIAG_DT, cb_partial_date(c.DIAG_DT_RAW))"
    base_key = (
        "'cancer|' || c.person_key || '|' || c.CASITE || '|' || c.HISTBEH || '|' "
        f"|| coalesce(c.DIAG_DT_RAW, CAST({date} AS VARCHAR))"
    )
    common = {
        "family": "'cancer'",
        "stg_table": "'cancer'",
        "person_key": "c.person_key",
        "type_concept_id": str(C.TYPE_REGISTRY),
        "_src": "c._src",
    }
    parts = [
        _event(
            {
                **common,
                "column_group": "'CASITE+HISTBEH'",
                "column_name": "'CASITE+HISTBEH'",
                "start_date": date,
                "vocabulary_id": "'ICDO3'",
                "raw_code": "cb_clean_code(c.HISTBEH) || '-' || cb_clean_code(c.CASITE)",
                "source_code": "cb_icdo3(c.CASITE, c.HISTBEH)",
                "default_domain": "'Condition'",
                "emit_unmapped": "TRUE",
                "event_key": base_key,
            },
            cancer,
            f"{date} IS NOT NULL",
        )
    ]
    for code_col, date_col in (("SURG_CODE", "SURG_DATE"), ("RT_CODE", "RT_DATE"), ("CHEMO_CODE", "CHEMO_DATE")):
        parts.append(
            _event(
                {
                    **common,
                    "column_group": _q(code_col),
                    "column_name": _q(code_col),
                    "start_date": f"c.{date_col}",
                    "vocabulary_id": _q(TCR_TREATMENT_VOCABULARY),
                    "raw_code": f"{_q(code_col + '-')} || cb_clean_code(c.{code_col})",
                    "source_code": f"{_q(code_col + '-')} || cb_clean_code(c.{code_col})",
                    "default_domain": "'Procedure'",
                    "emit_unmapped": "TRUE",  # unmapped: procedure with concept 0, source value kept
                    "event_key": f"{base_key} || {_q('|' + code_col)}",
                },
                cancer,
                f"cb_clean_code(c.{code_col}) IS NOT NULL AND c.{date_col} IS NOT NULL",
            )
        )
    return parts


def consent_events(shared: Shared | None = None) -> list[str]:
    """Event SELECTs for biobank consent given / withdrawn (observations releases filter on)."""
    participants = f"({staged_sql('bb_participant', shared_or_inline(shared).files_rel())}) p"
    parts = []
    for code, date_col in ((CONSENT_GIVEN_CODE, "CONSENT_DATE"), (CONSENT_WITHDRAWN_CODE, "WITHDRAW_DATE")):
        parts.append(
            _event(
                {
                    "family": "'biobank'",
                    "stg_table": "'bb_participant'",
                    "column_group": _q(date_col),
                    "column_name": _q(date_col),
                    "person_key": "p.person_key",
                    "start_date": f"p.{date_col}",
                    "type_concept_id": str(C.TYPE_REGISTRY),
                    "vocabulary_id": _q(NBCT_CONSENT_VOCABULARY),
                    "raw_code": _q(code),
                    "source_code": _q(code),
                    "default_domain": "'Observation'",
                    "emit_unmapped": "TRUE",
                    "value_as_string": "p.CONSENT_TYPE",
                    "event_key": f"'bb_participant|' || p.PARTICIPANT_ID || '|' || p.BIOBANK_ID || {_q('|' + code)}",
                    "_src": "p._src",
                },
                participants,
                f"p.{date_col} IS NOT NULL",
            )
        )
    return parts


def _inline_ctes(s: Shared) -> tuple[list[str], Shared]:
    """WITH items defining the file dictionary and unique visits once when ``s`` inlines them.

    The event SELECTs read the unique visits many times (once per code
    column); stand-alone, each would otherwise repeat the whole sub-query.
    """
    items: list[str] = []
    if s.files is None:
        items.append(f"_cbi_files AS ({files_sql()})")
        s = replace(s, files="_cbi_files")
    if s.visits is None:
        items += [f"_cbi_visits_{ft} AS ({unique_visits_sql(ft, s)})" for ft in VISIT_TABLES]
        s = replace(s, visits="_cbi_visits_")
    return items, s


def source_events_sql(shared: Shared | None = None) -> str:
    """All code-bearing events of known persons, with ``source_code`` normalised (not yet mapped)."""
    ctes, s = _inline_ctes(shared_or_inline(shared))
    return events_of_known_persons_sql(
        claims_code_events(s) + order_events(s) + cancer_events(s) + consent_events(s), s, ctes
    )


def events_of_known_persons_sql(parts: list[str], s: Shared, ctes: list[str] | None = None) -> str:
    """The union of event SELECTs ``parts`` for known persons, ``source_code`` normalised where NULL."""
    union = "\nUNION ALL\n".join(parts)
    ctes = ctes or []
    cols = ", ".join(c for c, _ in EVENT_COLUMNS if c != "source_code")
    head = ("WITH " + ",\n".join(ctes)) if ctes else ""
    return f"""{head}
SELECT {cols},
       coalesce(e.source_code, cb_norm_code(e.vocabulary_id, e.raw_code)) AS source_code
FROM ({union}) e
WHERE e.person_key IN (SELECT person_key FROM {s.persons_rel()})
"""


def source_concepts_sql() -> str:
    """One source concept id per (vocabulary_id, concept_code)."""
    return "SELECT vocabulary_id, concept_code, min(concept_id) AS concept_id FROM concept GROUP BY ALL"


def maps_to_sql() -> str:
    """Distinct 'Maps to' rows of the ``source_to_standard`` view."""
    return (
        "SELECT DISTINCT source_vocabulary_id, source_code, source_valid_start, source_valid_end, "
        "target_concept_id, target_domain_id FROM source_to_standard"
    )


def single_concept_sql(rows_sql: str, vocabulary_sql: str, code_sql: str, date_sql: str,
                       when_sql: str = "TRUE") -> str:
    """``rows_sql`` (alias ``c``) plus ``source_concept_id`` and ``target_concept_id`` of one code per row.

    For records that hold one physical thing (a death's cause, a specimen's type):
    the 'Maps to' target valid on ``date_sql`` with the smallest concept id (0 if
    none), and the code's own concept (0 if none).  Both are NULL where
    ``when_sql`` is false (e.g. a death without a recorded cause).  The
    expressions may use the columns of ``c``.
    """
    return f"""
SELECT c.*,
       CASE WHEN {when_sql} THEN coalesce(sc.concept_id, 0) END AS source_concept_id,
       CASE WHEN {when_sql} THEN coalesce(
           (SELECT min(m.target_concept_id) FROM ({maps_to_sql()}) m
            WHERE m.source_vocabulary_id = {vocabulary_sql} AND m.source_code = {code_sql}
              AND {date_sql} BETWEEN m.source_valid_start AND m.source_valid_end), 0) END AS target_concept_id
FROM ({rows_sql}) c
LEFT JOIN ({source_concepts_sql()}) sc ON sc.vocabulary_id = {vocabulary_sql} AND sc.concept_code = {code_sql}
"""


def routed_events_sql(shared: Shared | None = None, events_sql: str | None = None) -> str:
    """Events joined to their source concept and 'Maps to' targets, with the target table chosen.

    Columns: the event columns, except that ``person_key`` becomes ``person_id``
    and ``default_domain`` is replaced by the routing result ``target_table``
    (with ``source_concept_id``, ``target_concept_id``).  ``events_sql``: the
    source events to route (default: the Taiwan site's, :func:`source_events_sql`).
    """
    table_case = " ".join(f"WHEN '{d}' THEN '{t}'" for d, t in DOMAIN_TABLE.items())
    return f"""
SELECT e.* EXCLUDE (person_key, default_domain),
       {ids.person_id_sql('e.person_key')} AS person_id,
       coalesce(sc.concept_id, 0) AS source_concept_id,
       coalesce(m.target_concept_id, 0) AS target_concept_id,
       CASE coalesce(m.target_domain_id, e.default_domain) {table_case} ELSE '{FALLBACK_TABLE}' END AS target_table
FROM ({events_sql if events_sql is not None else source_events_sql(shared)}) e
LEFT JOIN ({source_concepts_sql()}) sc
       ON sc.vocabulary_id = e.vocabulary_id AND sc.concept_code = e.source_code
LEFT JOIN ({maps_to_sql()}) m
       ON m.source_vocabulary_id = e.vocabulary_id AND m.source_code = e.source_code
      AND e.start_date BETWEEN m.source_valid_start AND m.source_valid_end
"""


def routed_code_usage_sql(shared: Shared | None = None) -> str:
    """code_usage rows of the routed events: per table, column group, vocabulary and code, its concepts and
    record count (each site's code_usage adds its single-concept records: specimens, death causes)."""
    s = shared_or_inline(shared)
    return f"""
    SELECT stg_table AS source_table, column_group AS source_column_group, vocabulary_id, source_code,
           source_concept_id, target_concept_id, count(*) AS n_records
    FROM {s.routed_rel()} GROUP BY ALL"""


def event_key_sql(alias: str = "r") -> str:
    """Business key of a routed row: the event plus its target (one row per 'Maps to' target)."""
    return f"{alias}.event_key || '|' || CAST({alias}.target_concept_id AS VARCHAR)"


def routed_table_select(
    table: str,
    families: tuple[str, ...],
    exprs: dict[str, str],
    shared: Shared | None,
    provenance: bool,
    *,
    extra_from: str = "",
    extra_prov: str | None = None,
) -> str:
    """SELECT of the CDM columns of ``table`` from the routed events of ``families`` that land there.

    ``exprs`` gives the table-specific columns over routed-event columns (alias
    ``r``); the id, person_id, visit ids are set here.  Unmapped events whose
    group does not emit unmapped rows (cancer treatments) are left out.
    """
    s = shared_or_inline(shared)
    fam = ", ".join(_q(f) for f in families)
    pk = CDM.table(table).primary_key[0]
    base = {
        pk: ids.id_sql(table, event_key_sql("r")),
        "person_id": "r.person_id",
        "visit_occurrence_id": "r.visit_occurrence_id",
        "visit_detail_id": "r.visit_detail_id",
    }
    prov = "list_concat([r._src], coalesce(r._srcs, []))"
    if extra_prov:
        prov = f"list_concat({prov}, {extra_prov})"
    from_sql = (
        f"{s.routed_rel()} r {extra_from}\n"
        f"WHERE r.target_table = '{table}' AND r.family IN ({fam})"
        f" AND (r.target_concept_id <> 0 OR r.emit_unmapped)"
    )
    return cdm_select(
        table,
        {**base, **exprs},
        from_sql,
        provenance=provenance,
        key_sql=ids.key_sql(table, event_key_sql("r")),
        prov_sql=prov,
    )
