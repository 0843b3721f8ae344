"""``make bench`` (FHIR part): vectorised OMOP -> FHIR export against per-resource pydantic model construction.

One synthetic Taiwan run (``--persons``, pipeline with the FHIR stage off) gives the OMOP
tables.  Then, in this process and the same run:

1. **vectorised**: :func:`mappings.fhir_r4.export.export_fhir` on the run's work database
   (DuckDB SQL builds each resource's JSON), ``--repeat`` times, median resources/s;
2. **per-resource models**: for a deterministic sample of ``--sample`` lines of every
   resource type, build the resource through its ``fhir.resources.R4B`` model from the
   parsed dict (``Model(**data)``) and serialise it (``model_dump_json(exclude_none=True)``):
   the cost the issue quotes (~0.2 ms per resource), median resources/s of ``--repeat`` runs;
3. **identical output**: for every sampled resource, the model's JSON parsed equals the
   vectorised line parsed (same content, key order aside).

Output: a table on stdout and ``<out>/bench-fhir.json`` with the ratio
(vectorised / model resources per second; target >= 10).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run_pipeline(persons: int, work: Path) -> Path:
    landing = work / "landing"
    env = {**os.environ, "CROSSBRIDGE_SITE_SECRET": "bench-secret", "CROSSBRIDGE_FHIR_EXPORT": "false"}
    cli = [sys.executable, "-m", "crossbridge.cli"]
    subprocess.run([*cli, "synth", "taiwan", "--persons", str(persons), "--years", "2014-2017", "--seed", "7",
                    "--out", str(landing), "--encoding", "utf-8"], check=True, env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*cli, "run", "taiwan", "--landing", str(landing), "--workdir", str(work / "w"),
                    "--encoding", "utf-8", "--no-airflow"], check=True, env=env, stdout=subprocess.DEVNULL)
    return sorted((work / "w" / "runs").glob("*-taiwan-*"))[-1]


def _vectorised(run_dir: Path, out: Path) -> tuple[float, int]:
    import duckdb

    from mappings.fhir_r4.context import prepare_context
    from mappings.fhir_r4.export import export_fhir

    vocab = next((run_dir.parent.parent / "vocabulary").glob("*.duckdb"))
    con = duckdb.connect()
    con.execute(f"ATTACH '{run_dir / 'omop.duckdb'}' AS src (READ_ONLY)")
    con.execute(f"ATTACH '{vocab}' AS vocab (READ_ONLY)")
    ctx = prepare_context(con, catalog="src", vocab_catalog="vocab", site="taiwan")
    t0 = time.perf_counter()
    report = export_fhir(con, ctx, out, run_id="bench", code_version="bench", sources=["bench"])
    seconds = time.perf_counter() - t0
    con.close()
    return seconds, report.total


def _sample(out: Path, per_type: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    lines: list[tuple[str, str]] = []
    for path in sorted(out.glob("*.ndjson")):
        all_lines = path.read_text(encoding="utf-8").splitlines()
        picked = all_lines if len(all_lines) <= per_type else rng.sample(all_lines, per_type)
        lines.extend((path.stem, line) for line in picked)
    return lines


def _models(sample: list[tuple[str, str]]) -> tuple[float, list[str]]:
    from fhir.resources.R4B import get_fhir_model_class

    classes = {t: get_fhir_model_class(t) for t in {t for t, _ in sample}}
    data = [(classes[t], json.loads(line)) for t, line in sample]
    t0 = time.perf_counter()
    out = [cls(**d).model_dump_json(exclude_none=True) for cls, d in data]
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--sample", type=int, default=3000, help="resources per type built through the models")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp:
        work = Path(tmp)
        run_dir = _run_pipeline(args.persons, work)
        export = work / "fhir"
        vec = [_vectorised(run_dir, export) for _ in range(args.repeat)]
        total = vec[0][1]
        vec_rate = statistics.median(n / s for s, n in vec)
        sample = _sample(export, args.sample, seed=1)
        runs = [_models(sample) for _ in range(args.repeat)]
        model_rate = statistics.median(len(sample) / s for s, _ in runs)
        mismatches = sum(json.loads(a) != json.loads(b) for (_, a), b in zip(sample, runs[0][1]))
    result = {
        "persons": args.persons, "resources": total, "vectorised_resources_per_s": round(vec_rate),
        "vectorised_seconds_median": round(statistics.median(s for s, _ in vec), 3),
        "model_sample": len(sample), "model_resources_per_s": round(model_rate),
        "model_ms_per_resource": round(1000 / model_rate, 4),
        "ratio": round(vec_rate / model_rate, 1), "target_ratio": 10, "identical": mismatches == 0,
        "mismatches": mismatches,
    }
    print(f"FHIR export: {total:,} resources; vectorised {result['vectorised_resources_per_s']:,}/s "
          f"(median of {args.repeat}); per-resource models {result['model_resources_per_s']:,}/s "
          f"({result['model_ms_per_resource']} ms each, {len(sample):,} sampled); ratio {result['ratio']}x "
          f"(target >= 10x); identical output: {result['identical']}")
    (args.out / "bench-fhir.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
