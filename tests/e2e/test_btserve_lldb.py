"""btserve with lldb 19 over TCP on loopback: the session `bt all`, `frame variable`,
`register read`, `image list` must show what lldb shows when it opens the core itself, for a
core, for the snapshot of that core and for its minidump (bt export --minidump). lldb has no pipe transport (notes: ../shared/notes/
gdb-remote.md), so btserve listens on 127.0.0.1 with port 0 and announces the port."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

import e2e_util as u

LLDB = shutil.which("lldb-19") or shutil.which("lldb")
pytestmark = pytest.mark.skipif(LLDB is None, reason="lldb-19 is not installed (scripts/setup installs it)")

COMMANDS = ["bt all", "frame select 1", "frame variable", "frame select 0", "register read", "image list"]
PROGRAMS = ["threads_cpp.gcc-O0-dwarf5-pie-fp", "vars_c.clang-O2-dwarf5-pie-nofp", "deep_c.gcc-O2-dwarf4-nopie-fp"]


def _lldb(exe, first, timeout=120):
    args = [LLDB, str(exe), "-b", "-o", "settings set use-color false"]
    if first:
        args += ["-o", first]
    for c in COMMANDS:
        args += ["-o", c]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout)


def _sections(out: str):
    """Output of each command (lldb echoes "(lldb) CMD" before it)."""
    parts, name = {}, None
    for line in out.splitlines():
        m = re.match(r"^\(lldb\) (.*)$", line)
        if m:
            name = m.group(1)
            parts[name] = []
        elif name:
            parts[name].append(line)
    return parts


def _frames(lines):
    """`frame #N: PC module`function at file:line`, arguments left out: served through btserve,
    lldb also sees read-only data the core lacks (string literals: bt serves them from the
    module files), which lldb on the core itself shows as ""."""
    out = []
    for l in lines:
        m = re.match(r"^\s*\*?\s*(frame #\d+: 0x[0-9a-f]+ [^(\s]*)(.*?)( at \S+:\d+:\d+)?$", l)
        if m:
            out.append(m.group(1) + (m.group(3) or ""))
    return out


def _registers(lines):
    return dict(re.findall(r"^\s+(\w+) = (0x[0-9a-f]+)", "\n".join(lines), re.M))


def _images(lines):
    out = set()
    for l in lines:
        m = re.match(r"^\[\s*\d+\] (\S+) (0x[0-9a-f]+) (\S+)", l)
        if m and m.group(3) != "[vdso]":
            out.add(m.groups())
    return out


def _serve(bt_bin, path):
    btserve = bt_bin.parent / "btserve"
    proc = subprocess.Popen([str(btserve), "--listen", "127.0.0.1:0", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    m = re.search(r"listening on (\d+)", line)
    assert m, line
    return proc, int(m.group(1))


@pytest.mark.parametrize("name", PROGRAMS)
@pytest.mark.parametrize("kind", ["core", "snapshot", "minidump"])
def test_lldb_session_matches_lldb_on_the_core(bt_bin, manifest, cores, tmp_path, name, kind):
    entry = next(e for e in manifest["binaries"] if e["name"] == name)
    core = cores.core(entry)
    served = core
    if kind == "snapshot":
        served = tmp_path / "x.btsnap"
        run = u.run_bt(["snapshot", str(core), "--exe", entry["path"], "-o", str(served)])
        assert run.returncode == 0, run.describe()
    if kind == "minidump":  # the core exported: btserve serves a minidump like a core
        served = tmp_path / "x.dmp"
        run = u.run_bt(["export", "-q", "--minidump", str(core), "--exe", entry["path"], "-o", str(served)])
        assert run.returncode == 0, run.describe()
    want = _sections(_lldb(entry["path"], f"target create --core {core}").stdout)
    proc, port = _serve(bt_bin, served)
    try:
        got_run = _lldb(entry["path"], f"gdb-remote 127.0.0.1:{port}")
    finally:
        proc.wait(timeout=30)  # lldb's exit detaches; btserve ends by itself
    assert proc.returncode == 0
    got = _sections(got_run.stdout)
    frames_got, frames_want = _frames(got["bt all"]), _frames(want["bt all"])
    if kind == "minidump":  # module names: see the image list below (libstdc++.so.6.0.30 vs .so.6)
        so = lambda frames: [re.sub(r"\.so(\.\d+)+`", ".so`", f) for f in frames]  # noqa: E731
        frames_got, frames_want = so(frames_got), so(frames_want)
    assert frames_got == frames_want, got_run.stdout
    assert len(_frames(got["bt all"])) >= 3
    crashed = [l for l in got["bt all"] if "stop reason = signal SIGSEGV" in l]
    assert len(crashed) == 1 and crashed[0].lstrip().startswith("* thread #1")
    assert len(got["frame variable"]) == len(want["frame variable"]) > 0
    for g, w in zip(got["frame variable"], want["frame variable"]):
        # A string literal (read-only data the core lacks) is "" for lldb on the core.
        if w != g and w.endswith(' ""'):
            assert re.sub(r' ".*"$', ' ""', g) == w
        else:
            assert g == w
    regs_got, regs_want = _registers(got["register read"]), _registers(want["register read"])
    for r in ["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r12", "r15", "rip"]:
        assert regs_got.get(r) == regs_want.get(r), r
    images_got, images_want = _images(got["image list"]), _images(want["image list"])
    if kind == "minidump":
        # A minidump names a module by the file mapped (/usr/lib/x86_64-linux-gnu/libc.so.6),
        # the core's link map by the name the loader used (/lib/x86_64-linux-gnu/libc.so.6):
        # the same file, by uuid, address and file name (less a version: libstdc++.so.6.0.30).
        base = lambda images: {(u, a, re.sub(r"\.so(\.\d+)+$", ".so", p.rsplit("/", 1)[-1]))  # noqa: E731
                               for u, a, p in images}
        images_got, images_want = base(images_got), base(images_want)
    assert images_got == images_want
    assert len(images_got) >= 2 or "static" in name


def test_lldb_names_every_thread(bt_bin, manifest, tmp_path):
    """lldb asks each thread why it stopped (qThreadStopInfo): every reply carries the thread's
    name, not only the crashed thread's. A snapshot of the live threads_cpp program (five named
    workers; their names read from /proc like gdb's `info threads` are the oracle), with one
    worker marked as the crashed thread, is served."""
    import json
    from snapshot_file import read_snapshot
    from test_snapshot_bad_input import pack
    entry = next(e for e in manifest["binaries"] if e["name"] == PROGRAMS[0])
    live = tmp_path / "live.btsnap"
    with u.paused(entry["path"]) as p:
        run = u.run_bt(["snapshot", str(p.pid), "-o", str(live), "-q"])
        assert run.returncode == 0, run.describe()
    snap = read_snapshot(live)
    waiter = next(t["tid"] for t in snap.doc["threads"] if t["name"] == "bt-waiter")
    snap.doc["crashed_tid"] = waiter  # the other threads' replies take lldb's short form
    served = tmp_path / "crashed-worker.btsnap"
    served.write_bytes(pack(snap.doc, snap.slices))
    doc = json.loads(u.run_bt(["show", "--json", str(served)]).stdout)
    assert doc["crashed_tid"] == waiter
    want = {t["tid"]: t["name"] for t in doc["threads"] if t["name"]}
    assert {"bt-locker", "bt-poller", "bt-reader", "bt-sleeper", "bt-waiter"} <= set(want.values())
    proc, port = _serve(bt_bin, served)
    try:
        run = subprocess.run([LLDB, entry["path"], "-b", "-o", "settings set use-color false",
                              "-o", f"gdb-remote 127.0.0.1:{port}", "-o", "thread list"],
                             capture_output=True, text=True, timeout=120)
    finally:
        proc.wait(timeout=30)
    got = {int(tid): name for tid, name in
           re.findall(r"thread #\d+: tid = (\d+),.*?name = '([^']*)'", run.stdout)}
    assert got == want, run.stdout
