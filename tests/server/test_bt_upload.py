"""bt's own uploads into the real server: `bt snapshot --upload` (token file, Content-Disposition
name), `bt upload` of the same file again (idempotent), and a 401 with a wrong token, which keeps
the snapshot on disk. The upload client itself is tested against a recording server in
tests/e2e/test_upload.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

import server_util as su

FIXTURE = "deep_c.gcc-O0-dwarf5-pie-fp"


def _bt(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([str(su.u.bt_path()), *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def test_bt_snapshot_upload_lands_in_the_server(tmp_path: Path) -> None:
    entry = next(e for e in su.u.load_manifest()["binaries"] if e["name"] == FIXTURE)
    core = su.u.make_core(entry["path"], tmp_path / "core")
    token = tmp_path / "token"
    token.write_text("up-1\n")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    db = f"sqlite://{tmp_path / 'c.db'}"
    with su.ServerProcess(db, tmp_path / "srv", workers=1,
                          args=["--upload-token", "up-1", "--read-token", "rd-1"]) as server:
        snap = tmp_path / "crash.btsnap"
        r = _bt("snapshot", core, "--exe", entry["path"], "-o", snap, "--attr", "host=web-7",
                "--upload", server.base, "--upload-token-file", token)
        assert r.returncode == 0, r.stderr
        assert f"uploaded to {server.base}: crash 1 (new) {server.base}/crash/1" in r.stdout, r.stdout
        crash = su.get_json(f"{server.base}/api/v1/crashes/1", token="rd-1")
        assert crash["filename"] == "crash.btsnap"
        assert crash["host"] == "web-7"
        assert crash["sha256"] == __import__("hashlib").sha256(snap.read_bytes()).hexdigest()
        with __import__("btengine").open(snap) as proc:
            assert crash["fingerprint"] == proc.fingerprint
            assert crash["kind"] == proc.analysis.kind

        again = _bt("upload", server.base, snap, "--upload-token-file", token)
        assert again.returncode == 0 and "crash 1 (already stored)" in again.stdout, again.stderr

        other = tmp_path / "other.btsnap"
        refused = _bt("snapshot", core, "--exe", entry["path"], "-o", other, "--attr", "host=web-8",
                      "--upload", server.base, "--upload-token-file", wrong)
        assert refused.returncode == 1
        assert "refused the upload (HTTP 401)" in refused.stderr, refused.stderr
        assert other.is_file()
        groups = su.get_json(f"{server.base}/api/v1/groups", token="rd-1")
        assert groups["total"] == 1 and groups["groups"][0]["count"] == 1
