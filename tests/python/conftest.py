"""Tests of the Python package (btengine) against the fixture programs.

The package is taken from the build tree: <build>/python (BT_BUILD_DIR, default <repo>/build;
`cmake --build build --target _btengine` builds it), so these tests need no `pip install`.
tests/e2e is put on sys.path too, for its helpers (e2e_util: make_core, paused, run_bt, ...).

Environment (as for tests/e2e): BT_BUILD_DIR, BT_BIN, BT_FIXTURES_DIR, BT_E2E_FORCE_GCORE,
BT_RUSTC (the rustc that builds the Rust fixture, instead of PATH's or ~/.cargo/bin's);
BT_TEST_WHEEL=1 also runs the (slow) wheel build test, test_wheel.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "e2e"))
sys.path.insert(0, str(HERE.parent / "oracle"))

import e2e_util as u  # noqa: E402

# No test fetches from the machine's debuginfod servers (a developer's DEBUGINFOD_URLS): results
# would depend on the network. test_debuginfod.py runs its own server and names it itself.
os.environ.pop("DEBUGINFOD_URLS", None)

PYTHON_DIR = u.build_dir() / "python"
sys.path.insert(0, str(PYTHON_DIR))
sys.path.insert(0, str(HERE))

from pytest_util import entry_named, manifest_entries  # noqa: E402,F401


@pytest.fixture(scope="session", autouse=True)
def _btengine_built():
    """Every test needs the extension: fail (never skip) with a clear message without it."""
    try:
        import btengine  # noqa: F401
    except ImportError as e:
        pytest.fail(f"cannot import btengine from {PYTHON_DIR} ({e}): build it with "
                    f"`cmake --build build --target _btengine` or set BT_BUILD_DIR", pytrace=False)


@pytest.fixture(scope="session")
def manifest():
    path = u.manifest_path()
    if not path.is_file():
        pytest.fail(f"fixture manifest {path} is missing: build the fixtures "
                    f"(cmake --build build --target bt_fixtures)", pytrace=False)
    return u.load_manifest()


class Cores:
    """One core per fixture binary per session (made by e2e_util.make_core)."""

    def __init__(self, base: Path):
        self.base = base
        self._cores: dict = {}

    def __call__(self, entry) -> Path:
        name = entry["name"]
        return u.cached_core(self._cores, name, entry["path"], self.base / name)


@pytest.fixture(scope="session")
def cores(tmp_path_factory) -> Cores:
    return Cores(tmp_path_factory.mktemp("cores"))


@pytest.fixture
def paused_process():
    """Factory: paused_process(exe) starts `exe pause`, waits for READY (and for every thread
    to block) and returns a PausedProcess; every process is killed at teardown."""
    started = []

    def start(exe):
        p = u.start_paused(str(exe))
        started.append(p)
        u.wait_all_sleeping(p.pid)
        return p

    yield start
    for p in started:
        u.stop_paused(p)
