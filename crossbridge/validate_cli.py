"""``crossbridge validate``: quality checks on databases and exports the hub may not have written.

    crossbridge validate omop --omop duckdb:PATH|postgresql://…[?schema=S&vocab_schema=V]|csv:DIR
                              [--html OUT.html] [--json OUT.json] [--data-docs DIR] [--tables t1,t2]
                              [--include-vocabulary] [--thresholds FILE --site SITE]
    crossbridge validate fhir --in NDJSON_DIR [--site taiwan|finland] [--validate all|sample]
                              [--sample-size N] [--json OUT.json]

Exit status: 0 when no fatal check failed, 1 when one did (or errored), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub) -> None:
    val = sub.add_parser("validate", help="OMOP (DataQualityDashboard-grade) and FHIR quality checks")
    vsub = val.add_subparsers(dest="validate_command", required=True)

    omop = vsub.add_parser("omop", help="run the DQD-grade checks on any OMOP CDM v5.4 database")
    omop.add_argument("--omop", required=True,
                      help="duckdb:PATH, postgresql://…[?schema=S&vocab_schema=V] or csv:DIR")
    omop.add_argument("--html", type=Path, help="write the one-page quality summary here")
    omop.add_argument("--json", type=Path, dest="json_out", help="write every check result here")
    omop.add_argument("--data-docs", type=Path, help="a folder for a GX project with the Data Docs")
    omop.add_argument("--tables", help="comma-separated CDM tables (default: all but the vocabulary tables)")
    omop.add_argument("--include-vocabulary", action="store_true", help="also check the vocabulary tables")
    omop.add_argument("--thresholds", type=Path, help="TOML file of check thresholds (see validators/gate.py)")
    omop.add_argument("--site", default="all", help="section of the thresholds file to apply (default: [all])")
    omop.add_argument("--quiet", action="store_true", help="print only the verdict line")

    fhir = vsub.add_parser("fhir", help="check a FHIR R4 Bulk Data export (NDJSON per resource type)")
    fhir.add_argument("--in", dest="ndjson_dir", type=Path, required=True)
    fhir.add_argument("--site", choices=("taiwan", "finland"), help="expected national IG (default: detect)")
    fhir.add_argument("--validate", choices=("all", "sample"), default="all",
                      help="validate every resource with fhir.resources, or a deterministic sample")
    fhir.add_argument("--sample-size", type=int, default=1000)
    fhir.add_argument("--json", type=Path, dest="json_out")


def cmd_validate(args: argparse.Namespace) -> int:
    from connectors.warehouse.url import InvalidWarehouseUrl
    from validators.dqd.catalogue import CatalogueError
    from validators.fhir_flatten import FhirExportError
    from validators.gate import ThresholdsFileError

    try:
        return _omop(args) if args.validate_command == "omop" else _fhir(args)
    except (InvalidWarehouseUrl, ThresholdsFileError, CatalogueError, FhirExportError) as exc:
        print(f"crossbridge validate: error: {exc}", file=sys.stderr)
        return 2


def _omop(args: argparse.Namespace) -> int:
    from connectors.warehouse.omop_source import open_omop_source
    from validators.gate import load_thresholds
    from validators.gx_engine import open_session
    from validators.omop_run import validate_omop

    overrides = load_thresholds(args.thresholds, args.site) if args.thresholds else {}
    tables = [t.strip() for t in args.tables.split(",") if t.strip()] if args.tables else None
    with open_omop_source(args.omop) as src:
        session = open_session(src.database, project_dir=args.data_docs)
        try:
            kwargs: dict[str, Any] = {"exclude_tables": ()} if args.include_vocabulary else {}
            result = validate_omop(
                session, database_label=src.label, cdm_schema=src.schema, vocab_schema=src.vocab_schema,
                tables=tables, overrides=overrides, data_docs=args.data_docs is not None,
                progress=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)), **kwargs)
        finally:
            session.close()
    doc = result.quality_doc(run_id=None, site=args.site, thresholds=overrides)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    if args.html:
        from validators.quality_report import render_summary_html

        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_summary_html(doc, [], None, data_docs_href=result.data_docs), encoding="utf-8")
    if not args.quiet:
        print(format_omop_result(doc))
    else:
        print(_verdict(doc))
    return 1 if result.outcome == "failed" else 0


def _verdict(doc: dict[str, Any]) -> str:
    o = doc["overview"]
    return (f"{doc['database']}: quality {doc['outcome']} — {o['passed']} passed, {o['failed']} failed "
            f"({o['fatal_failed']} fatal), {o['not_applicable']} not applicable, {o['error']} errors "
            f"in {doc['seconds']:.1f} s")


def format_omop_result(doc: dict[str, Any]) -> str:
    """The verdict, then failed checks grouped by severity (fatal first)."""
    lines = [_verdict(doc)]
    order = {"fatal": 0, "convention": 1, "characterization": 2}
    bad = sorted((c for c in doc["checks"] if c["status"] in ("failed", "error")),
                 key=lambda c: (order.get(c["severity"], 3), c["check_id"]))
    for c in bad[:60]:
        if c["status"] == "error":
            lines.append(f"  {c['severity']:<16} ERROR  {c['check_id']}: {c['error']}")
        else:
            lines.append(f"  {c['severity']:<16} FAILED {c['check_id']}: {c['num_violated_rows']:,} of "
                         f"{c['num_denominator_rows']:,} rows ({c['pct_violated_rows'] * 100:.2f}% > "
                         f"{c['threshold_value']:g}%)")
    if len(bad) > 60:
        lines.append(f"  … and {len(bad) - 60} more (see --json)")
    if doc.get("data_docs"):
        lines.append(f"  Data Docs: {doc['data_docs']}")
    return "\n".join(lines)


def _fhir(args: argparse.Namespace) -> int:
    from validators.fhir_suite import validate_fhir_export

    report = validate_fhir_export(args.ndjson_dir, site=args.site, validate=args.validate,
                                  sample_size=args.sample_size)
    data = report.to_dict()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"{args.ndjson_dir}: FHIR quality {data.get('outcome')}")
    for c in data.get("checks", []):
        if c.get("status") != "passed":
            lines = f"  {c.get('status'):<7} {c.get('check')} {c.get('resource_type') or ''}: " \
                    f"{c.get('unexpected_count')} — {c.get('detail') or ''}"
            print(lines.rstrip())
    return 0 if data.get("outcome") != "failed" else 1
