"""The `btengine` command (and `python -m btengine`): bt's reading commands, from Python.

    btengine show FILE|CORE|PID [--exe PATH] [--debug-dir DIR] [--symbols PATH] [--vars] [--json]
    btengine threads FILE|CORE|PID [--exe PATH] [--debug-dir DIR]
    btengine print FILE|CORE|PID NAME... [--exe PATH] [--hex]
    btengine classify FILE|DIR|PID... [--plugin PATH] [--json|--jsonl]
    btengine capture PID -o FILE [--no-vars] [--attr K=V]
    btengine server [--db URL] [--listen HOST:PORT] [--workers N] [--upload-token T] [--read-token T]
    btengine store top|ingest|reprocess [--db URL] ...
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict, List, Optional, Sequence

import btengine

DESCRIPTION = """\
bt's reading commands as a Python program. `show` prints exactly what bt prints (`bt show` for
a snapshot, `bt CORE` for a core or minidump, `bt PID` for a live process, which is frozen
only while it is read), text or JSON (the btengine.backtrace/2 schema of docs/json-output.md);
`threads` one line per thread; `print` global and static variables as gdb's `print` does;
`classify` runs the analysis and the plugins over many files; `capture` takes a snapshot of a
live process."""

EPILOG = """\
exit status: 0 on success, 1 when the target cannot be read (the reason is printed on stderr),
2 for bad usage, 9 when the result was printed but the source is incomplete (a truncated core,
a missing or mismatched executable: the warnings on stderr say what is missing), as for bt."""

PARTIAL = 9  # as bt: the result was printed, but the source is incomplete


def _open(args: argparse.Namespace) -> btengine.Process:
    """A file, or a live process when the target is a number that names no file."""
    target = args.target
    if target.isdigit() and not os.path.exists(target):
        return btengine.attach(int(target), debug_dirs=args.debug_dir, symbols=args.symbols,
                               offline=args.offline)
    return btengine.open(target, exe=args.exe, debug_dirs=args.debug_dir,
                         allow_mismatch=args.allow_mismatch, symbols=args.symbols, offline=args.offline)


def _finish(p: btengine.Process) -> int:
    """Warnings on stderr, as bt prints them; the exit status says whether the result is
    partial."""
    for w in p.warnings[:10]:
        print(f"btengine: warning: {w}", file=sys.stderr)
    return PARTIAL if p.partial else 0


PLUGIN_MEMORY_BYTES = 256 << 20  # what bt keeps of a live process for plugins (cli/capture_options.h)


def _is_pid(target: str) -> bool:
    return target.isdigit() and not os.path.exists(target)


def _snapshot_for_plugins(pid: str, tmp: str, debug_dirs: Sequence[str],
                          symbols: Sequence[str] = ()) -> str:
    """Plugins never run while a live process is stopped: they get a snapshot of it (taken,
    then the process runs on) that keeps its writable memory, as bt gives them."""
    source = os.path.join(tmp, f"{pid}.btsnap")
    btengine.capture(int(pid), source, debug_dirs=debug_dirs, symbols=symbols, writable_memory=True,
                     max_memory_bytes=PLUGIN_MEMORY_BYTES)
    return source


def _show(args: argparse.Namespace) -> int:
    from btengine import plugins
    loaded, load_errors = ([], []) if args.no_plugins else plugins.load(args.plugin)
    if not loaded and not load_errors:
        with _open(args) as p:
            sys.stdout.write(p.report(json=args.json, variables=args.vars))
            sys.stdout.flush()
            return _finish(p)
    # As bt with plugins: run them on the capture (a live process snapshotted first).
    with tempfile.TemporaryDirectory(prefix="btengine-show-") as tmp:
        source = _snapshot_for_plugins(args.target, tmp, args.debug_dir, args.symbols) if _is_pid(args.target) else args.target
        with btengine.open(source, exe=args.exe, debug_dirs=args.debug_dir,
                           allow_mismatch=args.allow_mismatch, symbols=args.symbols,
                           offline=args.offline) as p:
            doc = plugins.report(p, loaded, args.plugin_timeout, load_errors)
            sys.stdout.write(p.report(json=args.json, variables=args.vars, plugins=doc))
            sys.stdout.flush()
            return _finish(p)


def _threads(args: argparse.Namespace) -> int:
    with _open(args) as p:
        for t in p.threads:
            frames = t.frames
            top = frames[0].function if frames else None
            print(f"{t.tid:>8} {t.name or '?':<16} {'crashed ' if t.crashed else ''}"
                  f"{top or '??'}")
        return _finish(p)


def _print(args: argparse.Namespace) -> int:
    status = 0
    with _open(args) as p:
        for name in args.names:
            try:
                print(f"{name} = {p[name].format(hex=args.hex)}")
            except KeyError as e:
                print(f"btengine: {e.args[0] if e.args else e}", file=sys.stderr)
                status = 1
            except btengine.FormatError as e:
                print(f"btengine: {name}: {e}", file=sys.stderr)
                status = 1
        return status or _finish(p)


def _classify_files(paths: Sequence[str]) -> List[str]:
    """The files named, and the regular files of the directories named (recursively, sorted)."""
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                out += [os.path.join(root, f) for f in sorted(files)]
        else:
            out.append(p)
    return out


def _classify(args: argparse.Namespace) -> int:
    from btengine import plugins
    loaded, load_errors = plugins.load(args.plugin, defaults=not args.no_default_plugins)
    files = _classify_files(args.paths)
    rows: List[Dict[str, object]] = []
    failed = 0
    progress = sys.stderr.isatty() and not args.quiet
    for i, path in enumerate(files, 1):
        if progress:
            sys.stderr.write(f"\r[{i}/{len(files)}] {path[-60:]:<60}")
            sys.stderr.flush()
        row: Dict[str, object] = {"file": path}
        try:
            with tempfile.TemporaryDirectory(prefix="btengine-classify-") as tmp:
                source = _snapshot_for_plugins(path, tmp, args.debug_dir, args.symbols) if _is_pid(path) else path
                with btengine.open(source, exe=args.exe, debug_dirs=args.debug_dir,
                                   symbols=args.symbols) as proc:
                    row.update(plugins.analyse(proc, loaded, args.timeout, load_errors))
        except (OSError, ValueError, LookupError) as e:
            failed += 1
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
        if args.jsonl:
            print(json.dumps(row), flush=True)
    if progress:
        sys.stderr.write("\r" + " " * 72 + "\r")
    if args.json:
        print(json.dumps(rows, indent=1))
    elif not args.jsonl:
        print(f"{'file':40} {'class':22} {'severity':26} {'fingerprint':16} top frame / plugins")
        for r in rows:
            if "error" in r:
                print(f"{str(r['file'])[-40:]:40} error: {r['error']}")
                continue
            extra = "; ".join(f"{c['kind']}: {c['reason']}" for c in r["classifications"])  # type: ignore[attr-defined]
            print(f"{str(r['file'])[-40:]:40} {str(r['class'] or '-'):22} {str(r['severity'] or '-'):26} "
                  f"{str(r['fingerprint']):16} {r['top_frame'] or '??'}" + (f"  [{extra}]" if extra else ""))
        failures = [pe for r in rows if "plugin_errors" in r for pe in r["plugin_errors"]]  # type: ignore[attr-defined]
        for pe in failures[:20]:
            print(f"btengine: plugin {pe['plugin']}.{pe['function']}: {pe['kind']}: {pe['message']}",
                  file=sys.stderr)
    return 1 if failed else 0


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


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="btengine", description=DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action="version", version=f"btengine {btengine.__version__}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("show", help="print threads and frames as bt does (text or --json)",
                       description="Print a snapshot, core, minidump or live process exactly as "
                                   "bt prints it.")
    t = sub.add_parser("threads", help="one line per thread: tid, name, top function",
                       description="One line per thread: tid, name, whether it crashed, its "
                                   "innermost function.")
    pr = sub.add_parser("print", help="print global and static variables as gdb's print",
                        description="Print variables with static storage (globals, file, "
                                    "function and class statics: 'ns::name', 'function::name') "
                                    "as gdb's `print` shows them.")
    for p in (s, t, pr):
        p.add_argument("target", help="a snapshot (.btsnap), a core file, a minidump or a PID")
        p.add_argument("--exe", help="the core's executable, when it moved")
        p.add_argument("--allow-mismatch", action="store_true",
                       help="use module files of another build than the process ran "
                            "(frames in them are marked)")
        p.add_argument("--debug-dir", action="append", default=[], metavar="DIR",
                       help="also search DIR/.build-id for debug files (repeatable)")
        p.add_argument("--symbols", action="append", default=[], metavar="PATH",
                       help="a Breakpad symbol store (NAME/DEBUGID/NAME.sym) or .sym file, for "
                            "modules without DWARF (repeatable)")
        p.add_argument("--offline", action="store_true",
                       help="never fetch from the debuginfod servers in DEBUGINFOD_URLS")
    s.add_argument("--vars", action="store_true",
                   help="also every frame's parameters and locals (as bt --vars)")
    s.add_argument("--json", action="store_true",
                   help="JSON, schema btengine.backtrace/2 (docs/json-output.md), as bt --json")
    s.add_argument("--plugin", action="append", default=[], metavar="PATH",
                   help="run this plugin (file or directory; repeatable) as bt --plugin does; "
                        "configured plugins (BTENGINE_PLUGIN_PATH, ~/.config/btengine/plugins, "
                        "entry points) run too")
    s.add_argument("--no-plugins", action="store_true", help="run no plugin")
    s.add_argument("--plugin-timeout", type=float, default=5.0, metavar="S",
                   help="time limit of each plugin function (default 5 s)")
    s.set_defaults(run=_show)
    t.set_defaults(run=_threads)
    pr.add_argument("names", nargs="+", metavar="NAME", help="variable names")
    pr.add_argument("--hex", action="store_true", help="integers in hex (gdb's print /x)")
    pr.set_defaults(run=_print)
    k = sub.add_parser("classify", help="the analysis and plugins over many files",
                       description="The built-in analysis and the plugins (docs/plugins.md) over "
                                   "snapshots, cores and minidumps: a table (file, class, severity, "
                                   "fingerprint, top frame, the plugins' findings), --json or --jsonl. "
                                   "A file that cannot be read is listed with its error (exit 1) "
                                   "and the others go on.")
    k.add_argument("paths", nargs="+", metavar="FILE|DIR|PID",
                   help="files, directories of them, or live processes (snapshotted first: plugins "
                        "never run while a process is stopped)")
    k.add_argument("--plugin", action="append", default=[], metavar="PATH",
                   help="a plugin file or directory (repeatable); also BTENGINE_PLUGIN_PATH, "
                        "~/.config/btengine/plugins and the btengine.plugins entry points")
    k.add_argument("--no-default-plugins", action="store_true",
                   help="only the --plugin ones (not the directories and entry points)")
    k.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS",
                   help="time limit of each plugin function (default 5)")
    k.add_argument("--exe", help="the executable of cores that do not name it")
    k.add_argument("--debug-dir", action="append", default=[], metavar="DIR")
    k.add_argument("--symbols", action="append", default=[], metavar="PATH",
                   help="a Breakpad symbol store or .sym file (repeatable)")
    k.add_argument("--json", action="store_true", help="one JSON array")
    k.add_argument("--jsonl", action="store_true", help="one JSON object per line, as files finish")
    k.add_argument("-q", "--quiet", action="store_true", help="no progress line on a terminal")
    k.set_defaults(run=_classify)
    c = sub.add_parser("capture", help="snapshot a live process",
                       description="Take a snapshot of a live process (as bt snapshot PID).")
    c.add_argument("pid", type=int)
    c.add_argument("-o", "--output", required=True, help="the snapshot file to write")
    c.add_argument("--no-vars", action="store_true", help="no variables (the shortest pause)")
    c.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                   help="an attribute stored in the snapshot (repeatable)")
    c.set_defaults(run=_capture)
    # The crash server (docs/server.md): `btengine server`, `btengine store top|ingest|reprocess`.
    from .server.commands import add_commands
    add_commands(sub)
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command with `argv` (default: sys.argv[1:]); returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
        return status
    except BrokenPipeError:
        # The reader went away (`btengine show x | head`): what it read was complete lines;
        # stop quietly, and keep Python's exit-time flush of stdout from failing again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (OSError, ProcessLookupError, ValueError, LookupError) as e:
        print(f"btengine: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
