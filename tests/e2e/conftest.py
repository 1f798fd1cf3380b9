"""End-to-end test configuration.

Environment:
  BT_BUILD_DIR      build tree (default: <repo>/build); bt is <build>/bin/bt
  BT_BIN            the bt binary (default: <build>/bin/bt)
  BT_FIXTURES_DIR   fixture tree (default: <build>/tests/fixtures), holding
                    manifest.json, bin/ and debug/
  BT_E2E_SELECT     comma-separated substrings; only fixture binaries whose
                    name contains one of them are used (default: all)
  BT_E2E_FORCE_GCORE=1  make cores with gdb's gcore instead of the kernel

Tests that need bt or the fixtures FAIL (never skip) when they are missing:
the fixtures below then return a `Missing` marker and pytest_runtest_call
fails the test with its message.  The gdb parser / comparison unit tests need
neither.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The oracle libraries (gdb's output parsed, comparisons, the snapshot reader) live in tests/oracle.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "oracle"))

import e2e_util as u  # noqa: E402
import gdbparse  # noqa: E402

# No test fetches from the machine's debuginfod servers (a developer's DEBUGINFOD_URLS): results
# would depend on the network. test_debuginfod.py runs its own server and names it itself.
os.environ.pop("DEBUGINFOD_URLS", None)


def _selected(entries):
    sel = os.environ.get("BT_E2E_SELECT")
    if not sel:
        return entries
    keys = [s for s in sel.split(",") if s]
    return [e for e in entries if any(k in e["name"] for k in keys)]


def manifest_entries_or_none():
    try:
        return _selected(u.load_manifest()["binaries"])
    except (OSError, ValueError, KeyError):
        return None


def pytest_generate_tests(metafunc):
    if "fixture_binary" in metafunc.fixturenames:
        entries = manifest_entries_or_none()
        if entries is None:
            # Keep one test so that the missing manifest is reported as a failure.
            metafunc.parametrize("fixture_binary", [None], ids=["manifest-missing"])
        else:
            metafunc.parametrize("fixture_binary", entries, ids=[e["name"] for e in entries])


class Missing(str):
    """Returned by a fixture whose prerequisite is missing; the message."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, Missing):
            pytest.fail(str(value), pytrace=False)


def _manifest_missing():
    path = u.manifest_path()
    if path.is_file():
        return None
    return Missing(
        f"fixture manifest {path} is missing: build the fixtures "
        f"(cmake --build <build> --target bt_fixtures) or point BT_FIXTURES_DIR / "
        f"BT_BUILD_DIR at a build tree that has them"
    )


@pytest.fixture(scope="session")
def manifest():
    return _manifest_missing() or u.load_manifest()


@pytest.fixture
def fixture_binary_entry(fixture_binary):
    if fixture_binary is None:
        return _manifest_missing() or Missing("no fixture binaries selected (BT_E2E_SELECT?)")
    if not Path(fixture_binary["path"]).is_file():
        return Missing(f"fixture binary {fixture_binary['path']} is missing: rebuild the fixtures")
    return fixture_binary


@pytest.fixture(scope="session")
def bt_bin():
    path = u.bt_path()
    if not path.is_file() or not os.access(path, os.X_OK):
        return Missing(
            f"the bt binary {path} does not exist (engine not built?): build it "
            f"(cmake --build <build> --target bt) or set BT_BUILD_DIR / BT_BIN"
        )
    return path


class CoreCache:
    """One core (and one gdb backtrace of it) per fixture binary per session."""

    def __init__(self, base: Path):
        self.base = base
        self._cores = {}
        self._gdb = {}

    def core(self, entry) -> Path:
        name = entry["name"]
        return u.cached_core(self._cores, name, entry["path"], self.base / name)

    def gdb(self, entry):
        """(ToolRun, GdbBacktrace) for the entry's core."""
        name = entry["name"]
        if name not in self._gdb:
            core = self.core(entry)
            run = u.gdb_core(entry["path"], str(core), entry.get("debug_dir"))
            self._gdb[name] = (run, gdbparse.parse(run.stdout))
        return self._gdb[name]


@pytest.fixture(scope="session")
def cores(tmp_path_factory) -> CoreCache:
    return CoreCache(tmp_path_factory.mktemp("cores"))


@pytest.fixture
def paused_process():
    """Factory: paused_process(exe) starts `exe pause`, waits for READY and
    returns a PausedProcess (pid, proc); every process is killed at teardown."""
    started = []

    def start(exe):
        p = u.start_paused(str(exe))
        started.append(p)
        return p

    yield start
    for p in started:
        u.stop_paused(p)


def pytest_terminal_summary(terminalreporter):
    if not u.QUIRK_LOG:
        return
    terminalreporter.section("gdb quirks relied on (gdb provably not showing the machine state)")
    counts = {}
    for test, quirk in u.QUIRK_LOG:
        counts.setdefault(quirk, set()).add(test)
    for quirk, tests in sorted(counts.items()):
        terminalreporter.write_line(f"{quirk}: {len(tests)} test(s)")
