"""Sending captures to a crash server: `bt snapshot --upload`, `bt coredump --upload` and
`bt upload` (cli/crash_upload.cpp), against a recording loopback server (recording_server.py).
What the real `btengine server` does with them is tested in tests/server; libbtcrash's
BTCRASH_UPLOAD in test_crash_handler.py."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from recording_server import RecordingServer

FIXTURE = "deep_c.gcc-O0-dwarf5-pie-fp"


@pytest.fixture
def server():
    s = RecordingServer().start()
    yield s
    s.stop()


@pytest.fixture
def core(manifest, cores):
    entry = next(e for e in manifest["binaries"] if e["name"] == FIXTURE)
    return cores.core(entry), entry["path"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bt(bt_bin, *args, env=None, **kw):
    return subprocess.run([str(bt_bin), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env=env, **kw)


def test_snapshot_upload_sends_the_file_with_the_token(bt_bin, core, server, tmp_path):
    path, exe = core
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    snap = tmp_path / "x.btsnap"
    r = _bt(bt_bin, "snapshot", path, "--exe", exe, "-o", snap, "--upload", server.url,
            "--upload-token-file", token)
    assert r.returncode == 0, r.stderr
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req.path == "/api/v1/crashes"
    assert req.headers["authorization"] == "Bearer s3cret-token"
    assert req.headers["content-type"] == "application/octet-stream"
    assert 'filename="x.btsnap"' in req.headers["content-disposition"]
    assert req.body == snap.read_bytes()  # the file as written, byte for byte
    assert f"uploaded to {server.url}: crash 1 (new) {server.url}/crash/1" in r.stdout

    # The same bytes again: the server says it has them; bt upload says so.
    again = _bt(bt_bin, "upload", server.url, snap)
    assert again.returncode == 0, again.stderr
    assert "crash 1 (already stored)" in again.stdout
    assert "authorization" not in server.requests[1].headers


def test_token_in_url_and_environment(bt_bin, core, server, tmp_path):
    path, exe = core
    snap = tmp_path / "y.btsnap"
    env = dict(__import__("os").environ, BT_UPLOAD_TOKEN="from-env")
    r = _bt(bt_bin, "snapshot", path, "--exe", exe, "-o", snap, "--upload", server.url + "/?token=abc", env=env)
    assert r.returncode == 0, r.stderr
    assert server.requests[0].path == "/api/v1/crashes?token=abc"
    assert server.requests[0].headers["authorization"] == "Bearer from-env"


def test_unreachable_server_keeps_the_snapshot_and_fails(bt_bin, core, tmp_path):
    path, exe = core
    snap = tmp_path / "z.btsnap"
    url = f"http://127.0.0.1:{_free_port()}"
    r = _bt(bt_bin, "snapshot", path, "--exe", exe, "-o", snap, "--upload", url, "--upload-timeout", "5")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert snap.is_file() and snap.stat().st_size > 0
    assert f"cannot upload to {url}" in r.stderr
    assert f"the snapshot stays in {snap} (send it later with: bt upload {url} {snap})" in r.stderr


def test_refusal_shows_the_servers_message(bt_bin, core, server, tmp_path):
    path, exe = core
    server.refuse, server.refuse_message = 401, "a valid upload token is required"
    snap = tmp_path / "r.btsnap"
    r = _bt(bt_bin, "snapshot", path, "--exe", exe, "-o", snap, "--upload", server.url)
    assert r.returncode == 1
    assert f"{server.url} refused the upload (HTTP 401): a valid upload token is required" in r.stderr
    assert snap.is_file()
    u = _bt(bt_bin, "upload", server.url, snap, tmp_path / "missing.btsnap")
    assert u.returncode == 1
    assert "HTTP 401" in u.stderr and "missing.btsnap: cannot read" in u.stderr


def test_background_upload_logs_next_to_the_snapshot(bt_bin, core, server, tmp_path):
    path, exe = core
    out = tmp_path / "crashes"
    out.mkdir()
    r = _bt(bt_bin, "snapshot", path, "--exe", exe, "-o", out, "--upload", server.url, "--upload-background")
    assert r.returncode == 0, r.stderr
    assert "in the background" in r.stdout
    log = out / "bt-upload.log"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (log.is_file() and "uploaded" in log.read_text()):
        time.sleep(0.05)
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1
    assert "crash 1 (new)" in log.read_text()
    assert server.requests[0].body == snaps[0].read_bytes()


def test_coredump_upload(bt_bin, core, server, tmp_path):
    path, exe = core
    out = tmp_path / "crashes"
    out.mkdir()
    cmd = [str(bt_bin), "coredump", "--pid", "1234", "--signal", "11", "--exe", exe, "-o", str(out),
           "--upload", server.url]
    with open(path, "rb") as stdin:
        r = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1
    assert server.requests[0].body == snaps[0].read_bytes()
    assert f"uploaded to {server.url}: crash 1 (new)" in (out / "bt-coredump.log").read_text()
    # Unreachable: the log says so and where the snapshot is; the exit is non-zero.
    cmd[cmd.index("--upload") + 1] = f"http://127.0.0.1:{_free_port()}"
    with open(path, "rb") as stdin:
        r = subprocess.run(cmd, stdin=stdin, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    assert len(list(out.glob("*.btsnap"))) == 2
    assert "the snapshot stays in" in (out / "bt-coredump.log").read_text()


@pytest.mark.parametrize("args,message", [
    (["upload"], "the server's URL"),
    (["upload", "http://127.0.0.1:1"], "no file to upload"),
    (["snapshot", "1", "--upload", "ftp://x"], "--upload needs an http:// or https:// URL"),
    (["snapshot", "1", "--upload", "http://x", "--upload-token-file", "/nonexistent"], "cannot read a token"),
    (["snapshot", "1", "--upload-timeout", "0"], "--upload-timeout needs"),
    (["upload", "--bogus"], "unknown option"),
    (["snapshot", "1", "--upload-background"], "--upload-background needs --upload URL"),
])
def test_usage_errors(bt_bin, args, message):
    r = _bt(bt_bin, *args)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr


def test_help_names_the_options(bt_bin):
    assert "--upload URL" in _bt(bt_bin, "snapshot", "--help").stdout
    assert "--upload" in _bt(bt_bin, "coredump", "--help").stdout
    assert "usage: bt upload URL FILE..." in _bt(bt_bin, "upload", "--help").stdout
    assert "bt upload URL FILE" in _bt(bt_bin, "--help").stdout


def test_coredump_reads_its_configuration_file(bt_bin, core, server, tmp_path):
    """The kernel's core_pattern has room for no upload options: bt coredump also reads
    /etc/btengine/coredump.conf (here BT_COREDUMP_CONFIG), as scripts/crash-handler writes it."""
    path, exe = core
    out = tmp_path / "crashes"
    out.mkdir()
    token = tmp_path / "token"
    token.write_text("conf-token\n")
    conf = tmp_path / "coredump.conf"
    conf.write_text(f"# written by scripts/crash-handler install\n--upload {server.url} "
                    f"--upload-token-file {token}\n")
    env = dict(__import__("os").environ, BT_COREDUMP_CONFIG=str(conf))
    with open(path, "rb") as stdin:
        r = subprocess.run([str(bt_bin), "coredump", "--pid", "1", "--exe", exe, "-o", str(out)],
                           stdin=stdin, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert server.requests[0].headers["authorization"] == "Bearer conf-token"
    assert server.requests[0].body == next(out.glob("*.btsnap")).read_bytes()


def test_kernel_handler_uploads(bt_bin, manifest, server, tmp_path):
    """scripts/crash-handler install --upload: a real crash through the kernel's pipe reaches the
    server, and uninstall removes the configuration file it wrote."""
    import os
    import shutil
    import tempfile

    import e2e_util as u

    pattern_file = Path("/proc/sys/kernel/core_pattern")
    conf = Path("/etc/btengine/coredump.conf")
    if os.geteuid() != 0 or not os.access(pattern_file, os.W_OK):
        pytest.skip("needs root and a writable /proc/sys/kernel/core_pattern")
    if conf.exists():
        pytest.skip(f"{conf} exists: this machine's own configuration is left alone")
    entry = next(e for e in manifest["binaries"] if e["name"] == "deep_c.gcc-O2-dwarf5-pie-nofp")
    script = u.REPO_ROOT / "scripts" / "crash-handler"
    token = tmp_path / "token"
    token.write_text("kernel-token\n")
    before = pattern_file.read_text()
    out = Path(tempfile.mkdtemp(prefix="btk", dir="/tmp"))  # the pattern has 127 characters
    try:
        inst = subprocess.run(["bash", str(script), "install", "--bt", str(bt_bin), "--dir", str(out),
                               "--upload", server.url, "--upload-token-file", str(token)],
                              capture_output=True, text=True, timeout=30)
        assert inst.returncode == 0, inst.stderr
        assert oct(conf.stat().st_mode & 0o777) == "0o600"
        proc = subprocess.run([entry["path"], "crash"], preexec_fn=u._unlimited_core,
                              capture_output=True, timeout=60)
        assert proc.returncode == -11
        deadline = time.monotonic() + 30
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        subprocess.run(["bash", str(script), "uninstall"], capture_output=True, timeout=30)
    assert pattern_file.read_text() == before
    assert not conf.exists()
    log = (out / "bt-coredump.log").read_text()
    snaps = list(out.glob("*.btsnap"))
    assert len(snaps) == 1 and len(server.requests) == 1, log
    assert server.requests[0].body == snaps[0].read_bytes()
    assert server.requests[0].headers["authorization"] == "Bearer kernel-token"
    assert "uploaded to" in log
    shutil.rmtree(out)
