"""`btengine server` and `btengine store ...` (added to btengine.cli's parser by add_commands)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional

from .config import (DEFAULT_LISTEN, DEFAULT_MAX_UPLOAD, ServerConfig, default_db_url, env_tokens,
                     is_loopback, parse_listen, redact_url)

DB_HELP = ("the database: a SQLite file (path or sqlite:///PATH) or postgresql://USER@HOST:PORT/DB "
           "(default: $BTENGINE_DB, else ~/.local/share/btengine/crashes.db)")


def _attrs(pairs: List[str]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for a in pairs:
        k, sep, v = a.partition("=")
        if not sep or not k:
            raise ValueError(f"--attr {a!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _duration(s: str) -> float:
    """"3600", "90m", "12h", "7d" -> seconds."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
    try:
        if s and s[-1] in units:
            return float(s[:-1]) * units[s[-1]]
        return float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r}: a duration such as 3600, 90m, 12h or 7d") from None


def _analysis_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--symbols", action="append", default=[], metavar="PATH",
                   help="a Breakpad symbol store (NAME/DEBUGID/NAME.sym) or .sym file for minidumps' "
                        "modules (repeatable)")
    p.add_argument("--debug-dir", action="append", default=[], metavar="DIR",
                   help="search DIR/.build-id for debug files (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="PATH",
                   help="run this plugin file or directory on every crash (repeatable; only these: "
                        "a server does not read ~/.config/btengine/plugins)")
    p.add_argument("--online", action="store_true",
                   help="let the analysis fetch from the debuginfod servers in DEBUGINFOD_URLS "
                        "(default: offline)")


def add_commands(sub: Any) -> None:
    s = sub.add_parser(
        "server", help="run the crash server (HTTP ingest, API, web UI)",
        description="Run the crash server (docs/server.md): uploads of snapshots and minidumps "
                    "(POST /api/v1/crashes, Breakpad/Crashpad POST /submit), analysed, grouped and "
                    "ranked, in a SQLite file or PostgreSQL; the API and the web UI. Served by gunicorn "
                    "with --workers processes.")
    s.add_argument("--db", default=None, help=DB_HELP)
    s.add_argument("--listen", default=DEFAULT_LISTEN, metavar="HOST:PORT",
                   help=f"address to listen on (default {DEFAULT_LISTEN}); anything but loopback "
                        "needs tokens")
    s.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1), metavar="N",
                   help="gunicorn worker processes (default: the number of CPUs, at least 2)")
    s.add_argument("--upload-token", action="append", default=[], metavar="T",
                   help="a token allowed to upload (repeatable; also BTENGINE_UPLOAD_TOKENS, comma-separated)")
    s.add_argument("--read-token", action="append", default=[], metavar="T",
                   help="a token allowed to read and upload (repeatable; also BTENGINE_READ_TOKENS)")
    s.add_argument("--max-upload-size", type=int, default=DEFAULT_MAX_UPLOAD, metavar="BYTES",
                   help=f"largest accepted upload, compressed or decoded (default {DEFAULT_MAX_UPLOAD})")
    s.add_argument("--timeout", type=int, default=120, metavar="SECONDS",
                   help="gunicorn's worker timeout: a request analysing longer is killed (default 120)")
    _analysis_args(s)
    s.set_defaults(run=run_server)

    st = sub.add_parser("store", help="the crash store: top, ingest, reprocess",
                        description="Work on the crash server's database directly.")
    ss = st.add_subparsers(dest="store_command", required=True, metavar="COMMAND")
    top = ss.add_parser("top", help="the groups ranked by risk (docs/server.md)",
                        description="The crash groups ranked by risk score (severity, classifier flags, "
                                    "frequency, recency, spread: docs/server.md), as a table or --json.")
    top.add_argument("--db", default=None, help=DB_HELP)
    top.add_argument("-n", type=int, default=20, metavar="N", help="how many groups (default 20)")
    top.add_argument("--order", default="risk", choices=["risk", "count", "last_seen", "first_seen"])
    top.add_argument("--version", dest="app_version", help="only crashes of this version")
    top.add_argument("--host", help="only crashes from this host")
    top.add_argument("--kind", help="only crashes of this class (null-deref, stack-overflow, ...)")
    top.add_argument("--severity", choices=["exploitable", "probably_exploitable",
                                            "probably_not_exploitable", "unknown"])
    top.add_argument("--since", type=_duration, metavar="DURATION",
                     help="only crashes received in the last DURATION (3600, 90m, 12h, 7d)")
    top.add_argument("--text", help="substring of the group title (its top frames)")
    top.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                     help="only crashes with this attribute (repeatable)")
    top.add_argument("--json", action="store_true", help="the groups as JSON (with risk_terms)")
    top.set_defaults(run=run_top)
    ing = ss.add_parser("ingest", help="store snapshots and minidumps without HTTP",
                        description="Analyse and store files as an upload would (gzip files are decoded). "
                                    "Prints one line per file; exit 1 if any was refused.")
    ing.add_argument("files", nargs="+", metavar="FILE")
    ing.add_argument("--db", default=None, help=DB_HELP)
    ing.add_argument("--attr", action="append", default=[], metavar="KEY=VALUE",
                     help="an attribute added to every file's (repeatable)")
    ing.add_argument("--max-upload-size", type=int, default=DEFAULT_MAX_UPLOAD, metavar="BYTES")
    _analysis_args(ing)
    ing.set_defaults(run=run_ingest)
    rp = ss.add_parser("reprocess", help="re-analyse every stored crash on Dask",
                       description="Re-analyse every stored crash with the current engine and plugins on "
                                   "Dask (a local cluster of --workers processes, or --dask SCHEDULER), "
                                   "then regroup. A crash that no longer analyses keeps its stored analysis "
                                   "and is reported (exit 1).")
    rp.add_argument("--db", default=None, help=DB_HELP)
    rp.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                    help="an existing Dask scheduler (tcp://HOST:8786) whose workers can reach the database "
                         "and import btengine (default: a local cluster)")
    rp.add_argument("--workers", type=int, default=0, metavar="N",
                    help="worker processes of the local cluster (default: the number of CPUs)")
    rp.add_argument("--batch", type=int, default=25, metavar="N", help="crashes per Dask task (default 25)")
    rp.add_argument("--json", action="store_true", help="print the summary as JSON")
    _analysis_args(rp)
    rp.set_defaults(run=run_reprocess)


def _db(args: argparse.Namespace) -> str:
    return args.db or default_db_url()


def _options(args: argparse.Namespace) -> Any:
    from .ingest import AnalysisOptions
    return AnalysisOptions(symbols=list(args.symbols), debug_dirs=list(args.debug_dir),
                           plugins=list(args.plugin), offline=not args.online)


def _missing(*modules: str) -> Optional[str]:
    """A clear message when the `server` extra is not installed (None when it is)."""
    import importlib
    absent = []
    for m in modules:
        try:
            importlib.import_module(m)
        except ImportError:
            absent.append(m)
    if not absent:
        return None
    return (f"btengine: error: this command needs {', '.join(absent)}: "
            f"pip install 'btengine[server]' (or: bash scripts/setup)")


SERVER_THREADS = 8  # per worker process: connections a browser may hold open without a request


def run_server(args: argparse.Namespace) -> int:
    import importlib
    if (why := _missing("flask", "gunicorn")):
        print(why, file=sys.stderr)
        return 1
    # gunicorn ships no type information: taken as Any rather than a per-line ignore.
    BaseApplication: Any = importlib.import_module("gunicorn.app.base").BaseApplication

    from .app import create_app
    from .store import Store

    host, port = parse_listen(args.listen)
    config = ServerConfig(db_url=_db(args), listen=args.listen, workers=args.workers,
                          upload_tokens=args.upload_token + env_tokens("BTENGINE_UPLOAD_TOKENS"),
                          read_tokens=args.read_token + env_tokens("BTENGINE_READ_TOKENS"),
                          symbols=list(args.symbols), debug_dirs=list(args.debug_dir),
                          plugins=list(args.plugin), max_upload_size=args.max_upload_size,
                          offline=not args.online)
    if args.workers < 1:
        print("btengine server: --workers must be at least 1", file=sys.stderr)
        return 2
    if not config.auth_enabled and not is_loopback(host):
        print(f"btengine server: refusing to listen on {host} without tokens: anyone reaching it could "
              "upload and read crashes (their memory contents). Give --upload-token/--read-token (or "
              "BTENGINE_UPLOAD_TOKENS/BTENGINE_READ_TOKENS), or listen on 127.0.0.1.", file=sys.stderr)
        return 2
    # Migrate (and fail with a clear message) once, before the workers start.
    store = Store.open(config.db_url)
    config.db_url = store.url  # absolute: the workers may run elsewhere than the cwd
    store.close()

    class Server(BaseApplication):  # type: ignore[misc]  # (subclassing Any)
        def load_config(self) -> None:
            self.cfg.set("bind", [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"])
            self.cfg.set("workers", args.workers)
            # Threads, not gunicorn's sync workers: a sync worker blocks on a connection that
            # sends nothing (a browser's speculative or idle keep-alive sockets), so two browser
            # tabs could stall a 2-worker server for the whole --timeout. The engine's calls
            # hold the GIL, so a worker's threads never analyse at once.
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", SERVER_THREADS)
            self.cfg.set("timeout", args.timeout)
            self.cfg.set("graceful_timeout", 10)
            self.cfg.set("proc_name", "btengine-server")
            # gunicorn's control socket is one fixed path per user: two servers would fight over it.
            if "control_socket_disable" in self.cfg.settings:
                self.cfg.set("control_socket_disable", True)
            self.cfg.set("when_ready", lambda _server: print(
                f"btengine server: serving http://{args.listen} ({args.workers} workers, database "
                f"{redact_url(config.db_url)}{', tokens required' if config.auth_enabled else ', no authentication'})",
                flush=True))

        def load(self) -> Any:
            return create_app(config)

    Server().run()
    return 0


def _store(args: argparse.Namespace) -> Any:
    from .store import Store
    return Store.open(_db(args))


def run_top(args: argparse.Namespace) -> int:
    from .store import Filters
    f = Filters(attributes=_attrs(args.attr), version=args.app_version, host=args.host, kind=args.kind,
                severity=args.severity, since=time.time() - args.since if args.since else None,
                text=args.text)
    with _store(args) as store:
        groups = store.groups(f, order=args.order, limit=args.n)
        total = store.group_count(f)
    if args.json:
        print(json.dumps(groups, indent=1))
        return 0
    if not groups:
        print("no crash groups" + (" match the filters" if total == 0 and f != Filters() else ""))
        return 0
    now = time.time()
    print(f"{'#':>3} {'risk':>7} {'severity':<24} {'class':<18} {'count':>6} {'hosts':>5} {'vers':>4} "
          f"{'last seen':>9}  {'group':>5}  title")
    for i, g in enumerate(groups, 1):
        age = now - g["last_seen"]
        seen = (f"{age / 86400:.0f}d ago" if age >= 86400 else f"{age / 3600:.0f}h ago" if age >= 3600
                else f"{age / 60:.0f}m ago")
        print(f"{i:>3} {g['risk']:>7.1f} {g['severity']:<24} {str(g['kind'] or '-'):<18} {g['count']:>6} "
              f"{g['hosts']:>5} {len(g['versions']):>4} {seen:>9}  {g['id']:>5}  {g['title'][:90]}")
    if total > len(groups):
        print(f"({total - len(groups)} more groups: -n {total})")
    return 0


def run_ingest(args: argparse.Namespace) -> int:
    from . import ingest
    attrs = _attrs(args.attr)
    opts = _options(args)
    failed = 0
    with _store(args) as store:
        for path in args.files:
            try:
                with open(path, "rb") as fh:
                    data = fh.read(args.max_upload_size + 1)
                if len(data) > args.max_upload_size:
                    raise ingest.IngestError(413, f"larger than --max-upload-size {args.max_upload_size}")
                if data.startswith(ingest.GZIP_MAGIC):
                    data = ingest.gunzip(data, args.max_upload_size)
                name = os.path.basename(path)
                r = ingest.ingest(store, data, opts, filename=name[:-3] if name.endswith(".gz") else name,
                                  upload_attributes=attrs)
                print(f"{path}: crash {r.id}, group {r.group}, fingerprint {r.fingerprint}"
                      + ("" if r.created else " (already stored)"))
            except (OSError, ingest.IngestError) as e:
                failed += 1
                print(f"btengine: {path}: {getattr(e, 'message', None) or e}", file=sys.stderr)
    return 1 if failed else 0


def run_reprocess(args: argparse.Namespace) -> int:
    if (why := _missing("dask", "distributed")):
        print(why, file=sys.stderr)
        return 1
    from .reprocess import reprocess, stderr_progress
    with _store(args) as store:
        summary = reprocess(store, _options(args), scheduler=args.dask, workers=args.workers,
                            batch=args.batch, progress=stderr_progress if not args.json else None)
    if args.json:
        print(json.dumps(summary, indent=1))
    else:
        print(f"reprocessed {summary['reanalysed']} of {summary['crashes']} crashes in {summary['seconds']} s "
              f"on {summary['workers']} Dask workers: {summary['changed']} changed, groups "
              f"{summary['regroup']['groups']} ({summary['regroup']['created']} new, "
              f"{summary['regroup']['removed']} removed)")
        for cid, err in summary["errors"][:20]:
            print(f"btengine: crash {cid} no longer analyses (its stored analysis is kept): {err}",
                  file=sys.stderr)
        if summary["failed"] > 20:
            print(f"btengine: ... and {summary['failed'] - 20} more", file=sys.stderr)
    return 1 if summary["failed"] else 0
