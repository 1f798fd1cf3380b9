"""A general-protection fault (a non-canonical address dereferenced) raises SIGSEGV with si_code
SI_KERNEL and no address: bt must not report "fault address 0x0", which reads like a NULL
dereference. Checked on a real crash, through bt (text, JSON), bt snapshot + bt show, and Python;
and a NULL write next to it still reports its address 0x0."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import e2e_util as u

SOURCE = r"""
#include <string.h>
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "crash")) {
    /* Built as "nullw": a NULL write instead of the non-canonical address. */
    volatile int *p = (volatile int *)(strstr(argv[0], "nullw") ? 0 : 0xdead0000beefUL);
    *p = 1;
  }
  return 0;
}
"""

GP_TEXT = "Signal: SIGSEGV / SI_KERNEL, no fault address (general protection fault)"


@pytest.fixture(scope="module")
def gp_core(tmp_path_factory, bt_bin):
    work = tmp_path_factory.mktemp("gpfault")
    src = work / "gpfault.c"
    src.write_text(SOURCE)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], src, work, "gpfault")
    return exe, core


def test_bt_text_and_json_say_there_is_no_address(gp_core):
    exe, core = gp_core
    text = u.run_bt([core, "--exe", exe])
    assert text.returncode == 0, text.describe()
    assert GP_TEXT in text.stdout, text.stdout
    assert "fault address 0x0" not in text.stdout and " at 0x0" not in text.stdout
    doc = json.loads(u.run_bt(["--json", core, "--exe", exe]).stdout)
    assert doc["signal"]["name"] == "SIGSEGV" and doc["signal"]["code"] == 128
    assert doc["signal"]["code_name"] == "SI_KERNEL"
    assert doc["signal"]["address"] is None
    crashed = [t for t in doc["threads"] if t["crashed"]]
    assert crashed and crashed[0]["signal"]["address"] is None


def test_snapshot_keeps_the_absence(gp_core, tmp_path):
    exe, core = gp_core
    snap = tmp_path / "gp.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", exe, "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    shown = u.run_bt(["show", snap])
    assert GP_TEXT in shown.stdout, shown.stdout
    assert json.loads(u.run_bt(["show", "--json", snap]).stdout)["signal"]["address"] is None


def test_python_address_is_none(gp_core):
    exe, core = gp_core
    code = f"""
import btengine
with btengine.open({str(core)!r}, exe={str(exe)!r}) as p:
    print(p.signal.name, p.signal.code, p.signal.address)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["SIGSEGV", "128", "None"]


def test_a_null_write_still_has_its_address(tmp_path, bt_bin):
    src = tmp_path / "nullw.c"
    src.write_text(SOURCE)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], src, tmp_path, "nullw")
    text = u.run_bt([core, "--exe", exe])
    assert "Signal: SIGSEGV / SEGV_MAPERR at 0x0" in text.stdout, text.stdout


ABORT_SOURCE = r"""
#include <stdlib.h>
int main(void) { abort(); }
"""


def test_a_raised_signal_names_its_code_and_sender(tmp_path, bt_bin):
    """abort() raises SIGABRT with tgkill: si_code SI_TKILL and the process itself as sender,
    printed the way Linux users read it, and the same in JSON and Python."""
    src = tmp_path / "abrt.c"
    src.write_text(ABORT_SOURCE)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], src, tmp_path, "abrt")
    doc = json.loads(u.run_bt(["--json", core, "--exe", exe]).stdout)
    pid = doc["target"]["pid"]
    assert doc["signal"]["code"] == -6 and doc["signal"]["code_name"] == "SI_TKILL", doc["signal"]
    text = u.run_bt([core, "--exe", exe])
    assert f"Signal: SIGABRT / SI_TKILL from pid {pid}\n" in text.stdout, text.stdout
    code = f"""
import btengine
with btengine.open({str(core)!r}, exe={str(exe)!r}) as p:
    print(p.signal.code_name, p.signal.sender_pid)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["SI_TKILL", str(pid)]
