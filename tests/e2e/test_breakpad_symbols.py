"""Breakpad symbol files (.sym) and stores (NAME/DEBUGID/NAME.sym) given with --symbols, on dumps
nobody on this project produced (../shared/testdata/minidump): rust-minidump's linux-mini.dmp
with its crash.sym (frame 0 named main, frame 1 found by the file's STACK CFI, not by scanning;
without it, frame 1 is still libc's, as lldb-19 finds it) and Breakpad's linux_inline.dmp with
its .sym in both INLINE layouts (the inlined chain func → bar → foo → main with the lines
Breakpad's processor prints). Also: a file for another build is refused, the Python API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util as u
from test_minidump import BREAKPAD, RUST

pytestmark = pytest.mark.skipif(not RUST.is_dir(), reason=f"no test data at {RUST}")

MINI = RUST / "linux-mini.dmp"
CRASH_ID = "C0BCC3F19827FE653058404B2831D9E60"
INLINE_ID = "BBA6FA10B8AAB33D00000000000000000"


def _frames(args, dump):
    run = u.run_bt(["--json", "-q", *args, str(dump)])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    return [t for t in doc["threads"] if t["crashed"]][0]["frames"], doc


def _store(tmp_path: Path, name: str, debug_id: str, sym: Path) -> Path:
    d = tmp_path / "store" / name / debug_id
    d.mkdir(parents=True)
    shutil.copy(sym, d / f"{name}.sym")
    return tmp_path / "store"


def test_without_symbols_frame_1_is_libc_found_by_frame_pointer(bt_bin):
    """No code of libc is in the dump, so its return address cannot be checked against a call
    instruction: the frame-pointer chain is taken anyway (marked suspect), not a scan that
    skips __libc_start_main."""
    frames, _ = _frames([], MINI)
    f1 = frames[1]
    assert Path(f1["module"]).name == "libc-2.23.so" and f1["module_offset"] == "0x20830", f1
    assert f1["how"] == "fp" and f1["suspect"]
    assert frames[0]["function"] is None or frames[0]["function"] == "", frames[0]
    # The auxiliary vector's pointers at the stack's top (module bases, the vDSO) are no frames.
    for f in frames[1:]:
        assert int(f["pc"], 16) & 0xfff, f


def test_with_a_store_frame_0_is_main_and_frame_1_comes_from_stack_cfi(bt_bin, tmp_path):
    store = _store(tmp_path, "crash", CRASH_ID, RUST / "crash.sym")
    frames, _ = _frames(["--symbols", str(store)], MINI)
    assert frames[0]["function"] == "main" and frames[0]["how"] == "context"
    assert len(frames) == 1, frames  # below main is hidden, as gdb does
    frames, _ = _frames(["--symbols", str(store), "--past-main"], MINI)
    f1 = frames[1]
    assert Path(f1["module"]).name == "libc-2.23.so" and f1["module_offset"] == "0x20830", f1
    assert f1["how"] == "cfi" and not f1["suspect"], f1
    # __libc_start_main returns into _start (a PUBLIC record names it).
    assert frames[2]["function"] == "_start", frames[2]


def test_a_sym_file_given_directly_serves_its_module(bt_bin):
    frames, _ = _frames(["--symbols", str(RUST / "crash.sym"), "--past-main"], MINI)
    assert frames[0]["function"] == "main" and frames[1]["how"] == "cfi"


@pytest.mark.parametrize("layout", ["old", "new"])
def test_linux_inline_chain_in_both_inline_layouts(bt_bin, tmp_path, layout):
    sym = BREAKPAD / "symbols" / "linux_inline" / INLINE_ID / f"linux_inline.{layout}.sym"
    store = _store(tmp_path, "linux_inline", INLINE_ID, sym)
    frames, doc = _frames(["--symbols", str(store)], BREAKPAD / "linux_inline.dmp")
    chain = [(f["function"], f["line"], f["inlined"]) for f in frames[:4]]
    assert chain == [("func", 27, True), ("bar", 32, True), ("foo", 39, True), ("main", 42, False)]
    assert len({f["pc"] for f in frames[:4]}) == 1
    assert int(frames[0]["pc"], 16) == int(doc["signal"]["address"], 16)
    if layout == "new":  # the new layout names the call sites' files
        assert [f["file"] for f in frames[:4]] == ["linux_inline.cpp", "c.cpp", "b.cpp", "a.cpp"]


def test_a_sym_file_of_another_build_is_not_used(bt_bin, tmp_path):
    """A store entry whose MODULE line names another debug id (a misfiled upload) is refused
    with a warning, never used to name frames."""
    text = (RUST / "crash.sym").read_text().replace(CRASH_ID, "0" * 33, 1)
    wrong = tmp_path / "crash.sym"
    wrong.write_text(text)
    store = _store(tmp_path, "crash", CRASH_ID, wrong)
    run = u.run_bt(["--json", "--symbols", str(store), str(MINI)])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    assert doc["threads"][0]["frames"][0]["function"] in (None, ""), doc["threads"][0]["frames"][0]
    assert any("names build 000000000000000000000000000000000" in w for w in doc["warnings"]), doc["warnings"]


def test_symbols_option_errors(bt_bin, tmp_path):
    run = u.run_bt(["--symbols", str(tmp_path / "nope"), str(MINI)])
    assert run.returncode == 2 and "--symbols" in run.stderr and "no such file" in run.stderr, run.describe()
    run = u.run_bt([str(MINI), "--symbols"])
    assert run.returncode == 2 and "--symbols needs" in run.stderr, run.describe()
    junk = tmp_path / "junk.sym"
    junk.write_text("not a symbol file\n")
    run = u.run_bt(["--json", "--symbols", str(junk), str(MINI)])
    assert run.returncode == 0, run.describe()
    assert any("no MODULE line" in w for w in json.loads(run.stdout)["warnings"])


def test_python_open_takes_symbols(bt_bin, tmp_path):
    store = _store(tmp_path, "crash", CRASH_ID, RUST / "crash.sym")
    code = f"""
import btengine
with btengine.open({str(MINI)!r}, symbols=[{str(store)!r}]) as p:
    print(p.crashed_thread.frames[0].function)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "main"
