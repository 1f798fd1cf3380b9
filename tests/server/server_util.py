"""Helpers of the crash server's tests and benchmark: the corpus, a server subprocess, uploads."""

from __future__ import annotations

import concurrent.futures
import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import e2e_util as u  # noqa: E402

TESTDATA = Path(os.environ.get("BT_TESTDATA_DIR", REPO.parent / "shared" / "testdata")) / "minidump"
# linux_inline.dmp's module (the store's directory holds .old/.new.sym, not NAME.sym: the file is named)
INLINE_SYM = (TESTDATA / "breakpad" / "symbols" / "linux_inline" / "BBA6FA10B8AAB33D00000000000000000"
              / "linux_inline.new.sym")
RUST_SYM = TESTDATA / "rust-minidump" / "crash.sym"
PYTHON_DIR = u.build_dir() / "python"
# Written out here rather than imported: the tests check the server against the documented order.
SEVERITY_ORDER = ["exploitable", "probably_exploitable", "probably_not_exploitable", "unknown"]


def symbol_args() -> List[str]:
    """The symbol stores the test servers get (and the independent expectation uses)."""
    out: List[str] = []
    for p in (INLINE_SYM, RUST_SYM):
        if p.exists():
            out += ["--symbols", str(p)]
    return out


def symbol_paths() -> List[str]:
    return [a for a in symbol_args() if a != "--symbols"]


@dataclass
class Item:
    """One corpus file and what the upload carries."""

    path: Path
    attrs: Dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def _bt(*args: str) -> None:
    r = subprocess.run([str(u.bt_path()), *args], capture_output=True, text=True, timeout=120)
    if r.returncode not in (0, 9):  # 9: written, source incomplete (as bt documents)
        raise RuntimeError(f"bt {' '.join(args)}: exit {r.returncode}: {r.stderr[-500:]}")


def make_corpus(base: Path, variants: int = 5) -> List[Item]:
    """For every fixture binary: a core, then `variants` snapshots with different host/version
    attributes and a minidump exported from each (distinct bytes: the attributes differ), plus
    the testdata minidumps. Snapshots are cached in `base` (made once per session)."""
    manifest = u.load_manifest()
    done = base / "corpus.json"
    if done.exists():
        return [Item(Path(p), a) for p, a in json.loads(done.read_text())]
    items: List[Item] = []
    jobs: List[Tuple[str, ...]] = []
    for n, b in enumerate(manifest["binaries"]):
        core = u.make_core(b["path"], base / "cores" / b["name"])
        for v in range(variants):
            k = n * variants + v
            attrs = {"host": f"host-{k % 11}", "version": f"1.{k % 4}", "product": b["program"]}
            snap = base / f"{b['name']}.{v}.btsnap"
            dmp = base / f"{b['name']}.{v}.dmp"
            args = ["snapshot", str(core), "--exe", b["path"], "-o", str(snap)]
            if b.get("debug_dir"):
                args += ["--debug-dir", b["debug_dir"]]
            for key, val in attrs.items():
                args += ["--attr", f"{key}={val}"]
            jobs.append(tuple(args))
            items.append(Item(snap, {}))
            items.append(Item(dmp, {}))
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        list(ex.map(lambda a: _bt(*a), jobs))
        list(ex.map(lambda i: _bt("export", "--minidump", str(i.path.with_suffix(".btsnap")), "-o", str(i.path)),
                    [i for i in items if i.path.suffix == ".dmp"]))
    # The real minidumps: attributes given by the upload (a minidump from Breakpad has none).
    for k, dmp in enumerate(sorted(TESTDATA.rglob("*.dmp"))):
        items.append(Item(dmp, {"host": f"lab-{k % 3}", "version": "9.0", "product": dmp.stem}))
    done.write_text(json.dumps([[str(i.path), i.attrs] for i in items]))
    return items


def expected_analysis(items: Sequence[Item]) -> Dict[str, Tuple[str, str]]:
    """{sha256: (fingerprint, severity)} by opening every file with the engine directly, with
    the servers' symbol stores: the expectation of the grouping, computed apart from the server."""
    import btengine
    out: Dict[str, Tuple[str, str]] = {}
    for it in items:
        with btengine.open(it.path, symbols=symbol_paths(), offline=True) as p:
            a = p.analysis
            # docs/server.md: a crash's severity is its worst classification's.
            sev = [c.severity for c in a.classifications]
            worst = min(sev, key=SEVERITY_ORDER.index) if sev else "unknown"
            out[hashlib.sha256(it.data).hexdigest()] = (a.fingerprint, worst)
    return out


# HTTP ----------------------------------------------------------------------------------------

def request(url: str, data: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
            method: Optional[str] = None, timeout: float = 60) -> Tuple[int, bytes, Dict[str, str]]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def get_json(url: str, token: Optional[str] = None) -> Any:
    status, body, _ = request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    assert status == 200, f"GET {url}: {status} {body[:300]!r}"
    return json.loads(body)


def upload(base: str, item: Item, token: Optional[str] = None, gz: bool = False
           ) -> Tuple[int, Dict[str, Any]]:
    from urllib.parse import urlencode
    q = {f"attr.{k}": v for k, v in item.attrs.items()}
    q["filename"] = item.path.name
    data = item.data
    headers = {"Content-Type": "application/octet-stream"}
    if gz:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, body, _ = request(f"{base}/api/v1/crashes?{urlencode(q)}", data=data, headers=headers)
    try:
        return status, json.loads(body)
    except ValueError:
        return status, {"raw": body.decode(errors="replace")}


def upload_all(base: str, items: Sequence[Item], threads: int = 8, token: Optional[str] = None
               ) -> List[Tuple[Item, int, Dict[str, Any]]]:
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        results = list(ex.map(lambda it: (it, *upload(base, it, token)), items))
    return results  # type: ignore[return-value]


# A server subprocess ---------------------------------------------------------------------------

class ServerProcess:
    """`python3 -m btengine server ...` on a free loopback port, importing the build tree's
    package (as tests/python do). Its own process group, so kill9() ends the workers too."""

    def __init__(self, db_url: str, workdir: Path, workers: int = 2, args: Sequence[str] = ()) -> None:
        self.db_url = db_url
        self.workdir = Path(workdir)
        self.workers = workers
        self.args = list(args)
        self.port = 0
        self.proc: Optional[subprocess.Popen] = None
        self.log = self.workdir / "server.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ServerProcess":
        from pg_util import free_port
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR), PYTHONUNBUFFERED="1")
        env.pop("DEBUGINFOD_URLS", None)
        env.pop("BTENGINE_DB", None)
        cmd = [sys.executable, "-m", "btengine", "server", "--db", self.db_url, "--listen",
               f"127.0.0.1:{self.port}", "--workers", str(self.workers), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     env=env, start_new_session=True, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.log.read_text()[-3000:]}")
            try:
                status, _, _ = request(f"{self.base}/healthz", timeout=2)
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server not up within {timeout} s: {self.log.read_text()[-3000:]}")

    def kill9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
