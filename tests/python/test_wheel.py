"""The wheel: `pip wheel .` from the repository root builds it (scikit-build-core compiles the
engine and the extension: minutes), and it installs and works in a fresh virtual environment
with no network: the package imports, opens a core, and the installed `btengine` console
script runs.

Slow: runs only with BT_TEST_WHEEL=1 (scripts/test sets it). BT_WHEEL_BUILD_ISOLATION=1 builds
in pip's isolated environment (needs the package index) instead of with the scikit-build-core
and pybind11 that scripts/setup installed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import e2e_util as u
from pytest_util import entry_named

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("BT_TEST_WHEEL") != "1",
                       reason="the wheel build takes minutes: set BT_TEST_WHEEL=1"),
]


def _run(cmd, timeout, **kw):
    t0 = time.monotonic()
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                       **kw)
    assert p.returncode == 0, (f"$ {' '.join(map(str, cmd))}\nexit {p.returncode} after "
                               f"{time.monotonic() - t0:.0f}s\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", u.REPO_ROOT, "-w", out, "--no-deps",
           "--disable-pip-version-check", "-C", f"build-dir={out / 'build'}"]
    if os.environ.get("BT_WHEEL_BUILD_ISOLATION") != "1":
        cmd.append("--no-build-isolation")
    env = dict(os.environ)
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", os.environ.get("BT_JOBS", str(os.cpu_count() or 2)))
    _run(cmd, timeout=3600, env=env)
    wheels = sorted(out.glob("btengine-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", env_dir], timeout=300)
    _run([env_dir / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", wheel], timeout=300)
    return env_dir


def _clean_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return env


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for want in ("btengine/__init__.py", "btengine/cli.py", "btengine/__main__.py",
                 "btengine/py.typed", "btengine/_btengine.pyi"):
        assert want in names, names
    assert any(n.startswith("btengine/_btengine.") and n.endswith(".so") for n in names), names
    assert any(n.endswith("entry_points.txt") for n in names)


def test_wheel_imports_and_opens_a_core(venv, cores, tmp_path):
    entry = entry_named("vars_c.gcc-O0-dwarf5-pie-fp")
    core = cores(entry)
    code = (
        "import sys, btengine\n"
        "print(btengine.__file__)\n"
        "with btengine.open(sys.argv[1], exe=sys.argv[2]) as p:\n"
        "    f = next(f for f in p.crashed_thread.frames if f.function == 'vc_middle')\n"
        "    print(p.kind, p.signal.name, f['r'].value['tags'][2].value,\n"
        "          f['h'].value['r'].deref()['name'].string().decode())\n")
    out = _run([venv / "bin" / "python", "-c", code, core, entry["path"]], timeout=120,
               cwd=tmp_path, env=_clean_env()).stdout.splitlines()
    assert out[0].startswith(str(venv)), out           # the installed package, not the tree
    assert out[1] == "core SIGSEGV 30 global"


def test_wheel_console_script(venv, cores, tmp_path):
    entry = entry_named("vars_c.gcc-O0-dwarf5-pie-fp")
    core = cores(entry)
    out = _run([venv / "bin" / "btengine", "show", core, "--exe", entry["path"], "--vars"],
               timeout=120, cwd=tmp_path, env=_clean_env()).stdout
    assert " in vc_middle (" in out and "tags = {10, 20, 30}" in out  # bt --vars text
    out = _run([venv / "bin" / "python", "-m", "btengine", "threads", core, "--exe",
                entry["path"]], timeout=120, cwd=tmp_path, env=_clean_env()).stdout
    assert "crashed vc_inner" in out
