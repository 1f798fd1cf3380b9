"""The real-program oracle (real_programs.py) on the one program CI has: the Python 3.11 debug
interpreter (python3.11-dbg, installed by scripts/setup) running a 9-thread script, live and on a
core, against gdb. Every gdb frame must be aligned with one of bt's, and every variable must be
equal or differ by a documented cause. The Ceph monitor runs only with
`bash scripts/real-program-oracle` (its packages are large and gdb takes a minute on it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import e2e_util as u

HARNESS = u.REPO_ROOT / "tests" / "e2e" / "real_programs.py"


def test_python_interpreter_agrees_with_gdb(bt_bin, tmp_path):
    if not os.access("/usr/bin/python3.11-dbg", os.X_OK):
        pytest.skip("python3.11-dbg is not installed (scripts/setup installs it)")
    report = tmp_path / "report.json"
    run = subprocess.run([sys.executable, str(HARNESS), "--program", "python",
                          "--report", str(report), "--show", "300"],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    doc = json.loads(report.read_text())
    assert not doc["skipped"], doc["skipped"]
    modes = {r["mode"]: r for r in doc["results"]}
    assert set(modes) == {"live", "core"}, run.stdout
    for mode, r in modes.items():
        assert r["threads"] == 9, (mode, run.stdout)
        assert r["frames_aligned"] == r["gdb_frames"] and r["frame_differences"] == 0, (mode, run.stdout)
        assert r["variables"] > 1000, (mode, run.stdout)
        assert r["variables_differing"] == 0, (mode, run.stdout)
        assert r["variables_equal"] >= 0.98 * r["variables"], (mode, run.stdout)
