#!/usr/bin/env python3
"""Times an all-thread backtrace of one live process by bt, gdb, lldb-19 and eu-stack, in the
same run, and prints wall time and peak RSS with ratios against bt.

usage: bench_backtrace.py --bt BUILD/bin/bt --target EXE [--repeat 3] [--json OUT]
The target must print "READY <pid>" when its threads are parked.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time


def run_measured(cmd):
    """Runs cmd; returns (seconds, peak RSS in MiB, exit code, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return dt, ru.ru_maxrss / 1024.0, p.returncode, out.decode(errors="replace")


def state_of(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bt", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--vars", action="store_true",
                    help="compare bt --vars with gdb's 'thread apply all bt full' (lldb and eu-stack have no equivalent)")
    a = ap.parse_args()

    proc = subprocess.Popen([a.target, "pause"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("READY"):
        sys.exit(f"target did not get ready: {line!r}")
    pid = proc.pid
    nthreads = len(os.listdir(f"/proc/{pid}/task"))
    dwarf = 0
    for l in subprocess.run(["size", "-A", a.target], capture_output=True, text=True).stdout.splitlines():
        parts = l.split()
        if parts and parts[0].startswith(".debug"):
            dwarf += int(parts[1])

    if a.vars:
        tools = {
            "bt --vars": [a.bt, "--no-cache", "--vars", str(pid)],
            "gdb bt full": ["gdb", "-batch", "-nx", "-p", str(pid), "-ex", "thread apply all bt full"],
        }
    else:
        tools = {
            "bt": [a.bt, "--no-cache", str(pid)],
            "gdb": ["gdb", "-batch", "-nx", "-p", str(pid), "-ex", "thread apply all bt"],
            "lldb-19": ["lldb-19", "--batch", "-p", str(pid), "-o", "bt all"],
            "eu-stack": ["eu-stack", "-p", str(pid)],
        }
    results = {}
    try:
        for name, cmd in tools.items():
            if not shutil.which(cmd[0]):
                print(f"{name}: not installed, skipped", file=sys.stderr)
                continue
            runs = []
            for _ in range(a.repeat):
                dt, rss, rc, out = run_measured(cmd)
                runs.append((dt, rss, rc, out))
                # The target must be running again after every tool.
                time.sleep(0.05)
                st = state_of(pid)
                if st in ("t", "T"):
                    sys.exit(f"{name} left the target stopped (state {st})")
            ok = [r for r in runs if r[2] == 0]
            results[name] = {
                "seconds": statistics.median(r[0] for r in runs),
                "peak_rss_mib": statistics.median(r[1] for r in runs),
                "exit_codes": [r[2] for r in runs],
                # gdb, bt and eu-stack print "#N ..."; lldb prints "frame #N: ...".
                "frames_lines": len([l for l in runs[-1][3].splitlines()
                                     if re.match(r"\s*(\*\s*)?(frame )?#\d+", l)]),
            }
    finally:
        proc.kill()
        proc.wait()

    print(f"target: {a.target}  threads: {nthreads}  DWARF: {dwarf / 1e6:.1f} MB  repeat: {a.repeat} (median)")
    print(f"{'tool':12} {'time s':>9} {'peak MiB':>9} {'time/bt':>8} {'rss/bt':>7}  frames")
    base = next(iter(results.values()), None)
    for name, r in results.items():
        tr = r["seconds"] / base["seconds"] if base else float("nan")
        rr = r["peak_rss_mib"] / base["peak_rss_mib"] if base else float("nan")
        print(f"{name:12} {r['seconds']:9.3f} {r['peak_rss_mib']:9.1f} {tr:8.1f} {rr:7.1f}  {r['frames_lines']}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"target": a.target, "threads": nthreads, "dwarf_bytes": dwarf, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
