"""Rust programs, part 1 (issue 19): frames named as rust-gdb names them.

tests/fixtures/rust/crash_rs.rs is built at test time by the machine's rustc in every variant
below, always -g, into the session's temporary directory (once per session). For each variant
and crash mode, `bt --json` on the core must report what rust-gdb (gdb with the toolchain's
Python printers) reports with `thread apply all bt` on the same core:

- everything the C/C++ oracle checks (test_oracle.compare_with_gdb: threads by tid, the crashing
  thread, the signal, and per frame the normalised function, file basename, line and kind);
- and, since that normalisation drops generic arguments, every frame in Rust source (a `.rs`
  file in gdb's output) must carry exactly gdb's function name: `{impl#N}`, `{closure#N}`,
  `{closure_env#N}` and the generic arguments as rustc wrote them into DW_AT_name.

A remaining difference is accepted only if KNOWN_DIFFERENCES (a frame's name) or
KNOWN_STACK_ENDS (where a thread's stack ends) explains it, and the test prints which it relied
on. The paused mode is compared live the same way (one process per variant).
A variant stripped of its DWARF checks the names bt makes from Rust symbols (both manglings).

Toolchain: rustc and rust-gdb are the environment's BT_RUSTC and BT_RUST_GDB when set (paths;
they win over PATH, e.g. to test another toolchain than the machine's, such as Debian's rustc
1.63 extracted somewhere), else PATH, else ~/.cargo/bin (e2e_util.rust_tool; all the Rust tests,
tests/python's included, use it). A variable naming no executable is an error (at collection),
never a fallback.
rustc or rust-gdb missing: the tests skip and say which (scripts/setup installs a toolchain).
"""

from __future__ import annotations

import copy
import functools
import re
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


RUSTC, _RUSTC_MISSING = u.rust_tool_or_none("rustc")
RUST_GDB, _RUST_GDB_MISSING = u.rust_tool_or_none("rust-gdb")


def rust_gdb_bt_command(target_args):
    """rust-gdb's `thread apply all bt` with the oracle's settings (e2e_util.gdb_base_command).
    Frame arguments are not printed: the toolchain's printers raise Python exceptions in the
    middle of a frame line on optimized-out values ("slice=Python Exception <class
    'gdb.error'>: value has been optimized out"), and values are not what this file compares."""
    return [RUST_GDB] + u.gdb_base_command()[1:] + [
        "-ex", "set print frame-arguments none",
        "-ex", "thread apply all bt", "-x", str(u.GDB_FRAME_INFO)] + [str(a) for a in target_args]


def _skip_reason():
    missing = [why for why in (_RUSTC_MISSING, _RUST_GDB_MISSING) if why]
    if missing:
        return (f"{'; '.join(missing)}: the Rust oracle needs a Rust toolchain with rust-gdb "
                f"(scripts/setup installs Debian's rustc and rust-gdb)")
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


# A thread's stack end where gdb stops and bt goes on: cause -> why. The predicate is
# _gdb_no_cfi_stop below (it needs the executable, not just the two frames).
KNOWN_STACK_ENDS = {
    "gdb-no-cfi-stop": (
        "gdb ends the stack with a `??` frame at pc 0x0 above a function that has no CFI in the "
        "executable (Debian's rustc 1.63 builds libpanic_abort with its FDEs in .debug_frame only, "
        "which `objcopy --strip-debug` removes: panic_abort::__rust_start_panic::abort); gdb's "
        "prologue analyser finds no return address and stops, bt goes on by scanning the stack "
        "(its next frames are marked `scan`), so its frames past that one are not compared here "
        "(the tests below check the names they must contain)"
    ),
}


@functools.lru_cache(maxsize=16)
def _fde_ranges(path: str):
    """The [lo, hi) ranges of every FDE in the file's .eh_frame and .debug_frame (readelf)."""
    run = subprocess.run(["readelf", "--debug-dump=frames", path], capture_output=True, text=True,
                         timeout=120)
    return [(int(lo, 16), int(hi, 16))
            for lo, hi in re.findall(r"\bFDE\b.*\bpc=([0-9a-f]+)\.\.([0-9a-f]+)", run.stdout)]


def _gdb_no_cfi_stop(g_frames, b_frames, doc):
    """The index of gdb's last real frame when the thread ends as KNOWN_STACK_ENDS'
    gdb-no-cfi-stop says (else None): gdb's last frame is `??` at pc 0 right above a frame X of
    a module whose file has no FDE covering X's call site (pc - 1), bt has X at the same place
    with the same name, and bt's frame above X comes from a stack scan."""
    if len(g_frames) < 2 or len(b_frames) <= len(g_frames) - 1:
        return None
    last, x = g_frames[-1], g_frames[-2]
    k = len(g_frames) - 2
    bx, above = b_frames[k], b_frames[k + 1]
    if not (last.unknown and last.pc == 0 and x.pc and x.function and bx.get("module")):
        return None
    if bx.get("pc") is None or int(bx["pc"], 16) != x.pc or above.get("how") != "scan":
        return None
    if not re.fullmatch(re.escape(bx.get("function") or "") + r"(::h[0-9a-f]{16})?", x.function):
        return None
    module = next((m for m in doc.get("modules") or [] if m["path"] == bx["module"]), None)
    if module is None:
        return None
    call_site = x.pc - 1 - int(module["load_bias"], 16)
    if any(lo <= call_site < hi for lo, hi in _fde_ranges(bx["module"])):
        return None
    return k


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


def _cut_known_stack_ends(gdb_bt, doc):
    """(gdb_bt, doc, causes): copies with each thread that ends as a KNOWN_STACK_ENDS cause says
    cut after gdb's last real frame on both sides."""
    causes = []
    bt_threads = {t["tid"]: t for t in doc["threads"]}
    cuts = {}
    for g_thread in gdb_bt.threads:
        b_thread = bt_threads.get(g_thread.tid)
        k = _gdb_no_cfi_stop(g_thread.frames, b_thread["frames"], doc) if b_thread else None
        if k is not None:
            cuts[g_thread.tid] = k
            causes.append("gdb-no-cfi-stop")
    if not cuts:
        return gdb_bt, doc, causes
    gdb_bt, doc = copy.deepcopy(gdb_bt), copy.deepcopy(doc)
    for t in gdb_bt.threads:
        if t.tid in cuts:
            t.frames = t.frames[:cuts[t.tid] + 1]
    for t in doc["threads"]:
        if t["tid"] in cuts:
            t["frames"] = t["frames"][:cuts[t["tid"]] + 1]
    return gdb_bt, doc, causes


def _check(request, entry, mode, doc, gdb_bt, gdb_run, bt_run, pid=None):
    gdb_bt, doc, stack_ends = _cut_known_stack_ends(gdb_bt, doc)
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
    if stack_ends:
        reports += "\n" + "\n".join(
            f"  known difference relied on: {c} ({stack_ends.count(c)} threads): {KNOWN_STACK_ENDS[c]}"
            for c in sorted(set(stack_ends)))
    _finish(request, entry, mode, text, quirks, reports)
    return causes + stack_ends


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
        # std::sync::mutex::Mutex before Rust 1.84 (Debian bookworm's 1.63), then std::sync::poison::mutex.
        "mutex-waiter": (r"^crash_rs::start_threads::\{closure#0\}$", r"^std::sync::(?:poison::)?mutex::Mutex<.*>::lock<"),
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
