"""``crossbridge terminology …``: the terminology service on the command line.

    crossbridge terminology build    [--workdir W] [--store OUT.duckdb] [--import FORMAT=PATH ...]
    crossbridge terminology coverage [--workdir W] [--sites taiwan,finland] [--top N] [--out DIR]

Commands that read the vocabulary take ``--store PATH`` (a store built by
``build``) or use the workdir's store (built on first use from the settings:
``CROSSBRIDGE_VOCABULARY_DIR`` or the demo vocabulary, plus the project's
local and Finnish vocabularies).

Exit status: 0 success, 1 nothing to report / a check failed, 2 bad usage, unknown code system or
malformed vocabulary file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SITES = ("taiwan", "finland")


def _sites(text: str) -> tuple[str, ...]:
    names = tuple(x.strip() for x in text.split(",") if x.strip())
    if not names or any(x not in SITES for x in names):
        raise argparse.ArgumentTypeError(f"sites must be among {SITES}, got {text!r}")
    return names


def add_parser(sub) -> None:
    term = sub.add_parser("terminology", help="vocabulary store, translation, concept sets, coverage, drift")
    tsub = term.add_subparsers(dest="term_command", required=True)

    def store_args(p) -> None:
        p.add_argument("--workdir", type=Path, help="work directory whose vocabulary store to use")
        p.add_argument("--store", type=Path, help="a vocabulary store (.duckdb) built by 'terminology build'")

    cov = tsub.add_parser("coverage", help="mapping coverage per site and vocabulary, top unmapped codes "
                          "(JSON and HTML)")
    store_args(cov)
    cov.add_argument("--sites", type=_sites, default=SITES)
    cov.add_argument("--top", type=int, default=20, help="unmapped codes listed per vocabulary (default 20)")
    cov.add_argument("--out", type=Path, help="folder for coverage.json and coverage.html "
                     "(default <workdir>/reports/terminology)")
    cov.add_argument("--json", action="store_true", help="print the JSON report on stdout")


def _settings(args):
    from crossbridge.settings import load_settings

    return load_settings({"workdir": args.workdir} if getattr(args, "workdir", None) else None)


def open_store(args):
    """A read-only connection to ``--store`` or the workdir's vocabulary store (built if missing)."""
    import duckdb

    from crossbridge.pipeline.common import ensure_vocabulary
    from terminology.source_to_standard import create_view

    if getattr(args, "store", None):
        if not args.store.is_file():
            raise FileNotFoundError(f"vocabulary store {args.store} does not exist (build one with "
                                    f"'crossbridge terminology build --store {args.store}')")
        path = args.store
    else:
        path, _ = ensure_vocabulary(_settings(args))
    con = duckdb.connect(str(path), read_only=True)
    try:
        con.execute("SELECT 1 FROM source_to_standard LIMIT 0")
    except duckdb.Error:
        con.close()
        con = duckdb.connect()
        con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
        con.execute("USE store")
        create_view(con)
    return con


def _latest_with_usage(runs_dir: Path, site: str):
    from crossbridge.ledger import Run

    if not runs_dir.is_dir():
        return None
    for run_id in sorted((p.name for p in runs_dir.iterdir() if p.is_dir() and f"-{site}-" in p.name),
                         reverse=True):
        run = Run(runs_dir, run_id)
        if run.path("omop.duckdb").is_file() and run.path("stages", "map.json").is_file():
            return run
    return None


def cmd_coverage(args) -> int:
    import duckdb

    from terminology.coverage import coverage_html, coverage_report

    settings = _settings(args)
    usage, runs = {}, {}
    for site in args.sites:
        run = _latest_with_usage(settings.runs_dir, site)
        if run is None:
            print(f"crossbridge: {site}: no run with a mapped work database under {settings.runs_dir}",
                  file=sys.stderr)
            continue
        with duckdb.connect(str(run.path("omop.duckdb")), read_only=True) as con:
            usage[site] = con.sql("SELECT * FROM code_usage").to_arrow_table()
        s = run.summary()
        runs[site] = {"run_id": run.run_id, "finished": s.get("finished"), "state": s.get("state"),
                      "summary": str(run.summary_path)}
    if not usage:
        print("crossbridge: error: no site has a run to report on; run 'crossbridge run SITE' first",
              file=sys.stderr)
        return 1
    con = open_store(args)
    try:
        report = coverage_report(con, usage, top=args.top, runs=runs)
    finally:
        con.close()
    out = args.out or settings.workdir / "reports" / "terminology"
    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "coverage.html").write_text(coverage_html(report), encoding="utf-8")
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0
    for site, entry in report["sites"].items():
        print(f"{site} (run {runs[site]['run_id']}): {entry['record_share']:.1%} of "
              f"{entry['records']:,} coded records mapped")
        for vocab, v in entry["vocabularies"].items():
            worst = ", ".join(f"{u['code']} ({u['records']:,})" for u in v["top_unmapped"][:3])
            print(f"  {vocab:<20} records {v['record_share']:7.1%}  codes {v['codes_mapped']:>6,}/{v['codes']:<6,}"
                  + (f"  top unmapped: {worst}" if worst else ""))
    print(f"report: {out / 'coverage.json'}\n        {out / 'coverage.html'}")
    return 0


HANDLERS: dict[str, Any] = {"coverage": cmd_coverage}


def cmd_terminology(args) -> int:
    from terminology.errors import UnknownCodeSystem, VocabularyFormatError

    try:
        return HANDLERS[args.term_command](args)
    except (UnknownCodeSystem, VocabularyFormatError, FileNotFoundError) as exc:
        print(f"crossbridge: error: {exc}", file=sys.stderr)
        return 2
