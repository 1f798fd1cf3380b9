"""Deadlock detection on a live process: two threads that took two mutexes in opposite orders
wait for each other forever. `bt PID` (text and JSON), `bt snapshot PID` + `bt show` and the
Python package name the cycle, the threads' functions and the two mutexes — whose addresses must
be those of the program's globals `accounts` and `ledger` (nm + the load address: the oracle).
A process where one thread merely waits for a mutex that another holds while sleeping is not
a deadlock. The process is never left stopped."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

import e2e_util as u

SOURCE = r"""
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
pthread_mutex_t accounts = PTHREAD_MUTEX_INITIALIZER, ledger = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both;
static int cycle;
static void *transfer(void *arg) {
  pthread_mutex_lock(&accounts);
  pthread_barrier_wait(&both);
  if (cycle) pthread_mutex_lock(&ledger);
  else pause();  /* holds accounts and sleeps: audit waits, but nobody waits for audit */
  return arg;
}
static void *audit(void *arg) {
  pthread_mutex_lock(&ledger);
  pthread_barrier_wait(&both);
  pthread_mutex_lock(&accounts);
  return arg;
}
int main(int argc, char **argv) {
  pthread_t a, b;
  cycle = argc > 1 && !strcmp(argv[1], "cycle");
  pthread_barrier_init(&both, 0, 2);
  pthread_create(&a, 0, transfer, 0);
  pthread_create(&b, 0, audit, 0);
  printf("ready\n");
  fflush(stdout);
  pthread_join(a, 0);
  return 0;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    d = tmp_path_factory.mktemp("deadlock")
    (d / "dl.c").write_text(SOURCE)
    exe = d / "dl"
    subprocess.run(["gcc", "-g", "-O1", "-pthread", str(d / "dl.c"), "-o", str(exe)], check=True)
    return exe


def start(exe, mode):
    p = subprocess.Popen([str(exe), mode], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    deadline = time.time() + 10
    while time.time() < deadline:  # both workers blocked in the kernel
        tids = u.task_ids(p.pid)
        if len(tids) == 3 and u.wait_all_sleeping(p.pid, timeout=0.5):
            break
    return p


def global_address(exe, pid, name) -> int:
    nm = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    off = int(next(l.split()[0] for l in nm.splitlines() if l.endswith(" " + name)), 16)
    for line in open(f"/proc/{pid}/maps"):
        if line.rstrip().endswith(str(exe)):  # the lowest mapping: offset 0
            return int(line.split("-")[0], 16) + off
    raise AssertionError("no mapping of the executable")


def test_a_mutex_cycle_is_a_deadlock(program, tmp_path):
    p = start(program, "cycle")
    try:
        tids = sorted(t for t in u.task_ids(p.pid) if t != p.pid)
        accounts = global_address(program, p.pid, "accounts")
        ledger = global_address(program, p.pid, "ledger")
        r = u.run_bt(["--json", str(p.pid)])
        assert r.returncode == 0, r.stderr
        a = json.loads(r.stdout)["analysis"]
        assert a["class"] == "deadlock" and a["severity"] == "probably_not_exploitable", a
        c = a["classifications"][0]
        facts = dict((e["fact"], e["value"]) for e in c["evidence"])
        cycle = [int(t) for t in facts["cycle"].split(" -> ")]
        assert cycle[0] == cycle[-1] and sorted(cycle[:-1]) == tids, facts
        transfer, audit = (facts[f"thread {t}"] for t in tids)  # created in this order
        assert transfer == f"in transfer, waits for mutex {ledger:#x} held by {tids[1]}", facts
        assert audit == f"in audit, waits for mutex {accounts:#x} held by {tids[0]}", facts
        text = u.run_bt([str(p.pid)]).stdout
        assert f"Analysis: deadlock (probably_not_exploitable)\n  2 threads wait for each other's mutexes: {facts['cycle']}\n" in text
        snap = tmp_path / "dl.btsnap"
        assert u.run_bt(["snapshot", str(p.pid), "-o", str(snap)]).returncode == 0
        shown = json.loads(u.run_bt(["show", "--json", str(snap)]).stdout)["analysis"]
        assert shown["classifications"] == a["classifications"]
        run = u.run_python(f"import btengine\nwith btengine.attach({p.pid}) as q:\n"
                           f"    print(q.analysis.kind, q.analysis.fault.fact('cycle'))")
        assert run.returncode == 0 and run.stdout.strip() == f"deadlock {facts['cycle']}", run.stderr
        # Never left stopped: still blocked in the kernel, not in tracing stop.
        assert all(u.proc_state(p.pid, t) in ("S", "D") for t in u.task_ids(p.pid))
    finally:
        p.kill()
        p.wait()


def test_a_wait_without_a_cycle_is_not(program):
    p = start(program, "nocycle")
    try:
        r = u.run_bt(["--json", str(p.pid)])
        assert r.returncode == 0, r.stderr
        a = json.loads(r.stdout)["analysis"]
        assert a["class"] is None and a["classifications"] == [], a
        assert "Analysis:" not in u.run_bt([str(p.pid)]).stdout
    finally:
        p.kill()
        p.wait()
