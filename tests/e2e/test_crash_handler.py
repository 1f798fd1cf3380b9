"""libbtcrash.so (crashlib/): the in-process crash handler that runs
`bt snapshot` when the process gets a fatal signal, and btcrash_snapshot().

The test program tests/fixtures/crash/crashme.c is compiled at test time
(gcc -g -O0 -pthread) in two variants: `preload` (plain, run with
LD_PRELOAD=libbtcrash.so) and `linked` (-lbtcrash, rpath to <build>/lib).

Part 1 uses a stand-in for bt (a Python script written into the test's
directory, given as BTCRASH_BT): it records its argv, PTRACE_SEIZEs the pid
(proves that the crashing process let it trace it, Yama included), reads the
siginfo_t and ucontext_t at the addresses it was given from /proc/PID/mem and
prints a `snapshot: ...` line like bt.  Part 2 uses the real bt
(<build>/bin/bt) and is skipped while `bt snapshot` does not exist.

The library must be built: cmake --build <build> --target btcrash.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import e2e_util as u

SOURCE = u.REPO_ROOT / "tests" / "fixtures" / "crash" / "crashme.c"
HEADER_DIR = u.REPO_ROOT / "crashlib"
VARIANTS = ["preload", "linked"]
FAULT_ADDRESS = 0x1234
RUN_TIMEOUT = 90

# mode -> the signal it dies from without the library
CRASH_MODES = {
    "segv": signal.SIGSEGV,
    "thread": signal.SIGSEGV,
    "multi": signal.SIGSEGV,
    "abort": signal.SIGABRT,
    "fpe": signal.SIGFPE,
    "ill": signal.SIGILL,
    "trap": signal.SIGTRAP,
    "bus": signal.SIGBUS,
    "kill": signal.SIGSEGV,
    "stackoverflow": signal.SIGSEGV,
    "threadoverflow": signal.SIGSEGV,
}

STANDIN = r'''#!@PYTHON@
# Stand-in for `bt snapshot` (tests/e2e/test_crash_handler.py).
import ctypes, json, os, struct, sys, time

argv = sys.argv
rec = {"argv": argv, "self_pid": os.getpid(), "ppid": os.getppid(),
       "env_disable": os.environ.get("BTCRASH_DISABLE"),
       "fds": sorted(int(f) for f in os.listdir("/proc/self/fd"))}
mode = os.environ.get("STANDIN_MODE", "ok")
out = os.environ["STANDIN_OUT"]
try:
    pid = int(argv[2])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.restype = ctypes.c_long
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    PTRACE_SEIZE = 0x4206
    rec["seize"] = libc.ptrace(PTRACE_SEIZE, pid, None, None)
    rec["seize_errno"] = ctypes.get_errno()
    if "--tid" in argv:
        tid = int(argv[argv.index("--tid") + 1])
        rec["tid_in_process"] = os.path.isdir(f"/proc/{pid}/task/{tid}")
    with open(f"/proc/{pid}/mem", "rb") as mem:
        if "--siginfo" in argv:
            mem.seek(int(argv[argv.index("--siginfo") + 1], 16))
            b = mem.read(24)
            rec["si_signo"], rec["si_errno"], rec["si_code"] = struct.unpack_from("<iii", b, 0)
            rec["si_addr"] = struct.unpack_from("<Q", b, 16)[0]
        if "--ucontext" in argv:
            # ucontext_t: uc_flags, uc_link, uc_stack (24 bytes), then mcontext gregs[23];
            # REG_RIP = 16
            mem.seek(int(argv[argv.index("--ucontext") + 1], 16) + 40 + 16 * 8)
            rec["rip"] = struct.unpack("<Q", mem.read(8))[0]
    exe = os.path.realpath(f"/proc/{pid}/exe")
    base = None
    for line in open(f"/proc/{pid}/maps"):
        parts = line.split()
        if len(parts) >= 6 and parts[5] == exe:
            lo = int(parts[0].split("-")[0], 16)
            base = lo if base is None else min(base, lo)
    rec["exe_base"] = base
except Exception as e:  # recorded: the test shows it
    rec["error"] = repr(e)
with open(out, "a") as f:
    f.write(json.dumps(rec) + "\n")
if mode == "hang":
    time.sleep(600)
if mode == "fail":
    sys.stderr.write("error: stand-in failure\n")
    sys.exit(3)
print("snapshot: /nowhere/standin.btsnap (123 bytes, target stopped 1 ms)")
'''


# ---------------------------------------------------------------------------
# Setup


def lib_path() -> Path:
    return u.build_dir() / "lib" / "libbtcrash.so"


@pytest.fixture(scope="module")
def lib():
    path = lib_path()
    if not path.is_file():
        pytest.fail(
            f"{path} does not exist: build it (cmake --build {u.build_dir()} --target btcrash)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def programs(lib, tmp_path_factory):
    """{variant: path of crashme}."""
    d = tmp_path_factory.mktemp("crashme")
    base = ["gcc", "-g", "-O0", "-pthread", "-Wall"]
    progs = {
        "preload": (base + [str(SOURCE), "-o", str(d / "crashme")]),
        "linked": (base + ["-DCRASHME_LINKED", f"-I{HEADER_DIR}", str(SOURCE), "-o",
                           str(d / "crashme_linked"), f"-L{lib.parent}",
                           f"-Wl,-rpath,{lib.parent}", "-Wl,--no-as-needed", "-lbtcrash"]),
    }
    out = {}
    for variant, cmd in progs.items():
        subprocess.run(cmd, check=True, capture_output=True)
        out[variant] = Path(cmd[cmd.index("-o") + 1])
    return out


class Standin:
    def __init__(self, directory: Path, name: str = "bt-standin", python: str = sys.executable):
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        self.path.write_text(STANDIN.replace("@PYTHON@", python))
        self.path.chmod(0o755)
        self.out = directory / (name + ".jsonl")

    def records(self):
        if not self.out.exists():
            return []
        return [json.loads(l) for l in self.out.read_text().splitlines() if l.strip()]


@pytest.fixture
def standin(tmp_path):
    return Standin(tmp_path / "standin")


def _no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def base_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("BTCRASH_") and k not in ("LD_PRELOAD", "STANDIN_MODE", "STANDIN_OUT")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Run:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float):
        self.returncode = proc.returncode
        self.stdout = proc.stdout.decode(errors="replace")
        self.stderr = proc.stderr.decode(errors="replace")
        self.seconds = seconds
        m = re.search(r"crashme pid=(\d+) tid=(\d+)", self.stdout)
        self.pid = int(m.group(1)) if m else None
        self.tid = int(m.group(2)) if m else None

    def describe(self):
        return (f"exit {self.returncode} after {self.seconds:.2f}s\n--- stdout ---\n{self.stdout}"
                f"\n--- stderr ---\n{self.stderr}")


def run(exe: Path, mode: str, variant: str, env: dict, cwd: Path, with_lib: bool = True,
        core: bool = False, timeout: float = RUN_TIMEOUT) -> Run:
    env = dict(env)
    if with_lib and variant == "preload":
        env["LD_PRELOAD"] = str(lib_path())
    t0 = time.monotonic()
    p = subprocess.run([str(exe), mode], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout,
                       preexec_fn=_unlimited_core if core else _no_core)
    return Run(p, time.monotonic() - t0)


def standin_env(standin: Standin, **extra):
    return base_env(BTCRASH_BT=standin.path, STANDIN_OUT=standin.out, **extra)


def opt(argv, name):
    assert argv.count(name) == 1, f"{name} must appear once in {argv}"
    return argv[argv.index(name) + 1]


def attrs(argv):
    return [argv[i + 1] for i, a in enumerate(argv) if a == "--attr"]


def symbol_range(exe: Path, name: str):
    out = subprocess.run(["nm", "-S", "--defined-only", str(exe)], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[3] == name:
            start, size = int(parts[0], 16), int(parts[1], 16)
            return start, start + size
    raise AssertionError(f"{name} not in the symbol table of {exe}")


# ---------------------------------------------------------------------------
# Part 1: the stand-in bt


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["segv", "thread"])
def test_signal_argv_contract(programs, standin, tmp_path, variant, mode):
    outdir = tmp_path / "snapshots"
    outdir.mkdir()
    env = standin_env(standin, BTCRASH_DIR=outdir, BTCRASH_ATTRS="team=core,,build=42,bad",
                      BTCRASH_ARGS="  --no-vars ")
    r = run(programs[variant], mode, variant, env, tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    recs = standin.records()
    assert len(recs) == 1, f"{recs}\n{r.describe()}"
    rec = recs[0]
    argv = rec["argv"]
    assert "error" not in rec, rec
    assert argv[0] == str(standin.path) and argv[1] == "snapshot", argv
    assert int(argv[2]) == r.pid, argv
    assert int(opt(argv, "--tid")) == r.tid, argv
    if mode == "thread":
        assert r.tid != r.pid
    for name in ("--siginfo", "--ucontext"):
        assert re.fullmatch(r"0x[0-9a-f]+", opt(argv, name)), argv
    assert opt(argv, "-o") == str(outdir) + "/", argv  # always a directory
    # BTCRASH_ATTRS: empty items and items without '=' are dropped
    assert attrs(argv) == ["trigger=signal", "team=core", "build=42"], argv
    assert argv[-1] == "--no-vars", argv
    # The stand-in could trace the process (PR_SET_PTRACER under Yama) and read the addresses.
    assert rec["seize"] == 0, f"PTRACE_SEIZE failed, errno {rec['seize_errno']}"
    assert rec["tid_in_process"], rec
    assert (rec["si_signo"], rec["si_code"], rec["si_addr"]) == (signal.SIGSEGV, 1, FAULT_ADDRESS), rec
    lo, hi = symbol_range(programs[variant], "crash_here")
    assert rec["exe_base"] is not None, rec
    assert lo <= rec["rip"] - rec["exe_base"] < hi, f"rip {rec['rip']:#x} not in crash_here: {rec}"
    # bt runs with the library disabled, without the process's other descriptors
    assert rec["env_disable"] == "1", rec
    assert rec["fds"][:3] == [0, 1, 2] and len(rec["fds"]) <= 4, rec  # + the listdir fd
    # stdout: only the program's own line; stderr: one btcrash line
    assert r.stdout.strip().splitlines() == [f"crashme pid={r.pid} tid={r.tid}"], r.describe()
    lines = [l for l in r.stderr.splitlines() if l.startswith("btcrash:")]
    assert lines == [f"btcrash: snapshot written by bt (pid {rec['self_pid']}): "
                     "/nowhere/standin.btsnap (123 bytes, target stopped 1 ms)"], r.describe()


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", list(CRASH_MODES))
def test_dies_with_the_same_signal(programs, standin, tmp_path, variant, mode):
    sig = CRASH_MODES[mode]
    # (threadoverflow calls btcrash_thread_init(): the preloaded library must be there, disabled)
    plain = run(programs[variant], mode, variant, base_env(BTCRASH_DISABLE=1), tmp_path,
                with_lib=mode == "threadoverflow")
    assert plain.returncode == -sig, f"without the library: {plain.describe()}"
    r = run(programs[variant], mode, variant, standin_env(standin), tmp_path)
    assert r.returncode == -sig, r.describe()
    recs = standin.records()
    # one capture, also when several threads crash at once (multi)
    assert len(recs) == 1, f"{recs}\n{r.describe()}"
    rec = recs[0]
    assert rec.get("seize") == 0, rec
    assert rec["si_signo"] == sig, rec
    if mode == "kill":
        assert rec["si_code"] == 0, rec  # SI_USER
    elif mode == "abort":
        assert rec["si_code"] == -6, rec  # SI_TKILL
    if mode == "multi":  # one of the 4 crashing threads, not main (which waits in join)
        assert int(opt(rec["argv"], "--tid")) != r.pid, rec
    else:
        assert int(opt(rec["argv"], "--tid")) == r.tid, rec
    assert "btcrash: snapshot written by bt" in r.stderr, r.describe()


def _core_signal(bt, core: Path, exe: Path):
    run_ = u.run_bt(["--json", core, "--exe", exe])
    assert run_.returncode == 0, run_.describe()
    doc = json.loads(run_.stdout)
    crashed = doc["threads"][0]
    return doc["signal"], [f["function"] for f in crashed["frames"]][:6], int(crashed["frames"][0]["pc"], 16)


@pytest.mark.parametrize("mode", ["segv", "abort", "fpe", "kill"])
def test_core_is_the_same(programs, standin, tmp_path, bt_bin, mode):
    """The kernel's core after the library re-raised has the same signal (number, si_code,
    fault address) and the same crashing stack as without the library."""
    pattern = u.core_pattern()
    if not pattern or pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern {pattern!r}: the kernel does not write cores into the cwd")
    exe = programs["preload"]
    got = {}
    for label, with_lib in (("plain", False), ("btcrash", True)):
        d = tmp_path / label
        d.mkdir()
        env = standin_env(standin) if with_lib else base_env()
        r = run(exe, mode, "preload", env, d, with_lib=with_lib, core=True)
        assert r.returncode == -CRASH_MODES[mode], r.describe()
        cores = sorted(d.glob("core*"))
        assert len(cores) == 1, f"{label}: cores {cores}\n{r.describe()}"
        got[label] = _core_signal(bt_bin, cores[0], exe)
    (sig_plain, frames_plain, pc_plain), (sig_lib, frames_lib, pc_lib) = got["plain"], got["btcrash"]
    for key in ("number", "name", "code"):
        assert sig_lib[key] == sig_plain[key], got
    if mode == "fpe":  # the fault address is the pc (ASLR: compare it with frame 0's)
        assert int(sig_lib["address"], 16) == pc_lib and int(sig_plain["address"], 16) == pc_plain, got
    else:
        assert sig_lib["address"] == sig_plain["address"], got
    assert frames_lib == frames_plain, got
    assert not any(f and f.startswith("btc_") for f in frames_lib), frames_lib


@pytest.mark.parametrize("variant", VARIANTS)
def test_api_snapshot(programs, standin, tmp_path, variant):
    outdir = tmp_path / "out"
    outdir.mkdir()
    r = run(programs[variant], "api", variant,
            standin_env(standin, BTCRASH_DIR=outdir, BTCRASH_ATTRS="team=core"), tmp_path)
    assert r.returncode == 0, r.describe()
    assert "api rc=0" in r.stdout, r.describe()
    recs = standin.records()
    assert len(recs) == 1, recs
    argv = recs[0]["argv"]
    assert int(argv[2]) == r.pid and int(opt(argv, "--tid")) == r.tid, argv
    assert "--siginfo" not in argv and "--ucontext" not in argv, argv
    assert opt(argv, "-o") == str(outdir) + "/"
    assert attrs(argv) == ["trigger=api", "reason=disk full", "team=core"], argv
    assert recs[0]["seize"] == 0, recs[0]
    assert r.stdout.splitlines() == [f"crashme pid={r.pid} tid={r.tid}", "api rc=0"], r.describe()


def test_api_concurrent_calls(programs, standin, tmp_path):
    """btcrash_snapshot() from 4 threads at once: serialised, each gets its own bt run."""
    r = run(programs["linked"], "apithreads", "linked", standin_env(standin), tmp_path)
    assert r.returncode == 0, r.describe()
    assert r.stdout.count("api rc=0") == 4, r.describe()
    recs = standin.records()
    assert len(recs) == 4, recs
    reasons = sorted(a for rec in recs for a in attrs(rec["argv"]) if a.startswith("reason="))
    assert reasons == [f"reason=thread {i}" for i in range(4)], reasons
    assert all(rec["seize"] == 0 for rec in recs), recs
    assert {int(opt(rec["argv"], "--tid")) for rec in recs}.isdisjoint({r.pid}) and len(
        {int(opt(rec["argv"], "--tid")) for rec in recs}) == 4, recs


def test_api_returns_bt_exit_status(programs, standin, tmp_path):
    r = run(programs["linked"], "api", "linked", standin_env(standin, STANDIN_MODE="fail"), tmp_path)
    assert r.returncode == 0 and "api rc=3" in r.stdout, r.describe()
    assert "btcrash: bt failed (pid " in r.stderr and "exit status 3): error: stand-in failure" in r.stderr, r.describe()


def test_api_without_bt(programs, tmp_path):
    r = run(programs["linked"], "api", "linked", base_env(BTCRASH_BT=tmp_path / "no" / "bt"), tmp_path)
    assert r.returncode == 0 and "api rc=-1" in r.stdout, r.describe()
    assert "btcrash: bt failed: cannot execute" in r.stderr, r.describe()


@pytest.mark.parametrize("variant", VARIANTS)
def test_disable(programs, standin, tmp_path, variant):
    r = run(programs[variant], "segv", variant, standin_env(standin, BTCRASH_DISABLE=1), tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    assert standin.records() == []
    assert "btcrash" not in r.stderr, r.describe()
    r = run(programs[variant], "api", variant, standin_env(standin, BTCRASH_DISABLE=1), tmp_path)
    assert r.returncode == 0 and "api rc=-1" in r.stdout, r.describe()
    assert standin.records() == []


@pytest.mark.parametrize("mode", ["segv", "abort", "fpe", "stackoverflow"])
def test_missing_bt(programs, tmp_path, mode):
    missing = tmp_path / "no" / "such" / "bt"
    r = run(programs["preload"], mode, "preload", base_env(BTCRASH_BT=missing), tmp_path)
    assert r.returncode == -CRASH_MODES[mode], r.describe()
    lines = [l for l in r.stderr.splitlines() if l.startswith("btcrash:")]
    assert lines == [f"btcrash: bt failed: cannot execute {missing}: no such file (errno 2)"], r.describe()
    assert r.stdout.strip() == f"crashme pid={r.pid} tid={r.tid}"


def test_no_bt_anywhere(programs, tmp_path):
    """No BTCRASH_BT, no bt in PATH, no ../bin/bt next to the library: still the right death."""
    libdir = tmp_path / "inst" / "lib"
    libdir.mkdir(parents=True)
    shutil.copy(lib_path(), libdir / "libbtcrash.so")
    env = base_env(PATH="/usr/bin:/bin", LD_PRELOAD=libdir / "libbtcrash.so")
    p = subprocess.run([str(programs["preload"]), "abort"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=RUN_TIMEOUT, preexec_fn=_no_core)
    assert p.returncode == -signal.SIGABRT, p
    assert b"btcrash: bt failed: no bt executable found" in p.stderr, p.stderr


def test_bt_next_to_library(programs, tmp_path):
    """Default: ../bin/bt relative to the library's directory (the build tree's layout)."""
    inst = tmp_path / "inst"
    (inst / "lib").mkdir(parents=True)
    shutil.copy(lib_path(), inst / "lib" / "libbtcrash.so")
    standin = Standin(inst / "bin", name="bt")
    env = base_env(PATH="/usr/bin:/bin", STANDIN_OUT=standin.out,
                   LD_PRELOAD=inst / "lib" / "libbtcrash.so")
    p = subprocess.run([str(programs["preload"]), "segv"], env=env, cwd=tmp_path,
                       capture_output=True, timeout=RUN_TIMEOUT, preexec_fn=_no_core)
    assert p.returncode == -signal.SIGSEGV, p
    recs = standin.records()
    assert len(recs) == 1 and recs[0]["argv"][0] == str(standin.path), recs
    # default output directory: the working directory at start-up
    assert opt(recs[0]["argv"], "-o") == str(tmp_path) + "/"


def test_bt_in_path(programs, tmp_path):
    standin = Standin(tmp_path / "pathdir", name="bt")
    env = base_env(PATH=f"{standin.path.parent}:/usr/bin:/bin", STANDIN_OUT=standin.out)
    r = run(programs["linked"], "segv", "linked", env, tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    recs = standin.records()
    assert len(recs) == 1 and recs[0]["argv"][0] == str(standin.path), recs


def test_relative_dir_and_bt(programs, tmp_path):
    """Relative BTCRASH_DIR / BTCRASH_BT are made absolute at start-up."""
    standin = Standin(tmp_path / "tools")
    (tmp_path / "snaps").mkdir()
    env = base_env(BTCRASH_BT="tools/bt-standin", BTCRASH_DIR="snaps", STANDIN_OUT=standin.out)
    r = run(programs["preload"], "segv", "preload", env, tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    argv = standin.records()[0]["argv"]
    assert argv[0] == str(tmp_path / "tools" / "bt-standin") and opt(argv, "-o") == str(tmp_path / "snaps") + "/"


def test_closed_standard_descriptors(programs, standin, tmp_path):
    """The application closed stdin and stdout: the library's pipes get those numbers, bt must
    still be gated and its output captured (nothing leaks into what becomes fd 1)."""
    def close_std():
        _no_core()
        os.close(0)
        os.close(1)

    env = standin_env(standin, LD_PRELOAD=lib_path())
    p = subprocess.run([str(programs["preload"]), "segv"], env=env, cwd=tmp_path,
                       stderr=subprocess.PIPE, timeout=RUN_TIMEOUT, preexec_fn=close_std)
    assert p.returncode == -signal.SIGSEGV, p
    recs = standin.records()
    assert len(recs) == 1 and recs[0]["seize"] == 0 and recs[0]["si_addr"] == FAULT_ADDRESS, recs
    assert b"btcrash: snapshot written by bt" in p.stderr, p.stderr


def test_failing_bt(programs, standin, tmp_path):
    r = run(programs["preload"], "segv", "preload", standin_env(standin, STANDIN_MODE="fail"), tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    lines = [l for l in r.stderr.splitlines() if l.startswith("btcrash:")]
    assert len(lines) == 1 and re.fullmatch(
        r"btcrash: bt failed \(pid \d+, exit status 3\): error: stand-in failure", lines[0]), r.describe()
    assert "stand-in failure" not in r.stdout


@pytest.mark.parametrize("mode", ["segv", "abort"])
def test_hanging_bt_is_killed(programs, standin, tmp_path, mode):
    r = run(programs["preload"], mode, "preload",
            standin_env(standin, STANDIN_MODE="hang", BTCRASH_TIMEOUT=2), tmp_path, timeout=60)
    assert r.returncode == -CRASH_MODES[mode], r.describe()
    assert 1.5 < r.seconds < 20, r.describe()
    recs = standin.records()
    assert len(recs) == 1, recs
    assert not Path(f"/proc/{recs[0]['self_pid']}").exists(), "the hanging bt is still running"
    assert f"no result after 2 s (BTCRASH_TIMEOUT), killed it (pid {recs[0]['self_pid']})" in r.stderr, r.describe()


def yama_scope():
    try:
        return Path("/proc/sys/kernel/yama/ptrace_scope").read_text().strip()
    except OSError:
        return None


@pytest.fixture
def unprivileged(programs, lib):
    """(directory, preexec_fn) to run crashme as an ordinary user: the current one if not root,
    else nobody (65534) in a directory it can use. Without CAP_SYS_PTRACE, bt may trace the
    process only as the same user and, under Yama ptrace_scope 1, because the process named it
    with PR_SET_PTRACER."""
    d = Path(tempfile.mkdtemp(prefix="btcrash-unpriv-"))
    d.chmod(0o777)
    shutil.copy(programs["preload"], d / "crashme")
    shutil.copy(lib, d / "libbtcrash.so")
    for p in (d / "crashme", d / "libbtcrash.so"):
        p.chmod(0o755)

    def drop():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
        _no_core()

    yield d, drop
    shutil.rmtree(d, ignore_errors=True)


def _run_unprivileged(d: Path, drop, mode: str, env: dict) -> Run:
    env = dict(env, LD_PRELOAD=str(d / "libbtcrash.so"))
    t0 = time.monotonic()
    p = subprocess.run([str(d / "crashme"), mode], env=env, cwd=d, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=RUN_TIMEOUT, preexec_fn=drop)
    return Run(p, time.monotonic() - t0)


@pytest.mark.parametrize("mode", ["segv", "api"])
def test_unprivileged_user(unprivileged, mode):
    d, drop = unprivileged
    python = sys.executable
    if os.geteuid() == 0:  # the test's interpreter may live under /root
        python = "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            pytest.skip("no /usr/bin/python3 for the stand-in bt run by nobody")
    standin = Standin(d / "standin", python=python)
    (d / "standin").chmod(0o777)
    r = _run_unprivileged(d, drop, mode, standin_env(standin))
    assert r.returncode == (0 if mode == "api" else -signal.SIGSEGV), r.describe()
    recs = standin.records()
    assert len(recs) == 1, f"{recs}\n{r.describe()}"
    assert recs[0]["seize"] == 0, (
        f"PTRACE_SEIZE by bt failed (errno {recs[0]['seize_errno']}, Yama ptrace_scope "
        f"{yama_scope()}): {recs[0]}")


# ---------------------------------------------------------------------------
# Part 2: the real bt


def _bt_snapshot_available(bt: Path):
    if not bt.is_file():
        return False, f"{bt} does not exist"
    p = subprocess.run([str(bt), "snapshot", "--help"], capture_output=True, text=True, timeout=30)
    text = p.stdout + p.stderr
    if p.returncode != 0 or "--ucontext" not in text or "--siginfo" not in text:
        return False, (f"`{bt} snapshot --help` does not document --siginfo/--ucontext yet "
                       f"(bt snapshot not implemented in this build)")
    return True, ""


@pytest.fixture(scope="module")
def real_bt():
    ok, why = _bt_snapshot_available(u.bt_path())
    if not ok:
        pytest.skip(why)
    return u.bt_path()


def _snapshot_file(outdir: Path, r: Run) -> Path:
    files = [p for p in outdir.iterdir() if p.is_file()]
    assert len(files) == 1, f"files in {outdir}: {files}\n{r.describe()}"
    return files[0]


def _show(bt: Path, snap: Path):
    p = subprocess.run([str(bt), "show", "--json", str(snap)], capture_output=True, text=True,
                       timeout=u.BT_TIMEOUT)
    assert p.returncode == 0, f"bt show --json {snap}: exit {p.returncode}\n{p.stderr}"
    return json.loads(p.stdout)


def _crashed_thread(doc, tid):
    assert doc.get("crashed_tid") == tid, f"crashed_tid {doc.get('crashed_tid')}, expected {tid}"
    threads = [t for t in doc["threads"] if t["tid"] == tid]
    assert threads and threads[0].get("crashed") is True, doc["threads"]
    assert doc["threads"][0]["tid"] == tid, "the crashing thread must come first"
    return threads[0]


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode,top", [
    ("segv", ["crash_here", "crash_middle", "crash_outer", "main"]),
    ("thread", ["crash_here", "crash_middle", "crash_outer", "crasher"]),
    ("stackoverflow", ["overflow_recurse", "overflow_recurse"]),
    ("threadoverflow", ["overflow_recurse", "overflow_recurse"]),
])
def test_real_bt_signal(real_bt, programs, tmp_path, variant, mode, top):
    outdir = tmp_path / "snaps"
    outdir.mkdir()
    env = base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=outdir, BTCRASH_ATTRS="team=core")
    if "overflow" in mode:
        env["BTCRASH_ARGS"] = "--no-vars"
    r = run(programs[variant], mode, variant, env, tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    assert "btcrash: snapshot written by bt" in r.stderr, r.describe()
    snap = _snapshot_file(outdir, r)
    doc = _show(real_bt, snap)
    assert doc["signal"]["name"] == "SIGSEGV", doc["signal"]
    thread = _crashed_thread(doc, r.tid)
    funcs = [f.get("function") for f in thread["frames"]]
    assert funcs[: len(top)] == top, f"top frames {funcs[:8]} (no handler frames expected)"
    assert not any(f["signal_frame"] for f in thread["frames"][: len(top)] if "signal_frame" in f)
    if "overflow" not in mode:
        assert int(doc["signal"]["address"], 16) == FAULT_ADDRESS, doc["signal"]
        assert doc["signal"]["code"] == 1, doc["signal"]


def test_real_bt_api(real_bt, programs, tmp_path):
    outdir = tmp_path / "snaps"
    outdir.mkdir()
    r = run(programs["linked"], "api", "linked", base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=outdir),
            tmp_path)
    assert r.returncode == 0 and "api rc=0" in r.stdout, r.describe()
    snap = _snapshot_file(outdir, r)
    doc = _show(real_bt, snap)
    ids = [t["tid"] for t in doc["threads"]]
    assert r.tid in ids, ids
    funcs = [f.get("function") for t in doc["threads"] if t["tid"] == r.tid for f in t["frames"]]
    assert "main" in funcs, funcs
    if "attributes" not in doc:
        pytest.skip("`bt show --json` has no top-level \"attributes\" object yet: "
                    "reason=\"disk full\" not checked")
    assert doc["attributes"].get("reason") == "disk full", doc["attributes"]
    assert doc["attributes"].get("trigger") == "api", doc["attributes"]


def test_real_bt_unprivileged(real_bt, unprivileged):
    d, drop = unprivileged
    out = d / "snaps"
    out.mkdir()
    out.chmod(0o777)
    r = _run_unprivileged(d, drop, "segv", base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=out))
    assert r.returncode == -signal.SIGSEGV, r.describe()
    assert "btcrash: snapshot written by bt" in r.stderr, f"Yama ptrace_scope {yama_scope()}\n{r.describe()}"
    doc = _show(real_bt, _snapshot_file(out, r))
    thread = _crashed_thread(doc, r.tid)
    assert thread["frames"][0]["function"] == "crash_here", thread["frames"][:3]


# --------------------------------------------------------------------------
# No lost snapshots


def test_missing_dir_is_created_and_crashes_never_overwrite(real_bt, programs, tmp_path):
    """BTCRASH_DIR naming a directory that does not exist: it is created (mode 0700, parents too)
    and each crash leaves its own snapshot; it used to become a regular file with the
    directory's name, overwritten by the next crash."""
    outdir = tmp_path / "new" / "crashes"
    env = base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=outdir, BTCRASH_ARGS="--no-vars")
    for _ in range(2):
        r = run(programs["preload"], "segv", "preload", env, tmp_path)
        assert r.returncode == -signal.SIGSEGV, r.describe()
        assert "btcrash: snapshot written by bt" in r.stderr, r.describe()
    assert outdir.is_dir() and (outdir.stat().st_mode & 0o777) == 0o700
    snaps = sorted(outdir.glob("*.btsnap"))
    assert len(snaps) == 2, snaps


def test_uncreatable_dir_fails_loudly_naming_it(real_bt, programs, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    outdir = blocker / "crashes"
    env = base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=outdir, BTCRASH_ARGS="--no-vars")
    r = run(programs["preload"], "segv", "preload", env, tmp_path)
    assert r.returncode == -signal.SIGSEGV, r.describe()
    assert f"output directory does not exist: {outdir}/" in r.stderr, r.describe()
    assert "snapshot written" not in r.stderr, r.describe()
    assert blocker.read_text() == "not a directory"


def test_concurrent_captures_into_one_dir_keep_every_snapshot(bt_bin, manifest, cores, tmp_path):
    """Captures that pick the same name at the same moment (same program, pid and second) each
    keep their own file: the name is taken with link(), not rename()."""
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O0-dwarf5-pie-fp")
    core = cores.core(entry)
    outdir = tmp_path / "snaps"
    outdir.mkdir()
    procs = [subprocess.Popen([str(u.bt_path()), "snapshot", str(core), "-o", f"{outdir}/", "-q",
                               "--no-vars"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    written = {o[0].decode().split()[1] for o in outs}
    assert len(written) == 6, outs
    assert sorted(str(p) for p in outdir.glob("*.btsnap")) == sorted(written)
    assert not list(outdir.glob("*.tmp.*"))


def test_real_bt_upload(real_bt, programs, tmp_path):
    """BTCRASH_UPLOAD: the snapshot is written, then sent by a detached `bt upload` (the crashing
    process does not wait for it); the outcome is logged next to the snapshot."""
    from recording_server import RecordingServer

    server = RecordingServer().start()
    try:
        outdir = tmp_path / "snaps"
        outdir.mkdir()
        env = base_env(BTCRASH_BT=real_bt, BTCRASH_DIR=outdir, BTCRASH_UPLOAD=server.url,
                       BT_UPLOAD_TOKEN="tok")
        r = run(programs["preload"], "segv", "preload", env, tmp_path)
        assert r.returncode == -signal.SIGSEGV, r.describe()
        log = outdir / "bt-upload.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.is_file() and "crash 1" in log.read_text()):
            time.sleep(0.05)
        snaps = list(outdir.glob("*.btsnap"))
        assert len(snaps) == 1, (list(outdir.iterdir()), r.describe())
        assert "uploaded to" in log.read_text(), log.read_text() if log.is_file() else r.describe()
        assert len(server.requests) == 1
        assert server.requests[0].body == snaps[0].read_bytes()
        assert server.requests[0].headers["authorization"] == "Bearer tok"
        assert _show(real_bt, snaps[0])["signal"]["name"] == "SIGSEGV"
    finally:
        server.stop()
