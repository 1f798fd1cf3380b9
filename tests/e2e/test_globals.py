"""bt --global NAME (globals and file statics, as classifiers ask for them by name) against gdb's
`print NAME`, on the vars_c fixture's crash core in every variant; and a clear per-name error
for a name the debug information does not define."""

from __future__ import annotations

import json
import subprocess

import pytest

import e2e_util as u

NAMES = ["g_counter", "g_rect", "g_msg"]


def _vars_c(manifest):
    return [e for e in manifest["binaries"] if e["program"] == "vars_c"]


def test_globals_match_gdb(bt_bin, manifest, cores):
    entries = _vars_c(manifest)
    assert entries, "no vars_c fixture in the manifest"
    for e in entries:
        core = cores.core(e)
        args = ["--json", str(core), "--exe", e["path"]]
        if e["split_debug"]:
            args += ["--debug-dir", e["debug_dir"]]
        for n in NAMES + ["no_such_global"]:
            args += ["--global", n]
        run = u.run_bt(args)
        assert run.returncode == 0, run.describe()
        got = {g["name"]: g for g in json.loads(run.stdout)["globals"]}
        cmd = ["gdb", "-batch", "-nx", "-iex", "set debuginfod enabled off"]
        if e["split_debug"]:
            cmd += ["-iex", f"set debug-file-directory {e['debug_dir']}:/usr/lib/debug"]
        for n in NAMES:
            cmd += ["-ex", f"print {n}"]
        gdb = subprocess.run(cmd + [e["path"], str(core)], capture_output=True, text=True, timeout=120)
        printed = [l.split(" = ", 1)[1] for l in gdb.stdout.splitlines() if l.startswith("$")]
        assert len(printed) == len(NAMES), (e["name"], gdb.stdout, gdb.stderr)
        for n, want in zip(NAMES, printed):
            assert got[n]["value"] == want, (e["name"], n, want, got[n])
            assert got[n]["address"] and not got[n]["error"]
        assert got["no_such_global"]["error"] and "no global" in got["no_such_global"]["value"]
