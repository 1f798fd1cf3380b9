"""debuginfod: a module's debug file or executable missing here is fetched by build-id from the
servers in DEBUGINFOD_URLS, against a real `debuginfod` (elfutils, Debian package) that this
module starts on a free port over a directory holding a program's split debug file and a copy of
the program: the lines come back (equal to those of the unstripped build), unwinding uses the
fetched executable's CFI, the file lands in btengine's cache, nothing is fetched when the
variable is unset or with --offline, and a server that refuses connections is a warning, not a
failure. (This debuginfod has no option to listen on loopback only; the tests reach it at
127.0.0.1, and the port is closed when the module ends.)"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import e2e_util as u

DEBUGINFOD = shutil.which("debuginfod")
pytestmark = pytest.mark.skipif(DEBUGINFOD is None, reason="no debuginfod server (scripts/setup installs it)")

SOURCE = r"""
#include <stdlib.h>
static int depth(int n, int *p) { if (n == 0) { *p = 42; return 1; } return depth(n - 1, p) + 1; }
int main(int argc, char **argv) { int *p = argc > 5 ? malloc(4) : NULL; return depth(3, p); }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory, bt_bin):
    """(workdir, core, full build, build-id, server URL): the program's stripped copy crashed
    into `core`; the server has its debug file and a copy of the stripped executable."""
    work = tmp_path_factory.mktemp("debuginfod")
    src = work / "prog.c"
    src.write_text(SOURCE)
    full = work / "prog.full"
    subprocess.run(["gcc", "-g", "-O0", "-Wl,--build-id", str(src), "-o", str(full)], check=True)
    served_dir = work / "served"
    served_dir.mkdir()
    subprocess.run(["objcopy", "--only-keep-debug", str(full), str(served_dir / "prog.debug")], check=True)
    exe = work / "prog"
    subprocess.run(["strip", "--strip-debug", str(full), "-o", str(exe)], check=True)
    shutil.copy(exe, served_dir / "prog.exe")
    core = u.make_core(str(exe), work / "crash")
    build_id = u.build_id(str(exe))
    port = _free_port()
    server = subprocess.Popen([DEBUGINFOD, "-d", str(work / "db.sqlite"), "-F", str(served_dir), "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:  # until the scan has indexed both files
            try:
                for kind in ("debuginfo", "executable"):
                    urllib.request.urlopen(f"{url}/buildid/{build_id}/{kind}", timeout=5).read(1)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    pytest.fail("debuginfod did not serve the files within 60 s")
                time.sleep(0.3)
        yield work, core, exe, full, build_id, url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _bt(args, url=None, cache=None, timeout=120):
    env = dict(os.environ)
    env.pop("DEBUGINFOD_URLS", None)
    if url is not None:
        env["DEBUGINFOD_URLS"] = url
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    run = subprocess.run([str(u.bt_path())] + [str(a) for a in args], capture_output=True, text=True,
                         env=env, timeout=timeout)
    return run


def _frames(run):
    assert run.returncode in (0, 9), run.stderr
    doc = json.loads(run.stdout)
    return doc, [(f["function"], f["file"] and Path(f["file"]).name, f["line"], f["how"], f["suspect"])
                 for f in doc["threads"][0]["frames"]]


def _fetched(cache: Path):
    return sorted(p.relative_to(cache) for p in cache.rglob("*") if p.is_file() and "debuginfod" in p.parts)


def test_the_debug_file_is_fetched_into_the_cache(served, tmp_path):
    work, core, exe, full, build_id, url = served
    _, want = _frames(_bt(["--json", core, "--exe", full], cache=tmp_path / "c0"))
    assert want[0][:3] == ("depth", "prog.c", 3), want
    # Not set: nothing fetched, no lines.
    cache = tmp_path / "c1"
    _, none = _frames(_bt(["--json", core, "--exe", exe], cache=cache))
    assert none[0][1] is None and none[0][0] == "depth"
    assert not _fetched(cache)
    # Set: the lines of the unstripped build, from the file fetched into btengine's cache.
    _, got = _frames(_bt(["--json", core, "--exe", exe], url=url, cache=cache))
    assert got == want
    files = _fetched(cache)
    assert any(str(p).startswith(f"btengine/debug/debuginfod/{build_id}/debuginfo") for p in files), files
    # --offline: the server is not asked (a fresh cache stays empty).
    offline = tmp_path / "c2"
    _, off = _frames(_bt(["--json", "--offline", core, "--exe", exe], url=url, cache=offline))
    assert off == none and not _fetched(offline)


def test_a_missing_executable_is_fetched_and_unwinds_by_its_cfi(served, tmp_path):
    work, core, exe, full, build_id, url = served
    # A core whose executable is gone (deleted after the crash, or taken on another machine).
    moved = tmp_path / "gone" / "prog"
    moved.parent.mkdir()
    shutil.copy(exe, moved)
    core = u.make_core(str(moved), tmp_path / "gone")
    moved.unlink()
    _, without = _frames(_bt(["--json", core], cache=tmp_path / "c"))
    assert without[0][0] in (None, "") and any(f[4] for f in without[1:]), without
    doc, got = _frames(_bt(["--json", core], url=url, cache=tmp_path / "c"))
    _, want = _frames(_bt(["--json", core, "--exe", full], cache=tmp_path / "c0"))
    assert got == want
    # The target's "missing" warning is followed by what happened instead.
    assert any(w == f"{moved}: the build the process ran ({build_id}) was fetched from debuginfod: "
               "its symbols and unwind tables are used" for w in doc["warnings"]), doc["warnings"]
    assert all(f[3] in ("context", "cfi") and not f[4] for f in got), got


def test_a_refusing_server_is_a_warning_in_bounded_time(served, tmp_path):
    work, core, exe, full, build_id, url = served
    dead = f"http://127.0.0.1:{_free_port()}"
    start = time.time()
    run = _bt(["--json", core, "--exe", exe], url=dead, cache=tmp_path / "c")
    doc, frames = _frames(run)
    assert time.time() - start < 60
    assert frames[0][0] == "depth" and frames[0][1] is None
    assert any(w.startswith(f"debuginfod: the debug file of build {build_id} could not be fetched from {dead}")
               for w in doc["warnings"]), doc["warnings"]


def test_python_open_fetches_unless_offline(served, tmp_path):
    work, core, exe, full, build_id, url = served
    code = f"""
import btengine
for offline in (True, False):
    with btengine.open({str(core)!r}, exe={str(exe)!r}, offline=offline) as p:
        f = p.crashed_thread.frames[0]
        print(offline, f.function, f.line)
"""
    env = dict(os.environ, PYTHONPATH=str(u.build_dir() / "python"), DEBUGINFOD_URLS=url,
               XDG_CACHE_HOME=str(tmp_path / "c"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("\n")[:2] == ["True depth None", "False depth 3"], run.stdout
