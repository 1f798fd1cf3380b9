"""Helpers of the Python package tests (tests/python), importable by the test modules (a module
of its own: `from conftest import` breaks when tests/e2e and tests/python run in one pytest)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
for _d in (HERE.parent / "e2e", HERE.parent / "oracle"):
    if str(_d) not in sys.path:
        sys.path.insert(0, str(_d))

import e2e_util as u  # noqa: E402

PYTHON_DIR = u.build_dir() / "python"


def subprocess_env() -> dict:
    """The environment for a child Python that must import btengine from the build tree."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PYTHON_DIR)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def manifest_entries():
    try:
        return u.load_manifest()["binaries"]
    except (OSError, ValueError, KeyError):
        return []


def entry_named(name: str) -> dict:
    for e in manifest_entries():
        if e["name"] == name:
            return e
    pytest.fail(f"fixture {name} is not in {u.manifest_path()}", pytrace=False)


def debug_dirs(entry) -> list:
    return [entry["debug_dir"]] if entry.get("debug_dir") else []


def debug_args(entry) -> list:
    return ["--debug-dir", entry["debug_dir"]] if entry.get("debug_dir") else []


def bt_json(args) -> dict:
    run = u.run_bt([str(a) for a in args])
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def snapshot_of_a_copy(entry, cores, tmp_path: Path):
    """A snapshot of `entry`'s core, taken from a copy of its executable that the caller deletes
    to prove the snapshot needs no binary: returns (copy, core, snapshot)."""
    import shutil
    exe = tmp_path / Path(entry["path"]).name
    shutil.copy2(entry["path"], exe)
    core = cores(entry)
    snap = tmp_path / "x.btsnap"
    run = u.run_bt(["snapshot", core, "--exe", exe, "-o", snap, "-q"])
    assert run.returncode == 0, run.stderr
    return exe, core, snap


def plugin_dir_and_site(tmp_path: Path):
    """A plugins directory (from_dir.py: attribute from=directory) and a site directory holding an
    installed package whose `btengine.plugins` entry point (acme) classifies "acme-crash": what the
    plugin tests put on BTENGINE_PLUGIN_PATH and PYTHONPATH."""
    import textwrap
    d = tmp_path / "plugdir"
    d.mkdir()
    (d / "from_dir.py").write_text(textwrap.dedent('''
        from btengine.plugins import classifier
        @classifier
        def tag(proc, result):
            result.attribute("from", "directory")
    '''))
    site = tmp_path / "site"
    info = site / "acme_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[btengine.plugins]\nacme = acme_plugin\n")
    (site / "acme_plugin.py").write_text(textwrap.dedent('''
        from btengine.plugins import classifier
        @classifier
        def acme(proc, result):
            result.classify("acme-crash", "probably_not_exploitable", "seen by an installed plugin")
    '''))
    return d, site


RUST_SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "rust" / "crash_rs.rs"


def rustc_path():
    """The Rust tests' rustc (e2e_util.rust_tool: $BT_RUSTC, else PATH, else ~/.cargo/bin); None
    if there is none (rustc_missing() says why)."""
    return u.rust_tool_or_none("rustc")[0]


def rustc_missing():
    """Why there is no rustc for the Rust tests (None when there is one)."""
    return u.rust_tool_or_none("rustc")[1]


def rust_core(workdir: Path):
    """tests/fixtures/rust/crash_rs.rs built with rustc_path() (-g -C opt-level=0
    -C panic=unwind) and crashed in mode `crash`: (exe, core). Skips, saying why, without rustc
    or where no core can be made."""
    import subprocess
    rustc = rustc_path()
    if rustc is None:
        pytest.skip(f"{rustc_missing()} (scripts/setup installs a Rust toolchain)")
    try:
        return u.build_and_crash([rustc, "-g", "-C", "opt-level=0", "-C", "panic=unwind"],
                                 RUST_SOURCE, workdir, "crash_rs")
    except u.CoreUnavailable as e:
        pytest.skip(f"cannot produce a core file here: {e}")
    except subprocess.CalledProcessError as e:
        pytest.fail(f"rustc failed on {RUST_SOURCE}: {e}", pytrace=False)
