"""Rust programs, part 4 (issue 19, "Panics"): panics away from the main chain.

- thread-panic: a thread named "worker" panics (main waits in join). The crashed thread is the
  worker, and bt's message and location equal what the program printed on stderr for it; the
  fingerprint starts at the worker's function that panicked (crash_rs::worker_fail).
- double-panic: a value whose Drop panics is dropped while the first panic unwinds. Under
  panic=unwind the runtime then aborts with its own panic ("panic in a destructor during
  cleanup", from core's panicking.rs): bt reports that last panic, the one that ended the process,
  as the program's last "panicked at" on stderr says; the fingerprint starts at the function
  whose unwinding aborted (crash_rs::double_panic). Under panic=abort the first panic aborts, and
  that is what both say. Older runtimes (Debian's rustc 1.63) abort inside the Drop's panic
  ("thread panicked while panicking"): bt reports that panic's location (its message is not
  always found there, and then none is given), and the fingerprint starts at the Drop impl.

Each program runs here with its stderr kept (test_rust_panic.run_keeping_stderr); the oracle is
the last "panicked at" header on stderr and the message under it.
"""

from __future__ import annotations

import re

import pytest

from test_oracle import _run_bt_json
from test_rust import RUSTC, VARIANTS, RustBuilds
from test_rust_panic import panics_on_stderr, run_keeping_stderr

pytestmark = pytest.mark.skipif(RUSTC is None, reason="rustc not found in PATH or ~/.cargo/bin")

# Two variants of each panic strategy: optimised and not, frame pointers or not.
CHOSEN = ["O0-fpoff-unwind", "O1-fpon-unwind", "O0-fpon-abort", "O1-fpoff-abort"]
assert set(CHOSEN) <= {v for v, _ in VARIANTS}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> RustBuilds:
    return RustBuilds(tmp_path_factory.mktemp("rust_panic_more") / "builds")


def _run(builds, variant, mode, workdir):
    # SIGABRT; Debian's rustc 1.63 may end a panic while panicking with a trap (SIGILL).
    got = run_keeping_stderr(builds.exe(variant), mode, workdir, statuses=(-6, -4))
    if isinstance(got, str):
        pytest.skip(got)
    core, stderr = got
    panics = panics_on_stderr(stderr)
    assert panics, f"no panic on stderr:\n{stderr}"
    return builds.exe(variant), core, stderr, panics


@pytest.mark.parametrize("mode", ["thread-panic", "double-panic"])
@pytest.mark.parametrize("variant", CHOSEN)
def test_rust_panic_elsewhere(bt_bin, builds, tmp_path, variant, mode):
    exe, core, stderr, panics = _run(builds, variant, mode, tmp_path / "run")
    last = panics[-1]
    message, location = last["message"], f"{last['file']}:{last['line']}:{last['col']}"
    _, doc = _run_bt_json(bt_bin, ["--json", core, "--exe", exe])
    a = doc["analysis"]
    c = a["classifications"][0]
    evidence = {e["fact"]: e["value"] for e in c["evidence"]}
    # rustc < 1.71 ends a panic while panicking inside the second panic's hook machinery, where
    # bt finds the second panic's location but (a known limit) not always its message: then the
    # reason has the location alone, never another message.
    old_double = mode == "double-panic" and len(panics) == 2 and "panic_message" not in evidence
    if old_double:
        message = None
    assert (c["kind"], evidence.get("panic_message"), evidence.get("panic_location")) == \
        ("rust-panic", message, location), f"stderr:\n{stderr}"
    assert c["reason"] == (f"a Rust panic at {location}" if old_double
                           else f"a Rust panic: '{message}' at {location}")
    crashed = next(t for t in doc["threads"] if t["tid"] == doc["crashed_tid"])
    names = [f.get("function") or "" for f in crashed["frames"]]
    if mode == "thread-panic":
        assert last["thread"] == "worker" and len(panics) == 1, stderr
        # The worker's stack, not main's (main waits in join on another thread).
        assert "crash_rs::main" not in names, names
        assert any(f.get("function") == "crash_rs::main" for t in doc["threads"] if not t.get("crashed")
                   for f in t["frames"]), "no other thread is in main"
        first = re.escape("crash_rs::worker_fail")
    else:
        unwinding = variant.endswith("unwind")
        # Under unwind: the first, the Drop's, and (rustc >= 1.71) the runtime's own panic that
        # aborts; under abort, the first only.
        assert len(panics) in ((2, 3) if unwinding else (1,)), stderr
        if len(panics) == 3:
            assert message == "panic in a destructor during cleanup", stderr
        # The function whose unwinding the runtime aborted (rustc >= 1.71: the Drop unwound into
        # double_panic's cleanup), or, older, the Drop that panicked (the abort is in its panic).
        first = "crash_rs::double_panic" if len(panics) != 2 else r"crash_rs::\{impl#\d+\}::drop"
    assert re.fullmatch(f"{re.escape(exe.name)}!{first}", a["fingerprint_frames"][0]), a["fingerprint_frames"]
