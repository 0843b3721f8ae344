"""Shared relations of the Finnish mappings (materialised once by the build, see :mod:`.`).

* ``files``: the staged-file dictionary (provenance ids, :mod:`..provenance`);
* ``persons``: one row per known person with the demographics chosen for the
  person table (see :func:`known_persons_sql`);
* ``visits<type>``: per visit source (``hilmo``, ``avohilmo``, ``kela``,
  ``finngen``) the staged rows with their ``visit_occurrence_id`` (see
  :mod:`.visits`);
* ``routed``: every code-bearing event translated and domain-routed (see
  :mod:`.events`);
* ``deaths``: one death per person (see :mod:`.death`).
"""

from __future__ import annotations

from connectors.finland import layout

from ..provenance import staged_sql
from ..relations import Shared

SHARED = Shared(
    persons="_cb_persons", routed="_cb_routed", deaths="_cb_deaths", files="_cb_files", visits="_cb_visits_"
)
#: staging tables of the Finnish site
TABLES = tuple(ft.key for ft in layout.FILE_TYPES)
#: staging tables whose rows carry a henkilötunnus (and so hetu_birth_date / hetu_sex)
HETU_TABLES = tuple(ft.key for ft in layout.FILE_TYPES if any(c.kind == "hetu" for c in ft.columns))
#: the date each Finnish ICD revision starts (by the event date): ICD-10 1996, ICD-9 1987, ICD-8 before
ICD10_FROM = layout.ICD10_FROM
ICD9_FROM = layout.ICD9_FROM


def staged(ft_key: str, s: Shared) -> str:
    """``stg_<ft_key>`` with its provenance id ``_src``, as a parenthesised sub-query."""
    return f"({staged_sql(ft_key, s.files_rel())})"


def icd_vocabulary_sql(date_sql: str) -> str:
    """SQL: the Finnish ICD revision in force on ``date_sql`` (ICD10fi, ICD9fi, ICD8fi)."""
    return (
        f"CASE WHEN {date_sql} >= DATE '{ICD10_FROM}' THEN 'ICD10fi' "
        f"WHEN {date_sql} >= DATE '{ICD9_FROM}' THEN 'ICD9fi' ELSE 'ICD8fi' END"
    )


def finngen_birth_sql(alias: str = "") -> str:
    """SQL: the birth date a FinnGen row implies (APPROX_EVENT_DAY minus EVENT_AGE years of 365.25 days)."""
    a = f"{alias}." if alias else ""
    return f"CAST({a}APPROX_EVENT_DAY - to_days(CAST(round({a}EVENT_AGE * 365.25) AS INTEGER)) AS DATE)"


def known_persons_sql(s: Shared) -> str:
    """One row per known person: person_key, birth_date, sex, municipality, source, ``_src``.

    A person is known when a birth date is known: from the population register
    (first choice), else from the henkilötunnus of any register row (the code
    states birth date and sex), else (FinnGen persons, who have no henkilötunnus)
    the birth date implied by their earliest event (APPROX_EVENT_DAY - EVENT_AGE).
    Within a source the latest row wins (file, row).  ``_src`` is the provenance
    of the chosen row.
    """
    hetu_rows = "\nUNION ALL\n".join(
        f"SELECT person_key, hetu_birth_date, hetu_sex, _source_file, _row_number, _src FROM {staged(t, s)}"
        for t in HETU_TABLES if t != "population"
    )
    # one row per person and source first (hash aggregates spill; a window over every register row would not)
    return f"""
WITH candidates AS (
    SELECT person_key, 1 AS prio, 'population' AS source,
           arg_max({{'birth_date': SYNTYMAPV, 'sex': SUKUPUOLI, 'municipality': KOTIKUNTA, '_src': _src}},
                   (_source_file, _row_number)) AS c
    FROM {staged('population', s)} WHERE SYNTYMAPV IS NOT NULL GROUP BY person_key
    UNION ALL
    SELECT person_key, 2, 'hetu',
           arg_max({{'birth_date': hetu_birth_date, 'sex': hetu_sex, 'municipality': NULL::VARCHAR, '_src': _src}},
                   (_source_file, _row_number))
    FROM ({hetu_rows}) WHERE hetu_birth_date IS NOT NULL GROUP BY person_key
    UNION ALL
    SELECT person_key, 3, 'finngen',
           arg_min({{'birth_date': {finngen_birth_sql()}, 'sex': NULL::VARCHAR, 'municipality': NULL::VARCHAR,
                    '_src': _src}}, (APPROX_EVENT_DAY, _source_file, _row_number))
    FROM {staged('finngen', s)} WHERE APPROX_EVENT_DAY IS NOT NULL AND EVENT_AGE IS NOT NULL GROUP BY person_key
)
SELECT person_key, c.birth_date AS birth_date, c.sex AS sex, c.municipality AS municipality, source, c._src AS _src
FROM candidates
WHERE person_key IS NOT NULL AND c.birth_date IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY person_key ORDER BY prio) = 1
"""
