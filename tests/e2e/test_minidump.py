"""Minidumps (Breakpad/Crashpad, Linux x86-64) as a Target, against data nobody on this project
produced (../shared/testdata/minidump): rust-minidump's expected output for linux-mini.dmp (crash
reason and address, crashing thread, pid, frame 0 and its registers, the module list with
addresses and build-ids) and Breakpad's 22 Linux test dumps (each opens, names its signal, and
frame 0 is the exception context's pc). Also through btserve and the Python API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util as u

def _testdata() -> Path:
    """../shared/testdata next to the repository (or BT_TESTDATA); CI may run in a clone elsewhere."""
    for p in [os.environ.get("BT_TESTDATA"), u.REPO_ROOT.parent / "shared" / "testdata",
              Path("/work/shared/testdata")]:
        if p and Path(p).is_dir():
            return Path(p)
    return u.REPO_ROOT.parent / "shared" / "testdata"


DATA = _testdata() / "minidump"
RUST = DATA / "rust-minidump"
BREAKPAD = DATA / "breakpad"
pytestmark = pytest.mark.skipif(not RUST.is_dir(), reason=f"no test data at {DATA}")


def _expected_rust():
    text = (RUST / "expected_linux_json_pretty.snap").read_text()
    return json.loads(text[text.index("{"):])


def _bt_json(path):
    run = u.run_bt(["--json", "-q", str(path)])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def test_linux_mini_matches_rust_minidump(bt_bin):
    want = _expected_rust()
    doc = _bt_json(RUST / "linux-mini.dmp")
    assert doc["target"]["kind"] == "minidump"
    assert doc["target"]["pid"] == want["pid"]
    assert doc["signal"]["name"] == want["crash_info"]["type"]
    assert int(doc["signal"]["address"], 16) == int(want["crash_info"]["address"], 16)
    crashed = want["threads"][want["crash_info"]["crashing_thread"]]
    assert doc["crashed_tid"] == crashed["thread_id"]
    assert len(doc["threads"]) == want["thread_count"]
    f0, w0 = doc["threads"][0]["frames"][0], want["crashing_thread"]["frames"][0]
    assert int(f0["pc"], 16) == int(w0["offset"], 16)
    assert Path(f0["module"]).name == w0["module"]
    assert int(f0["module_offset"], 16) == int(w0["module_offset"], 16)
    assert f0["how"] == "context" and not f0["suspect"]


def test_modules_carry_breakpad_debug_and_code_ids(bt_bin, tmp_path):
    """Every module's Breakpad debug id and code id, computed from its build-id, equal
    rust-minidump's for linux-mini.dmp, in bt --json and in a snapshot of it shown again."""
    want = {m["filename"]: (m["debug_id"], m["code_id"]) for m in _expected_rust()["modules"]}
    doc = _bt_json(RUST / "linux-mini.dmp")
    got = {Path(m["path"]).name: (m["debug_id"], m["code_id"]) for m in doc["modules"]}
    assert got == want
    snap = tmp_path / "mini.btsnap"
    run = u.run_bt(["snapshot", "-q", str(RUST / "linux-mini.dmp"), "-o", str(snap)])
    assert run.returncode == 0, run.describe()
    shown = _bt_json_show(snap)
    assert {Path(m["path"]).name: (m["debug_id"], m["code_id"]) for m in shown["modules"]} == want


def _bt_json_show(snap):
    run = u.run_bt(["show", "--json", str(snap)])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def test_linux_mini_registers_and_modules_through_python(bt_bin):
    sys.path.insert(0, str(u.build_dir() / "python"))
    want = _expected_rust()
    code = f"""
import json, btengine
with btengine.open({str(RUST / 'linux-mini.dmp')!r}) as p:
    t = p.crashed_thread
    print(json.dumps({{"kind": p.kind, "registers": t.registers,
        "modules": [[m.path, m.start, m.build_id] for m in p.modules]}}))
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["kind"] == "minidump"
    for name, value in want["crashing_thread"]["frames"][0]["registers"].items():
        assert got["registers"][name] == int(value, 16), name
    mods = {Path(p).name: (start, bid) for p, start, bid in got["modules"]}
    assert len(mods) == len(want["modules"])
    for m in want["modules"]:
        start, bid = mods[m["filename"]]
        assert start == int(m["base_addr"], 16), m["filename"]
        # The CodeView record holds the build-id (or its first 16 bytes): rust-minidump's code_id.
        assert bid and m["code_id"].startswith(bid), (m["filename"], bid, m["code_id"])


EXPECTED_SIGNALS = {"linux_divide_by_zero.dmp": "SIGFPE", "linux_raise_sigabrt.dmp": "SIGABRT",
                    "linux_overflow.dmp": "SIGABRT", "linux_inline.dmp": "SIGILL"}


@pytest.mark.parametrize("dump", sorted(p.name for p in BREAKPAD.glob("*.dmp")) if BREAKPAD.is_dir() else [])
def test_breakpad_dumps_open(bt_bin, dump):
    doc = _bt_json(BREAKPAD / dump)
    assert doc["signal"]["name"] == EXPECTED_SIGNALS.get(dump, "SIGSEGV")
    crashed = [t for t in doc["threads"] if t["crashed"]]
    assert len(crashed) == 1 and crashed[0]["tid"] == doc["crashed_tid"]
    f0 = crashed[0]["frames"][0]
    assert f0["how"] == "context"
    # A backtrace, not a lone frame; and no warning about the dump itself, only about files this
    # machine lacks (the dumps come from other machines).
    assert len(crashed[0]["frames"]) >= 2, crashed[0]["frames"]
    for w in doc["warnings"]:
        assert w.endswith(": no such file") or ": build-id mismatch: " in w, w
    if dump == "linux_jmp_to_0.dmp":
        assert int(f0["pc"], 16) == 0
    if doc["signal"]["name"] in ("SIGSEGV", "SIGILL") and dump in ("linux_jmp_to_0.dmp", "linux_inline.dmp"):
        assert int(doc["signal"]["address"], 16) == int(f0["pc"], 16)


def test_crash_reason_reads_as_linux_users_read_it(bt_bin):
    """si_code by name when the dump records one (Crashpad's linux_inline.dmp: ILL_ILLOPN), none
    when it does not (Breakpad's older writers store 0, which is no SI_USER)."""
    for dump, line, code_name in [
            (BREAKPAD / "linux_inline.dmp", "Signal: SIGILL / ILL_ILLOPN at 0x2161b6", "ILL_ILLOPN"),
            (RUST / "linux-mini.dmp", "Signal: SIGSEGV at 0x45", None),
            (BREAKPAD / "linux_raise_sigabrt.dmp", "Signal: SIGABRT", None)]:
        run = u.run_bt(["-q", str(dump)])
        assert run.returncode == 0, run.describe()
        assert run.stdout.splitlines()[1] == line, run.stdout
        assert _bt_json(dump)["signal"]["code_name"] == code_name


def test_snapshot_of_a_minidump_round_trips(bt_bin, tmp_path):
    snap = tmp_path / "m.btsnap"
    run = u.run_bt(["snapshot", "-q", str(RUST / "linux-mini.dmp"), "-o", str(snap)])
    assert run.returncode == 0, run.describe()
    want = _bt_json(RUST / "linux-mini.dmp")
    got = _bt_json_show(snap)
    assert got["threads"] == want["threads"] and got["signal"] == want["signal"]
    assert got["snapshot"]["source"] == "minidump"
    # From the LinuxProcStatus stream (0x47670004; 0x47670003 is the CPU info): "Uid: 0 0 0 0".
    assert got["snapshot"]["uid"] == 0, got["snapshot"]


def test_btserve_serves_a_minidump_to_gdb(bt_bin):
    btserve = u.build_dir() / "bin" / "btserve"
    run = subprocess.run(["gdb", "-batch", "-nx", "-ex", f"target remote | {btserve} {RUST / 'linux-mini.dmp'}",
                          "-ex", "info registers rip", "-ex", "x/2gx $rsp", "-ex", "print $_siginfo.si_signo"],
                         capture_output=True, text=True, timeout=120)
    assert re.search(r"^rip\s+0x401d72\b", run.stdout, re.M), run.stdout + run.stderr
    assert re.search(r"^0x7fff5ae4aa20:\s+0x", run.stdout, re.M), run.stdout
    assert re.search(r"^\$1 = 11$", run.stdout, re.M), run.stdout


def test_corrupt_minidumps_are_clear_errors(bt_bin, tmp_path):
    raw = (RUST / "linux-mini.dmp").read_bytes()
    cases = {"truncated": raw[:200], "header_only": raw[:32], "garbage_dir": raw[:12] + b"\xff" * 20 + raw[32:]}
    for name, data in cases.items():
        p = tmp_path / f"{name}.dmp"
        p.write_bytes(data)
        run = u.run_bt(["--json", str(p)])
        assert run.returncode == 5, (name, run.describe())
        assert run.stderr.startswith("bt: error:"), (name, run.stderr)


def test_a_module_path_that_is_a_fifo_does_not_block(bt_bin, tmp_path):
    """A dump's module paths name files on this machine: one that is a FIFO (or a device) must
    be skipped, not opened and waited on (the ELF header fallback and the symbolizer did)."""
    import shutil
    import tempfile

    old = "/work/linux/build/crash"  # the executable linux-mini.dmp names (UTF-16 in the dump)
    d = tempfile.mkdtemp(prefix="btfi", dir="/tmp")  # /tmp/btfiXXXXXXXX: same length
    try:
        fifo = d + "/crash"
        assert len(fifo) == len(old)
        os.mkfifo(fifo)
        raw = (RUST / "linux-mini.dmp").read_bytes()
        assert old.encode("utf-16-le") in raw
        dump = tmp_path / "fifo.dmp"
        dump.write_bytes(raw.replace(old.encode("utf-16-le"), fifo.encode("utf-16-le")))
        run = u.run_bt(["-q", str(dump)], timeout=60)
        assert run.returncode == 0, run.describe()
        assert f"(minidump) {fifo}" in run.stdout, run.stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
