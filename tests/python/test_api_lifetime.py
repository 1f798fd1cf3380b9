"""Lifetime and misuse: attach resumes the target however the `with` block or the interpreter
ends; objects of a closed target raise ClosedError; bad paths, garbage files, unmapped memory,
a missing pid, null pointers, out-of-range indexes raise clear Python exceptions. Everything
risky runs in a child interpreter, which must exit normally (not die from a signal)."""

from __future__ import annotations

import gc
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import btengine
import e2e_util as u
from pytest_util import entry_named, subprocess_env

HERE = Path(__file__).resolve().parent
VARS_C = "vars_c.gcc-O0-dwarf5-pie-fp"
THREADS = "threads_cpp.gcc-O0-dwarf5-pie-fp"


def _states(pid):
    return {t: u.proc_state(pid, t) for t in u.task_ids(pid)}


def _assert_running(pid):
    """Every thread runs on (blocked in the kernel, S, or running, R), none ptrace-stopped (t)."""
    deadline = time.monotonic() + 5
    while True:
        states = _states(pid)
        if states and all(s in ("S", "R") for s in states.values()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} was not resumed: thread states {states}")
        time.sleep(0.01)


def _assert_stopped(pid):
    states = _states(pid)
    assert states and all(s == "t" for s in states.values()), states


def test_attach_resumes_on_normal_exit(paused_process):
    proc = paused_process(entry_named(THREADS)["path"])
    with btengine.attach(proc.pid) as p:
        _assert_stopped(proc.pid)
        assert len(p.threads) == 6
        assert any(f.function == "workers::locker_take" for t in p.threads for f in t.frames)
    assert p.closed
    _assert_running(proc.pid)


def test_attach_resumes_on_exception(paused_process):
    proc = paused_process(entry_named(THREADS)["path"])
    with pytest.raises(ZeroDivisionError):
        with btengine.attach(proc.pid) as p:
            p.threads[0].frames
            _assert_stopped(proc.pid)
            1 / 0
    _assert_running(proc.pid)
    with pytest.raises(btengine.ClosedError):
        p.threads


def test_attach_resumes_when_garbage_collected(paused_process):
    proc = paused_process(entry_named(THREADS)["path"])
    p = btengine.attach(proc.pid)
    thread = p.threads[0]
    del p
    gc.collect()
    # A Thread keeps its Process open: still readable, the target still stopped.
    assert thread.frames[0].function
    _assert_stopped(proc.pid)
    del thread
    gc.collect()
    _assert_running(proc.pid)


def test_attach_twice_is_a_permission_error(paused_process):
    proc = paused_process(entry_named(THREADS)["path"])
    with btengine.attach(proc.pid):
        with pytest.raises(PermissionError, match="already traced"):
            btengine.attach(proc.pid)
    _assert_running(proc.pid)


@pytest.mark.parametrize("when", ["attached", "walking"])
def test_attach_resumes_when_interpreter_killed(paused_process, when):
    """SIGKILL of the interpreter holding the target: the kernel detaches, the target runs on."""
    proc = paused_process(entry_named(THREADS)["path"])
    code = (
        "import sys, time, btengine\n"
        f"p = btengine.attach({proc.pid})\n"
        "if sys.argv[1] == 'walking':\n"
        "    for t in p.threads:\n"
        "        for f in t.frames:\n"
        "            [v.text for v in f.variables]\n"
        "print('ATTACHED', flush=True)\n"
        "time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", code, when], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=subprocess_env())
    try:
        line = child.stdout.readline()
        assert line == b"ATTACHED\n", (line, child.stderr.read() if child.poll() is not None else "")
        _assert_stopped(proc.pid)
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    _assert_running(proc.pid)
    # And it can be attached again.
    with btengine.attach(proc.pid) as p:
        assert p.pid == proc.pid
    _assert_running(proc.pid)


def test_capture_resumes(paused_process, tmp_path):
    proc = paused_process(entry_named(THREADS)["path"])
    r = btengine.capture(proc.pid, tmp_path / "a.btsnap", variables=False)
    assert r.size > 0
    _assert_running(proc.pid)


def test_capture_marks_what_it_read_after_letting_the_process_go(paused_process, tmp_path):
    """The process runs on once its stacks are copied: the heap vector a thread keeps rewriting
    (tests/fixtures/live/heap_writer.cpp) is read afterwards and its Variable says so; the
    stack's locals do not; keep_stopped reads everything while the process is stopped."""
    exe = tmp_path / "heap_writer"
    subprocess.run(["g++", "-g", "-O0", "-pthread",
                    str(u.REPO_ROOT / "tests" / "fixtures" / "live" / "heap_writer.cpp"), "-o", str(exe)],
                   check=True)
    proc = paused_process(str(exe))
    marks = {}
    for keep in (False, True):
        r = btengine.capture(proc.pid, tmp_path / f"k{keep}.btsnap", keep_stopped=keep)
        _assert_running(proc.pid)
        with btengine.open(r.path) as p:
            frame = next(f for t in p.threads for f in t.frames if f.function == "wait_here")
            marks[keep] = {v.name: v.read_after_release for v in frame.variables}
    assert marks[False]["values"] is True and marks[False]["answer"] is False, marks
    assert not any(marks[True].values()), marks


@pytest.fixture(scope="module")
def misuse_results(cores, tmp_path_factory):
    entry = entry_named(VARS_C)
    core = cores(entry)
    garbage = tmp_path_factory.mktemp("garbage") / "garbage.core"
    garbage.write_bytes(b"\x7fELF" + b"garbage" * 500)
    proc = u.start_paused(entry["path"])
    try:
        u.wait_all_sleeping(proc.pid)
        run = subprocess.run([sys.executable, str(HERE / "misuse_child.py"), str(core),
                              entry["path"], str(garbage), str(proc.pid)],
                             capture_output=True, text=True, timeout=120, env=subprocess_env())
        assert run.returncode == 0, (
            f"the child interpreter {'died from signal ' + str(-run.returncode) if run.returncode < 0 else 'exited ' + str(run.returncode)}"
            f":\n{run.stdout}\n{run.stderr}")
        _assert_running(proc.pid)
    finally:
        u.stop_paused(proc)
    return json.loads(run.stdout)


EXPECTED = {
    "open_missing": "FileNotFoundError",
    "open_garbage": "FormatError",
    "open_directory": "IsADirectoryError",
    "open_missing_exe": "FileNotFoundError",
    "attach_no_such_pid": "ProcessLookupError",
    "attach_zero": "ValueError",
    "attach_self": "ValueError",
    "capture_no_such_pid": "ProcessLookupError",
    "capture_bad_path": "FileNotFoundError",
    "read_unmapped": "MemoryError",
    "read_negative": "ValueError",
    "read_too_much": "ValueError",
    "read_wrapping": "ValueError",
    "thread_unknown": "KeyError",
    "variable_unknown": "KeyError",
    "deref_null": "MemoryError",
    "deref_int": "TypeError",
    "deref_void_pointer": "TypeError",
    "deref_function_pointer": "TypeError",
    "element_out_of_range": "IndexError",
    "element_negative_out_of_range": "IndexError",
    "element_of_struct": "TypeError",
    "element_of_int_negative": "TypeError",
    "field_unknown": "KeyError",
    "field_of_int": "TypeError",
    "string_of_int": "TypeError",
    "int_of_struct": "TypeError",
    "float_of_array": "TypeError",
}


KNOWN_BUGS: dict = {}  # case -> reason, for an engine bug not fixed yet (strict xfail)


@pytest.mark.parametrize("case", [
    pytest.param(c, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[c])] if c in KNOWN_BUGS else [])
    for c in sorted(EXPECTED)])
def test_misuse_raises(misuse_results, case):
    assert misuse_results[case] == EXPECTED[case], misuse_results.get(case + ".message")
    assert misuse_results[case + ".message"], "an empty message is not a clear one"


def test_exception_hierarchy():
    assert issubclass(btengine.FormatError, ValueError)
    assert issubclass(btengine.ClosedError, ValueError)
    assert not issubclass(btengine.ClosedError, btengine.FormatError)


def test_closed_objects_raise(misuse_results):
    closed = {k: v for k, v in misuse_results.items()
              if k.startswith("closed.") and not k.startswith("closed.raw.")
              and not k.endswith(".message") and k != "closed.repr"}
    assert len(closed) > 50
    wrong = {k: v for k, v in closed.items() if v != "ClosedError"}
    assert not wrong, wrong
    assert misuse_results["closed.Process.kind.message"].startswith("the target is closed")
    assert misuse_results["closed.repr"].startswith("ok: ['<Process (closed)>'")


def test_closed_raw_extension_objects_do_not_crash(misuse_results):
    """The extension's own objects (under the package's) after close: no crash (the child
    exited normally); they return their cached data or raise."""
    raw = [k for k in misuse_results if k.startswith("closed.raw.") and not k.endswith(".message")]
    assert len(raw) >= 10


def test_closed_raw_extension_objects_raise(misuse_results):
    raw = {k: v for k, v in misuse_results.items()
           if k.startswith("closed.raw.Value.") and not k.endswith(".message")}
    assert all(v == "ClosedError" for v in raw.values()), raw


def test_read_unmapped_live(paused_process):
    proc = paused_process(entry_named(VARS_C)["path"])
    with btengine.attach(proc.pid) as p:
        with pytest.raises(btengine.FormatError, match="Cannot access memory at address 0x8"):
            p.read(8, 8)
        regions = p.regions
        last = next(r for r in regions if r.path == "[stack]")
        assert not any(o.start == last.end for o in regions)
        ok = p.read(last.end - 8, 8)
        assert len(ok) == 8
        with pytest.raises(btengine.FormatError):
            p.read(last.end - 8, 16)   # crosses into unmapped memory


def test_read_unmapped_snapshot(cores, tmp_path):
    entry = entry_named(VARS_C)
    snap = tmp_path / "s.btsnap"
    run = u.run_bt(["snapshot", cores(entry), "--exe", entry["path"], "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    with btengine.open(snap) as p:
        sp = p.crashed_thread.registers["rsp"]
        assert len(p.read(sp, 16)) == 16
        with pytest.raises(btengine.FormatError):
            p.read(0x10, 4)


def test_truncated_snapshot(cores, tmp_path):
    entry = entry_named(VARS_C)
    snap = tmp_path / "s.btsnap"
    assert u.run_bt(["snapshot", cores(entry), "--exe", entry["path"], "-o", snap, "-q"]).returncode == 0
    data = snap.read_bytes()
    for n in (8, 40, len(data) // 2, len(data) - 1):
        cut = tmp_path / f"cut{n}.btsnap"
        cut.write_bytes(data[:n])
        with pytest.raises(btengine.FormatError):
            btengine.open(cut)


def test_truncated_core(cores, tmp_path):
    entry = entry_named(VARS_C)
    data = Path(cores(entry)).read_bytes()
    for n in (4, 64, 1000):
        cut = tmp_path / f"core{n}"
        cut.write_bytes(data[:n])
        with pytest.raises(btengine.FormatError):
            btengine.open(cut, exe=entry["path"])


def test_paths_accept_pathlike(cores):
    entry = entry_named(VARS_C)
    with btengine.open(Path(cores(entry)), exe=Path(entry["path"])) as p:
        assert p.kind == "core"


RACE = """
import sys, threading, btengine
core, exe = sys.argv[1], sys.argv[2]
for _ in range(100):
    p = btengine.open(core, exe=exe)
    t = p.crashed_thread
    sp = t.registers["rsp"]
    ptr = next(f for f in t.frames if f.function == "vc_middle")["h"].value["r"]
    stop = False
    def reader():
        while not stop:
            try:
                p.read(sp, 4096)
                ptr.deref()["name"].string()
            except btengine.ClosedError:
                pass
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for th in threads:
        th.start()
    p.close()
    stop = True
    for th in threads:
        th.join()
print("OK")
"""


def test_close_while_other_threads_read(cores):
    """close() from one thread while others read memory (the engine reads without the GIL):
    the readers get ClosedError, the interpreter does not crash."""
    entry = entry_named(VARS_C)
    run = subprocess.run([sys.executable, "-c", RACE, str(cores(entry)), entry["path"]],
                         capture_output=True, text=True, timeout=300, env=subprocess_env())
    assert run.returncode == 0 and run.stdout.strip() == "OK", (run.returncode, run.stderr[-2000:])
