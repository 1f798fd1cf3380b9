"""The package is typed: `mypy --strict` passes on python/btengine (with the extension's stubs,
_btengine.pyi), and mypy's stubtest finds the stubs equal to the built extension."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import e2e_util as u
from pytest_util import subprocess_env

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def mypy():
    try:
        import mypy  # noqa: F401
    except ImportError:
        pytest.fail("mypy is not installed: pip install -r scripts/requirements-dev.txt",
                    pytrace=False)


def _run(args):
    return subprocess.run([sys.executable, "-m"] + args, capture_output=True, text=True,
                          timeout=600, env=subprocess_env(), cwd=u.REPO_ROOT)


def test_mypy_strict(mypy, tmp_path):
    p = _run(["mypy", "--strict", "--no-incremental", "--cache-dir", str(tmp_path),
              "python/btengine"])
    assert p.returncode == 0, p.stdout + p.stderr


def test_stubs_match_extension(mypy, tmp_path):
    p = _run(["mypy.stubtest", "btengine._btengine", "--allowlist",
              str(HERE / "stubtest-allowlist.txt"), "--mypy-config-file", "/dev/null"])
    assert p.returncode == 0, p.stdout + p.stderr


def test_stubs_are_installed_with_the_package():
    import btengine
    pkg = Path(btengine.__file__).parent
    assert (pkg / "py.typed").is_file() and (pkg / "_btengine.pyi").is_file()
