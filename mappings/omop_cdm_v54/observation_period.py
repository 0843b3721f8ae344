"""observation_period: one period per person, enrolment and events together, cut at death.

Rule (type 32810 claim):

* enrolment span: from the first day of the earliest PREM_YM to, for the
  latest enrolment row, the last day of its PREM_YM month when its ID_STATUS
  ends insurance ('3' transferred out, '4' withdrawn, '5' died), else 31
  December of its PREM_YM year (enrolment rows are yearly);
* event span: earliest and latest of outpatient FUNC_DATE, inpatient IN_DATE /
  OUT_DATE (or last APPL_END_DATE), pharmacy FUNC_DATE, cancer diagnosis and
  treatment dates, specimen collection, consent dates and the death date;
* period = [min(enrolment start, first event), max(enrolment end, last event)],
  with the end cut to the death date (and the start no later than that end).

One period per person (gaps in enrolment are not split).  Provenance: the
person's enrolment rows.
"""

from __future__ import annotations

from terminology import concepts as C

from . import ids
from .columns import EMPTY_PROV, cdm_select
from .provenance import staged_sql
from .relations import shared_or_inline

ENDING_STATUSES = ("3", "4", "5")


def event_dates_sql() -> str:
    """(person_key, d) for every dated clinical event in staging."""
    parts = [
        "SELECT person_key, FUNC_DATE AS d FROM stg_opdte",
        "SELECT person_key, IN_DATE FROM stg_ipdte",
        "SELECT person_key, coalesce(OUT_DATE, APPL_END_DATE) FROM stg_ipdte",
        "SELECT person_key, FUNC_DATE FROM stg_druge",
        "SELECT person_key, coalesce(DIAG_DT, cb_partial_date(DIAG_DT_RAW)) FROM stg_cancer",
        "SELECT person_key, SURG_DATE FROM stg_cancer",
        "SELECT person_key, RT_DATE FROM stg_cancer",
        "SELECT person_key, CHEMO_DATE FROM stg_cancer",
        "SELECT person_key, CONSENT_DATE FROM stg_bb_participant",
        "SELECT person_key, WITHDRAW_DATE FROM stg_bb_participant",
        "SELECT p.person_key, s.COLLECT_DATE FROM stg_bb_specimen s "
        "JOIN stg_bb_participant p ON cb_clean_code(p.PARTICIPANT_ID) = cb_clean_code(s.PARTICIPANT_ID)",
        "SELECT person_key, D_DATE FROM stg_death",
    ]
    return "\nUNION ALL\n".join(parts)


def enrol_to_observation_period(shared=None, provenance: bool = False) -> str:
    """SELECT of observation_period (one per person)."""
    s = shared_or_inline(shared)
    ending = ", ".join(f"'{x}'" for x in ENDING_STATUSES)
    ym = "CAST(strptime(PREM_YM || '01', '%Y%m%d') AS DATE)"
    with_sql = f"""enrol AS (
    SELECT person_key, {ym} AS ym_date, cb_clean_code(ID_STATUS) AS status, _source_file, _row_number, _src
    FROM ({staged_sql('enrol', s.files_rel())}) WHERE PREM_YM IS NOT NULL
), enrol_last AS (
    SELECT person_key,
           CASE WHEN status IN ({ending}) THEN last_day(ym_date)
                ELSE make_date(year(ym_date), 12, 31) END AS enrol_end
    FROM enrol
    QUALIFY row_number() OVER (PARTITION BY person_key
                               ORDER BY ym_date DESC, _source_file DESC, _row_number DESC) = 1
), enrol_span AS (
    SELECT e.person_key, min(e.ym_date) AS enrol_start, any_value(l.enrol_end) AS enrol_end,
           list(e._src) AS prov
    FROM enrol e JOIN enrol_last l USING (person_key)
    GROUP BY e.person_key
), event_span AS (
    SELECT person_key, min(d) AS first_event, max(d) AS last_event
    FROM ({event_dates_sql()}) WHERE d IS NOT NULL GROUP BY person_key
), spans AS (
    SELECT p.person_key,
           least(es.enrol_start, ev.first_event) AS start0,
           greatest(es.enrol_end, ev.last_event) AS end0,
           d.death_date,
           coalesce(es.prov, {EMPTY_PROV}) AS prov
    FROM {s.persons_rel()} p
    LEFT JOIN enrol_span es USING (person_key)
    LEFT JOIN event_span ev USING (person_key)
    LEFT JOIN (SELECT person_key, death_date FROM {s.deaths_rel()}) d USING (person_key)
), bounded AS (
    SELECT person_key, prov,
           CASE WHEN death_date IS NOT NULL AND death_date < end0 THEN death_date ELSE end0 END AS end_date,
           start0
    FROM spans WHERE start0 IS NOT NULL
)"""
    exprs = {
        "observation_period_id": ids.id_sql("observation_period", "person_key"),
        "person_id": ids.person_id_sql("person_key"),
        "observation_period_start_date": "least(start0, end_date)",
        "observation_period_end_date": "end_date",
        "period_type_concept_id": str(C.TYPE_CLAIM),
    }
    return cdm_select(
        "observation_period", exprs, "bounded", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("observation_period", "person_key"), prov_sql="prov",
    )
