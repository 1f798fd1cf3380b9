"""Rust programs, part 4 (issue 19, "Panics"): panics away from the main chain.

- thread-panic: a thread named "worker" panics (main waits in join). The crashed thread is the
  worker, and bt's message and location equal what the program printed on stderr for it; the
  fingerprint starts at the worker's function that panicked (crash_rs::worker_fail).
- double-panic: a value whose Drop panics is dropped while the first panic unwinds. Under
  panic=unwind the runtime then aborts with its own panic ("panic in a destructor during
  cleanup", from core's panicking.rs): bt reports that last panic, the one that ended the process,
  as the program's last "panicked at" on stderr says; the fingerprint starts at the function
  whose unwinding aborted (crash_rs::double_panic). Under panic=abort the first panic aborts, and
  that is what both say.

Each program runs here with its stderr kept (test_rust_panic.PanicCores's way); the oracle is the
last "panicked at" header on stderr and the message under it.
"""

from __future__ import annotations

import os
import subprocess

import pytest

import e2e_util as u
from test_oracle import _run_bt_json
from test_rust import RUSTC, VARIANTS, RustBuilds
from test_rust_panic import BACKTRACE_NOTE, PANIC_HEADER

pytestmark = pytest.mark.skipif(RUSTC is None, reason="rustc not found in PATH or ~/.cargo/bin")

# Two variants of each panic strategy: optimised and not, frame pointers or not.
CHOSEN = ["O0-fpoff-unwind", "O1-fpon-unwind", "O0-fpon-abort", "O1-fpoff-abort"]
assert set(CHOSEN) <= {v for v, _ in VARIANTS}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> RustBuilds:
    return RustBuilds(tmp_path_factory.mktemp("rust_panic_more") / "builds")


def _run(builds, variant, mode, workdir):
    pattern = u.core_pattern()
    if not pattern or pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r} is not a plain file name: no core with stderr here")
    exe = builds.exe(variant)
    workdir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if k != "RUST_BACKTRACE"}
    proc = subprocess.run([str(exe), mode], cwd=workdir, env=env, preexec_fn=u._unlimited_core,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    stderr = proc.stderr.decode(errors="replace")
    assert proc.returncode == -6, f"{exe} {mode}: status {proc.returncode}, not SIGABRT:\n{stderr}"
    cores = sorted(workdir.glob("core*"))
    if len(cores) != 1:
        pytest.skip(f"no core file from {exe} {mode} (core_pattern {pattern!r})")
    lines = stderr.split("\n")
    heads = [i for i, line in enumerate(lines) if PANIC_HEADER.match(line)]
    assert heads, f"no panic on stderr:\n{stderr}"
    last = PANIC_HEADER.match(lines[heads[-1]])
    # The message runs to the backtrace note, or (the runtime's own abort) to its last line.
    end = next((i for i in range(heads[-1] + 1, len(lines))
                if lines[i] in (BACKTRACE_NOTE, "thread caused non-unwinding panic. aborting.")), None)
    assert end is not None, stderr
    message = "\n".join(lines[heads[-1] + 1:end])
    return exe, cores[0], stderr, len(heads), last, message


@pytest.mark.parametrize("mode", ["thread-panic", "double-panic"])
@pytest.mark.parametrize("variant", CHOSEN)
def test_rust_panic_elsewhere(bt_bin, builds, tmp_path, variant, mode):
    exe, core, stderr, panics, last, message = _run(builds, variant, mode, tmp_path / "run")
    location = f"{last['file']}:{last['line']}:{last['col']}"
    _, doc = _run_bt_json(bt_bin, ["--json", core, "--exe", exe])
    a = doc["analysis"]
    c = a["classifications"][0]
    evidence = {e["fact"]: e["value"] for e in c["evidence"]}
    assert (c["kind"], evidence.get("panic_message"), evidence.get("panic_location")) == \
        ("rust-panic", message, location), f"stderr:\n{stderr}"
    assert c["reason"] == f"a Rust panic: '{message}' at {location}"
    crashed = next(t for t in doc["threads"] if t["tid"] == doc["crashed_tid"])
    names = [f.get("function") or "" for f in crashed["frames"]]
    if mode == "thread-panic":
        assert last["thread"] == "worker" and panics == 1, stderr
        # The worker's stack, not main's (main waits in join on another thread).
        assert "crash_rs::main" not in names, names
        assert any(f.get("function") == "crash_rs::main" for t in doc["threads"] if not t.get("crashed")
                   for f in t["frames"]), "no other thread is in main"
        first = "crash_rs::worker_fail"
    else:
        unwinding = variant.endswith("unwind")
        # Three panics under unwind (the first, the Drop's, the runtime's abort); one under abort.
        assert panics == (3 if unwinding else 1), stderr
        if unwinding:
            assert message == "panic in a destructor during cleanup", stderr
        first = "crash_rs::double_panic"
    assert a["fingerprint_frames"][0] == f"{exe.name}!{first}", a["fingerprint_frames"]
