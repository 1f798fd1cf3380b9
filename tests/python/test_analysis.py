"""Process.analysis is bt's analysis (`analysis` of `bt --json --vars`): class, severity, rule,
reason, Breakpad rating, evidence in order, fingerprint, and the highlighted variables
(Variable.highlighted) — for every program's core, and from a snapshot whose executable was
deleted (the analysis and the marks are stored)."""

from __future__ import annotations

import pytest

import btengine
from pytest_util import bt_json, entry_named, manifest_entries, snapshot_of_a_copy

ENTRIES = [e for e in manifest_entries()
           if e["variant"] in ("gcc-O0-dwarf5-pie-fp", "clang-O2-dwarf5-pie-nofp")]


def _same(p: btengine.Process, want: dict):
    a = p.analysis
    assert (a.kind, a.severity, a.reason) == (want["class"], want["severity"], want["reason"])
    assert a.fingerprint == want["fingerprint"] and list(a.fingerprint_frames) == want["fingerprint_frames"]
    assert [(c.kind, c.severity, c.rule, c.reason, c.breakpad_rating,
             [{"fact": k, "value": v} for k, v in c.evidence]) for c in a.classifications] == \
        [(c["kind"], c["severity"], c["rule"], c["reason"], c.get("breakpad_rating", ""),
          c.get("evidence", [])) for c in want["classifications"]]
    marked = [(f.index, v.name, v.highlighted) for f in p.crashed_thread.frames for v in f.variables
              if v.highlighted]
    assert marked == [(h["frame"], h["name"], h["reason"]) for h in want["highlighted"]]


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_core_analysis_matches_bt(entry, cores):
    core = cores(entry)
    want = bt_json(["--json", "--vars", core, "--exe", entry["path"]])["analysis"]
    with btengine.open(core, exe=entry["path"]) as p:
        if want["class"] is None:
            assert p.analysis.fault is None and p.analysis.kind is None
        else:
            _same(p, want)


def test_snapshot_without_the_binary_keeps_the_analysis_and_the_marks(cores, tmp_path):
    exe, core, snap = snapshot_of_a_copy(entry_named("vars_c.gcc-O0-dwarf5-pie-fp"), cores, tmp_path)
    want = bt_json(["--json", "--vars", core, "--exe", exe])["analysis"]
    exe.unlink()
    assert want["class"] == "null-deref" and want["highlighted"], want
    with btengine.open(snap) as s:
        _same(s, want)
        assert s.analysis.fault.fact("fault_address") == "0x0"
        assert s.analysis.fault.fact("no such fact") is None
