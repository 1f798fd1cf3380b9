"""What the benchmark scripts share: running a tool on a live target and measuring its wall time
and peak RSS, starting a target that says READY, dropping the page cache for cold runs, reading
bt snapshot's own report of how long the target was stopped, and the tools compared with bt."""
from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Run:
    seconds: float
    peak_rss_mib: float
    exit_code: int
    stdout: str = ""


@dataclass
class Stats:
    """Median of several runs of one command, and what the runs printed last."""
    runs: list = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def peak_rss_mib(self) -> float:
        return statistics.median(r.peak_rss_mib for r in self.runs)

    @property
    def ok(self) -> bool:
        return all(r.exit_code == 0 for r in self.runs)

    def as_json(self) -> dict:
        return {"seconds": self.seconds, "peak_rss_mib": self.peak_rss_mib,
                "runs_seconds": [r.seconds for r in self.runs],
                "exit_codes": [r.exit_code for r in self.runs]}


TIME = shutil.which("time", path="/usr/bin:/bin")


def run_measured(cmd, env=None, timeout=1800, keep_stdout=False) -> Run:
    """Runs cmd to completion: its wall time and peak RSS. The RSS comes from /usr/bin/time (GNU
    time, a small process that forks the tool): a child forked straight from this Python would
    report Python's own peak RSS when that is larger (the kernel keeps the pre-exec image's
    high-water mark in ru_maxrss), which once made a 10 MB bt look like 78 MB."""
    rss_file = None
    if TIME:
        fd, rss_file = tempfile.mkstemp(prefix="btbench-rss")
        os.close(fd)
        cmd = [TIME, "-f", "%M", "-o", rss_file, *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE if keep_stdout else subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    dt = time.perf_counter() - t0
    rss = 0.0
    if rss_file:
        text = Path(rss_file).read_text().strip().splitlines()
        os.unlink(rss_file)
        # GNU time writes "Command exited with non-zero status N" before the figure when it fails.
        rss = int(text[-1]) / 1024.0 if text and text[-1].isdigit() else 0.0
    return Run(dt, rss, p.returncode, out.decode(errors="replace") if keep_stdout else "")


def can_drop_caches() -> bool:
    return os.access("/proc/sys/vm/drop_caches", os.W_OK)


def drop_page_cache() -> bool:
    """Empties the kernel's page cache (root only) so the next run reads files from disk."""
    if not can_drop_caches():
        return False
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    return True


class Target:
    """A benchmark program started with its arguments; it prints "READY <pid>" once its threads
    are parked. Used as a context manager: the program is killed on exit."""

    def __init__(self, cmd, ready_timeout=300):
        self.cmd = [str(c) for c in cmd]
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        t0 = time.monotonic()
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY"):
            self.proc.kill()
            raise SystemExit(f"{' '.join(self.cmd)}: no READY line ({line!r})")
        self.ready_seconds = time.monotonic() - t0
        self.pid = self.proc.pid

    def threads(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/task"))

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
        return 0.0

    def vsize_gib(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) / 1024.0 / 1024.0
        return 0.0

    def mappings(self) -> int:
        return len(Path(f"/proc/{self.pid}/maps").read_text().splitlines())

    def stopped(self) -> bool:
        state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state in ("t", "T")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def bt_snapshot(bt: str, pid: int, out: Path, extra=(), env=None) -> dict:
    """One `bt snapshot`: wall time, peak RSS, size, and how long bt says the target was stopped."""
    cmd = [bt, "snapshot", str(pid), "-o", str(out), *extra]
    run = run_measured(cmd, env=env, keep_stdout=True)
    m = re.search(r"\((\d+) bytes, target stopped ([\d.]+) ms\)", run.stdout)
    if run.exit_code != 0 or not m:
        raise SystemExit(f"{' '.join(cmd)} failed (exit {run.exit_code}): {run.stdout[-500:]}")
    size = out.stat().st_size
    out.unlink()
    return {"seconds": run.seconds, "peak_rss_mib": run.peak_rss_mib, "bytes": size,
            "stopped_ms": float(m.group(2))}


def gcore(pid: int, prefix: Path, timeout=1800) -> tuple[Path, float]:
    """gdb's gcore of a live process: the core's path (PREFIX.PID) and how long it took."""
    t0 = time.perf_counter()
    subprocess.run(["gcore", "-o", str(prefix), str(pid)], capture_output=True, check=True, timeout=timeout)
    return Path(f"{prefix}.{pid}"), time.perf_counter() - t0


# drgn prints every thread's stack trace (it unwinds cores, not live processes).
DRGN_SCRIPT = "for t in prog.threads():\n    print(t.tid)\n    print(t.stack_trace())\n"


def tool_commands(bt: str, pid: int) -> dict:
    """The all-thread backtraces compared with bt, as the command each tool's users run."""
    p = str(pid)
    cmds = {
        "bt": [bt, p],
        "bt --vars": [bt, "--vars", p],
        "gdb thread apply all bt": ["gdb", "-batch", "-nx", "-p", p, "-ex", "thread apply all bt"],
        "gdb thread apply all bt full": ["gdb", "-batch", "-nx", "-p", p, "-ex", "thread apply all bt full"],
        "lldb-19 bt all": ["lldb-19", "--batch", "-p", p, "-o", "bt all"],
        "eu-stack -i -s": ["eu-stack", "-i", "-s", "-p", p],
    }
    return {k: v for k, v in cmds.items() if shutil.which(v[0])}


def frame_lines(text: str) -> int:
    """Frames a tool printed: "#N" lines (bt, gdb, eu-stack, drgn) or "frame #N" (lldb)."""
    return len([l for l in text.splitlines() if re.match(r"\s*(\*\s*)?(frame )?#\d+", l)])


def markdown_table(header, rows) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
