"""Hostile DWARF (tests/fixtures/hostile/hostile_dwarf.s, hand-written): a typedef cycle, an
array of 2^60 ints, an array whose element type is itself, a struct containing itself by value,
a location list outside .debug_loc. bt --vars must print every variable with a clear
per-variable result, in bounded time and output, and the well-formed control variable right.
Also run against the AddressSanitizer build of bt in CI."""

from __future__ import annotations

import json
import time

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "hostile" / "hostile_dwarf.s"


@pytest.fixture(scope="module")
def hostile_core(tmp_path_factory):
    return u.build_and_crash(["gcc"], SOURCE, tmp_path_factory.mktemp("hostile"), "hostile_dwarf")


def test_hostile_dwarf_values_are_bounded_errors(bt_bin, hostile_core):
    exe, core = hostile_core
    t0 = time.monotonic()
    run = u.run_bt(["--json", "--vars", "--no-cache", str(core), "--exe", str(exe)], timeout=60)
    elapsed = time.monotonic() - t0
    assert run.returncode == 0, run.describe()
    assert elapsed < 20, f"took {elapsed:.1f}s"
    doc = json.loads(run.stdout)
    frame = doc["threads"][0]["frames"][0]
    assert frame["function"] == "hostile_frame", run.describe()
    vars_ = {v["name"]: v for v in frame["variables"]}
    assert set(vars_) == {"okvar", "cyc", "huge", "selfarr", "selfstruct", "lst"}, vars_
    assert vars_["okvar"]["value"] == "7"
    assert "type cycle" in vars_["cyc"]["value"]
    assert vars_["lst"]["error"] and "location" in vars_["lst"]["value"], vars_["lst"]
    assert vars_["selfarr"]["value"].startswith("<error"), vars_["selfarr"]
    for v in vars_.values():
        assert len(v["value"]) < 20000, (v["name"], len(v["value"]))
    # The struct that contains itself is cut at the nesting limit, not followed forever.
    assert vars_["selfstruct"]["value"].count("{") <= 10


def test_hostile_dwarf_plain_backtrace(bt_bin, hostile_core):
    exe, core = hostile_core
    run = u.run_bt([str(core), "--exe", str(exe)], timeout=60)
    assert run.returncode == 0, run.describe()
    assert "hostile_frame" in run.stdout and "hostile_dwarf.s:40" in run.stdout, run.describe()
