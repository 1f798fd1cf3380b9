"""The fixtures themselves: the manifest matches the binaries, each binary has
the properties its variant claims, and gdb finds the known call chains in the
crash cores and the paused processes.  Needs the fixtures and gdb, not bt."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path


import e2e_util as u
import elfsyms
import framecmp
import gdbparse

PROGRAMS = {"deep_c", "threads_cpp", "sighandler_c", "libc_crash_c", "templates_cpp", "recursion_c",
            "vars_c", "vars_cpp"}
FIELDS = {
    "name": str, "path": str, "program": str, "variant": str, "source": str, "language": str,
    "compiler": str, "opt": int, "dwarf": int, "pie": bool, "static": bool, "fp": bool,
    "split_debug": bool,
}

SIG = "<signal>"
# The known chains, innermost first, as normalised function names
# (framecmp.normalize_function) or "re:" patterns; matched as an ordered
# subsequence starting at the known place.  CRASH_TOP is what sits above the
# known place at the crash (frame 0), PAUSE_TOP in pause mode.
CHAINS = {
    "deep_c": ["inl_c_inner", "inl_c_outer", "level_c", "inl_b_helper", "level_b", "level_a", "main"],
    "recursion_c": ["recursion_bottom"] + ["recurse"] * 200 + ["start_recursion", "main"],
    "libc_crash_c": ["record_length", "compare_records", "re:msort_with_tmp|qsort", "sort_records", "main"],
    "sighandler_c": ["handler_crash", "handler_work", "on_sigusr1", SIG, "re:raise",
                     "raise_from_here", "outer_work", "main"],
    "templates_cpp": ["tmpl::crash_site", "tmpl::Accumulator::add", r"re:operator\(\)$",
                      "tmpl::apply_twice", r"re:operator\(\)$", r"re:operator\(\)$", "main"],
    "threads_cpp": ["crash_chain::final_step", "crash_chain::Dispatcher::dispatch", "main"],
    "vars_c": ["vc_inner", "vc_middle", "vc_outer", "main"],
    "vars_cpp": ["vp::inspect", r"re:operator\(\)$", "vp::Square::run", "main"],
}
CRASH_TOP = {"libc_crash_c": ["re:strlen"]}
# Parametrised tests take `fixture_binary_entry`: one test per manifest entry
# (conftest.pytest_generate_tests).
PAUSE_TOP = ["re:pause", "fixture_park"]
THREAD_CHAINS = {  # threads_cpp: one thread each
    "bt-reader": ["workers::reader_loop", "workers::reader_entry", "start_thread"],
    "bt-sleeper": ["workers::sleeper_nap", "workers::sleeper_entry", "start_thread"],
    "bt-locker": ["workers::locker_take", "workers::locker_entry", "start_thread"],
    "bt-waiter": ["workers::Waiter::wait_forever", "workers::Waiter::run", "start_thread"],
    "bt-poller": ["workers::poller_wait", r"re:operator\(\)$", "start_thread"],
}


def _names(thread: gdbparse.GdbThread):
    return [SIG if f.signal_frame else framecmp.normalize_function(f.function) or "??"
            for f in thread.frames]


def _match(pattern, name):
    if pattern.startswith("re:"):
        return re.search(pattern[3:], name) is not None
    return pattern == name


def assert_chain(thread, chain, where):
    """`chain` is an ordered subsequence of the thread's frames, starting at
    the first frame (anchored)."""
    names = _names(thread)
    shown = "\n  ".join(f.raw for f in thread.frames)
    assert names and _match(chain[0], names[0]), f"{where}: frame #0 is {names[:1]}, expected {chain[0]}:\n  {shown}"
    i = 0
    for n in names:
        if i < len(chain) and _match(chain[i], n):
            i += 1
    assert i == len(chain), f"{where}: chain {chain[i]!r} (step {i}) not found in order:\n  {shown}"


def test_manifest(manifest):
    entries = manifest["binaries"]
    assert entries
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names))
    for e in entries:
        for key, typ in FIELDS.items():
            assert isinstance(e.get(key), typ), f"{e.get('name')}: {key} = {e.get(key)!r}"
        assert e["name"] == f"{e['program']}.{e['variant']}"
        assert Path(e["path"]).is_file(), e["path"]
        assert e["program"] in PROGRAMS
        assert e["compressed"] in (None, "zlib", "zstd")
        assert (e["debug_dir"] is not None) == e["split_debug"]
        assert not (e["pie"] and e["static"])
    assert {e["program"] for e in entries} == PROGRAMS
    # The covering set covers every axis.
    assert {e["compiler"] for e in entries} == {"gcc", "clang"}
    assert {e["opt"] for e in entries} == {0, 2}
    assert {e["dwarf"] for e in entries} == {4, 5}
    assert {(e["pie"], e["static"]) for e in entries} == {(True, False), (False, False), (False, True)}
    assert {e["fp"] for e in entries} == {True, False}
    assert any(e["split_debug"] for e in entries)
    assert {e["compressed"] for e in entries} == {None, "zlib", "zstd"}
    # Every program in every variant.
    variants = {e["variant"] for e in entries}
    assert len(entries) == len(variants) * len(PROGRAMS)


def _elf_type(path):
    with open(path, "rb") as f:
        return int.from_bytes(f.read(18)[16:18], "little")


def _dwarf_versions(path):
    out = subprocess.run(["readelf", "--debug-dump=info", "--dwarf-depth=1", path],
                         capture_output=True, text=True).stdout
    return {int(v) for v in re.findall(r"^\s+Version:\s+(\d+)", out, re.M)}


def test_binary_properties(fixture_binary_entry):
    e = fixture_binary_entry
    path = e["path"]
    sections = u.elf_sections(path)
    bid = u.build_id(path)
    assert bid and len(bid) == 40, f"{path}: build-id {bid!r}"
    assert _elf_type(path) == (3 if e["pie"] else 2), f"{path}: ELF type"
    assert (".interp" not in sections) == e["static"]
    assert ".symtab" in sections
    debug_file = path
    if e["split_debug"]:
        assert ".debug_info" not in sections and ".debug_line" not in sections
        assert ".gnu_debuglink" in sections
        debug_file = str(Path(e["debug_dir"]) / ".build-id" / bid[:2] / f"{bid[2:]}.debug")
        assert Path(debug_file).is_file(), f"missing split debug file {debug_file}"
        assert u.build_id(debug_file) == bid
        dsec = u.elf_sections(debug_file)
        assert ".debug_info" in dsec and ".debug_line" in dsec
    else:
        assert ".debug_info" in sections and ".debug_line" in sections
    info = u.elf_sections(debug_file)[".debug_info"]
    assert info[1] == e["compressed"], f".debug_info compression {info[1]!r}, manifest {e['compressed']!r}"
    assert _dwarf_versions(debug_file) == {e["dwarf"]}


def test_usage_error(manifest):
    e = manifest["binaries"][0]
    p = subprocess.run([e["path"]], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "usage" in p.stderr


def test_crash_core_known_chain(fixture_binary_entry, cores):
    e = fixture_binary_entry
    run, bt = cores.gdb(e)
    where = f"{e['name']} core"
    assert bt.signal == "SIGSEGV", f"{where}: {run.describe()}"
    assert bt.siginfo == (11, 1, 0), f"{where}: NULL write expected: {bt.siginfo}"
    current = bt.current_tid if bt.current_tid is not None else bt.threads[0].tid
    crashed = bt.by_tid()[current]
    assert_chain(crashed, CRASH_TOP.get(e["program"], []) + CHAINS[e["program"]], where)
    if e["program"] == "recursion_c":
        assert _names(crashed).count("recurse") == 200
    if e["program"] == "threads_cpp":
        _assert_worker_threads(bt, crashed, where, live=False)
    else:
        assert len(bt.threads) == 1


def _assert_worker_threads(bt, main_thread, where, live):
    others = [t for t in bt.threads if t is not main_thread]
    assert len(others) == len(THREAD_CHAINS), f"{where}: {len(bt.threads)} threads"
    for name, chain in THREAD_CHAINS.items():
        owners = [t for t in others if chain[0] in _names(t)]
        assert len(owners) == 1, f"{where}: {chain[0]} in {len(owners)} threads"
        t = owners[0]
        if live:
            assert t.name == name, f"{where}: thread {t.tid} is named {t.name!r}, expected {name!r}"
        # The chain starts below the libc blocking call.
        names = _names(t)
        sub = gdbparse.GdbThread(num=t.num, tid=t.tid, frames=t.frames[names.index(chain[0]):])
        assert_chain(sub, chain, f"{where} thread {name}")


def test_pause_known_chain(fixture_binary_entry, paused_process):
    e = fixture_binary_entry
    p = paused_process(e["path"])
    run = u.gdb_live(p.pid, debug_dir=e.get("debug_dir"))
    bt = gdbparse.parse(run.stdout)
    where = f"{e['name']} live"
    main = bt.by_tid().get(p.pid)
    assert main is not None, f"{where}: no main thread in gdb's output:\n{run.describe()}"
    assert_chain(main, PAUSE_TOP + CHAINS[e["program"]], where)
    if e["program"] == "threads_cpp":
        _assert_worker_threads(bt, main, where, live=True)
    else:
        assert len(bt.threads) == 1


def test_symbol_aliases_in_static_libc(manifest):
    static = [e for e in manifest["binaries"] if e["static"] and e["program"] == "deep_c"]
    assert static
    exe = static[0]["path"]
    assert elfsyms.are_aliases(exe, "pause", "__libc_pause")
    assert not elfsyms.are_aliases(exe, "pause", "level_a")
    assert not elfsyms.are_aliases(exe, "pause", "no_such_symbol")
