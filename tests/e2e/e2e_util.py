"""Helpers shared by the end-to-end tests (no pytest dependency, so that they
can also be used from a plain Python prompt while debugging a failure)."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]

# (test id, quirk name) for every gdb quirk an oracle test relied on; printed
# by conftest.pytest_terminal_summary.
QUIRK_LOG: list = []
GDB = shutil.which("gdb") or "gdb"

# gdb does not get more than this to print a backtrace (the 200-level recursion
# with libc6-dbg takes ~1 s).
GDB_TIMEOUT = 120
BT_TIMEOUT = 60
READY_TIMEOUT = 20


def build_dir() -> Path:
    return Path(os.environ.get("BT_BUILD_DIR", REPO_ROOT / "build")).resolve()


def fixtures_dir() -> Path:
    """Where the fixture binaries and manifest are; BT_FIXTURES_DIR lets the
    fixtures come from another build tree than the engine."""
    env = os.environ.get("BT_FIXTURES_DIR")
    if env:
        return Path(env).resolve()
    return build_dir() / "tests" / "fixtures"


def bt_path() -> Path:
    return Path(os.environ.get("BT_BIN", build_dir() / "bin" / "bt"))


def manifest_path() -> Path:
    return fixtures_dir() / "manifest.json"


def load_manifest() -> dict:
    with open(manifest_path()) as f:
        return json.load(f)


# The Rust toolchain of the Rust tests (tests/e2e/test_rust*.py, tests/python's Rust tests): an
# environment variable naming the tool wins (BT_RUSTC=/path/to/rustc, BT_RUST_GDB=/path/to/rust-gdb,
# e.g. another toolchain than the machine's), else PATH, else rustup's ~/.cargo/bin.
RUST_TOOL_ENV = {"rustc": "BT_RUSTC", "rust-gdb": "BT_RUST_GDB"}


class RustToolMissing(Exception):
    """A Rust tool is not there; str() says why (what was looked at)."""


class RustToolOverrideError(Exception):
    """BT_RUSTC / BT_RUST_GDB names no executable: an error of the test run, never a skip."""


def rust_tool(name: str) -> str:
    """The path of `name` (rustc or rust-gdb): $BT_RUSTC / $BT_RUST_GDB when set (it must then be
    an executable: a wrong override raises RustToolOverrideError, it is never replaced by another
    toolchain), else PATH, else ~/.cargo/bin. Raises RustToolMissing, saying why, when there is
    none."""
    var = RUST_TOOL_ENV[name]
    override = os.environ.get(var)
    if override:
        path = Path(override).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise RustToolOverrideError(f"{var}={override} is not an executable file")
    found = shutil.which(name)
    if found:
        return found
    cargo = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo")) / "bin" / name
    if cargo.is_file() and os.access(cargo, os.X_OK):
        return str(cargo)
    raise RustToolMissing(f"{name} not found in ${var}, PATH or ~/.cargo/bin")


def rust_tool_or_none(name: str) -> tuple:
    """(path, None) or (None, why it is missing); a wrong override still raises."""
    try:
        return rust_tool(name), None
    except RustToolMissing as e:
        return None, str(e)


def core_pattern() -> str:
    try:
        return Path("/proc/sys/kernel/core_pattern").read_text().strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------
# Running fixtures


def _unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@dataclass
class PausedProcess:
    proc: subprocess.Popen
    pid: int
    exe: str


def start_paused(exe: str, timeout: float = READY_TIMEOUT) -> PausedProcess:
    """Start `exe pause`, wait for its `READY <pid>` line.  The caller must
    call stop_paused()."""
    proc = subprocess.Popen(
        [exe, "pause"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            _kill(proc)
            raise RuntimeError(f"{exe} pause: no READY line within {timeout}s (got {buf!r})")
        r, _, _ = select.select([proc.stdout], [], [], left)
        if r:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                err = proc.stderr.read().decode(errors="replace")
                proc.wait()
                raise RuntimeError(
                    f"{exe} pause exited ({proc.returncode}) before READY: {buf!r} {err!r}"
                )
            buf += chunk
    line = buf.split(b"\n", 1)[0].decode()
    parts = line.split()
    if len(parts) != 2 or parts[0] != "READY" or int(parts[1]) != proc.pid:
        _kill(proc)
        raise RuntimeError(f"{exe} pause: unexpected first line {line!r} (pid {proc.pid})")
    return PausedProcess(proc=proc, pid=proc.pid, exe=exe)


def _kill(proc: subprocess.Popen):
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    with contextlib.suppress(Exception):
        proc.wait(timeout=10)
    for stream in (proc.stdout, proc.stderr):
        if stream:
            with contextlib.suppress(Exception):
                stream.close()


def stop_paused(p: PausedProcess):
    _kill(p.proc)


@contextlib.contextmanager
def paused(exe: str):
    p = start_paused(exe)
    try:
        yield p
    finally:
        stop_paused(p)


def proc_state(pid: int, tid: Optional[int] = None) -> Optional[str]:
    """The state letter from /proc/PID[/task/TID]/stat, None if gone."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        data = Path(path).read_text()
    except OSError:
        return None
    return data[data.rindex(")") + 2]


def wait_all_sleeping(pid: int, timeout: float = 2.0) -> bool:
    """Wait until every thread of pid is blocked in the kernel (state S), as
    the paused fixtures are once a debugger has let them go again (a syscall
    interrupted by a ptrace stop is restarted). A thread still inside write(2) does not count:
    a fixture prints READY with it, the reader can wake before the writer has returned, and a
    loaded machine may leave it sleeping in there (bt then sees fixture_ready's write, and gdb,
    run later, sees pause)."""
    deadline = time.monotonic() + timeout
    while True:
        tids = task_ids(pid)
        states = [proc_state(pid, t) for t in tids]
        if states and all(s == "S" for s in states) and not any(_in_write(pid, t) for t in tids):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def _in_write(pid: int, tid: int) -> bool:
    """Whether the thread is blocked in write(2) (x86-64 syscall 1), from /proc/.../syscall."""
    try:
        return Path(f"/proc/{pid}/task/{tid}/syscall").read_text().split()[0] == "1"
    except (OSError, IndexError):
        return False


def task_ids(pid: int):
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return []


# --------------------------------------------------------------------------
# Core files


class CoreUnavailable(RuntimeError):
    pass


FATAL_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 11: "SIGSEGV"}


def build_and_crash(compile_cmd, source, workdir: Path, name: str):
    """Compile a one-file test program (compile_cmd + [source, -o, exe]) into workdir and
    return (exe, core) from its crash, for the tests whose programs are built at test time."""
    exe = workdir / name
    subprocess.run(list(compile_cmd) + [str(source), "-o", str(exe)], check=True)
    return exe, make_core(str(exe), workdir)


def cached_core(cache: dict, key, exe: str, workdir: Path, mode: str = "crash") -> Path:
    """make_core once per key, remembered in `cache` (a session's); the calling test skips, with
    the reason, where no core can be made here (CoreUnavailable), as every later one asking."""
    import pytest

    if key not in cache:
        try:
            cache[key] = make_core(exe, workdir, mode=mode)
        except CoreUnavailable as e:
            cache[key] = e
    got = cache[key]
    if isinstance(got, Exception):
        pytest.skip(f"cannot produce a core file here: {got}")
    return got


def make_core(exe: str, workdir: Path, timeout: float = 60, mode: str = "crash") -> Path:
    """Run `exe crash` (or `exe <mode>`) in workdir and return the path of its core file.

    With a plain core_pattern (no pipe, no directory) the kernel writes the
    core into the cwd (RLIMIT_CORE is raised in the child); otherwise, or if
    no core appears, the program is run under gdb and `gcore` is taken when it
    stops on the fatal signal.  Raises CoreUnavailable if neither works.
    BT_E2E_FORCE_GCORE=1 skips the kernel path (to test the fallback)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for old in workdir.glob("core*"):
        old.unlink()
    pattern = core_pattern()
    errors = []
    if os.environ.get("BT_E2E_FORCE_GCORE") == "1":
        errors.append("kernel core: skipped (BT_E2E_FORCE_GCORE=1)")
    elif pattern and not pattern.startswith("|") and "/" not in pattern:
        proc = subprocess.run(
            [exe, mode],
            cwd=workdir,
            preexec_fn=_unlimited_core,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
        )
        if proc.returncode >= 0:
            raise RuntimeError(
                f"{exe} {mode} did not die from a signal (exit {proc.returncode}): "
                f"{proc.stderr.decode(errors='replace')}"
            )
        new = sorted(workdir.glob("core*"))
        if len(new) == 1 and new[0].stat().st_size > 0:
            return new[0]
        errors.append(f"kernel core: pattern {pattern!r}, files {[p.name for p in new]}")
    else:
        errors.append(f"kernel core: core_pattern {pattern!r} is not usable here")
    core = workdir / "core.gdb"
    # Let the program's own signals (the SIGUSR1 of sighandler_c) through; stop
    # only on the fatal one, check it is fatal, and dump there.
    proc = subprocess.run(
        [GDB, "-batch", "-nx", "-iex", "set debuginfod enabled off",
         "-ex", "handle all nostop noprint pass",
         "-ex", "handle SIGSEGV SIGBUS SIGILL SIGFPE SIGABRT stop print",
         "-ex", "run",
         "-ex", "python print('BT-STOP-SIGNAL %d' % int(gdb.parse_and_eval('$_siginfo.si_signo')))",
         "-ex", f"gcore {core}",
         "-ex", "kill",
         "--args", exe, mode],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout + GDB_TIMEOUT,
    )
    out = proc.stdout.decode(errors="replace")
    stop = [int(l.split()[1]) for l in out.splitlines() if l.startswith("BT-STOP-SIGNAL ")]
    if core.exists() and core.stat().st_size > 0 and stop and stop[0] in FATAL_SIGNALS:
        return core
    errors.append(
        f"gdb gcore: exit {proc.returncode}, stop signal {stop}: "
        f"{proc.stderr.decode(errors='replace')[-500:]}"
    )
    raise CoreUnavailable("; ".join(errors))


# --------------------------------------------------------------------------
# gdb


def gdb_base_command(debug_dir: Optional[str] = None):
    cmd = [GDB, "-batch", "-nx", "-iex", "set debuginfod enabled off"]
    if debug_dir:
        # Must be set before the executable is loaded (-iex): gdb looks the
        # separate debug file up by build-id under each directory.
        cmd += ["-iex", f"set debug-file-directory {debug_dir}:/usr/lib/debug"]
    cmd += [
        "-ex", "set pagination off",
        "-ex", "set width 0",
        "-ex", "set print thread-events off",
        # Show the frames above main (__libc_start_call_main, ... _start) so that
        # the whole unwind is compared, not only what gdb shows by default.
        "-ex", "set backtrace past-main on",
    ]
    return cmd


@dataclass
class ToolRun:
    cmd: list
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.cmd)}\nexit {self.returncode} after {self.seconds:.2f}s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def _run(cmd, timeout) -> ToolRun:
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    return ToolRun(
        cmd=[str(c) for c in cmd],
        returncode=p.returncode,
        stdout=p.stdout.decode(errors="replace"),
        stderr=p.stderr.decode(errors="replace"),
        seconds=time.monotonic() - t0,
    )


GDB_FRAME_INFO = Path(__file__).resolve().parent / "gdb_frame_info.py"


def gdb_core(exe: str, core: str, debug_dir: Optional[str] = None) -> ToolRun:
    cmd = gdb_base_command(debug_dir) + [
        "-ex", "thread apply all bt", "-x", str(GDB_FRAME_INFO), exe, core]
    return _run(cmd, GDB_TIMEOUT)


def gdb_live(pid: int, exe: Optional[str] = None, debug_dir: Optional[str] = None) -> ToolRun:
    cmd = gdb_base_command(debug_dir) + [
        "-ex", "thread apply all bt", "-x", str(GDB_FRAME_INFO)]
    if exe:
        cmd.append(exe)
    cmd += ["-p", str(pid)]
    return _run(cmd, GDB_TIMEOUT)


# --------------------------------------------------------------------------
# bt


def run_bt(args, timeout: float = BT_TIMEOUT) -> ToolRun:
    return _run([str(bt_path())] + [str(a) for a in args], timeout)


def run_python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python3 -c code` with the build tree's btengine package importable."""
    import sys
    env = dict(os.environ, PYTHONPATH=str(build_dir() / "python"))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=timeout)


def build_id(path: str) -> Optional[str]:
    """The GNU build-id of an ELF file, read from its notes (pure Python)."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        sh_type, = struct.unpack_from("<I", data, off + 4)
        if sh_type != 7:  # SHT_NOTE
            continue
        sh_offset, sh_size = struct.unpack_from("<QQ", data, off + 0x18)
        pos, end = sh_offset, sh_offset + sh_size
        while pos + 12 <= end:
            namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
            name = data[pos + 12 : pos + 12 + namesz]
            desc_off = pos + 12 + ((namesz + 3) & ~3)
            if ntype == 3 and name.rstrip(b"\0") == b"GNU":
                return data[desc_off : desc_off + descsz].hex()
            pos = desc_off + ((descsz + 3) & ~3)
    return None


def elf_sections(path: str):
    """{name: (flags, compression type or None)} for an ELF64 LE file."""
    import struct

    with open(path, "rb") as f:
        data = f.read()
    (e_shoff,) = struct.unpack_from("<Q", data, 0x28)
    e_shentsize, e_shnum, e_shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        sh_name, sh_type, sh_flags, _addr, sh_offset, sh_size = struct.unpack_from(
            "<IIQQQQ", data, off
        )
        headers.append((sh_name, sh_type, sh_flags, sh_offset, sh_size))
    strtab_off = headers[e_shstrndx][3]
    out = {}
    for sh_name, sh_type, sh_flags, sh_offset, sh_size in headers:
        end = data.index(b"\0", strtab_off + sh_name)
        name = data[strtab_off + sh_name : end].decode()
        ctype = None
        if sh_flags & 0x800:  # SHF_COMPRESSED: Elf64_Chdr first
            (ch_type,) = struct.unpack_from("<I", data, sh_offset)
            ctype = {1: "zlib", 2: "zstd"}.get(ch_type, f"type{ch_type}")
        out[name] = (sh_flags, ctype)
    return out



# --------------------------------------------------------------------------
# gdb `bt full` (the variables oracle, test_vars_oracle.py)

# On top of gdb_base_command: print non-scalar arguments in full in the frame
# line (gdb's default, `scalars`, prints `f=...` for a struct, union, array or
# class argument, which would leave those parameters unchecked; locals are
# always printed in full).  Everything else (entry values, print elements,
# repeats, pretty printers) stays at gdb's defaults, which is what bt mimics.
GDB_FULL_SETTINGS = ["-ex", "set print frame-arguments all"]
# gdb prints the bytes of a char string that form valid UTF-8 as characters
# when its locale is UTF-8 (the usual case) and as octal escapes otherwise
# (LANG=C); the oracle pins the locale so that its results do not depend on
# the environment.
GDB_FULL_ENV = {"LC_ALL": "C.UTF-8"}


def _run_env(cmd, timeout, env_overrides) -> ToolRun:
    t0 = time.monotonic()
    env = dict(os.environ, **env_overrides)
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
    return ToolRun(
        cmd=[f"{k}={v}" for k, v in env_overrides.items()] + [str(c) for c in cmd],
        returncode=p.returncode,
        stdout=p.stdout.decode(errors="replace"),
        stderr=p.stderr.decode(errors="replace"),
        seconds=time.monotonic() - t0,
    )


def gdb_full_command(debug_dir: Optional[str] = None):
    """gdb's command line up to the target, for `thread apply all bt full`
    followed by the frame kinds of gdb_frame_info.py."""
    return gdb_base_command(debug_dir) + GDB_FULL_SETTINGS + [
        "-ex", "thread apply all bt full", "-x", str(GDB_FRAME_INFO)]


def gdb_core_full(exe: str, core: str, debug_dir: Optional[str] = None) -> ToolRun:
    return _run_env(gdb_full_command(debug_dir) + [exe, core], GDB_TIMEOUT, GDB_FULL_ENV)


def gdb_live_full(pid: int, exe: Optional[str] = None, debug_dir: Optional[str] = None) -> ToolRun:
    cmd = gdb_full_command(debug_dir)
    if exe:
        cmd.append(exe)
    return _run_env(cmd + ["-p", str(pid)], GDB_TIMEOUT, GDB_FULL_ENV)


def gdb_commands(commands, target_args, debug_dir: Optional[str] = None) -> ToolRun:
    """Run gdb_base_command plus one -ex per command on a target (`[exe, core]`
    or `["-p", pid]`); a failing command does not stop the following ones."""
    cmd = list(gdb_base_command(debug_dir))
    for c in commands:
        cmd += ["-ex", c]
    return _run_env(cmd + [str(a) for a in target_args], GDB_TIMEOUT, GDB_FULL_ENV)
