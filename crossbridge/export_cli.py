"""``crossbridge export fhir``: FHIR R4 Bulk Data NDJSON from a site run or from any OMOP CDM v5.4 database.

    crossbridge export fhir --omop duckdb:PATH|postgresql://…[?schema=S&vocab_schema=V]|csv:DIR --out DIR
                            [--site taiwan|finland] [--validate all|sample|none] [--bundles [--bundle-size N]]
                            [--json REPORT.json]
    crossbridge export fhir --workdir W --site taiwan|finland [--run RUN_ID] [--validate ...] [--bundles]
                            (a hub run: the run's OMOP tables, pseudonyms and source files; default: the latest run)

Prints resources per type, what could not be expressed (rows and reason) and the validation
verdict.  Exit status: 0 written and valid, 1 written but the FHIR quality suite failed,
2 bad usage or unreadable source.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(sub) -> None:
    exp = sub.add_parser("export", help="export OMOP data as FHIR R4 (Bulk Data NDJSON, transaction Bundles)")
    esub = exp.add_subparsers(dest="export_command", required=True)
    fhir = esub.add_parser("fhir", help="OMOP CDM v5.4 -> FHIR R4 NDJSON (one file per resource type)")
    src = fhir.add_mutually_exclusive_group(required=True)
    src.add_argument("--omop", help="duckdb:PATH, postgresql://…[?schema=S&vocab_schema=V] or csv:DIR")
    src.add_argument("--workdir", type=Path, help="a hub work directory: export one of its site runs")
    fhir.add_argument("--run", help="run id (with --workdir; default: the site's latest run)")
    fhir.add_argument("--out", type=Path, help="output folder (default with --workdir: runs/<id>/fhir)")
    fhir.add_argument("--site", choices=("taiwan", "finland", "fhir", "hl7v2"),
                      help="national profiles and identifier systems; with --workdir the run's site (required; "
                           "the runs of inbound feeds, fhir and hl7v2, declare their feed_site's profiles)")
    fhir.add_argument("--validate", choices=("all", "sample", "none"), default="sample",
                      help="check the export with the FHIR quality suite: every resource, a sample, or not")
    fhir.add_argument("--bundles", action="store_true",
                      help="also write transaction Bundles with conditional creates (to <out>/bundles)")
    fhir.add_argument("--bundle-size", type=int, default=500, help="entries per Bundle (default 500)")
    fhir.add_argument("--json", type=Path, dest="json_out", help="write the export report here")


class ExportUsageError(ValueError):
    """Options that do not go together (reported with exit status 2)."""


def _progress(name: str, n: int) -> None:
    print(f"  {name:<42} {n:>10,} resources", file=sys.stderr, flush=True)


def cmd_export(args: argparse.Namespace) -> int:
    from connectors.warehouse.url import InvalidWarehouseUrl
    from mappings.fhir_r4.context import ExportSchemaError

    try:
        report = _export(args)
    except (InvalidWarehouseUrl, ExportSchemaError, ExportUsageError, FileNotFoundError) as exc:
        print(f"crossbridge export: error: {exc}", file=sys.stderr)
        return 2
    if args.bundles:
        from mappings.fhir_r4.bundles import write_bundles

        out = Path(report["out_dir"])
        report["bundles"] = write_bundles(out, out / "bundles", bundle_size=args.bundle_size).to_dict()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    _print(report)
    validation = report.get("validation")
    return 1 if validation and validation["outcome"] in ("failed", "error") else 0


def _export(args: argparse.Namespace) -> dict[str, Any]:
    from crossbridge.pipeline.fhir import export_omop, export_run

    if args.omop:
        if args.out is None:
            raise ExportUsageError("--out is required with --omop")
        if args.site in ("fhir", "hl7v2"):
            raise ExportUsageError(f"--site {args.site} names a run's feed; with --omop use taiwan or finland")
        return export_omop(args.omop, args.out, site=args.site, validate=args.validate, progress=_progress)
    from crossbridge.ledger import Run, latest_run
    from crossbridge.settings import load_settings

    if args.site is None:
        raise ExportUsageError("--site is required with --workdir")
    settings = load_settings({"workdir": args.workdir, "fhir_validate": args.validate})
    run = Run.open(settings.runs_dir, args.run) if args.run else latest_run(settings.runs_dir, args.site)
    if run is None:
        raise FileNotFoundError(f"no {args.site} run under {settings.runs_dir}")
    profile_site = args.site if args.site in ("taiwan", "finland") else (
        run.summary().get("settings", {}).get("feed_site") or None)
    report = export_run(run, settings, profile_site, progress=_progress)
    if args.out is not None and Path(report["out_dir"]) != args.out:
        import shutil

        if args.out.exists():
            shutil.rmtree(args.out)
        shutil.copytree(report["out_dir"], args.out)
        report["out_dir"] = str(args.out)
    return report


def _print(report: dict[str, Any]) -> None:
    print(f"FHIR R4 export: {report['out_dir']}  ({report['total']:,} resources, {report['seconds']} s, "
          f"{report.get('resources_per_second') or 0:,} resources/s)")
    for rtype, n in sorted(report["resources"].items()):
        print(f"  {rtype:<22} {n:>10,}")
    for table, t in report["tables"].items():
        for reason, n in t["not_exported"].items():
            print(f"  not exported: {table}: {n:,} rows ({reason})")
    for table, t in report["not_expressed"].items():
        print(f"  not expressed: {table}: {t['rows']:,} rows ({t['reason']})")
    for table, n in report["concepts_not_in_vocabulary"].items():
        print(f"  concept ids missing from the vocabulary: {table}: {n:,} rows (written with their source value)")
    v = report.get("validation")
    if v is None:
        print("  validation: not run (--validate none)")
    else:
        print(f"  validation ({v['validate']}, {v['validated']} resources checked with fhir.resources): {v['outcome']}")
        for f in v["failed_checks"]:
            print(f"    {f['check']} [{f['resource_type']}]: {f['detail']}")
    if "bundles" in report:
        b = report["bundles"]
        print(f"  transaction Bundles: {b.get('bundles')} in {b.get('out_dir')}")
