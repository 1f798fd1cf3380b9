#!/usr/bin/env python3
"""How bt's costs grow (not part of CI): series of generated targets (bench/gen/gen_target.py),
each point one live process measured --repeat times (medians):

  threads   1 → 1000 worker threads (small binary): bt, bt --vars, bt snapshot (time, size, how long
            the target was stopped), gdb thread apply all bt
  libs      10 → 500 shared libraries loaded (all on the stacks' path): the same
  dwarf     DWARF ~100 MB → ~1 GB (240 → 2400 units, zlib-compressed sections as distributions
            ship them): bt first seen (empty debug cache, page cache dropped where allowed), bt warm,
            bt --vars warm, gdb thread apply all bt
  rss       resident size 1, 4, 16 GiB (touched heap) and 1 TiB of sparse virtual mappings:
            bt snapshot time, size and pause must not grow with it; bt warm beside
gdb runs once per point (after a run that fills the page cache), bt --repeat times.

Writes bench/results/scale.md (tables), scale.json (all figures) and one PNG per series
(time and peak RSS against the knob, log scales), and appends a line to history.jsonl.
The first run builds the large targets (the dwarf series: ~25 min on 2 cores; kept afterwards).

usage: scale.py --bt build/bin/bt [--series threads,libs,dwarf,rss] [--repeat 3] [--quick]
                [--no-gdb] [--out bench/results] [--replot]
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
from measure import Stats, Target, bt_snapshot, drop_page_cache, markdown_table, run_measured  # noqa: E402

# name: (knob label, points, how a point is built and started)
SERIES = {
    "threads": ("threads", [1, 10, 100, 1000], lambda v: (dict(units=20), ["--threads", v])),
    "libs": ("shared libraries loaded", [10, 50, 100, 500],
             lambda v: (dict(units=20, libs=v), ["--threads", 4, "--depth", 24])),
    "dwarf": ("DWARF MB (inflated)", [240, 600, 1200, 2400],
              lambda v: (dict(units=v, compress="zlib"), ["--threads", 16])),
    "rss": ("resident GiB (last point: 1 TiB sparse mapping)", ["1", "4", "16", "1T-sparse"],
            lambda v: (dict(units=20), ["--threads", 16] + (["--sparse-gib", 1024] if v == "1T-sparse"
                                                             else ["--rss-mib", int(v) * 1024]))),
}
QUICK = {"threads": [1, 100], "libs": [10, 50], "dwarf": [240], "rss": ["1", "1T-sparse"]}


def measure_point(series, value, bt, repeat, no_gdb, work) -> dict:
    build_args, run_args = SERIES[series][2](value)
    exe = gen_target.build(**build_args)
    point = {"value": value, "target": exe.name, "dwarf_bytes": gen_target.dwarf_bytes(exe)}
    warm = work / "warm-cache"
    shutil.rmtree(warm, ignore_errors=True)
    with Target([exe, *run_args]) as t:
        pid = str(t.pid)
        point.update(threads=t.threads(), rss_mib=t.rss_mib(), vsize_gib=t.vsize_gib(), mappings=t.mappings())
        env_warm = dict(os.environ, XDG_CACHE_HOME=str(warm))

        def measured(label, cmd, env, cold=False):
            stats = Stats()
            for i in range(repeat):
                e = env
                if cold:
                    cache = work / f"cold-{i}"
                    e = dict(env, XDG_CACHE_HOME=str(cache))
                    drop_page_cache()
                stats.runs.append(run_measured(cmd, env=e))
                if cold:
                    shutil.rmtree(cache, ignore_errors=True)
                if t.stopped():
                    raise SystemExit(f"{label} left the target stopped")
            point[label] = stats.as_json()

        if series == "dwarf":
            measured("bt first seen", [bt, pid], env_warm, cold=True)
            measured("bt --vars first seen", [bt, "--vars", pid], env_warm, cold=True)
        run_measured([bt, pid], env=env_warm)  # fills the debug cache
        measured("bt", [bt, pid], env_warm)
        measured("bt --vars", [bt, "--vars", pid], env_warm)
        snaps = [bt_snapshot(bt, t.pid, work / "s.btsnap", ["-q"], env_warm) for _ in range(repeat)]
        point["bt snapshot"] = {k: sorted(s[k] for s in snaps)[len(snaps) // 2]
                                for k in ("seconds", "peak_rss_mib", "bytes", "stopped_ms")}
        if not no_gdb:
            # Once, after a run that fills the page cache: gdb takes up to a minute on 1 GB of DWARF.
            gdb = ["gdb", "-batch", "-nx", "-p", pid, "-ex", "thread apply all bt"]
            run_measured(gdb)
            point["gdb thread apply all bt"] = Stats(runs=[run_measured(gdb)]).as_json()
    return point


def plot(series, points, out: Path) -> Path | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("scale: matplotlib is not installed (bash scripts/setup --bench): no plots", file=sys.stderr)
        return None
    label = SERIES[series][0]
    if series == "dwarf":
        xs = [p["dwarf_bytes"] / 1e6 for p in points]
    elif series == "rss":
        xs = list(range(len(points)))
    else:
        xs = [p["value"] for p in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    keys = [k for k in ("bt first seen", "bt", "bt --vars first seen", "bt --vars", "bt snapshot",
                        "gdb thread apply all bt") if k in points[0]]
    names = {"bt": "bt, warm", "bt --vars": "bt --vars, warm", "bt snapshot": "bt snapshot, warm",
             "gdb thread apply all bt": "gdb thread apply all bt"}
    for k in keys:
        ax1.plot(xs, [p[k]["seconds"] for p in points], marker="o", label=names.get(k, k))
        ax2.plot(xs, [p[k]["peak_rss_mib"] for p in points], marker="o", label=names.get(k, k))
    ax1.plot(xs, [p["bt snapshot"]["stopped_ms"] / 1000 for p in points], marker="x", linestyle="--",
             label="bt snapshot: target stopped")
    for ax, ylabel in ((ax1, "seconds (median)"), (ax2, "peak RSS MiB (median)")):
        ax.set_xlabel(label)
        ax.set_ylabel(ylabel)
        ax.set_yscale("log")
        if series != "rss":
            ax.set_xscale("log")
        else:
            ax.set_xticks(xs, [str(p["value"]) for p in points])
        ax.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(f"bt vs {label}")
    fig.tight_layout()
    path = out / f"scale-{series}.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def table(series, points) -> str:
    rows = []
    for p in points:
        def cell(k):
            return f"{p[k]['seconds']:.3f} s / {p[k]['peak_rss_mib']:.0f} MB" if k in p else ""
        s = p["bt snapshot"]
        rows.append([p["value"], p["threads"], p["mappings"], f"{p['dwarf_bytes'] / 1e6:.0f}",
                     f"{p['rss_mib'] / 1024:.1f}", f"{p['vsize_gib']:.0f}",
                     cell("bt first seen"), cell("bt"), cell("bt --vars"),
                     f"{s['seconds']:.3f} s, {s['bytes'] / 1e3:.0f} KB, stopped {s['stopped_ms']:.1f} ms",
                     cell("gdb thread apply all bt")])
    return markdown_table(["point", "threads", "mappings", "DWARF MB", "RSS GiB", "virtual GiB",
                           "bt first seen", "bt warm", "bt --vars warm", "bt snapshot", "gdb bt"], rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bt")
    ap.add_argument("--series", default="threads,libs,dwarf,rss")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="two small points per series")
    ap.add_argument("--no-gdb", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plots from OUT/scale.json")
    a = ap.parse_args()
    if a.replot:
        for series, points in json.loads((Path(a.out) / "scale.json").read_text())["series"].items():
            plot(series, points, Path(a.out))
        return
    if not a.bt:
        ap.error("--bt is required (except with --replot)")
    bt = str(Path(a.bt).resolve())
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="btbench-scale"))
    results = {}
    prev = out / "scale.json"
    if prev.exists():
        results = json.loads(prev.read_text()).get("series", {})  # series not rerun keep their figures
    try:
        for series in a.series.split(","):
            if series not in SERIES:
                sys.exit(f"scale: unknown series {series!r} (one of {', '.join(SERIES)})")
            points = []
            for v in (QUICK[series] if a.quick else SERIES[series][1]):
                print(f"scale: {series} = {v}", file=sys.stderr)
                points.append(measure_point(series, v, bt, a.repeat, a.no_gdb, work))
            results[series] = points
            plot(series, points, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rev = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    md = [f"# bt scale series ({stamp}, {rev}; median of {a.repeat}; `python3 bench/scale.py`)\n"]
    for series, points in results.items():
        md += [f"## {series}: {SERIES[series][0]}\n", table(series, points), "",
               f"![{series}](scale-{series}.png)\n"]
    (out / "scale.md").write_text("\n".join(md))
    (out / "scale.json").write_text(json.dumps({"time": stamp, "rev": rev, "repeat": a.repeat,
                                                "series": results}, indent=1))
    with open(out / "history.jsonl", "a") as f:
        f.write(json.dumps({"time": stamp, "rev": rev, "kind": "scale", "series": {
            s: results[s] for s in a.series.split(",")}}) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
