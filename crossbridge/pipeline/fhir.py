"""FHIR R4 export: a site run's OMOP tables, or any OMOP CDM v5.4 database, to Bulk Data NDJSON.

* :func:`export_run` -- the ``export_fhir`` stage of a site run: reads the run's work
  database (the OMOP tables the quality gate passed, the vocabulary attached), takes the
  persons' site pseudonyms from the staged tables (so Patient.identifier carries the
  pseudonym, never a national ID), names the run's landing files in Provenance, writes
  ``runs/<run_id>/fhir/`` and validates it (``settings.fhir_validate``: ``all`` / ``sample``
  / ``none``) with the FHIR quality suite.
* :func:`export_omop` -- the same for ``duckdb:PATH`` / ``postgresql://...`` / ``csv:DIR``
  (``crossbridge export fhir --omop``); the database's own vocabulary is used as it is.

Both return a JSON-able report: resources per type, rows not exported per table and
reason, tables not expressed, concepts missing from the vocabulary, validation outcome,
and the round trip (:mod:`validators.fhir_round_trip`: rows per person and OMOP table
against the resources written for them; differences listed, never hidden).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from crossbridge.ledger import Run
from crossbridge.pipeline import common
from crossbridge.settings import Settings

VALIDATE_MODES = ("all", "sample", "none")


class FhirExportFailed(RuntimeError):
    """The export was written but does not pass the FHIR quality suite."""


def person_identity_sql(con: duckdb.DuckDBPyConnection) -> str | None:
    """Distinct (person_id, pseudonym) over every staged view with a ``person_key`` column."""
    from mappings.omop_cdm_v54.ids import person_id_sql

    views = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'main' "
        "AND table_name LIKE 'stg\\_%' ESCAPE '\\' AND column_name = 'person_key' ORDER BY 1").fetchall()]
    if not views:
        return None
    union = " UNION ".join(f'SELECT DISTINCT person_key FROM "{v}" WHERE person_key IS NOT NULL' for v in views)
    return f"SELECT {person_id_sql('person_key')} AS person_id, person_key AS pseudonym FROM ({union})"


def _validate(out: Path, site: str | None, mode: str) -> dict[str, Any] | None:
    if mode not in VALIDATE_MODES:
        raise ValueError(f"validate must be one of {', '.join(VALIDATE_MODES)}, got {mode!r}")
    if mode == "none":
        return None
    from validators.fhir_suite import CORE, validate_fhir_export

    result = validate_fhir_export(out, site=site or CORE, validate=mode)  # no site: FHIR core profiles
    d = result.to_dict()
    return {"outcome": d["outcome"], "validate": mode, "validated": d.get("validated_count"),
            "failed_checks": [{"check": r["check"], "resource_type": r["resource_type"],
                               "unexpected": r["unexpected_count"], "detail": r["detail"]}
                              for r in d["records"] if r["status"] not in ("passed", "not_applicable")]}


def export_run(run: Run, settings: Settings, site: str, progress: Callable[[str, int], None] | None = None
               ) -> dict[str, Any]:
    """Export a site run's OMOP tables to ``runs/<run_id>/fhir/`` and validate them."""
    from mappings.fhir_r4.context import prepare_context
    from mappings.fhir_r4.export import export_fhir
    from validators.fhir_round_trip import omop_fhir_round_trip

    out = run.path("fhir")
    con, vocab = common.open_work_db(run, settings)
    try:
        catalog = con.execute("SELECT current_database()").fetchall()[0][0]
        ctx = prepare_context(con, catalog=catalog, site=site, person_identity_sql=person_identity_sql(con))
        files = [f["file"] for f in run.stage_report("extract").get("files", [])]
        report = export_fhir(con, ctx, out, run_id=run.run_id, code_version=common.code_version(),
                             sources=files, progress=progress)
        round_trip = omop_fhir_round_trip(con, out).to_dict()
    finally:
        con.close()
    result = report.to_dict()
    result["round_trip"] = round_trip
    result["vocabulary_version"] = vocab.get("vocabulary_version")
    result["validation"] = _validate(out, site, settings.fhir_validate)
    return result


def export_omop(spec: str, out_dir: str | Path, *, site: str | None = None, validate: str = "sample",
                progress: Callable[[str, int], None] | None = None, tmp_dir: str | None = None) -> dict[str, Any]:
    """Export any OMOP CDM v5.4 database (``duckdb:`` / ``postgresql://`` / ``csv:``) to FHIR NDJSON."""
    from connectors.warehouse.omop_source import duckdb_view_of, open_omop_source
    from mappings.fhir_r4.context import prepare_context
    from mappings.fhir_r4.export import export_fhir
    from validators.fhir_round_trip import omop_fhir_round_trip

    with open_omop_source(spec, tmp_dir=tmp_dir) as source, duckdb_view_of(source, tmp_dir=tmp_dir) as view:
        con = view.con
        ctx = prepare_context(con, catalog=view.catalog, schema=view.schema, vocab_catalog=view.catalog,
                              vocab_schema=view.vocab_schema, site=site)
        report = export_fhir(con, ctx, out_dir, code_version=common.code_version(), sources=[source.label],
                             progress=progress)
        round_trip = omop_fhir_round_trip(con, out_dir, catalog=view.catalog, schema=view.schema).to_dict()
    result = report.to_dict()
    result["round_trip"] = round_trip
    result["source"] = source.label
    result["validation"] = _validate(Path(out_dir), site, validate)
    return result


__all__ = ["FhirExportFailed", "VALIDATE_MODES", "export_omop", "export_run"]
