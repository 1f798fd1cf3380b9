"""The `btengine` command (and `python -m btengine`): bt's reading commands for people who live
in Python.

    btengine show FILE|CORE [--exe PATH] [--vars] [--json]   threads and frames
    btengine threads FILE|CORE                                one line per thread
    btengine capture PID -o FILE [--no-vars] [--attr K=V]     take a snapshot
"""

from __future__ import annotations

import argparse
import json
import sys

import btengine


def _frame_line(f) -> str:
    where = f" at {f.file}:{f.line}" if f.file else ""
    flags = " (inlined)" if f.inlined else ""
    flags += f" (suspect: found by {f.how})" if f.suspect else ""
    return f"#{f.index:<3} {f.pc:#018x} in {f.function or '??'}{where}{flags}"


def _show(args) -> int:
    with btengine.open(args.target, exe=args.exe) as p:
        if args.json:
            doc = {"kind": p.kind, "pid": p.pid, "executable": p.executable,
                   "signal": p.signal.name if p.signal else None, "threads": []}
            for t in p.threads:
                frames = []
                for f in t.frames:
                    d = {"index": f.index, "pc": hex(f.pc), "function": f.function, "file": f.file,
                         "line": f.line, "inlined": f.inlined, "how": f.how}
                    if args.vars:
                        d["variables"] = [{"name": v.name, "kind": v.kind, "type": v.type,
                                           "value": v.text} for v in f.variables]
                    frames.append(d)
                doc["threads"].append({"tid": t.tid, "name": t.name, "crashed": t.crashed,
                                       "frames": frames})
            json.dump(doc, sys.stdout, indent=1)
            print()
            return 0
        print(repr(p))
        for t in p.threads:
            print(f"\nThread {t.tid} {t.name!r}" + (" (crashed)" if t.crashed else ""))
            for f in t.frames:
                print(_frame_line(f))
                if args.vars:
                    for v in f.variables:
                        print(f"        {v.name} = {v.text}")
    return 0


def _threads(args) -> int:
    with btengine.open(args.target, exe=args.exe) as p:
        for t in p.threads:
            top = t.frames[0] if t.frames else None
            print(f"{t.tid:>8} {t.name:<16} {'crashed ' if t.crashed else ''}"
                  f"{top.function if top else '??'}")
    return 0


def _capture(args) -> int:
    attrs = dict(a.split("=", 1) for a in args.attr)
    r = btengine.capture(args.pid, args.output, variables=not args.no_vars, attributes=attrs)
    print(f"snapshot: {r.path} ({r.size} bytes, target stopped {r.stopped_ms:.1f} ms)")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="btengine", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show", help="print threads and frames of a snapshot or core")
    s.add_argument("target")
    s.add_argument("--exe")
    s.add_argument("--vars", action="store_true", help="also variables")
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=_show)
    t = sub.add_parser("threads", help="one line per thread")
    t.add_argument("target")
    t.add_argument("--exe")
    t.set_defaults(run=_threads)
    c = sub.add_parser("capture", help="snapshot a live process")
    c.add_argument("pid", type=int)
    c.add_argument("-o", "--output", required=True)
    c.add_argument("--no-vars", action="store_true")
    c.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE")
    c.set_defaults(run=_capture)
    args = ap.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, PermissionError, ProcessLookupError, ValueError) as e:
        print(f"btengine: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
