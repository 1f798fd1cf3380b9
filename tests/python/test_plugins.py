"""Plugins (btengine.plugins, docs/plugins.md): loaded from a path, from BTENGINE_PLUGIN_PATH and
from an installed package's `btengine.plugins` entry point, they change `btengine classify`'s
output as documented; a raising, a hanging and a nonsense-returning plugin are each reported in
plugin_errors while the others' results stay; frame handlers run only for the frames they ask
for; plugins/third_party.py on real crashes; plugins/deadlock.py on a three-thread cycle through
mutexes and a rwlock (data/lock_graph.c), on mere contention, and on a snapshot that lacks the
lock words; plugins/oom.py on std::bad_alloc, a used NULL from malloc, an "out of memory" assert
and a plain NULL write (data/oom.cpp); docs/plugins.md's examples run."""

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
from pytest_util import entry_named, plugin_dir_and_site, subprocess_env

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
    d, site = plugin_dir_and_site(tmp_path)
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
    try:
        for block in blocks:
            exec(compile(block, str(DOC), "exec"), ns)
    finally:
        plugins.clear_printers()  # the page's printer must not reach other tests' Value text


LOCKS_SOURCE = Path(__file__).resolve().parent / "data" / "lock_graph.c"


@pytest.fixture(scope="module")
def lock_program(tmp_path_factory):
    d = tmp_path_factory.mktemp("locks")
    exe = d / "lock_graph"
    subprocess.run(["gcc", "-g", "-O1", "-pthread", str(LOCKS_SOURCE), "-o", str(exe)], check=True)
    return exe


def lock_core(exe, mode, tmp_path):
    old = os.environ.get("LOCK_MODE")
    os.environ["LOCK_MODE"] = mode
    try:
        return u.make_core(str(exe), tmp_path / mode)
    finally:
        if old is None:
            del os.environ["LOCK_MODE"]
        else:
            os.environ["LOCK_MODE"] = old


def deadlock_findings(source, exe):
    plugin = plugins.load_module(SHIPPED / "deadlock.py")
    with btengine.open(source, exe=exe) as proc:
        workers = sorted(t.tid for t in proc.threads if t.tid != proc.pid)
        report = plugins.run(proc, [plugin])
    assert not report.plugin_errors, report.plugin_errors
    return report, workers


def test_deadlock_plugin_finds_a_cycle_through_a_rwlock(lock_program, tmp_path):
    """Three threads, two mutexes and a write-held rwlock: the built-in analysis (mutexes only)
    misses it; the plugin names the cycle, each thread's function, lock and its holder."""
    core = lock_core(lock_program, "cycle", tmp_path)
    report, (a, b, c) = deadlock_findings(core, lock_program)
    [found] = report.classifications
    facts = dict(found.evidence)
    assert found.kind == "deadlock" and found.rule == "plugin:deadlock"
    assert facts["cycle"] == f"{a} -> {b} -> {c} -> {a}"
    assert re.fullmatch(rf"in ta, waits for mutex 0x[0-9a-f]+ held by {b}", facts[f"thread {a}"])
    assert re.fullmatch(rf"in tb, waits for rwlock 0x[0-9a-f]+ held by {c}", facts[f"thread {b}"])
    assert re.fullmatch(rf"in tc, waits for mutex 0x[0-9a-f]+ held by {a}", facts[f"thread {c}"])
    with btengine.open(core, exe=lock_program) as proc:
        assert not any(k.kind == "deadlock" for k in proc.analysis.classifications)


def test_deadlock_plugin_live_through_bt(lock_program, tmp_path):
    """A two-thread mutex cycle in a live process: bt --plugin runs the plugin on its capture
    (which keeps the lock words) after the process runs on, and bt snapshot stores the finding."""
    p = subprocess.Popen([str(lock_program)], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LOCK_MODE="pair"))
    try:
        assert p.stdout.readline().strip() == "ready"
        assert u.wait_all_sleeping(p.pid, timeout=5)
        r = u.run_bt([p.pid, "--plugin", SHIPPED / "deadlock.py", "--json", "-q"])
        assert r.returncode == 0, r.describe()
        found = [c for c in json.loads(r.stdout)["plugins"]["classifications"] if c["kind"] == "deadlock"]
        assert len(found) == 1, r.stdout
        facts = {e["fact"]: e["value"] for e in found[0]["evidence"]}
        a, b = sorted(int(k.split()[1]) for k in facts if k.startswith("thread "))
        assert facts["cycle"] in (f"{a} -> {b} -> {a}", f"{b} -> {a} -> {b}")
        assert re.fullmatch(rf"in ta, waits for mutex 0x[0-9a-f]+ held by {b}", facts[f"thread {a}"])
        assert re.fullmatch(rf"in tb, waits for mutex 0x[0-9a-f]+ held by {a}", facts[f"thread {b}"])
        assert u.wait_all_sleeping(p.pid, timeout=5), "the process runs on"
        snap = tmp_path / "pair.btsnap"
        assert u.run_bt(["snapshot", p.pid, "-o", snap, "-q", "--plugin", SHIPPED / "deadlock.py"]).returncode == 0
    finally:
        p.kill()
        p.wait()
    shown = u.run_bt(["show", snap, "--json"])
    stored = json.loads(shown.stdout)["plugins"]["classifications"]
    assert [c["kind"] for c in stored] == ["deadlock"]


def test_deadlock_plugin_leaves_contention_alone(lock_program, tmp_path):
    core = lock_core(lock_program, "contention", tmp_path)
    report, _ = deadlock_findings(core, lock_program)
    assert report.classifications == []


def test_deadlock_plugin_on_a_snapshot_says_what_it_could_not_read(lock_program, tmp_path):
    p = subprocess.Popen([str(lock_program)], stdout=subprocess.PIPE, text=True,
                         env=dict(os.environ, LOCK_MODE="cycle"))
    try:
        assert p.stdout.readline().strip() == "ready"
        u.wait_all_sleeping(p.pid, timeout=5)
        snap = tmp_path / "locks.btsnap"
        assert u.run_bt(["snapshot", str(p.pid), "-o", str(snap), "-q"]).returncode == 0
    finally:
        p.kill()
        p.wait()
    row = json.loads(classify(snap, "--plugin", SHIPPED / "deadlock.py", "--no-default-plugins",
                              "--json").stdout)[0]
    assert row["classifications"] == [] and row["plugin_errors"] == []
    assert row["attributes"]["deadlock_check"].startswith("incomplete: the locks of 3 blocked")


@pytest.fixture(scope="module")
def oom_program(tmp_path_factory):
    d = tmp_path_factory.mktemp("oom")
    exe = d / "oom"
    subprocess.run(["g++", "-g", "-O0", str(Path(__file__).resolve().parent / "data" / "oom.cpp"),
                    "-o", str(exe)], check=True)
    return exe


@pytest.mark.parametrize("mode, reason", [
    ("bad_alloc", "an allocation failed: uncaught std::bad_alloc"),
    ("malloc_null", "a failed allocation's NULL was used (buffer; errno is ENOMEM)"),
    ("assert_oom", "aborted after an allocation failed: "),
    ("plain_null", None),
])
def test_oom_plugin(oom_program, tmp_path, mode, reason):
    old = os.environ.get("OOM_MODE")
    os.environ["OOM_MODE"] = mode
    try:
        core = u.make_core(str(oom_program), tmp_path / mode)
    finally:
        if old is None:
            del os.environ["OOM_MODE"]
        else:
            os.environ["OOM_MODE"] = old
    row = json.loads(classify(core, "--exe", oom_program, "--plugin", SHIPPED / "oom.py",
                              "--no-default-plugins", "--json").stdout)[0]
    assert row["plugin_errors"] == []
    if reason is None:
        assert row["classifications"] == [] and row["class"] == "null-deref"
        return
    [c] = row["classifications"]
    assert c["kind"] == "out-of-memory" and c["reason"].startswith(reason), c
    if mode == "assert_oom":
        assert "out of memory" in c["reason"] and "Assertion" in c["reason"]
    if mode == "malloc_null":
        assert row["highlighted"][0]["variable"] == "buffer"


def test_classify_a_live_process_through_a_snapshot(paused_process, tmp_path):
    """A PID is snapshotted first (the process runs on before any plugin runs)."""
    entry = entry_named("threads_cpp.gcc-O0-dwarf5-pie-fp")
    live = paused_process(entry["path"])
    tag = write(tmp_path, "tag.py", '''
        from btengine.plugins import classifier
        @classifier
        def names(proc, result):
            result.attribute("kind_seen", proc.kind)
            result.attribute("threads", len(proc.threads))
    ''')
    r = classify(live.pid, "--plugin", tag, "--no-default-plugins", "--json")
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)[0]
    assert row["file"] == str(live.pid) and row["kind"] == "snapshot"
    assert row["attributes"] == {"kind_seen": "snapshot", "threads": "6"}
    assert u.wait_all_sleeping(live.pid)
