"""``crossbridge terminology …``: the terminology service on the command line.

    crossbridge terminology build    [--workdir W] [--vocabulary DIR] [--store OUT.duckdb] [--import FORMAT=PATH ...]
    crossbridge terminology coverage [--workdir W] [--sites taiwan,finland] [--top N] [--out DIR]
    crossbridge terminology translate --system SYS --code CODE [--to standard|SYS2] [--date D] [--json|--fhir]
    crossbridge terminology concept-set --system SYS --code E11% [--code ...] [--to SYS|SITE ...] [--no-descendants]
                                        [--date D] [--json OUT]
    crossbridge terminology search TEXT [--language en|zh-TW|fi] [--vocabulary V] [--standard] [--limit N]
    crossbridge terminology export --format athena|stcm|usagi|fhir-codesystem|fhir-conceptmap
                                   [--vocabulary-id V ...] [--target standard|V] --out PATH
    crossbridge terminology review-export --vocabulary-id V [--sites S] [--candidates 3] --out FILE.usagi.csv
    crossbridge terminology review-import FILE --vocabulary-id V [--base USAGI] [--out MERGED] [--offset N]
    crossbridge terminology diff OLD NEW [--warehouse duckdb:PATH | --site S --workdir W] [--json OUT]

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
EXPORT_FORMATS = ("athena", "stcm", "usagi", "fhir-codesystem", "fhir-conceptmap")


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

    build = tsub.add_parser("build", help="build (or rebuild) a vocabulary store: an Athena download plus the "
                            "project's vocabularies plus imports, all-or-nothing")
    build.add_argument("--workdir", type=Path)
    build.add_argument("--vocabulary", type=Path, help="an Athena download (default: setting or demo vocabulary)")
    build.add_argument("--import", dest="imports", action="append", default=[], metavar="FORMAT=PATH[?k=v]",
                       help="add a file to the store (repeatable): athena, usagi, fhir-codesystem, "
                       "fhir-conceptmap, stcm, names; see terminology/imports.py")
    build.add_argument("--store", type=Path, help="write the store here instead of the workdir's cache")

    cov = tsub.add_parser("coverage", help="mapping coverage per site and vocabulary, top unmapped codes "
                          "(JSON and HTML)")
    store_args(cov)
    cov.add_argument("--sites", type=_sites, default=SITES)
    cov.add_argument("--top", type=int, default=20, help="unmapped codes listed per vocabulary (default 20)")
    cov.add_argument("--out", type=Path, help="folder for coverage.json and coverage.html "
                     "(default <workdir>/reports/terminology)")
    cov.add_argument("--json", action="store_true", help="print the JSON report on stdout")

    tr = tsub.add_parser("translate", help="translate a code (FHIR ConceptMap/$translate semantics)")
    store_args(tr)
    tr.add_argument("--system", required=True, help="vocabulary id, alias (icd-10-cm-tw, icd10fi) or FHIR URI")
    tr.add_argument("--code", required=True)
    tr.add_argument("--to", dest="target", default="standard", help="'standard' (default) or another system")
    tr.add_argument("--date", help="event date YYYY-MM-DD: only codes and mappings valid then")
    fmt = tr.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--fhir", action="store_true", help="print a FHIR R4 Parameters resource")

    cs = tsub.add_parser("concept-set", help="one clinical idea as code lists in every system the hub knows")
    store_args(cs)
    cs.add_argument("--system", required=True, help="a source vocabulary, 'standard' or 'concept_id'")
    cs.add_argument("--code", action="append", required=True, dest="codes",
                    help="code or LIKE pattern (E11%%), repeatable")
    cs.add_argument("--to", action="append", dest="targets", help="target vocabulary or site (repeatable)")
    cs.add_argument("--no-descendants", action="store_true")
    cs.add_argument("--date")
    cs.add_argument("--json", type=Path, dest="json_out", help="write the concept set here")

    search = tsub.add_parser("search", help="find concepts by code or name in English, Chinese or Finnish")
    store_args(search)
    search.add_argument("text")
    search.add_argument("--language", action="append", choices=["en", "zh-TW", "fi"])
    search.add_argument("--vocabulary", action="append", dest="vocabularies", metavar="VOCABULARY_ID")
    search.add_argument("--domain", action="append", dest="domains")
    search.add_argument("--standard", action="store_true", help="standard concepts only")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--json", action="store_true")

    export = tsub.add_parser("export", help="write vocabularies from the store in another format")
    store_args(export)
    export.add_argument("--format", required=True, choices=EXPORT_FORMATS)
    export.add_argument("--vocabulary-id", action="append", dest="vocabulary_ids", default=[],
                        help="vocabulary to export (repeatable; athena: default all)")
    export.add_argument("--target", default="standard", help="fhir-conceptmap: 'standard' or a vocabulary id")
    export.add_argument("--out", type=Path, required=True, help="file (folder for athena)")
    export.add_argument("--overwrite", action="store_true", help="athena: replace an existing export")

    rex = tsub.add_parser("review-export", help="unmapped codes of the latest runs with candidate concepts, "
                          "as a Usagi file for a human mapper")
    store_args(rex)
    rex.add_argument("--vocabulary-id", required=True)
    rex.add_argument("--sites", type=_sites, default=SITES)
    rex.add_argument("--candidates", type=int, default=3, help="candidate concepts per code (default 3)")
    rex.add_argument("--out", type=Path, required=True)

    rim = tsub.add_parser("review-import", help="check a reviewed Usagi file against the store and merge it "
                          "into the vocabulary's Usagi file")
    store_args(rim)
    rim.add_argument("reviewed", type=Path)
    rim.add_argument("--vocabulary-id", required=True)
    rim.add_argument("--base", type=Path, help="the vocabulary's current Usagi file (merged result in --out)")
    rim.add_argument("--out", type=Path, help="where to write the merged Usagi file (needs --base)")
    rim.add_argument("--offset", type=int, help="first concept id of the vocabulary's block")

    diff = tsub.add_parser("diff", help="what changes between two vocabulary releases, and which warehouse "
                           "records would change their standard concept")
    diff.add_argument("old", type=Path, help="an Athena download folder or a vocabulary store (.duckdb)")
    diff.add_argument("new", type=Path)
    diff.add_argument("--warehouse", help="an OMOP warehouse to assess: duckdb:PATH or PATH (DuckDB)")
    diff.add_argument("--site", choices=SITES, help="assess the site's warehouse in --workdir")
    diff.add_argument("--workdir", type=Path)
    diff.add_argument("--schema", default="main", help="warehouse schema (default main)")
    diff.add_argument("--sample", type=int, default=20, help="examples listed per kind of change")
    diff.add_argument("--bare", action="store_true", help="load folders as plain Athena downloads (default: "
                      "as the hub builds a site store, with the project's local and Finnish vocabularies)")
    diff.add_argument("--json", type=Path, dest="json_out", help="write the full report here")


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


def cmd_build(args) -> int:
    import time

    from crossbridge.pipeline.common import build_vocabulary_store, ensure_vocabulary
    from terminology.imports import ImportSpecError, parse_import_specs

    overrides: dict[str, Any] = {}
    if args.workdir:
        overrides["workdir"] = args.workdir
    if args.vocabulary:
        overrides["vocabulary_dir"] = str(args.vocabulary)
    from crossbridge.settings import load_settings

    settings = load_settings(overrides)
    try:
        extra = parse_import_specs(";".join(args.imports))
        configured = parse_import_specs(settings.vocabulary_imports)
    except ImportSpecError as exc:
        print(f"crossbridge: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    if args.store or extra:
        from terminology.vocabulary import DEMO_ATHENA_DIR

        target = args.store or settings.workdir / "vocabulary" / "custom.duckdb"
        target.parent.mkdir(parents=True, exist_ok=True)
        athena = Path(settings.vocabulary_dir) if settings.vocabulary_dir else DEMO_ATHENA_DIR
        meta = build_vocabulary_store(target, athena, [*configured, *extra])
    else:
        target, meta = ensure_vocabulary(settings)
    print(f"vocabulary store: {target} ({time.perf_counter() - t0:.1f} s)")
    print("  rows: " + ", ".join(f"{t} {n:,}" for t, n in meta["rows"].items() if n))
    print(f"  vocabularies: {len(meta['vocabulary_versions'])}; imports: {len(meta.get('imports', []))}")
    for spec in meta.get("imports", []):
        print(f"    {spec}")
    if meta.get("checks", {}).get("maps_to_chains"):
        print(f"  note: {meta['checks']['maps_to_chains']} 'Maps to' rows end on a concept that maps on "
              f"(only one hop is followed)")
    return 0


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


def _coverage(settings, sites, args, top: int) -> tuple[dict | None, dict]:
    import duckdb

    from terminology.coverage import coverage_report

    usage, runs = {}, {}
    for site in sites:
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
        return None, runs
    con = open_store(args)
    try:
        return coverage_report(con, usage, top=top, runs=runs), runs
    finally:
        con.close()


def _write_coverage(report: dict, out: Path) -> None:
    from terminology.coverage import coverage_html

    out.mkdir(parents=True, exist_ok=True)
    (out / "coverage.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    (out / "coverage.html").write_text(coverage_html(report), encoding="utf-8")


def write_coverage_report(workdir: Path, sites: tuple[str, ...], top: int = 20) -> Path | None:
    """Write ``<workdir>/reports/terminology/coverage.{json,html}`` for the sites' latest runs (used by the demo)."""
    args = argparse.Namespace(workdir=workdir, store=None)
    report, _ = _coverage(_settings(args), sites, args, top)
    if report is None:
        return None
    out = Path(workdir) / "reports" / "terminology"
    _write_coverage(report, out)
    return out


def cmd_coverage(args) -> int:
    settings = _settings(args)
    report, runs = _coverage(settings, args.sites, args, args.top)
    if report is None:
        print("crossbridge: error: no site has a run to report on; run 'crossbridge run SITE' first",
              file=sys.stderr)
        return 1
    out = args.out or settings.workdir / "reports" / "terminology"
    _write_coverage(report, out)
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


def cmd_diff(args) -> int:
    from terminology.diff import diff_report, format_diff

    warehouse = args.warehouse
    if warehouse is None and args.site:
        warehouse = _settings(args).warehouse_url(args.site)
    if warehouse is not None:
        if warehouse.startswith("postgresql"):
            print("crossbridge: error: diff assesses DuckDB warehouses only; export the PostgreSQL warehouse's "
                  "event tables to DuckDB first", file=sys.stderr)
            return 2
        warehouse = warehouse.removeprefix("duckdb:")
    loader = None
    if not args.bare:
        from terminology.vocabulary import load_site_vocabulary

        loader = load_site_vocabulary
    report = diff_report(args.old, args.new, warehouse=warehouse, sample=args.sample, loader=loader,
                         schema=args.schema)
    print(format_diff(report))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                 encoding="utf-8")
        print(f"report: {args.json_out}")
    return 0


def cmd_translate(args) -> int:
    from terminology.translation import to_dict, to_parameters, translate

    con = open_store(args)
    try:
        t = translate(con, args.system, args.code, target=args.target, date=args.date)
    finally:
        con.close()
    if args.json:
        print(json.dumps(to_dict(t), ensure_ascii=False, indent=1, sort_keys=True, default=str))
    elif args.fhir:
        print(json.dumps(to_parameters(t), ensure_ascii=False, indent=1))
    else:
        src = t.source
        print(f"{src.vocabulary_id} {src.normalised_code or src.code}: {src.name or '(not in the vocabulary)'}")
        if t.message:
            print(f"  {t.message}")
        for m in t.matches:
            print(f"  {m.equivalence:<11} {m.vocabulary_id} {m.code} {m.name}  [{m.path_string}]"
                  + ("" if m.equivalence_source == "stated" else f" ({m.equivalence_source})"))
    return 0 if t.result else 1


def cmd_concept_set(args) -> int:
    from terminology.concept_sets import EmptyConceptSet, expand_concept_set

    con = open_store(args)
    try:
        try:
            cs = expand_concept_set(con, args.system, args.codes, include_descendants=not args.no_descendants,
                                    targets=args.targets, date=args.date)
        except EmptyConceptSet as exc:
            print(f"crossbridge: error: {exc}", file=sys.stderr)
            return 1
    finally:
        con.close()
    d = cs.to_dict()
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(d, ensure_ascii=False, indent=1, sort_keys=True, default=str) + "\n",
                                 encoding="utf-8")
    print(f"{len(cs.matched)} source code(s) matched -> {len(cs.standard_concepts)} standard concept(s)")
    if cs.unmatched_patterns:
        print("  patterns matching no code: " + ", ".join(cs.unmatched_patterns))
    if cs.untranslated_source:
        print("  source codes without a standard concept: " + ", ".join(c.code for c in cs.untranslated_source))
    for t in cs.targets:
        codes = [c.code for c in t.codes]
        print(f"  {t.site:<13} {t.vocabulary_id:<20} {len(codes):>4} code(s): {', '.join(codes[:12])}"
              f"{' …' if len(codes) > 12 else ''}"
              + (f"  ({len(t.standard_without_code)} standard concept(s) with no code here)"
                 if t.standard_without_code else ""))
    if args.json_out:
        print(f"concept set: {args.json_out}")
    return 0


def cmd_review_export(args) -> int:
    import duckdb
    import pyarrow as pa

    from terminology.mapping_work import export_for_review

    settings = _settings(args)
    parts = []
    for site in args.sites:
        run = _latest_with_usage(settings.runs_dir, site)
        if run is None:
            continue
        with duckdb.connect(str(run.path("omop.duckdb")), read_only=True) as con:
            parts.append(con.sql(
                """SELECT vocabulary_id, source_code, sum(n_records)::BIGINT AS n_records FROM code_usage
                   WHERE vocabulary_id = $v AND (target_concept_id = 0 OR target_concept_id IS NULL)
                   GROUP BY ALL""", params={"v": args.vocabulary_id}).to_arrow_table())
    usage = pa.concat_tables(parts) if parts else None
    if usage is None or usage.num_rows == 0:
        print(f"crossbridge: no unmapped {args.vocabulary_id} code in the latest runs of {', '.join(args.sites)} "
              f"under {settings.runs_dir}", file=sys.stderr)
        return 1
    con = duckdb.connect()
    try:
        con.register("_usage", usage)
        usage = con.sql("SELECT vocabulary_id, source_code, sum(n_records)::BIGINT AS n_records FROM _usage "
                        "GROUP BY ALL").to_arrow_table()
    finally:
        con.close()
    store = open_store(args)
    try:
        report = export_for_review(store, usage, args.vocabulary_id, args.out, n=args.candidates)
    finally:
        store.close()
    print(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True, default=str))
    return 0


def cmd_review_import(args) -> int:
    from terminology.mapping_work import import_reviewed

    if args.out and not args.base:
        print("crossbridge: error: --out needs --base (the vocabulary's Usagi file to merge into)", file=sys.stderr)
        return 2
    con = open_store(args)
    try:
        result = import_reviewed(con, args.reviewed, args.vocabulary_id, base_usagi=args.base, out_path=args.out,
                                 concept_id_offset=args.offset)
    finally:
        con.close()
    print(json.dumps(result.report, ensure_ascii=False, indent=1, sort_keys=True, default=str))
    if args.out:
        print(f"merged Usagi file: {args.out} (load it in place of {args.base})")
    return 0


def cmd_search(args) -> int:
    from terminology.names import search_concepts

    con = open_store(args)
    try:
        hits = search_concepts(con, args.text, languages=args.language, vocabularies=args.vocabularies,
                               domains=args.domains, standard_only=args.standard, limit=args.limit).to_pylist()
    finally:
        con.close()
    if args.json:
        print(json.dumps(hits, ensure_ascii=False, indent=1, default=str))
        return 0
    if not hits:
        print(f"no concept matches {args.text!r}")
        return 1
    for h in hits:
        std = "S" if h["standard_concept"] == "S" else ("C" if h["standard_concept"] == "C" else "-")
        extra = f"  [{h['language']}: {h['matched_name']}]" if h["matched_name"] != h["concept_name"] else ""
        print(f"{h['concept_id']:>11} {std} {h['vocabulary_id']:<12} {h['concept_code']:<12} "
              f"{h['concept_name']}{extra}")
    return 0


def cmd_export(args) -> int:
    con = open_store(args)
    try:
        fmt, vocabs = args.format, args.vocabulary_ids
        if fmt != "athena" and not vocabs:
            print(f"crossbridge: error: --format {fmt} needs --vocabulary-id", file=sys.stderr)
            return 2
        if fmt in ("usagi", "fhir-codesystem", "fhir-conceptmap") and len(vocabs) != 1:
            print(f"crossbridge: error: --format {fmt} exports one vocabulary; give one --vocabulary-id",
                  file=sys.stderr)
            return 2
        if fmt == "athena":
            from terminology.athena_export import export_athena

            report = export_athena(con, args.out, vocabularies=vocabs or None, overwrite=args.overwrite)
        elif fmt == "stcm":
            from terminology.source_to_concept_map import export_source_to_concept_map

            report = export_source_to_concept_map(con, vocabs, args.out)
        elif fmt == "usagi":
            from terminology.usagi_export import export_usagi

            report = export_usagi(con, vocabs[0], args.out)
        else:
            from terminology import fhir_terminology as ft

            # streamed from DuckDB in batches: memory stays flat for million-concept vocabularies
            if fmt == "fhir-codesystem":
                ft.write_codesystem(con, vocabs[0], args.out)
            else:
                ft.write_conceptmap(con, vocabs[0], args.out, target=args.target)
            report = {"path": str(args.out), "format": fmt, "bytes": args.out.stat().st_size}
    finally:
        con.close()
    print(json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True, default=str))
    return 0


HANDLERS: dict[str, Any] = {"build": cmd_build, "coverage": cmd_coverage, "diff": cmd_diff, "search": cmd_search,
                            "export": cmd_export, "translate": cmd_translate, "concept-set": cmd_concept_set,
                            "review-export": cmd_review_export, "review-import": cmd_review_import}


def cmd_terminology(args) -> int:
    from terminology.errors import UnknownCodeSystem, VocabularyFormatError

    try:
        return HANDLERS[args.term_command](args)
    except (UnknownCodeSystem, VocabularyFormatError, FileNotFoundError) as exc:
        print(f"crossbridge: error: {exc}", file=sys.stderr)
        return 2
