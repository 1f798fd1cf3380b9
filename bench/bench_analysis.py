#!/usr/bin/env python3
"""What the crash analysis costs: for every fault-class program of tests/e2e/data/fault_classes.cpp
(a real crash each, kernel core) and for the big generated server live (optional), bt's own
account (BT_DEBUG_STATS=1): the time spent reading the analysis' evidence while the target is
frozen, and the time of the rules, fingerprint and highlights afterwards; plus bt's whole run
with --vars for scale. Medians over --repeat runs.

Usage: bench/bench_analysis.py --bt build/bin/bt [--repeat 5] [--big-server PATH] [--json OUT]"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "tests" / "e2e" / "data" / "fault_classes.cpp"
MODES = ["null_field", "wild_write", "call_null", "stack_overflow", "stack_smash", "double_free",
         "assert", "exception", "memcpy_bad", "divide"]
STATS = re.compile(r"analysis: ([0-9.]+) ms reading evidence \(target frozen\), ([0-9.]+) ms rules")


def measure(bt: str, target: str, repeat: int):
    read, rules, total = [], [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = subprocess.run([bt, "--vars", "-q", target], capture_output=True, text=True,
                           env=dict(os.environ, BT_DEBUG_STATS="1"))
        total.append((time.perf_counter() - t0) * 1000)
        m = STATS.search(r.stderr)
        if not m:
            sys.exit(f"bt printed no analysis stats for {target}: {r.stderr[-500:]}")
        read.append(float(m.group(1)))
        rules.append(float(m.group(2)))
    return {"evidence_read_ms": statistics.median(read), "analysis_ms": statistics.median(rules),
            "bt_vars_ms": statistics.median(total)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bt", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big-server")
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        exe = Path(d) / "fault_classes"
        subprocess.run(["g++", "-g", "-O2", "-fstack-protector-strong", str(SOURCE), "-o", str(exe)], check=True)
        for mode in MODES:
            wd = Path(d) / mode
            wd.mkdir()
            subprocess.run([str(exe), "crash"], cwd=wd, env=dict(os.environ, FAULT_MODE=mode),
                           preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (-1, -1)),
                           capture_output=True)
            cores = list(wd.glob("core*"))
            if not cores:
                sys.exit(f"{mode}: no core in {wd} (core_pattern must write cores into the cwd)")
            results[mode] = measure(args.bt, str(cores[0]), args.repeat)
            r = results[mode]
            print(f"{mode:15} evidence read {r['evidence_read_ms']:7.3f} ms   rules {r['analysis_ms']:6.3f} ms"
                  f"   (bt --vars {r['bt_vars_ms']:6.1f} ms)")
        if args.big_server:
            p = subprocess.Popen([args.big_server], stdout=subprocess.DEVNULL)
            try:
                time.sleep(2)
                results["big_server (live)"] = r = measure(args.bt, str(p.pid), args.repeat)
                print(f"{'big_server live':15} evidence read {r['evidence_read_ms']:7.3f} ms   rules "
                      f"{r['analysis_ms']:6.3f} ms   (bt --vars {r['bt_vars_ms']:6.1f} ms)")
            finally:
                p.kill()
                p.wait()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
