"""Rust programs, part 1 (issue 19): frames named as rust-gdb names them.

tests/fixtures/rust/crash_rs.rs is built at test time by the machine's rustc (PATH, else
~/.cargo/bin) in every variant below, always -g, into the session's temporary directory (once
per session). For each variant and crash mode, `bt --json` on the core must report what rust-gdb
(gdb with the toolchain's Python printers) reports with `thread apply all bt` on the same core:

- everything the C/C++ oracle checks (test_oracle.compare_with_gdb: threads by tid, the crashing
  thread, the signal, and per frame the normalised function, file basename, line and kind);
- and, since that normalisation drops generic arguments, every frame in Rust source (a `.rs`
  file in gdb's output) must carry exactly gdb's function name: `{impl#N}`, `{closure#N}`,
  `{closure_env#N}` and the generic arguments as rustc wrote them into DW_AT_name.

A remaining difference is accepted only if KNOWN_DIFFERENCES explains it, and the test prints
which it relied on. The paused mode is compared live the same way (one process per variant).
A variant stripped of its DWARF checks the names bt makes from Rust symbols (both manglings).

rustc or rust-gdb missing: the tests skip and say which (scripts/setup installs a toolchain).
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import e2e_util as u
import gdbparse
from test_oracle import _finish, _run_bt_json, compare_with_gdb

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "rust" / "crash_rs.rs"
CRASH_MODES = ["crash", "oob", "unwrap", "panic", "recursion"]
# (name, rustc flags): -C opt-level=0/1 x frame pointers forced or not x panic=unwind/abort.
VARIANTS = [
    (f"O{opt}-fp{'on' if fp else 'off'}-{panic}",
     ["-g", "-C", f"opt-level={opt}", "-C", f"force-frame-pointers={'yes' if fp else 'no'}",
      "-C", f"panic={panic}"])
    for opt in (0, 1) for fp in (True, False) for panic in ("unwind", "abort")
]
# Built like O1-fpoff-abort, then `objcopy --strip-debug`: every Rust frame is named from the
# symbol table (legacy-mangled crate functions, v0-mangled standard library).
STRIPPED = "O1-stripped"


def _tool(name):
    """`name` from PATH, else from ~/.cargo/bin (rustup's default, often not in PATH)."""
    found = shutil.which(name)
    if found:
        return found
    cargo = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / name
    return str(cargo) if cargo.is_file() and os.access(cargo, os.X_OK) else None


RUSTC = _tool("rustc")
RUST_GDB = _tool("rust-gdb")


def rust_gdb_bt_command(target_args):
    """rust-gdb's `thread apply all bt` with the oracle's settings (e2e_util.gdb_base_command).
    Frame arguments are not printed: the toolchain's printers raise Python exceptions in the
    middle of a frame line on optimized-out values ("slice=Python Exception <class
    'gdb.error'>: value has been optimized out"), and values are not what this file compares."""
    return [RUST_GDB] + u.gdb_base_command()[1:] + [
        "-ex", "set print frame-arguments none",
        "-ex", "thread apply all bt", "-x", str(u.GDB_FRAME_INFO)] + [str(a) for a in target_args]


def _skip_reason():
    missing = [n for n, p in (("rustc", RUSTC), ("rust-gdb", RUST_GDB)) if p is None]
    if missing:
        return (f"{' and '.join(missing)} not found in PATH or ~/.cargo/bin: the Rust oracle needs "
                f"a Rust toolchain (scripts/setup installs Debian's rustc)")
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


# ---------------------------------------------------------------------------
# Known, explained differences from rust-gdb: cause -> (why, predicate(gdb frame, bt frame)).
# A predicate gets the parsed gdb frame (gdbparse.GdbFrame) and bt's JSON frame and says whether
# this cause explains their different function names.

def _gdb_verbose_demangling(g, b):
    name = g.function or ""
    # Legacy: gdb's name is bt's plus the hash component.
    if re.fullmatch(re.escape(b.get("function") or "") + r"::h[0-9a-f]{16}", name):
        return True
    # v0: gdb's name is bt's plus crate disambiguators (std[e28293b1aa0f68bd]).
    return re.sub(r"\[[0-9a-f]+\]", "", name) == b.get("function") and name != b.get("function")


KNOWN_DIFFERENCES = {
    "gdb-verbose-rust-demangling": (
        "for a Rust function without DWARF (named from the symbol table), gdb 13 demangles "
        "verbosely: legacy symbols keep their hash (crash_rs::main::heeab13093d41f330) and v0 "
        "symbols their crate disambiguators (std[e28293b1aa0f68bd]::process::abort). bt drops "
        "both, as issue 19 asks (LLVM's v0 demangler has no verbose mode anyway)",
        _gdb_verbose_demangling,
    ),
}


def rust_name_problems(gdb_bt, doc):
    """(problems, causes relied on, {(tid, gdb frame index): bt's name} for the frames a cause
    explains): every frame of gdb's in a `.rs` file (or, without line information, any frame
    named like a path) must have exactly bt's function name at the same position of the same
    thread."""
    problems, causes, explained = [], [], {}
    bt_threads = {t["tid"]: t for t in doc["threads"]}
    for g_thread in gdb_bt.threads:
        b_thread = bt_threads.get(g_thread.tid)
        if b_thread is None:
            continue  # reported by compare_with_gdb
        for g, b in zip(g_thread.frames, b_thread["frames"]):
            rusty = (g.file or "").endswith(".rs") or "::" in (g.function or "")
            if not rusty or g.function == b.get("function"):
                continue
            cause = next((c for c, (_, pred) in KNOWN_DIFFERENCES.items() if pred(g, b)), None)
            if cause:
                causes.append(cause)
                explained[(g_thread.tid, g.index)] = b.get("function")
            else:
                problems.append(f"thread {g_thread.tid} #{g.index}: gdb {g.function!r}, "
                                f"bt {b.get('function')!r}")
    return problems, causes, explained


# ---------------------------------------------------------------------------
# Builds, cores and rust-gdb runs, once per session.

class RustBuilds:
    def __init__(self, base: Path):
        self.base = base
        self._exes, self._cores, self._gdb = {}, {}, {}

    def exe(self, variant: str) -> Path:
        if variant not in self._exes:
            flags = dict(VARIANTS).get(variant) or dict(VARIANTS)["O1-fpoff-abort"]
            out = self.base / variant / "crash_rs"
            out.parent.mkdir(parents=True, exist_ok=True)
            run = subprocess.run([RUSTC, *flags, "-o", str(out), str(SOURCE)],
                                 capture_output=True, text=True, timeout=300)
            if run.returncode != 0:
                pytest.fail(f"rustc failed for {variant}:\n{run.stderr}", pytrace=False)
            if variant == STRIPPED:
                subprocess.run(["objcopy", "--strip-debug", str(out)], check=True)
            self._exes[variant] = out
        return self._exes[variant]

    def core(self, variant: str, mode: str) -> Path:
        return u.cached_core(self._cores, (variant, mode), str(self.exe(variant)),
                             self.base / variant / mode, mode=mode)

    def gdb(self, variant: str, mode: str):
        key = (variant, mode)
        if key not in self._gdb:
            core = self.core(variant, mode)
            run = u._run(rust_gdb_bt_command([self.exe(variant), core]), u.GDB_TIMEOUT)
            self._gdb[key] = (run, gdbparse.parse(run.stdout))
        return self._gdb[key]


@pytest.fixture(scope="session")
def rust_builds(tmp_path_factory) -> RustBuilds:
    return RustBuilds(tmp_path_factory.mktemp("rust"))


def _entry(builds, variant, mode):
    return {"name": f"crash_rs.{variant}.{mode}", "path": str(builds.exe(variant))}


def _check(request, entry, mode, doc, gdb_bt, gdb_run, bt_run, pid=None):
    problems, causes, explained = rust_name_problems(gdb_bt, doc)
    # A frame whose name differs by a known cause only takes bt's name for the comparison of
    # everything else (files, lines, kinds, threads, signal).
    gdb_bt = copy.deepcopy(gdb_bt)
    for t in gdb_bt.threads:
        for f in t.frames:
            if (t.tid, f.index) in explained:
                f.function = explained[(t.tid, f.index)]
    text, quirks, reports = compare_with_gdb(entry, mode, doc, gdb_bt, gdb_run, bt_run, pid=pid)
    if problems:
        text = (text or f"{entry['name']} ({mode}): bt and gdb disagree") + (
            "\n\nRust function names differ from rust-gdb's:\n  " + "\n  ".join(problems)
            + f"\n\n$ {' '.join(bt_run.cmd)}\n$ {' '.join(gdb_run.cmd)}")
    if causes:
        reports += "\n" + "\n".join(
            f"  known difference relied on: {c} ({causes.count(c)} frames): {KNOWN_DIFFERENCES[c][0]}"
            for c in sorted(set(causes)))
    _finish(request, entry, mode, text, quirks, reports)
    return causes


# What the fixture's main thread must show (so the names under test are really there): the
# functions marked #[inline(never)] in crash_rs.rs, named as gdb names them.
EXPECTED_MAIN_CHAIN = {
    "crash": ["crash_rs::null_write", "crash_rs::{impl#0}::step", "crash_rs::drive<crash_rs::Nullify>"],
    "oob": ["crash_rs::{impl#1}::step", "crash_rs::drive<crash_rs::Indexer>"],
    "unwrap": ["crash_rs::{impl#2}::step", "crash_rs::drive<crash_rs::Unwrapper>"],
    "panic": ["crash_rs::{impl#3}::step", "crash_rs::drive<crash_rs::Panicker>"],
    "recursion": ["crash_rs::Recurser<(u16, &str)>::descend<(u16, &str)>",
                  "crash_rs::drive<crash_rs::Recurser<(u16, &str)>>"],
}
COMMON_MAIN_CHAIN = ["crash_rs::Mode::dispatch", "crash_rs::Engine::run", "crash_rs::main"]


def _fixture_shape_problems(doc, mode):
    """The fixture did what crash_rs.rs says: the helper threads are there and blocked where
    they should be, and the main thread went through the expected chain. Threads are told apart
    by their frames (a core has no thread names)."""
    problems = []
    frames = {t["tid"]: [f.get("function") or "" for f in t["frames"]] for t in doc["threads"]}

    def thread_with(pattern):
        return [tid for tid, names in frames.items() if any(re.search(pattern, n) for n in names)]

    helpers = {
        "mutex-waiter": (r"^crash_rs::start_threads::\{closure#0\}$", r"^std::sync::poison::mutex::Mutex<.*>::lock<"),
        "chan-waiter": (r"^crash_rs::start_threads::\{closure#1\}$", r"^std::sync::mpsc::Receiver<u64>::recv<u64>$"),
        "deep-waiter": (r"^crash_rs::wait_deep$", r"^std::sync::mpsc::Receiver<u64>::recv<u64>$"),
    }
    for name, (entry, blocked) in helpers.items():
        tids = thread_with(entry)
        if len(tids) != 1:
            problems.append(f"{name}: {len(tids)} threads with a frame matching {entry}")
        elif not any(re.search(blocked, n) for n in frames[tids[0]]):
            problems.append(f"{name} (thread {tids[0]}) is not blocked in {blocked}: {frames[tids[0]]}")
        elif name == "deep-waiter":
            depth = frames[tids[0]].count("crash_rs::wait_deep")
            if depth != 33:
                problems.append(f"deep-waiter has {depth} crash_rs::wait_deep frames, expected 33")
    main_tids = thread_with(r"^crash_rs::Engine::run$")
    if len(main_tids) != 1:
        return problems + [f"{len(main_tids)} threads with crash_rs::Engine::run"]
    names = frames[main_tids[0]]
    for want in EXPECTED_MAIN_CHAIN[mode] + COMMON_MAIN_CHAIN:
        if want not in names:
            problems.append(f"main thread: no frame {want!r} in {names}")
    # The closure main calls the engine through: {closure#1} under panic=unwind (the panic
    # hook is {closure#0}), {closure#0} under panic=abort.
    if not any(re.fullmatch(r"crash_rs::main::\{closure#[01]\}", n or "") for n in names):
        problems.append(f"main thread: no frame crash_rs::main::{{closure#N}} in {names}")
    if mode == "recursion":
        depth = names.count(EXPECTED_MAIN_CHAIN["recursion"][0])
        if depth != 65:
            problems.append(f"recursion: {depth} descend frames, expected 65")
    return problems


@pytest.mark.parametrize("mode", CRASH_MODES)
@pytest.mark.parametrize("variant", [v for v, _ in VARIANTS])
def test_rust_core_frames_match_rust_gdb(request, bt_bin, rust_builds, variant, mode):
    core = rust_builds.core(variant, mode)
    gdb_run, gdb_bt = rust_builds.gdb(variant, mode)
    if not gdb_bt.threads:
        pytest.fail(f"rust-gdb printed no threads for the core:\n{gdb_run.describe()}", pytrace=False)
    entry = _entry(rust_builds, variant, mode)
    bt_run, doc = _run_bt_json(bt_bin, ["--json", core, "--exe", entry["path"]])
    shape = _fixture_shape_problems(doc, mode)
    assert not shape, "\n".join(shape)
    causes = _check(request, entry, "core", doc, gdb_bt, gdb_run, bt_run)
    # With DWARF every Rust frame is named from it: no symbol-table name is expected here.
    assert not causes, f"unexpected symbol-table names with DWARF: {sorted(set(causes))}"


@pytest.mark.parametrize("variant", [v for v, _ in VARIANTS])
def test_rust_live_frames_match_rust_gdb(request, bt_bin, rust_builds, paused_process, variant):
    entry = _entry(rust_builds, variant, "pause")
    p = paused_process(entry["path"])
    bt_run, doc = _run_bt_json(bt_bin, ["--json", p.pid])
    u.wait_all_sleeping(p.pid)
    gdb_run = u._run(rust_gdb_bt_command(["-p", p.pid]), u.GDB_TIMEOUT)
    gdb_bt = gdbparse.parse(gdb_run.stdout)
    if not gdb_bt.threads:
        pytest.fail(f"rust-gdb printed no threads:\n{gdb_run.describe()}", pytrace=False)
    causes = _check(request, entry, "live", doc, gdb_bt, gdb_run, bt_run, pid=p.pid)
    assert not causes, f"unexpected symbol-table names with DWARF: {sorted(set(causes))}"


@pytest.mark.parametrize("mode", ["crash", "panic"])
def test_rust_symbol_table_names(request, bt_bin, rust_builds, mode):
    """Without DWARF: demangled Rust symbols, and only the pinned verbose-demangling difference."""
    core = rust_builds.core(STRIPPED, mode)
    gdb_run, gdb_bt = rust_builds.gdb(STRIPPED, mode)
    entry = _entry(rust_builds, STRIPPED, mode)
    bt_run, doc = _run_bt_json(bt_bin, ["--json", core, "--exe", entry["path"]])
    causes = _check(request, entry, "core", doc, gdb_bt, gdb_run, bt_run)
    # Both manglings were met (legacy: the crate's functions; v0: the standard library's), and
    # no raw symbol is left in a Rust frame.
    names = [f.get("function") or "" for t in doc["threads"] for f in t["frames"]]
    assert "crash_rs::main" in names and "crash_rs::Engine::run" in names, names
    assert any(n.startswith("<std::") or n.startswith("std::") for n in names), names
    assert not [n for n in names if n.startswith("_R") or re.search(r"17h[0-9a-f]{16}E", n)], names
    assert "gdb-verbose-rust-demangling" in causes
