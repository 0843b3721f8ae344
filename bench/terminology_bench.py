"""Terminology benchmark: load a full-size Athena vocabulary and translate codes in bulk.

``python -m bench.terminology_bench --concepts 5000000 --relationships 30000000 --codes 10000000``
(``--small``: 200k concepts, 1.2M relationships, 1M codes).

1. Generate a synthetic Athena download (:mod:`crossbridge.synth.athena_vocabulary`)
   into ``<out>/terminology/vocabulary`` (timed and reported, not the measured figure).
2. Load it with :func:`terminology.athena.load_athena` into a fresh DuckDB file, in a
   child process, ``--repeat`` times: wall time (median) and the child's peak RSS.
3. Draw ``--codes`` codes: 80% from the vocabulary's non-standard concepts (uniformly,
   with replacement; deprecated ones included, as old data has them), 20% unknown codes,
   each with an event date in 2010–2024; then translate them in a child process with
   :func:`terminology.translate.translate_column` (the pipeline's bulk join) and, when
   :mod:`terminology.translation` provides it, ``translate_bulk`` (FHIR ``$translate``
   semantics): median of ``--translate-repeat`` runs, rows/s, peak RSS.
4. Print a table and write ``<out>/bench-terminology.json`` (``bench-terminology-small.json``
   with ``--small``).

Every measurement runs in its own process with DuckDB ``threads = 2``; peak memory is
the process's maximum RSS (``bench.peak_rss``, wait4).  The generated files, the DuckDB
file and the codes are deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.run_bench import WRAP, measured

THREADS = 2
SMALL = {"concepts": 200_000, "relationships": 1_200_000, "codes": 1_000_000}
EVENT_YEARS = (2010, 2024)
UNKNOWN_SHARE = 0.2
MEMORY_LIMIT = os.environ.get("XB_BENCH_MEMORY_LIMIT", "4GB")  # DuckDB memory_limit in every child


# ----------------------------------------------------------------- children (each in its own process)

def _connect(db: str, read_only: bool = False):
    import duckdb

    con = duckdb.connect(db, read_only=read_only)
    con.execute(f"SET threads = {THREADS}")
    # as a site would run it: a bounded engine that spills, not one that takes 80% of the machine
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    return con


def child_generate(out: str, concepts: int, relationships: int, seed: int) -> dict:
    from crossbridge.synth.athena_vocabulary import write_athena_vocabulary

    return write_athena_vocabulary(out, concepts=concepts, relationships=relationships, seed=seed)


def child_load(folder: str, db: str) -> dict:
    from terminology.athena import load_athena

    for p in (Path(db), Path(db + ".wal")):
        p.unlink(missing_ok=True)
    con = _connect(db)
    t0 = time.perf_counter()
    report = load_athena(con, folder)
    seconds = time.perf_counter() - t0
    con.close()
    return {"seconds": round(seconds, 2), "rows": report.rows, "db_bytes": Path(db).stat().st_size}


def child_codes(db: str, out: str, codes: int, seed: int) -> dict:
    """Write the codes to translate (parquet): non-standard codes of the store plus unknown codes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    con = _connect(db, read_only=True)
    pool = con.sql("""SELECT vocabulary_id, concept_code AS source_code FROM concept
                      WHERE standard_concept IS NULL AND vocabulary_id NOT IN
                            ('None', 'Vocabulary', 'Domain', 'Concept Class', 'Relationship')
                      ORDER BY concept_id""").to_arrow_table()
    con.close()
    rng = np.random.default_rng(seed)
    n_unknown = int(round(codes * UNKNOWN_SHARE))
    known = pool.take(pa.array(rng.integers(0, pool.num_rows, codes - n_unknown)))
    unknown_voc = pool["vocabulary_id"].take(pa.array(rng.integers(0, pool.num_rows, n_unknown)))
    unknown_code = pc.binary_join_element_wise(
        "XB-UNKNOWN-", pc.cast(pa.array(rng.integers(0, 1_000_000, n_unknown)), pa.string()), "")
    table = pa.concat_tables([known, pa.table({"vocabulary_id": unknown_voc, "source_code": unknown_code})])
    table = table.take(pa.array(rng.permutation(table.num_rows)))
    first = np.datetime64(f"{EVENT_YEARS[0]}-01-01", "D")
    days = (np.datetime64(f"{EVENT_YEARS[1] + 1}-01-01", "D") - first).astype(np.int64)
    dates = first + rng.integers(0, days, table.num_rows).astype("timedelta64[D]")
    table = table.append_column("event_date", pa.array(dates, pa.date32()))
    pq.write_table(table, out)
    return {"codes": table.num_rows, "unknown": n_unknown, "distinct_pool": pool.num_rows,
            "distinct_codes": len(pc.unique(pc.binary_join_element_wise(
                table["vocabulary_id"], table["source_code"], "|")))}


def child_translate(db: str, codes: str, method: str, repeat: int) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if method == "translate_column":
        from terminology.translate import translate_column as fn
    else:
        from terminology.translation import translate_bulk as fn
    table = pq.read_table(codes)
    con = _connect(db, read_only=True)
    runs, rows_out, mapped = [], 0, 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(con, table)
        runs.append(round(time.perf_counter() - t0, 2))
        rows_out = out.num_rows
        mapped = int(pc.sum(pc.not_equal(out["concept_id"], 0)).as_py() or 0)
        del out
    return {"seconds": runs, "rows_in": table.num_rows, "rows_out": rows_out, "rows_mapped": mapped}


CHILDREN = {"generate": child_generate, "load": child_load, "codes": child_codes, "translate": child_translate}


def _run_child(name: str, *args) -> tuple[float, int, dict]:
    """Run one child step under bench.peak_rss; (wall seconds, peak RSS bytes, its JSON result)."""
    cmd = [*WRAP, sys.executable, "-m", "bench.terminology_bench", "--child", name, *map(str, args)]
    seconds, peak, out = measured(cmd)
    return seconds, peak, json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------- the benchmark

def has_translate_bulk() -> bool:
    if importlib.util.find_spec("terminology.translation") is None:
        return False
    from terminology import translation

    return hasattr(translation, "translate_bulk")


def _mb(b: int) -> int:
    return round(b / 2**20)


def run(args) -> dict:
    base = args.out / "terminology"
    folder, db, codes = base / "vocabulary", base / "vocabulary.duckdb", base / "codes.parquet"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    say = print
    result: dict = {
        "concepts": args.concepts, "relationships": args.relationships, "codes": args.codes, "seed": args.seed,
        "duckdb_threads": THREADS, "duckdb_memory_limit": MEMORY_LIMIT, "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    import duckdb
    import pyarrow

    result["duckdb"], result["pyarrow"] = duckdb.__version__, pyarrow.__version__
    try:
        say(f"generating {args.concepts:,} concepts, {args.relationships:,} relationships …", flush=True)
        s, peak, gen = _run_child("generate", folder, args.concepts, args.relationships, args.seed)
        result["generate"] = {"seconds": round(s, 1), "peak_mb": _mb(peak), "files": gen["files"],
                              "total_mb": _mb(gen["total_bytes"]), "vocabularies": gen["vocabularies"]}
        loads = []
        for i in range(args.repeat):
            say(f"loading ({i + 1}/{args.repeat}) …", flush=True)
            s, peak, rep = _run_child("load", folder, db)
            loads.append({"wall_seconds": round(s, 2), "load_seconds": rep["seconds"], "peak_mb": _mb(peak),
                          "db_mb": _mb(rep["db_bytes"])})
        med = statistics.median(x["load_seconds"] for x in loads)
        result["load"] = {"median_seconds": med, "median_wall_seconds": statistics.median(
            x["wall_seconds"] for x in loads), "peak_mb": max(x["peak_mb"] for x in loads),
            "rows_per_second": round(sum(rep["rows"].values()) / med), "rows": rep["rows"], "runs": loads}
        say(f"drawing {args.codes:,} codes …", flush=True)
        s, peak, c = _run_child("codes", db, codes, args.codes, args.seed)
        result["codes_input"] = {**c, "seconds": round(s, 1), "peak_mb": _mb(peak)}
        methods = ["translate_column"]
        if has_translate_bulk():
            methods.append("translate_bulk")
        else:
            say("terminology.translation.translate_bulk is not available: only translate_column is measured")
            result["translate_bulk"] = {"skipped": "terminology.translation.translate_bulk not found"}
        for m in methods:
            say(f"{m} × {args.translate_repeat} …", flush=True)
            s, peak, t = _run_child("translate", db, codes, m, args.translate_repeat)
            med = statistics.median(t["seconds"])
            result[m] = {"median_seconds": med, "runs": t["seconds"], "rows_per_second": round(args.codes / med),
                         "peak_mb": _mb(peak), "rows_out": t["rows_out"], "rows_mapped": t["rows_mapped"],
                         "process_seconds": round(s, 1)}
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return result


def print_table(r: dict) -> None:
    print()
    print(f"{'step':<18} {'seconds':>9} {'rows/s':>12} {'peak MB':>8}  note")
    g = r["generate"]
    print(f"{'generate':<18} {g['seconds']:>9} {'':>12} {g['peak_mb']:>8}  {g['total_mb']:,} MB of files "
          f"(not the measured figure)")
    ld = r["load"]
    print(f"{'load_athena':<18} {ld['median_seconds']:>9} {ld['rows_per_second']:>12,} {ld['peak_mb']:>8}  "
          f"median of {len(ld['runs'])}, wall {ld['median_wall_seconds']} s")
    for m in ("translate_column", "translate_bulk"):
        t = r.get(m, {})
        if "median_seconds" in t:
            print(f"{m:<18} {t['median_seconds']:>9} {t['rows_per_second']:>12,} {t['peak_mb']:>8}  "
                  f"median of {len(t['runs'])}; {t['rows_mapped']:,} of {t['rows_out']:,} rows out mapped")
        elif t:
            print(f"{m:<18} {'-':>9} {'-':>12} {'-':>8}  {t['skipped']}")
    print(f"(DuckDB {r['duckdb']}, threads = {r['duckdb_threads']}, {r['cpus']} CPUs)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concepts", type=int, default=5_000_000)
    ap.add_argument("--relationships", type=int, default=30_000_000)
    ap.add_argument("--codes", type=int, default=10_000_000)
    ap.add_argument("--small", action="store_true", help="200k concepts, 1.2M relationships, 1M codes")
    ap.add_argument("--repeat", type=int, default=1, help="load repetitions (median reported)")
    ap.add_argument("--translate-repeat", type=int, default=3, help="translation repetitions (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--keep", action="store_true", help="keep the generated vocabulary, DuckDB file and codes")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        name, *rest = args.child
        fn = CHILDREN[name]
        typed = [int(x) if x.isdigit() else x for x in rest]
        print(json.dumps(fn(*typed), sort_keys=True))
        return 0
    if args.small:
        args.concepts, args.relationships, args.codes = SMALL["concepts"], SMALL["relationships"], SMALL["codes"]
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "bench-terminology-small.json" if args.small else "bench-terminology.json"
    (args.out / name).write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print_table(result)
    print(f"\nwrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
