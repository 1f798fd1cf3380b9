"""plugins/cpython.py on Debian's python3.11 (debug symbols from python3.11-dbg) running
data/py_stacks.py: the Python stack of every thread equals the one the script itself wrote from
sys._current_frames() at that moment — live (threads in time.sleep, a 40-deep recursion, a hook
called from json's C scanner) and on cores (a crash through ctypes, a SIGSEGV from inside json's C
scanner) — and equals `py-spy dump`'s; each Python frame is annotated on the native
_PyEval_EvalFrameDefault frame that runs it (an interleaved stack), and a crash is classified with
the C extension it happened in and the Python function that called it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import btengine
import e2e_util as u
from pytest_util import entry_named, subprocess_env

PYTHON = Path("/usr/bin/python3.11")
SCRIPT = Path(__file__).parent / "data" / "py_stacks.py"
PLUGIN = u.REPO_ROOT / "plugins" / "cpython.py"


def _has_debug_info() -> bool:
    if not PYTHON.exists():
        return False
    out = subprocess.run(["readelf", "-n", str(PYTHON)], capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    return bool(m) and Path(f"/usr/lib/debug/.build-id/{m.group(1)[:2]}/{m.group(1)[2:]}.debug").exists()


pytestmark = pytest.mark.skipif(not _has_debug_info(),
                                reason="needs Debian's python3.11 and python3.11-dbg (scripts/setup)")


@pytest.fixture
def program(tmp_path, monkeypatch):
    """An executable that runs the script with python3.11 (exec: the process is the interpreter),
    and where the script writes its own view of the stacks."""
    wrapper = tmp_path / "py_stacks"
    wrapper.write_text(f"#!/bin/sh\nexec {PYTHON} {SCRIPT} \"$@\"\n")
    wrapper.chmod(0o755)
    stacks = tmp_path / "stacks.json"
    monkeypatch.setenv("PY_STACKS_OUT", str(stacks))
    return wrapper, stacks


def expected(stacks: Path) -> dict:
    return {int(tid): [f"{q} ({f}:{line})" for q, f, line in frames]
            for tid, frames in json.loads(stacks.read_text()).items()}


def bt_plugin(*args) -> dict:
    env = subprocess_env()
    env.pop("BTENGINE_PLUGIN_PATH", None)
    r = subprocess.run([str(u.bt_path()), *map(str, args), "--plugin", str(PLUGIN), "--json"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def python_stacks(doc) -> dict:
    p = doc["plugins"]
    assert p["plugin_errors"] == [], p["plugin_errors"]
    return {int(k.split(".")[1]): v.split(" < ") for k, v in p["attributes"].items() if k.startswith("python_stack.")}


def annotated(doc) -> dict:
    """Per thread, the Python frames in the order of the native frames they are annotated on."""
    out = {}
    for a in sorted(doc["plugins"]["annotations"], key=lambda a: (a["thread"], a["frame"])):
        out.setdefault(a["thread"], []).append(a["text"].removeprefix("python: "))
    return out


def snapshot_of(pid: int, tmp_path: Path) -> Path:
    """A snapshot that keeps the interpreter's memory, as bt gives plugins."""
    path = tmp_path / "live.btsnap"
    btengine.capture(pid, path, writable_memory=True, max_memory_bytes=256 << 20)
    return path


def test_live_stacks_equal_the_interpreter_s_own_and_py_spy_s(program, paused_process, tmp_path):
    exe, stacks = program
    live = paused_process(exe)
    doc = bt_plugin(live.pid)
    want = expected(stacks)
    assert python_stacks(doc) == want
    assert len(want) == 4 and max(len(v) for v in want.values()) > 40  # the recursion is there
    # Annotations keep the order inside one native frame: the same stack, interleaved.
    assert annotated(doc) == want
    # The json thread: two runs of Python frames with json's C scanner between them.
    json_tid = next(t for t, frames in want.items() if frames[2].startswith("hook "))
    thread = next(t for t in doc["threads"] if t["tid"] == json_tid)
    evals = [f["index"] for f in thread["frames"] if f["function"] == "_PyEval_EvalFrameDefault"]
    scanner = [f["index"] for f in thread["frames"] if "_json.cpython" in (f["module"] or "")]
    assert scanner and evals[0] < scanner[0] < evals[1]
    hook_frame = next(a["frame"] for a in doc["plugins"]["annotations"]
                      if a["thread"] == json_tid and a["text"].startswith("python: hook "))
    decode_frame = next(a["frame"] for a in doc["plugins"]["annotations"]
                        if a["thread"] == json_tid and "JSONDecoder.raw_decode" in a["text"])
    assert hook_frame == evals[0] and decode_frame == evals[1]
    # The plugin's interleaved() gives the same order as the annotations, native frames between.
    import importlib.util
    spec = importlib.util.spec_from_file_location("cpython_plugin_module", PLUGIN)
    module = importlib.util.module_from_spec(spec)
    from btengine import plugins
    plugins._registering = plugins.Plugin("cpython", str(PLUGIN))
    try:
        spec.loader.exec_module(module)
    finally:
        plugins._registering = None
    with btengine.open(snapshot_of(live.pid, tmp_path)) as proc:
        thread = next(t for t in proc.threads if t.tid == json_tid)
        mixed = module.interleaved(thread, module.python_stacks(proc)[json_tid])
    assert [text for kind, text in mixed if kind == "python"] == want[json_tid]
    kinds = "".join("p" if kind == "python" else "n" for kind, _ in mixed)
    assert re.search(r"p+n+p+", kinds), kinds
    assert u.wait_all_sleeping(live.pid)
    # py-spy reads the same process its own way.
    if shutil.which("py-spy") is None:
        pytest.skip("py-spy is not installed")
    r = subprocess.run(["py-spy", "dump", "--pid", str(live.pid), "--json"], capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        pytest.skip(f"py-spy cannot read processes here: {r.stderr.strip()[:200]}")
    spy = {t["os_thread_id"]: [f"{f['name']} ({f['filename']}:{f['line']})" for f in t["frames"]]
           for t in json.loads(r.stdout)}
    assert spy == want


def test_crash_through_ctypes(program, tmp_path):
    exe, stacks = program
    core = u.make_core(str(exe), tmp_path)
    doc = bt_plugin(core)
    want = expected(stacks)
    assert python_stacks(doc) == want
    crash = next(c for c in doc["plugins"]["classifications"] if c["kind"] == "python-crash")
    facts = {e["fact"]: e["value"] for e in crash["evidence"]}
    assert facts["extension"].startswith("_ctypes.cpython-311")
    assert facts["python_function"] == "Crasher.crash_here"
    assert want[doc["crashed_tid"]][0] == f"Crasher.crash_here ({SCRIPT}:{facts['python_line']})"
    assert crash["reason"].startswith("in C extension _ctypes (")
    assert crash["severity"] == doc["analysis"]["classifications"][0]["severity"]


def test_crash_inside_a_json_c_call(program, tmp_path):
    exe, stacks = program
    (tmp_path / "run").write_text(f"#!/bin/sh\nexec {exe} crash-json\n")
    (tmp_path / "run").chmod(0o755)
    core = u.make_core(str(tmp_path / "run"), tmp_path)
    doc = bt_plugin(core)
    want = expected(stacks)
    assert python_stacks(doc) == want and annotated(doc) == want
    main = want[doc["crashed_tid"]]
    assert main[0].startswith("hook (") and main[1].startswith("JSONDecoder.raw_decode (")
    crash = next(c for c in doc["plugins"]["classifications"] if c["kind"] == "python-crash")
    assert {e["fact"]: e["value"] for e in crash["evidence"]}["python_function"] == "hook"


def test_not_a_python_process(cores):
    entry = entry_named("vars_c.gcc-O0-dwarf5-pie-fp")
    p = bt_plugin(cores(entry), "--exe", entry["path"])["plugins"]
    assert p["attributes"] == {} and p["classifications"] == [] and p["plugin_errors"] == []
