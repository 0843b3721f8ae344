"""OMOP CDM v5.4 -> FHIR R4 Bulk Data NDJSON, one file per resource type, built in DuckDB SQL.

:func:`export_fhir` runs one SELECT per mapping of :data:`MAPPINGS` (module per resource:
:mod:`.patient`, :mod:`.encounter`, :mod:`.condition`, :mod:`.medication`, :mod:`.procedure`,
:mod:`.observation`, :mod:`.specimen`, :mod:`.organization`, :mod:`.location`,
:mod:`.practitioner`); each row's JSON text is made by the SQL itself (:mod:`.json_sql`),
so no Python object is built per resource.  Lines are streamed to ``<Type>.ndjson`` in
batches, ordered by resource id (re-exports are byte-identical).

Then one **Provenance per batch** (at most ``provenance_batch`` targets, per resource
type): target = the batch's resources, recorded = the export time, activity CREATE,
agent = the hub (``Crossbridge <code version>``, run id as identifier), entity = the
sources (the run's source files, or the OMOP database's label) with role ``source``.

Nothing is dropped silently: the report gives, per CDM table, rows read, resources
written and rows not exported with the reason (``person not in person table`` for rows a
Patient could not be referenced for; whole tables without a FHIR mapping are listed with
their row counts in ``not_expressed``), plus the rows whose concept ids are absent from
the vocabulary (written with their source value as text).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from . import json_sql as J
from .common import ResourceQuery, meta
from .condition import condition_occurrence_to_condition
from .context import ExportContext
from .encounter import visit_detail_to_encounter, visit_occurrence_to_encounter
from .location import location_to_location
from .medication import (drug_exposure_to_medication_dispense, drug_exposure_to_medication_request,
                         drug_exposure_to_medication_statement)
from .observation import measurement_to_observation, observation_to_observation
from .organization import care_site_to_organization
from .patient import person_to_patient
from .practitioner import provider_to_practitioner
from .procedure import procedure_occurrence_to_procedure
from .specimen import specimen_to_specimen

#: The mappings, in the order their files are written.
MAPPINGS: tuple[Callable[[ExportContext], ResourceQuery], ...] = (
    person_to_patient, care_site_to_organization, location_to_location, provider_to_practitioner,
    visit_occurrence_to_encounter, visit_detail_to_encounter, condition_occurrence_to_condition,
    drug_exposure_to_medication_dispense, drug_exposure_to_medication_request, drug_exposure_to_medication_statement,
    procedure_occurrence_to_procedure, measurement_to_observation, observation_to_observation, specimen_to_specimen,
)

#: CDM tables without a FHIR mapping in this export, and why.
NOT_EXPRESSED: dict[str, str] = {
    "device_exposure": "no FHIR mapping yet (would be DeviceUseStatement)",
    "observation_period": "observation periods have no FHIR R4 resource of their own",
    "note": "free-text notes are not exported (may identify persons)",
    "note_nlp": "derived from notes, which are not exported",
    "payer_plan_period": "no FHIR mapping yet (would be Coverage)",
    "cost": "no FHIR mapping yet (would be Claim/ExplanationOfBenefit)",
    "episode": "no FHIR mapping yet (would be EpisodeOfCare)",
    "episode_event": "no FHIR mapping yet",
    "fact_relationship": "no FHIR mapping yet",
    "drug_era": "derived eras: recomputable from the exported medication resources",
    "dose_era": "derived eras: recomputable from the exported medication resources",
    "condition_era": "derived eras: recomputable from the exported conditions",
}
CONCEPT_COLUMNS: dict[str, str] = {
    "condition_occurrence": "condition_concept_id", "drug_exposure": "drug_concept_id",
    "procedure_occurrence": "procedure_concept_id", "measurement": "measurement_concept_id",
    "observation": "observation_concept_id", "specimen": "specimen_concept_id",
    "visit_occurrence": "visit_concept_id", "visit_detail": "visit_detail_concept_id",
}
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"


@dataclass
class FhirExportReport:
    out_dir: str
    site: str | None
    resources: dict[str, int] = field(default_factory=dict)  # resource type -> lines written
    files: dict[str, str] = field(default_factory=dict)  # resource type -> file
    tables: dict[str, dict] = field(default_factory=dict)  # cdm table -> rows, exported, not_exported{reason: n}
    not_expressed: dict[str, dict] = field(default_factory=dict)  # cdm table -> {rows, reason}
    concepts_not_in_vocabulary: dict[str, int] = field(default_factory=dict)  # cdm table -> rows
    mappings: dict[str, int] = field(default_factory=dict)  # mapping name -> resources
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.resources.values())

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"] = self.total
        d["resources_per_second"] = round(self.total / self.seconds) if self.seconds else None
        return d


def _write_lines(con: duckdb.DuckDBPyConnection, sql: str, fh, ids: list[pa.Array], batch_rows: int) -> int:
    reader = con.sql(f"SELECT id, resource FROM ({sql}) ORDER BY id").to_arrow_reader(batch_rows)
    n = 0
    for batch in reader:
        lines = batch.column(1).to_pylist()
        if lines:
            fh.write("\n".join(lines))
            fh.write("\n")
        # a copy: DuckDB's Arrow batches share one allocation between columns, so keeping the id
        # column as it is kept every exported line alive too (11 GB of NDJSON at 10M source rows)
        ids.append(pa.concat_arrays([batch.column(0)]))
        n += len(lines)
    return n


def export_fhir(con: duckdb.DuckDBPyConnection, ctx: ExportContext, out_dir: str | Path, *,
                run_id: str | None = None, code_version: str = "", sources: list[str] | None = None,
                provenance_batch: int = 10_000, batch_rows: int = 50_000,
                progress: Callable[[str, int], None] | None = None) -> FhirExportReport:
    """Write the NDJSON files of every mappable CDM table in ``ctx`` to ``out_dir`` (replacing old files)."""
    started = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ndjson"):
        old.unlink()
    report = FhirExportReport(out_dir=str(out), site=ctx.site)
    ids_by_type: dict[str, list[pa.Array]] = {}
    handles: dict[str, object] = {}
    try:
        for mapping in MAPPINGS:
            probe = mapping.__name__.split("_to_")[0]
            if not ctx.has(probe):
                continue
            q = mapping(ctx)
            path = out / f"{q.resource_type}.ndjson"
            fh = handles.get(q.resource_type)
            if fh is None:
                fh = handles[q.resource_type] = open(path, "w", encoding="utf-8", newline="\n")
            n = _write_lines(con, q.sql, fh, ids_by_type.setdefault(q.resource_type, []), batch_rows)
            report.mappings[q.name] = n
            report.resources[q.resource_type] = report.resources.get(q.resource_type, 0) + n
            report.files[q.resource_type] = str(path)
            t = report.tables.get(q.table)
            if t is None:  # drug_exposure feeds three mappings: count its rows once
                t = report.tables[q.table] = {"rows": _count(con, ctx.t(q.table)), "exported": 0, "not_exported": {}}
            t["exported"] += n
            if progress:
                progress(q.name, n)
    finally:
        for fh in handles.values():
            fh.close()
    for table, t in report.tables.items():
        missing = t["rows"] - t["exported"]
        if missing:
            t["not_exported"]["person not in person table"] = missing
        concept_col = CONCEPT_COLUMNS.get(table)
        if concept_col and concept_col in ctx.columns.get(table, set()):
            gaps = con.execute(
                f"SELECT count(*) FROM {ctx.t(table)} t WHERE t.{concept_col} <> 0 AND NOT EXISTS "
                f"(SELECT 1 FROM _fx_concept c WHERE c.concept_id = t.{concept_col})").fetchall()[0][0]
            if gaps:
                report.concepts_not_in_vocabulary[table] = int(gaps)
    for table, reason in NOT_EXPRESSED.items():
        if ctx.has(table):
            rows = _count(con, ctx.t(table))
            if rows:
                report.not_expressed[table] = {"rows": rows, "reason": reason}
    for rtype, n in list(report.resources.items()):
        if n == 0:  # no empty files: a reader would take an empty file for a failed export
            Path(report.files.pop(rtype)).unlink()
            del report.resources[rtype]
    n_prov = _write_provenance(con, ctx, out, ids_by_type, run_id=run_id, code_version=code_version,
                               sources=sources or [], batch=provenance_batch)
    if n_prov:
        report.resources["Provenance"] = n_prov
        report.files["Provenance"] = str(out / "Provenance.ndjson")
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0])


#: a FHIR resource id (FHIR R4 ``id`` datatype): nothing in it needs escaping in JSON
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
#: how many targets one Provenance query handles at a time (memory stays flat with the export's size)
PROVENANCE_IDS_PER_QUERY = 1_000_000


def _write_provenance(con: duckdb.DuckDBPyConnection, ctx: ExportContext, out: Path, ids_by_type: dict[str, list[pa.Array]], *,
                      run_id: str | None, code_version: str, sources: list[str], batch: int) -> int:
    """One Provenance per ``batch`` resources of a type (ids in order, types in alphabetical order);
    returns how many were written.

    The target lists are joined in Arrow, a block of at most :data:`PROVENANCE_IDS_PER_QUERY` ids
    at a time, and DuckDB builds the resources of a block: one query over every target of the export
    (a window and an ordered ``string_agg``, which DuckDB cannot spill) ran out of its 1.5 GB at
    10M source rows.  Raises ``ValueError`` for an id that is not a FHIR id."""
    if batch < 1:
        raise ValueError("provenance_batch must be at least 1")
    types = sorted(t for t, arrays in ids_by_type.items() if any(len(a) for a in arrays))
    if not types:
        return 0
    recorded = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    who = J.obj(J.field("identifier", J.obj(J.field("system", J.lit("urn:crossbridge:run")),
                                            J.field("value", J.lit(run_id)) if run_id else "NULL")),
                J.field("display", J.lit(f"Crossbridge {code_version}".strip())))
    agent = J.arr(J.obj(J.field("type", J.codeable(J.constant_coding(PARTICIPANT_TYPE, "assembler", "Assembler"))),
                        J.field("who", who)))
    entity_items = [J.obj(J.field("role", J.lit("source")), J.field("what", J.obj(J.field("display", J.lit(s)))))
                    for s in sources]
    entity = J.field("entity", J.arr(*entity_items)) if entity_items else "NULL"
    resource = J.obj(
        J.field("resourceType", J.lit("Provenance")), J.field("id", J.string("pid")), meta(ctx, "Provenance"),
        J.field("target", "'[' || targets || ']'"),
        J.field("recorded", J.lit(recorded)),
        J.field("activity", J.codeable(J.constant_coding(DATA_OPERATION, "CREATE", "create"))),
        J.field("agent", agent), entity,
    )
    per_query = max(batch, PROVENANCE_IDS_PER_QUERY // batch * batch)  # whole Provenances per query
    written = 0
    with open(out / "Provenance.ndjson", "w", encoding="utf-8", newline="\n") as fh:
        for rtype in types:
            ids = pa.chunked_array([a.cast(pa.string()) for a in ids_by_type[rtype] if len(a)]).combine_chunks()
            bad = pc.invert(pc.fill_null(pc.match_substring_regex(ids, f"^(?:{FHIR_ID.pattern})$"), False))
            if pc.any(bad).as_py():
                example = ids.filter(bad)[0].as_py()
                raise ValueError(f"{rtype} has ids that are not FHIR ids (e.g. {example!r}); "
                                 "Provenance cannot refer to them")
            ids = ids.take(pc.sort_indices(ids))
            for start in range(0, len(ids), per_query):
                block = ids.slice(start, per_query)
                refs = pc.binary_join_element_wise(f'{{"reference":"{rtype}/', block, '"}', "")
                offsets = pa.array([*range(0, len(block), batch), len(block)], pa.int32())
                targets = pc.binary_join(pa.ListArray.from_arrays(offsets, refs), ",")
                first = start // batch
                chunks = pa.table({
                    "chunk": pa.array(range(first, first + len(targets)), pa.int64()),
                    "pid": pa.array([f"prov-{rtype.lower()}-{c + 1}" for c in range(first, first + len(targets))]),
                    "targets": targets})
                con.register("_fx_provenance", chunks)
                try:
                    rows = con.execute(f"SELECT {resource} FROM _fx_provenance ORDER BY chunk").fetchall()
                finally:
                    con.unregister("_fx_provenance")
                for (line,) in rows:
                    fh.write(line)
                    fh.write("\n")
                written += len(rows)
    return written


def resource_counts(ndjson_dir: str | Path) -> dict[str, int]:
    """Lines per resource type of an export directory (from the files, not the report)."""
    out = {}
    for path in sorted(Path(ndjson_dir).glob("*.ndjson")):
        with open(path, "rb") as fh:
            out[path.stem] = sum(1 for line in fh if line.strip())
    return out


__all__ = ["FhirExportReport", "MAPPINGS", "NOT_EXPRESSED", "export_fhir", "resource_counts"]
