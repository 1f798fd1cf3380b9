"""Partial results: a truncated core, or a core whose executable is gone, is read as far as it
goes instead of refused. The crashing thread's registers are in the notes at the start of a
core, so frame #0 is always there (gdb shows it from the same files: it is the oracle); memory
cut off is unreadable, never guessed. Warnings say what is missing, JSON and Python say
`partial`, and bt exits with status 9 (distinct from success and from errors)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess

import pytest

import e2e_util as u

SOURCE = r"""
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) int checksum(volatile int *p) { return *p + 1; }
__attribute__((noinline)) int process_job(volatile int *p, int depth) {
  if (depth > 0) return process_job(p, depth - 1) + 1;
  return checksum(p) * 2;
}
int main(int argc, char **argv) {
  /* 8 MiB of dirty heap, so the core is big enough to cut at 1 MiB and still lose the stack. */
  char *big = malloc(8 << 20);
  memset(big, 0x5a, 8 << 20);
  if (argc > 1 && !strcmp(argv[1], "crash")) return process_job(0, 3) + big[100];
  return 0;
}
"""

PARTIAL = 9


def _notes_end(core_bytes: bytes) -> int:
    phoff, = struct.unpack_from("<Q", core_bytes, 32)
    phentsize, phnum = struct.unpack_from("<HH", core_bytes, 54)
    for i in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", core_bytes, phoff + i * phentsize)
        if p_type == 4:  # PT_NOTE
            return p_offset + p_filesz
    raise AssertionError("no PT_NOTE")


def _crashed(doc):
    return next(t for t in doc["threads"] if t["crashed"])



@pytest.fixture(scope="module")
def crashed(tmp_path_factory, bt_bin):
    work = tmp_path_factory.mktemp("partial")
    (work / "job.c").write_text(SOURCE)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], work / "job.c", work, "job")
    full = json.loads(u.run_bt(["--json", core]).stdout)
    frames = [f["function"] for f in _crashed(full)["frames"]]
    assert frames[:3] == ["checksum", "process_job", "process_job"], frames
    assert not full["partial"]
    return exe, core, full


def _cuts(core: os.PathLike):
    data = open(core, "rb").read()
    size = len(data)
    assert size > (4 << 20), f"the core is {size} bytes: too small for the cuts"
    return {"after-notes": _notes_end(data), "1MiB": 1 << 20, "half": size // 2,
            "last-page": size - 4096}


@pytest.mark.parametrize("cut_name", ["after-notes", "1MiB", "half", "last-page"])
def test_truncated_core_shows_what_it_holds(crashed, tmp_path, cut_name):
    exe, core, full = crashed
    cut = tmp_path / f"core.{cut_name}"
    shutil.copyfile(core, cut)
    os.truncate(cut, _cuts(core)[cut_name])
    run = u.run_bt(["--json", cut])
    assert run.returncode == PARTIAL, run.describe()
    doc = json.loads(run.stdout)
    assert doc["partial"] is True
    assert any("truncated core file" in w for w in doc["warnings"]), doc["warnings"]
    assert "truncated core file" in run.stderr
    # Every thread is there, the crash too; frame #0 is the full core's.
    assert [t["tid"] for t in doc["threads"]] == [t["tid"] for t in full["threads"]]
    assert doc["signal"] == full["signal"] and doc["crashed_tid"] == full["crashed_tid"]
    f0, full0 = _crashed(doc)["frames"][0], _crashed(full)["frames"][0]
    assert (f0["pc"], f0["function"], f0["line"]) == (full0["pc"], full0["function"], full0["line"])
    # Never more frames than the complete core has, and no frame the complete core lacks.
    got = [(f["pc"], f["function"]) for f in _crashed(doc)["frames"]]
    want = [(f["pc"], f["function"]) for f in _crashed(full)["frames"]]
    assert got == want[: len(got)], (got, want)
    text = u.run_bt([cut])
    assert text.returncode == PARTIAL and "in checksum" in text.stdout, text.describe()


def test_gdb_agrees_on_frame_zero_of_a_core_cut_after_its_notes(crashed, tmp_path):
    exe, core, _ = crashed
    cut = tmp_path / "core.notes"
    shutil.copyfile(core, cut)
    os.truncate(cut, _cuts(core)["after-notes"])
    gdb = u.gdb_core(str(exe), str(cut))
    m = re.search(r"^#0\s+(?:0x[0-9a-f]+ in )?(\w+)", gdb.stdout, re.M)
    assert m, gdb.describe()
    doc = json.loads(u.run_bt(["--json", cut]).stdout)
    assert _crashed(doc)["frames"][0]["function"] == m.group(1)


def test_python_reads_a_truncated_core(crashed, tmp_path):
    exe, core, _ = crashed
    cut = tmp_path / "core.half"
    shutil.copyfile(core, cut)
    os.truncate(cut, _cuts(core)["1MiB"])
    run = u.run_python(f"""
import btengine
with btengine.open({str(cut)!r}) as p:
    print(p.partial, p.crashed_thread.frames[0].function,
          any("truncated core file" in w for w in p.warnings))
""")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "checksum", "True"]


@pytest.fixture(scope="module")
def exe_gone(tmp_path_factory, bt_bin):
    work = tmp_path_factory.mktemp("exegone")
    (work / "job.c").write_text(SOURCE)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], work / "job.c", work, "job")
    kept = work / "job.kept"
    shutil.move(exe, kept)
    return exe, kept, core


def test_missing_executable_gives_module_offsets_and_registers(exe_gone):
    exe, kept, core = exe_gone
    run = u.run_bt(["--json", core])
    assert run.returncode == PARTIAL, run.describe()
    doc = json.loads(run.stdout)
    assert doc["partial"] is True
    assert any("is missing" in w and str(exe) in w for w in doc["warnings"]), doc["warnings"]
    f0 = _crashed(doc)["frames"][0]
    assert f0["module"] == str(exe) and f0["function"] is None and f0["how"] == "context"
    # The offset is checksum's, by the executable's symbol table (the file kept elsewhere).
    nm = subprocess.run(["nm", str(kept)], capture_output=True, text=True).stdout
    checksum = next(int(l.split()[0], 16) for l in nm.splitlines() if l.endswith(" checksum"))
    assert checksum <= int(f0["module_offset"], 16) < checksum + 0x40
    # With the executable named, the same core is complete.
    named = u.run_bt(["--json", core, "--exe", kept])
    assert named.returncode == 0, named.describe()
    assert _crashed(json.loads(named.stdout))["frames"][0]["function"] == "checksum"
    text = u.run_bt([core])
    assert text.returncode == PARTIAL and "[job+0x" in text.stdout, text.describe()


def test_python_missing_executable_names_the_python_argument(exe_gone):
    exe, kept, core = exe_gone
    run = u.run_python(f"""
import btengine
with btengine.open({str(core)!r}) as p:
    t = p.crashed_thread
    print(p.partial, t.frames[0].function, t.registers["rip"] == t.frames[0].pc)
    print([w for w in p.warnings if "is missing" in w][0])
""")
    assert run.returncode == 0, run.stderr
    first, warning = run.stdout.splitlines()
    assert first.split() == ["True", "None", "True"]
    assert "exe=" in warning
