"""The answer cache (engine/symbols/answer_cache.h): a warm capture of pcs seen before takes their
inline chains and tail-call chains from $XDG_CACHE_HOME/btengine/debug/<build-id>/answers instead
of the DWARF. Warm answers must equal cold ones (tests/fixtures/fidelity/tail_calls.c at -O2: inline
frames, tail-call chains, PLT calls), they must really come from the file (a renamed function in
it shows), a damaged file is ignored and rewritten, and --no-cache writes none."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "fidelity" / "tail_calls.c"


def bt(args, cache):
    r = subprocess.run([str(u.bt_path()), *map(str, args)], capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, XDG_CACHE_HOME=str(cache)))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout) if "--json" in args else r.stdout


def frames(doc):
    return {t["tid"]: [(f["function"], f["file"], f["line"], f["inlined"], f["how"]) for f in t["frames"]]
            for t in doc["threads"]}


def test_warm_answers_equal_cold_ones_and_come_from_the_file(bt_bin, tmp_path, paused_process):
    exe = tmp_path / "tail_calls"
    subprocess.run(["gcc", "-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    cache = tmp_path / "cache"
    args = ["--json", "--past-main", p.pid]
    cold = frames(bt(args, cache))
    answers = cache / "btengine" / "debug" / u.build_id(str(exe)) / "answers"
    assert answers.is_file(), sorted(str(x) for x in cache.rglob("*"))
    assert any(f[4] == "tailcall" for fs in cold.values() for f in fs), "the fixture has tail-call frames"
    assert frames(bt(args, cache)) == cold
    # The warm run read the file: a function renamed in it is what bt shows.
    data = answers.read_bytes()
    assert b"via_tail" in data
    answers.write_bytes(data.replace(b"via_tail", b"VIA_TAIL"))
    warm = frames(bt(args, cache))
    assert any(f[0] == "VIA_TAIL" for fs in warm.values() for f in fs)
    # Damaged: ignored (the DWARF answers again) and rewritten.
    answers.write_bytes(data[: len(data) // 2])
    assert frames(bt(args, cache)) == cold
    assert answers.read_bytes() == data  # the same answers, written again
    assert frames(bt(args, cache)) == cold
    # --no-cache keeps nothing.
    other = tmp_path / "other"
    bt(["--no-cache", *args], other)
    assert not list(other.rglob("answers"))


def test_variables_are_never_taken_from_the_cache(bt_bin, tmp_path, paused_process):
    """Variables depend on the moment: answers with them are computed every time. The call sites
    their entry values come from (n@entry) are the module's and come from the cache when warm."""
    exe = tmp_path / "tail_calls"
    subprocess.run(["gcc", "-g", "-O2", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    p = paused_process(exe)
    cache = tmp_path / "cache"
    first = bt(["--vars", p.pid], cache)
    answers = cache / "btengine" / "debug" / u.build_id(str(exe)) / "answers"
    kept = answers.read_bytes()
    assert bt(["--vars", p.pid], cache) == first
    assert answers.read_bytes() == kept, "the warm run found every call site in the file"
    assert "n=n@entry=3" in first


def test_warm_variables_equal_cold_ones_on_every_fixture(manifest, cores, tmp_path):
    """A warm `bt --vars` visits the scope DIEs its cached answer names (by offset, checked to
    cover the pc and nest) instead of finding them again: every fixture's variables, inlined
    frames and lexical blocks included, must read as without the cache."""
    cache = tmp_path / "cache"
    differ = []
    for entry in manifest["binaries"]:
        core = cores.core(entry)
        args = ["--json", "--vars", core, "--exe", entry["path"]]
        cold = bt(["--no-cache", *args], cache)
        bt(args, cache)  # fills the cache
        warm = bt(args, cache)
        if warm["threads"] != cold["threads"]:
            differ.append(entry["name"])
    assert not differ, f"warm --vars differs from --no-cache for {differ}"
    missing = {e["name"] for e in manifest["binaries"]
               if not (cache / "btengine" / "debug" / u.build_id(e["path"]) / "answers").is_file()}
    assert not missing, f"no answers kept for {sorted(missing)}"
