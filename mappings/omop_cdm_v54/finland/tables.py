"""Finnish staging -> the non-event OMOP tables: location, care_site, person, observation_period,
visit_occurrence, death, specimen.  (Event tables come from :mod:`.events` through the shared
routing, see :mod:`.` for the table list.)

* **location**: one per municipality number (KOTIKUNTA) of the population
  register, city = its name (KUNTA_NIMI, the latest row), country 'FI'.
* **care_site**: one per Hilmo provider code (PALTU).
* **person**: one per known person (:func:`.relations.known_persons_sql`):
  the population register first, else what the henkilötunnus states, else the
  birth date a FinnGen person's first event implies; gender '1' -> 8507,
  '2' -> 8532, else 0 (FinnGen persons: not recorded); year/month/day and
  birth_datetime from the birth date; location = home municipality.
* **observation_period** (type 32879 registry): Finnish registers cover every
  resident, so a register person is observed from the later of birth and the
  start of the extract (1 January of the earliest event year) to the earliest
  of death, emigration and the end of the extract (31 December of the latest
  event year), widened to cover the person's own events; a FinnGen person from
  the first to the last event.  Provenance: the person's chosen row.
* **visit_occurrence**: one per visit of :mod:`.visits`.  Its provenance is the
  first staged row of the visit (a Kela pharmacy visit groups a day's
  purchases, which reach drug_exposure themselves; a list of every row would be
  an aggregate that cannot spill at 10M rows).
* **death**: one per person: causes-of-death register (32815, cause = TPKS in
  the ICD revision of KPV), else the population register's KUOLINPV (32879),
  else a FinnGen DEATH row (32815; cause = CODE1 of the CATEGORY U row, in the
  revision ICDVER states), earliest date first within a source.
* **specimen**: one per biobank sample (NAYTE_ID), concept = the 'Maps to' of
  NAYTETYYPPI in the local vocabulary 'FI Biobank Specimen' (0 if none), type
  32879 registry, specimen_source_id = NAYTE_ID.
"""

from __future__ import annotations

from terminology import concepts as C

from .. import ids
from ..columns import cdm_select
from ..death import chosen_deaths_sql
from ..events import single_concept_sql
from ..relations import Shared
from .relations import icd_vocabulary_sql, staged

COUNTRY_SOURCE_VALUE = "FI"
SPECIMEN_VOCABULARY = "FI Biobank Specimen"


def population_to_location(shared: Shared, provenance: bool = False) -> str:
    with_sql = f"""m AS (
    SELECT cb_clean_code(KOTIKUNTA) AS municipality,
           arg_max(KUNTA_NIMI, (_source_file, _row_number)) AS city, list(_src) AS prov
    FROM {staged('population', shared)} WHERE cb_clean_code(KOTIKUNTA) IS NOT NULL GROUP BY 1
)"""
    exprs = {
        "location_id": ids.id_sql("location", "municipality"),
        "city": "city",
        "location_source_value": "municipality",
        "country_source_value": f"'{COUNTRY_SOURCE_VALUE}'",
    }
    return cdm_select(
        "location", exprs, "m", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("location", "municipality"), prov_sql="prov",
    )


def hilmo_to_care_site(shared: Shared, provenance: bool = False) -> str:
    with_sql = f"""p AS (
    SELECT cb_clean_code(PALTU) AS provider, min(_src) AS _src
    FROM {shared.visits_rel('hilmo')} WHERE cb_clean_code(PALTU) IS NOT NULL GROUP BY 1
)"""
    exprs = {
        "care_site_id": ids.id_sql("care_site", "provider"),
        "care_site_name": "'PALTU ' || provider",
        "care_site_source_value": "provider",
    }
    return cdm_select(
        "care_site", exprs, "p", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("care_site", "provider"), prov_sql="[_src]",
    )


def persons_to_person(shared: Shared, provenance: bool = False) -> str:
    exprs = {
        "person_id": ids.person_id_sql("person_key"),
        "gender_concept_id": (
            f"CASE sex WHEN '1' THEN {C.GENDER_MALE} WHEN '2' THEN {C.GENDER_FEMALE} ELSE {C.NO_MATCHING_CONCEPT} END"
        ),
        "year_of_birth": "year(birth_date)",
        "month_of_birth": "month(birth_date)",
        "day_of_birth": "day(birth_date)",
        "birth_datetime": "CAST(birth_date AS TIMESTAMP)",
        "race_concept_id": str(C.NO_MATCHING_CONCEPT),
        "ethnicity_concept_id": str(C.NO_MATCHING_CONCEPT),
        "location_id": ids.id_sql("location", "cb_clean_code(municipality)"),
        "gender_source_value": "sex",
        "gender_source_concept_id": str(C.NO_MATCHING_CONCEPT),
    }
    return cdm_select(
        "person", exprs, f"{shared.persons_rel()} p", provenance=provenance,
        key_sql=ids.key_sql("person", "person_key"), prov_sql="[_src]",
    )


def _event_dates_sql(s: Shared) -> str:
    """(person_key, d) of every dated record of the site."""
    parts = [
        f"SELECT person_key, visit_start AS d FROM {s.visits_rel(v)} UNION ALL "
        f"SELECT person_key, visit_end FROM {s.visits_rel(v)}"
        for v in ("hilmo", "avohilmo", "kela")
    ]
    parts += [
        f"SELECT person_key, ALPV FROM {staged('kela_reimb', s)}",
        f"SELECT person_key, DG_PVM FROM {staged('fcr', s)}",
        f"SELECT person_key, KPV FROM {staged('cod', s)}",
        f"SELECT person_key, KERAYSPV FROM {staged('fi_bb_sample', s)}",
        f"SELECT person_key, SUOSTUMUSPV FROM {staged('fi_bb_consent', s)}",
        f"SELECT person_key, PERUUTUSPV FROM {staged('fi_bb_consent', s)}",
        f"SELECT person_key, APPROX_EVENT_DAY FROM {staged('finngen', s)}",
    ]
    return "\nUNION ALL\n".join(parts)


def persons_to_observation_period(shared: Shared, provenance: bool = False) -> str:
    s = shared
    with_sql = f"""ev AS (
    SELECT person_key, d FROM ({_event_dates_sql(s)}) WHERE d IS NOT NULL
), extract AS (
    SELECT make_date(year(min(d)), 1, 1) AS x_start, make_date(year(max(d)), 12, 31) AS x_end FROM ev
), own AS (
    SELECT person_key, min(d) AS first_d, max(d) AS last_d FROM ev GROUP BY person_key
), exits AS (
    SELECT person_key, min(d) AS exit_d FROM (
        SELECT person_key, KUOLINPV AS d FROM {staged('population', s)}
        UNION ALL SELECT person_key, MAASTAMUUTTOPV FROM {staged('population', s)}
        UNION ALL SELECT person_key, death_date FROM {s.deaths_rel()}
    ) WHERE d IS NOT NULL GROUP BY person_key
), spans AS (
    SELECT p.person_key, p._src,
           CASE WHEN p.source = 'finngen' THEN o.first_d
                ELSE least(greatest(p.birth_date, x.x_start), coalesce(o.first_d, x.x_end)) END AS s0,
           CASE WHEN p.source = 'finngen' THEN o.last_d
                ELSE greatest(least(coalesce(e.exit_d, x.x_end), x.x_end), coalesce(o.last_d, p.birth_date)) END AS e0
    FROM {s.persons_rel()} p CROSS JOIN extract x
    LEFT JOIN own o USING (person_key) LEFT JOIN exits e USING (person_key)
), periods AS (
    SELECT person_key, _src, s0 AS start_d, greatest(e0, s0) AS end_d FROM spans WHERE s0 IS NOT NULL
)"""
    exprs = {
        "observation_period_id": ids.id_sql("observation_period", "person_key"),
        "person_id": ids.person_id_sql("person_key"),
        "observation_period_start_date": "start_d",
        "observation_period_end_date": "end_d",
        "period_type_concept_id": str(C.TYPE_REGISTRY),
    }
    return cdm_select(
        "observation_period", exprs, "periods", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("observation_period", "person_key"), prov_sql="[_src]",
    )


def visits_to_visit_occurrence(shared: Shared, provenance: bool = False) -> str:
    s = shared
    cols = ("visit_key, visit_occurrence_id, person_key, visit_start AS start_d, visit_end AS end_d, "
            "visit_concept_id AS concept_id, visit_type_concept_id AS type_id, visit_source_value AS source_value")
    # Hilmo and Avohilmo rows are one per visit (keys made unique by consolidation); Kela and FinnGen rows
    # are grouped by visit id with plain min/max aggregates (spillable; no lists)
    grouped = "\nUNION ALL\n".join(
        f"""SELECT min(visit_key), visit_occurrence_id, min(person_key), min(visit_start), max(visit_end),
                   min(visit_concept_id), min(visit_type_concept_id), min(visit_source_value), NULL, min(_src)
            FROM {s.visits_rel(v)} GROUP BY visit_occurrence_id"""
        for v in ("kela", "finngen")
    )
    with_sql = f"""v AS (
    SELECT * FROM (
        SELECT {cols}, cb_clean_code(PALTU) AS provider, _src FROM {s.visits_rel('hilmo')}
        UNION ALL
        SELECT {cols}, NULL, _src FROM {s.visits_rel('avohilmo')}
        UNION ALL
        {grouped}
    ) x
    WHERE person_key IN (SELECT person_key FROM {s.persons_rel()})
)"""
    exprs = {
        "visit_occurrence_id": "visit_occurrence_id",
        "person_id": ids.person_id_sql("person_key"),
        "visit_concept_id": "concept_id",
        "visit_start_date": "start_d",
        "visit_end_date": "end_d",
        "visit_type_concept_id": "type_id",
        "care_site_id": f"CASE WHEN provider IS NOT NULL THEN {ids.id_sql('care_site', 'provider')} END",
        "visit_source_value": "source_value",
    }
    return cdm_select(
        "visit_occurrence", exprs, "v", with_sql=with_sql, provenance=provenance,
        key_sql=ids.key_sql("visit_occurrence", "visit_key"), prov_sql="[_src]",
    )


def _finngen_icd(ver_col: str, date_col: str) -> str:
    return (
        f"CASE cb_clean_code({ver_col}) WHEN '10' THEN 'ICD10fi' WHEN '9' THEN 'ICD9fi' WHEN '8' THEN 'ICD8fi' "
        f"ELSE {icd_vocabulary_sql(date_col)} END"
    )


def deaths_sql(s: Shared) -> str:
    """One death per known person (see the module docstring), with the cause mapped."""
    return f"""
WITH candidates AS (
    SELECT person_key, KPV AS death_date, {C.TYPE_DEATH_CERTIFICATE} AS type_concept_id,
           CASE WHEN cb_clean_code(TPKS) IS NOT NULL THEN {icd_vocabulary_sql('KPV')} END AS vocabulary_id,
           cb_clean_code(TPKS) AS raw_code, 'TPKS' AS column_group, 1 AS prio, 'cod' AS t,
           _source_file, _row_number, _src
    FROM {staged('cod', s)}
    UNION ALL
    SELECT person_key, KUOLINPV, {C.TYPE_REGISTRY}, NULL, NULL, NULL, 2, 'population', _source_file, _row_number, _src
    FROM {staged('population', s)} WHERE KUOLINPV IS NOT NULL
    UNION ALL
    SELECT person_key, APPROX_EVENT_DAY, {C.TYPE_DEATH_CERTIFICATE},
           CASE WHEN upper(CATEGORY) = 'U' THEN {_finngen_icd('ICDVER', 'APPROX_EVENT_DAY')} END,
           CASE WHEN upper(CATEGORY) = 'U' THEN cb_clean_code(CODE1) END, 'CODE1', 3, 'finngen',
           _source_file, _row_number, _src
    FROM {staged('finngen', s)} WHERE SOURCE = 'DEATH'
)
SELECT * FROM ({chosen_deaths_sql("candidates", s, "prio, death_date, raw_code IS NULL, _source_file, _row_number")})
"""


def specimen_events_sql(s: Shared) -> str:
    """Samples of known persons with their type code, source concept and target concept."""
    return f"""
WITH sp AS (
    SELECT x.*, cb_norm_code('{SPECIMEN_VOCABULARY}', x.NAYTETYYPPI) AS source_code
    FROM {staged('fi_bb_sample', s)} x
    WHERE x.person_key IN (SELECT person_key FROM {s.persons_rel()}) AND x.KERAYSPV IS NOT NULL
)
{single_concept_sql("SELECT * FROM sp", f"'{SPECIMEN_VOCABULARY}'", "c.source_code", "c.KERAYSPV")}
"""


def samples_to_specimen(shared: Shared, provenance: bool = False) -> str:
    exprs = {
        "specimen_id": ids.id_sql("specimen", "cb_clean_code(NAYTE_ID)"),
        "person_id": ids.person_id_sql("person_key"),
        "specimen_concept_id": "target_concept_id",
        "specimen_type_concept_id": str(C.TYPE_REGISTRY),
        "specimen_date": "KERAYSPV",
        "specimen_source_id": "cb_clean_code(NAYTE_ID)",
        "specimen_source_value": "NAYTETYYPPI",
    }
    return cdm_select(
        "specimen", exprs, f"({specimen_events_sql(shared)}) s", provenance=provenance,
        key_sql=ids.key_sql("specimen", "cb_clean_code(NAYTE_ID)"), prov_sql="[_src]",
    )
