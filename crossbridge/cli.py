"""``crossbridge`` command-line tool.

    crossbridge synth taiwan --persons N --years Y1-Y2 --seed S --out DIR [--encoding cp950|utf-8] [--defect-rate R]
    crossbridge synth finland --persons N --years Y1-Y2 --seed S --out DIR [--layout registers|finngen|both]
                              [--defect-rate R]
    crossbridge synth hl7v2 --messages N --out DIR [--feed-site taiwan|finland] [--seed S] [--defect-rate R]
    crossbridge run taiwan|finland --landing DIR --workdir W [--warehouse URL] [--no-airflow] [--demo-secret]
    crossbridge ingest fhir|hl7v2 --in DIR --workdir W [--site taiwan|finland] [--timezone ZONE]
                              [--warehouse URL] [--no-airflow] [--demo-secret]
    crossbridge summary --workdir W [--site taiwan|finland|fhir|hl7v2] [--run RUN_ID] [--json]
    crossbridge demo [--workdir W] [--persons N] [--years Y1-Y2] [--sites taiwan,finland]
    crossbridge terminology build|translate|concept-set|search|coverage|diff|export|import|review …
                            (see crossbridge/terminology_cli.py)
    crossbridge validate omop --omop duckdb:PATH|postgresql://…|csv:DIR [--html OUT] [--json OUT]
    crossbridge validate fhir --in NDJSON_DIR   (see crossbridge/validate_cli.py)
    crossbridge release build|publish|verify|links …   (see crossbridge/release_cli.py)

Exit status: 0 success, 1 the run failed or did not reconcile, 2 bad usage or settings.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from crossbridge.ledger import LedgerError, Run, latest_run, new_run_id
from crossbridge.settings import SettingsError, load_settings

SITES = ("taiwan", "finland")
FEEDS = ("fhir", "hl7v2")  # inbound feeds: their runs are ledger "sites" of their own
DAG_IDS = {"taiwan": "tw_nhird_to_omop", "finland": "fi_registers_to_omop", "fhir": "fhir_to_omop",
           "hl7v2": "hl7v2_to_omop"}
PIPELINE_MODULES = {"taiwan": "taiwan", "finland": "finland", "fhir": "fhir_feed", "hl7v2": "hl7v2"}


def _years(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split("-", 1)) if "-" in text else (int(text), int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"years must look like 2014-2017, got {text!r}") from None
    if not (1900 < a <= b < 2100):
        raise argparse.ArgumentTypeError(f"implausible year range {text!r}")
    return a, b


def _rate(text: str) -> float:
    v = float(text)
    if not 0.0 <= v <= 0.5:
        raise argparse.ArgumentTypeError("defect rate must be between 0 and 0.5")
    return v


def _sites(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [x for x in names if x not in SITES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"sites must be among {SITES}, got {text!r}")
    return names


def _progress(stream=sys.stderr, every: float = 5.0):
    """A progress callback that prints at most one line every ``every`` seconds."""
    last = [time.monotonic()]

    def report(what: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            suffix = f"/{total:,}" if total else ""
            print(f"  … {what}: {done:,}{suffix}", file=stream, flush=True)

    return report


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="crossbridge", description="Crossbridge health-data exchange hub")
    sub = p.add_subparsers(dest="command", required=True)

    synth = sub.add_parser("synth", help="generate synthetic source extracts")
    synth.add_argument("site", choices=(*SITES, "hl7v2"))
    synth.add_argument("--persons", type=int, help="registry sites (required)")
    synth.add_argument("--years", type=_years, help="registry sites (required), e.g. 2014-2017")
    synth.add_argument("--messages", type=int, help="hl7v2 (required): messages to write")
    synth.add_argument("--feed-site", choices=SITES, default="taiwan",
                       help="hl7v2: whose national identifiers, names and character sets")
    synth.add_argument("--seed", type=int, default=1)
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--encoding", choices=["cp950", "utf-8"], default="cp950", help="Taiwan only")
    synth.add_argument("--layout", choices=["registers", "finngen", "both"], default="registers",
                       help="Finland only: register extracts, a FinnGen longitudinal file, or both")
    synth.add_argument("--defect-rate", type=_rate, default=0.0)

    run = sub.add_parser("run", help="run a site pipeline (the Airflow DAG, in-process by default)")
    run.add_argument("site", choices=SITES)
    run.add_argument("--landing", help="landing directory, or s3://BUCKET/PREFIX (fetched into the run folder)")
    run.add_argument("--workdir", type=Path)
    run.add_argument("--warehouse", help="duckdb:PATH or postgresql://user@host:port/db[?schema=S]")
    run.add_argument("--vocabulary", type=Path, help="an Athena download (default: demo vocabulary)")
    run.add_argument("--encoding", help="raw-file encoding of the Taiwan files (default cp950; Finnish files "
                     "declare their own: Latin-1 registers, UTF-8 FinnGen)")
    run.add_argument("--partitions", type=int,
                     help="split the persons into N hash partitions, OMOP built per partition (default: setting "
                          "partitions, 1)")
    run.add_argument("--no-airflow", action="store_true", help="call the stages directly, without Airflow")
    run.add_argument("--demo-secret", action="store_true",
                     help="without CROSSBRIDGE_SITE_SECRET, use a random secret kept in the workdir")

    summ = sub.add_parser("summary", help="print a run's summary")
    summ.add_argument("--workdir", type=Path)
    summ.add_argument("--site", choices=(*SITES, *FEEDS), default="taiwan")
    summ.add_argument("--run", dest="run_id")
    summ.add_argument("--json", action="store_true")

    ingest = sub.add_parser("ingest", help="run an inbound feed (FHIR R4 or HL7 v2) to OMOP, like a site")
    ingest.add_argument("feed", choices=FEEDS)
    ingest.add_argument("--in", dest="landing", type=Path, required=True,
                        help="folder of .ndjson/.json (fhir) or .hl7/.er7/.mllp files (hl7v2)")
    ingest.add_argument("--workdir", type=Path)
    ingest.add_argument("--site", dest="feed_site", choices=SITES,
                        help="whose national identifiers and pseudonyms the feed carries (default: none)")
    ingest.add_argument("--timezone", dest="feed_timezone",
                        help="hl7v2: IANA zone of date-times without offset (default: the site's, else UTC)")
    ingest.add_argument("--warehouse", help="duckdb:PATH or postgresql://... (default <workdir>/warehouse/<feed>.duckdb)")
    ingest.add_argument("--vocabulary", type=Path, help="an Athena download (default: demo vocabulary)")
    ingest.add_argument("--no-airflow", action="store_true", help="call the stages directly, without Airflow")
    ingest.add_argument("--demo-secret", action="store_true",
                        help="without CROSSBRIDGE_SITE_SECRET, use a random secret kept in the workdir")

    demo = sub.add_parser("demo", help="generate a small dataset and run every site end to end")
    demo.add_argument("--workdir", type=Path, default=Path("work/demo"))
    demo.add_argument("--persons", type=int, default=2000)
    demo.add_argument("--years", type=_years, default=(2014, 2017))
    demo.add_argument("--sites", type=_sites, default=SITES, help="comma-separated, default taiwan,finland")
    demo.add_argument("--seed", type=int, default=2026)
    demo.add_argument("--defect-rate", type=_rate, default=0.01)
    demo.add_argument("--no-airflow", action="store_true")

    from crossbridge import terminology_cli

    terminology_cli.add_parser(sub)
    from crossbridge import validate_cli

    validate_cli.add_parser(sub)
    from crossbridge import export_cli

    export_cli.add_parser(sub)
    from crossbridge import release_cli

    release_cli.add_parser(sub)
    from crossbridge import study_cli

    study_cli.add_parser(sub)
    return p


def _generate(site: str, out: Path, persons: int, years: tuple[int, int], seed: int, defect_rate: float,
              encoding: str = "cp950", layout: str = "registers"):
    if site == "finland":
        from crossbridge.synth.finland import generate_finland

        return generate_finland(out, persons=persons, years=years, seed=seed, defect_rate=defect_rate, layout=layout)
    from crossbridge.synth.taiwan import generate_taiwan

    return generate_taiwan(out, persons=persons, years=years, seed=seed, encoding=encoding,
                           defect_rate=defect_rate, progress=_progress())


def cmd_synth(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    if args.site == "hl7v2":
        return _synth_hl7v2(args, t0)
    if args.persons is None or args.years is None:
        raise SettingsError(f"synth {args.site} needs --persons and --years")
    rep = _generate(args.site, args.out, args.persons, args.years, args.seed, args.defect_rate,
                    encoding=args.encoding, layout=args.layout)
    rows = sum(rep.files.values())
    print(f"wrote {len(rep.files)} files, {rows:,} rows, {rep.defects:,} injected defects "
          f"to {args.out} in {time.perf_counter() - t0:.1f} s")
    if args.defect_rate:
        print(f"ground truth: {args.out / '_ground_truth' / 'defects.csv'}")
    return 0


def _synth_hl7v2(args: argparse.Namespace, t0: float) -> int:
    from crossbridge.synth.hl7v2 import generate_hl7v2

    if args.messages is None:
        raise SettingsError("synth hl7v2 needs --messages")
    rep = generate_hl7v2(args.out, messages=args.messages, seed=args.seed, site=args.feed_site,
                         defect_rate=args.defect_rate)
    exp = rep.expected
    print(f"wrote {len(rep.files)} HL7 v2 files, {exp['messages_in']:,} messages "
          f"({exp['mapped']:,} should map, {sum(exp['quarantined'].values()):,} injected defects) to {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    return 0


def _run_site(site: str, settings_overrides: dict[str, Any], no_airflow: bool) -> Run:
    settings = load_settings(settings_overrides)
    settings.require_secret()
    if no_airflow:
        import importlib

        module = importlib.import_module(f"crossbridge.pipeline.{PIPELINE_MODULES[site]}")
        return module.run_all(settings, progress=_progress())
    from connectors.landing import is_remote
    from crossbridge.airflow_runner import run_dag

    run_id = new_run_id(site)
    conf = {
        "landing": settings.landing if is_remote(settings.landing) else str(Path(settings.landing).resolve()),
        "workdir": str(settings.workdir.resolve()),
        "warehouse": settings.warehouse,
        "demo_secret": settings.allow_demo_secret,
        "partitions": settings.partitions,
        "run_id": run_id,
        **({"feed_site": settings.feed_site, "feed_timezone": settings.feed_timezone} if site in FEEDS else {}),
    }
    run_dag(DAG_IDS[site], conf, settings.workdir / "airflow")
    return Run.open(settings.runs_dir.resolve(), run_id)


def cmd_run(args: argparse.Namespace) -> int:
    overrides = {
        "landing": str(args.landing) if args.landing else None,
        "workdir": args.workdir,
        "warehouse": args.warehouse,
        "vocabulary_dir": str(args.vocabulary) if args.vocabulary else None,
        "encoding": args.encoding,
        "partitions": args.partitions,
    }
    if args.demo_secret:
        overrides["allow_demo_secret"] = True
    return _run_and_report(args.site, overrides, args.no_airflow)


def _run_and_report(site: str, overrides: dict[str, Any], no_airflow: bool) -> int:
    """Run a site or feed pipeline, print its summary; 0 when it reconciled and the quality did not fail."""
    run = _run_site(site, overrides, no_airflow)
    summary = run.summary()
    print(format_summary(summary, run))
    return 0 if summary.get("reconciled") and summary["quality"]["outcome"] != "failed" else 1


def cmd_ingest(args: argparse.Namespace) -> int:
    overrides = {
        "landing": str(args.landing),
        "workdir": args.workdir,
        "warehouse": args.warehouse,
        "vocabulary_dir": str(args.vocabulary) if args.vocabulary else None,
        "feed_site": args.feed_site,
        "feed_timezone": args.feed_timezone,
    }
    if args.demo_secret:
        overrides["allow_demo_secret"] = True
    return _run_and_report(args.feed, overrides, args.no_airflow)


def cmd_summary(args: argparse.Namespace) -> int:
    settings = load_settings({"workdir": args.workdir})
    run = Run.open(settings.runs_dir, args.run_id) if args.run_id else latest_run(settings.runs_dir, args.site)
    if run is None:
        raise LedgerError(f"no {args.site} run under {settings.runs_dir}")
    summary = run.summary()
    print(json.dumps(summary, indent=2, ensure_ascii=False) if args.json else format_summary(summary, run))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    t0 = time.perf_counter()
    runs: list[tuple[str, Run, dict[str, Any], Path]] = []
    for site in args.sites:
        landing = workdir / "landing" / site
        gt = landing / "_ground_truth"
        if not ((gt / "manifest.json").exists() or (gt / "summary.json").exists()):  # written last by each generator
            print(f"Generating synthetic {site.capitalize()} extracts ({args.persons:,} persons, "
                  f"{args.years[0]}-{args.years[1]}) in {landing} …", flush=True)
            _generate(site, landing, args.persons, args.years, args.seed, args.defect_rate)
        print(f"Running the {site.capitalize()} pipeline"
              + (" (stages in-process)" if args.no_airflow else f" (Airflow DAG {DAG_IDS[site]}, in-process)")
              + " …", flush=True)
        run = _run_site(site, {"landing": str(landing), "workdir": workdir, "allow_demo_secret": True},
                        args.no_airflow)
        runs.append((site, run, run.summary(), landing))
    for site, run, summary, _ in runs:
        print()
        print(format_summary(summary, run))
    if len(runs) > 1:
        print()
        print(format_side_by_side([(site, summary) for site, _, summary, _ in runs]))
    print()
    report = _demo_study(workdir, [(site, summary) for site, _, summary, _ in runs])
    print(f"\nDemo finished in {time.perf_counter() - t0:.0f} s.")
    for site, run, summary, landing in runs:
        print(f"  {site}:")
        print(f"    run folder:   {run.dir}")
        print(f"    summary:      {run.summary_path}")
        print(f"    warehouse:    {summary.get('warehouse')}")
        print(f"    quarantine:   {run.path('staging', 'quarantine')}")
        validation = summary.get("quality", {}).get("validation")
        if validation:
            print(f"    quality:      {validation['report']}")
            if validation.get("data_docs"):
                print(f"    GX Data Docs: {validation['data_docs']}")
        fhir = summary.get("fhir")
        if fhir:
            print(f"    FHIR R4:      {fhir['dir']} ({fhir['total']:,} resources, "
                  f"validation {fhir['validation']['outcome'] if fhir['validation'] else 'not run'})")
        print(f"    ground truth: {landing / '_ground_truth' / 'defects.csv'}")
    from crossbridge.terminology_cli import write_coverage_report

    cov = write_coverage_report(args.workdir, tuple(site for site, _, _, _ in runs))
    if cov is not None:
        print(f"  mapping coverage: {cov / 'coverage.html'} (and coverage.json)")
    ok = all(s.get("reconciled") and s["quality"]["outcome"] != "failed" for _, _, s, _ in runs)
    if report is not None:
        print(f"  cross-border study report: {report}")
    return 0 if ok else 1


DEMO_STUDY = Path(__file__).resolve().parents[1] / "studies" / "examples" / "t2d_metformin.yml"


def _demo_study(workdir: Path, runs: list[tuple[str, dict[str, Any]]]) -> Path | None:
    """The example study (type 2 diabetes incidence, metformin use) at every demo site, then compared."""
    from crossbridge.pipeline.study import compare_studies, run_study

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    folders = []
    for site, summary in runs:
        warehouse = summary.get("warehouse")
        if not warehouse:
            continue
        out = workdir / "studies" / stamp / site
        print(f"Running the example study at {site} ({DEMO_STUDY.name}) …", flush=True)
        run = run_study(DEMO_STUDY, warehouse, out, site=site)
        print(f"  {site}: package {run.out} (threshold {run.threshold})")
        folders.append(run.out)
    if not folders:
        return None
    return compare_studies(folders, workdir / "studies" / stamp / "report")


def format_side_by_side(summaries: list[tuple[str, dict[str, Any]]]) -> str:
    """Rows per OMOP table, source rows, quarantine and time of several site runs, side by side."""
    width = 14
    head = f"  {'':<24}" + "".join(f"{site:>{width}}" for site, _ in summaries)
    lines = ["Sites side by side", head]

    def row(label: str, values: list[str]) -> None:
        lines.append(f"  {label:<24}" + "".join(f"{v:>{width}}" for v in values))

    def ok(s: dict[str, Any]) -> bool:
        return s.get("state") == "succeeded"

    row("state", [s.get("state", "?") for _, s in summaries])
    row("reconciled", [str(s.get("reconciled")).lower() for _, s in summaries])
    row("quality", [s.get("quality", {}).get("outcome", "-") for _, s in summaries])
    row("source rows", [f"{sum(s['rows_in'].values()):,}" if ok(s) else "-" for _, s in summaries])
    row("quarantined", [
        f"{sum(sum(v.values()) for v in s['rows_quarantined'].values()):,}" if ok(s) else "-" for _, s in summaries
    ])
    row("seconds", [f"{sum(v or 0 for v in s['stage_seconds'].values()):.1f}" if ok(s) else "-" for _, s in summaries])
    tables = sorted({t for _, s in summaries if ok(s) for t in s["rows_out"]})
    for t in tables:
        row(t, [f"{s['rows_out'].get(t, 0):,}" if ok(s) else "-" for _, s in summaries])
    return "\n".join(lines)


def format_summary(s: dict[str, Any], run: Run | None = None) -> str:
    lines = [f"Run {s['run_id']} ({s['site']}): {s['state']}, quality {s.get('quality', {}).get('outcome')}, "
             f"reconciled: {str(s.get('reconciled')).lower()}"]
    if s.get("state") != "succeeded":
        for name, st in s.get("stages", {}).items():
            if st.get("state") == "failed":
                lines.append(f"  stage {name} failed: {st.get('error')}")
        lines.extend(format_validation(s.get("quality", {}).get("validation")))
        return "\n".join(lines)
    m = s.get("messages")
    if m:
        lines.append(f"  HL7 v2 messages {m['messages_in']:,} in {len(s['rows_in'])} files: mapped {m['mapped']:,}, "
                     f"quarantined {m['quarantined_total']:,}"
                     + (f" ({', '.join(f'{r} {n:,}' for r, n in m['quarantined'].items())})" if m["quarantined"] else "")
                     + f"; {sum(m.get('resources', {}).values()):,} FHIR resources made, "
                       f"{m.get('merges', 0):,} merges")
    rows_in = sum(s.get("rows_in_derived", s["rows_in"]).values())
    quarantined = sum(sum(v.values()) for k, v in s["rows_quarantined"].items()
                      if k in s.get("rows_in_derived", s["rows_in"]))
    merged = sum(sum(v.values()) for v in s.get("rows_merged", {}).values())
    total_s = sum(v or 0 for v in s["stage_seconds"].values())
    lines.append(f"  {'FHIR resources from the messages' if m else 'source rows'} {rows_in:,} in "
                 f"{len(s.get('rows_in_derived', s['rows_in']))} files; quarantined {quarantined:,}; "
                 f"merged {merged:,}; {total_s:.1f} s "
                 f"({', '.join(f'{k} {v:.1f}s' for k, v in s['stage_seconds'].items() if v is not None)})")
    lines.append("")
    lines.append(f"  {'OMOP table':<24}{'rows':>12}")
    for t, n in sorted(s["rows_out"].items()):
        lines.append(f"  {t:<24}{n:>12,}")
    lines.append("")
    lines.append(f"  {'source vocabulary':<20}{'records':>10}{'mapped':>9}{'codes':>8}{'mapped':>9}")
    for v, c in sorted(s["coverage"].items()):
        rs = f"{c['record_share']:.1%}" if c["record_share"] is not None else "-"
        cs = f"{c['code_share']:.1%}" if c["code_share"] is not None else "-"
        lines.append(f"  {v:<20}{c['records']:>10,}{rs:>9}{c['codes']:>8,}{cs:>9}")
    reasons: dict[str, int] = {}
    for per in s["rows_quarantined"].values():
        for r, n in per.items():
            reasons[r] = reasons.get(r, 0) + n
    if reasons:
        lines.append("")
        lines.append("  quarantined by reason: " + ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items())))
    for c in s["quality"]["checks"]:
        if c["status"] != "passed":
            lines.append(f"  quality {c['status']}: {c['check']}: {c['detail']}")
    lines.extend(format_validation(s["quality"].get("validation")))
    for p in s.get("reconciliation_problems", [])[:10]:
        lines.append(f"  NOT RECONCILED: {p}")
    if s.get("unrecognised_files"):
        lines.append(f"  unrecognised files in landing (not read): {[f['file'] for f in s['unrecognised_files']]}")
    return "\n".join(lines)


def format_validation(v: dict[str, Any] | None) -> list[str]:
    """Lines on the validate stage's outcome (GX suites and DQD-grade checks)."""
    if not v:
        return []
    o = v["overview"]
    return [
        f"  quality checks (DQD-grade): {o['passed']} passed, {o['failed']} failed ({o['fatal_failed']} fatal), "
        f"{o['not_applicable']} not applicable, {o['error']} errors; staging expectations "
        f"{v['staging']['expectations']} ({v['staging']['failed']} failed); {v['seconds']:.1f} s",
        f"  quality report: {v['report']}",
    ] + ([f"  GX Data Docs:   {v['data_docs']}"] if v.get("data_docs") else [])


def _silence_stderr_at_exit() -> None:
    """With duckdb-engine and Great Expectations both imported, DuckDB's bindings (nanobind)
    report 'leaked' objects on stderr while the interpreter shuts down, after every command
    that validated.  The report comes after all our work and says nothing about the data;
    registered first, this handler runs last among the exit handlers and closes stderr
    just before that shutdown."""
    import atexit
    import os

    def close_stderr() -> None:
        sys.stderr.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)

    atexit.register(close_stderr)


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the `crossbridge` process itself, not a caller inside Python
        _silence_stderr_at_exit()
    args = build_parser().parse_args(argv)
    from crossbridge.terminology_cli import cmd_terminology
    from crossbridge.export_cli import cmd_export
    from crossbridge.release_cli import cmd_release
    from crossbridge.study_cli import cmd_study
    from crossbridge.validate_cli import cmd_validate

    handlers = {"synth": cmd_synth, "run": cmd_run, "ingest": cmd_ingest, "summary": cmd_summary, "demo": cmd_demo,
                "terminology": cmd_terminology, "validate": cmd_validate, "export": cmd_export,
                "release": cmd_release, "study": cmd_study}
    try:
        return handlers[args.command](args)
    except (SettingsError, LedgerError) as exc:
        print(f"crossbridge: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
