"""`btengine server` and `btengine store top|ingest` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List

import server_util as su


def btengine(*args: str, env_extra: dict = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTENGINE_")}
    env.update(PYTHONPATH=str(su.PYTHON_DIR), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "btengine", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def test_help_lists_the_commands() -> None:
    r = btengine("--help")
    assert r.returncode == 0 and "server" in r.stdout and "store" in r.stdout
    r = btengine("server", "--help")
    assert r.returncode == 0 and "--upload-token" in r.stdout and "--max-upload-size" in r.stdout
    r = btengine("store", "reprocess", "--help")
    assert r.returncode == 0 and "--dask" in r.stdout


def test_server_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    r = btengine("server", "--db", str(tmp_path / "x.db"), "--listen", "0.0.0.0:0")
    assert r.returncode == 2 and "without tokens" in r.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching anything
    r = btengine("server", "--db", str(tmp_path / "x.db"), "--listen", "nonsense")
    assert r.returncode != 0 and "HOST:PORT" in r.stderr


def test_store_ingest_and_top(tmp_path: Path, corpus: List[su.Item], expected: dict) -> None:
    import gzip
    import hashlib
    db = f"sqlite://{tmp_path / 'c.db'}"
    files = [i for i in corpus if not i.attrs][:40]
    gz = tmp_path / (files[0].path.name + ".gz")
    gz.write_bytes(gzip.compress(files[0].data))
    junk = tmp_path / "junk.txt"
    junk.write_text("not a dump")
    r = btengine("store", "ingest", "--db", db, *[str(i.path) for i in files], str(gz), str(junk))
    assert r.returncode == 1 and "junk.txt" in r.stderr and "unknown format" in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == len(files) + 1 and "(already stored)" in lines[-1]
    r = btengine("store", "top", "--db", db, "--json", "-n", "1000")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)
    from collections import Counter
    want = Counter(expected[hashlib.sha256(i.data).hexdigest()][0] for i in files)
    assert {g["fingerprint"]: g["count"] for g in groups} == dict(want)
    r = btengine("store", "top", "--db", db, "-n", "3")
    assert r.returncode == 0 and r.stdout.splitlines()[0].split()[:3] == ["#", "risk", "severity"]
    assert len(r.stdout.splitlines()) == 1 + 3 + (1 if len(groups) > 3 else 0)
    assert groups[0]["title"][:60] in r.stdout
    r = btengine("store", "top", "--db", db, "--host", "no-such-host")
    assert r.returncode == 0 and "no crash groups" in r.stdout


def test_a_missing_server_extra_is_named() -> None:
    """Without Flask (the `server` extra), `btengine server` says what to install, no traceback."""
    code = ("import sys; sys.modules['flask'] = None\n"
            "from btengine.cli import main\n"
            "sys.exit(main(['server', '--db', '/nonexistent/x.db', '--listen', '127.0.0.1:0']))")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTENGINE_")}
    env["PYTHONPATH"] = str(su.PYTHON_DIR)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 1
    assert "needs flask: pip install 'btengine[server]'" in r.stderr and "Traceback" not in r.stderr
