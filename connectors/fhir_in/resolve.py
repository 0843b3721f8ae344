"""The resolve step of the FHIR feed: ``staging/raw`` of every file -> ``staging/tables`` (DuckDB).

Rules, across all input files of the run:

a. **Duplicates** (same ``resource_key``): the kept copy is the newest by
   ``meta.lastUpdated``, then ``meta.versionId`` (numeric), then the first by
   (file, row).  Another copy with the same content (the same JSON text, as
   the line holds it or as DuckDB re-writes a bundle entry) -> merged
   ``duplicate_resource``; an older stated version -> merged
   ``superseded_version``; a different content without a newer stated
   version -> quarantine ``duplicate_id``.  References to the key reach the
   kept copy.
b. **Subjects**: a row's person is the staged Patient its subject names
   (``Patient/<id>``, a bundle ``fullUrl``) or, for a reference by identifier,
   the staged person with that pseudonym.  Neither -> quarantine
   ``unresolved_reference`` (the detail says when the Patient itself was
   quarantined, and why).
c. **Encounters** and **specimens** are linked (``encounter_key``,
   ``specimen_key``) only to a staged one of the same person; otherwise the
   link is left empty and the row kept (the raw reference is not a reason to
   lose a diagnosis).
d. **Medications** named by ``medicationReference`` take the code of the
   referenced Medication (reference data); a Medication not in the input ->
   ``unresolved_reference``, one without a code -> ``invalid_resource``.
e. **Encounter providers**: ``service_provider`` is the Organization's key,
   ``service_provider_name`` its name when the Organization was in the input.
f. **Patients without clinical data** (no staged row refers to their person,
   no date of death) -> quarantine ``no_clinical_data``: OMOP would hold a
   person without any observation time.
g. Reference data kept (Organization, Location, Medication ...) -> merged
   ``reference_data``.
h. **Replaced Patients** (``Patient.link`` of type ``replaced-by``, as the HL7
   v2 connector writes an A40 merge) without data of their own, whose
   survivor is staged -> merged ``replaced_patient`` (instead of rule f).

Writes ``tables/<table>/part-0.parquet`` (exactly the staging columns),
``quarantine/consolidate/fhir.parquet`` and ``merged/fhir.parquet``, and
checks for every input file that its items add up
(``rows_in = staged + merged + quarantined``), raising
:class:`FhirInvariantError` if they do not.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa

from connectors.consolidation import copy_parquet, lit, open_duckdb
from connectors.quarantine import QUARANTINE_SCHEMA

from .flatten import INDEX_COLUMNS, REFERENCE_COLUMNS
from .tables import empty_raw_table
from .layout import BY_KEY, MERGE_REASONS, QUARANTINE_REASONS, table_columns
from .report import FhirResolveReport, TableReport

#: tables resolved after the patients, in this order (observations link to specimens)
CLINICAL_ORDER = ("fhir_encounter", "fhir_specimen", "fhir_condition", "fhir_medication", "fhir_procedure",
                  "fhir_observation", "fhir_diagnostic_report")
#: Arrow type names of the staging schema -> DuckDB types
DUCKDB_TYPES = {"string": "VARCHAR", "date32": "DATE", "int32": "INTEGER", "int64": "BIGINT", "float64": "DOUBLE",
                "bool": "BOOLEAN"}
MERGED_SCHEMA = pa.schema([
    pa.field("source_file", pa.string()), pa.field("row_number", pa.int64()), pa.field("reason", pa.string()),
    pa.field("kept_source_file", pa.string()), pa.field("kept_row_number", pa.int64()),
])


class FhirInvariantError(RuntimeError):
    """Items were lost or double-counted between reading and the staging tables (a bug, never data)."""


def _source(con, name: str, folder: Path, empty: pa.Table) -> None:
    """View ``name`` over the Parquet files of ``folder`` (the empty table's schema when there are none)."""
    if folder.is_dir() and any(folder.glob("*.parquet")):
        glob = lit(str(folder / "*.parquet"))
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet({glob})")
    else:
        con.register(f"{name}_empty", empty)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_empty")
        con.unregister(f"{name}_empty")


def _index_schema() -> pa.Schema:
    types = {"_row_number": pa.int64()}
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in INDEX_COLUMNS])


def _reference_schema() -> pa.Schema:
    types = {"_row_number": pa.int64()}
    return pa.schema([pa.field(c, types.get(c, pa.string())) for c in REFERENCE_COLUMNS])


def _duplicates(con) -> None:
    """Temp table ``_drop``: copies of a key other than the kept one, with their reason (rule a)."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _cand AS
           SELECT *, TRY_CAST(last_updated AS TIMESTAMPTZ) AS ts, TRY_CAST(version_id AS BIGINT) AS vid
           FROM idx WHERE disposition IN ('staged', 'reference')""")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _drop AS
        WITH many AS (SELECT resource_key FROM _cand GROUP BY resource_key HAVING count(*) > 1),
        ranked AS (
            SELECT c.*, row_number() OVER w AS rk, first_value(_source_file) OVER w AS k_file,
                   first_value(_row_number) OVER w AS k_row, first_value(content_hash) OVER w AS k_hash,
                   first_value(ts) OVER w AS k_ts, first_value(vid) OVER w AS k_vid
            FROM _cand c SEMI JOIN many m ON m.resource_key = c.resource_key
            WINDOW w AS (PARTITION BY c.resource_key ORDER BY ts DESC NULLS LAST, vid DESC NULLS LAST,
                         _source_file, _row_number)
        )
        SELECT _source_file, _row_number, table_key, resource_type, resource_key, k_file, k_row,
               CASE WHEN content_hash = k_hash THEN 'duplicate_resource'
                    WHEN (ts < k_ts) OR (ts IS NOT DISTINCT FROM k_ts AND vid < k_vid) THEN 'superseded_version'
                    ELSE 'duplicate_id' END AS reason
        FROM ranked WHERE rk > 1""")


def _kept(key: str) -> str:
    return (f"(SELECT r.* FROM raw_{key} r ANTI JOIN _drop d "
            f"ON d._source_file = r._source_file AND d._row_number = r._row_number)")


def _why_not_staged(con) -> None:
    """Temp table ``_why`` (resource_key, reason): why a Patient key that was read is not staged."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _why AS
           SELECT i.resource_key, min(q.reason) AS reason
           FROM idx i JOIN qa q ON q.source_file = i._source_file AND q.row_number = i._row_number
           WHERE i.resource_type = 'Patient' GROUP BY i.resource_key""")


def _resolve_table(con, key: str) -> None:
    """Temp table ``_out_<key>`` (resolved rows + ``_q_reason``, ``_q_column``, ``_q_detail``), rules b-e."""
    final = [c for c, _ in table_columns(BY_KEY[key])]
    subject = (
        "coalesce(pm.person_key, CASE WHEN r.subject_person_key IN (SELECT person_key FROM _persons) "
        "THEN r.subject_person_key END)")
    joins = ["LEFT JOIN _patmap pm ON pm.resource_key = r.subject_key",
             "LEFT JOIN _why w ON w.resource_key = r.subject_key"]
    exprs = {"person_key": subject}
    checks = [(f"{subject} IS NULL", "unresolved_reference", "subject",
               "CASE WHEN r.subject_key IS NOT NULL THEN 'subject ' || r.subject_key || ' is not among the staged "
               "patients' || coalesce(' (the Patient was quarantined: ' || w.reason || ')', '') "
               "ELSE 'subject identifier matches no staged Patient' END")]
    if "encounter_key" in final:
        joins.append(f"LEFT JOIN (SELECT resource_key, person_key FROM _out_fhir_encounter WHERE _q_reason IS NULL) e "
                     f"ON e.resource_key = r.encounter_ref AND e.person_key = {subject}")
        exprs["encounter_key"] = "e.resource_key"
    if key == "fhir_observation":
        joins.append(f"LEFT JOIN (SELECT resource_key, person_key FROM _out_fhir_specimen WHERE _q_reason IS NULL) sk "
                     f"ON sk.resource_key = r.specimen_ref AND sk.person_key = {subject}")
        exprs["specimen_key"] = "sk.resource_key"
    if key == "fhir_encounter":
        joins.append("LEFT JOIN _refdata o ON o.resource_key = r.provider_ref AND o.resource_type = 'Organization'")
        exprs["service_provider"] = "r.provider_ref"
        exprs["service_provider_name"] = "o.name"
    if key == "fhir_medication":
        joins.append("LEFT JOIN _refdata m ON m.resource_key = r.medication_ref AND m.resource_type = 'Medication'")
        use = "(r.code IS NULL AND m.resource_key IS NOT NULL)"
        for c in ("code_system", "vocabulary_id", "code", "std_vocabulary_id", "std_code"):
            exprs[c] = f"CASE WHEN {use} THEN m.{c} ELSE r.{c} END"
        exprs["medication_key"] = "m.resource_key"
        checks.append(("r.code IS NULL AND m.resource_key IS NULL", "unresolved_reference", "medicationReference",
                       "'medicationReference ' || coalesce(r.medication_ref, '?') || ' is not in the input'"))
        checks.append(("r.code IS NULL AND m.code IS NULL", "invalid_resource", "medicationReference",
                       "'the referenced ' || r.medication_ref || ' has no coding with a code'"))
    cols = ", ".join(f"{exprs.get(c, 'r.' + c)} AS {c}" for c in final)

    def case(i: int) -> str:  # the first failing check's reason (1), element (2) or detail SQL (3)
        return "CASE " + " ".join(f"WHEN {c[0]} THEN {c[i] if i == 3 else lit(c[i])}" for c in checks) + " END"

    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _out_{key} AS
            SELECT {cols}, {case(1)} AS _q_reason, {case(2)} AS _q_column, {case(3)} AS _q_detail
            FROM {_kept(key)} r {' '.join(joins)}""")


def _replaced_patients(con) -> None:
    """Temp table ``_replaced`` (rule h): Patients without data of their own that a staged Patient replaced.

    They leave ``_out_fhir_patient`` (they are merged into the survivor, not quarantined).
    """
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _replaced AS
           SELECT o._source_file, o._row_number, t._source_file AS k_file, t._row_number AS k_row
           FROM _out_fhir_patient o
           JOIN _out_fhir_patient t ON t.resource_key = o.replaced_by_ref AND t._q_reason IS NULL
           WHERE o._q_reason = 'no_clinical_data'""")
    con.execute(
        """DELETE FROM _out_fhir_patient o WHERE EXISTS (
               SELECT 1 FROM _replaced r WHERE r._source_file = o._source_file AND r._row_number = o._row_number)""")


def resolve_staging(staging: Path, memory_limit: str = "1GB", threads: int = 2) -> FhirResolveReport:
    """Apply the rules of the module docstring to ``staging/raw`` and write tables/, quarantine/, merged/."""
    t0 = time.perf_counter()
    staging = Path(staging)
    report = FhirResolveReport()
    for key in BY_KEY:  # outputs of an earlier resolve
        out = staging / "tables" / key
        if out.exists():
            for f in out.glob("*.parquet"):
                f.unlink()
    for f in (staging / "quarantine" / "consolidate" / "fhir.parquet", staging / "merged" / "fhir.parquet"):
        f.unlink(missing_ok=True)
    with open_duckdb(staging, memory_limit, threads) as con:
        _source(con, "idx", staging / "raw" / "fhir_index", _index_schema().empty_table())
        _source(con, "refraw", staging / "raw" / "fhir_reference", _reference_schema().empty_table())
        _source(con, "qa", staging / "quarantine" / "stage" / "fhir", QUARANTINE_SCHEMA.empty_table())
        for key in BY_KEY:
            _source(con, f"raw_{key}", staging / "raw" / key, empty_raw_table(key))
        _duplicates(con)
        con.execute("CREATE OR REPLACE TEMP TABLE _refdata AS SELECT r.* FROM refraw r ANTI JOIN _drop d "
                    "ON d._source_file = r._source_file AND d._row_number = r._row_number")
        _why_not_staged(con)

        # patients first: the persons everything else refers to
        con.execute(f"CREATE OR REPLACE TEMP TABLE _pat AS SELECT * FROM {_kept('fhir_patient')}")
        con.execute("CREATE OR REPLACE TEMP TABLE _patmap AS SELECT DISTINCT resource_key, person_key FROM _pat")
        con.execute("CREATE OR REPLACE TEMP TABLE _persons AS SELECT DISTINCT person_key FROM _pat")
        for key in CLINICAL_ORDER:
            _resolve_table(con, key)
        used = " UNION ".join(f"SELECT person_key FROM _out_{k} WHERE _q_reason IS NULL" for k in CLINICAL_ORDER)
        pat_cols = ", ".join([f"p.{c}" for c, _ in table_columns(BY_KEY["fhir_patient"])] + ["p.replaced_by_ref"])
        lonely = "u.person_key IS NULL AND p.deceased_date IS NULL"
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _out_fhir_patient AS
                SELECT {pat_cols},
                       CASE WHEN {lonely} THEN 'no_clinical_data' END AS _q_reason,
                       CASE WHEN {lonely} THEN 'subject' END AS _q_column,
                       CASE WHEN {lonely} THEN 'no staged resource refers to this person, and no date of death' END
                           AS _q_detail
                FROM _pat p LEFT JOIN (SELECT DISTINCT person_key FROM ({used})) u USING (person_key)""")
        _replaced_patients(con)

        quarantine_parts, merged_parts = [], []
        for key in BY_KEY:
            cols = ", ".join(f"CAST({c} AS {DUCKDB_TYPES[t]}) AS {c}" for c, t in table_columns(BY_KEY[key]))
            copy_parquet(con, f"SELECT {cols} FROM _out_{key} WHERE _q_reason IS NULL "
                              "ORDER BY _source_file, _row_number", staging / "tables" / key / "part-0.parquet")
            quarantine_parts.append(
                f"""SELECT _source_file AS source_file, _row_number AS row_number, {lit(key)} AS file_type,
                           _q_reason AS reason, _q_column AS "column", _q_detail AS detail
                    FROM _out_{key} WHERE _q_reason IS NOT NULL""")
        quarantine_parts.append(
            """SELECT _source_file, _row_number, coalesce(table_key, 'fhir'), 'duplicate_id', 'id',
                      resource_key || ' is already given by ' || k_file || ' row ' || CAST(k_row AS VARCHAR)
                      || ' with other content and no older meta.lastUpdated / versionId'
               FROM _drop WHERE reason = 'duplicate_id'""")
        merged_parts.append(
            """SELECT _source_file AS source_file, _row_number AS row_number, reason, k_file AS kept_source_file,
                      k_row AS kept_row_number FROM _drop WHERE reason <> 'duplicate_id'""")
        merged_parts.append(
            """SELECT _source_file, _row_number, 'reference_data', NULL, NULL FROM _refdata""")
        merged_parts.append(
            """SELECT _source_file, _row_number, 'replaced_patient', k_file, k_row FROM _replaced""")
        con.execute("CREATE OR REPLACE TEMP TABLE _qb AS " + " UNION ALL ".join(quarantine_parts))
        con.execute("CREATE OR REPLACE TEMP TABLE _mg AS " + " UNION ALL ".join(merged_parts))
        unknown = {r for (r,) in con.execute("SELECT DISTINCT reason FROM _qb").fetchall()} - set(QUARANTINE_REASONS)
        unknown |= {r for (r,) in con.execute("SELECT DISTINCT reason FROM _mg").fetchall()} - set(MERGE_REASONS)
        if unknown:
            raise FhirInvariantError(f"unknown quarantine or merge reasons {sorted(unknown)}")
        if con.execute("SELECT count(*) FROM _qb").fetchall()[0][0]:
            copy_parquet(con, "SELECT * FROM _qb ORDER BY source_file, row_number",
                         staging / "quarantine" / "consolidate" / "fhir.parquet")
        if con.execute("SELECT count(*) FROM _mg").fetchall()[0][0]:
            copy_parquet(con, "SELECT * FROM _mg ORDER BY source_file, row_number", staging / "merged" / "fhir.parquet")

        _count(con, report)
        _reconcile(con, report)
    report.seconds = time.perf_counter() - t0
    return report


def _count(con, report: FhirResolveReport) -> None:
    for key in BY_KEY:
        t = TableReport(key)
        t.rows_in = con.execute(f"SELECT count(*) FROM raw_{key}").fetchall()[0][0]
        t.rows_out = con.execute(f"SELECT count(*) FROM _out_{key} WHERE _q_reason IS NULL").fetchall()[0][0]
        t.quarantined = dict(con.execute(
            f"SELECT reason, count(*) FROM _qb WHERE file_type = {lit(key)} GROUP BY 1 ORDER BY 1").fetchall())
        t.merged = dict(con.execute(
            f"SELECT reason, count(*) FROM _drop WHERE table_key = {lit(key)} AND reason <> 'duplicate_id' "
            "GROUP BY 1 ORDER BY 1").fetchall())
        if key == "fhir_patient":
            replaced = con.execute("SELECT count(*) FROM _replaced").fetchall()[0][0]
            if replaced:
                t.merged["replaced_patient"] = replaced
        report.tables[key] = t
    report.reference = dict(con.execute(
        "SELECT resource_type, count(*) FROM _refdata GROUP BY 1 ORDER BY 1").fetchall())


def _reconcile(con, report: FhirResolveReport) -> None:
    """Per input file: items read = staged + merged + quarantined (read and resolve steps)."""
    staged = " UNION ALL ".join(f"SELECT _source_file FROM _out_{k} WHERE _q_reason IS NULL" for k in BY_KEY)
    rows = con.execute(
        f"""WITH n AS (SELECT _source_file AS f, count(*) AS n FROM idx GROUP BY 1),
                 s AS (SELECT _source_file AS f, count(*) AS n FROM ({staged}) GROUP BY 1),
                 r AS (SELECT source_file AS f, count(*) AS n FROM _mg WHERE reason = 'reference_data' GROUP BY 1),
                 m AS (SELECT source_file AS f, map_from_entries(list((reason, n))) AS by FROM
                         (SELECT source_file, reason, count(*) AS n FROM _mg WHERE reason <> 'reference_data'
                          GROUP BY ALL) GROUP BY 1),
                 q AS (SELECT source_file AS f, map_from_entries(list((reason, n))) AS by FROM
                         (SELECT source_file, reason, count(*) AS n FROM
                            (SELECT source_file, reason FROM qa UNION ALL SELECT source_file, reason FROM _qb)
                          GROUP BY ALL) GROUP BY 1)
            SELECT n.f, n.n, coalesce(s.n, 0), coalesce(r.n, 0), m.by, q.by
            FROM n LEFT JOIN s USING (f) LEFT JOIN r USING (f) LEFT JOIN m USING (f) LEFT JOIN q USING (f)
            ORDER BY n.f""").fetchall()
    problems = []
    for f, n, staged_n, ref_n, merged, quarantined in rows:  # one row per input file
        merged, quarantined = dict(merged or {}), dict(quarantined or {})
        report.files[f] = {"rows_in": n, "staged": staged_n, "reference": ref_n, "merged": merged,
                           "quarantined": quarantined}
        if n != staged_n + ref_n + sum(merged.values()) + sum(quarantined.values()):
            problems.append(f"{f}: {n} items in, {staged_n} staged + {ref_n} reference + {merged} merged + "
                            f"{quarantined} quarantined")
    if problems:
        raise FhirInvariantError("FHIR items lost or double-counted: " + "; ".join(problems[:10]))


def consolidate_landing(staging: Path, memory_limit: str = "1GB", threads: int = 2) -> FhirResolveReport:
    """The resolve step with the pipeline's consolidate-function signature (``SitePipeline.consolidate_function``)."""
    return resolve_staging(staging, memory_limit=memory_limit, threads=threads)
