"""Tail-call frames as gdb reconstructs them from DW_TAG_call_site, on a program built at test time
(tests/fixtures/fidelity/tail_calls.c, gcc and clang at -O2, DWARF 5 and 4 -- gcc's DWARF 4 call
sites are the GNU extensions): a chain of tail calls that ends in
another module (`block()` -> `pause@plt`) is found, and a versioned libc function is not shadowed
by its compatibility version (no `__pthread_cond_timedwait_2_0` frame). gdb on the same live
process is the oracle: every thread's functions, tail-call frames included, in order. Built as C++
the chain is not rebuilt, by gdb or bt: gdb looks `pause` (a declaration without a linkage name in
a C++ unit) up by a physname no symbol has."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import e2e_util as u
import framecmp
import gdbparse

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "tail_calls.c"


def _bt_and_gdb(compiler, tmp_path, paused_process, bt_args, gdb_settings=()):
    """tail_calls.c built -O2 by `compiler`, paused: bt's run with `bt_args` and gdb's
    `thread apply all bt` (frame arguments all, plus `gdb_settings`) on the same process."""
    exe = tmp_path / "tail_calls"
    subprocess.run(compiler.split() + ["-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    run = u.run_bt(bt_args + [str(p.pid)])
    assert run.returncode == 0, run.describe()
    cmd = ["gdb", "-batch", "-nx", "-p", str(p.pid), "-ex", "set width 0",
           "-ex", "set print frame-arguments all"]
    for setting in gdb_settings:
        cmd += ["-ex", setting]
    gdb = subprocess.run(cmd + ["-ex", "thread apply all bt"], capture_output=True, text=True,
                         timeout=120, env=u.GDB_FULL_ENV).stdout
    return run, gdb


@pytest.mark.parametrize("compiler", ["gcc", "gcc -gdwarf-4", "clang-19", "clang-19 -gdwarf-4",
                                      "g++ -x c++ -U_GNU_SOURCE"])
def test_tail_call_chains_match_gdb(bt_bin, tmp_path, paused_process, compiler):
    exe = tmp_path / "tail_calls"
    subprocess.run(compiler.split() + ["-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    run = u.run_bt(["--json", "--past-main", str(p.pid)])  # gdb_live shows them too
    assert run.returncode == 0, run.describe()
    bt = {t["tid"]: [framecmp.normalize_function(f["function"]) for f in t["frames"]]
          for t in json.loads(run.stdout)["threads"]}
    gdb = gdbparse.parse(u.gdb_live(p.pid, str(exe)).stdout)
    want = {t.tid: [framecmp.normalize_function(f.function) for f in t.frames] for t in gdb.threads}
    assert set(bt) == set(want)
    for tid, functions in want.items():
        assert bt[tid] == functions, tid
    if compiler.startswith("gcc"):  # clang's call sites, and C++'s pause(), do not let gdb (or bt) rebuild it
        chains = [f for f in bt.values() if "t_tail" in f]
        assert chains and chains[0][1:5] == ["block", "leaf", "via_tail", "t_tail"], chains
    assert not any("_2_0" in (f or "") for frames in bt.values() for f in frames)


@pytest.mark.parametrize("compiler", ["gcc", "gcc -gdwarf-4"])  # DWARF 4: GNU call-site extensions
def test_entry_values_through_tail_call_frames_match_gdb(bt_bin, tmp_path, paused_process, compiler):
    """A futex wait in libc: its caller is a reconstructed tail-call frame, so the parameters'
    entry values come from the site that jumped to it (futex_word=futex_word@entry=...); select()
    called through the PLT gets them from the call site in the program; the tail-call frames
    themselves have their parameters as gdb shows them, and so does a function called through a
    pointer."""
    run, gdb = _bt_and_gdb(compiler, tmp_path, paused_process, ["--vars", "--past-main"],
                           ["set backtrace past-main on"])

    def args(text, function):
        # Every frame of that function (several threads may be in it), in a stable order.
        found = sorted(x.split(f" {function} (", 1)[1].rsplit(") at ", 1)[0]
                       for x in text.splitlines() if f" {function} (" in x)
        return " | ".join(found) if found else None
    want = args(gdb, "__futex_abstimed_wait_common")
    if want is None:
        pytest.skip("gdb shows no __futex_abstimed_wait_common frame (libc6-dbg missing?)")
    assert "futex_word=futex_word@entry=" in want
    assert args(run.stdout, "__futex_abstimed_wait_common") == want
    # Through the PLT: the call site in this module, the callee in libc.
    want = args(gdb, "__GI___select")
    assert want and want.startswith("nfds=nfds@entry=0")
    assert args(run.stdout, "__GI___select") == want
    # The tail-call frames' own parameters, read in the registers gdb gives such a frame (the
    # caller's at the jump), their entry values from the next site out: leaf's from via_tail's
    # jump, via_tail's from t_tail's call; the futex wait's tail-call frame likewise.
    # Called through a function pointer: the call site's DW_AT_call_target (via_ptr's entry value
    # of f, from t_ptr's call site) says the call reached leaf_ptr.
    # Through the PLT into a tail-call chain in libc: __new_sem_wait jumped to the slow path.
    # main, called by glibc through a pointer: its arguments' entry values from that call site.
    for function in ("leaf", "via_tail", "__GI___futex_abstimed_wait_cancelable64", "leaf_ptr",
                     "__new_sem_wait_slow64", "__new_sem_wait", "main"):
        want = args(gdb, function)
        assert want and "@entry=" in want, (function, want)
        assert args(run.stdout, function) == want, function


@pytest.mark.parametrize("compiler", ["clang-19", "clang-19 -gdwarf-4"])
def test_entry_value_from_a_register_frame_base_matches_gdb(bt_bin, tmp_path, paused_process, compiler):
    """clang's frame base is a register (DW_OP_reg7 RSP), and t_ptr's call site passes &x as
    DW_OP_fbreg +N: via_ptr's p@entry is t_ptr's stack pointer plus N, as gdb computes it. (gdb
    also shows the caller-saved registers' stale contents as p's current value; bt says
    <optimized out>, which is not compared.)"""
    run, gdb = _bt_and_gdb(compiler, tmp_path, paused_process, ["--json", "--vars"])
    line = next(x for x in gdb.splitlines() if " via_ptr (" in x)
    want = re.search(r"\bp@entry=(0x[0-9a-f]+)", line)
    assert want, line
    frames = [f for t in json.loads(run.stdout)["threads"] for f in t["frames"]
              if f.get("function") == "via_ptr"]
    assert len(frames) == 1
    got = {v["name"]: v.get("entry_value") for v in frames[0]["variables"] if v["kind"] == "param"}
    assert got["p"] == want.group(1)
