"""A live process is stopped only while bt copies its registers and stacks: bt unwinds and reads
variables after letting it run on (tests/fixtures/live/heap_writer.cpp: a thread rewrites a heap
vector without pause). What came from the copied stacks is the frozen state; what came from the
running process's writable memory afterwards (the vector's elements) is marked read_after_release
in `bt --json`, in the snapshot's variables and in its memory_read_after_release ranges, never
passed off as frozen. --keep-stopped keeps the old behaviour: nothing is read after release."""

from __future__ import annotations

import json
import subprocess

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "live" / "heap_writer.cpp"


@pytest.fixture(scope="module")
def heap_writer(tmp_path_factory):
    exe = tmp_path_factory.mktemp("heap_writer") / "heap_writer"
    subprocess.run(["g++", "-g", "-O0", "-pthread", str(SOURCE), "-o", str(exe)], check=True)
    return exe


def wait_here(doc) -> dict:
    frame = next(f for t in doc["threads"] for f in t["frames"] if f.get("function") == "wait_here")
    return {v["name"]: v for v in frame["variables"]}


def state(pid) -> str:
    return next(x.split()[1] for x in open(f"/proc/{pid}/status") if x.startswith("State:"))


def test_heap_read_after_release_is_marked(bt_bin, heap_writer, paused_process):
    p = paused_process(heap_writer)
    run = u.run_bt(["--json", "--vars", str(p.pid)])
    assert run.returncode == 0, run.describe()
    v = wait_here(json.loads(run.stdout))
    # On the stack (copied while stopped): frozen.
    for name in ("answer", "on_stack", "elements", "counter"):
        assert v[name]["read_after_release"] is False, name
    assert v["answer"]["value"] == "42" and v["on_stack"]["value"] == "{1, 2, 3, 4}"
    # The vector's elements are on the heap, read while the writer thread runs.
    assert v["values"]["value"].startswith("std::vector of length 16")
    assert v["values"]["read_after_release"] is True
    assert state(p.pid) in ("S", "R"), "the process runs on"
    # The text keeps gdb's lines and lists what was read after release below them.
    text = u.run_bt(["--vars", str(p.pid)])
    assert text.returncode == 0, text.describe()
    late = text.stdout.split("Read after the process ran on", 1)
    assert len(late) == 2, text.stdout[-2000:]
    assert "  ~ values in #" in late[1] and " wait_here (thread " in late[1]
    assert "~ answer " not in late[1] and "~ on_stack " not in late[1]
    # Kept stopped until everything is read: nothing is marked.
    run = u.run_bt(["--json", "--vars", "--keep-stopped", str(p.pid)])
    assert run.returncode == 0, run.describe()
    v = wait_here(json.loads(run.stdout))
    assert not any(x["read_after_release"] for x in v.values())
    kept = u.run_bt(["--vars", "--keep-stopped", str(p.pid)])
    assert "Read after the process ran on" not in kept.stdout


def test_snapshot_lists_memory_read_after_release(bt_bin, heap_writer, paused_process, tmp_path):
    p = paused_process(heap_writer)
    marked = {}
    for args in ([], ["--keep-stopped"]):
        snap = tmp_path / f"s{len(args)}.btsnap"
        run = u.run_bt(["snapshot", str(p.pid), "-o", str(snap), "-q"] + args)
        assert run.returncode == 0, run.describe()
        shown = u.run_bt(["show", "--json", "--vars", str(snap)])
        assert shown.returncode == 0, shown.describe()
        doc = json.loads(shown.stdout)
        v = wait_here(doc)
        elements = int(v["elements"]["value"].split()[0], 16)
        ranges = [(int(a, 16), int(b, 16)) for a, b in doc["snapshot"]["memory_read_after_release"]]
        marked[bool(args)] = (v["values"]["read_after_release"],
                              any(a <= elements and elements + 16 * 8 <= b for a, b in ranges), ranges)
        assert doc["snapshot"]["stopped_ms"] is not None
        shown_text = u.run_bt(["show", "--vars", str(snap)]).stdout
        assert ("~ values in #" in shown_text) == (not args), shown_text[-1500:]
    assert marked[False][:2] == (True, True), marked  # the vector's buffer, read after release
    assert marked[True] == (False, False, []), marked


MANY_STACKS = u.REPO_ROOT / "tests" / "fixtures" / "live" / "many_stacks.c"


def test_stacks_copied_in_batches_survive_an_unreadable_one(bt_bin, paused_process, tmp_path, monkeypatch):
    """1,100 threads (more stacks than one process_vm_readv takes) and, among them, one whose
    stack cannot be read: every other thread's stack is still copied while the process is
    stopped (its local read as frozen state, with its own value), and the process runs on."""
    exe = tmp_path / "many_stacks"
    subprocess.run(["gcc", "-g", "-O1", "-pthread", str(MANY_STACKS), "-o", str(exe)], check=True)
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0")  # see the fixture's comment
    p = paused_process(exe)
    run = u.run_bt(["--json", "--vars", str(p.pid)])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    assert len(doc["threads"]) == 1102
    marks = []
    for t in doc["threads"]:
        hold = [f for f in t["frames"] if f.get("function") == "hold"]
        if not hold:
            continue
        v = {x["name"]: x for x in hold[0]["variables"]}
        assert v["index"]["read_after_release"] is False, t["tid"]
        assert v["mark"]["read_after_release"] is False, t["tid"]
        assert v["mark"]["value"] == v["index"]["value"], t["tid"]
        marks.append(int(v["index"]["value"]))
    # Every thread on a readable stack, each with its own index; the one on the unreadable
    # stack has no frame beyond its registers', and says why.
    assert sorted(marks) == list(range(1100))
    lost = [t for t in doc["threads"] if len(t["frames"]) == 1]
    assert len(lost) == 1, [(t["tid"], t["stop_reason"]) for t in lost]
    assert "could not be read" in lost[0]["stop_reason"], lost[0]["stop_reason"]
    assert state(p.pid) in ("S", "R"), "the process runs on"
    snap = u.run_bt(["snapshot", "-q", str(p.pid), "-o", str(tmp_path / "s.btsnap")])
    assert snap.returncode == 0, snap.describe()
    assert state(p.pid) in ("S", "R"), "the process runs on"


def test_stacks_come_first_when_writable_memory_fills_the_budget(bt_bin, heap_writer, paused_process, tmp_path):
    """A capture for plugins also keeps writable memory, lowest first, within its budget: every
    thread's stack is still kept (it must come before the budget is spent, not after the
    release), so a debugger or plugin can walk the snapshot from each thread's SP."""
    p = paused_process(heap_writer)
    snap = tmp_path / "plugins.btsnap"
    run = u.run_bt(["snapshot", "-q", "--plugin", u.REPO_ROOT / "plugins" / "stl_extras.py",
                    "--max-memory-bytes", "300000", p.pid, "-o", snap])
    assert run.returncode == 0, run.describe()
    check = u.run_python(
        "import btengine\n"
        f"s = btengine.open({str(snap)!r})\n"
        "for t in s.threads:\n"
        "    sp = t.registers['rsp']\n"
        "    s.read(sp, 64)  # FormatError when the stack was not kept\n"
        "print('stacks kept', len(s.threads))\n")
    assert check.returncode == 0, check.stderr[-2000:]
    assert "stacks kept" in check.stdout
