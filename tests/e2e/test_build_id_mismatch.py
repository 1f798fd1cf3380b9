"""A program rebuilt in place after it crashed: the executable at the core's recorded path is
another build. Its symbols would name other functions (that is what bt printed before: the new
build's `frame_dummy`/`_start` in place of `checksum`/`process_job`), so by default the module
gets none: frames show module+offset and are marked, the warning is part of the result, and
every module carries both build-ids. --allow-mismatch (allow_mismatch=True) opts in, frames
still marked. A snapshot taken before the rebuild keeps its own frames in every front; a live
process whose executable was replaced is read through /proc/PID/map_files (the mapped file)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

import e2e_util as u

ORIGINAL = r"""
#include <string.h>
__attribute__((noinline)) int checksum(volatile int *p) { return *p + 1; }
__attribute__((noinline)) int process_job(volatile int *p) { return checksum(p) * 2; }
int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "crash")) return process_job(0);
  if (argc > 1 && !strcmp(argv[1], "sleep")) for (;;) { volatile int x = 1; process_job(&x); }
  return 0;
}
"""

# The rebuild: other functions, other sizes, another build-id.
REBUILT = r"""
#include <stdio.h>
static volatile int g;
int validate(int x) { g = x; return x * 3; }
int waiter_main(int x) { for (int i = 0; i < 100; i++) g += validate(i + x); return g; }
int main(int argc, char **argv) { printf("%d\n", waiter_main(argc)); return 0; }
"""

PARTIAL = 9  # bt's exit status for a result printed from an incomplete source

WRONG_NAMES = {"validate", "waiter_main", "frame_dummy", "_start", "register_tm_clones",
               "deregister_tm_clones", "__do_global_dtors_aux"}



@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory, bt_bin):
    work = tmp_path_factory.mktemp("mismatch")
    (work / "orig.c").write_text(ORIGINAL)
    (work / "rebuilt.c").write_text(REBUILT)
    exe, core = u.build_and_crash(["gcc", "-g", "-O0"], work / "orig.c", work, "prog")
    original = work / "prog.orig"
    shutil.copy2(exe, original)
    snap = work / "before.btsnap"
    run = u.run_bt(["snapshot", core, "-o", snap, "-q"])
    assert run.returncode == 0, run.describe()
    old_id = u.build_id(str(exe))
    subprocess.run(["gcc", "-g", "-O0", str(work / "rebuilt.c"), "-o", str(exe)], check=True)
    new_id = u.build_id(str(exe))
    assert old_id and new_id and old_id != new_id
    return {"exe": exe, "core": core, "original": original, "snap": snap, "old": old_id, "new": new_id}


def _prog_frames(doc, exe):
    crashed = next(t for t in doc["threads"] if t["crashed"])
    return [f for f in crashed["frames"] if f["module"] == str(exe)]


def test_text_shows_module_offsets_marked_and_warns(rebuilt):
    run = u.run_bt([rebuilt["core"]])
    assert run.returncode == PARTIAL, run.describe()  # printed, but the source is incomplete
    assert "build-id mismatch" in run.stderr and rebuilt["new"] in run.stderr
    lines = [l for l in run.stdout.splitlines() if "[prog+" in l]
    assert lines, run.stdout
    for line in lines:
        assert " in ?? [prog+0x" in line and "(build-id mismatch: not symbolized)" in line, line
    assert not any(f" in {name} " in run.stdout for name in WRONG_NAMES), run.stdout


def test_json_has_both_build_ids_and_marked_frames(rebuilt):
    run = u.run_bt(["--json", rebuilt["core"]])
    doc = json.loads(run.stdout)
    assert run.returncode == PARTIAL and doc["partial"] is True
    main = next(m for m in doc["modules"] if m["main_executable"])
    assert main["path"] == str(rebuilt["exe"])
    assert (main["build_id"], main["file_build_id"]) == (rebuilt["old"], rebuilt["new"])
    assert main["mismatch"] is True and main["mismatch_allowed"] is False
    frames = _prog_frames(doc, rebuilt["exe"])
    assert frames and all(f["build_id_mismatch"] and f["function"] is None for f in frames)
    # The offsets are still the original build's: checksum's, as nm of the original says.
    nm = subprocess.run(["nm", str(rebuilt["original"])], capture_output=True, text=True).stdout
    checksum = next(int(l.split()[0], 16) for l in nm.splitlines() if l.endswith(" checksum"))
    assert checksum <= int(frames[0]["module_offset"], 16) < checksum + 0x40
    assert any("build-id mismatch" in w for w in doc["warnings"])
    others = [m for m in doc["modules"] if not m["main_executable"]]
    assert others and not any(m["mismatch"] for m in others)


def test_allow_mismatch_uses_the_file_and_marks_every_frame(rebuilt):
    run = u.run_bt(["--json", "--allow-mismatch", rebuilt["core"]])
    doc = json.loads(run.stdout)
    frames = _prog_frames(doc, rebuilt["exe"])
    assert frames and all(f["build_id_mismatch"] for f in frames)
    assert any(f["function"] for f in frames)  # the other build's names, marked
    main = next(m for m in doc["modules"] if m["main_executable"])
    assert main["mismatch"] and main["mismatch_allowed"]
    assert any("used as allowed" in w for w in doc["warnings"])
    text = u.run_bt(["--allow-mismatch", rebuilt["core"]])
    assert "(build-id mismatch: name from another build)" in text.stdout, text.stdout


def test_the_same_build_elsewhere_is_used(rebuilt):
    # Control: the original build, passed with --exe, matches and names the right functions.
    run = u.run_bt(["--json", rebuilt["core"], "--exe", rebuilt["original"]])
    assert run.returncode == 0, run.describe()
    doc = json.loads(run.stdout)
    assert doc["partial"] is False
    crashed = next(t for t in doc["threads"] if t["crashed"])
    assert [f["function"] for f in crashed["frames"]][:3] == ["checksum", "process_job", "main"]
    assert not any(f["build_id_mismatch"] for f in crashed["frames"])
    main = next(m for m in doc["modules"] if m["main_executable"])
    assert main["build_id"] == main["file_build_id"] == rebuilt["old"] and not main["mismatch"]


def test_python_core_exposes_the_mismatch(rebuilt):
    code = f"""
import btengine
with btengine.open({str(rebuilt['core'])!r}) as p:
    m = next(m for m in p.modules if m.main)
    print(m.build_id, m.file_build_id, m.mismatch, m.mismatch_allowed)
    ours = [f for f in p.crashed_thread.frames if f.module == {str(rebuilt['exe'])!r}]
    print(len(ours), all(f.build_id_mismatch and f.function is None for f in ours))
    print(any("build-id mismatch" in w for w in p.warnings))
with btengine.open({str(rebuilt['core'])!r}, allow_mismatch=True) as p:
    ours = [f for f in p.crashed_thread.frames if f.module == {str(rebuilt['exe'])!r}]
    print(all(f.build_id_mismatch for f in ours), next(m for m in p.modules if m.main).mismatch_allowed)
"""
    run = u.run_python(code)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split() == [rebuilt["old"], rebuilt["new"], "True", "False"]
    n, ok = lines[1].split()
    assert int(n) > 0 and ok == "True"
    assert lines[2] == "True" and lines[3] == "True True"


def test_snapshot_keeps_its_frames_in_every_front(rebuilt):
    shown = u.run_bt(["show", rebuilt["snap"]])
    assert shown.returncode == 0, shown.describe()
    assert "in checksum" in shown.stdout and "in process_job" in shown.stdout
    code = f"""
import btengine
with btengine.open({str(rebuilt['snap'])!r}) as p:
    print(" ".join(f.function or "??" for f in p.crashed_thread.frames))
"""
    run = u.run_python(code)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[:3] == ["checksum", "process_job", "main"], run.stdout


def test_live_process_with_a_replaced_executable(tmp_path, bt_bin):
    (tmp_path / "orig.c").write_text(ORIGINAL)
    (tmp_path / "rebuilt.c").write_text(REBUILT)
    exe = tmp_path / "prog"
    subprocess.run(["gcc", "-g", "-O0", str(tmp_path / "orig.c"), "-o", str(exe)], check=True)
    proc = subprocess.Popen([str(exe), "sleep"], stdout=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        subprocess.run(["gcc", "-g", "-O0", str(tmp_path / "rebuilt.c"), "-o", str(exe)], check=True)
        run = u.run_bt(["--json", str(proc.pid)])
        assert run.returncode == 0, run.describe()
        doc = json.loads(run.stdout)
        names = [f["function"] for t in doc["threads"] for f in t["frames"]]
        assert "process_job" in names or "checksum" in names or "main" in names, names
        assert not WRONG_NAMES & set(filter(None, names)), names
        main = next(m for m in doc["modules"] if m["main_executable"])
        assert not main["mismatch"] and main["build_id"] == main["file_build_id"]
    finally:
        proc.kill()
        proc.wait()
