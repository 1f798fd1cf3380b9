"""`bt export --minidump`: a core, a snapshot or a minidump written as a Breakpad-style minidump.

For every fixture binary's core, and for a snapshot taken of that core, the minidump bt writes
reads back in bt with the same threads, the same frames (function and pc) in every thread, and
the same signal and fault address. lldb 19 opens it and sees what it sees in the core itself:
the thread ids, rip and rsp of every thread, and every frame's pc (frame 0's is also bt's).
Third-party minidumps (rust-minidump's and Breakpad's test dumps) exported again keep their
threads, frames and every memory range. The file is also read here independently of both
readers (header, stream directory, CONTEXT_AMD64 offsets, CodeView build-ids, exception, Linux
streams), and bad input or output is a clear error with a non-zero exit status."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util as u
from test_minidump import DATA

LLDB = shutil.which("lldb-19")

# Fixtures for the (slower) lldb comparison: PIE and non-PIE, frame pointers or not, gcc and
# clang, threads, a static binary.
LLDB_PROGRAMS = ["threads_cpp.gcc-O0-dwarf5-pie-fp", "vars_c.clang-O2-dwarf5-pie-nofp",
                 "deep_c.gcc-O2-dwarf4-nopie-fp", "sighandler_c.gcc-O2-dwarf5-static-nofp"]


MINIDUMPS = DATA  # ../shared/testdata/minidump
THIRD_PARTY = ([MINIDUMPS / "rust-minidump" / "linux-mini.dmp"] +
               sorted((MINIDUMPS / "breakpad").glob("*.dmp"))) if MINIDUMPS.is_dir() else []


def _debug_args(entry):
    return ["--debug-dir", entry["debug_dir"]] if entry.get("debug_dir") else []


def _bt_json(args):
    run = u.run_bt(["--json", "-q"] + [str(a) for a in args])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def _export(src, out, *extra):
    run = u.run_bt(["export", "--minidump", str(src), "-o", str(out)] + list(extra))
    assert run.returncode == 0, run.describe()
    assert run.stdout.startswith(f"minidump: {out} ("), run.stdout
    assert out.is_file()
    return run


def _essence(doc):
    """What an export must keep: the signal, the crashed thread, and per thread its frames."""
    return {
        "signal": doc["signal"],
        "crashed_tid": doc["crashed_tid"],
        "pid": doc["target"]["pid"],
        "threads": [(t["tid"], t["crashed"], [(f["pc"], f.get("function")) for f in t["frames"]])
                    for t in doc["threads"]],
    }


def _variables(doc):
    return [[(f.get("function"), [(v["name"], v["value"]) for v in f.get("variables", [])])
             for f in t["frames"]] for t in doc["threads"]]


# --------------------------------------------------------------------------
# The file, read without bt or lldb.

CONTEXT_SIZE = 1232


class Minidump:
    def __init__(self, path: Path):
        self.data = d = path.read_bytes()
        sig, ver, n, rva = struct.unpack_from("<IIII", d, 0)
        assert sig == 0x504D444D, hex(sig)  # "MDMP"
        assert ver & 0xFFFF == 0xA793, hex(ver)
        self.streams = {}
        for i in range(n):
            t, size, srva = struct.unpack_from("<III", d, rva + 12 * i)
            assert t not in self.streams, f"stream {t:#x} twice"
            assert srva + size <= len(d), f"stream {t:#x} past the end"
            self.streams[t] = d[srva:srva + size]

    def string(self, rva):
        (n,) = struct.unpack_from("<I", self.data, rva)
        return self.data[rva + 4:rva + 4 + n].decode("utf-16-le")

    def threads(self):
        s = self.streams[3]
        (n,) = struct.unpack_from("<I", s, 0)
        out = []
        for i in range(n):
            tid, _, _, _, teb, stack, ssize, srva, csize, crva = struct.unpack_from("<IIIIQQIIII", s, 4 + 48 * i)
            out.append(dict(tid=tid, teb=teb, stack=stack, stack_bytes=self.data[srva:srva + ssize],
                            context=self.data[crva:crva + csize]))
        return out

    def memory(self):
        s = self.streams[5]
        (n,) = struct.unpack_from("<I", s, 0)
        out = []
        for i in range(n):
            start, size, rva = struct.unpack_from("<QII", s, 4 + 16 * i)
            out.append((start, self.data[rva:rva + size]))
        return out

    def modules(self):
        s = self.streams[4]
        (n,) = struct.unpack_from("<I", s, 0)
        out = []
        for i in range(n):
            off = 4 + 108 * i
            base, size, _, _, name_rva = struct.unpack_from("<QIIII", s, off)
            cv_size, cv_rva = struct.unpack_from("<II", s, off + 24 + 52)
            out.append(dict(base=base, size=size, name=self.string(name_rva),
                            cv=self.data[cv_rva:cv_rva + cv_size]))
        return out


def _context(ctx):
    """CONTEXT_AMD64 fields at Breakpad's offsets (minidump_cpu_amd64.h)."""
    assert len(ctx) == CONTEXT_SIZE
    (flags,) = struct.unpack_from("<I", ctx, 0x30)
    names = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip"]
    regs = dict(zip(names, struct.unpack_from("<17Q", ctx, 0x78)))
    regs["flags"] = flags
    return regs


def _read(ranges, addr, n):
    for a, b in ranges:
        if a <= addr and addr + n <= a + len(b):
            return b[addr - a:addr - a + n]
    return None


# --------------------------------------------------------------------------
# bt reads back what it wrote.


def test_core_and_its_snapshot_export_round_trip(bt_bin, fixture_binary_entry, cores, tmp_path):
    entry = fixture_binary_entry
    core = cores.core(entry)
    dbg = _debug_args(entry)
    want = _essence(_bt_json([core] + dbg))
    assert want["signal"] and want["crashed_tid"]

    dmp = tmp_path / "core.dmp"
    _export(core, dmp)
    assert _essence(_bt_json([dmp] + dbg)) == want
    # Variables too: the memory they live in was exported, the read-only data (string literals)
    # comes from the same build's file here, as for the core.
    assert _variables(_bt_json(["--vars", dmp] + dbg)) == _variables(_bt_json(["--vars", core] + dbg))

    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", "-q", str(core), "-o", str(snap)] + dbg)
    assert run.returncode == 0, run.describe()
    sdmp = tmp_path / "snapshot.dmp"
    _export(snap, sdmp)
    got = _essence(_bt_json([sdmp] + dbg))
    assert got == want
    # Smaller than the core: the snapshot's memory, not the process's.
    assert sdmp.stat().st_size < core.stat().st_size


def test_the_file_is_a_breakpad_style_minidump(bt_bin, manifest, cores, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "threads_cpp.gcc-O0-dwarf5-pie-fp")
    core = cores.core(entry)
    doc = _bt_json([core])
    dmp = tmp_path / "x.dmp"
    _export(core, dmp)
    m = Minidump(dmp)
    for t in (3, 4, 5, 6, 7, 15, 0x47670004, 0x47670006, 0x47670008, 0x47670009):
        assert t in m.streams, f"stream {t:#x} missing"
    arch, = struct.unpack_from("<H", m.streams[7], 0)
    platform, csd = struct.unpack_from("<II", m.streams[7], 20)
    assert (arch, platform) == (9, 0x8201)
    assert m.string(csd) == ""

    # Threads: registers at CONTEXT_AMD64's offsets, stacks from SP up.
    first_pc = {t["tid"]: int(t["frames"][0]["pc"], 16) for t in doc["threads"]}
    threads = m.threads()
    assert sorted(t["tid"] for t in threads) == sorted(first_pc)
    memory = m.memory()
    for t in threads:
        regs = _context(t["context"])
        assert regs["flags"] & 0x0010000F == 0x0010000F, hex(regs["flags"])
        assert regs["rip"] == first_pc[t["tid"]]
        assert t["stack"] <= regs["rsp"] < t["stack"] + len(t["stack_bytes"])
        # The stack is also in the memory list (as Breakpad writes it), with the same bytes.
        assert _read(memory, t["stack"], len(t["stack_bytes"])) == t["stack_bytes"]

    # The exception: the crashed thread, the signal, si_code, the fault address, its context.
    tid, _, code, flags, _, address = struct.unpack_from("<IIIIQQ", m.streams[6], 0)
    assert tid == doc["crashed_tid"]
    assert (code, flags) == (doc["signal"]["number"], doc["signal"]["code"])
    assert address == int(doc["signal"]["address"], 16)
    ctx_size, ctx_rva = struct.unpack_from("<II", m.streams[6], 160)
    assert ctx_size == CONTEXT_SIZE
    crashed = next(t for t in threads if t["tid"] == tid)
    assert m.data[ctx_rva:ctx_rva + ctx_size] == crashed["context"]

    # Modules: the executable first, names in UTF-16, 'LEpB' + the GNU build-id.
    mods = m.modules()
    assert mods[0]["name"] == entry["path"]
    want = {mod["path"]: mod for mod in doc["modules"]}
    assert {x["name"] for x in mods} == set(want)
    for x in mods:
        w = want[x["name"]]
        assert x["base"] == int(w["start"], 16)
        assert x["base"] + x["size"] == int(w["end"], 16)
        assert x["cv"][:4] == b"LEpB" and x["cv"][4:].hex() == w["build_id"], x["name"]

    # Linux streams.
    status = m.streams[0x47670004].decode()
    assert re.search(r"^Name:\t\S+$", status, re.M) and f"\nPid:\t{doc['target']['pid']}\n" in status
    cmdline = m.streams[0x47670006]
    assert cmdline.endswith(b"\0") and cmdline.split(b"\0")[0].decode() == entry["path"]
    maps = m.streams[0x47670009].decode()
    assert any(l.endswith(" " + entry["path"]) and " r-xp " in l for l in maps.splitlines()), maps
    auxv = m.streams[0x47670008]
    assert len(auxv) % 16 == 0 and auxv[-16:] == b"\0" * 16


# --------------------------------------------------------------------------
# lldb


def _lldb_threads(args):
    """{tid: (rip, rsp, [pc of every frame], stop signal or None)} as lldb 19 sees the dump."""
    script = ('script print("BTX " + __import__("json").dumps([[t.GetThreadID(), '
              't.GetFrameAtIndex(0).FindRegister("rip").GetValueAsUnsigned(), '
              't.GetFrameAtIndex(0).FindRegister("rsp").GetValueAsUnsigned(), '
              '[f.GetPC() for f in t], '
              't.GetStopReasonDataAtIndex(0) if t.GetStopReason() == lldb.eStopReasonSignal else None] '
              'for t in lldb.process]))')
    run = subprocess.run([LLDB, "--batch", "-o", "settings set use-color false"] + args + ["-o", script],
                         capture_output=True, text=True, timeout=180)
    line = next((l for l in run.stdout.splitlines() if l.startswith("BTX ")), None)
    assert line, f"lldb printed no threads:\n{run.stdout}\n{run.stderr}"
    return {t[0]: tuple(t[1:]) for t in json.loads(line[4:])}


@pytest.mark.skipif(LLDB is None, reason="lldb-19 is not installed (scripts/setup installs it)")
@pytest.mark.parametrize("name", LLDB_PROGRAMS)
def test_lldb_sees_in_the_minidump_what_it_sees_in_the_core(bt_bin, manifest, cores, tmp_path, name):
    entry = next((e for e in manifest["binaries"] if e["name"] == name), None)
    if entry is None:
        pytest.skip(f"{name} is not among the selected fixtures")
    core = cores.core(entry)
    doc = _bt_json([core] + _debug_args(entry))
    want = _lldb_threads(["-c", str(core), entry["path"]])

    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", "-q", str(core), "-o", str(snap)] + _debug_args(entry))
    assert run.returncode == 0, run.describe()
    for src in (core, snap):
        dmp = tmp_path / (Path(src).name + ".dmp")
        _export(src, dmp)
        got = _lldb_threads(["-c", str(dmp)])
        assert sorted(got) == sorted(want) == sorted(t["tid"] for t in doc["threads"])
        for tid, (rip, rsp, pcs, signo) in got.items():
            w_rip, w_rsp, w_pcs, _ = want[tid]
            assert (rip, rsp) == (w_rip, w_rsp), tid
            assert pcs == w_pcs, (src, tid)
            bt_thread = next(t for t in doc["threads"] if t["tid"] == tid)
            assert pcs[0] == int(bt_thread["frames"][0]["pc"], 16)
            # lldb marks the crashed thread with the signal (in the core it marks every thread).
            if tid == doc["crashed_tid"]:
                assert signo == doc["signal"]["number"]


# --------------------------------------------------------------------------
# Other producers' minidumps, exported again.


@pytest.mark.skipif(not THIRD_PARTY, reason=f"no minidump test data at {MINIDUMPS}")
@pytest.mark.parametrize("dump", THIRD_PARTY, ids=[p.name for p in THIRD_PARTY])
def test_third_party_minidumps_export_again(bt_bin, tmp_path, dump):
    out = tmp_path / "again.dmp"
    _export(dump, out, "-q")
    assert _essence(_bt_json([out])) == _essence(_bt_json([dump]))
    # Every memory range of the original (stacks included), byte for byte: their starts are
    # not aligned (Breakpad keeps 256 bytes around the pc).
    original, again = Minidump(dump), Minidump(out)
    ranges = again.memory()
    held = original.memory() + [(t["stack"], t["stack_bytes"]) for t in original.threads() if t["stack_bytes"]]
    for start, data in held:
        assert _read(ranges, start, len(data)) == data, hex(start)


# --------------------------------------------------------------------------
# Options, bad input, bad output.


def _core(manifest, cores):
    entry = next(e for e in manifest["binaries"] if e["name"] == "threads_cpp.gcc-O0-dwarf5-pie-fp")
    return cores.core(entry)


def test_memory_budget_keeps_the_stacks_first_and_says_what_was_left_out(bt_bin, manifest, cores, tmp_path):
    core = _core(manifest, cores)
    full, small = tmp_path / "full.dmp", tmp_path / "small.dmp"
    _export(core, full)
    run = _export(core, small, "--max-memory-bytes", "200000")
    assert re.search(r"bt: warning: minidump: .* of memory in \d+ range\(s\) left out to stay within "
                     r".*\(--max-memory-bytes\): 0x[0-9a-f]+-0x[0-9a-f]+", run.stderr), run.stderr
    m = Minidump(small)
    assert sum(len(b) for _, b in m.memory()) <= 200000
    # The crashed thread's stack comes first: its frames are still all there.
    want = _essence(_bt_json([core]))
    got = _essence(_bt_json([small]))
    crashed = lambda doc: next(t for t in doc["threads"] if t[1])  # noqa: E731
    assert crashed(got) == crashed(want)
    assert full.stat().st_size > small.stat().st_size
    quiet = u.run_bt(["export", "-q", "--minidump", str(core), "-o", str(small), "--max-memory-bytes", "200000"])
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.describe()


def test_attributes_travel_as_crashpad_annotations(bt_bin, manifest, cores, tmp_path):
    """A snapshot's attributes are written as Crashpad simple annotations (the info stream
    minidump servers read), and come back as the minidump's attributes: in bt's text and JSON,
    in a snapshot of the minidump (where --attr adds and overrides), and in Python."""
    core = _core(manifest, cores)
    snap, dmp, again = tmp_path / "a.btsnap", tmp_path / "a.dmp", tmp_path / "again.btsnap"
    run = u.run_bt(["snapshot", "-q", str(core), "-o", str(snap), "--attr", "team=core",
                    "--attr", "build=42 (rc1)"])
    assert run.returncode == 0, run.describe()
    _export(snap, dmp)
    doc = _bt_json([dmp])
    assert doc["attributes"] == {"team": "core", "build": "42 (rc1)"}
    text = u.run_bt(["-q", str(dmp)]).stdout
    assert "Attribute team = core\nAttribute build = 42 (rc1)\n" in text, text
    run = u.run_bt(["snapshot", "-q", str(dmp), "-o", str(again), "--attr", "team=infra", "--attr", "host=a1"])
    assert run.returncode == 0, run.describe()
    shown = json.loads(u.run_bt(["show", "--json", str(again)]).stdout)
    assert shown["attributes"] == {"team": "infra", "build": "42 (rc1)", "host": "a1"}
    code = f"import btengine\nprint(sorted(btengine.open({str(dmp)!r}).attributes.items()))"
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    py = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert py.returncode == 0, py.stderr
    assert py.stdout.strip() == str([("build", "42 (rc1)"), ("team", "core")])
    # A core has none: the key is there, empty.
    assert _bt_json([core])["attributes"] == {}


def _assert_error(run, status, text):
    assert run.returncode == status, run.describe()
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert lines and text in lines[0], run.describe()
    assert not run.stdout


def test_errors(bt_bin, manifest, cores, tmp_path):
    core = _core(manifest, cores)
    out = tmp_path / "x.dmp"
    # A missing input, garbage, something that is not a file.
    _assert_error(u.run_bt(["export", "--minidump", str(tmp_path / "nope"), "-o", str(out)]), 7,
                  f"bt: error: {tmp_path / 'nope'}: No such file or directory")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(4096))
    _assert_error(u.run_bt(["export", "--minidump", str(garbage), "-o", str(out)]), 5,
                  "not a core file, btengine snapshot or minidump")
    truncated = tmp_path / "truncated.dmp"
    truncated.write_bytes(b"MDMP\x93\xa7\0\0" + b"\0" * 8)
    _assert_error(u.run_bt(["export", "--minidump", str(truncated), "-o", str(out)]), 5, "not a valid minidump")
    # An output in a directory that does not exist; a directory as the output.
    _assert_error(u.run_bt(["export", "--minidump", str(core), "-o", str(tmp_path / "no" / "x.dmp")]), 7,
                  f"output directory does not exist: {tmp_path / 'no'}")
    _assert_error(u.run_bt(["export", "--minidump", str(core), "-o", str(tmp_path)]), 2, "is a directory")
    # Never over the input, however it is spelled.
    _export(core, out)
    before = out.read_bytes()
    again = tmp_path / "sub"
    again.mkdir()
    _assert_error(u.run_bt(["export", "--minidump", str(out), "-o", str(again / ".." / "x.dmp")]), 2,
                  "refusing to overwrite the input")
    assert out.read_bytes() == before
    # Usage errors.
    for args, text in [(["export", str(core), "-o", str(out)], "--minidump"),
                       (["export", "--minidump", str(core)], "missing -o FILE"),
                       (["export", "--minidump", "-o", str(out)], "missing INPUT"),
                       (["export", "--minidump", str(core), "-o", str(out), "--max-memory-bytes", "x"],
                        "needs a positive number"),
                       (["export", "--minidump", str(core), "-o", str(out), "--bogus"], "unknown option")]:
        run = u.run_bt(args)
        assert run.returncode == 2 and text in run.stderr, run.describe()
    # Nothing but the minidump is left in the output directory (the temporary file is renamed).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.bin", "sub", "truncated.dmp", "x.dmp"]


def test_help_lists_the_command(bt_bin):
    run = u.run_bt(["export", "--help"])
    assert run.returncode == 0 and run.stdout.startswith("usage: bt export --minidump INPUT -o FILE")
    for option in ["--minidump", "-o FILE", "--exe PATH", "--max-stack-bytes N", "--max-memory-bytes N", "-q"]:
        assert option in run.stdout, option
    assert "bt export --minidump" in u.run_bt(["--help"]).stdout
