"""Checks of `bt --json` output against the btengine.backtrace/2 schema:

{"schema": "btengine.backtrace/2",
 "target": {"kind": "live"|"core", "pid": 123, "executable": "/path"},
 "signal": {"number": 11, "name": "SIGSEGV", "code": 1, "address": "0x0"} or null,
 "crashed_tid": 123 or null,
 "threads": [ {"tid": 123, "name": "main", "crashed": true,
               "frames": [ {"index": 0, "pc": "0x401136", "module": "/path/exe",
                            "module_offset": "0x1136", "function": "c" or null,
                            "file": "/abs/path/deep_c.c" or null, "line": 12 or null,
                            "inlined": false,
                            "how": "context"|"cfi"|"fp"|"scan"|"tailcall",
                            "suspect": false, "signal_frame": false} ] } ]}

Frames are innermost first; an inlined frame is listed before the frame of the
function it is inlined into; the crashing thread comes first.  docs/json-output.md
is the reference; fields it adds within the version (threads[].signal,
threads[].stop_reason, frames[].signal_frame, how = "tailcall") are checked
when present.
"""

from __future__ import annotations

import json
import re

SCHEMA = "btengine.backtrace/2"
# tailcall: a frame reconstructed from DWARF call-site information for a
# function that left the stack by a tail jump (as gdb's TAILCALL_FRAME).
HOWS = {"context", "cfi", "fp", "scan", "tailcall"}
_HEX = re.compile(r"^0x[0-9a-f]+$")


def load(text: str):
    """Parse bt's stdout; raises ValueError with a readable message."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"bt --json printed invalid JSON ({e}): {text[:500]!r}") from None


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _signal_problems(sig, where):
    p = []
    if not isinstance(sig, dict):
        return [f"{where} is {sig!r}"]
    if not _is_int(sig.get("number")):
        p.append(f"{where}.number {sig.get('number')!r}")
    if not isinstance(sig.get("name"), str):
        p.append(f"{where}.name {sig.get('name')!r}")
    if not _is_int(sig.get("code")):
        p.append(f"{where}.code {sig.get('code')!r}")
    addr = sig.get("address")
    if addr is not None and not (isinstance(addr, str) and _HEX.match(addr)):
        p.append(f"{where}.address {addr!r}")
    return p


def schema_problems(doc) -> list:
    """Every way `doc` departs from the schema (empty list: conforms)."""
    p = []
    if not isinstance(doc, dict):
        return [f"top level is {type(doc).__name__}, not an object"]
    if doc.get("schema") != SCHEMA:
        p.append(f"schema is {doc.get('schema')!r}, expected {SCHEMA!r}")
    target = doc.get("target")
    if not isinstance(target, dict):
        p.append("target missing or not an object")
    else:
        if target.get("kind") not in ("live", "core"):
            p.append(f"target.kind {target.get('kind')!r}")
        if not _is_int(target.get("pid")):
            p.append(f"target.pid {target.get('pid')!r}")
        if not isinstance(target.get("executable"), str):
            p.append(f"target.executable {target.get('executable')!r}")
    sig = doc.get("signal", "absent")
    if sig == "absent":
        p.append("signal key missing (must be an object or null)")
    elif sig is not None:
        p += _signal_problems(sig, "signal")
    if "crashed_tid" not in doc:
        p.append("crashed_tid key missing (must be an int or null)")
    elif doc["crashed_tid"] is not None and not _is_int(doc["crashed_tid"]):
        p.append(f"crashed_tid {doc['crashed_tid']!r}")
    threads = doc.get("threads")
    if not isinstance(threads, list) or not threads:
        p.append("threads missing, not a list or empty")
        return p
    seen = set()
    for ti, t in enumerate(threads):
        where = f"threads[{ti}]"
        if not isinstance(t, dict):
            p.append(f"{where} is not an object")
            continue
        tid = t.get("tid")
        if not _is_int(tid):
            p.append(f"{where}.tid {tid!r}")
        elif tid in seen:
            p.append(f"{where}.tid {tid} appears twice")
        seen.add(tid)
        if t.get("name") is not None and not isinstance(t.get("name"), str):
            p.append(f"{where}.name {t.get('name')!r}")
        if not isinstance(t.get("crashed"), bool):
            p.append(f"{where}.crashed {t.get('crashed')!r}")
        if t.get("signal") is not None:
            p += _signal_problems(t["signal"], f"{where}.signal")
        if "stop_reason" in t and not isinstance(t["stop_reason"], str):
            p.append(f"{where}.stop_reason {t['stop_reason']!r}")
        frames = t.get("frames")
        if not isinstance(frames, list):
            p.append(f"{where}.frames is not a list")
            continue
        for fi, f in enumerate(frames):
            fw = f"{where}.frames[{fi}]"
            if not isinstance(f, dict):
                p.append(f"{fw} is not an object")
                continue
            if f.get("index") != fi:
                p.append(f"{fw}.index is {f.get('index')!r}")
            for key in ("pc", "module_offset"):
                v = f.get(key)
                if key == "module_offset" and v is None:
                    continue
                if not (isinstance(v, str) and _HEX.match(v)):
                    p.append(f"{fw}.{key} {v!r}")
            for key in ("module", "function", "file"):
                v = f.get(key, "absent")
                if v == "absent":
                    p.append(f"{fw}.{key} missing")
                elif v is not None and not isinstance(v, str):
                    p.append(f"{fw}.{key} {v!r}")
            line = f.get("line", "absent")
            if line == "absent" or (line is not None and not _is_int(line)):
                p.append(f"{fw}.line {line!r}")
            for key in ("inlined", "suspect"):
                if not isinstance(f.get(key), bool):
                    p.append(f"{fw}.{key} {f.get(key)!r}")
            if f.get("how") not in HOWS:
                p.append(f"{fw}.how {f.get('how')!r}")
            if "signal_frame" in f and not isinstance(f["signal_frame"], bool):
                p.append(f"{fw}.signal_frame {f['signal_frame']!r}")
        # An inlined frame is followed by the frame it is inlined into.
        if frames and isinstance(frames[-1], dict) and frames[-1].get("inlined") is True:
            p.append(f"{where}: the outermost frame is marked inlined")
    return p
