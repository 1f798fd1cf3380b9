"""Glibc heap analysis on real heap errors (tests/e2e/data/heap_errors.cpp), under the tcache and
with GLIBC_TUNABLES=glibc.malloc.tcache_count=0 (fastbins and bins): a double free, a free of an
interior pointer, of a stack address, a use after free (a virtual call on a deleted object) and
an overflow into the next chunk's header. gdb, with
libc6-dbg, prints glibc's own state from the same core (`tcache->entries`,
`main_arena.fastbinsY`) — the oracle for what the analysis says each pointer is. Each case is
also checked from the snapshot (the analysis is stored: the heap is not needed again). The
pointers themselves come from main's variables (`bt --vars`), which gdb agrees with elsewhere."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "e2e" / "data" / "heap_errors.cpp"
TUNINGS = {"tcache": "", "no-tcache": "glibc.malloc.tcache_count=0"}


@pytest.fixture(scope="module")
def exe(tmp_path_factory):
    out = tmp_path_factory.mktemp("heap") / "heap_errors"
    subprocess.run(["g++", "-g", "-O0", "-pthread", "-Wno-free-nonheap-object", str(SOURCE), "-o", str(out)],
                   check=True)
    return out


def crash(exe, mode, tuning, tmp_path, fill=0):
    wd = tmp_path / f"{mode}-{tuning}"
    wd.mkdir()
    env = {"HEAP_MODE": mode, "GLIBC_TUNABLES": TUNINGS[tuning], "HEAP_FILL": str(fill)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        core = u.make_core(str(exe), wd)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return core


def analysis(core, exe, *extra):
    r = u.run_bt(["--json", "--vars", *extra, str(core)])
    assert r.returncode in (0, 9), r.stderr
    doc = json.loads(r.stdout)
    c = doc["analysis"]["classifications"][0]
    return doc, c, {e["fact"]: e["value"] for e in c["evidence"]}


def gdb_value(exe, core, expr) -> int:
    run = u.gdb_commands([f"p/x (long)({expr})"], [str(exe), str(core)])
    m = re.search(r"\$1 = (0x[0-9a-f]+)", run.stdout)
    assert m, run.stdout + run.stderr
    return int(m.group(1), 16)


def main_var(doc, name) -> int:
    crashed = next(t for t in doc["threads"] if t["crashed"])
    for f in crashed["frames"]:
        if f["function"] == "main":
            for v in f.get("variables", []):
                if v["name"] == name:
                    return int(v["value"].split()[0], 16)
    raise AssertionError(f"no variable {name} in main")


@pytest.mark.parametrize("tuning", list(TUNINGS))
def test_double_free_from_allocator_state(exe, tmp_path, tuning):
    core = crash(exe, "double_free", tuning, tmp_path)
    doc, c, f = analysis(core, exe)
    p = main_var(doc, "p")
    assert (c["kind"], c["rule"]) == ("double-free", "allocator-state-double-free"), c
    assert f["freed_pointer"] == hex(p)
    if tuning == "tcache":
        assert gdb_value(exe, core, "tcache->entries[1]") == p  # glibc: p heads tcache bin 1
        assert f["heap: freed_pointer"] == \
            f"the start of a free (tcache) chunk of 48 bytes at {hex(p - 16)}, its key is glibc's tcache_key"
    else:
        assert gdb_value(exe, core, "main_arena.fastbinsY[1]") == p - 16  # glibc: the fastbin's top
        assert f["heap: freed_pointer"] == f"the start of a free (fastbin) chunk of 48 bytes at {hex(p - 16)}"


@pytest.mark.parametrize("tuning", list(TUNINGS))
def test_use_after_free(exe, tmp_path, tuning):
    core = crash(exe, "uaf", tuning, tmp_path)
    doc, c, f = analysis(core, exe)
    s = main_var(doc, "s")
    assert (c["kind"], c["severity"], c["rule"]) == ("use-after-free", "exploitable", "pointer-from-free-chunk"), c
    assert f["freed_chunk"] == hex(s - 16), f  # the deleted object's chunk
    # A Shape is 24 bytes: a 32-byte chunk, bin 0.
    if tuning == "tcache":
        assert gdb_value(exe, core, "tcache->entries[0]") == s
    else:
        assert gdb_value(exe, core, "main_arena.fastbinsY[0]") == s - 16


@pytest.mark.parametrize("tuning", list(TUNINGS))
def test_overflow_into_the_next_chunk_header(exe, tmp_path, tuning):
    core = crash(exe, "overflow", tuning, tmp_path)
    doc, c, f = analysis(core, exe)
    a, b = main_var(doc, "a"), main_var(doc, "b")
    assert (c["kind"], c["rule"]) == ("heap-buffer-overflow", "overwritten-chunk-header"), c
    assert f["overwritten_chunk"] == hex(b - 16) and f["overflowed_chunk_data"] == hex(a), f
    assert 'text "AAAAAAAA"' in c["reason"]
    assert gdb_value(exe, core, f"*(long *){b - 8}") == 0x4141414141414141  # b's size field


@pytest.mark.parametrize("mode", ["interior_free", "stack_free"])
def test_invalid_frees(exe, tmp_path, mode):
    core = crash(exe, mode, "tcache", tmp_path)
    doc, c, f = analysis(core, exe)
    assert c["kind"] == "invalid-free" and c["severity"] == "exploitable", c


def test_a_thread_arena(exe, tmp_path):
    """A double free in a thread's own arena: found through the arenas' ring (main_arena.next)."""
    core = crash(exe, "thread_double_free", "tcache", tmp_path)
    doc, c, f = analysis(core, exe)
    assert (c["kind"], c["rule"]) == ("double-free", "allocator-state-double-free"), c
    p = int(f["freed_pointer"], 16)
    assert f["heap: freed_pointer"].startswith(f"the start of a free (tcache) chunk of 48 bytes at {hex(p - 16)}")
    # Not in the main arena's heap: the main thread's heap is elsewhere.
    main_top = gdb_value(exe, core, "main_arena.top")
    assert abs(main_top - p) > 1 << 20, (hex(main_top), hex(p))


def test_the_analysis_is_kept_in_the_snapshot_but_not_the_heap(exe, tmp_path):
    # A 4 MiB heap: the walk reads all of it, the snapshot keeps only what matters.
    core = crash(exe, "double_free", "tcache", tmp_path, fill=20000)
    doc, c, _ = analysis(core, exe)
    assert c["kind"] == "double-free"
    snap = tmp_path / "s.btsnap"
    assert u.run_bt(["snapshot", str(core), "-o", str(snap), "-q"]).returncode == 0
    shown = json.loads(u.run_bt(["show", "--json", str(snap)]).stdout)
    assert shown["analysis"]["classifications"][0] == c
    assert shown["snapshot"]["memory_bytes"] < 1 << 20, shown["snapshot"]["memory_bytes"]


def test_a_corrupt_heap_is_reported_not_guessed(exe, tmp_path):
    """The walk stops at the overwritten header and says so; a pointer past it is not called a
    chunk of any kind."""
    core = crash(exe, "overflow", "tcache", tmp_path)
    doc, c, f = analysis(core, exe)
    assert f["heap problem"].startswith(f"corrupt chunk header at {f['overwritten_chunk']}: size 0x4141414141414141")
    assert f["heap: freed_pointer"] == "in the heap, past where the walk of its chunks stopped"


def test_a_hostile_heap_is_bounded_and_reported(exe, tmp_path):
    """A chunk size that would make the walk go backwards (0xffffffffffffffe1 wraps) and a tcache
    link far outside the heap: bt finishes quickly, reports both, classifies the NULL read."""
    core = crash(exe, "hostile_heap", "tcache", tmp_path)
    r = u.run_bt(["--json", "--vars", str(core)], timeout=60)
    assert r.returncode in (0, 9) and r.seconds < 30, r.describe()
    c = json.loads(r.stdout)["analysis"]["classifications"][0]
    assert c["kind"] == "null-deref", c
    problems = [e["value"] for e in c["evidence"] if e["fact"] == "heap problem"]
    assert any("0xffffffffffffffe1" in p for p in problems), c
