"""Ctrl-C interrupts a long engine call: the backtraces of a core with 17 threads 2,500 frames
deep (about 1.5 s of unwinding, symbolizing and reading variables) stop within a fraction of
that when SIGINT arrives, as KeyboardInterrupt, and nothing half-done is kept: the next access
computes everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import e2e_util as u
from pytest_util import subprocess_env

SOURCE = r"""
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>
#define THREADS 16
#define DEPTH 2500
struct big { int a[8]; double d; char name[16]; };
static atomic_int ready;
static int crash_now;
__attribute__((noinline)) int recurse(int depth, struct big b) {
  volatile int local = depth * 2;
  struct big c = b;
  c.a[0] = depth;
  if (depth > 0) return recurse(depth - 1, c) + local;
  if (crash_now) *(volatile int *)0 = 1;
  atomic_fetch_add(&ready, 1);
  for (;;) pause();
  return 0;
}
static void *worker(void *arg) {
  struct big b = {{1, 2, 3}, 2.5, "worker"};
  return (void *)(long)recurse(DEPTH, b);
}
int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "crash")) return 0;
  pthread_t t[THREADS];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1 << 20);
  for (int i = 0; i < THREADS; i++) pthread_create(&t[i], &attr, worker, 0);
  while (atomic_load(&ready) < THREADS) usleep(1000);
  crash_now = 1;
  struct big b = {{9}, 1.0, "main"};
  return recurse(DEPTH, b);
}
"""

CHILD = r"""
import sys, time, btengine
proc = btengine.open(sys.argv[1])
print("start", flush=True)
t0 = time.monotonic()
try:
    frames = sum(len(t.frames) for t in proc.threads)
    print("finished", time.monotonic() - t0, frames, flush=True)
except KeyboardInterrupt:
    print("interrupted", time.monotonic() - t0, flush=True)
t0 = time.monotonic()
frames = sum(len(t.frames) for t in proc.threads)
print("full", time.monotonic() - t0, frames, flush=True)
"""


@pytest.fixture(scope="module")
def deep_core(tmp_path_factory):
    work = tmp_path_factory.mktemp("interrupt")
    (work / "deep.c").write_text(SOURCE)
    try:
        return u.build_and_crash(["gcc", "-g", "-O0", "-pthread"], work / "deep.c", work, "deep")[1]
    except u.CoreUnavailable as e:
        pytest.skip(f"cannot produce a core file here: {e}")


def test_sigint_stops_a_long_computation(deep_core):
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(deep_core)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=subprocess_env())
    try:
        assert child.stdout.readline().strip() == "start"
        time.sleep(0.15)
        child.send_signal(signal.SIGINT)  # what Ctrl-C does
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    first, full = out.splitlines()
    word, seconds = first.split()[:2]
    _, full_seconds, frames = full.split()
    assert int(frames) > 17 * 2500, full           # every frame, after the interruption
    assert float(full_seconds) > 0.5, full         # long enough for the check to mean something
    assert word == "interrupted", out
    # Stopped well before the whole computation would have ended.
    assert float(seconds) < 0.15 + float(full_seconds) / 2, out
