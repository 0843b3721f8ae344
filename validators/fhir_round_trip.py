"""Round trip OMOP -> FHIR: rows per person and OMOP table against the resources written for them.

The FHIR export (:mod:`mappings.fhir_r4.export`) turns each row of an event table into one
resource of known types whose ``subject`` is the person's Patient; this module counts
both sides independently -- the OMOP tables with SQL, the NDJSON files as written (the
resource type, the id prefix and ``subject.reference`` of every line) -- and reports,
per table, the rows, the resources, the persons whose counts differ and a few of them.
Nothing is reconciled away: a difference is a finding (``agreed`` false), and tables the
export does not express are listed by the export report, not here.

=======================  ==========================================================  ===========
OMOP table               FHIR resource types                                         id prefix
=======================  ==========================================================  ===========
visit_occurrence         Encounter                                                   (none)
visit_detail             Encounter                                                   ``vd-``
condition_occurrence     Condition                                                   (none)
drug_exposure            MedicationDispense, MedicationRequest, MedicationStatement  (none)
procedure_occurrence     Procedure                                                   (none)
measurement              Observation                                                 ``m-``
observation              Observation                                                 ``o-``
specimen                 Specimen                                                    (none)
person                   Patient (its own id)                                        (none)
=======================  ==========================================================  ===========
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

#: OMOP table -> (resource types, id prefix) of the resources the export writes for its rows
TABLE_RESOURCES: dict[str, tuple[tuple[str, ...], str]] = {
    "person": (("Patient",), ""),
    "visit_occurrence": (("Encounter",), ""),
    "visit_detail": (("Encounter",), "vd-"),
    "condition_occurrence": (("Condition",), ""),
    "drug_exposure": (("MedicationDispense", "MedicationRequest", "MedicationStatement"), ""),
    "procedure_occurrence": (("Procedure",), ""),
    "measurement": (("Observation",), "m-"),
    "observation": (("Observation",), "o-"),
    "specimen": (("Specimen",), ""),
}
MAX_EXAMPLES = 5


@dataclass
class TableRoundTrip:
    omop_rows: int
    fhir_resources: int
    persons_differing: int
    examples: list[dict[str, int]] = field(default_factory=list)  # {person_id, omop, fhir}


@dataclass
class RoundTripReport:
    tables: dict[str, TableRoundTrip]
    resources_without_person: int  # resources of the types above with no usable subject (Patient: none)

    @property
    def agreed(self) -> bool:
        return self.resources_without_person == 0 and all(t.persons_differing == 0 for t in self.tables.values())

    def to_dict(self) -> dict[str, Any]:
        return {"agreed": self.agreed, "resources_without_person": self.resources_without_person,
                "tables": {k: asdict(v) for k, v in self.tables.items()}}


def _fhir_sql(files: list[str]) -> str:
    """(table, person_id) of every resource line of the tables above."""
    cases = []
    for table, (types, prefix) in TABLE_RESOURCES.items():
        in_types = ", ".join(f"'{t}'" for t in types)
        if prefix:
            id_rule = f"starts_with(id, '{prefix}')"
        else:  # un-prefixed ids are the row's own id (digits); the prefixed ones belong to other tables
            id_rule = "NOT regexp_matches(id, '^[a-z]+-')"
        cases.append(f"WHEN rtype IN ({in_types}) AND {id_rule} THEN '{table}'")
    listed = ", ".join(f"'{f}'" for f in files)
    return f"""
        SELECT CASE {' '.join(cases)} END AS omop_table,
               TRY_CAST(CASE WHEN rtype = 'Patient' THEN id
                             ELSE regexp_extract(subject, '^Patient/(.+)$', 1) END AS BIGINT) AS person_id
        FROM (SELECT json_extract_string(json, '$.resourceType') AS rtype, json_extract_string(json, '$.id') AS id,
                     json_extract_string(json, '$.subject.reference') AS subject
              FROM read_json_objects([{listed}], format = 'newline_delimited'))
    """


def omop_fhir_round_trip(omop: duckdb.DuckDBPyConnection, fhir_dir: str | Path, *,
                         catalog: str | None = None, schema: str = "main") -> RoundTripReport:
    """Compare the OMOP tables on ``omop`` (in ``catalog``.``schema``; default the connection's
    own database) with the NDJSON files in ``fhir_dir``."""
    catalog = catalog or omop.execute("SELECT current_database()").fetchall()[0][0]
    prefix = f'"{catalog}"."{schema}".'
    present = {r[0] for r in omop.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ?",
        [catalog, schema]).fetchall()}
    tables = [t for t in TABLE_RESOURCES if t in present]
    files = sorted(str(p) for p in Path(fhir_dir).glob("*.ndjson"))
    con = omop
    con.execute("CREATE OR REPLACE TEMP TABLE _rt_omop (omop_table VARCHAR, person_id BIGINT, n BIGINT)")
    for t in tables:
        con.execute(f"INSERT INTO _rt_omop SELECT '{t}', person_id, count(*) FROM {prefix}{t} GROUP BY person_id")
    if files:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _rt_fhir AS
                        SELECT omop_table, person_id, count(*) AS n FROM ({_fhir_sql(files)})
                        WHERE omop_table IS NOT NULL GROUP BY ALL""")
    else:
        con.execute("CREATE OR REPLACE TEMP TABLE _rt_fhir (omop_table VARCHAR, person_id BIGINT, n BIGINT)")
    try:
        without = con.execute("SELECT coalesce(sum(n), 0) FROM _rt_fhir WHERE person_id IS NULL").fetchall()[0][0]
        rows = con.execute("""
            SELECT omop_table, person_id, coalesce(o.n, 0) AS omop_n, coalesce(f.n, 0) AS fhir_n
            FROM _rt_omop o FULL JOIN (SELECT * FROM _rt_fhir WHERE person_id IS NOT NULL) f
                 USING (omop_table, person_id)
            WHERE o.n IS DISTINCT FROM f.n ORDER BY omop_table, person_id""").fetchall()
        totals = dict(((t, side), int(n)) for t, side, n in con.execute("""
            SELECT omop_table, 'omop', sum(n) FROM _rt_omop GROUP BY 1
            UNION ALL SELECT omop_table, 'fhir', sum(n) FROM _rt_fhir GROUP BY 1""").fetchall())
    finally:
        con.execute("DROP TABLE IF EXISTS _rt_omop")
        con.execute("DROP TABLE IF EXISTS _rt_fhir")
    out: dict[str, TableRoundTrip] = {}
    for t in tables:
        diffs = [r for r in rows if r[0] == t]
        out[t] = TableRoundTrip(totals.get((t, "omop"), 0), totals.get((t, "fhir"), 0), len(diffs),
                                [{"person_id": p, "omop": o, "fhir": f} for _, p, o, f in diffs[:MAX_EXAMPLES]])
    return RoundTripReport(out, int(without))


__all__ = ["RoundTripReport", "TABLE_RESOURCES", "TableRoundTrip", "omop_fhir_round_trip"]
