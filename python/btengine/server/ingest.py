"""From uploaded bytes to a stored crash: decode (gzip, bounded), check the format, analyse with
the engine and the plugins, store in one transaction (docs/server.md, "Ingest").

Nothing is stored unless everything before succeeded: a body too large (413), not a snapshot or
minidump (415), or one the engine cannot read (400, with the engine's own message) leaves the
database as it was. Duplicates (the same decoded bytes, by sha256) are answered from the store
without analysing them again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import plugins as bt_plugins
from . import ranking
from .config import ServerConfig
from .store import CrashRecord, Store

SNAPSHOT_MAGIC = b"BTSNAP\r\n"
MINIDUMP_MAGIC = b"MDMP"
GZIP_MAGIC = b"\x1f\x8b"
ELF_MAGIC = b"\x7fELF"
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTE_KEY = 128
MAX_ATTRIBUTE_VALUE = 4096
EXTENSIONS = {"btsnap": ".btsnap", "minidump": ".dmp"}


class IngestError(Exception):
    """An upload refused: `status` (400, 413, 415) and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class IngestResult:
    id: int
    group: int
    fingerprint: str
    created: bool

    def to_json(self) -> Dict[str, Any]:
        return {"id": self.id, "group": self.group, "fingerprint": self.fingerprint,
                "created": self.created}


def gunzip(data: bytes, limit: int) -> bytes:
    """Decodes gzip `data`, refusing (413) more than `limit` bytes of output before producing
    them: a gzip bomb costs at most `limit` bytes of memory. Truncated or corrupt: 400."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = bytearray()
    chunk = data
    try:
        while chunk:
            out += d.decompress(chunk, limit + 1 - len(out))
            if len(out) > limit:
                raise IngestError(413, f"the gzip body decodes to more than the upload limit of {limit} bytes")
            chunk = d.unconsumed_tail
        if not d.eof:
            raise IngestError(400, "truncated gzip body")
    except zlib.error as e:
        raise IngestError(400, f"corrupt gzip body: {e}") from None
    return bytes(out)


def detect_format(data: bytes) -> str:
    """"btsnap" or "minidump" from the magic; 415 otherwise, saying what to upload instead."""
    if data.startswith(SNAPSHOT_MAGIC):
        return "btsnap"
    if data.startswith(MINIDUMP_MAGIC):
        return "minidump"
    if data.startswith(ELF_MAGIC):
        raise IngestError(415, "an ELF file (a core dump?) is not accepted: cores are large and need the "
                               "program's binaries; upload a snapshot (bt snapshot CORE -o X.btsnap) or a "
                               "minidump (bt export --minidump CORE -o X.dmp)")
    if data.startswith(GZIP_MAGIC):
        raise IngestError(415, "a gzip file inside the upload: send it with Content-Encoding: gzip, or "
                               "uncompressed")
    if not data:
        raise IngestError(400, "empty upload")
    raise IngestError(415, "unknown format: expected a btengine snapshot (starts with BTSNAP) or a "
                           "minidump (starts with MDMP)")


def check_attributes(attrs: Dict[str, str]) -> Dict[str, str]:
    if len(attrs) > MAX_ATTRIBUTES:
        raise IngestError(400, f"too many attributes ({len(attrs)}, at most {MAX_ATTRIBUTES})")
    for k, v in attrs.items():
        if not k or len(k) > MAX_ATTRIBUTE_KEY or len(v) > MAX_ATTRIBUTE_VALUE or "\x00" in k + v:
            raise IngestError(400, f"bad attribute {k[:40]!r}: keys 1-{MAX_ATTRIBUTE_KEY} characters, "
                                   f"values at most {MAX_ATTRIBUTE_VALUE}, no NUL")
    return attrs


def safe_filename(name: Optional[str], fmt: str, sha256: str) -> str:
    """A file name to store and to offer for download: the upload's base name if it is sane,
    with the format's extension."""
    ext = EXTENSIONS[fmt]
    base = os.path.basename((name or "").replace("\\", "/"))
    base = re.sub(r"[^A-Za-z0-9._+-]", "_", base)[:100].lstrip(".")
    if not base or base in ("upload_file_minidump", "blob"):
        base = f"crash-{sha256[:12]}{ext}"
    if not base.endswith(ext):
        base = os.path.splitext(base)[0] + ext if base.endswith((".dmp", ".btsnap")) else base + ext
    return base


# Plugins are loaded once per process (and per list of paths): loading imports Python modules.
_plugin_cache: Dict[Tuple[str, ...], Tuple[List[bt_plugins.Plugin], List[bt_plugins.PluginError]]] = {}
_plugin_lock = threading.Lock()


def load_plugins(paths: Sequence[str]) -> Tuple[List[bt_plugins.Plugin], List[bt_plugins.PluginError]]:
    """Only the configured paths: a server's analysis must not depend on the home directory of
    whoever started it."""
    key = tuple(os.path.abspath(p) for p in paths)
    with _plugin_lock:
        if key not in _plugin_cache:
            _plugin_cache[key] = bt_plugins.load(list(key), defaults=False)
        return _plugin_cache[key]


@dataclass
class AnalysisOptions:
    symbols: Sequence[str] = ()
    debug_dirs: Sequence[str] = ()
    plugins: Sequence[str] = ()
    plugin_timeout: float = bt_plugins.DEFAULT_TIMEOUT
    offline: bool = True

    @classmethod
    def from_config(cls, c: ServerConfig) -> "AnalysisOptions":
        return cls(list(c.symbols), list(c.debug_dirs), list(c.plugins), c.plugin_timeout, c.offline)


def analyse_file(path: str, fmt: str, opts: AnalysisOptions, upload_attributes: Dict[str, str]
                 ) -> Dict[str, Any]:
    """The analysis of one dump as CrashRecord fields (no bytes, times or names). Raises
    btengine.FormatError / OSError when the engine cannot read it."""
    import btengine
    loaded, load_errors = load_plugins(opts.plugins)
    with btengine.open(path, symbols=list(opts.symbols), debug_dirs=list(opts.debug_dirs),
                       offline=opts.offline) as proc:
        if fmt == "btsnap" and proc.kind != "snapshot" or fmt == "minidump" and proc.kind != "minidump":
            raise btengine.FormatError(f"the engine read it as a {proc.kind}, not a {fmt}")
        a = proc.analysis
        doc = (bt_plugins.report(proc, loaded, opts.plugin_timeout, load_errors)
               if loaded or load_errors else None)
        report = json.loads(proc.report(json=True, variables=True, plugins=doc))
        registers = {str(t.tid): dict(t.registers) for t in proc.threads}
        sig = proc.signal
        engine_attrs = dict(proc.attributes)
        executable = proc.executable
    classes: List[Tuple[str, Optional[str]]] = [(c.severity, c.kind) for c in a.classifications]
    plugin_classes = (doc or {}).get("classifications") or []
    classes += [(c["severity"], c["kind"]) for c in plugin_classes]
    # The crash's severity is its worst classification's (the fault's on a tie), unless a plugin
    # overrode it; its kind is that classification's.
    worst = min(classes, key=lambda c: ranking.severity_rank(c[0])) if classes else ("unknown", None)
    override = (doc or {}).get("severity_override")
    severity = override["severity"] if override else worst[0]
    flags = 0
    if plugin_classes:
        flags |= ranking.FLAG_PLUGIN_CLASSIFICATION
    if (report.get("analysis") or {}).get("highlighted") or (doc or {}).get("highlighted"):
        flags |= ranking.FLAG_HIGHLIGHTED
    attributes = {**engine_attrs, **((doc or {}).get("attributes") or {}), **upload_attributes}
    frames = list(a.fingerprint_frames)
    title = " < ".join(frames) if frames else (
        f"{sig.name if sig else 'no signal'} in {os.path.basename(executable or '?')}")
    return {"fingerprint": a.fingerprint or "", "title": title, "severity": severity,
            "kind": worst[1], "signal": sig.name if sig else None, "executable": executable,
            "flags": flags, "attributes": attributes, "report": report, "plugins": doc,
            "registers": registers}


def decode_body(body: bytes, content_encoding: Optional[str], limit: int) -> bytes:
    enc = (content_encoding or "").strip().lower()
    if enc in ("gzip", "x-gzip"):
        return gunzip(body, limit)
    if enc not in ("", "identity"):
        raise IngestError(415, f"unsupported Content-Encoding {content_encoding!r} (gzip or none)")
    return body


def ingest(store: Store, data: bytes, opts: AnalysisOptions, *, filename: Optional[str] = None,
           upload_attributes: Optional[Dict[str, str]] = None, tmp_dir: Optional[str] = None,
           received: Optional[float] = None) -> IngestResult:
    """Analyses and stores one decoded dump; IngestError for what must be refused."""
    fmt = detect_format(data)
    attrs = check_attributes(dict(upload_attributes or {}))
    sha = hashlib.sha256(data).hexdigest()
    found = store.find_sha256(sha)
    if found:  # answered from the crashes table: not its report, which can be megabytes
        return IngestResult(*found, created=False)
    import btengine
    fd, path = tempfile.mkstemp(prefix="btengine-upload-", suffix=EXTENSIONS[fmt], dir=tmp_dir)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            fields = analyse_file(path, fmt, opts, attrs)
        except (btengine.Error, OSError, ValueError, LookupError) as e:
            raise IngestError(400, f"the engine cannot read this {fmt}: {e}") from None
    finally:
        os.unlink(path)
    rec = CrashRecord(sha256=sha, received=time.time() if received is None else received, format=fmt,
                      size=len(data), filename=safe_filename(filename, fmt, sha), blob=data,
                      upload_attributes=attrs, **fields)
    cid, gid, created = store.add_crash(rec)
    return IngestResult(cid, gid, rec.fingerprint, created)
