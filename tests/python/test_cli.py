"""The `btengine` command, run as `python -m btengine` with the build tree on PYTHONPATH (the
installed console script is covered by test_wheel.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import btengine
import e2e_util as u
from pytest_util import bt_json, entry_named, subprocess_env

VARS_C = "vars_c.gcc-O0-dwarf5-pie-fp"
THREADS = "threads_cpp.gcc-O0-dwarf5-pie-fp"


def btengine_cmd(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "btengine"] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert p.returncode >= 0, f"died from signal {-p.returncode}: {p.stderr}"
    if check:
        assert p.returncode == 0, f"exit {p.returncode}\n{p.stdout}\n{p.stderr}"
    return p


def test_show_text(cores):
    entry = entry_named(VARS_C)
    core = cores(entry)
    out = btengine_cmd("show", core, "--exe", entry["path"]).stdout
    assert out.startswith("<Process core pid ")
    assert "SIGSEGV" in out.splitlines()[0]
    assert "(crashed)" in out
    for fn in ("vc_inner", "vc_middle", "vc_outer", "main"):
        assert f" in {fn} at {entry['source']}:" in out
    assert " = " not in out.split("\n", 1)[1]          # no variables without --vars


def test_show_vars(cores):
    entry = entry_named(VARS_C)
    core = cores(entry)
    out = btengine_cmd("show", core, "--exe", entry["path"], "--vars").stdout
    bt = bt_json(["--json", "--vars", core, "--exe", entry["path"]])
    for f in bt["threads"][0]["frames"]:
        for v in f.get("variables", []):
            assert f"        {v['name']} = {v['value']}\n" in out


def test_show_json_matches_bt(cores):
    entry = entry_named(THREADS)
    core = cores(entry)
    doc = json.loads(btengine_cmd("show", core, "--exe", entry["path"], "--json", "--vars").stdout)
    bt = bt_json(["--json", "--vars", core, "--exe", entry["path"]])
    assert doc["kind"] == "core" and doc["pid"] == bt["target"]["pid"]
    assert doc["signal"] == "SIGSEGV"
    assert [t["tid"] for t in doc["threads"]] == [t["tid"] for t in bt["threads"]]
    for t, bt_t in zip(doc["threads"], bt["threads"]):
        assert t["name"] == bt_t["name"] and t["crashed"] == bt_t["crashed"]
        assert len(t["frames"]) == len(bt_t["frames"])
        for f, bf in zip(t["frames"], bt_t["frames"]):
            for key in ("index", "pc", "file", "line", "inlined", "how"):
                assert f[key] == bf[key], (key, f, bf)
            assert [(v["name"], v["value"]) for v in f["variables"]] == \
                [(v["name"], v["value"]) for v in bf.get("variables", [])]


def test_show_snapshot(cores, tmp_path):
    entry = entry_named(VARS_C)
    snap = tmp_path / "x.btsnap"
    assert u.run_bt(["snapshot", cores(entry), "--exe", entry["path"], "-o", snap, "-q"]).returncode == 0
    out = btengine_cmd("show", snap).stdout
    assert out.startswith("<Process snapshot pid ") and " in vc_middle at " in out


def test_threads(cores):
    entry = entry_named(THREADS)
    core = cores(entry)
    lines = btengine_cmd("threads", core, "--exe", entry["path"]).stdout.splitlines()
    bt = bt_json(["--json", core, "--exe", entry["path"]])
    assert len(lines) == len(bt["threads"]) == 6
    for line, t in zip(lines, bt["threads"]):
        fields = line.split()
        assert int(fields[0]) == t["tid"]
        assert fields[-1] == t["frames"][0]["function"]
    assert "crashed" in lines[0]


def test_threads_split_debug(cores):
    entry = entry_named("vars_c.gcc-O2-dwarf5-pie-nofp-split")
    out = btengine_cmd("show", cores(entry), "--exe", entry["path"], "--debug-dir",
                       entry["debug_dir"]).stdout
    assert " in vc_middle at " in out


def test_capture(paused_process, tmp_path):
    entry = entry_named(THREADS)
    proc = paused_process(entry["path"])
    snap = tmp_path / "live.btsnap"
    out = btengine_cmd("capture", proc.pid, "-o", snap, "--attr", "team=core",
                       "--attr", "build=1=2").stdout
    assert out.startswith(f"snapshot: {snap} (") and "target stopped" in out
    assert u.wait_all_sleeping(proc.pid)
    with btengine.open(snap) as p:
        assert p.kind == "snapshot" and p.pid == proc.pid
        assert p.attributes == {"team": "core", "build": "1=2"}
        assert len(p.threads) == 6
    show = bt_json(["show", "--json", snap])
    assert show["snapshot"]["variables"] is True
    snap2 = tmp_path / "novars.btsnap"
    btengine_cmd("capture", proc.pid, "-o", snap2, "--no-vars")
    assert bt_json(["show", "--json", snap2])["snapshot"]["variables"] is False


@pytest.mark.parametrize("args, message", [
    (["show", "/nonexistent/core"], "No such file"),
    (["threads", "/etc/hostname"], "not a core file"),
    (["capture", "999999999", "-o", "/tmp/never.btsnap"], "no such process"),
    (["capture", "1", "-o", "/tmp/never.btsnap", "--attr", "novalue"], "KEY=VALUE"),
])
def test_errors(args, message):
    p = btengine_cmd(*args, check=False)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert p.stderr.startswith("btengine: error: ") and message in p.stderr, p.stderr
    assert "Traceback" not in p.stderr


def test_usage():
    p = btengine_cmd(check=False)
    assert p.returncode == 2 and "usage: btengine" in p.stderr
    p = btengine_cmd("--help")
    for sub in ("show", "threads", "capture"):
        assert sub in p.stdout
    assert btengine_cmd("--version").stdout.strip() == f"btengine {btengine.__version__}"


def test_main_function(cores, capsys):
    """btengine.cli.main is the console script's entry point: callable with an argv."""
    from btengine.cli import main
    entry = entry_named(VARS_C)
    assert main(["threads", str(cores(entry)), "--exe", entry["path"]]) == 0
    assert "crashed vc_inner" in capsys.readouterr().out
