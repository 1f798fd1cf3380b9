"""Rust programs, part 3 (issue 19, "Panics"): a panic is classified as one, with the message and
location read from the core, and the fingerprint starts at the function that panicked.

tests/fixtures/rust/crash_rs.rs is built by test_rust.py's builder (RustBuilds, one build per
variant and session) in every variant of test_rust.VARIANTS (-C opt-level=0/1, frame pointers
on/off, panic=unwind with an aborting hook / panic=abort). For the panicking modes (oob, unwrap,
panic) the program is run here, so its stderr is kept: the oracle is what the program itself
printed when it panicked ("thread 'main' (TID) panicked at FILE:LINE:COL:\\nMESSAGE", or before
rustc 1.73 "thread 'main' panicked at 'MESSAGE', FILE:LINE:COL"), and
`bt --json CORE --exe EXE` must report

- classification kind and rule "rust-panic", severity probably_not_exploitable, with the
  evidence panic_message and panic_location EQUAL to stderr's message and FILE:LINE:COL, and the
  reason "a Rust panic: '<message>' at <location>";
- the fingerprint's first frame = the crashed thread's frame at stderr's FILE:LINE (the user's
  function, e.g. crash_rs::{impl#1}::step), which must be the one the fixture calls there
  (test_rust.EXPECTED_MAIN_CHAIN, checked against rust-gdb by test_rust.py);
- the same classification and fingerprint from `bt show --json` of a snapshot taken from the
  core, with the executable gone.

The variant without DWARF (test_rust.STRIPPED: names from the symbol table, no lines) must give
the same classification, and a fingerprint starting at the panicking `...::step` method.
The null dereference (mode crash) stays a null-deref, not a rust-panic.
rustc is test_rust.py's (BT_RUSTC, else PATH, else ~/.cargo/bin). No rustc: the tests skip and
say so (scripts/setup installs a toolchain).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

import e2e_util as u
from test_oracle import _run_bt_json
from test_rust import _RUSTC_MISSING, EXPECTED_MAIN_CHAIN, RUSTC, STRIPPED, VARIANTS, RustBuilds

PANIC_MODES = ["oob", "unwrap", "panic"]
VARIANT_NAMES = [v for v, _ in VARIANTS]

pytestmark = pytest.mark.skipif(
    RUSTC is None,
    reason=f"{_RUSTC_MISSING}: the Rust panic tests need a Rust toolchain "
           f"(scripts/setup installs Debian's rustc)")

# The default panic hook's text (std's default_hook), in one of two forms:
#   rustc >= 1.73 (>= 1.84 adds the thread id):
#     thread 'main' (1234) panicked at src/main.rs:3:5:
#     MESSAGE (possibly several lines)
#   rustc < 1.73 (Debian bookworm's 1.63):
#     thread 'main' panicked at 'MESSAGE (possibly several lines)', src/main.rs:3:5
# then, in both,
#   note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
PANIC_HEADER = re.compile(r"^thread '(?P<thread>[^']*)'(?: \((?P<tid>\d+)\))? panicked at "
                          r"(?P<file>.+):(?P<line>\d+):(?P<col>\d+):$")
# The older form: the message is quoted before the location, so the header and the message are
# one text, up to the note (the message's last "', " ends it: a file name has no such text).
OLD_PANIC_START = re.compile(r"^thread '(?P<thread>[^']*)' panicked at '")
OLD_PANIC_TEXT = re.compile(r"thread '(?P<thread>[^']*)' panicked at '(?P<message>.*)', "
                            r"(?P<file>[^\n]+):(?P<line>\d+):(?P<col>\d+)", re.S)
BACKTRACE_NOTE = "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace"
# What the runtime prints when a panic cannot unwind (a panic in a Drop during unwinding): after
# the last panic's text, instead of the note.
RUNTIME_ABORTS = ("thread caused non-unwinding panic. aborting.", "thread panicked while panicking. aborting.")


def panics_on_stderr(stderr: str):
    """Every panic the default hook printed, in order: dicts with thread, file, line, col,
    message and the index of the line ending its text (the note, the runtime's abort, the next
    header or the end)."""
    lines = stderr.split("\n")
    heads = [i for i, line in enumerate(lines) if PANIC_HEADER.match(line) or OLD_PANIC_START.match(line)]
    out = []
    for k, h in enumerate(heads):
        limit = heads[k + 1] if k + 1 < len(heads) else len(lines)
        # (a backtrace follows the message instead of the note when one is printed: rustc 1.63
        # prints one for a panic while panicking)
        end = next((i for i in range(h + 1, limit)
                    if lines[i] in (BACKTRACE_NOTE, "stack backtrace:") or lines[i] in RUNTIME_ABORTS), limit)
        m = PANIC_HEADER.match(lines[h])
        if m:
            message = "\n".join(lines[h + 1:end])
        else:
            m = OLD_PANIC_TEXT.fullmatch("\n".join(lines[h:end]))
            if not m:
                pytest.fail(f"unexpected panic text on stderr (no \"', FILE:LINE:COL\" ending the "
                            f"quoted message):\n{stderr}", pytrace=False)
            message = m["message"]
        out.append({"thread": m["thread"], "file": m["file"], "line": int(m["line"]), "col": int(m["col"]),
                    "message": message, "end": end})
    return out


class PanicRun:
    def __init__(self, core: Path, stderr: str):
        self.core, self.stderr = core, stderr
        panics = panics_on_stderr(stderr)
        lines = stderr.split("\n")
        if len(panics) != 1 or panics[0]["end"] >= len(lines) or lines[panics[0]["end"]] != BACKTRACE_NOTE:
            pytest.fail(f"unexpected panic text on stderr (one header and the backtrace note "
                        f"expected):\n{stderr}", pytrace=False)
        p = panics[0]
        self.message, self.file, self.line, self.col = p["message"], p["file"], p["line"], p["col"]
        self.location = f"{self.file}:{self.line}:{self.col}"


class PanicCores:
    """Each (variant, mode) run once per session with its stderr kept: a kernel core in the run's
    directory (the machine's core_pattern must be a plain file name, as e2e_util.make_core's
    first way needs), without RUST_BACKTRACE (so stderr is the hook's message and the note)."""

    def __init__(self, builds: RustBuilds, base: Path):
        self.builds, self.base, self._runs = builds, base, {}

    def run(self, variant: str, mode: str) -> PanicRun:
        key = (variant, mode)
        if key not in self._runs:
            self._runs[key] = self._make(variant, mode)
        got = self._runs[key]
        if isinstance(got, str):
            pytest.skip(got)
        return got

    def _make(self, variant, mode):
        got = run_keeping_stderr(self.builds.exe(variant), mode, self.base / variant / mode)
        return got if isinstance(got, str) else PanicRun(*got)


def run_keeping_stderr(exe: Path, mode: str, workdir: Path, statuses=(-6,)):
    """Runs `exe mode` in `workdir` without RUST_BACKTRACE (so stderr is the hook's message and
    the note) and keeps the kernel's core there (the machine's core_pattern must be a plain file
    name, as e2e_util.make_core's first way needs): (core, stderr), or why no core was kept (a
    str: the caller skips). A status not in `statuses` (default: SIGABRT) fails the test."""
    pattern = u.core_pattern()
    if not pattern or pattern.startswith("|") or "/" in pattern:
        return (f"cannot keep the program's stderr with its core here: core_pattern "
                f"{pattern!r} is not a plain file name")
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("core*"):
        old.unlink()
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    proc = subprocess.run([str(exe), mode], cwd=workdir, env=env, preexec_fn=u._unlimited_core,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode not in statuses:
        pytest.fail(f"{exe} {mode} did not die from {' or '.join(signal.Signals(-s).name for s in statuses)} "
                    f"(status {proc.returncode}):\n{stderr}", pytrace=False)
    cores = sorted(workdir.glob("core*"))
    if len(cores) != 1 or cores[0].stat().st_size == 0:
        return f"no core file from {exe} {mode} (core_pattern {pattern!r}): {[c.name for c in cores]}"
    return cores[0], stderr


@pytest.fixture(scope="session")
def panic_cores(tmp_path_factory) -> PanicCores:
    base = tmp_path_factory.mktemp("rust_panic")
    return PanicCores(RustBuilds(base / "builds"), base / "runs")


def _crashed_frames(doc):
    threads = [t for t in doc["threads"] if t["tid"] == doc["crashed_tid"]]
    assert len(threads) == 1, f"no crashed thread {doc['crashed_tid']} in bt's output"
    return threads[0]["frames"]


def _check_panic(doc, run: PanicRun, what: str):
    a = doc["analysis"]
    c = a["classifications"][0]
    evidence = {e["fact"]: e["value"] for e in c["evidence"]}
    got = {"kind": c["kind"], "rule": c["rule"], "severity": c["severity"],
           "panic_message": evidence.get("panic_message"),
           "panic_location": evidence.get("panic_location"), "reason": c["reason"]}
    want = {"kind": "rust-panic", "rule": "rust-panic", "severity": "probably_not_exploitable",
            "panic_message": run.message, "panic_location": run.location,
            "reason": f"a Rust panic: '{run.message}' at {run.location}"}
    assert got == want, f"{what}: bt's classification differs from the program's stderr:\n" \
                        f"stderr:\n{run.stderr}"
    # Found by a stack scan, not read by name: the evidence must say so.
    assert evidence.get("panic_source", "").startswith("stack scan by layout (heuristic)"), evidence
    assert a["class"] == "rust-panic"
    return a


def _user_frame(doc, run: PanicRun, mode: str) -> str:
    """The crashed thread's frame at stderr's FILE:LINE: the function that panicked."""
    at = [f.get("function") for f in _crashed_frames(doc)
          if f.get("file") == run.file and f.get("line") == run.line]
    assert at, f"no frame of the crashed thread at {run.file}:{run.line}"
    # The fixture's function for the mode (named as rust-gdb names it: test_rust.py checks that).
    assert at[0] == EXPECTED_MAIN_CHAIN[mode][0], at
    return at[0]


@pytest.mark.parametrize("mode", PANIC_MODES)
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_rust_panic_message_location_and_fingerprint(bt_bin, panic_cores, variant, mode):
    run = panic_cores.run(variant, mode)
    exe = panic_cores.builds.exe(variant)
    _, doc = _run_bt_json(bt_bin, ["--json", run.core, "--exe", exe])
    a = _check_panic(doc, run, f"{variant} {mode}")
    first = a["fingerprint_frames"][0]
    assert first == f"{exe.name}!{_user_frame(doc, run, mode)}", a["fingerprint_frames"]


@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_rust_null_dereference_is_not_a_panic(bt_bin, panic_cores, variant):
    builds = panic_cores.builds
    core = builds.core(variant, "crash")
    _, doc = _run_bt_json(bt_bin, ["--json", core, "--exe", builds.exe(variant)])
    c = doc["analysis"]["classifications"][0]
    assert c["kind"] == "null-deref", c
    assert not [e for e in c["evidence"] if e["fact"].startswith("panic_")], c


@pytest.mark.parametrize("mode", PANIC_MODES)
@pytest.mark.parametrize("variant", VARIANT_NAMES)
def test_rust_panic_snapshot_without_binaries(bt_bin, panic_cores, tmp_path, variant, mode):
    """The snapshot carries the classification and fingerprint: `bt show` needs no executable."""
    run = panic_cores.run(variant, mode)
    exe = tmp_path / "crash_rs"
    shutil.copy2(panic_cores.builds.exe(variant), exe)
    _, doc = _run_bt_json(bt_bin, ["--json", run.core, "--exe", exe])
    snap = tmp_path / "panic.btsnap"
    made = u.run_bt(["snapshot", run.core, "--exe", exe, "-o", snap])
    assert made.returncode == 0, made.describe()
    exe.rename(tmp_path / "moved-away")
    shown_run = u.run_bt(["show", "--json", snap])  # (the snapshot's JSON: target.kind "snapshot")
    assert shown_run.returncode == 0, shown_run.describe()
    shown = json.loads(shown_run.stdout)
    a = _check_panic(shown, run, f"{variant} {mode} (snapshot)")
    assert a["fingerprint"] == doc["analysis"]["fingerprint"]
    assert a["fingerprint_frames"] == doc["analysis"]["fingerprint_frames"]
    assert a["fingerprint_frames"][0] == f"{exe.name}!{EXPECTED_MAIN_CHAIN[mode][0]}"


@pytest.mark.parametrize("mode", PANIC_MODES)
def test_rust_panic_without_dwarf(bt_bin, panic_cores, mode):
    """Stripped of its DWARF: the panic machinery is recognised by symbol-table names and the
    fingerprint starts at the trait method that panicked (<crash_rs::X as crash_rs::Step>::step)."""
    run = panic_cores.run(STRIPPED, mode)
    exe = panic_cores.builds.exe(STRIPPED)
    _, doc = _run_bt_json(bt_bin, ["--json", run.core, "--exe", exe])
    a = _check_panic(doc, run, f"{STRIPPED} {mode}")
    names = [f.get("function") or "" for f in _crashed_frames(doc)]
    steps = [n for n in names if re.fullmatch(r"<crash_rs::\w+ as crash_rs::Step>::step", n)]
    assert len(steps) == 1, names
    assert a["fingerprint_frames"][0] == f"{exe.name}!{steps[0]}", a["fingerprint_frames"]
