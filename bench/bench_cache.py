#!/usr/bin/env python3
"""First-seen and warm captures on a real C++ server (not part of CI): Debian's ceph-mon with its
zlib-compressed -dbg files (26 threads, ~230 MB of compressed DWARF across its modules), run as
tests/e2e/real_programs.py runs it. Per mode, median of --repeat runs, wall time and peak RSS:

  bt PID / bt --vars PID, first seen   the debug cache empty (a fresh XDG_CACHE_HOME each run)
  bt PID / bt --vars PID, warm         the cache filled by a previous run
  bt --no-cache PID                    inflating in memory, nothing written
  gdb thread apply all bt (/ bt full)  once each, for the ratios (--no-gdb: skipped)

The page cache is not dropped (it needs root and would also evict the compressed files, which a
machine that just deployed a binary has in memory anyway).

usage: bench_cache.py --bt build/bin/bt [--repeat 3] [--no-gdb] [--json OUT]
   (bash scripts/real-program-oracle installs ceph-mon, ceph-mon-dbg and ceph-common-dbg)
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
sys.path.insert(0, str(HERE.parent / "tests" / "oracle"))
import real_programs  # noqa: E402  (how ceph-mon is set up and started)
sys.path.insert(0, str(HERE))
from measure import run_measured  # noqa: E402


def measured(cmd, env=None):
    """(seconds, peak RSS MiB, exit code) of one run."""
    r = run_measured(cmd, env=env)
    return r.seconds, r.peak_rss_mib, r.exit_code


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bt", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-gdb", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="btbench-cache"))
    rows = []
    try:
        with real_programs.ceph_mon_program(work) as (pid, exe, _):
            threads = len(os.listdir(f"/proc/{pid}/task"))

            def env_with(cache):
                return dict(os.environ, XDG_CACHE_HOME=str(cache))

            for label, extra in (("bt", []), ("bt --vars", ["--vars"])):
                cold, warm = [], []
                for i in range(a.repeat):
                    cache = work / f"cache-{label.replace(' ', '')}-{i}"
                    cold.append(measured([a.bt, *extra, str(pid)], env_with(cache)))
                    warm.append(measured([a.bt, *extra, str(pid)], env_with(cache)))
                    shutil.rmtree(cache, ignore_errors=True)
                rows.append((f"{label}, first seen", cold))
                rows.append((f"{label}, warm", warm))
            rows.append(("bt --no-cache", [measured([a.bt, "--no-cache", str(pid)])
                                           for _ in range(a.repeat)]))
            if not a.no_gdb:
                for label, cmd in (("gdb thread apply all bt", "thread apply all bt"),
                                   ("gdb thread apply all bt full", "thread apply all bt full")):
                    rows.append((label, [measured(["gdb", "-batch", "-nx", "-p", str(pid), "-ex", cmd])]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gdb = {label: statistics.median(r[0] for r in runs) for label, runs in rows if label.startswith("gdb")}
    print(f"ceph-mon, {threads} threads; median of {a.repeat} (gdb: one run)")
    print("| command | time s | peak RSS MiB | gdb's time / this |")
    print("|---|---|---|---|")
    out = []
    for label, runs in rows:
        t = statistics.median(r[0] for r in runs)
        rss = statistics.median(r[1] for r in runs)
        ref = gdb.get("gdb thread apply all bt full" if "--vars" in label else "gdb thread apply all bt")
        ratio = f"{ref / t:.0f}x" if ref and not label.startswith("gdb") else ""
        print(f"| {label} | {t:.3f} | {rss:.0f} | {ratio} |")
        out.append({"command": label, "seconds": t, "peak_rss_mib": rss,
                    "exit_codes": [r[2] for r in runs]})
    if a.json:
        Path(a.json).write_text(json.dumps({"threads": threads, "rows": out}, indent=1))


if __name__ == "__main__":
    main()
