#!/usr/bin/env python3
"""Real programs nobody here wrote, with gdb 13 as the oracle (issue 15): how many of gdb's frames
and variables `bt --json --vars` reproduces, live and on a core, and why the rest differ.

Programs (each skipped, with the reason, when it is not installed; scripts/real-program-oracle
installs them):
  python    the Python 3.11 debug interpreter (Debian python3.11-dbg) running
            tests/e2e/data/python_workload.py: 9 threads blocked on a lock, a condition, accept(),
            recv(), sleep(), select(), a 40-deep recursion and Python called from C (map, reduce).
            gdb's libpython printers are off (they print PyObject* as Python values).
  ceph-mon  the Ceph monitor (Debian ceph-mon with ceph-mon-dbg and ceph-common-dbg), a C++ server
            of 26 threads, run as a one-monitor cluster on loopback in a temporary directory.

For each program and mode (live: bt, then gdb, on the same process, stopped with SIGSTOP while
they look so that both see the same moment; core: gdb's gcore of it, read by both), frames are aligned and variables compared with the rules of the vars oracle
(tests/oracle/varscmp.py; a second gdb run asks gdb where it reads the candidates from). Every
frame is a library frame here, compiled with optimisation, so varscmp's categories apply:
bt-knows-more, gdb-clobbered-register (gdb shows a stale call-clobbered register), ... The table
counts a variable as agreeing when the texts are equal, and as explained when its difference falls
in a category or a documented cause of the vars oracle's baseline (varscmp.BASELINE_CAUSES, e.g. a
C label gdb lists as a local); the remaining differences are listed grouped by likely cause
(vars_report.cause).

    python3 tests/e2e/real_programs.py [--program python|ceph-mon] [--mode live|core] [--show N]

Writes every difference to build/tests/real-programs-report.json (--report FILE). Exit status 0
when it ran, 1 on a tool failure; differences are a report, not a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "oracle"))

import btjson  # noqa: E402
import e2e_util as u  # noqa: E402
import elfsyms  # noqa: E402
import gdb_locations  # noqa: E402
import gdbvars  # noqa: E402
import vars_report  # noqa: E402
import varscmp  # noqa: E402

PYTHON_DBG = "/usr/bin/python3.11-dbg"
CEPH_MON = "/usr/bin/ceph-mon"
START_TIMEOUT = 60


class Skip(Exception):
    pass


def _wait_ready(proc, what):
    """The first line a program prints, or Skip when it does not start."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Skip(f"{what} exited with status {proc.returncode}: {proc.stderr.read()[-500:]}")
        line = proc.stdout.readline()
        if line:
            return line.strip()
    raise Skip(f"{what} did not start within {START_TIMEOUT} s")


@contextlib.contextmanager
def python_program(workdir: Path):
    if not os.access(PYTHON_DBG, os.X_OK):
        raise Skip(f"{PYTHON_DBG} is not installed (Debian python3.11-dbg)")
    proc = subprocess.Popen([PYTHON_DBG, str(HERE / "data" / "python_workload.py")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_ready(proc, "python3.11-dbg")
        yield proc.pid, os.path.realpath(PYTHON_DBG), ["-iex", "set auto-load python-scripts off"]
    finally:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def ceph_mon_program(workdir: Path):
    for tool in (CEPH_MON, "/usr/bin/monmaptool", "/usr/bin/ceph-authtool"):
        if not os.access(tool, os.X_OK):
            raise Skip(f"{tool} is not installed (Debian ceph-mon)")
    if not all(Path("/usr/share/doc", p).is_dir() for p in ("ceph-mon-dbg", "ceph-common-dbg")):
        raise Skip("ceph-mon's debug files are not installed (Debian ceph-mon-dbg, ceph-common-dbg)")
    fsid = str(uuid.uuid4())
    port = 16789
    (workdir / "run").mkdir()
    conf = workdir / "ceph.conf"
    conf.write_text(
        "[global]\n"
        f"fsid = {fsid}\n"
        f"mon host = 127.0.0.1:{port}\n"
        "auth cluster required = none\nauth service required = none\nauth client required = none\n"
        f"run dir = {workdir}/run\n"
        f"admin socket = {workdir}/run/$name.asok\n"
        f"log file = {workdir}/$name.log\n"
        f"mon data = {workdir}/mon-$id\n"
        "ms bind msgr2 = false\n")
    def run(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise Skip(f"{' '.join(cmd)} failed: {r.stderr[-500:]}")
    run(["monmaptool", "--create", "--add", "a", f"127.0.0.1:{port}", "--fsid", fsid,
         str(workdir / "monmap")])
    run(["ceph-authtool", "--create-keyring", str(workdir / "keyring"), "--gen-key", "-n", "mon.",
         "--cap", "mon", "allow *"])
    run([CEPH_MON, "-c", str(conf), "--mkfs", "-i", "a", "--monmap", str(workdir / "monmap"),
         "--keyring", str(workdir / "keyring")])
    proc = subprocess.Popen([CEPH_MON, "-c", str(conf), "-i", "a", "-f"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        # Ready when its thread count has settled (it prints nothing in the foreground).
        last, stable = -1, 0
        deadline = time.monotonic() + START_TIMEOUT
        while stable < 4:
            if proc.poll() is not None:
                raise Skip(f"ceph-mon exited with status {proc.returncode}: {proc.stderr.read()[-500:]}")
            if time.monotonic() > deadline:
                raise Skip("ceph-mon's threads did not settle")
            n = len(os.listdir(f"/proc/{proc.pid}/task"))
            stable = stable + 1 if n == last else 0
            last = n
            time.sleep(0.5)
        yield proc.pid, CEPH_MON, []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


PROGRAMS = {"python": python_program, "ceph-mon": ceph_mon_program}


def gdb_full(target_args, extra):
    cmd = u.gdb_full_command()
    cmd[1:1] = extra  # before the target is loaded (-iex)
    return u._run_env(cmd + [str(a) for a in target_args], 900, u.GDB_FULL_ENV)


def compare(gdb_run, bt_run):
    if bt_run.returncode != 0:
        raise RuntimeError(f"bt failed:\n{bt_run.describe()}")
    doc = btjson.load(bt_run.stdout)
    full = gdbvars.parse_full(gdb_run.stdout)
    if not full.bt.threads:
        raise RuntimeError(f"gdb printed no threads:\n{gdb_run.describe()}")

    def alias_check(module, a, b):
        return elfsyms.are_aliases(module, a, b, ["/usr/lib/debug"])

    # No frame is the program's "own" source here: every frame is an optimised library frame.
    return full, varscmp.compare(full, doc, "/nonexistent", 2, "", alias_check)


def wait_all_stopped(pid, timeout=10.0):
    """Until every thread of pid is in the group stop (state T) a SIGSTOP brings."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if states and all(st == "T" for st in states):
            return
        time.sleep(0.05)
    raise RuntimeError(f"process {pid} did not stop")


def summarize(program, mode, full, cmp, bt_run, gdb_run):
    gdb_frames = sum(len(t.frames) for t in full.bt.threads)
    frame_diffs = [d for d in cmp.diffs if d.what in ("frame-unaligned", "thread-missing")]
    total = cmp.compared_vars
    records = []
    for d in cmp.diffs:
        r = {"program": program, "mode": mode, "what": d.what, "where": d.where, "frame": d.frame,
             "kind": d.kind, "name": d.name, "gdb": d.gdb, "bt": d.bt, "type": d.bt_type,
             "category": d.category.name if d.category else None, "accepted": d.accepted,
             "scope": d.scope, "optimized_frame": d.optimized, "caller_frame": d.caller_frame,
             "caller_kind": d.caller_kind, "gdb_location": d.gdb_location,
             "gdb_symbols": d.gdb_symbols, "note": d.note, "binary": program, "opt": 2}
        # Explained: a category of the vars oracle, or a documented cause of its baseline
        # (varscmp.BASELINE_CAUSES, e.g. gdb-label-as-local, proven by gdb's own symbol).
        documented = None if d.accepted else vars_report.baseline_cause(r)
        if documented == varscmp.UNCLASSIFIED:
            documented = None
        r["explained"] = d.accepted or documented is not None
        r["cause"] = d.category.name if d.accepted else documented or vars_report.cause(r)
        records.append(r)
    # One variable can differ twice (value and entry value): count variables, not differences.
    def names(explained):
        return {(r["where"], r["kind"], r["name"]) for r in records
                if r["name"] is not None and r["explained"] == explained}
    n_diff = len(names(False))
    n_expl = len(names(True) - names(False))
    return {
        "program": program, "mode": mode, "threads": len(full.bt.threads),
        "gdb_frames": gdb_frames, "frames_aligned": cmp.compared_frames,
        "frame_differences": len(frame_diffs), "variables": total,
        "variables_equal": total - n_diff - n_expl, "variables_explained": n_expl,
        "variables_differing": n_diff, "bt_seconds": round(bt_run.seconds, 2),
        "gdb_seconds": round(gdb_run.seconds, 2), "records": records,
    }


def run_program(name, modes, workdir: Path):
    results = []
    with PROGRAMS[name](workdir) as (pid, exe, gdb_extra):
        if "live" in modes:
            # The process is stopped (SIGSTOP) while bt and gdb look, so that both see the same
            # moment: a server's timed waits advance their counters between two looks otherwise.
            u.wait_all_sleeping(pid, timeout=5)
            os.kill(pid, signal.SIGSTOP)
            try:
                wait_all_stopped(pid)
                bt_run = u.run_bt(["--json", "--vars", "--past-main", pid], timeout=600)
                gdb_run = gdb_full(["-p", pid], gdb_extra)
                full, cmp = compare(gdb_run, bt_run)
                gdb_locations.query_locations(cmp, ["-p", pid])
            finally:
                os.kill(pid, signal.SIGCONT)
            results.append(summarize(name, "live", full, cmp, bt_run, gdb_run))
        if "core" in modes:
            core = workdir / f"{name}.core"
            u.wait_all_sleeping(pid, timeout=5)
            g = u.gdb_commands([f"gcore {core}"], ["-p", pid])
            if not core.exists():
                raise RuntimeError(f"gcore made no core:\n{g.describe()}")
            bt_run = u.run_bt(["--json", "--vars", "--past-main", core, "--exe", exe], timeout=600)
            gdb_run = gdb_full([exe, core], gdb_extra)
            full, cmp = compare(gdb_run, bt_run)
            gdb_locations.query_locations(cmp, [exe, core])
            results.append(summarize(name, "core", full, cmp, bt_run, gdb_run))
            core.unlink()
    return results


def print_table(results, show):
    print("| program | mode | threads | frames (aligned / gdb's) | variables equal | "
          "explained by cause | differing | agreeing | bt s | gdb s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        v = r["variables"] or 1
        print(f"| {r['program']} | {r['mode']} | {r['threads']} | {r['frames_aligned']}/{r['gdb_frames']} | "
              f"{r['variables_equal']}/{r['variables']} ({100 * r['variables_equal'] / v:.1f}%) | "
              f"{r['variables_explained']} | {r['variables_differing']} | "
              f"{100 * (r['variables_equal'] + r['variables_explained']) / v:.1f}% | "
              f"{r['bt_seconds']} | {r['gdb_seconds']} |")
    for r in results:
        cats = Counter(x["cause"] for x in r["records"] if x["explained"])
        if cats:
            print(f"\n{r['program']} ({r['mode']}), explained: " +
                  ", ".join(f"{c} {n}" for c, n in cats.most_common()))
        rest = [x for x in r["records"] if not x["explained"]]
        if not rest:
            continue
        print(f"\n{r['program']} ({r['mode']}), differences by likely cause:")
        by = Counter(x["cause"] for x in rest)
        for cause, n in by.most_common():
            ex = next(x for x in rest if x["cause"] == cause)
            print(f"  {n:4d}  {cause}")
            if show:
                what = f"{ex['kind']} {ex['name']}" if ex["name"] is not None else ex["what"]
                print(f"        e.g. {ex['where']}: {what}\n"
                      f"             gdb: {(ex['gdb'] or '')[:show]}\n"
                      f"             bt : {(ex['bt'] or '')[:show]}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--program", action="append", choices=sorted(PROGRAMS),
                    help="only this program (repeatable; default: all)")
    ap.add_argument("--mode", action="append", choices=["live", "core"],
                    help="only this mode (repeatable; default: both)")
    ap.add_argument("--report", default=str(u.build_dir() / "tests" / "real-programs-report.json"),
                    help="where to write every difference (JSON)")
    ap.add_argument("--show", type=int, default=160,
                    help="characters of an example difference to print per cause (0: none)")
    args = ap.parse_args(argv)
    if not u.bt_path().exists():
        print(f"error: no bt at {u.bt_path()} (build first: bash scripts/build)", file=sys.stderr)
        return 1
    results, skipped = [], []
    for name in args.program or list(PROGRAMS):
        workdir = Path(tempfile.mkdtemp(prefix=f"bt-real-{name}-"))
        print(f"{name}: running ...", file=sys.stderr, flush=True)
        try:
            results += run_program(name, args.mode or ["live", "core"], workdir)
        except Skip as e:
            skipped.append(f"{name}: skipped: {e}")
        except (RuntimeError, gdbvars.gdbparse.GdbParseError, ValueError) as e:
            print(f"error: {name}: {e}", file=sys.stderr)
            return 1
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    print_table(results, args.show)
    for s in skipped:
        print(s)
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps({"results": results, "skipped": skipped}, indent=1))
    print(f"\nall differences: {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
