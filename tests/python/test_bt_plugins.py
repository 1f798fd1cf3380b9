"""Plugins in bt (docs/plugins.md, "In bt"): `bt --plugin`, BTENGINE_PLUGIN_PATH and installed entry
points change `bt --json` and bt's text; `bt snapshot` and `bt coredump` store the results and `bt
show` prints them without Python; a live process runs on before any plugin runs; a raising, a
hanging and a nonsense-returning plugin, and a runner that cannot start, are reported while the
rest stays; without plugins bt starts no Python and maps no Python library. Pretty-printers
(plugins/stl_extras.py) render std::stack, std::queue and std::priority_queue as gdb's libstdc++
printers do, in bt, in snapshots and in Python's Value text."""

from __future__ import annotations

import json
import os
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

import btengine
import e2e_util as u
from btengine import plugins
from pytest_util import entry_named, plugin_dir_and_site, subprocess_env

VARS_C = "vars_c.gcc-O0-dwarf5-pie-fp"
SHIPPED = u.REPO_ROOT / "plugins"
DATA = Path(__file__).parent / "data"

GOOD = '''
from btengine.plugins import classifier, on_frame, on_variable

@classifier
def counter_check(proc, result):
    if int(proc["g_counter"]) == 1234:
        result.classify("counter-at-default", "unknown", "g_counter was never changed",
                        evidence=[("g_counter", proc["g_counter"])])
        result.attribute("team", "core")
        result.attribute("seen_as", proc.kind)

@on_frame(function="vc_m*")
def middle(frame, result):
    result.annotate(frame, "the middle frame")

@on_variable(name="r")
def rect(frame, variable, result):
    if frame.function == "vc_middle":
        result.classify("rect-seen", "unknown", "a rect in the middle", highlight=[variable])
        result.override_severity("probably_not_exploitable", "rects are harmless here")
'''


def write(directory: Path, name: str, text: str) -> Path:
    p = directory / name
    p.write_text(textwrap.dedent(text))
    return p


def bt_env(tmp_path: Path, **extra: str) -> dict:
    """No plugin configured by the machine: an empty config home, no BTENGINE_PLUGIN_PATH."""
    env = subprocess_env()
    env.pop("BTENGINE_PLUGIN_PATH", None)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "no-config")
    env.update(extra)
    return env


def bt(args, env, timeout=300, stdin=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(u.bt_path())] + [str(a) for a in args], capture_output=True, text=True,
                          env=env, timeout=timeout, stdin=stdin)


def test_bt_plugin_on_a_core(cores, tmp_path):
    entry = entry_named(VARS_C)
    core, good = cores(entry), write(tmp_path, "good.py", GOOD)
    env = bt_env(tmp_path)
    r = bt([core, "--exe", entry["path"], "--plugin", good, "--json"], env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    p = doc["plugins"]
    assert p["schema"] == "btengine.plugins/1" and [x["name"] for x in p["plugins"]] == ["good"]
    assert [c["kind"] for c in p["classifications"]] == ["counter-at-default", "rect-seen"]
    assert p["attributes"] == {"team": "core", "seen_as": "core"} and p["plugin_errors"] == []
    assert p["severity_override"] == {"severity": "probably_not_exploitable", "plugin": "good",
                                      "reason": "rects are harmless here"}
    crashed = doc["threads"][0]
    middle = next(f for f in crashed["frames"] if f["function"] == "vc_middle")
    assert [(a["thread"], a["frame"], a["text"]) for a in p["annotations"]] == \
        [(crashed["tid"], middle["index"], "the middle frame")]
    assert p["highlighted"] == [{"thread": crashed["tid"], "frame": middle["index"], "variable": "r",
                                 "why": "good: a rect in the middle"}]
    assert p["plugin_ms"] > 0
    # The btengine command's show runs them the same way.
    py = subprocess.run([os.sys.executable, "-m", "btengine", "show", core, "--exe", entry["path"],
                         "--plugin", good, "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert py.returncode == 0, py.stderr
    py_plugins = json.loads(py.stdout)["plugins"]
    assert {**py_plugins, "plugin_ms": 0} == {**p, "plugin_ms": 0, "plugins": py_plugins["plugins"]}
    assert [x["name"] for x in py_plugins["plugins"]] == ["good"]
    # Without --vars no variable is printed, the plugins saw them all the same.
    assert "variables" not in middle or not middle["variables"]
    text = bt([core, "--exe", entry["path"], "--plugin", good, "--vars"], env)
    assert text.returncode == 0, text.stderr
    assert re.search(r"^Plugins: good \(\d+ ms\)$", text.stdout, re.M), text.stdout
    assert "  counter-at-default (unknown) plugin:good: g_counter was never changed" in text.stdout
    assert "  severity set to probably_not_exploitable by good: rects are harmless here" in text.stdout
    # The annotation is printed under its frame.
    assert re.search(r"^#1 .* in vc_middle .*\n    \[good\] the middle frame$", text.stdout, re.M), text.stdout
    assert "  ! r in #1 vc_middle = {tl = {x = -1" in text.stdout, "the plugin's highlight, in the Analysis block"
    assert "      ! r = {tl = {x = -1" in text.stdout, "and on the variable"


def test_bt_plugins_from_the_directory_and_an_entry_point(cores, tmp_path):
    entry = entry_named(VARS_C)
    d, site = plugin_dir_and_site(tmp_path)
    args = [cores(entry), "--exe", entry["path"], "--json"]
    env = bt_env(tmp_path, BTENGINE_PLUGIN_PATH=str(d))
    p = json.loads(bt(args, env).stdout)["plugins"]
    assert p["attributes"] == {"from": "directory"} and p["classifications"] == []
    env = bt_env(tmp_path)
    env["PYTHONPATH"] += os.pathsep + str(site)  # an installed package: bt finds its entry point
    p = json.loads(bt(args, env).stdout)["plugins"]
    assert [c["kind"] for c in p["classifications"]] == ["acme-crash"]
    # ~/.config/btengine/plugins
    cfg = tmp_path / "cfg"
    (cfg / "btengine" / "plugins").mkdir(parents=True)
    write(cfg / "btengine" / "plugins", "cfg.py", (d / "from_dir.py").read_text().replace("directory", "config"))
    p = json.loads(bt(args, bt_env(tmp_path, XDG_CONFIG_HOME=str(cfg))).stdout)["plugins"]
    assert p["attributes"] == {"from": "config"}
    # --no-plugins: none of them.
    assert "plugins" not in json.loads(bt(args + ["--no-plugins"], env).stdout)


def test_bt_reports_failing_plugins_and_keeps_the_rest(cores, tmp_path):
    entry = entry_named(VARS_C)
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "raising.py", '''
        from btengine.plugins import classifier
        @classifier
        def boom(proc, result):
            raise RuntimeError("kaboom")
    ''')
    write(tmp_path, "hanging.py", '''
        import time
        from btengine.plugins import classifier, on_frame
        @classifier
        def forever(proc, result):
            while True:
                time.sleep(0.05)
        @on_frame()
        def never_called(frame, result):     # skipped: its plugin already ran out of time
            result.attribute("hanging", "called")
    ''')
    write(tmp_path, "nonsense.py", '''
        from btengine.plugins import classifier
        @classifier
        def returns(proc, result):
            return 42
    ''')
    env = bt_env(tmp_path)
    r = bt([cores(entry), "--exe", entry["path"], "--plugin", tmp_path, "--plugin-timeout", "1", "--json"], env)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["plugins"]
    assert [c["kind"] for c in p["classifications"]] == ["counter-at-default", "rect-seen"]
    errors = {(e["plugin"], e["function"]): e["kind"] for e in p["plugin_errors"]}
    assert errors == {("raising", "boom"): "exception", ("hanging", "forever"): "timeout",
                      ("nonsense", "returns"): "invalid"}, p["plugin_errors"]
    assert "hanging" not in p["attributes"]
    # A runner that cannot start: bt prints the backtrace and says why the plugins did not run.
    r = bt([cores(entry), "--exe", entry["path"], "--plugin", tmp_path / "good.py"],
           bt_env(tmp_path, BTENGINE_PYTHON=str(tmp_path / "no-such-python")))
    assert r.returncode == 0 and "vc_inner" in r.stdout
    assert re.search(r"error: plugin , : runner: cannot run .*no-such-python", r.stdout), r.stdout


def test_bt_live_process_snapshot_and_show(paused_process, tmp_path):
    """bt PID, bt snapshot PID: the plugins run after the process is let go, on a capture that
    keeps its writable memory (a global the plugin reads); the snapshot stores their results and
    bt show / btengine show print them with no plugin configured."""
    entry = entry_named(VARS_C)
    live = paused_process(entry["path"])
    good = write(tmp_path, "good.py", GOOD)
    env = bt_env(tmp_path)
    r = bt([live.pid, "--plugin", good, "--json"], env)
    assert r.returncode == 0, r.stderr
    p = json.loads(r.stdout)["plugins"]
    assert p["attributes"] == {"team": "core", "seen_as": "snapshot"}, p
    assert u.wait_all_sleeping(live.pid), "the process runs on"
    snap = tmp_path / "live.btsnap"
    r = bt(["snapshot", live.pid, "-o", snap, "--plugin", good], env)
    assert r.returncode == 0, r.stderr
    assert re.search(r"target stopped [\d.]+ ms, plugins \d+ ms\)", r.stdout), r.stdout
    assert u.wait_all_sleeping(live.pid)
    shown = bt(["show", snap], env)
    assert "Plugins: good (" in shown.stdout and "attribute team = core" in shown.stdout
    stored = json.loads(bt(["show", snap, "--json"], env).stdout)["plugins"]
    assert stored["attributes"] == p["attributes"]
    py = subprocess.run([os.sys.executable, "-m", "btengine", "show", snap], capture_output=True,
                        text=True, env=env, timeout=120)
    assert py.stdout == shown.stdout
    # Plugins configured when showing run on the snapshot and are shown instead (the file stays).
    other = write(tmp_path, "other.py", '''
        from btengine.plugins import classifier
        @classifier
        def other(proc, result):
            result.attribute("shown_by", "other")
    ''')
    again = json.loads(bt(["show", snap, "--json", "--plugin", other], env).stdout)["plugins"]
    assert again["attributes"] == {"shown_by": "other"}
    assert json.loads(bt(["show", snap, "--json"], env).stdout)["plugins"]["attributes"] == p["attributes"]


def test_bt_coredump_stores_plugin_results(cores, tmp_path):
    entry = entry_named(VARS_C)
    out = tmp_path / "crashes"
    out.mkdir()
    good = write(tmp_path, "good.py", GOOD)
    with open(cores(entry), "rb") as core:
        r = bt(["coredump", "--pid", "4242", "--exe", entry["path"], "-o", out, "--plugin", good],
               bt_env(tmp_path), stdin=core)
    assert r.returncode == 0, r.stderr
    snap = next(out.glob("*.btsnap"))
    p = json.loads(bt(["show", snap, "--json"], bt_env(tmp_path)).stdout)["plugins"]
    assert [c["kind"] for c in p["classifications"]] == ["counter-at-default", "rect-seen"]


MAPS_DUMPER = r'''
#include <stdio.h>
#include <stdlib.h>
/* At exit, copies the process's /proc/self/maps to $BT_MAPS_OUT: what bt had mapped. */
__attribute__((destructor)) static void dump_maps(void) {
  const char *out = getenv("BT_MAPS_OUT");
  FILE *in = fopen("/proc/self/maps", "r"), *o = out ? fopen(out, "w") : NULL;
  if (!in || !o) return;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, o);
  fclose(in);
  fclose(o);
}
'''


def test_bt_without_plugins_starts_and_maps_no_python(cores, paused_process, tmp_path):
    entry = entry_named(VARS_C)
    src = tmp_path / "dump_maps.c"
    src.write_text(MAPS_DUMPER)
    lib = tmp_path / "libdumpmaps.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", lib, src], check=True)
    marker = tmp_path / "python-started"
    fake = tmp_path / "fake-python"
    fake.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    fake.chmod(0o755)
    live = paused_process(entry["path"])
    for args in ([live.pid], [live.pid, "--vars"], [cores(entry), "--exe", entry["path"]]):
        maps = tmp_path / "maps"
        env = bt_env(tmp_path, LD_PRELOAD=str(lib), BT_MAPS_OUT=str(maps), BTENGINE_PYTHON=str(fake))
        r = bt(args, env)
        assert r.returncode == 0, r.stderr
        text = maps.read_text()
        assert "libdumpmaps.so" in text and "/bt" in text, "the maps are bt's"
        assert not re.search(r"libpython|python3", text), args
        assert not marker.exists(), f"bt {args} started Python without a plugin"
    # With a plugin, Python runs in a child process (here the fake one): still not mapped in bt.
    good = write(tmp_path, "good.py", GOOD)
    r = bt([cores(entry), "--exe", entry["path"], "--plugin", good], env)
    assert marker.exists() and not re.search(r"libpython", maps.read_text())


@pytest.fixture(scope="module")
def stl_program(tmp_path_factory):
    d = tmp_path_factory.mktemp("stl_extras")
    try:
        return u.build_and_crash(["g++", "-g", "-O0"], DATA / "stl_extras.cpp", d, "stl_extras")
    except u.CoreUnavailable as e:
        pytest.skip(str(e))


def gdb_printed(exe, core) -> dict:
    """gdb 13 with its libstdc++ pretty-printers: crash()'s arguments and locals, main()'s locals
    and g_jobs."""
    printers = ("python import sys; sys.path.insert(0, '/usr/share/gcc/python'); "
                "from libstdcxx.v6.printers import register_libstdcxx_printers; "
                "register_libstdcxx_printers(None)")
    if not Path("/usr/share/gcc/python/libstdcxx").is_dir():
        pytest.skip("gdb's libstdc++ printers are not installed")
    out = subprocess.run(["gdb", "-batch", "-nx", "-ex", "set width 0", "-ex", printers,
                          "-ex", "frame function crash", "-ex", "info args", "-ex", "info locals",
                          "-ex", "frame function main", "-ex", "info locals",
                          "-ex", "p g_jobs", str(exe), str(core)],
                         capture_output=True, text=True, timeout=120).stdout
    values = {}
    frame = None
    for line in out.splitlines():
        if m := re.match(r"#\d+\s+(?:0x\w+ in )?(\w+) \(", line):
            frame = m.group(1)
        elif m := re.match(r"(\w+) = (.*)$", line):
            values[(frame, m.group(1))] = m.group(2)
        elif m := re.match(r"\$\d+ = (.*)$", line):
            values[(frame, "g_jobs")] = m.group(1)
    return values


def test_pretty_printers_match_gdb_in_bt_snapshots_and_python(stl_program, tmp_path):
    exe, core = stl_program
    expected = gdb_printed(exe, core)
    printer = SHIPPED / "stl_extras.py"
    env = bt_env(tmp_path)
    doc = json.loads(bt([core, "--exe", exe, "--vars", "--json", "--plugin", printer], env).stdout)
    frames = {f["function"]: {v["name"]: v["value"] for v in f["variables"]}
              for f in doc["threads"][0]["frames"] if f["function"] in ("crash", "main")}
    checked = 0
    for (frame, name), text in expected.items():
        if name == "g_jobs" or name not in frames.get(frame, {}):
            continue
        assert frames[frame][name] == text, (frame, name)
        checked += 1
    assert checked >= 10, expected  # crash: jobs, s, q, pq, vs, lq, es, none; main: s, stacks
    assert frames["crash"]["pq"] == ("std::priority_queue wrapping: std::vector of length 3, "
                                     "capacity 4 = {9, 3, 1}")
    assert frames["main"]["stacks"].endswith("{std::stack wrapping: std::deque with 0 elements, "
                                             "std::stack wrapping: std::deque with 1 element = {5}}")
    # Without the plugin bt prints the adaptor's member, as gdb does without its printers.
    plain = json.loads(bt([core, "--exe", exe, "--vars", "--json"], env).stdout)
    crash = next(f for f in plain["threads"][0]["frames"] if f["function"] == "crash")
    assert {v["name"]: v["value"] for v in crash["variables"]}["q"].startswith("{c = std::deque with 2")
    # A snapshot stores the rendered text: bt show prints it without plugins or binaries.
    snap = tmp_path / "stl.btsnap"
    assert bt(["snapshot", core, "--exe", exe, "-o", snap, "--plugin", printer], env).returncode == 0
    shown = bt(["show", snap, "--vars"], env).stdout
    assert 'q = std::queue wrapping: std::deque with 2 elements = {"a", "b"}' in shown
    # Python: Value text with the plugin's printers loaded, nested values included.
    plugins.clear_printers()
    try:
        loaded, errors = plugins.load([printer], defaults=False)
        assert not errors
        with btengine.open(core, exe=exe) as proc:
            assert str(proc["g_jobs"]) == expected[("main", "g_jobs")]
            assert proc["g_jobs"].format(printers=False).startswith("{pending = {c = std::deque with 2")
    finally:
        plugins.clear_printers()
    with btengine.open(core, exe=exe) as proc:
        assert str(proc["g_jobs"]).startswith("{pending = {c = std::deque")


def test_a_raising_printer_leaves_the_built_in_text(stl_program, tmp_path):
    exe, core = stl_program
    bad = write(tmp_path, "bad_printer.py", '''
        from btengine.plugins import pretty_printer
        @pretty_printer("std::bitset<8>")
        def broken(value):
            raise ValueError("no bits today")
    ''')
    r = bt([core, "--exe", exe, "--vars", "--json", "--plugin", bad], bt_env(tmp_path))
    doc = json.loads(r.stdout)
    crash = next(f for f in doc["threads"][0]["frames"] if f["function"] == "crash")
    assert {v["name"]: v["value"] for v in crash["variables"]}["none"] == "std::bitset"  # built in
    errors = doc["plugins"]["plugin_errors"]
    assert [(e["plugin"], e["function"], e["kind"]) for e in errors] == [("bad_printer", "broken", "exception")]
    assert "no bits today" in errors[0]["message"] and "std::bitset<8>" in errors[0]["message"]
