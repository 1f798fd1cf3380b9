"""bt's built-in libstdc++ summaries against gdb's Python pretty printers: every parameter and
local of crash() in tests/fixtures/stl/stl_summaries.cpp (string, vector, unique_ptr,
shared_ptr, weak_ptr, map, set, unordered_map, unordered_set, references, base classes) must
print exactly as gdb's `bt full` prints it."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "stl" / "stl_summaries.cpp"


@pytest.mark.parametrize("dwarf", ["-gdwarf-4", "-gdwarf-5"])
def test_stl_summaries_match_gdb_printers(bt_bin, tmp_path, dwarf):
    exe, core = u.build_and_crash(["g++", "-g", dwarf, "-O0"], SOURCE, tmp_path, "stl_summaries")
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    frame = next(f for f in json.loads(run.stdout)["threads"][0]["frames"] if f["function"] == "crash")
    ours = {v["name"]: v["value"] for v in frame["variables"]}
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set width 0", "-ex", "bt full", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    block = gdb.stdout.split("#0", 1)[1].split("\n#1", 1)[0]
    theirs = dict(re.findall(r"^\s{8}(\w+) = (.*)$", block, re.M))
    assert len(theirs) >= 18, gdb.stdout
    mismatches = {k: (theirs[k], ours.get(k)) for k in theirs if ours.get(k) != theirs[k]}
    assert not mismatches, "\n".join(f"{k}:\n  gdb: {g}\n  bt : {b}" for k, (g, b) in mismatches.items())
    # The parameters too (from the frame line).
    assert ours["ref"] == '"ref"' and ours["rv"].endswith(": 42"), ours


MORE = u.REPO_ROOT / "tests" / "fixtures" / "stl" / "stl_more.cpp"


@pytest.mark.parametrize("compiler", ["g++ -gdwarf-4", "g++ -gdwarf-5",
                                      "clang++-19 -gdwarf-5 -fstandalone-debug"])
def test_more_summaries_match_gdb_printers(bt_bin, tmp_path, compiler):
    """list, forward_list, deque, optional, variant, pair, tuple, bitset, atomic, string_view:
    every local of crash() in tests/fixtures/stl/stl_more.cpp as gdb's printers print it, but for
    the one gdb's printer fails on (atomic<double> before C++20 has no _M_fp), which bt prints
    from the member it has."""
    exe, core = u.build_and_crash(compiler.split() + ["-g", "-O0"], MORE, tmp_path, "stl_more")
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    frames = json.loads(run.stdout)["threads"][0]["frames"]
    ours = {v["name"]: v["value"] for f in frames if f["function"] in ("crash", "main")
            for v in f["variables"]}
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set width 0", "-ex", "bt full", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120, env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"})
    block = gdb.stdout.split("#0", 1)[1].split("\n#2", 1)[0]
    theirs = dict(re.findall(r"^\s{8}(\w+) = (.*)$", block, re.M))
    assert theirs.pop("ad") == "" and "no member or method named _M_fp" in gdb.stderr, gdb.stderr
    assert len(theirs) >= 30, gdb.stdout
    mismatches = {k: (theirs[k], ours.get(k)) for k in theirs if ours.get(k) != theirs[k]}
    assert not mismatches, "\n".join(f"{k}:\n  gdb: {g}\n  bt : {b}" for k, (g, b) in mismatches.items())
    assert ours["ad"] == "std::atomic<double> = { 0.5 }"
    assert ours["tup"] == "std::tuple containing = {[1] = 7, [2] = 2.5, [3] = 120 'x'}"
    assert ours["big"] == "std::bitset = {[0] = 1, [130] = 1, [199] = 1}"
