"""The security checks (`--security`; on in the crash handlers): a writable+executable mapping,
code patched in memory (live), a GOT entry pointed at the heap, a pc outside every module. Each
program prints the address the finding must name (the oracle); ordinary crashes and an ordinary
live process give no finding at all (no false alarms)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

import e2e_util as u

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
extern uintptr_t _GLOBAL_OFFSET_TABLE_[];
volatile long sink;
__attribute__((noinline)) int patched(int x) { return x * 3 + 1; }
int main(int argc, char **argv) {
  const char *mode = getenv("SEC_MODE");
  if (!mode || argc < 2) return 0;
  if (!strcmp(mode, "wx")) {
    unsigned char *page = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 0xc3;  /* ret */
    ((void (*)(void))page)();
    printf("%p\n", (void *)page);
  } else if (!strcmp(mode, "got")) {
    mprotect(0, 0, PROT_READ);  /* binds mprotect's .got.plt slot (lazy binding) */
    printf("resolved\n");
    void *heap = malloc(64);
    /* .got.plt: three loader entries, then one slot per imported function; the slot that
       holds mprotect's address is the one to overwrite. */
    uintptr_t real = (uintptr_t)dlsym(RTLD_DEFAULT, "mprotect");
    for (int i = 3; i < 64; ++i)
      if (_GLOBAL_OFFSET_TABLE_[i] == real) {
        _GLOBAL_OFFSET_TABLE_[i] = (uintptr_t)heap;
        printf("%p %p\n", (void *)&_GLOBAL_OFFSET_TABLE_[i], heap);
        break;
      }
  } else if (!strcmp(mode, "patch")) {
    uintptr_t page = (uintptr_t)&patched & ~(uintptr_t)4095;
    mprotect((void *)page, 8192, PROT_READ | PROT_WRITE | PROT_EXEC);
    ((volatile unsigned char *)&patched)[0] = 0xcc;  /* a breakpoint, as a debugger would */
    mprotect((void *)page, 8192, PROT_READ | PROT_EXEC);
    printf("%p\n", (void *)&patched);
  }
  fflush(stdout);
  if (!strcmp(argv[1], "wait")) pause();
  sink = *(volatile long *)(uintptr_t)sink;  /* NULL read: the crash */
  return 0;
}
"""


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    d = tmp_path_factory.mktemp("security")
    (d / "sec.c").write_text(SOURCE)
    exe = d / "sec"
    # Lazy binding keeps .got.plt writable (and the GOT entry is what an attacker overwrites).
    subprocess.run(["gcc", "-g", "-O1", "-Wl,-z,lazy", "-Wl,-z,norelro", str(d / "sec.c"), "-o", str(exe)],
                   check=True)
    return exe


def crash(exe, mode, where):
    where.mkdir(exist_ok=True)
    os.environ["SEC_MODE"] = mode
    try:
        core = u.make_core(str(exe), where)
    finally:
        del os.environ["SEC_MODE"]
    printed = subprocess.run([str(exe), "print"], env=dict(os.environ, SEC_MODE=mode),
                             capture_output=True, text=True).stdout
    return core, printed


def findings(args):
    r = u.run_bt(["--json", *args])
    assert r.returncode in (0, 9), r.stderr
    return [c for c in json.loads(r.stdout)["analysis"]["classifications"] if c["kind"].startswith("security-")]


def facts(c):
    return {e["fact"]: e["value"] for e in c["evidence"]}


def test_writable_executable_mapping(program, tmp_path):
    core, _ = crash(program, "wx", tmp_path / "wx")
    got = findings(["--security", str(core)])
    assert [c["kind"] for c in got] == ["security-wx-mapping"], got
    assert any(v.endswith(" rwx anonymous") for v in facts(got[0]).values()), got
    assert findings([str(core)]) == []  # off unless asked for


def test_got_entry_pointing_at_the_heap(program, tmp_path):
    p = subprocess.Popen([str(program), "wait"], env=dict(os.environ, SEC_MODE="got"),
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "resolved"
        slot, heap = (int(x, 16) for x in p.stdout.readline().split())
        got = findings(["--security", str(p.pid)])
        hijack = [c for c in got if c["kind"] == "security-got-hijack"]
        assert len(hijack) == 1, got
        f = facts(hijack[0])
        assert (int(f["slot"], 16), int(f["target"], 16)) == (slot, heap), f
        assert f["module"] == str(program) and hijack[0]["severity"] == "exploitable"
    finally:
        p.kill()
        p.wait()


def test_code_patched_in_memory(program):
    p = subprocess.Popen([str(program), "wait"], env=dict(os.environ, SEC_MODE="patch"),
                         stdout=subprocess.PIPE, text=True)
    try:
        at = int(p.stdout.readline(), 16)
        time.sleep(0.1)
        got = findings(["--security", str(p.pid)])
        assert [c["kind"] for c in got] == ["security-modified-code"], got
        f = facts(got[0])
        assert (int(f["first_difference"], 16), f["differing_bytes"], f["module"]) == (at, "1", str(program)), f
    finally:
        p.kill()
        p.wait()


def test_no_false_alarms(program, tmp_path):
    core, _ = crash(program, "none", tmp_path / "plain")
    assert findings(["--security", str(core)]) == []
    # A live process: every executable mapping of every library compared with its file.
    p = subprocess.Popen([str(program), "wait"], env=dict(os.environ, SEC_MODE="none"))
    try:
        time.sleep(0.2)
        assert findings(["--security", str(p.pid)]) == []
    finally:
        p.kill()
        p.wait()


def test_crash_handlers_run_them_by_default(program, tmp_path):
    core, _ = crash(program, "wx", tmp_path / "wx")
    out = tmp_path / "snaps"
    out.mkdir()
    with open(core, "rb") as f:
        r = subprocess.run([str(u.bt_path()), "coredump", "--exe", str(program), "-o", str(out)],
                           stdin=f, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + (out / "bt-coredump.log").read_text()
    snap = next(out.glob("*.btsnap"))
    shown = json.loads(u.run_bt(["show", "--json", str(snap)]).stdout)["analysis"]
    assert [c["kind"] for c in shown["classifications"]] == ["null-deref", "security-wx-mapping"]
    # --no-security turns them off.
    off = tmp_path / "off"
    off.mkdir()
    with open(core, "rb") as f:
        subprocess.run([str(u.bt_path()), "coredump", "--no-security", "--exe", str(program), "-o", str(off)],
                       stdin=f, check=True, capture_output=True, timeout=120)
    shown = json.loads(u.run_bt(["show", "--json", str(next(off.glob("*.btsnap")))]).stdout)["analysis"]
    assert [c["kind"] for c in shown["classifications"]] == ["null-deref"]
