"""Printing rules compared with gdb on programs built at test time, each with gcc and clang, DWARF 4
and 5 (tests/fixtures/fidelity/printing.cpp at -O0): every local of the crashing function, as
`bt --vars` prints it, equals gdb's `info locals` (gdb's libstdc++ printers on, as by default):
the element limit counting a repeat block as gdb does ({1, 0 <repeats 1024 times>}), invalid UTF-8
lead bytes, a counted string ending in NUL, std::pair, ", this adjustment 8", untyped pointers to
code named as gdb names them, corrupt vectors walked as gdb's printer walks them."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "printing.cpp"


@pytest.mark.parametrize("compiler", ["g++", "g++ -gdwarf-4", "clang++-19 -fstandalone-debug",
                                      "clang++-19 -gdwarf-4 -fstandalone-debug"])
def test_locals_print_as_gdb(bt_bin, tmp_path, compiler):
    exe, core = u.build_and_crash(compiler.split() + ["-g", "-O0"], SOURCE, tmp_path, "printing")
    run = u.run_bt(["--json", "--vars", str(core), "--exe", str(exe)])
    assert run.returncode == 0, run.describe()
    crashed = next(t for t in json.loads(run.stdout)["threads"] if t["crashed"])
    frame = next(f for f in crashed["frames"] if f["function"] == "show")
    bt = {v["name"]: v["value"] for v in frame["variables"]}
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set width 0", "-ex", "frame function show",
                          "-ex", "info locals", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120, env=u.GDB_FULL_ENV)
    want = dict(re.findall(r"^(\w+) = (.*)$", gdb.stdout, re.M))
    for name in ("big", "cd", "text", "nul", "pr", "pm", "code", "clockwait", "restorer", "rev", "huge"):
        assert bt.get(name) == want.get(name), (name, gdb.stdout[-2000:])
    assert bt["big"] == "{1, 0 <repeats 1024 times>}"
    assert bt["text"] == '"abc", \'\\000\' <repeats 296 times>'
    assert bt["pm"].endswith(", this adjustment 8")
    assert bt["rev"].startswith("std::vector of length -3, capacity 0 = {") and bt["rev"].endswith("...}")
    assert bt["huge"].startswith("std::vector of length 268435456, capacity 3 = {4, 5, 6, ")


@pytest.mark.parametrize("compiler", ["g++", "g++ -gdwarf-4", "clang++-19", "clang++-19 -gdwarf-4"])
def test_parameters_from_call_sites_and_implicit_pointers(bt_bin, tmp_path, paused_process, compiler):
    """A reference parameter without DW_AT_call_data_value has no @entry; a reference that is a
    DW_OP_implicit_pointer prints what it refers to; each frame's arguments equal gdb's."""
    src = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "entry_refs.cpp"
    exe = tmp_path / "entry_refs"
    subprocess.run(compiler.split() + ["-g", "-O2", "-pthread", str(src), "-o", str(exe)], check=True)
    p = paused_process(exe)
    run = u.run_bt([str(p.pid), "--vars"])
    assert run.returncode == 0, run.describe()
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-p", str(p.pid), "-ex", "set width 0",
                          "-ex", "set print frame-arguments all", "-ex", "thread apply all bt"],
                         capture_output=True, text=True, timeout=120, env=u.GDB_FULL_ENV).stdout

    def args(text, function):
        line = next(x for x in text.splitlines() if f" {function} (" in x)
        return line.split(f" {function} (", 1)[1].rsplit(") at ", 1)[0]
    for function, pattern in (("by_ref2", r"r=@0x[0-9a-f]+: \{a = 1, b = 2\}, n=n@entry=3"),
                              ("implicit", r"s=<synthetic pointer>: \{a = 1, b = 2\}")):
        assert args(run.stdout, function) == args(gdb, function), function
        if compiler.startswith("g++"):  # (clang passes neither as gcc does)
            assert re.fullmatch(pattern, args(run.stdout, function)), run.stdout


@pytest.mark.parametrize("compiler", ["g++ -gdwarf-4", "g++ -gdwarf-5", "clang++-19 -gdwarf-4",
                                      "clang++-19 -gdwarf-5"])
def test_types_and_static_members_defined_in_another_module_print_as_gdb(
        bt_bin, tmp_path, paused_process, compiler):
    """A class whose static members are defined in a shared library (declared in the class,
    without a location): bt finds each definition by its symbol, in whichever module has it, as
    gdb does; a class-typed static object is printed once per outermost object. clang describes
    the class itself only in the library (its constructor is there): the program's unit only
    declares it, and bt completes it by name from the library's DWARF, as gdb does, instead of
    printing <incomplete type>."""
    src = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "static_members.cpp"
    lib = tmp_path / "libstatic_members.so"
    exe = tmp_path / "static_members"
    flags = compiler.split() + ["-g", "-O0"]
    subprocess.run(flags + ["-DLIBRARY", "-fPIC", "-shared", str(src), "-o", str(lib)], check=True)
    subprocess.run(flags + [str(src), "-L", str(tmp_path), "-lstatic_members",
                            "-Wl,-rpath," + str(tmp_path), "-o", str(exe)], check=True)
    p = paused_process(exe)
    run = u.run_bt(["--json", "--vars", str(p.pid)])
    assert run.returncode == 0, run.describe()
    frame = next(f for t in json.loads(run.stdout)["threads"] for f in t["frames"]
                 if f.get("function") == "main")
    bt = {v["name"]: v["value"] for v in frame["variables"]}
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-p", str(p.pid), "-ex", "set width 0",
                          "-ex", "frame function main", "-ex", "info locals"],
                         capture_output=True, text=True, timeout=120, env=u.GDB_FULL_ENV)
    want = dict(re.findall(r"^(\w+) = (.*)$", gdb.stdout, re.M))
    if compiler != "g++ -gdwarf-5":  # (gcc's DWARF 5 leaves the unused statics out of the class)
        assert want.get("h", "").startswith("{static empty = {a = 8, b = 9}, static self = {"), gdb.stdout
    for name in ("h", "arr"):
        assert bt.get(name) == want.get(name), name


@pytest.mark.parametrize("compiler", ["gcc", "gcc -gdwarf-4"])
def test_partly_available_aggregate_prints_as_gdb(bt_bin, tmp_path, paused_process, compiler):
    """An array described by DWARF pieces of which only the first has a location: the known
    element is printed and the others are <optimized out>, repeats counted, as gdb prints it."""
    src = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "partial.c"
    exe = tmp_path / "partial"
    subprocess.run(compiler.split() + ["-g", "-O2", str(src), "-o", str(exe)], check=True)
    p = paused_process(exe)
    run = u.run_bt(["--json", "--vars", str(p.pid)])
    assert run.returncode == 0, run.describe()
    frame = next(f for t in json.loads(run.stdout)["threads"] for f in t["frames"]
                 if f.get("function") == "values")
    bt = {v["name"]: v for v in frame["variables"]}
    # (gdb's `frame function values` does not find this frame: its `bt full` is read instead.)
    gdb = subprocess.run(["gdb", "-batch", "-nx", "-p", str(p.pid), "-ex", "set width 0",
                          "-ex", "bt full"],
                         capture_output=True, text=True, timeout=120, env=u.GDB_FULL_ENV)
    want = dict(re.findall(r"^\s+(big) = (.*)$", gdb.stdout, re.M))
    assert want.get("big") == "{1, <optimized out> <repeats 1024 times>}", gdb.stdout
    assert bt["big"]["value"] == want["big"]
    assert not bt["big"]["optimized_out"]
