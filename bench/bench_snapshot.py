#!/usr/bin/env python3
"""Snapshot benchmarks (not part of CI): size of `bt snapshot` vs gdb's gcore core of the same
process, and how long bt keeps the target stopped, without and with variables (the default:
stopped while its registers and stacks are copied) and with --keep-stopped (stopped until every
variable is read).

Targets: bench/heap_server.cpp (10 threads, a large heap; built here with g++ -O2 -g) and, if
given, another program started with `TARGET pause`-style READY protocol (--big-server PATH).

Usage: python3 bench/bench_snapshot.py --bt build/bin/bt [--heap-mb 1024] [--repeat 5]
           [--big-server "$(python3 bench/gen/gen_target.py)"] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from measure import Target, bt_snapshot, gcore  # noqa: E402


def measure(name, cmd, bt, repeat, work):
    with Target(cmd) as target:
        core, _ = gcore(target.pid, work / "gcore")
        res = {"target": name, "gcore_bytes": core.stat().st_size}
        core.unlink()
        for label, extra in [("no_vars", ["--no-vars"]), ("vars", []), ("vars_kept", ["--keep-stopped"])]:
            snaps = [bt_snapshot(bt, target.pid, work / "s.btsnap", ["-q", *extra]) for _ in range(repeat)]
            res[f"snapshot_bytes_{label}"] = int(statistics.median(s["bytes"] for s in snaps))
            res[f"stopped_ms_{label}"] = statistics.median(s["stopped_ms"] for s in snaps)
            res[f"stopped_ms_{label}_max"] = max(s["stopped_ms"] for s in snaps)
        res["ratio_percent"] = 100.0 * res["snapshot_bytes_vars"] / res["gcore_bytes"]
        return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bt", required=True)
    ap.add_argument("--heap-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--big-server")
    ap.add_argument("--json")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="btbench"))
    exe = work / "heap_server"
    subprocess.run(["g++", "-O2", "-g", "-pthread", str(HERE / "heap_server.cpp"), "-o", str(exe)],
                   check=True)
    results = [measure(f"heap_server ({a.heap_mb} MiB heap, 11 threads, -O2)",
                       [str(exe), str(a.heap_mb)], a.bt, a.repeat, work)]
    if a.big_server:
        results.append(measure("big_server (17 threads, 300 units)", [a.big_server], a.bt, a.repeat, work))
    for r in results:
        print(f"{r['target']}:")
        print(f"  gcore core        {r['gcore_bytes'] / 1e6:10.1f} MB")
        print(f"  snapshot          {r['snapshot_bytes_vars'] / 1e3:10.1f} KB with variables "
              f"({r['ratio_percent']:.3f}% of the core), {r['snapshot_bytes_no_vars'] / 1e3:.1f} KB without")
        print(f"  target stopped    {r['stopped_ms_no_vars']:10.1f} ms without variables (max {r['stopped_ms_no_vars_max']:.1f}), "
              f"{r['stopped_ms_vars']:.1f} ms with (max {r['stopped_ms_vars_max']:.1f}), "
              f"{r['stopped_ms_vars_kept']:.1f} ms with --keep-stopped (max {r['stopped_ms_vars_kept_max']:.1f}); "
              f"median of {a.repeat}")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))
    os.rmdir(work) if not any(work.iterdir()) else None


if __name__ == "__main__":
    main()
