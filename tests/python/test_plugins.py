"""Plugins (btengine.plugins, docs/plugins.md): loaded from a path, from BTENGINE_PLUGIN_PATH and
from an installed package's `btengine.plugins` entry point, they change `btengine classify`'s
output as documented; a raising, a hanging and a nonsense-returning plugin are each reported in
plugin_errors while the others' results stay; frame handlers run only for the frames they ask
for; plugins/third_party.py on real crashes; docs/plugins.md's examples run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import btengine
import e2e_util as u
from btengine import plugins
from pytest_util import entry_named, subprocess_env

VARS_C = "vars_c.gcc-O0-dwarf5-pie-fp"
LIBC_CRASH = "libc_crash_c.gcc-O0-dwarf5-pie-fp"
SHIPPED = u.REPO_ROOT / "plugins"
DOC = u.REPO_ROOT / "docs" / "plugins.md"

GOOD = '''
from btengine.plugins import classifier, on_frame

@classifier
def counter_check(proc, result):
    if int(proc["g_counter"]) == 1234:
        result.classify("counter-at-default", "unknown", "g_counter was never changed",
                        evidence=[("g_counter", proc["g_counter"])])
        result.attribute("team", "core")

CALLS = []

@on_frame(function="vc_m*")
def middle(frame, result):
    CALLS.append(frame.function)
    result.annotate(frame, "the middle frame")
'''


def classify(*args, env=None):
    e = subprocess_env()
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "btengine", "classify", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=e)


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_a_plugin_from_a_path_changes_the_result(cores, tmp_path):
    entry = entry_named(VARS_C)
    good = write(tmp_path, "good.py", GOOD)
    r = classify(cores(entry), "--plugin", good, "--no-default-plugins", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["class"] == "null-deref"
    assert [c["kind"] for c in row["classifications"]] == ["counter-at-default"]
    c = row["classifications"][0]
    assert c["rule"] == "plugin:good" and c["evidence"] == [{"fact": "g_counter", "value": "1234"}]
    assert row["attributes"] == {"team": "core"} and row["plugin_errors"] == []
    assert [(a["frame"], a["text"]) for a in row["annotations"]] == [(1, "the middle frame")]
    assert row["plugin_ms"] >= 0


def test_frame_handlers_run_only_for_matching_frames(cores, tmp_path):
    entry = entry_named(VARS_C)
    plugin = plugins.load_module(write(tmp_path, "good.py", GOOD))
    with btengine.open(cores(entry), exe=entry["path"]) as proc:
        report = plugins.run(proc, [plugin])
    module_calls = plugin.frame_handlers[0][1].__globals__["CALLS"]
    assert module_calls == ["vc_middle"] and not report.plugin_errors


def test_directory_and_entry_point(cores, tmp_path):
    entry = entry_named(VARS_C)
    d = tmp_path / "plugdir"
    d.mkdir()
    write(d, "from_dir.py", '''
        from btengine.plugins import classifier
        @classifier
        def tag(proc, result):
            result.attribute("from", "directory")
    ''')
    site = tmp_path / "site"
    (site / "acme_plugin-1.0.dist-info").mkdir(parents=True)
    (site / "acme_plugin-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugin\nVersion: 1.0\n")
    (site / "acme_plugin-1.0.dist-info" / "entry_points.txt").write_text("[btengine.plugins]\nacme = acme_plugin\n")
    write(site, "acme_plugin.py", '''
        from btengine.plugins import classifier
        @classifier
        def acme(proc, result):
            result.classify("acme-crash", "probably_not_exploitable", "seen by an installed plugin")
    ''')
    env = {"BTENGINE_PLUGIN_PATH": str(d), "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
           "PYTHONPATH": f"{subprocess_env()['PYTHONPATH']}{os.pathsep}{site}"}
    r = classify(cores(entry), "--json", env=env)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["attributes"] == {"from": "directory"}
    assert [c["kind"] for c in row["classifications"]] == ["acme-crash"]
    # Without the defaults, neither.
    row = json.loads(classify(cores(entry), "--json", "--no-default-plugins", env=env).stdout)[0]
    assert row["attributes"] == {} and row["classifications"] == []


def test_failing_plugins_are_reported_and_the_others_stay(cores, tmp_path):
    entry = entry_named(VARS_C)
    write(tmp_path, "good.py", GOOD)
    write(tmp_path, "raising.py", '''
        from btengine.plugins import classifier
        @classifier
        def boom(proc, result):
            result.attribute("half", "done")      # dropped with the failure
            raise RuntimeError("kaboom")
    ''')
    write(tmp_path, "hanging.py", '''
        import time
        from btengine.plugins import classifier
        @classifier
        def forever(proc, result):
            while True:
                time.sleep(0.05)
    ''')
    write(tmp_path, "nonsense.py", '''
        from btengine.plugins import classifier
        @classifier
        def returns(proc, result):
            return {"kind": "not like this"}
        @classifier
        def bad_severity(proc, result):
            result.classify("x", "catastrophic", "no such severity")
    ''')
    write(tmp_path, "broken.py", "this is not python\n")
    r = classify(cores(entry), "--plugin", tmp_path, "--no-default-plugins", "--timeout", "1", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert [c["kind"] for c in row["classifications"]] == ["counter-at-default"]
    assert row["attributes"] == {"team": "core"}
    errors = {(e["plugin"], e["function"]): (e["kind"], e["message"]) for e in row["plugin_errors"]}
    assert errors[("raising", "boom")][0] == "exception" and "kaboom" in errors[("raising", "boom")][1]
    assert errors[("hanging", "forever")][0] == "timeout"
    assert errors[("nonsense", "returns")][0] == "invalid"
    assert errors[("nonsense", "bad_severity")][0] == "exception" and "severity" in errors[("nonsense", "bad_severity")][1]
    assert errors[("broken", "<import>")][0] == "load"
    # The table reports them on stderr.
    t = classify(cores(entry), "--plugin", tmp_path, "--no-default-plugins", "--timeout", "1")
    assert "plugin raising.boom: exception" in t.stderr and "counter-at-default" in t.stdout


def test_classify_many_files(cores, tmp_path):
    good, libc = entry_named(VARS_C), entry_named(LIBC_CRASH)
    d = tmp_path / "crashes"
    d.mkdir()
    os.symlink(cores(good), d / "a.core")
    (d / "b.garbage").write_text("not a crash\n")
    r = classify(d, cores(libc), "--plugin", SHIPPED, "--no-default-plugins", "--jsonl")
    assert r.returncode == 1  # one file failed
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [Path(x["file"]).name for x in rows] == ["a.core", "b.garbage", "core"]
    assert "error" in rows[1] and "not a core" in rows[1]["error"]
    assert rows[0]["top_frame"] == "vc_inner" and rows[0]["classifications"] == []
    third = rows[2]["classifications"]
    assert [c["kind"] for c in third] == ["third-party-crash"], third
    assert third[0]["reason"] == "in third-party library libc.so.6"
    assert dict((e["fact"], e["value"]) for e in third[0]["evidence"])["called_from"] == "record_length"
    assert rows[2]["attributes"] == {"third_party_library": "libc.so.6"}
    table = classify(d, "--no-default-plugins")
    assert re.search(r"a\.core\s+null-deref\s+probably_exploitable\s+[0-9a-f]{16}\s+vc_inner", table.stdout)
    assert "error: FormatError" in table.stdout


def test_third_party_with_an_application_prefix(cores, tmp_path):
    libc = entry_named(LIBC_CRASH)
    plugin = plugins.load_module(SHIPPED / "third_party.py")
    os.environ["BTENGINE_APP_PREFIX"] = "/lib:/usr/lib"  # libc is "ours" now
    try:
        with btengine.open(cores(libc), exe=libc["path"]) as proc:
            assert plugins.run(proc, [plugin]).classifications == []
    finally:
        del os.environ["BTENGINE_APP_PREFIX"]


def test_docs_examples_run(cores, tmp_path):
    entry = entry_named(VARS_C)
    blocks = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), re.S | re.M)
    assert blocks, "docs/plugins.md lost its examples"
    ns = {"core_path": str(cores(entry)), "exe_path": entry["path"], "tmp_dir": str(tmp_path),
          "__name__": "__docs__"}
    for block in blocks:
        exec(compile(block, str(DOC), "exec"), ns)
