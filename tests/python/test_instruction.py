"""Process.instruction is the crashing instruction bt reports (`analysis.instruction` of
`bt --json`), for every program's core and from a snapshot whose executable was deleted."""

from __future__ import annotations


import pytest

import btengine
from pytest_util import bt_json, entry_named, manifest_entries, snapshot_of_a_copy

# One variant of every program: gcc -O0 and clang -O2.
ENTRIES = [e for e in manifest_entries()
           if e["variant"] in ("gcc-O0-dwarf5-pie-fp", "clang-O2-dwarf5-pie-nofp")]


def _as_json(i: btengine.Instruction) -> dict:
    hexed = lambda v: None if v is None else hex(v)
    return {"pc": hex(i.pc), "text": i.text, "length": i.length, "access": i.access,
            "size": i.size, "base": i.base, "index": i.index, "scale": i.scale,
            "displacement": i.displacement, "segment": i.segment, "address": hexed(i.address),
            "branch_target": hexed(i.branch_target), "description": i.description}


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_core_instruction_matches_bt(entry, cores):
    core = cores(entry)
    want = bt_json(["--json", core, "--exe", entry["path"]])["analysis"]["instruction"]
    with btengine.open(core, exe=entry["path"]) as p:
        got = p.instruction
        if want is None:
            assert got is None
        else:
            assert got is not None and _as_json(got) == want
            assert got.pc == p.crashed_thread.frames[0].pc


def test_snapshot_without_the_binary(cores, tmp_path):
    exe, core, snap = snapshot_of_a_copy(entry_named("vars_c.gcc-O0-dwarf5-pie-fp"), cores, tmp_path)
    with btengine.open(core, exe=exe) as p:
        want = p.instruction
    exe.unlink()
    with btengine.open(snap) as s:
        assert want is not None and s.instruction == want
        assert want.access in ("read", "write") and want.address is not None
