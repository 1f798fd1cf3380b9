"""A throwaway PostgreSQL server on loopback for the crash server's tests and benchmark.

Debian's postgresql (initdb, pg_ctl under /usr/lib/postgresql/*/bin). PostgreSQL refuses to run as
root: as root the cluster directory is given to the `postgres` user and the commands run as it
(runuser); otherwise as the current user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import List, Optional


def pg_bin_dir() -> Optional[Path]:
    """The newest /usr/lib/postgresql/N/bin with initdb and pg_ctl, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    for initdb in reversed(found):
        d = Path(initdb).parent
        if (d / "pg_ctl").exists():
            return d
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """initdb + pg_ctl start in `base`; url() is a postgresql:// URL of a fresh database."""

    def __init__(self, base: Path) -> None:
        bindir = pg_bin_dir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/"
                                    "initdb): apt-get install postgresql")
        self.bindir = bindir
        self.base = Path(base)
        self.data = self.base / "pgdata"
        self.sock = self.base / "sock"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self.user = "postgres" if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self._dbs = 0

    def _run(self, args: List[str], **kw) -> subprocess.CompletedProcess:
        cmd = (["runuser", "-u", "postgres", "--"] if self.as_root else []) + args
        return subprocess.run(cmd, capture_output=True, text=True, **kw)

    def start(self) -> "PostgresServer":
        self.base.mkdir(parents=True, exist_ok=True)
        self.sock.mkdir(exist_ok=True)
        if self.as_root:
            # The postgres user must reach the directory: every parent needs o+x.
            for p in [self.base, *self.base.parents]:
                if str(p) in ("/", "/tmp"):
                    continue
                os.chmod(p, os.stat(p).st_mode | 0o005)
            shutil.chown(self.base, "postgres")
            shutil.chown(self.sock, "postgres")
        r = self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user,
                       "--no-sync", "-E", "UTF8"])
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stdout[-2000:]} {r.stderr[-2000:]}")
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sock} "
                "-c max_connections=200 -c fsync=on -c shared_buffers=128MB")
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"),
                       "-o", opts, "-w", "-t", "60", "start"])
        if r.returncode != 0:
            log = (self.base / "log").read_text() if (self.base / "log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr[-2000:]} {log[-2000:]}")
        # Kept to stop it even if the directory became unreachable for the postgres user.
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
        return self

    def create_database(self, name: Optional[str] = None) -> str:
        """A new empty database; returns its URL."""
        self._dbs += 1
        name = name or f"bt{self._dbs}"
        r = self._run([str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                       "-U", self.user, name])
        if r.returncode != 0:
            raise RuntimeError(f"createdb {name}: {r.stderr}")
        return self.url(name)

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        pid = getattr(self, "pid", None)
        if r.returncode != 0 and pid:
            # pg_ctl could not reach the directory: SIGQUIT is the postmaster's immediate shutdown.
            try:
                os.kill(pid, signal.SIGQUIT)
                for _ in range(200):
                    os.kill(pid, 0)
                    time.sleep(0.05)
            except ProcessLookupError:
                pass

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
