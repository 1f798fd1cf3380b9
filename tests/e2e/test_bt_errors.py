"""bt on bad input: a non-zero exit status (not a crash), exactly one line on
stderr, in bounded time."""

from __future__ import annotations

import os
import shutil

import pytest

import e2e_util as u


def _free_pid():
    """A pid that is not in use (999999 unless it happens to exist)."""
    for pid in [999999] + list(range(999998, 990000, -1)):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    pytest.fail("no free pid found")


def _core_entry(manifest):
    entries = manifest["binaries"]
    for e in entries:
        if e["name"] == "deep_c.gcc-O0-dwarf5-pie-fp":
            return e
    for e in entries:
        if not e["split_debug"] and e["program"] == "deep_c":
            return e
    return entries[0]


def assert_clean_error(run: u.ToolRun):
    assert run.returncode != 0, f"bt succeeded on bad input:\n{run.describe()}"
    assert run.returncode > 0, f"bt died from signal {-run.returncode}:\n{run.describe()}"
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{run.describe()}"
    assert len(lines[0]) < 500, f"the error line is unreasonably long:\n{run.describe()}"
    assert not run.stdout.lstrip().startswith("{"), (
        f"bt printed a JSON result although it failed:\n{run.describe()}")


JSON = pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["text", "json"])


@JSON
def test_no_such_process(bt_bin, json_flag):
    assert_clean_error(u.run_bt(json_flag + [str(_free_pid())]))


@JSON
def test_not_a_core_file(bt_bin, json_flag):
    assert_clean_error(u.run_bt(json_flag + ["/etc/passwd"]))


@JSON
def test_not_a_core_but_an_elf_executable(bt_bin, manifest, json_flag):
    entry = _core_entry(manifest)
    assert_clean_error(u.run_bt(json_flag + [entry["path"], "--exe", entry["path"]]))


@JSON
def test_missing_core_file(bt_bin, tmp_path, json_flag):
    assert_clean_error(u.run_bt(json_flag + [str(tmp_path / "no-such-core")]))


@JSON
def test_core_truncated_before_its_threads(bt_bin, manifest, cores, tmp_path, json_flag):
    # Cut inside the program headers: nothing to show. (A core cut after its notes is a
    # partial result, test_partial_results.py.)
    entry = _core_entry(manifest)
    core = cores.core(entry)
    cut = tmp_path / "core.truncated"
    shutil.copyfile(core, cut)
    os.truncate(cut, 100)
    run = u.run_bt(json_flag + [str(cut), "--exe", entry["path"]])
    assert_clean_error(run)
    assert run.returncode == 6 and "truncated" in run.stderr, run.describe()


@JSON
def test_missing_executable(bt_bin, manifest, cores, json_flag):
    entry = _core_entry(manifest)
    core = cores.core(entry)
    assert_clean_error(u.run_bt(json_flag + [str(core), "--exe", "/nonexistent"]))
