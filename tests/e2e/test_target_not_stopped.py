"""If bt dies while it holds a live target (SIGKILL at various moments of a
capture), the target must go on running: not left in a stopped or traced
state (/proc state `T`/`t`), not killed, and a fresh bt must still work on it.
(bt freezes with PTRACE_SEIZE + PTRACE_INTERRUPT, never SIGSTOP, so the
kernel's implicit detach at tracer exit lets the threads run again.)"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

import btjson
import e2e_util as u

# Seconds between starting bt and SIGKILLing it: before it attaches, while it
# attaches/unwinds, and (for the larger ones) most likely after it finished.
DELAYS = [0.0, 0.001, 0.003, 0.006, 0.01, 0.02, 0.035, 0.05, 0.08, 0.12, 0.2, 0.3]

PROGRAMS = ["threads_cpp", "sighandler_c"]


def _entry(manifest, program):
    prefer = ["gcc-O2-dwarf5-pie-nofp", "gcc-O0-dwarf5-pie-fp"]
    cands = [e for e in manifest["binaries"] if e["program"] == program]
    if not cands:
        pytest.fail(f"no {program} fixture in the manifest", pytrace=False)
    for v in prefer:
        for e in cands:
            if e["variant"] == v:
                return e
    return cands[0]


def _assert_running(pid, context):
    """All threads alive and not stopped, sampled for ~0.2 s."""
    tids = u.task_ids(pid)
    assert tids, f"{context}: process {pid} is gone"
    for _ in range(5):
        for tid in tids:
            state = u.proc_state(pid, tid)
            assert state is not None, f"{context}: thread {tid} of {pid} is gone"
            assert state not in ("t", "T"), (
                f"{context}: thread {tid} of {pid} is left {'traced' if state == 't' else 'stopped'} "
                f"(state {state!r})")
            assert state not in ("Z", "X"), f"{context}: thread {tid} of {pid} died (state {state!r})"
        time.sleep(0.04)
    assert u.task_ids(pid) == tids, f"{context}: threads changed: {tids} -> {u.task_ids(pid)}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_killed_bt_leaves_target_running(bt_bin, manifest, paused_process, program):
    entry = _entry(manifest, program)
    p = paused_process(entry["path"])
    _assert_running(p.pid, "before bt")
    for delay in DELAYS:
        proc = subprocess.Popen(
            [str(bt_bin), str(p.pid)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        proc.kill()  # SIGKILL
        proc.wait(timeout=30)
        _assert_running(p.pid, f"after SIGKILL of bt at {delay * 1000:.0f} ms")

    # A fresh bt still works and sees every thread.
    run = u.run_bt(["--json", str(p.pid)])
    assert run.returncode == 0, run.describe()
    doc = btjson.load(run.stdout)
    assert not btjson.schema_problems(doc), btjson.schema_problems(doc)
    assert sorted(t["tid"] for t in doc["threads"]) == u.task_ids(p.pid), run.describe()
    _assert_running(p.pid, "after a complete bt run")
    assert p.proc.poll() is None, "the target exited"
    os.kill(p.pid, 0)
