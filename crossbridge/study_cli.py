"""``crossbridge study``: check, run and compare cross-border studies (docs/studies.md).

    crossbridge study check   --spec STUDY.yml [--omop URL] [--site NAME]
    crossbridge study run     --spec STUDY.yml --omop duckdb:PATH|postgresql://…|csv:DIR --out DIR [--site NAME]
    crossbridge study compare RESULT_DIR RESULT_DIR… --out REPORT_DIR
    crossbridge study feasibility --omop URL [--condition SYSTEM:CODE,…] [--specimen SYSTEM:CODE,…]
                                  [--consent required|any] [--jurisdiction J] [--by-sex] [--json]

Exit status: 0 done; 1 the run or comparison failed on the data (a package that does not
match its manifest, a database without the tables a study needs); 2 the specification or
the command line is wrong (the message names the field at fault).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def add_parser(sub) -> None:
    st = sub.add_parser("study", help="cross-border studies: check a specification, run it at a site, compare sites")
    ssub = st.add_subparsers(dest="study_command", required=True)
    c = ssub.add_parser("check", help="validate a study file (and, with --omop, its concept sets) without running it")
    c.add_argument("--spec", type=Path, required=True)
    c.add_argument("--omop", help="resolve the concept sets in this database's vocabulary")
    c.add_argument("--site", help="the site checking (default: the study's only site)")
    r = ssub.add_parser("run", help="run a study on an OMOP CDM and write the aggregate package")
    r.add_argument("--spec", type=Path, required=True)
    r.add_argument("--omop", required=True, help="duckdb:PATH, postgresql://…[?schema=S&vocab_schema=V] or csv:DIR")
    r.add_argument("--out", type=Path, required=True, help="package folder (must not exist or be empty)")
    r.add_argument("--site", help="the site running it (default: the study's only site)")
    r.add_argument("--json", action="store_true", help="print the package's study.json")
    cmp_ = ssub.add_parser("compare", help="side-by-side report (HTML + PNG) of the sites' packages")
    cmp_.add_argument("results", nargs="+", type=Path, help="package folders written by `study run`")
    cmp_.add_argument("--out", type=Path, required=True, help="report folder")
    f = ssub.add_parser("feasibility", help="planning count: consented persons with a diagnosis and a biobank sample")
    f.add_argument("--omop", required=True, help="duckdb:PATH, postgresql://… or csv:DIR")
    f.add_argument("--condition", type=_codes, help="SYSTEM:CODE[,CODE…], e.g. ICD10CM:E11%% (descendants included)")
    f.add_argument("--specimen", type=_codes, help="SYSTEM:CODE[,CODE…], e.g. standard:119297000 (no descendants)")
    f.add_argument("--consent", choices=("required", "any"), default="required")
    f.add_argument("--jurisdiction", default="ohdsi", help="whose small-cell threshold applies (default ohdsi)")
    f.add_argument("--threshold", type=int, help="a stricter threshold than the jurisdiction's")
    f.add_argument("--by-sex", action="store_true")
    f.add_argument("--json", action="store_true")


def _codes(text: str) -> tuple[str, list[str]]:
    system, sep, codes = text.partition(":")
    values = [c.strip() for c in codes.split(",") if c.strip()]
    if not sep or not system.strip() or not values:
        raise argparse.ArgumentTypeError(f"expected SYSTEM:CODE[,CODE…], got {text!r}")
    return system.strip(), values


def cmd_study(args: argparse.Namespace) -> int:
    from connectors.warehouse.url import InvalidWarehouseUrl
    from crossbridge.pipeline.study import StudyRunError
    from studies.database import StudyDatabaseError
    from studies.spec import StudySpecError

    handlers = {"check": _check, "run": _run, "compare": _compare, "feasibility": _feasibility}
    try:
        return handlers[args.study_command](args)
    except (StudySpecError, StudyRunError, InvalidWarehouseUrl, StudyUsage) as exc:
        print(f"crossbridge study: error: {exc}", file=sys.stderr)
        return 2
    except StudyDatabaseError as exc:
        print(f"crossbridge study: error: {exc}", file=sys.stderr)
        return 1


def _check(args: argparse.Namespace) -> int:
    from crossbridge.pipeline.study import check_study

    result = check_study(args.spec, args.omop, args.site)
    print(json.dumps(result, indent=2))
    print(f"{args.spec}: OK ({len(result['measures'])} measures, threshold {result['threshold']} at "
          f"{result['site']})", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace) -> int:
    from crossbridge.pipeline.study import run_study

    t0 = time.perf_counter()
    run = run_study(args.spec, args.omop, args.out, site=args.site,
                    progress=lambda msg: print(f"[{time.perf_counter() - t0:6.1f} s] {msg}", file=sys.stderr))
    if args.json:
        print(json.dumps(run.summary, indent=2))
    else:
        print(f"Study {run.study.study_id} at {run.site} (threshold {run.threshold}): {run.out}")
        for m in run.summary["measures"]:
            print(f"  {m['name']:<28} {m['type']:<17} {m['rows']:>5} rows  {m['file']}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from crossbridge.pipeline.study import compare_studies
    from studies.compare import CompareError

    try:
        index = compare_studies(list(args.results), args.out)
    except CompareError as exc:
        print(f"crossbridge study compare: error: {exc}", file=sys.stderr)
        return 1
    print(f"Comparison report: {index}")
    return 0


def _feasibility(args: argparse.Namespace) -> int:
    from crossbridge.pipeline.study import feasibility_count

    if args.condition is None and args.specimen is None:
        raise StudyUsage("give --condition, --specimen or both")
    result = feasibility_count(args.omop, condition=args.condition, specimen=args.specimen, consent=args.consent,
                               jurisdiction=args.jurisdiction, threshold=args.threshold, by_sex=args.by_sex)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    what = " and ".join(f"{k} {v[0]}:{','.join(v[1])}" for k, v in (("diagnosis", args.condition),
                                                                 ("sample", args.specimen)) if v)
    print(f"{result['omop']}: {'consented ' if args.consent == 'required' else ''}persons with {what}")
    for row in result["rows"]:
        label = row.get("sex", "all")
        n = row["persons"]
        print(f"  {label:<8} {'<' + str(result['threshold']) if n is None else f'{n:,}'}")
    return 0


class StudyUsage(ValueError):
    """The command line does not say what to count."""


__all__ = ["add_parser", "cmd_study"]
