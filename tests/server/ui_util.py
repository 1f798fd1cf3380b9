"""Helpers of the web UI test (test_web_ui.py): a corpus of real crashes, the crash server
running on loopback, and headless Chromium driven by Selenium.

The corpus is made of real crashes of tests/e2e/data/fault_classes.cpp (built here with g++):
kernel cores turned into snapshots by `bt snapshot --attr ...`, so the analysis (class, severity,
highlighted variables) is the engine's own. Every snapshot differs by its attributes, so each is
one crash; the modes' expected class and severity are docs/analysis.md's rules (the same table
test_fault_classes.py checks)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "e2e"))

import e2e_util as u  # noqa: E402

PYTHON_DIR = u.build_dir() / "python"
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))

FAULT_SOURCE = REPO / "tests" / "e2e" / "data" / "fault_classes.cpp"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
DAY = 86400.0

# mode -> (the function the fault is in: the top frame of the group's title, class, severity,
# the variable the analysis highlights in that frame). From docs/analysis.md's rules: a write to
# an unmapped address is exploitable, a read near NULL probably not, an assertion probably not;
# wild_write and null_field name the pointer that faulted (test_fault_classes.py's HIGHLIGHT).
MODES: Dict[str, Tuple[str, str, str, Optional[str]]] = {
    "wild_write": ("wild_write", "wild-write", "exploitable", "ptr"),
    "null_field": ("null_field", "null-deref", "probably_not_exploitable", "job"),
    "assert": ("main", "assertion-failure", "probably_not_exploitable", None),
}


@dataclass
class Entry:
    """One crash of the corpus: its mode, attributes, age (days before the test's start) and
    whether it is uploaded over HTTP (else ingested into the store before the server starts,
    which is how a crash gets a past `received` time)."""
    mode: str
    host: str
    version: str
    age_days: float
    http: bool = False
    extra: Dict[str, str] = field(default_factory=dict)
    minidump: bool = False           # exported (`bt export --minidump`) and sent as Crashpad does
    path: Optional[Path] = None      # the snapshot (or minidump) file, once made

    @property
    def attributes(self) -> Dict[str, str]:
        return {"host": self.host, "version": self.version, **self.extra}


def have_browser() -> Optional[str]:
    """Why the browser test cannot run here, or None."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian chromium, chromium-driver: scripts/setup)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium Python package is not installed (scripts/requirements-dev.txt)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------------------------
# The corpus

def make_snapshots(work: Path, entries: List[Entry]) -> None:
    """Builds fault_classes, crashes it once per mode (a kernel core, or gdb's gcore), and writes
    one snapshot per entry with its attributes (`bt snapshot CORE --exe EXE --attr K=V`)."""
    exe = work / "fault_classes"
    subprocess.run(["g++", "-g", "-O0", str(FAULT_SOURCE), "-o", str(exe)], check=True)
    cores: Dict[str, Tuple[Path, Path]] = {}
    for mode in sorted({e.mode for e in entries}):
        d = work / mode
        d.mkdir()
        os.link(exe, d / "fault_classes")  # one directory per core: make_core takes the cwd's
        os.environ["FAULT_MODE"] = mode
        try:
            cores[mode] = (d / "fault_classes", u.make_core(str(d / "fault_classes"), d))
        finally:
            del os.environ["FAULT_MODE"]
    for i, e in enumerate(entries):
        prog, core = cores[e.mode]
        e.path = work / f"{i:02d}-{e.mode}.btsnap"
        cmd = [str(u.bt_path()), "snapshot", str(core), "--exe", str(prog), "-o", str(e.path)]
        for k, v in {**e.attributes, "n": str(i)}.items():  # "n": every snapshot distinct
            cmd += ["--attr", f"{k}={v}"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and e.path.is_file(), f"{cmd}: {r.stderr}"
        if e.minidump:
            dump = e.path.with_suffix(".dmp")
            cmd = [str(u.bt_path()), "export", "--minidump", str(e.path), "-o", str(dump)]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and dump.is_file(), f"{cmd}: {r.stderr}"
            e.path = dump


def ingest_local(db_url: str, entries: List[Entry], now: float) -> None:
    """The entries not uploaded over HTTP, stored with the backend's own ingest (the same
    analysis as an upload) and `received` set `age_days` before `now`."""
    from btengine.server import ingest as ing
    from btengine.server.store import Store
    store = Store.open(db_url)
    try:
        for e in entries:
            if e.http:
                continue
            assert e.path is not None
            r = ing.ingest(store, e.path.read_bytes(), ing.AnalysisOptions(), filename=e.path.name,
                           received=now - e.age_days * DAY)
            assert r.created, e
    finally:
        store.close()


def http(url: str, data: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
         method: Optional[str] = None, timeout: float = 30) -> Tuple[int, Dict[str, str], bytes]:
    """(status, headers, body) of one request; 4xx/5xx are answers, not exceptions. Redirects
    are not followed (the ?token= hand-over is a 303 the test looks at)."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a: Any, **k: Any) -> None:
            return None
    opener = urllib.request.build_opener(NoRedirect)
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def upload(base: str, entry: Entry, token: str) -> str:
    """Uploads an entry over HTTP and returns the server's answer: a snapshot as the crash
    handler sends it (POST /api/v1/crashes, Bearer token), a minidump as Crashpad does
    (multipart POST /submit, the token in the URL, attributes as form fields)."""
    assert entry.path is not None
    data = entry.path.read_bytes()
    if not entry.minidump:
        status, _, body = http(f"{base}/api/v1/crashes", data,
                               {"Authorization": f"Bearer {token}", "X-Filename": entry.path.name,
                                "Content-Type": "application/octet-stream"}, "POST")
        assert status == 201 and json.loads(body)["created"] is True, (status, body[:500])
        return body.decode()
    boundary = "----btengine-ui-test-" + sha256(data)[:16]
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in entry.attributes.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="upload_file_minidump"; '
                 f'filename="{entry.path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
                 + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    status, _, body = http(f"{base}/submit?token={token}", b"".join(parts),
                           {"Content-Type": f"multipart/form-data; boundary={boundary}"}, "POST")
    assert status in (200, 201), (status, body[:500])
    return body.decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The server

@dataclass
class Server:
    base: str
    how: str                     # "btengine server (gunicorn)" or "create_app in-process"
    stop: Any
    log: Optional[Path] = None

    def log_tail(self) -> str:
        if self.log and self.log.exists():
            return self.log.read_text(errors="replace")[-3000:]
        return ""


def _cli_has_server(env: Dict[str, str]) -> bool:
    r = subprocess.run([sys.executable, "-m", "btengine", "server", "--help"], env=env,
                       capture_output=True, text=True, timeout=60)
    return r.returncode == 0


def _wait_up(base: str, timeout: float, alive: Any) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError(f"the server exited before it answered ({last})")
        try:
            status, _, _ = http(base + "/healthz", timeout=2)
            if status == 200:
                return
            last = f"/healthz: {status}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    raise RuntimeError(f"no answer from {base} within {timeout}s ({last})")


@contextlib.contextmanager
def running_server(db_url: str, read_token: str, upload_token: str, work: Path) -> Iterator[Server]:
    """The real thing when it is there: `python3 -m btengine server --db URL --listen
    127.0.0.1:PORT` (gunicorn), tokens from the environment the CLI reads. Otherwise (the CLI
    without `server`) create_app served by werkzeug in a thread: the same app, another server."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PYTHON_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["BTENGINE_READ_TOKENS"] = read_token
    env["BTENGINE_UPLOAD_TOKENS"] = upload_token
    if _cli_has_server(env):
        log = work / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "btengine", "server", "--db", db_url,
                 "--listen", f"127.0.0.1:{port}", "--workers", "2"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_up(base, 60, lambda: proc.poll() is None)
            yield Server(base, "btengine server", proc, log)
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        return
    from werkzeug.serving import make_server
    from btengine.server.app import create_app
    from btengine.server.config import ServerConfig
    app = create_app(ServerConfig(db_url=db_url, listen=f"127.0.0.1:{port}",
                                  read_tokens=[read_token], upload_tokens=[upload_token]))
    srv = make_server("127.0.0.1", port, app, threaded=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        _wait_up(base, 30, t.is_alive)
        yield Server(base, "create_app in-process (werkzeug)", srv)
    finally:
        srv.shutdown()


# ---------------------------------------------------------------------------------------------
# The browser

@contextlib.contextmanager
def browser(width: int = 1400, height: int = 1000) -> Iterator[Any]:
    """Headless Chromium (Debian's) through Debian's chromedriver. --no-sandbox: the tests may
    run as root, where Chromium's sandbox refuses to start."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-extensions", "--no-first-run", "--disable-background-networking",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, path: Path) -> Path:
    """The whole page (the window grown to the document's height, at most 6000 px)."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.execute_script("return window.outerWidth")) or 1400
    driver.set_window_size(width, min(max(height + 120, 700), 6000))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), path
    print(f"screenshot: {path}")
    return path
