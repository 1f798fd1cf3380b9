"""Inputs that fuzzing found bt handled badly (../shared/repro/fuzz, each with its command in the
README there): damaged notes and streams must give warnings — in bt's stderr, in `bt --json`'s
`warnings` and in Python's `Process.warnings` — instead of invented facts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import e2e_util as u

REPRO = u.REPO_ROOT.parent / "shared" / "repro" / "fuzz"

pytestmark = pytest.mark.skipif(not REPRO.is_dir(), reason=f"{REPRO} is not here")


def bt_json(*args):
    run = u.run_bt(["--json"] + [str(a) for a in args], timeout=60)
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout), run


def test_damaged_first_prstatus_invents_no_crashed_thread(bt_bin):
    doc, run = bt_json(REPRO / "silent-wrong-crashed-thread.core", "--exe", REPRO / "crash.exe")
    assert doc["crashed_tid"] is None
    assert not any(t["crashed"] for t in doc["threads"]), doc["threads"]
    assert any("no thread is marked as crashed" in w for w in doc["warnings"]), doc["warnings"]
    assert "no thread is marked as crashed" in run.stderr
    # The intact core next to it still names its crashed thread, without a warning of the kind.
    good, _ = bt_json(REPRO / "crash.core", "--exe", REPRO / "crash.exe")
    assert good["crashed_tid"] is not None
    assert not any("crashed" in w for w in good["warnings"]), good["warnings"]


def test_minidump_with_thread_id_minus_one_is_reported(bt_bin):
    doc, _ = bt_json(REPRO / "md-tid-minus1.dmp")
    said = " | ".join(doc["warnings"])
    assert "is not a Linux thread id" in said and "none of the dump's threads" in said, said
    assert doc["crashed_tid"] is None


def test_python_sees_the_same_warnings(bt_bin):
    code = f"""
import btengine
with btengine.open({str(REPRO / 'silent-wrong-crashed-thread.core')!r}, exe={str(REPRO / 'crash.exe')!r}) as p:
    print(p.crashed_thread)
    for w in p.warnings:
        print(w)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "None", lines
    assert any("no thread is marked as crashed" in l for l in lines[1:]), lines


@pytest.mark.parametrize("exe", ["hang-dynsym-size.exe", "slow-symtab-size.exe"])
def test_symbol_tables_larger_than_the_file_are_quick(bt_bin, exe):
    run = u.run_bt([REPRO / "crash.core", "--exe", REPRO / exe], timeout=60)
    assert run.returncode == 0 and run.seconds < 10, run.describe()
    assert "its symbols are ignored" in run.stderr, run.describe()


def test_damaged_debug_info_is_refused_before_llvm_reads_it(bt_bin):
    # One word of .debug_info set to 0xffffffff: a block length that runs past the unit. LLVM's
    # reader faulted on it (the guard's recovery leaked what it had allocated); the unit check
    # refuses the unit first, and its pcs are named from the symbol table.
    doc, run = bt_json(REPRO / "crash.core", "--exe", REPRO / "leak-debuginfo.exe")
    said = " | ".join(doc["warnings"])
    assert "corrupt DWARF in the unit at 0x0 (an attribute runs past the unit)" in said, said
    assert "raised" not in said, said  # LLVM never faulted
    crashed = next(t for t in doc["threads"] if t["crashed"])
    assert crashed["frames"][0]["function"] == "deref" and crashed["frames"][0]["file"] is None
