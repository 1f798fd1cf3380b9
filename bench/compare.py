#!/usr/bin/env python3
"""bt against gdb, lldb-19, eu-stack, drgn and gcore on one live benchmark target (not part of CI).

On the same live process, each tool's all-thread backtrace is run --repeat times, cold and warm:
  cold   the page cache dropped before each run (root only; otherwise said and skipped) and, for
         bt, an empty debug cache (a fresh XDG_CACHE_HOME)
  first  bt's debug cache empty, the files in the page cache: the first capture after a deploy
         (bt's rows only; ratios to gdb's warm runs)
  warm   files in the page cache and bt's debug cache filled by a previous run
and the medians (wall time, peak RSS) are printed as a Markdown table with ratios to gdb, with
`bt snapshot` (size, how long the target was stopped) and gcore (size, time) beside them.
The target is built by bench/gen/gen_target.py (or given with --target).

usage: compare.py --bt build/bin/bt [--units 300] [--compress none] [--threads 16] [--repeat 3]
                  [--target EXE] [--no-cold] [--tools bt,gdb,...] [--json OUT] [--markdown OUT]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "gen"))
import gen_target  # noqa: E402
from measure import (DRGN_SCRIPT, Stats, Target, bt_snapshot, can_drop_caches, drop_page_cache, gcore,  # noqa: E402
                     frame_lines, markdown_table, run_measured, tool_commands)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bt", required=True)
    ap.add_argument("--units", type=int, default=300)
    ap.add_argument("--compress", choices=["none", "zlib", "zstd"], default="none")
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--target", help="a built target (READY protocol) instead of generating one")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cold", action="store_true", help="warm runs only")
    ap.add_argument("--tools", help="comma-separated subset of the tools' names (default: all installed)")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    a = ap.parse_args()
    bt = str(Path(a.bt).resolve())
    exe = Path(a.target) if a.target else gen_target.build(a.units, 0, a.compress)
    inflated, on_disk = gen_target.dwarf_bytes(exe), gen_target.dwarf_bytes(exe, inflated=False)
    cold = not a.no_cold
    if cold and not can_drop_caches():
        print("compare: cannot drop the page cache (not root): cold runs keep it warm and only "
              "empty bt's debug cache", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="btbench-compare"))
    drgn_script = work / "stacks.py"
    drgn_script.write_text(DRGN_SCRIPT)
    rows, results = [], {}
    with Target([exe, "--threads", a.threads]) as target:
        pid, threads = target.pid, target.threads()
        tools = tool_commands(bt, pid)
        if a.tools:
            wanted = a.tools.split(",")
            tools = {k: v for k, v in tools.items() if any(k.startswith(w) for w in wanted)}
        # cold: page cache dropped and bt's cache empty; first: bt's cache empty, files in the page
        # cache (a binary just deployed; bt rows only); warm: both filled by a previous run.
        modes = (["cold"] if cold else []) + ["first", "warm"]
        warm_cache = work / "warm-cache"
        for mode in modes:
            fresh = mode in ("cold", "first")
            for name, cmd in tools.items():
                if mode == "first" and not name.startswith("bt"):
                    continue
                stats = Stats()
                for i in range(a.repeat):
                    env = dict(os.environ)
                    cache = work / f"fresh-{i}" if fresh else warm_cache
                    if name.startswith("bt"):
                        env["XDG_CACHE_HOME"] = str(cache)
                    if i == 0 and mode != "cold":
                        run_measured(cmd, env=dict(os.environ, XDG_CACHE_HOME=str(warm_cache)))  # page cache, bt's cache
                    if mode == "cold":
                        drop_page_cache()
                    # A first-seen run leaves ~500 MB of cache files to write back: written now,
                    # not by the kernel during the next measured run.
                    os.sync()
                    stats.runs.append(run_measured(cmd, env=env, keep_stdout=True))
                    if target.stopped():
                        raise SystemExit(f"{name} left the target stopped")
                    shutil.rmtree(work / f"fresh-{i}", ignore_errors=True)
                results[f"{name} ({mode})"] = dict(stats.as_json(), frames=frame_lines(stats.runs[-1].stdout))
                print(f"compare: {name} ({mode}) {stats.seconds:.3f} s {stats.peak_rss_mib:.0f} MiB",
                      file=sys.stderr)
            if not a.tools or "snapshot" in a.tools:
                for label, extra in (("bt snapshot", []), ("bt snapshot --no-vars", ["--no-vars"])):
                    snaps = []
                    for i in range(a.repeat):
                        cache = work / f"fresh-{i}" if fresh else warm_cache
                        env = dict(os.environ, XDG_CACHE_HOME=str(cache))
                        if mode == "cold":
                            drop_page_cache()
                        snaps.append(bt_snapshot(bt, pid, work / "s.btsnap", ["-q", *extra], env))
                        shutil.rmtree(work / f"fresh-{i}", ignore_errors=True)
                    med = lambda k: sorted(s[k] for s in snaps)[len(snaps) // 2]  # noqa: E731
                    results[f"{label} ({mode})"] = {k: med(k) for k in ("seconds", "peak_rss_mib", "bytes", "stopped_ms")}
        if shutil.which("gcore") and (not a.tools or "gcore" in a.tools):
            # gcore's core of the same process: its size and time, and the tools that read cores
            # (drgn cannot unwind a live process, so its row is on this core).
            core, seconds = gcore(pid, work / "core")
            results["gcore (warm)"] = {"seconds": seconds, "bytes": core.stat().st_size}
            on_core = {"bt CORE": [bt, str(core)],
                       "gdb thread apply all bt, core": ["gdb", "-batch", "-nx", str(exe), str(core),
                                                         "-ex", "thread apply all bt"]}
            if shutil.which("drgn"):
                on_core["drgn stack_trace, core"] = ["drgn", "-q", "-c", str(core), str(drgn_script)]
            if not a.tools or "core" in a.tools:
                env = dict(os.environ, XDG_CACHE_HOME=str(warm_cache))
                for name, cmd in on_core.items():
                    run_measured(cmd, env=env)
                    stats = Stats(runs=[run_measured(cmd, env=env, keep_stdout=True) for _ in range(a.repeat)])
                    results[f"{name} (warm)"] = dict(stats.as_json(), frames=frame_lines(stats.runs[-1].stdout))
            core.unlink()
    shutil.rmtree(work, ignore_errors=True)

    for mode in ("cold", "first", "warm"):
        ref_mode = "warm" if mode == "first" else mode  # gdb has no cache: its warm run
        gdb = results.get(f"gdb thread apply all bt ({ref_mode})")
        gdb_full = results.get(f"gdb thread apply all bt full ({ref_mode})")
        for key, r in results.items():
            if not key.endswith(f"({mode})"):
                continue
            ref = gdb_full if ("--vars" in key or key.startswith("bt snapshot (") or "bt full" in key) else (results.get("gdb thread apply all bt, core (warm)") if "core" in key.lower() else gdb)
            ratio = f"{ref['seconds'] / r['seconds']:.1f}x" if ref and "seconds" in r and not key.startswith("gcore") else ""
            rss = f"{r['peak_rss_mib']:.0f}" if "peak_rss_mib" in r else ""
            extra = []
            if "frames" in r:
                extra.append(f"{r['frames']} frames")
            if "bytes" in r:
                extra.append(f"{r['bytes'] / 1e6:.2f} MB")
            if "stopped_ms" in r:
                extra.append(f"target stopped {r['stopped_ms']:.1f} ms")
            rows.append([key, f"{r['seconds']:.3f}", rss, ratio, ", ".join(extra)])
    title = (f"{exe.name}: {threads} threads, DWARF {inflated / 1e6:.0f} MB"
             f"{'' if inflated == on_disk else f' ({on_disk / 1e6:.0f} MB compressed on disk)'}; "
             f"median of {a.repeat}; cold = page cache dropped{'' if can_drop_caches() else ' (not possible here)'}"
             f" and bt's cache empty")
    table = markdown_table(["command", "time s", "peak RSS MiB", "gdb's time / this", "notes"], rows)
    print(title)
    print(table)
    if a.markdown:
        Path(a.markdown).write_text(f"{title}\n\n{table}\n")
    rev = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    record = {"time": time.strftime("%Y-%m-%dT%H:%M:%S"), "rev": rev, "kind": "compare",
              "target": exe.name, "threads": threads, "dwarf_bytes": inflated,
              "dwarf_bytes_on_disk": on_disk, "repeat": a.repeat, "results": results}
    if a.json:
        Path(a.json).write_text(json.dumps(record, indent=1))
        # Every run's figures, one line each, beside the latest (bench/results/history.jsonl).
        with open(Path(a.json).parent / "history.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
