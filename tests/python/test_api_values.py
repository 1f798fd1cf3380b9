"""Values read through the Python API equal what bt prints: for every fixture binary's core,
frame by frame for every thread and every variable (`bt --json --vars`); for one variant of
each program as a live process; for snapshots (`bt show --json --vars`). Then the walkable
Values of vars_c and vars_cpp against the values their sources set."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import btengine
import e2e_util as u
from apiutil import (differences, find_frame, normalize_bt,
                     process_doc)
from pytest_util import bt_json, debug_args, debug_dirs, entry_named, manifest_entries

ENTRIES = manifest_entries()
IDS = [e["name"] for e in ENTRIES]
# One variant of every program for the live tests (attaching is the slow part).
LIVE_VARIANTS = ["gcc-O0-dwarf5-pie-fp", "clang-O2-dwarf5-pie-nofp"]
LIVE = [e for e in ENTRIES if e["variant"] in LIVE_VARIANTS]


def _assert_same(mine, bt, kind=None):
    diff = differences(mine, bt, kind)
    assert not diff, "Python API != bt:\n" + "\n".join(diff[:40])


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_core_matches_bt(entry, cores):
    core = cores(entry)
    bt = normalize_bt(bt_json(["--json", "--vars", core, "--exe", entry["path"]]
                              + debug_args(entry)))
    with btengine.open(core, exe=entry["path"], debug_dirs=debug_dirs(entry)) as p:
        assert p.kind == "core"
        _assert_same(process_doc(p), bt)
        # Process facts bt does not print: the main module, readable memory at every pc.
        main = [m for m in p.modules if m.main]
        assert len(main) == 1 and main[0].path == p.executable
        assert p.read(main[0].start, 4) == b"\x7fELF"
        # From NT_PRPSINFO's pr_psargs: at most 79 characters (the kernel cuts it).
        cmd = " ".join(p.command_line)
        assert cmd and f"{entry['path']} crash".startswith(cmd) and len(cmd) <= 79
        for t in p.threads:
            for f in t.frames:
                assert any(r.start <= f.pc < r.end for r in p.regions), hex(f.pc)
                for v in f.variables:
                    # Walkable exactly when bt could render it.
                    assert (v.value is None) == (v.optimized_out or v.error), (f, v)


@pytest.mark.parametrize("entry", LIVE, ids=[e["name"] for e in LIVE])
def test_live_matches_bt(entry, paused_process):
    proc = paused_process(entry["path"])
    bt = normalize_bt(bt_json(["--json", "--vars", proc.pid] + debug_args(entry)))
    u.wait_all_sleeping(proc.pid)
    with btengine.attach(proc.pid, debug_dirs=debug_dirs(entry)) as p:
        assert p.kind == "live" and p.pid == proc.pid and p.signal is None
        assert p.crashed_thread is None
        _assert_same(process_doc(p), bt)
        for t in p.threads:
            assert t.registers["rip"] == t.frames[0].pc
            regs = t.frames[0].registers
            assert regs is not None and regs["rip"] == t.frames[0].pc
            assert regs["rsp"] == t.registers["rsp"]


SNAPSHOT_PARAMS = [pytest.param(e, id=e["name"])
                   for e in ENTRIES]


@pytest.mark.parametrize("entry", SNAPSHOT_PARAMS)
def test_snapshot_matches_bt_show(entry, cores, tmp_path):
    core = cores(entry)
    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", entry["path"], "-o", snap, "-q",
                    "--attr", "team=python"] + debug_args(entry))
    assert run.returncode == 0, run.describe()
    doc = bt_json(["show", "--json", "--vars", snap])
    with btengine.open(snap) as p:
        assert p.kind == "snapshot"
        _assert_same(process_doc(p), normalize_bt(doc), kind="snapshot")
        assert p.attributes == {"team": "python"}
        assert p.fingerprint == doc["snapshot"]["fingerprint"]
        assert p.command_line == doc["snapshot"]["command_line"]


@pytest.mark.parametrize("name", ["vars_c.gcc-O2-dwarf5-pie-nofp-split",
                                  "sighandler_c.clang-O2-dwarf4-pie-nofp-split"])
def test_split_snapshot_with_debug_dirs(name, cores, tmp_path):
    """A snapshot of a split-debug binary opened with its debug directory equals bt show."""
    entry = entry_named(name)
    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", cores(entry), "--exe", entry["path"], "-o", snap, "-q"]
                   + debug_args(entry))
    assert run.returncode == 0, run.describe()
    doc = bt_json(["show", "--json", "--vars", snap])
    with btengine.open(snap, debug_dirs=debug_dirs(entry)) as p:
        _assert_same(process_doc(p), normalize_bt(doc), kind="snapshot")


@pytest.mark.parametrize("name", ["vars_c.gcc-O2-dwarf5-pie-nofp", "threads_cpp.clang-O0-dwarf5-pie-fp"])
def test_snapshot_without_binaries(name, cores, tmp_path):
    """A snapshot read where its executable is gone: the stored frames and rendered values
    (nothing to walk)."""
    entry = entry_named(name)
    exe = tmp_path / Path(entry["path"]).name
    shutil.copy2(entry["path"], exe)
    core = cores(entry)
    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", exe, "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    exe.unlink()
    doc = bt_json(["show", "--json", "--vars", snap])
    with btengine.open(snap) as p:
        _assert_same(process_doc(p), normalize_bt(doc), kind="snapshot")


@pytest.mark.parametrize("entry", LIVE, ids=[e["name"] for e in LIVE])
def test_capture_matches_bt_show(entry, paused_process, tmp_path):
    proc = paused_process(entry["path"])
    snap = tmp_path / "live.btsnap"
    r = btengine.capture(proc.pid, snap, attributes={"k": "v"}, debug_dirs=debug_dirs(entry))
    assert r.path == str(snap) and r.size == snap.stat().st_size and r.stopped_ms >= 0
    assert u.wait_all_sleeping(proc.pid), "the process did not run on after capture()"
    doc = bt_json(["show", "--json", "--vars", snap])
    with btengine.open(snap) as p:
        _assert_same(process_doc(p), normalize_bt(doc), kind="snapshot")
        assert p.pid == proc.pid and p.attributes == {"k": "v"}


def test_signal_frame_function_equals_bt_json(cores):
    entry = entry_named("sighandler_c.gcc-O0-dwarf5-pie-fp")
    core = cores(entry)
    bt = bt_json(["--json", core, "--exe", entry["path"]])
    with btengine.open(core, exe=entry["path"]) as p:
        f = [f for f in p.crashed_thread.frames if f.signal_frame][0]
        assert f.function == [f for f in bt["threads"][0]["frames"] if f["signal_frame"]][0]["function"]


# ------------------------------------------------------------------------------------------
# Walking values: vars_c.c and vars_cpp.cpp set these.

VARS_C = [e for e in ENTRIES if e["program"] == "vars_c"]
VARS_CPP = [e for e in ENTRIES if e["program"] == "vars_cpp"]


def _val(frame, name) -> btengine.Value:
    v = frame[name].value
    assert v is not None, f"{name} in {frame.function}: {frame[name].text}"
    return v


def _param(frame, name):
    """Parameters: [the Value], or [] where an optimizing compiler left no location for it at
    this pc (bt and gdb say <optimized out> too: test_core_matches_bt). Locals are always
    there (the fixtures keep them in memory)."""
    var = frame[name]
    if var.optimized_out and var.kind == "param":
        return []
    return [_val(frame, name)]


@pytest.fixture(params=VARS_C, ids=[e["name"] for e in VARS_C])
def vars_c(request, cores):
    entry = request.param
    with btengine.open(cores(entry), exe=entry["path"], debug_dirs=debug_dirs(entry)) as p:
        yield p


def test_vars_c_scalars(vars_c):
    f = find_frame(vars_c, "vc_inner")
    expect = {"sc": -7, "uc": 250, "s": -300, "us": 60000, "i": -123456, "u": 3000000000,
              "l": -1, "ul": 1 << 63, "ll": -2, "ull": (1 << 64) - 1, "b": True, "f": 1.5,
              "d": 3.25, "ld": 2.5, "c": 65, "l_sc": -5, "l_uc": 200, "l_s": -1234,
              "l_us": 65535, "l_i": -100000, "l_u": 4000000000, "l_l": -9000000000,
              "l_ul": (1 << 64) - 1, "l_ll": -(1 << 63), "l_ull": 12345678901234567890,
              "l_b": False, "l_b2": True, "l_d": -2.5e-3, "l_dz": 0.0, "l_dbig": 1e300}
    for name, want in expect.items():
        vals = _param(f, name)
        if not vals:
            continue
        got = vals[0].value
        assert got == want and type(got) is type(want), (name, got, want)
    assert _val(f, "l_f").value == pytest.approx(0.1)
    assert _val(f, "l_ld").value == pytest.approx(1 / 3)
    assert int(_val(f, "l_i")) == -100000 and float(_val(f, "l_d")) == -2.5e-3
    assert _val(f, "l_u").size == 4 and _val(f, "l_u").kind == "base"


def test_vars_c_structs_pointers_arrays(vars_c, manifest):
    f = find_frame(vars_c, "vc_middle")
    r = _val(f, "r")
    assert r.kind == "struct" and r.type == "struct rect" and r.size == 44
    assert list(r.fields) == ["tl", "br", "name", "tags"]
    assert (r["tl"]["x"].value, r["tl"]["y"].value, r["br"]["x"].value) == (-1, -2, 3)
    assert r["tags"][2].value == 30 and r["tags"][-1].value == 30
    assert [e.value for e in r["tags"].elements] == [10, 20, 30] and len(r["tags"]) == 3
    assert r["name"].value == b"box" + b"\0" * 13 and r["name"].string() == b"box"
    assert r.address == f["r"].address and r["br"].address == r.address + 8
    assert vars_c.read(r.address, 44) == r.bytes
    # Pointers: follow them.
    h = _val(f, "h")
    assert h["n"].value == 3 and h["w"].value == 0.5
    g = h["r"].deref()
    assert g.type == "struct rect" and g["name"].string() == b"global"
    assert [e.value for e in g["tags"].elements] == [7, 8, 9]
    for rp in _param(f, "rp"):
        assert rp.deref()["br"]["y"].value == 40
    assert _val(f, "p_global").deref().value == 1234
    assert _val(f, "pp_local").deref().deref().value == 42
    for pp in _param(f, "pp"):
        assert pp.deref().deref().value == 5          # ipp -> ip -> cell in vc_outer
    assert _val(f, "p_local").value == f["value"].address
    assert _val(f, "p_null").value == 0
    for nullp in _param(f, "nullp"):
        assert nullp.value == 0
    assert _val(f, "s_lit").string() == b"lit\tstr"
    assert _val(f, "s_global").string() == b'hello, "world"\n'
    for lit in _param(f, "lit"):
        assert lit.string() == b'a "literal"'
    for arr in _param(f, "arr"):
        assert arr.string() == b"abc"
    assert _val(f, "f_ptr").value == h["cb"].value != 0
    # Arrays: char arrays are bytes.
    assert _val(f, "buf").value == b"short" + b"\0" * 11
    assert _val(f, "full").value == b"abcd" and _val(f, "full").string() == b"abcd"
    assert _val(f, "bytes").value == bytes([0, 1, 127, 128, 255, ord("z")])
    assert [e.value for e in _val(f, "arr1").elements] == [1, -2, 3, -4, 5]
    arr2 = _val(f, "arr2")
    assert len(arr2) == 2 and [[e.value for e in row.elements] for row in arr2.elements] == \
        [[1, 2, 3], [4, 5, 6]]
    assert [e.value for e in _val(f, "reps").elements] == [9] + [7] * 12 + [8]
    big = _val(f, "big")
    assert len(big) == 220 and big[219].value == 219 and big[-220].value == 0
    # Bit fields, unions.
    bits = _val(f, "bits")
    assert {k: v.value for k, v in bits.fields.items()} == {"a": 1, "b": 5, "c": -3, "d": 100}
    n = _val(f, "n")
    assert n.kind == "union" and n["i"].value == 1078530011
    assert n["f"].value == pytest.approx(3.14159274) and n["bytes"].value == b"\xdb\x0fI@"
    for un in _param(f, "un"):
        assert un["i"].value == 0x41424344 and un["bytes"].value == b"DCBA"
    for bf in _param(f, "bf"):
        assert bf["c"].value == 15
    for pt in _param(f, "pt"):
        assert pt["x"].value == -10
    for rv in _param(f, "rv"):
        assert rv["name"].string() == b"by value"
    assert _val(f, "call_count").value == 78 and _val(f, "value").value == 42


def test_vars_c_enums_typedefs(vars_c):
    f = find_frame(vars_c, "vc_outer")
    enums = {"c": (5, "GREEN"), "flags": (3, None), "unknown_bit": (68, None), "bad": (3, None),
             "l_c": (6, "BLUE"), "l_bad": (42, None), "l_flags": (5, None), "l_none": (0, None)}
    for name, (value, enumerator) in enums.items():
        vals = _param(f, name) if f[name].kind == "param" else [_val(f, name)]
        if not vals:
            continue
        v = vals[0]
        assert v.kind == "enum" and (v.value, v.enumerator) == (value, enumerator), name
    for t in _param(f, "t"):
        assert t.type == "u32" and t.value == 77 and t.kind == "base"
    assert _val(f, "l_t").value == 0xDEADBEEF and _val(f, "l_t").type == "u32"
    for ci in _param(f, "ci"):
        assert ci.value == -9
    for vi in _param(f, "vi"):
        assert vi.value == 11
    assert _val(f, "l_cvl").value == 123456789012
    assert _val(f, "l_cp").string() == b"const"
    assert _val(f, "ipp").deref().deref().value == 5
    assert _val(f, "chars").value == b"abc\0\0\0\0\0"
    main = find_frame(vars_c, "main")
    assert _val(main, "local_in_main").value == 31337


@pytest.fixture(params=VARS_CPP, ids=[e["name"] for e in VARS_CPP])
def vars_cpp(request, cores):
    entry = request.param
    with btengine.open(cores(entry), exe=entry["path"], debug_dirs=debug_dirs(entry)) as p:
        yield p


def test_vars_cpp_values(vars_cpp):
    f = find_frame(vars_cpp, "vp::inspect<int>")
    lref = _val(f, "lref")
    assert lref.kind == "reference" and lref.deref().value == 12
    assert _val(f, "rref").kind == "rvalue_reference" and _val(f, "rref").deref().value == 14
    box = _val(f, "box").deref()
    assert [e.value for e in box["items"].elements] == [4, 5, 6]
    assert box["count"].value == 3 and box["label"].string() == b"box"
    assert _val(f, "bp").deref()["count"].value == 3
    assert _val(f, "copy").value == 26 and _val(f, "alias").deref().value == 12
    assert (_val(f, "mode").value, _val(f, "mode").enumerator) == (7, "Done")
    assert (_val(f, "level").value, _val(f, "level").enumerator) == (100, "High")
    assert (_val(f, "bad_mode").value, _val(f, "bad_mode").enumerator) == (5, None)
    shape = _val(f, "shape").deref()
    assert shape["id"].value == 1
    assert _val(f, "shape_ref").deref()["id"].value == 1
    run = find_frame(vars_cpp, "vp::Square::run")
    this = _val(run, "this").deref()   # run's `this` (the lambda's may be optimized out)
    assert this["<vp::Shape>"]["id"].value == 1 and this["side"].value == 4
    assert this["mode"].enumerator == "Busy"
    assert _val(run, "base_area").value == 32 and _val(run, "counter").value == 12
    for scale in _param(run, "scale"):
        assert scale.value == 2
    assert _val(run, "box")["label"].value == b"box\0\0\0\0\0"
    main = find_frame(vars_cpp, "main")
    sq = _val(main, "sq")
    assert sq["side"].value == 4 and sq["<vp::Shape>"]["id"].value == 1
    assert _val(main, "m").enumerator == "Idle"
