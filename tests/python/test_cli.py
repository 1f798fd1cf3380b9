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


@pytest.mark.parametrize("flags", [[], ["--vars"], ["--json"], ["--json", "--vars"]],
                         ids=["text", "vars", "json", "json-vars"])
def test_show_prints_what_bt_prints(cores, flags):
    """btengine show is bt, byte for byte: text, --vars and the btengine.backtrace/2 JSON."""
    entry = entry_named(THREADS)
    core = cores(entry)
    ours = btengine_cmd("show", core, "--exe", entry["path"], *flags).stdout
    bt = u.run_bt([core, "--exe", entry["path"], *flags])
    assert bt.returncode == 0, bt.describe()
    assert ours == bt.stdout
    if "--json" in flags:
        assert json.loads(ours)["schema"] == "btengine.backtrace/2"
    else:
        assert "Thread " in ours and " None" not in ours


def test_show_snapshot(cores, tmp_path):
    entry = entry_named(VARS_C)
    snap = tmp_path / "x.btsnap"
    assert u.run_bt(["snapshot", cores(entry), "--exe", entry["path"], "-o", snap, "-q"]).returncode == 0
    for flags in ([], ["--vars"], ["--json"]):
        assert btengine_cmd("show", snap, *flags).stdout == u.run_bt(["show", snap, *flags]).stdout
    assert " in vc_middle " in btengine_cmd("show", snap).stdout


def test_show_live_process(paused_process):
    """A number that names no file is a PID: frozen while read, then running on."""
    entry = entry_named(THREADS)
    proc = paused_process(entry["path"])
    out = btengine_cmd("threads", proc.pid).stdout.splitlines()
    assert len(out) == 6 and any("bt-locker" in line for line in out)
    assert btengine_cmd("show", proc.pid).stdout.startswith(f"Process {proc.pid} (live)")
    assert u.wait_all_sleeping(proc.pid)


def test_print_globals(cores):
    entry = entry_named(VARS_C)
    out = btengine_cmd("print", cores(entry), "--exe", entry["path"], "g_counter",
                       "vc_middle::call_count").stdout
    assert out == "g_counter = 1234\nvc_middle::call_count = 78\n"
    p = btengine_cmd("print", cores(entry), "--exe", entry["path"], "no_such", check=False)
    assert p.returncode == 1 and "no variable named no_such" in p.stderr


def test_closed_pipe_is_quiet(cores):
    """`btengine show CORE | head -1`: no BrokenPipeError traceback."""
    entry = entry_named(THREADS)
    cmd = (f"{sys.executable} -m btengine show {cores(entry)} --exe {entry['path']} --vars "
           f"| head -c 10 >/dev/null; echo \"status ${{PIPESTATUS[0]}}\"")
    p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120,
                       env=subprocess_env())
    assert p.stdout.strip() == "status 0" and "Traceback" not in p.stderr and "Broken" not in p.stderr, p


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
    (["show", "/tmp"], "Is a directory"),
    (["threads", "999999999"], "no such process"),
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
    for sub in ("show", "threads", "print", "capture"):
        assert sub in p.stdout
    # The description is whole sentences, not a first line cut mid-sentence.
    assert "exactly what bt prints" in p.stdout and p.stdout.rstrip().endswith("as for bt.")
    assert btengine_cmd("--version").stdout.strip() == f"btengine {btengine.__version__}"


def test_main_function(cores, capsys):
    """btengine.cli.main is the console script's entry point: callable with an argv."""
    from btengine.cli import main
    entry = entry_named(VARS_C)
    assert main(["threads", str(cores(entry)), "--exe", entry["path"]]) == 0
    assert "crashed vc_inner" in capsys.readouterr().out
