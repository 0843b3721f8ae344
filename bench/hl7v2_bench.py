"""HL7 v2 parsing speed: our reader beside the ``hl7`` package and hl7apy, on the same messages.

``python -m bench.hl7v2_bench --messages 2000 --out bench/out``

1. Generate ``--messages`` synthetic ADT/ORU messages (:mod:`crossbridge.synth.hl7v2`, no
   defects, all versions 2.3-2.8, MLLP framing) under ``<out>/hl7v2/input``.
2. Measure, each kind in its own child process (imports and hl7apy's version libraries
   loaded before timing; ``--repeat`` runs, median reported):

   * ``ours_w1`` / ``ours_w2``: :func:`connectors.hl7v2.read_hl7v2` with 1 and 2 workers --
     framing, decoding, hl7apy STRICT check of every non-Z segment, dates, identifiers,
     pseudonyms, records; the caches (hl7apy verdicts, identifier checks) are cleared before every run;
   * ``hl7``: ``hl7.parse`` of every message (splitting only, nothing checked);
   * ``hl7apy_full``: ``hl7apy.parser.parse_message`` (defaults: tolerant, groups found);
   * ``hl7apy_segments``: ``hl7apy.parser.parse_segment`` STRICT of every non-Z segment.

   The two hl7apy baselines run on the first ``--hl7apy-sample`` messages (they are slow);
   rates are messages per second of wall time (``msgs_per_s``) and per CPU second of the
   process and its workers (``msgs_per_cpu_s``, which other load on a shared machine does
   not distort).
3. Also times the FHIR mapping of our records (``mappings.fhir_r4.hl7v2.messages_to_fhir``).
4. Print a table and write ``<out>/bench-hl7v2.json`` with the ratios to ``hl7`` and to
   ``hl7apy_full``.

The machine is shared: the load average at the start is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

KINDS = ("ours_w1", "ours_w2", "hl7", "hl7apy_full", "hl7apy_segments")


def _texts(input_dir: Path) -> list[str]:
    """Every message of the input files as text with ``\\r`` separators (not timed)."""
    from connectors.hl7v2.encoding import decode_message
    from connectors.hl7v2.framing import split_messages

    out = []
    for path in sorted(input_dir.glob("*.hl7")):
        split = split_messages(path.read_bytes())
        out.extend(decode_message(m.data, split.bom)[0] for m in split.messages)
    return out


def _warm_hl7apy(texts: list[str]) -> None:
    from hl7apy.parser import parse_message

    seen = set()
    for t in texts:
        v = t.split("\r", 1)[0].split("|")[11].split("^")[0]
        if v not in seen:
            seen.add(v)
            parse_message(t)


def child(kind: str, input_dir: Path, repeat: int, sample: int, site: str) -> dict:
    """Time one kind ``repeat`` times in this (fresh) process."""
    texts = _texts(input_dir)
    runs: list[float] = []
    cpu: list[float] = []
    extra: dict = {}
    if kind.startswith("ours"):
        from connectors.hl7v2 import read_hl7v2
        from connectors.hl7v2.read import clear_caches
        from mappings.fhir_r4.hl7v2 import messages_to_fhir

        paths = sorted(input_dir.glob("*.hl7"))
        workers = 1 if kind == "ours_w1" else 2
        read_hl7v2(paths[:1], secret="bench", site=site, workers=1)  # imports, hl7apy libraries
        n = len(texts)
        for _ in range(repeat):
            clear_caches()
            c0, t0 = _cpu(), time.perf_counter()
            batch = read_hl7v2(paths, secret="bench", site=site, workers=workers)
            runs.append(time.perf_counter() - t0)
            cpu.append(_cpu() - c0)
            assert batch.counts["reconciled"] and batch.counts["mapped"] == n, batch.counts
        t0 = time.perf_counter()
        fhir = messages_to_fhir(batch.messages, site=site)
        extra = {"map_seconds": round(time.perf_counter() - t0, 3), "resources": fhir.counts["resources"]}
    elif kind == "hl7":
        import hl7

        n = len(texts)
        for _ in range(repeat):
            c0, t0 = _cpu(), time.perf_counter()
            for t in texts:
                hl7.parse(t)
            runs.append(time.perf_counter() - t0)
            cpu.append(_cpu() - c0)
    else:
        from hl7apy.consts import VALIDATION_LEVEL
        from hl7apy.parser import _split_msh, parse_message, parse_segment

        texts = texts[:sample]
        n = len(texts)
        _warm_hl7apy(texts)
        for _ in range(repeat):
            c0, t0 = _cpu(), time.perf_counter()
            for t in texts:
                if kind == "hl7apy_full":
                    parse_message(t)
                else:
                    version = t.split("\r", 1)[0].split("|")[11].split("^")[0]
                    enc = _split_msh(t)[1]
                    for seg in t.split("\r"):
                        if seg and not seg.startswith("Z"):
                            parse_segment(seg, version, enc, VALIDATION_LEVEL.STRICT)
            runs.append(time.perf_counter() - t0)
            cpu.append(_cpu() - c0)
    med = statistics.median(runs)
    med_cpu = statistics.median(cpu)
    return {"kind": kind, "messages": n, "runs_s": [round(r, 3) for r in runs], "median_s": round(med, 3),
            "msgs_per_s": round(n / med, 1), "cpu_s": round(med_cpu, 3),
            "msgs_per_cpu_s": round(n / med_cpu, 1) if med_cpu else None, **extra}


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (worker pools are reaped when they shut down)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path("bench/out"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--site", default="finland", choices=["taiwan", "finland"])
    ap.add_argument("--hl7apy-sample", type=int, default=300, help="messages the hl7apy baselines parse")
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    ap.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.input, args.repeat, args.hl7apy_sample, args.site)))
        return 0

    from crossbridge.synth.hl7v2 import VERSIONS, generate_hl7v2

    input_dir = args.out / "hl7v2" / "input"
    shutil.rmtree(input_dir, ignore_errors=True)
    report = generate_hl7v2(input_dir, messages=args.messages, seed=args.seed, site=args.site, defect_rate=0.0,
                            framing="mllp")
    load = os.getloadavg()[0]
    results = {}
    for kind in args.kinds.split(","):
        cmd = [sys.executable, "-m", "bench.hl7v2_bench", "--child", kind, "--input", str(input_dir),
               "--repeat", str(args.repeat), "--hl7apy-sample", str(args.hl7apy_sample), "--site", args.site]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"[hl7v2 bench] {kind}: {results[kind]['msgs_per_s']} msg/s", flush=True)

    def ratio(a: str, b: str) -> float | None:
        if a in results and b in results:
            return round(results[a]["msgs_per_s"] / results[b]["msgs_per_s"], 2)
        return None

    out = {
        "messages": args.messages, "site": args.site, "versions": list(VERSIONS),
        "encodings": report.expected["encodings"],
        "repeat": args.repeat, "hl7apy_sample": args.hl7apy_sample, "cpus": os.cpu_count(),
        "load_average_at_start": round(load, 2), "results": results,
        "ratios": {f"{a}/{b}": ratio(a, b) for a in ("ours_w1", "ours_w2")
                   for b in ("hl7", "hl7apy_full", "hl7apy_segments")},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-hl7v2.json").write_text(json.dumps(out, indent=2))
    print()
    print(f"{'kind':>16} {'messages':>9} {'median s':>9} {'msg/s':>9} {'vs hl7':>7} {'vs hl7apy':>9} "
          f"{'msg/cpu-s':>10}")
    for kind, r in results.items():
        vs_hl7 = round(r["msgs_per_s"] / results["hl7"]["msgs_per_s"], 2) if "hl7" in results else ""
        vs_apy = (round(r["msgs_per_s"] / results["hl7apy_full"]["msgs_per_s"], 1)
                  if "hl7apy_full" in results else "")
        print(f"{kind:>16} {r['messages']:>9} {r['median_s']:>9} {r['msgs_per_s']:>9} {vs_hl7:>7} {vs_apy:>9} "
              f"{r['msgs_per_cpu_s']:>10}")
    print(f"(load average at start {out['load_average_at_start']} on {out['cpus']} CPUs; "
          f"written to {args.out / 'bench-hl7v2.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
