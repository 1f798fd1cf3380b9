"""Every command on every kind of input: a snapshot, a core, a minidump, and what is none of
them (an executable, text, an empty file, a directory, a missing path, a FIFO). Each front
detects the kind by content and does the sensible thing — or says exactly why it cannot, with
the documented exit status, in bounded time (a FIFO used to block every front forever)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util as u

OK, BAD_INPUT, MISSING = 0, 5, 7
FIXTURE = "deep_c.gcc-O0-dwarf5-pie-fp"
BTSERVE = u.build_dir() / "bin" / "btserve"
MINIDUMP = u.REPO_ROOT.parent / "shared" / "testdata" / "minidump" / "rust-minidump" / "linux-mini.dmp"
TIMEOUT = 20  # seconds; a hang fails the test instead of the run


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, manifest, cores, bt_bin):
    work = tmp_path_factory.mktemp("kinds")
    entry = next(e for e in manifest["binaries"] if e["name"] == FIXTURE)
    core = cores.core(entry)
    snap = work / "x.btsnap"
    run = u.run_bt(["snapshot", core, "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    (work / "text").write_text("hello\n")
    (work / "empty").write_bytes(b"")
    (work / "dir").mkdir()
    fifo = work / "fifo"
    os.mkfifo(fifo)
    kinds = {"snapshot": snap, "core": core, "executable": Path(entry["path"]),
             "text": work / "text", "empty": work / "empty", "directory": work / "dir",
             "missing": work / "missing", "fifo": fifo}
    if MINIDUMP.is_file():
        kinds["minidump"] = MINIDUMP
    return kinds, work


# What each command does with each kind: an exit status (and for refusals, a word of the message).
EXPECTED = {
    "snapshot": {"bt": OK, "show": OK, "snapshot": (BAD_INPUT, "already a snapshot"), "btserve": OK, "python": OK},
    "core": {"bt": OK, "show": OK, "snapshot": OK, "btserve": OK, "python": OK},
    "minidump": {"bt": OK, "show": OK, "snapshot": OK, "btserve": OK, "python": OK},
    "executable": {c: (BAD_INPUT, "not a") for c in ("bt", "show", "snapshot", "btserve", "python")},
    "text": {c: (BAD_INPUT, "not a") for c in ("bt", "show", "snapshot", "btserve", "python")},
    "empty": {c: (BAD_INPUT, "not a") for c in ("bt", "show", "snapshot", "btserve", "python")},
    "directory": {c: (BAD_INPUT, "not a regular file") for c in ("bt", "show", "snapshot", "btserve", "python")},
    "missing": {c: (MISSING, "") for c in ("bt", "show", "snapshot", "btserve", "python")},
    "fifo": {c: (BAD_INPUT, "not a regular file") for c in ("bt", "show", "snapshot", "btserve", "python")},
}

PY = """
import sys, btengine
try:
    with btengine.open(sys.argv[1]) as p:
        print(p.kind, len(p.threads))
except btengine.FormatError as e:
    print("FormatError:", e, file=sys.stderr); sys.exit(5)
except FileNotFoundError as e:
    print("FileNotFoundError:", e, file=sys.stderr); sys.exit(7)
except OSError as e:  # IsADirectoryError; a FIFO is an OSError too (reading it would block)
    print(type(e).__name__ + ":", e, file=sys.stderr); sys.exit(5)
"""


def run(command, path: Path, work: Path) -> subprocess.CompletedProcess:
    bt = str(u.bt_path())
    if command == "bt":
        cmd = [bt, str(path)]
    elif command == "show":
        cmd = [bt, "show", str(path)]
    elif command == "snapshot":
        cmd = [bt, "snapshot", str(path), "-o", str(work / "out.btsnap"), "-q"]
    elif command == "btserve":
        cmd = [str(BTSERVE), str(path)]
    else:
        cmd = [sys.executable, "-c", PY, str(path)]
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          env=env)


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("command", ["bt", "show", "snapshot", "btserve", "python"])
def test_every_command_on_every_input(inputs, kind, command):
    kinds, work = inputs
    if kind not in kinds:
        pytest.skip(f"no {kind} input here ({MINIDUMP} is missing)")
    want = EXPECTED[kind][command]
    code, word = (want, None) if isinstance(want, int) else want
    r = run(command, kinds[kind], work)
    assert r.returncode == code, f"{command} {kind}: exit {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    if code == OK:
        assert r.stdout or command == "btserve", r.stderr
    else:
        assert word is not None and word in r.stderr, r.stderr
        assert "Traceback" not in r.stderr or command == "python", r.stderr


def test_options_a_snapshot_cannot_honour_are_refused(inputs):
    kinds, _ = inputs
    for extra in (["--exe", "/bin/true"], ["--global", "g_config"]):
        r = u.run_bt([kinds["snapshot"]] + extra)
        assert r.returncode == 2 and "is a snapshot" in r.stderr, r.describe()

