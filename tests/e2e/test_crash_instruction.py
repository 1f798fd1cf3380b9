"""The crashing instruction, decoded from its bytes: what it does to memory and where, for real
crashes (gcc -O0 and -O2): a NULL read, a NULL write, a call through a NULL function pointer, a
`rep stosb` into unmapped memory, and ud2 (__builtin_trap). Checked in `bt --json`, in bt's
text, and from a snapshot with the executable deleted (the snapshot keeps the code around the
pc). objdump's disassembly of the same bytes is the oracle for the instruction text's mnemonic."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

import e2e_util as u

SOURCE = r"""
#include <string.h>
#include <stdlib.h>
volatile long sink;
__attribute__((noinline)) void null_read(long *p) { sink = p[2]; }
__attribute__((noinline)) void null_write(long *p) { ((volatile long *)p)[3] = 7; }
__attribute__((noinline)) void call_null(void (*f)(void)) { f(); }
__attribute__((noinline)) void block_write(char *p, size_t n) {
  __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(0) : "memory");
}
__attribute__((noinline)) void trap(void) { __builtin_trap(); }
int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "crash")) return 0;
  const char *how = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  long *volatile zero = 0;  /* unknown to the optimizer */
  if (!strncmp(how, "null_read", 9)) null_read((long *)zero);
  if (!strncmp(how, "null_write", 10)) null_write((long *)zero);
  if (!strncmp(how, "call_null", 9)) call_null((void (*)(void))zero);
  if (!strncmp(how, "block_write", 11)) block_write((char *)0x10000, 4096);
  if (!strncmp(how, "trap", 4)) trap();
  return 0;
}
"""

# program -> (access, size, address, our mnemonic, objdump's)
CASES = {
    "null_read": ("read", 8, 0x10, "mov", "mov"),
    "null_write": ("write", 8, 0x18, "mov", "mov"),
    "block_write": ("block_move", 1, 0x10000, "rep stosb", "rep stos BYTE PTR"),
    "trap": ("trap", None, None, "ud2", "ud2"),
}


@pytest.fixture(scope="module", params=["-O0", "-O2"])
def crashes(request, tmp_path_factory, bt_bin):
    work = tmp_path_factory.mktemp("instr" + request.param)
    (work / "crash.c").write_text(SOURCE)
    out = {}
    for name in list(CASES) + ["call_null"]:
        (work / name).mkdir()
        exe, core = u.build_and_crash(["gcc", "-g", request.param], work / "crash.c", work / name, name)
        out[name] = (exe, core)
    return out


def _instruction(args):
    run = u.run_bt(["--json"] + [str(a) for a in args])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    return doc, doc["analysis"]["instruction"]


@pytest.mark.parametrize("name", sorted(CASES))
def test_access_and_address(crashes, name):
    exe, core = crashes[name]
    doc, ins = _instruction([core, "--exe", exe])
    access, size, address, mnemonic, objdump_mnemonic = CASES[name]
    assert ins is not None, doc["analysis"]
    crashed = next(t for t in doc["threads"] if t["crashed"])
    assert ins["pc"] == crashed["frames"][0]["pc"]
    assert ins["access"] == access and ins["size"] == size, ins
    if address is not None:
        assert ins["address"] == hex(address), ins
        if doc["signal"]["address"] is not None:  # the kernel's fault address agrees
            assert int(doc["signal"]["address"], 16) == address
    assert ins["text"].startswith(mnemonic), ins
    # objdump decodes the same bytes to the same mnemonic.
    off = int(crashed["frames"][0]["module_offset"], 16)
    dump = subprocess.run(["objdump", "-d", "-M", "intel", f"--start-address={off}",
                           f"--stop-address={off + ins['length']}", str(exe)],
                          capture_output=True, text=True).stdout
    line = [l for l in dump.splitlines() if re.match(rf"^\s*{off:x}:", l)]
    assert line and objdump_mnemonic in line[0], (dump, ins)
    text = u.run_bt([core, "--exe", exe]).stdout
    assert f"Instruction: {ins['pc']}: {ins['text']}" in text, text


def test_call_through_null(crashes):
    # The fault is at pc 0 (the call already happened): frame 0 has no code to decode, and bt
    # says nothing rather than guess; the caller's frame shows the call.
    exe, core = crashes["call_null"]
    doc, ins = _instruction([core, "--exe", exe])
    crashed = next(t for t in doc["threads"] if t["crashed"])
    assert int(crashed["frames"][0]["pc"], 16) == 0
    assert ins is None


@pytest.mark.parametrize("name", ["null_write", "trap"])
def test_snapshot_replays_without_the_binary(crashes, name, tmp_path):
    exe, core = crashes[name]
    _, want = _instruction([core, "--exe", exe])
    private = tmp_path / exe.name
    shutil.copy2(exe, private)
    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", private, "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    private.unlink()
    shown = json.loads(u.run_bt(["show", "--json", snap]).stdout)
    assert shown["analysis"]["instruction"] == want
    assert f"Instruction: {want['pc']}: {want['text']}" in u.run_bt(["show", snap]).stdout
