"""``make bench`` (scaling part): the Taiwan pipeline's person partitions at several sizes.

For each size the synthetic extract of ``bench.run_bench`` is staged once per
partition count N (1, 2, 4 by default; ``crossbridge run`` with
``--partitions N`` does the same steps), and then each step runs in its own
process, as one Airflow task would on a worker:

* ``stage``: read, type, pseudonymise, consolidate, split into N partitions;
* ``map p<k>``: partition k's OMOP build (N processes, one after another here;
  on W workers they run W at a time);
* ``merge``: the partitions' tables into the run's database.

Each process's wall time and peak RSS (wait4) are recorded.  Reported per
size and N: stage seconds, the map tasks' median and maximum seconds and their
sum (the work W workers share), the merge seconds, the largest peak RSS of a
map task (memory per worker), and the projected wall time of stage + map +
merge with W = N workers (the slowest map task instead of the sum).  Across
sizes, the exponent *b* of cost ~ rows**b is fitted (least squares on logs) for
the map work and for the largest map task's memory: near 1 and near 0 are the
goals.  Validation, load and export are one task per run whatever N is and are
measured by ``bench.run_bench``.

Output: a table on stdout and ``<out>/bench-partitions.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.run_bench import SIZES, WRAP, ensure_landing, measured

SECRET = "bench"


def _task(argv: list[str]) -> int:
    """One step in this process: ``--task stage|map|merge --work W --landing L --run-id R [--k K] [--partitions N]``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", required=True, choices=["stage", "map", "merge"])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--landing", type=Path, required=True)
    ap.add_argument("--run-id", required=True)
    ap.add_argument("--k", type=int, default=0)
    ap.add_argument("--partitions", type=int, default=1)
    a = ap.parse_args(argv)
    from crossbridge.ledger import Run
    from crossbridge.pipeline import site, taiwan
    from crossbridge.settings import load_settings

    s = load_settings({"workdir": a.work, "landing": str(a.landing), "partitions": a.partitions,
                       "encoding": "utf-8"})
    if a.task == "stage":
        run = taiwan.start_run(s, a.run_id)
        taiwan.extract(run, s)
        taiwan.stage(run, s)
        return 0
    run = Run(s.runs_dir, a.run_id)
    if a.task == "map":
        site.map_partition(taiwan.PIPELINE, run, s, a.k)
    else:
        taiwan.map_to_omop(run, s)
    return 0


def _step(args: list[str]) -> tuple[float, int]:
    seconds, peak, _ = measured([*WRAP, sys.executable, "-m", "bench.partition_bench", *args],
                                env={"CROSSBRIDGE_SITE_SECRET": SECRET})
    return seconds, peak


def _exponent(xs: list[float], ys: list[float]) -> float | None:
    pts = [(math.log(x), math.log(y)) for x, y in zip(xs, ys) if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx = statistics.fmean(p[0] for p in pts)
    my = statistics.fmean(p[1] for p in pts)
    den = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / den, 3) if den else None


def bench_size(size: str, counts: list[int], out: Path) -> list[dict]:
    landing = ensure_landing("taiwan", size, out)[0]
    rows: list[dict] = []
    for n in counts:
        work = out / "taiwan" / size / f"parts{n}"
        subprocess.run(["rm", "-rf", str(work)], check=True)
        run_id = f"bench-taiwan-p{n}"
        common = ["--work", str(work), "--landing", str(landing), "--run-id", run_id, "--partitions", str(n)]
        try:
            stage_s, stage_peak = _step(["--task", "stage", *common])
            maps = [_step(["--task", "map", "--k", str(k), *common]) for k in range(n)] if n > 1 else []
            merge_s, merge_peak = _step(["--task", "merge", *common])
        except RuntimeError as exc:  # a configuration that fails (e.g. out of memory) is a result too
            reason = [line for line in str(exc).splitlines() if line.strip()]
            r = {"size": size, "partitions": n, "state": "failed", "rows_in": None,
                 "error": next((line for line in reversed(reason) if "Error" in line), reason[-1] if reason else "")}
            rows.append(r)
            print(json.dumps(r), flush=True)
            continue
        summary = json.loads((work / "runs" / run_id / "summary.json").read_text())
        stage_rep = json.loads((work / "runs" / run_id / "stages" / "stage.json").read_text())
        rows_in = int(stage_rep["read"]["rows_in"])
        map_times = [m[0] for m in maps] or [merge_s]  # N = 1: the map step builds the whole run
        map_peaks = [m[1] for m in maps] or [merge_peak]
        r = {
            "size": size, "partitions": n, "rows_in": rows_in,
            "stage_seconds": round(stage_s, 2), "stage_peak_mb": round(stage_peak / 2**20),
            "map_task_seconds_median": round(statistics.median(map_times), 2),
            "map_task_seconds_max": round(max(map_times), 2),
            "map_work_seconds": round(sum(map_times), 2),
            "map_task_peak_mb": round(max(map_peaks) / 2**20),
            "merge_seconds": round(merge_s, 2) if n > 1 else 0.0,
            "merge_peak_mb": round(merge_peak / 2**20) if n > 1 else 0,
            "projected_wall_seconds_with_n_workers": round(stage_s + max(map_times) + (merge_s if n > 1 else 0), 2),
            "rows_out": sum(json.loads((work / "runs" / run_id / "stages" / "map.json").read_text())[
                "rows_out"].values()),
            "state": summary["stages"]["map"]["state"],
        }
        rows.append(r)
        print(json.dumps(r), flush=True)
    return rows


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--task" in argv:
        return _task(argv)
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1M,10M")
    ap.add_argument("--partitions", default="1,2,4")
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    a = ap.parse_args(argv)
    counts = [int(x) for x in a.partitions.split(",")]
    results: list[dict] = []
    for size in a.sizes.split(","):
        if size not in SIZES:
            raise SystemExit(f"unknown size {size}; known: {', '.join(SIZES)}")
        results.extend(bench_size(size, counts, a.out))
    fits = {}
    for n in counts:
        rs = [r for r in results if r["partitions"] == n and r["rows_in"]]
        fits[n] = {"map_work_exponent": _exponent([r["rows_in"] for r in rs], [r["map_work_seconds"] for r in rs]),
                   "map_task_peak_exponent": _exponent([r["rows_in"] for r in rs],
                                                       [r["map_task_peak_mb"] for r in rs])}
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "bench-partitions.json").write_text(json.dumps({"runs": results, "fits": fits}, indent=2))
    print()
    print(f"{'size':>5} {'N':>3} {'rows in':>12} {'stage s':>8} {'map med':>8} {'map max':>8} {'map sum':>8} "
          f"{'peak MB':>8} {'merge s':>8} {'wall(N w)':>9} {'rows/s(N w)':>11}")
    for r in results:
        if r["state"] == "failed":
            print(f"{r['size']:>5} {r['partitions']:>3} failed: {r['error']}")
            continue
        rate = round(r["rows_in"] / r["projected_wall_seconds_with_n_workers"]) if r["rows_in"] else 0
        print(f"{r['size']:>5} {r['partitions']:>3} {r['rows_in'] or 0:>12,} {r['stage_seconds']:>8} "
              f"{r['map_task_seconds_median']:>8} {r['map_task_seconds_max']:>8} {r['map_work_seconds']:>8} "
              f"{r['map_task_peak_mb']:>8} {r['merge_seconds']:>8} {r['projected_wall_seconds_with_n_workers']:>9} "
              f"{rate:>11,}")
    for n, f in fits.items():
        print(f"N={n}: map work ~ rows^{f['map_work_exponent']}, map task peak memory ~ rows^{f['map_task_peak_exponent']}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
