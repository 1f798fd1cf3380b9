#!/usr/bin/env python3
"""gdb through btserve (not part of CI): how long `gdb -batch -ex "target remote | btserve CORE"
-ex bt` takes and how many "Reading ... from remote target" lines it prints, with btserve's
default (over stdio, gdb reads the files here itself when they are the builds the core names),
with --serve-files (every module transferred through vFile, the old default), with
`set sysroot /`, and gdb on the core itself, in the same run.

Usage: python3 bench/bench_btserve.py --btserve build/bin/btserve [--repeat 5] [--json OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

SOURCE = r"""
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>
static std::map<std::string, std::vector<double>> table;
__attribute__((noinline)) void crash(volatile int *p) { *p = int(std::sqrt(table.size())); }
int main(int argc, char **argv) {
  table["x"].push_back(1.5);
  std::thread t([] { std::this_thread::sleep_for(std::chrono::seconds(30)); });
  if (argc > 1 && !strcmp(argv[1], "crash")) crash(nullptr);
  t.join();
}
"""


def make_core(work: Path) -> tuple[Path, Path]:
    (work / "prog.cpp").write_text(SOURCE)
    exe = work / "prog"
    subprocess.run(["g++", "-g", "-O1", "-pthread", str(work / "prog.cpp"), "-o", str(exe)], check=True)
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern.startswith("|") or "/" in pattern:
        raise SystemExit(f"core_pattern {pattern!r}: need a plain pattern (e.g. 'core')")
    subprocess.run([str(exe), "crash"], cwd=work, capture_output=True,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE, (-1, -1)))
    cores = sorted(work.glob("core*"))
    if not cores:
        raise SystemExit("no core was written")
    return exe, cores[0]


def run_gdb(args) -> tuple[float, int]:
    t0 = time.monotonic()
    p = subprocess.run(["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off"] + args,
                       capture_output=True, text=True, timeout=300)
    return time.monotonic() - t0, (p.stdout + p.stderr).count("from remote target")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--btserve", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        exe, core = make_core(work)
        modes = {
            "btserve (default)": ["-ex", f"target remote | {a.btserve} {core}", "-ex", "bt"],
            "btserve --serve-files": ["-ex", f"target remote | {a.btserve} --serve-files {core}", "-ex", "bt"],
            "btserve, set sysroot /": ["-ex", "set sysroot /", "-ex",
                                       f"target remote | {a.btserve} --serve-files {core}", "-ex", "bt"],
            "gdb on the core": ["-ex", "bt", str(exe), str(core)],
        }
        results = {}
        for name, args in modes.items():
            runs = [run_gdb(args) for _ in range(a.repeat)]
            results[name] = {"median_s": statistics.median(r[0] for r in runs),
                             "remote_reads": runs[0][1]}
            print(f"{name:26} {results[name]['median_s']:.3f} s  "
                  f"{results[name]['remote_reads']} 'from remote target' lines", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
