"""The `btengine` command (and `python -m btengine`): bt's reading commands for people who live
in Python.

    btengine show FILE|CORE [--exe PATH] [--debug-dir DIR] [--vars] [--json]   threads, frames
    btengine threads FILE|CORE [--exe PATH] [--debug-dir DIR]                   one line a thread
    btengine capture PID -o FILE [--no-vars] [--attr K=V]                       take a snapshot

Exit status: 0 on success, 1 when the target cannot be read (the reason is printed on stderr),
2 for bad usage, 9 when the result was printed but the source is incomplete (a truncated core,
a missing or mismatched executable: the warnings on stderr say what is missing), as for bt.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict, List, Optional, Sequence

import btengine


def _frame_line(f: btengine.Frame) -> str:
    where = f" at {f.file}:{f.line}" if f.file else ""
    flags = " (inlined)" if f.inlined else ""
    flags += f" (suspect: found by {f.how})" if f.suspect else ""
    flags += " (build-id mismatch)" if f.build_id_mismatch else ""
    return f"#{f.index:<3} {f.pc:#018x} in {f.function or '??'}{where}{flags}"


PARTIAL = 9  # as bt: the result was printed, but the source is incomplete


def _open(args: argparse.Namespace) -> btengine.Process:
    return btengine.open(args.target, exe=args.exe, debug_dirs=args.debug_dir,
                         allow_mismatch=args.allow_mismatch)


def _finish(p: btengine.Process) -> int:
    """Warnings on stderr, as bt prints them; the exit status says whether the result is
    partial."""
    for w in p.warnings[:10]:
        print(f"btengine: warning: {w}", file=sys.stderr)
    return PARTIAL if p.partial else 0


def _show(args: argparse.Namespace) -> int:
    with _open(args) as p:
        if args.json:
            threads: List[Dict[str, Any]] = []
            doc: Dict[str, Any] = {"kind": p.kind, "pid": p.pid, "executable": p.executable,
                                   "signal": p.signal.name if p.signal else None,
                                   "threads": threads, "partial": p.partial,
                                   "warnings": p.warnings}
            for t in p.threads:
                frames = []
                for f in t.frames:
                    d: Dict[str, Any] = {"index": f.index, "pc": hex(f.pc), "function": f.function,
                                         "file": f.file, "line": f.line, "inlined": f.inlined,
                                         "how": f.how, "build_id_mismatch": f.build_id_mismatch}
                    if args.vars:
                        d["variables"] = [{"name": v.name, "kind": v.kind, "type": v.type,
                                           "value": v.text} for v in f.variables]
                    frames.append(d)
                threads.append({"tid": t.tid, "name": t.name, "crashed": t.crashed,
                                "frames": frames})
            json.dump(doc, sys.stdout, indent=1)
            print()
            return _finish(p)
        print(repr(p))
        for t in p.threads:
            print(f"\nThread {t.tid} {t.name!r}" + (" (crashed)" if t.crashed else ""))
            for f in t.frames:
                print(_frame_line(f))
                if args.vars:
                    for v in f.variables:
                        print(f"        {v.name} = {v.text}")
        return _finish(p)


def _threads(args: argparse.Namespace) -> int:
    with _open(args) as p:
        for t in p.threads:
            frames = t.frames
            top = frames[0].function if frames else None
            print(f"{t.tid:>8} {t.name or '?':<16} {'crashed ' if t.crashed else ''}"
                  f"{top or '??'}")
        return _finish(p)


def _capture(args: argparse.Namespace) -> int:
    attrs: Dict[str, str] = {}
    for a in args.attr:
        key, sep, value = a.partition("=")
        if not sep or not key:
            raise ValueError(f"--attr {a!r}: expected KEY=VALUE")
        attrs[key] = value
    r = btengine.capture(args.pid, args.output, variables=not args.no_vars, attributes=attrs)
    print(f"snapshot: {r.path} ({r.size} bytes, target stopped {r.stopped_ms:.1f} ms)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    ap = argparse.ArgumentParser(prog="btengine", description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--version", action="version", version=f"btengine {btengine.__version__}")
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print threads and frames of a snapshot or core")
    t = sub.add_parser("threads", help="one line per thread")
    for p in (s, t):
        p.add_argument("target", help="a snapshot (.btsnap) or a core file")
        p.add_argument("--exe", help="the core's executable, when it moved")
        p.add_argument("--allow-mismatch", action="store_true",
                       help="use module files of another build than the process ran "
                            "(frames in them are marked)")
        p.add_argument("--debug-dir", action="append", default=[], metavar="DIR",
                       help="also search DIR/.build-id for debug files (repeatable)")
    s.add_argument("--vars", action="store_true", help="also variables")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=_show)
    t.set_defaults(run=_threads)
    c = sub.add_parser("capture", help="snapshot a live process")
    c.add_argument("pid", type=int)
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--no-vars", action="store_true")
    c.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(run=_capture)
    args = ap.parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except (FileNotFoundError, PermissionError, ProcessLookupError, ValueError) as e:
        print(f"btengine: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
