"""Tests of the crash server (python/btengine/server, docs/server.md).

The package comes from the build tree (<build>/python, BT_BUILD_DIR), where the build copies
python/btengine (server/ included) next to the extension; the server under test is a
`python3 -m btengine server` subprocess importing the same tree. A PostgreSQL server is started
on loopback for the session (Debian's postgresql; its tests are skipped, saying so, only when the
server binaries are absent). The corpus (~1,000 snapshots and minidumps of the fixture crash
programs plus the testdata minidumps) is made once per session.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "e2e"))

import server_util as su  # noqa: E402
from pg_util import PostgresServer, pg_bin_dir  # noqa: E402

sys.path.insert(0, str(su.PYTHON_DIR))
os.environ.pop("DEBUGINFOD_URLS", None)  # no test fetches from the network


@pytest.fixture(scope="session", autouse=True)
def _server_package() -> None:
    """Fail (never skip) with a clear message when the package or its server part is missing."""
    try:
        import btengine  # noqa: F401
    except ImportError as e:
        pytest.fail(f"cannot import btengine from {su.PYTHON_DIR} ({e}): build it (scripts/build)",
                    pytrace=False)
    if not (su.PYTHON_DIR / "btengine" / "server" / "store.py").exists():
        pytest.fail(f"{su.PYTHON_DIR}/btengine/server is missing: the build copies python/btengine there "
                    "(ninja -C build, or cmake -E copy_directory python/btengine build/python/btengine)",
                    pytrace=False)
    for mod in ("flask", "gunicorn", "psycopg", "distributed"):
        try:
            __import__(mod)
        except ImportError:
            pytest.fail(f"the crash server needs {mod}: pip install -r scripts/requirements-dev.txt",
                        pytrace=False)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: Any) -> List[su.Item]:
    if not u_manifest_ok():
        pytest.fail("fixture manifest missing: build the fixtures (cmake --build build --target bt_fixtures)",
                    pytrace=False)
    # 96 fixtures x 6 variants x (snapshot + minidump) + the testdata dumps: over 1,000 uploads.
    return su.make_corpus(tmp_path_factory.mktemp("corpus"), variants=6)


def u_manifest_ok() -> bool:
    return su.u.manifest_path().is_file()


@pytest.fixture(scope="session")
def expected(corpus: List[su.Item]) -> Dict[str, Tuple[str, str]]:
    return su.expected_analysis(corpus)


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: Any) -> Iterator[PostgresServer]:
    if pg_bin_dir() is None:
        pytest.skip("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                    "apt-get install postgresql (scripts/setup installs it)")
    # Not under pytest's temporary directory: a pytest session starting meanwhile resets
    # /tmp/pytest-of-USER to mode 0700, which the postgres user could then no longer enter.
    base = Path(tempfile.mkdtemp(prefix="btengine-test-pg-"))
    pg = PostgresServer(base).start()
    yield pg
    pg.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: Any, tmp_path: Path) -> str:
    """A fresh database of each kind."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'crashes.db'}"
    pg = request.getfixturevalue("postgres")
    return pg.create_database()
