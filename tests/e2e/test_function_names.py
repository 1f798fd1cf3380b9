"""Pointers to C++ functions are printed `0x... <name>` with gdb's spelling of the name: the
demangled linkage name without its return type, or for functions without one (main, extern "C",
gcc's lambda helpers) the DWARF name with its parameter types; member function pointers with
their type. Compared with gdb's `print` on the same core, gcc and clang, -O0 and -O2."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "names" / "function_names.cpp"


@pytest.mark.parametrize("compiler", ["g++", "clang++-19"])
@pytest.mark.parametrize("opt", ["-O0", "-O2"])
def test_function_pointer_names_match_gdb(bt_bin, tmp_path, compiler, opt):
    exe, core = u.build_and_crash([compiler, "-g", opt], SOURCE, tmp_path, "function_names")
    run = u.run_bt(["--json", "--vars", "--global", "g_pointers", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    crashed = next(t for t in doc["threads"] if t["crashed"])
    frame = next(f for f in crashed["frames"] if f["function"] == "main")
    values = {v["name"]: v["value"] for v in frame["variables"]}
    values["g_pointers"] = doc["globals"][0]["value"]
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "frame function main", "-ex", "print p",
                          "-ex", "print g_pointers", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120)
    printed = dict(re.findall(r"^\$(\d+) = (.*)$", gdb.stdout, re.M))
    assert "2" in printed, gdb.stdout + gdb.stderr
    checked = ["g_pointers"] + (["p"] if "<optimized out>" not in printed.get("1", "") else [])
    if opt == "-O0":
        assert checked == ["g_pointers", "p"]
    for name in checked:
        want = printed["2" if name == "g_pointers" else "1"]
        assert values.get(name) == want, name
        # Not vacuous: the names gdb spells from DWARF are there.
        assert "<main(int, char**)>" in want and "<cfun(int)>" in want
        assert "(int (ns::K::*)(const ns::K * const, int))" in want
