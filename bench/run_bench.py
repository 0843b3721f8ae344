"""``make bench``: each site's pipeline throughput and memory against an I/O floor.

For each size the same synthetic extract is (1) copied by DuckDB from the
raw CSV files to Parquet — the I/O floor: read every byte, parse, write
columnar — and (2) run through the whole pipeline (stage, map, validate, load,
summarise) with ``crossbridge run taiwan --no-airflow``.  Each measurement
runs in its own process; peak memory is that process's maximum RSS (wait4).
The data is generated as UTF-8 so that DuckDB, which reads no CP950 without
a downloaded extension, can read the very same files; claim files are ASCII,
so their bytes are identical in both encodings.

The Finnish register extracts (``;``, Latin-1) are read by DuckDB's floor
copy with ``encoding='latin-1'``; the FinnGen layout is not benchmarked.

Output: a table on stdout and ``<out>/bench-<site>-<size>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = {"1M": 1_000_000, "10M": 10_000_000, "50M": 50_000_000}
# per site: source rows per person over the benchmark years (measured), generator options, floor read options
SITES = {
    "taiwan": {
        "rows_per_person": 205,  # ~51 source rows per person-year over 4 years (2014-2017)
        "synth": ["--encoding", "utf-8"],
        "run": ["--encoding", "utf-8"],
        "read": "delim=','",
    },
    "finland": {
        "rows_per_person": 51,  # ~13 source rows per person-year over 4 years (2014-2017)
        "synth": [],
        "run": [],
        "read": "delim=';', encoding='latin-1'",
    },
}


def measured(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Run a command; return (wall seconds, peak RSS in bytes, stdout)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    # the child has been reaped by communicate(); use RUSAGE of a wrapper instead
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    # searched anywhere: the child's last stderr line (e.g. nanobind's exit report) may lack a newline
    found = re.findall(r"PEAK_RSS_KB=(\d+)", err)
    peak = int(found[-1]) * 1024 if found else 0
    return seconds, peak, out


WRAP = [sys.executable, "-m", "bench.peak_rss", "--"]


def floor_cmd(landing: Path, out: Path, read_options: str) -> list[str]:
    code = f"""
import duckdb, glob, os, re
con = duckdb.connect()
con.execute("SET threads = 2")
files = sorted(glob.glob({str(landing)!r} + '/*.csv'))
groups = {{}}
for f in files:
    stem = re.sub(r'_?\\d+$', '', os.path.basename(f)[:-4])
    groups.setdefault(stem, []).append(f)
os.makedirs({str(out)!r}, exist_ok=True)
for stem, fs in groups.items():
    con.execute(f"COPY (SELECT * FROM read_csv({{fs!r}}, header=true, all_varchar=true, quote='', escape='', {read_options}, "
                f"ignore_errors=true, null_padding=true)) TO '{str(out)}/{{stem}}.parquet' (FORMAT parquet)")
"""
    return [*WRAP, sys.executable, "-c", code]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--sites", default="taiwan,finland")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--repeat", type=int, default=1, help="pipeline/floor repetitions (median reported)")
    args = ap.parse_args(argv)
    rows_table = []
    for site in args.sites.split(","):
        for size in args.sizes.split(","):
            rows_table.append(bench_one(site, size, args))
    print()
    print(f"{'site':>8} {'size':>5} {'rows in':>12} {'raw MB':>8} {'floor s':>8} {'pipe s':>8} {'rows/s':>10} "
          f"{'x floor':>8} {'peak MB':>8} {'map s':>7} {'valid s':>7} {'val/map':>7}")
    for r in rows_table:
        print(f"{r['site']:>8} {r['size']:>5} {r['rows_in']:>12,} {r['raw_mb']:>8} {r['floor_seconds']:>8} "
              f"{r['pipeline_seconds']:>8} {r['rows_per_second']:>10,} {r['ratio_to_floor']:>8} "
              f"{r['pipeline_peak_mb']:>8} {r['map_seconds']:>7} {r['validate_seconds']:>7} "
              f"{r['validate_to_map']:>7}")
    return 0


def ensure_landing(site: str, size: str, out: Path) -> tuple[Path, int, float, int]:
    """The benchmark extract of a site and size under ``out`` (generated once): (landing, persons,
    generation seconds, generation peak RSS bytes; NaN and 0 when it already existed)."""
    cfg = SITES[site]
    landing = out / site / size / "landing"
    persons = max(100, SIZES[size] // cfg["rows_per_person"])
    done = landing / "_ground_truth" / "bench-generated"
    if done.exists():
        return landing, persons, float("nan"), 0
    print(f"[{site} {size}] generating {persons:,} persons …", flush=True)
    subprocess.run(["rm", "-rf", str(landing)], check=True)
    gen_s, gen_peak, _ = measured([*WRAP, sys.executable, "-m", "crossbridge.cli", "synth", site,
                                   "--persons", str(persons), "--years", "2014-2017", "--seed", "42",
                                   "--out", str(landing), *cfg["synth"]])
    done.write_text("ok\n")
    return landing, persons, gen_s, gen_peak


def bench_one(site: str, size: str, args) -> dict:
    """Generate (once), then measure the floor and the pipeline for one site and size."""
    cfg = SITES[site]
    if True:
        base = args.out / site / size
        landing, persons, gen_s, gen_peak = ensure_landing(site, size, args.out)
        rows_in = None
        raw_bytes = sum(p.stat().st_size for p in landing.glob("*.csv"))
        floors, pipes, peaks, floor_peaks, stage_s = [], [], [], [], []
        for i in range(args.repeat):
            fs, fpeak, _ = measured(floor_cmd(landing, base / f"floor{i}", cfg["read"]))
            floors.append(fs)
            floor_peaks.append(fpeak)
            work = base / f"work{i}"
            subprocess.run(["rm", "-rf", str(work)], check=True)
            ps, peak, _ = measured([*WRAP, sys.executable, "-m", "crossbridge.cli", "run", site,
                                    "--landing", str(landing), "--workdir", str(work), "--no-airflow",
                                    *cfg["run"]], env={"CROSSBRIDGE_SITE_SECRET": "bench"})
            pipes.append(ps)
            peaks.append(peak)
            summ = json.loads(next((work / "runs").glob("*/summary.json")).read_text())
            rows_in = sum(summ["rows_in"].values())
            stage_s.append(summ["stage_seconds"])
            assert summ["reconciled"], summ["reconciliation_problems"]
        floor = statistics.median(floors)
        pipe = statistics.median(pipes)
        result = {
            "site": site, "size": size, "persons": persons, "rows_in": rows_in, "raw_mb": round(raw_bytes / 2**20, 1),
            "generate_seconds": round(gen_s, 1), "generate_peak_mb": round(gen_peak / 2**20),
            "floor_seconds": round(floor, 2), "floor_peak_mb": round(max(floor_peaks) / 2**20),
            "pipeline_seconds": round(pipe, 2), "pipeline_peak_mb": round(max(peaks) / 2**20),
            "rows_per_second": round(rows_in / pipe), "ratio_to_floor": round(pipe / floor, 2),
            "stage_seconds": stage_s[pipes.index(pipe)] if pipe in pipes else stage_s[0],
            "repeat": args.repeat,
        }
        st = result["stage_seconds"]
        # issue 6 target: validation (GX suites + DQD-grade checks) costs at most half the mapping time
        result["map_seconds"] = st.get("map")
        result["validate_seconds"] = st.get("validate")
        result["validate_to_map"] = (round(st["validate"] / st["map"], 2)
                                     if st.get("validate") is not None and st.get("map") else None)
        (args.out).mkdir(parents=True, exist_ok=True)
        (args.out / f"bench-{site}-{size}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps(result), flush=True)
        return result


if __name__ == "__main__":
    sys.exit(main())
