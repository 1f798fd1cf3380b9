"""The answer cache (engine/symbols/answer_cache.h): a warm capture of pcs seen before takes their
inline chains and tail-call chains from $XDG_CACHE_HOME/btengine/debug/<build-id>/answers instead
of the DWARF. Warm answers must equal cold ones (tests/fixtures/fidelity/tail_calls.c at -O2: inline
frames, tail-call chains, PLT calls), they must really come from the file (a renamed function in
it shows), a damaged file is ignored and rewritten, and --no-cache writes none."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "tail_calls.c"


def bt(args, cache):
    r = subprocess.run([str(u.bt_path()), *map(str, args)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, XDG_CACHE_HOME=str(cache)))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if "--json" in args else r.stdout


def frames(doc):
    return {t["tid"]: [(f["function"], f["file"], f["line"], f["inlined"], f["how"]) for f in t["frames"]]
            for t in doc["threads"]}


def test_warm_answers_equal_cold_ones_and_come_from_the_file(bt_bin, tmp_path, paused_process):
    exe = tmp_path / "tail_calls"
    subprocess.run(["gcc", "-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    cache = tmp_path / "cache"
    args = ["--json", "--past-main", p.pid]
    cold = frames(bt(args, cache))
    answers = cache / "btengine" / "debug" / u.build_id(str(exe)) / "answers"
    assert answers.is_file(), sorted(str(x) for x in cache.rglob("*"))
    assert any(f[4] == "tailcall" for fs in cold.values() for f in fs), "the fixture has tail-call frames"
    assert frames(bt(args, cache)) == cold
    # The warm run read the file: a function renamed in it is what bt shows.
    data = answers.read_bytes()
    assert b"via_tail" in data
    answers.write_bytes(data.replace(b"via_tail", b"VIA_TAIL"))
    warm = frames(bt(args, cache))
    assert any(f[0] == "VIA_TAIL" for fs in warm.values() for f in fs)
    # Damaged: ignored (the DWARF answers again) and rewritten.
    answers.write_bytes(data[: len(data) // 2])
    assert frames(bt(args, cache)) == cold
    assert answers.read_bytes() == data  # the same answers, written again
    assert frames(bt(args, cache)) == cold
    # --no-cache keeps nothing.
    other = tmp_path / "other"
    bt(["--no-cache", *args], other)
    assert not list(other.rglob("answers"))


def test_variables_are_never_taken_from_the_cache(bt_bin, tmp_path, paused_process):
    """Variables depend on the moment: answers with them are computed every time. The call sites
    their entry values come from (n@entry) are the module's and come from the cache when warm."""
    exe = tmp_path / "tail_calls"
    subprocess.run(["gcc", "-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    cache = tmp_path / "cache"
    first = bt(["--vars", p.pid], cache)
    answers = cache / "btengine" / "debug" / u.build_id(str(exe)) / "answers"
    kept = answers.read_bytes()
    assert bt(["--vars", p.pid], cache) == first
    assert answers.read_bytes() == kept, "the warm run found every call site in the file"
    assert "n=n@entry=3" in first


def test_warm_variables_equal_cold_ones_on_every_fixture(manifest, cores, tmp_path):
    """A warm `bt --vars` visits the scope DIEs its cached answer names (by offset, checked to
    cover the pc and nest) instead of finding them again: every fixture's variables, inlined
    frames and lexical blocks included, must read as without the cache."""
    cache = tmp_path / "cache"
    differ = []
    for entry in manifest["binaries"]:
        core = cores.core(entry)
        args = ["--json", "--vars", core, "--exe", entry["path"]]
        cold = bt(["--no-cache", *args], cache)
        bt(args, cache)  # fills the cache
        warm = bt(args, cache)
        if warm["threads"] != cold["threads"]:
            differ.append(entry["name"])
    assert not differ, f"warm --vars differs from --no-cache for {differ}"
    missing = {e["name"] for e in manifest["binaries"]
               if not (cache / "btengine" / "debug" / u.build_id(e["path"]) / "answers").is_file()}
    assert not missing, f"no answers kept for {sorted(missing)}"


UNITS = 40


def _many_units_program(tmp_path):
    """A program whose main thread's stack crosses UNITS compile units (one frame each, with a
    local struct whose fields say which unit it is), on three threads: the symbolizer answers
    more units than one batch holds, so later batches' DIEs are extracted on other threads."""
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for n in range(UNITS):
        nxt = f"f{n + 1}(depth + 1);" if n + 1 < UNITS else "park();"
        (src / f"u{n}.c").write_text(
            f"struct rec{n} {{ int id; const char *name; double w; }};\n"
            f"void f{n + 1}(int depth);\nvoid park(void);\n"
            f"void f{n}(int depth) {{\n"
            f"  volatile struct rec{n} v = {{{n}, \"u{n}\", {n}.5}};\n"
            f"  {nxt}\n  v.id += depth;\n}}\n")
        files.append(src / f"u{n}.c")
    (src / "main.c").write_text(r'''
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
void f0(int depth);
static pthread_barrier_t ready;
void park(void) {
  static int parked;
  if (__sync_add_and_fetch(&parked, 1) == 3) { printf("READY %d\n", getpid()); fflush(stdout); }
  for (;;) pause();
}
static void *run(void *arg) { (void)arg; f0(0); return 0; }
int main(void) {
  pthread_t t[2];
  for (int i = 0; i < 2; ++i) pthread_create(&t[i], 0, run, 0);
  f0(0);
}
''')
    exe = tmp_path / "many_units"
    subprocess.run(["gcc", "-g", "-O0", "-pthread", *map(str, files), str(src / "main.c"), "-o", str(exe)],
                   check=True)
    return exe


def test_many_units_warm_and_cold_variables_agree_with_the_source(bt_bin, tmp_path, paused_process):
    p = paused_process(_many_units_program(tmp_path))
    u.wait_all_sleeping(p.pid)
    cache = tmp_path / "cache"
    runs = [bt(["--json", "--vars", p.pid], cache) for _ in range(2)]  # cold, then warm
    runs.append(bt(["--json", "--vars", "--no-cache", p.pid], tmp_path / "none"))
    for doc in runs:
        assert len(doc["threads"]) == 3
        for t in doc["threads"]:
            seen = []
            for f in t["frames"]:
                m = re.fullmatch(r"f(\d+)", f.get("function") or "")
                if not m:
                    continue
                n = int(m.group(1))
                v = {x["name"]: x["value"] for x in f.get("variables") or []}
                assert f["file"].endswith(f"u{n}.c"), f
                assert re.fullmatch(rf'\{{id = {n}, name = 0x[0-9a-f]+ "u{n}", w = {n}\.5\}}', v.get("v", "")), (n, v)
                assert v.get("depth") == str(n), (n, v)
                seen.append(n)
            assert seen == list(range(UNITS - 1, -1, -1)), seen
    strip = lambda doc: [[(f.get("function"), f.get("variables")) for f in t["frames"]] for t in doc["threads"]]
    assert strip(runs[1]) == strip(runs[0]) == strip(runs[2])


def test_many_units_with_corrupt_units_in_later_batches(bt_bin, tmp_path, paused_process):
    """Units whose DIEs are garbage, in batches the symbolizer prepares on other threads: those
    units fall back to the symbol table (a warning says which), every other unit's frames and
    values are exactly right, and bt exits normally."""
    import struct
    from test_malformed_binaries import _section_range

    exe = _many_units_program(tmp_path)
    data = bytearray(exe.read_bytes())
    off, size = _section_range(str(exe), ".debug_info")
    units, at = [], off
    while at < off + size:
        (length,) = struct.unpack_from("<I", data, at)
        units.append((at, at + 4 + length))
        at += 4 + length
    # The unit of f<N> for three N in later batches: found by its struct's name in .debug_str
    # being hard to map, the units are taken by position (gcc emits them in link order: u0..u39).
    assert len(units) >= UNITS
    bad_units = {12, 25, 37}
    for n in bad_units:
        start, end = units[n]
        for k in range(start + 12, end - 1, 7):  # past the header: every 7th byte of the DIEs
            data[k] = 0xFF
    bad = tmp_path / "many_units_bad"
    bad.write_bytes(bytes(data))
    bad.chmod(0o755)
    p = paused_process(bad)
    u.wait_all_sleeping(p.pid)
    r = subprocess.run([str(u.bt_path()), "--json", "--vars", "--no-cache", str(p.pid)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for t in doc["threads"]:
        named = [f.get("function") for f in t["frames"]]
        for n in range(UNITS):
            if n in bad_units:
                continue
            f = next((f for f in t["frames"] if f.get("function") == f"f{n}"), None)
            assert f is not None, (n, named)
            v = {x["name"]: x["value"] for x in f.get("variables") or []}
            assert re.fullmatch(rf'\{{id = {n}, name = 0x[0-9a-f]+ "u{n}", w = {n}\.5\}}', v.get("v", "")), (n, v)
        for n in bad_units:  # named from the symbol table: no variables, no source line
            f = next((f for f in t["frames"] if f.get("function") == f"f{n}"), None)
            assert f is not None and not f.get("variables") and not f.get("line"), (n, f)
    assert "corrupt DWARF" in r.stderr, r.stderr
