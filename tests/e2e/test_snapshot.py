"""Snapshots (bt snapshot / bt show / bt coredump), end to end.

Round trip: for every fixture binary, `bt --json --vars` on a core (and on the live process for
one variant per program) equals `bt show --json --vars` on the snapshot taken from the same
core/process — with the executable deleted and the debug files not given for the show, so the
snapshot alone carries everything. Then the capture options, environment redaction, the pause
report and the kernel core_pattern path (a real core piped into `bt coredump`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import e2e_util as u

# What `bt show` adds to `bt --json` (and target.kind, which says "snapshot").
SHOW_ONLY_KEYS = {"snapshot", "attributes"}


def _comparable(doc):
    doc = {k: v for k, v in doc.items() if k not in SHOW_ONLY_KEYS}
    doc["target"] = {k: v for k, v in doc["target"].items() if k != "kind"}
    # The build of each module's file on this machine when the document was printed (the
    # tests delete the executable between capture and show); the rest must match.
    doc["modules"] = [{k: v for k, v in m.items() if k != "file_build_id"} for m in doc["modules"]]
    return doc


def _bt_json(args):
    run = u.run_bt(args)
    assert run.returncode == 0, run.describe()
    return json.loads(run.stdout)


def _snapshot(args, out: Path):
    run = u.run_bt(["snapshot"] + args + ["-o", str(out)])
    assert run.returncode == 0, run.describe()
    assert run.stdout.startswith(f"snapshot: {out} ("), run.stdout
    assert out.is_file()
    return run


def _payload(path: Path):
    """The snapshot's JSON document and memory slices, decoded independently of bt."""
    from snapshot_file import HEADER, read_snapshot
    snap = read_snapshot(path)
    assert (snap.version, snap.flags, snap.csize) == (1, 0, path.stat().st_size - HEADER)
    return snap.doc, snap.slices


def _private_copy(entry, workdir: Path) -> Path:
    """The fixture binary copied into workdir, so it can be deleted before `bt show`."""
    workdir.mkdir(parents=True, exist_ok=True)
    exe = workdir / Path(entry["path"]).name
    shutil.copy2(entry["path"], exe)
    return exe


def _debug_args(entry):
    return ["--debug-dir", entry["debug_dir"]] if entry.get("debug_dir") else []


def test_core_round_trip(bt_bin, fixture_binary_entry, tmp_path):
    entry = fixture_binary_entry
    exe = _private_copy(entry, tmp_path / "run")
    try:
        core = u.make_core(str(exe), tmp_path / "run")
    except u.CoreUnavailable as e:
        pytest.skip(f"cannot produce a core file here: {e}")
    args = [str(core), "--exe", str(exe)] + _debug_args(entry)
    want_vars = _bt_json(["--json", "--vars"] + args)
    want = _bt_json(["--json"] + args)
    snap = tmp_path / "x.btsnap"
    _snapshot(args, snap)
    exe.unlink()
    core.unlink()
    got_vars = _bt_json(["show", "--json", "--vars", str(snap)])
    got = _bt_json(["show", "--json", str(snap)])
    assert _comparable(got_vars) == _comparable(want_vars)
    assert _comparable(got) == _comparable(want)
    assert got["target"]["kind"] == "snapshot" and got["snapshot"]["source"] == "core"
    # The text form is bt's text form, after the snapshot's own header.
    text = u.run_bt(["show", "--vars", str(snap)])
    assert text.returncode == 0 and "Fingerprint: " + got["snapshot"]["fingerprint"] in text.stdout
    assert snap.stat().st_size < core_size_limit(entry)


def core_size_limit(entry):
    # Far below any core of these programs (the cores are >= 400 KB); static binaries carry
    # more libc in their stacks' pointees.
    return 200_000


@pytest.mark.parametrize("variant", ["gcc-O0-dwarf5-pie-fp", "clang-O2-dwarf5-pie-nofp"])
def test_live_round_trip(bt_bin, manifest, paused_process, tmp_path, variant):
    programs = sorted({e["program"] for e in manifest["binaries"]})
    for program in programs:
        entry = next(e for e in manifest["binaries"] if e["name"] == f"{program}.{variant}")
        p = paused_process(entry["path"])
        u.wait_all_sleeping(p.pid)
        args = [str(p.pid)] + _debug_args(entry)
        want = _bt_json(["--json", "--vars"] + args)
        snap = tmp_path / f"{program}.btsnap"
        run = _snapshot(args, snap)
        assert "target stopped " in run.stdout
        got = _bt_json(["show", "--json", "--vars", str(snap)])
        assert _comparable(got) == _comparable(want), program
        assert got["snapshot"]["source"] == "live" and got["snapshot"]["stopped_ms"] > 0
        # The target runs on.
        assert u.proc_state(p.pid) in ("S", "R"), u.proc_state(p.pid)


def _threads_entry(manifest):
    return next(e for e in manifest["binaries"] if e["name"] == "threads_cpp.gcc-O2-dwarf5-pie-nofp")


def test_options_threads_vars_attrs_stack_limit(bt_bin, manifest, cores, tmp_path):
    entry = _threads_entry(manifest)
    core = cores.core(entry)
    base = [str(core), "--exe", entry["path"]] + _debug_args(entry)
    full = tmp_path / "full.btsnap"
    _snapshot(base + ["--attr", "version=1.2.3", "--attr", "host=db7"], full)
    small = tmp_path / "small.btsnap"
    _snapshot(base + ["--threads", "crashed", "--no-vars", "--max-stack-bytes", "4096"], small)
    f = _bt_json(["show", "--json", "--vars", str(full)])
    s = _bt_json(["show", "--json", "--vars", str(small)])
    assert len(f["threads"]) > 1 and len(s["threads"]) == 1
    assert s["threads"][0]["crashed"] and s["threads"][0]["tid"] == f["crashed_tid"]
    assert s["threads"][0]["frames"] == [
        {k: v for k, v in fr.items() if k != "variables"} for fr in f["threads"][0]["frames"]]
    assert any("variables" in fr for fr in f["threads"][0]["frames"])
    assert not any("variables" in fr for fr in s["threads"][0]["frames"])
    assert f["attributes"] == {"version": "1.2.3", "host": "db7"} and s["attributes"] == {}
    assert (f["snapshot"]["threads"], s["snapshot"]["threads"]) == ("all", "crashed")
    assert f["snapshot"]["fingerprint"] == s["snapshot"]["fingerprint"] != ""
    # The stack limit bounds what is kept of the one stack (plus the few pages the unwinder read).
    doc, slices = _payload(small)
    sp = int(doc["threads"][0]["registers"]["rsp"], 16)
    stack = [(a, b) for a, b in slices if a <= sp - 128 < a + len(b)]
    assert stack and stack[0][0] + len(stack[0][1]) - (sp - 128) <= 4096 + 4096
    assert s["snapshot"]["memory_bytes"] < f["snapshot"]["memory_bytes"]


def test_usage_errors(bt_bin, tmp_path):
    for args, code in [(["snapshot"], 2), (["snapshot", "1", "--threads", "some"], 2),
                       (["snapshot", "1", "--attr", "novalue"], 2),
                       (["snapshot", "/nonexistent/core", "-o", str(tmp_path)], 7),
                       (["snapshot", "1", "-o", "/nonexistent/dir/x.btsnap"], 7),
                       (["snapshot", "core", "--siginfo", "0x10"], 2),
                       (["show"], 2), (["show", str(tmp_path / "none.btsnap")], 7),
                       (["coredump", "-o", str(tmp_path / "none")], 2)]:
        run = u.run_bt(args)
        assert run.returncode == code, (args, run.describe())
    for sub in ["snapshot", "show", "coredump"]:
        run = u.run_bt([sub, "--help"])
        assert run.returncode == 0 and run.stdout.startswith(f"usage: bt {sub}")


def test_environment_is_redacted_by_default(bt_bin, manifest, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O0-dwarf5-pie-fp")
    secret = "hunter2-very-secret-token"
    env = dict(os.environ, BT_TEST_SECRET=secret)
    proc = subprocess.Popen([entry["path"], "pause"], env=env, stdout=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        assert proc.stdout.readline().startswith(b"READY")
        u.wait_all_sleeping(proc.pid)
        red = tmp_path / "redacted.btsnap"
        _snapshot([str(proc.pid)], red)
        keep = tmp_path / "kept.btsnap"
        _snapshot([str(proc.pid), "--no-redact-env"], keep)
    finally:
        proc.kill()
        proc.wait()
    doc, slices = _payload(red)
    env_list = doc["process"]["environment"]
    line = next(e for e in env_list if e.startswith("BT_TEST_SECRET="))
    assert line.startswith("BT_TEST_SECRET=sha256:") and secret not in line
    assert doc["capture"]["environment_redacted"] is True
    everything = red.read_bytes() + json.dumps(doc).encode() + b"".join(b for _, b in slices)
    assert secret.encode() not in everything
    # The stack top (where the kernel put the environment) was captured, blanked.
    assert any(b"BT_TEST_SECRET=" in b for _, b in slices)
    kdoc, kslices = _payload(keep)
    assert f"BT_TEST_SECRET={secret}" in kdoc["process"]["environment"]
    assert any(secret.encode() in b for _, b in kslices)


def test_coredump_reads_a_piped_core(bt_bin, manifest, cores, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "threads_cpp.gcc-O0-dwarf5-pie-fp")
    core = cores.core(entry)
    want = _bt_json(["--json", "--vars", str(core), "--exe", entry["path"]])
    out = tmp_path / "crashes"
    out.mkdir()
    pid, tid = want["target"]["pid"], want["crashed_tid"]
    exe_kernel_form = entry["path"].replace("/", "!")
    cmd = [str(bt_bin), "coredump", "--pid", str(pid), "--tid", str(tid), "--signal", "11",
           "--exe", exe_kernel_form, "-o", str(out), "--keep-core"]
    with open(core, "rb") as stdin:
        run = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1, list(out.iterdir())
    got = _bt_json(["show", "--json", "--vars", str(snaps[0])])
    assert _comparable(got) == _comparable(want)
    assert got["snapshot"]["source"] == "coredump"
    assert got["attributes"] == {"crashed_tid": str(tid), "kernel_signal": "11"}
    assert (out / f"core.{pid}").read_bytes() == core.read_bytes()
    assert "snapshot: " in (out / "bt-coredump.log").read_text()
    # Garbage on stdin: an error in the log and a non-zero exit, no snapshot.
    bad = subprocess.run(cmd[:-1], input=b"not a core" * 100, capture_output=True, timeout=60)
    assert bad.returncode == 5, bad.stderr
    assert len(list(out.glob("*.btsnap"))) == 1
    assert "error:" in (out / "bt-coredump.log").read_text()


def test_snapshot_names_itself_in_a_directory(bt_bin, manifest, cores, tmp_path):
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O0-dwarf5-pie-fp")
    core = cores.core(entry)
    for _ in range(2):
        run = u.run_bt(["snapshot", str(core), "-o", str(tmp_path)])
        assert run.returncode == 0, run.describe()
    names = sorted(p.name for p in tmp_path.glob("*.btsnap"))
    assert len(names) == 2 and all(n.startswith("deep_c.gcc-O0-dwarf5-pie-fp.") for n in names)
    assert not list(tmp_path.glob("*.tmp.*"))


def test_kernel_core_pattern_handler(bt_bin, manifest, tmp_path):
    """scripts/crash-handler install, a real crash, the snapshot the kernel's pipe produced,
    uninstall. Needs root and a writable core_pattern (skipped in containers that lack them)."""
    pattern_file = Path("/proc/sys/kernel/core_pattern")
    if os.geteuid() != 0 or not os.access(pattern_file, os.W_OK):
        pytest.skip("needs root and a writable /proc/sys/kernel/core_pattern")
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O2-dwarf5-pie-nofp")
    script = u.REPO_ROOT / "scripts" / "crash-handler"
    before = pattern_file.read_text()
    # The kernel keeps at most 127 characters of the pattern: a short directory.
    out = Path(tempfile.mkdtemp(prefix="btk", dir="/tmp"))
    try:
        inst = subprocess.run(["bash", str(script), "install", "--bt", str(bt_bin), "--dir", str(out)],
                              capture_output=True, text=True, timeout=30)
        assert inst.returncode == 0, inst.stderr
        assert pattern_file.read_text().startswith(f"|{bt_bin} coredump --pid %P")
        proc = subprocess.run([entry["path"], "crash"], preexec_fn=u._unlimited_core,
                              capture_output=True, timeout=60)
        assert proc.returncode == -11
        deadline = time.monotonic() + 30
        while not list(out.glob("*.btsnap")) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        subprocess.run(["bash", str(script), "uninstall"], capture_output=True, timeout=30)
    assert pattern_file.read_text() == before
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1, (list(out.iterdir()), (out / "bt-coredump.log").read_text())
    got = _bt_json(["show", "--json", str(snaps[0])])
    assert got["snapshot"]["source"] == "coredump" and got["target"]["pid"] == proc_pid(got)
    crashed = next(t for t in got["threads"] if t["crashed"])
    assert crashed["signal"]["name"] == "SIGSEGV"
    assert got["attributes"]["kernel_signal"] == "11"
    assert any(f["function"] == "main" for f in crashed["frames"])
    shutil.rmtree(out)


def proc_pid(doc):
    return doc["crashed_tid"]  # single-threaded: the crashing thread is the process


def test_environment_of_a_core_is_found_and_redacted(bt_bin, manifest, tmp_path, monkeypatch):
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.clang-O2-dwarf5-pie-nofp")
    secret = "core-secret-value-42"
    monkeypatch.setenv("BT_TEST_SECRET", secret)
    try:
        core = u.make_core(entry["path"], tmp_path / "run")
    except u.CoreUnavailable as e:
        pytest.skip(f"cannot produce a core file here: {e}")
    snap = tmp_path / "core.btsnap"
    _snapshot([str(core), "--exe", entry["path"]], snap)
    doc, slices = _payload(snap)
    assert "BT_TEST_SECRET=" + u_redacted(secret) in doc["process"]["environment"]
    assert not any(secret.encode() in b for _, b in slices)
    assert any(b"BT_TEST_SECRET=" in b for _, b in slices)
    kept = tmp_path / "kept.btsnap"
    _snapshot([str(core), "--exe", entry["path"], "--no-redact-env"], kept)
    kdoc, _ = _payload(kept)
    assert f"BT_TEST_SECRET={secret}" in kdoc["process"]["environment"]


def u_redacted(value: str) -> str:
    import hashlib
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]
