"""gdb as the oracle: for every fixture binary, in a live paused process and in
a crash core, `bt --json` must report the same threads (matched by tid) and,
per thread, the same frames (function, file basename, line, inlined or not)
as gdb 13's `thread apply all bt`.

Normalisations of function names are in framecmp.py (N1..N6); the only
accepted differences are gdb's named quirks (framecmp.GDB_*), which are
printed with the test's output and summarised at the end of the run.
"""

from __future__ import annotations

import os

import pytest

import btjson
import e2e_util as u
import elfsyms
import framecmp
import gdbparse


def _bt_args(entry, target_args):
    args = ["--json"] + [str(a) for a in target_args]
    if entry.get("split_debug"):
        args += ["--debug-dir", entry["debug_dir"]]
    return args


def _run_bt_json(bt_bin, args):
    run = u.run_bt(args)
    if run.returncode != 0:
        pytest.fail(f"bt failed:\n{run.describe()}", pytrace=False)
    try:
        doc = btjson.load(run.stdout)
    except ValueError as e:
        pytest.fail(f"{e}\n{run.describe()}", pytrace=False)
    problems = btjson.schema_problems(doc)
    if problems:
        pytest.fail(
            "bt --json does not follow btengine.backtrace/2:\n  "
            + "\n  ".join(problems[:40])
            + f"\n{run.describe()}",
            pytrace=False,
        )
    return run, doc


def compare_with_gdb(entry, mode, doc, gdb_bt: gdbparse.GdbBacktrace, gdb_run, bt_run, pid=None):
    """All differences between bt's document and gdb's backtrace, as text
    (empty: they agree), plus the quirks relied on."""
    problems = []
    quirks = []  # quirk names
    reports = []

    target = doc["target"]
    if target["kind"] != mode:
        problems.append(f"target.kind is {target['kind']!r}, expected {mode!r}")
    if pid is not None and target["pid"] != pid:
        problems.append(f"target.pid is {target['pid']}, expected {pid}")
    if os.path.realpath(target["executable"]) != os.path.realpath(entry["path"]):
        problems.append(f"target.executable is {target['executable']!r}, expected {entry['path']!r}")

    gdb_threads = gdb_bt.by_tid()
    bt_threads = {t["tid"]: t for t in doc["threads"]}
    if set(gdb_threads) != set(bt_threads):
        problems.append(
            f"thread ids differ: gdb {sorted(gdb_threads)}, bt {sorted(bt_threads)}"
        )

    if mode == "core":
        # The crashing thread: gdb selects it when it loads the core
        # ("[Current thread is ...]", printed only with several threads).
        expected_tid = gdb_bt.current_tid
        if expected_tid is None and len(gdb_bt.threads) == 1:
            expected_tid = gdb_bt.threads[0].tid
        if doc["crashed_tid"] != expected_tid:
            problems.append(f"crashed_tid is {doc['crashed_tid']}, gdb's crashing thread is {expected_tid}")
        if doc["threads"][0]["tid"] != expected_tid:
            problems.append(f"the first thread is {doc['threads'][0]['tid']}, not the crashing thread {expected_tid}")
        crashed = [t["tid"] for t in doc["threads"] if t["crashed"]]
        if crashed != [expected_tid]:
            problems.append(f"threads marked crashed: {crashed}, expected [{expected_tid}]")
        sig = doc["signal"]
        if sig is None:
            problems.append(f"signal is null; gdb: {gdb_bt.signal} {gdb_bt.siginfo}")
        else:
            if sig["name"] != gdb_bt.signal:
                problems.append(f"signal.name is {sig['name']!r}, gdb says {gdb_bt.signal!r}")
            if gdb_bt.siginfo is not None:
                signo, code, addr = gdb_bt.siginfo
                if sig["number"] != signo:
                    problems.append(f"signal.number is {sig['number']}, gdb's $_siginfo has {signo}")
                if sig["code"] != code:
                    problems.append(f"signal.code is {sig['code']}, gdb's $_siginfo has {code}")
                if code <= 0:
                    # Sent by a process (SI_USER, SI_TKILL: abort(), so every Rust panic that
                    # aborts): si_addr shares its bytes with si_pid/si_uid, so gdb's address is
                    # the sender's pid, not an address. bt reports none.
                    if sig.get("address") is not None:
                        problems.append(f"signal.address is {sig['address']!r} for a signal sent by a process (code {code})")
                elif sig.get("address") is None or int(sig["address"], 16) != addr:
                    problems.append(f"signal.address is {sig.get('address')!r}, gdb's $_siginfo has {addr:#x}")
    else:
        # A paused process has not crashed.
        if doc["signal"] is not None:
            problems.append(f"signal is {doc['signal']!r} for a live process that has not crashed")
        if doc["crashed_tid"] is not None or any(t["crashed"] for t in doc["threads"]):
            problems.append("a thread of a live, not crashed process is marked crashed")
        # gdb shows the thread names it reads from /proc (comm); so must bt.
        for tid, g in gdb_threads.items():
            b = bt_threads.get(tid)
            if b is not None and g.name is not None and b.get("name") != g.name:
                problems.append(f"thread {tid}: name {b.get('name')!r}, gdb {g.name!r}")

    debug_dirs = ([entry["debug_dir"]] if entry.get("debug_dir") else []) + ["/usr/lib/debug"]

    def alias_check(module, a, b):
        return elfsyms.are_aliases(module, a, b, debug_dirs)

    for tid, g in gdb_threads.items():
        b = bt_threads.get(tid)
        if b is None:
            continue
        cmp = framecmp.compare_frame_lists(
            [framecmp.frame_from_gdb(f) for f in g.frames],
            [framecmp.frame_from_bt(f) for f in b["frames"]],
            tid,
            alias_check=alias_check,
        )
        quirks += cmp.quirk_names
        label = f"thread {tid}" + (f" ({g.name})" if g.name else "")
        if not cmp.ok:
            problems.append(f"{label}: frames differ")
            reports.append(f"--- {label}: frames differ (!! = mismatch, ~~ = gdb quirk)\n{cmp.report()}")
        elif cmp.quirks or cmp.notes:
            reports.append(f"--- {label}: agree\n" + "\n".join(
                [f"  note: {n}" for n in cmp.notes] + [f"  gdb quirk used: {q}" for q in cmp.quirks]))

    text = ""
    if problems:
        text = (
            f"{entry['name']} ({mode}): bt and gdb disagree\n  "
            + "\n  ".join(problems)
            + "\n\n" + "\n\n".join(reports)
            + f"\n\n$ {' '.join(bt_run.cmd)}\n$ {' '.join(gdb_run.cmd)}"
        )
    return text, quirks, "\n\n".join(reports)


def _finish(request, entry, mode, text, quirks, reports):
    for q in quirks:
        u.QUIRK_LOG.append((request.node.nodeid, q))
    if reports and not text:
        print(reports)  # quirks and notes of a passing test: shown with -rP / -s
    if text:
        pytest.fail(text, pytrace=False)


def test_core_backtrace_matches_gdb(request, fixture_binary_entry, bt_bin, cores):
    entry = fixture_binary_entry
    core = cores.core(entry)
    gdb_run, gdb_bt = cores.gdb(entry)
    if not gdb_bt.threads:
        pytest.fail(f"gdb printed no threads for the core:\n{gdb_run.describe()}", pytrace=False)
    bt_run, doc = _run_bt_json(bt_bin, _bt_args(entry, [core, "--exe", entry["path"]]))
    text, quirks, reports = compare_with_gdb(entry, "core", doc, gdb_bt, gdb_run, bt_run)
    _finish(request, entry, "core", text, quirks, reports)


def test_live_backtrace_matches_gdb(request, fixture_binary_entry, bt_bin, paused_process):
    entry = fixture_binary_entry
    p = paused_process(entry["path"])
    bt_run, doc = _run_bt_json(bt_bin, _bt_args(entry, [p.pid]))
    # bt must have let the process go: it is still alive and not stopped.
    for tid in u.task_ids(p.pid):
        state = u.proc_state(p.pid, tid)
        assert state not in ("t", "T", "Z", "X", None), (
            f"after bt, thread {tid} of {p.pid} is in state {state!r}")
    # Let restarted syscalls block again before gdb looks (same pcs for both).
    u.wait_all_sleeping(p.pid)
    gdb_run = u.gdb_live(p.pid, debug_dir=entry.get("debug_dir"))
    gdb_bt = gdbparse.parse(gdb_run.stdout)
    if not gdb_bt.threads:
        pytest.fail(f"gdb printed no threads:\n{gdb_run.describe()}", pytrace=False)
    text, quirks, reports = compare_with_gdb(entry, "live", doc, gdb_bt, gdb_run, bt_run, pid=p.pid)
    _finish(request, entry, "live", text, quirks, reports)
