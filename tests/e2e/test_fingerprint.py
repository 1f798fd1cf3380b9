"""Crash fingerprints group the same bug and separate different ones, for every source (bt
--json's analysis object, bt show, Python): two assert() sites and two uncaught throws from
different functions used to collide because only the C runtime's frames (abort, raise,
__assert_fail, __cxa_throw, ...) were hashed; the same site crashing twice, from two builds in two
directories, must still group together."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import e2e_util as u

C_SOURCE = r"""
#include <assert.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) void check_input(int v) { assert(v == 0); }
__attribute__((noinline)) void check_output(int v) { assert(v == 1); }
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "crash")) {
    if (!strcmp(getenv("FP_SITE"), "input")) check_input(7);
    else check_output(7);
  }
  return 0;
}
"""

CXX_SOURCE = r"""
#include <cstdlib>
#include <cstring>
#include <stdexcept>
__attribute__((noinline)) void parse() { throw std::runtime_error("bad input"); }
__attribute__((noinline)) void render() { throw std::runtime_error("bad output"); }
int main(int argc, char **argv) {
  if (argc > 1 && !std::strcmp(argv[1], "crash")) {
    if (!std::strcmp(std::getenv("FP_SITE"), "input")) parse();
    else render();
  }
  return 0;
}
"""


def crash(tmp_path_factory, monkeypatch, compiler, source, site, tag):
    work = tmp_path_factory.mktemp(f"fp-{tag}-{site}")
    src = work / ("fp.cpp" if compiler == "g++" else "fp.c")
    src.write_text(source)
    monkeypatch.setenv("FP_SITE", site)
    return u.build_and_crash([compiler, "-g", "-O0"], src, work, "fp_prog")


def analysis(exe, core):
    run = u.run_bt(["--json", core, "--exe", exe])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)["analysis"]


@pytest.mark.parametrize("compiler,source", [("gcc", C_SOURCE), ("g++", CXX_SOURCE)], ids=["assert", "throw"])
def test_different_sites_separate_and_the_same_site_groups(tmp_path_factory, monkeypatch, bt_bin,
                                                           compiler, source):
    a1 = analysis(*crash(tmp_path_factory, monkeypatch, compiler, source, "input", "1"))
    a2 = analysis(*crash(tmp_path_factory, monkeypatch, compiler, source, "input", "2"))
    b = analysis(*crash(tmp_path_factory, monkeypatch, compiler, source, "output", "1"))
    assert a1["fingerprint"] == a2["fingerprint"], (a1, a2)
    assert a1["fingerprint"] != b["fingerprint"], (a1, b)
    # The program's own frames are what is hashed, none of the runtime's abort machinery.
    own = "fp_prog!check_input" if compiler == "gcc" else "fp_prog!parse"
    assert a1["fingerprint_frames"][0] == own, a1
    assert not any(f.startswith("libc.so") or "abort" in f or "__cxa_throw" in f
                   for f in a1["fingerprint_frames"]), a1
    # The same crash is classified alike, and the class is the assertion or the exception.
    assert a1["class"] == a2["class"] == b["class"] == \
        ("assertion-failure" if compiler == "gcc" else "uncaught-exception"), a1


def test_every_front_gives_the_same_fingerprint(tmp_path_factory, monkeypatch, bt_bin, tmp_path):
    exe, core = crash(tmp_path_factory, monkeypatch, "gcc", C_SOURCE, "input", "fronts")
    want = analysis(exe, core)
    snap = tmp_path / "fp.btsnap"
    assert u.run_bt(["snapshot", core, "--exe", exe, "-o", snap, "-q"]).returncode == 0
    shown = json.loads(u.run_bt(["show", "--json", snap]).stdout)
    assert shown["analysis"]["fingerprint"] == want["fingerprint"]
    assert shown["snapshot"]["fingerprint"] == want["fingerprint"]
    code = f"""
import btengine
with btengine.open({str(core)!r}, exe={str(exe)!r}) as p:
    print(p.fingerprint, ",".join(p.fingerprint_frames))
with btengine.open({str(snap)!r}) as p:
    print(p.fingerprint, ",".join(p.fingerprint_frames))
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    line = f"{want['fingerprint']} {','.join(want['fingerprint_frames'])}"
    assert run.stdout.splitlines() == [line, line]
