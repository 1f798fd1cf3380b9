"""The crash server's settings (ServerConfig), from `btengine server`'s options or a test."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

DEFAULT_MAX_UPLOAD = 64 << 20  # bytes, of the request body and of a decoded (gunzipped) dump
DEFAULT_LISTEN = "127.0.0.1:8080"


def default_db_url() -> str:
    """BTENGINE_DB, else a SQLite file in ~/.local/share/btengine (XDG_DATA_HOME)."""
    env = os.environ.get("BTENGINE_DB")
    if env:
        return env
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return "sqlite://" + os.path.join(data, "btengine", "crashes.db")


def env_tokens(name: str) -> List[str]:
    """Comma-separated tokens from an environment variable (empty entries dropped)."""
    return [t.strip() for t in os.environ.get(name, "").split(",") if t.strip()]


def parse_listen(listen: str) -> Tuple[str, int]:
    """"HOST:PORT" (IPv6 as "[::1]:8080") -> (host, port); ValueError if malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not (0 <= int(port) <= 65535):
        raise ValueError(f"--listen {listen!r}: expected HOST:PORT (e.g. 127.0.0.1:8080)")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """Everything create_app() and the ingest need. Tokens: uploads need an upload or a read
    token, reading needs a read token; no token at all turns authentication off (the CLI allows
    that only on a loopback address)."""

    db_url: str = field(default_factory=default_db_url)
    listen: str = DEFAULT_LISTEN
    workers: int = 2
    upload_tokens: List[str] = field(default_factory=list)
    read_tokens: List[str] = field(default_factory=list)
    symbols: List[str] = field(default_factory=list)       # Breakpad symbol stores / .sym files
    debug_dirs: List[str] = field(default_factory=list)    # DIR/.build-id/xx/rest.debug
    plugins: List[str] = field(default_factory=list)       # plugin files or directories
    plugin_timeout: float = 5.0
    max_upload_size: int = DEFAULT_MAX_UPLOAD
    offline: bool = True        # never fetch from DEBUGINFOD_URLS while analysing an upload
    tmp_dir: Optional[str] = None  # where uploads are written to be analysed (default: TMPDIR)
    public_url: Optional[str] = None  # the server's URL as clients see it (for "url" in answers)

    @property
    def auth_enabled(self) -> bool:
        return bool(self.upload_tokens or self.read_tokens)


def redact_url(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    import re
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
