"""The layering of ARCHITECTURE.md as the build enforces it: scripts/check-layers (run by every
build) accepts the tree as it is and rejects an include of a higher layer or of a front from
inside engine/, naming the file and line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import e2e_util as u

CHECK = u.REPO_ROOT / "scripts" / "check-layers"


def check(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CHECK), str(root)], capture_output=True, text=True,
                          timeout=60)


def test_the_tree_respects_its_layers():
    r = check(u.REPO_ROOT)
    assert r.returncode == 0, r.stderr


def copy_engine(tmp_path: Path) -> Path:
    shutil.copytree(u.REPO_ROOT / "engine", tmp_path / "engine")
    return tmp_path


def test_an_upward_include_is_rejected(tmp_path):
    root = copy_engine(tmp_path)
    victim = root / "engine" / "symbols" / "symbolizer.cpp"
    victim.write_text('#include "vars/value.h"\n' + victim.read_text())
    r = check(root)
    assert r.returncode == 1
    assert "engine/symbols/symbolizer.cpp:1: engine/symbols includes vars/" in r.stderr


def test_the_engine_may_not_include_a_front(tmp_path):
    root = copy_engine(tmp_path)
    victim = root / "engine" / "snapshot" / "pipeline.cpp"
    victim.write_text(victim.read_text() + '\n#include "cli/command_line.h"\n')
    r = check(root)
    assert r.returncode == 1 and "includes cli/" in r.stderr


def test_downward_and_same_layer_includes_are_fine(tmp_path):
    root = copy_engine(tmp_path)
    victim = root / "engine" / "snapshot" / "capture.cpp"
    victim.write_text('#include "support/error.h"\n#include "snapshot/snapshot.h"\n'
                      + victim.read_text())
    assert check(root).returncode == 0
