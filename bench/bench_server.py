#!/usr/bin/env python3
"""The crash server's throughput (docs/server.md, "Performance"):

- uploads per second over HTTP (8 client threads, loopback) into SQLite and PostgreSQL with 1 and
  N gunicorn workers: every upload analysed (engine + report with variables) and committed;
- p50/p99 latency of GET /api/v1/groups (ranked by risk, 50 rows; and with a host filter) with
  --crashes (default 100,000) crashes stored, inserted directly through the Store with varied
  fingerprints (a Zipf-like spread over --groups groups), hosts and versions;
- `btengine store reprocess` throughput on a local Dask cluster with 1 and N worker processes.

Writes bench/results/server.md and server.json. PostgreSQL is started on loopback in a temporary
directory (Debian's postgresql, as tests/server does).

Usage: bench/bench_server.py [--build-python build/python] [--uploads 400] [--crashes 100000]
                             [--workers N] [--no-postgres] [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests" / "server"))


def pct(xs: List[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench_uploads(su: Any, db_url: str, work: Path, items: List[Any], workers: int) -> Dict[str, Any]:
    server = su.ServerProcess(db_url, work, workers=workers, args=su.symbol_args()).start()
    try:
        lat: List[float] = []
        lock = threading.Lock()

        def one(it: Any) -> int:
            t0 = time.perf_counter()
            status, _ = su.upload(server.base, it)
            with lock:
                lat.append(time.perf_counter() - t0)
            return status

        import concurrent.futures
        t0 = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            statuses = list(ex.map(one, items))
        secs = time.perf_counter() - t0
    finally:
        server.stop()
    bad = [s for s in statuses if s != 201]
    if bad:
        sys.exit(f"bench: {len(bad)} uploads failed ({bad[:5]}): see {server.log}")
    return {"uploads": len(items), "seconds": round(secs, 2), "per_second": round(len(items) / secs, 1),
            "latency_p50_ms": round(pct(lat, 50) * 1000, 1), "latency_p99_ms": round(pct(lat, 99) * 1000, 1)}


def fill(db_url: str, crashes: int, groups: int) -> float:
    """`crashes` synthetic crashes through Store.add_crashes (1,000 per transaction)."""
    from btengine.server.store import CrashRecord, Store
    sevs = ["exploitable", "probably_exploitable", "probably_not_exploitable", "unknown"]
    rng = random.Random(1)
    now = time.time()
    store = Store.open(db_url)
    t0 = time.perf_counter()
    batch: List[Any] = []
    for n in range(crashes):
        g = int(groups * rng.random() ** 3)  # a few loud groups, a long tail
        fp = f"{g:016x}"
        batch.append(CrashRecord(
            sha256=f"{n:064x}", received=now - rng.random() * 30 * 86400, format="btsnap", size=64,
            filename=f"c{n}.btsnap", blob=b"BTSNAP\r\n" + bytes(56), fingerprint=fp,
            title=f"prog!func_{g} < prog!caller_{g % 97} < prog!main", severity=sevs[g % 4],
            kind=["wild-write", "null-deref", "abort", "unknown"][g % 4], signal="SIGSEGV",
            attributes={"host": f"host-{rng.randrange(200)}", "version": f"1.{rng.randrange(20)}",
                        "product": "bench"},
            report={"schema": "btengine.backtrace/2"}, registers={"1": {"rip": n}}))
        if len(batch) == 1000:
            store.add_crashes(batch)
            batch = []
    if batch:
        store.add_crashes(batch)
    secs = time.perf_counter() - t0
    store.close()
    return secs


def bench_list(su: Any, db_url: str, work: Path, workers: int, n: int = 300) -> Dict[str, Any]:
    server = su.ServerProcess(db_url, work, workers=workers).start()
    out: Dict[str, Any] = {}
    try:
        for name, path in (("groups by risk", "/api/v1/groups?limit=50"),
                           ("groups by risk, host filter", "/api/v1/groups?limit=50&host=host-7"),
                           ("groups by count", "/api/v1/groups?limit=50&order=count")):
            lat = []
            for _ in range(10):  # warm up
                su.request(server.base + path)
            for _ in range(n):
                t0 = time.perf_counter()
                status, _, _ = su.request(server.base + path)
                lat.append(time.perf_counter() - t0)
                assert status == 200
            out[name] = {"p50_ms": round(pct(lat, 50) * 1000, 2), "p99_ms": round(pct(lat, 99) * 1000, 2),
                         "requests": n}
    finally:
        server.stop()
    return out


def bench_reprocess(db_url: str, workers: int) -> Dict[str, Any]:
    from btengine.server.ingest import AnalysisOptions
    from btengine.server.reprocess import reprocess
    from btengine.server.store import Store
    import server_util as su
    store = Store.open(db_url)
    t0 = time.perf_counter()
    s = reprocess(store, AnalysisOptions(symbols=su.symbol_paths()), workers=workers)
    total = time.perf_counter() - t0
    store.close()
    return {"crashes": s["crashes"], "workers": s["workers"], "seconds": round(total, 2),
            "per_second": round(s["crashes"] / total, 1), "failed": s["failed"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build-python", default=str(REPO / "build" / "python"))
    ap.add_argument("--uploads", type=int, default=400, help="files per upload run (default 400)")
    ap.add_argument("--crashes", type=int, default=100_000, help="stored crashes for the list latency")
    ap.add_argument("--groups", type=int, default=20_000, help="at most this many groups (default 20,000)")
    ap.add_argument("--workers", type=int, default=max(2, os.cpu_count() or 1), help="N (default: CPUs)")
    ap.add_argument("--no-postgres", action="store_true")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args()
    os.environ["BT_BUILD_DIR"] = str(Path(args.build_python).resolve().parent)
    sys.path.insert(0, args.build_python)
    import server_util as su
    from pg_util import PostgresServer, pg_bin_dir

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    print(f"bench_server: work directory {tmp}", file=sys.stderr)
    corpus = su.make_corpus(tmp / "corpus")
    items = random.Random(3).sample(corpus, min(args.uploads, len(corpus)))
    pg = None
    backends = ["sqlite"]
    if not args.no_postgres and pg_bin_dir() is not None:
        pg = PostgresServer(tmp / "pg").start()
        backends.append("postgresql")
    results: Dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                           "platform": platform.platform()},
                               "uploads": {}, "group_list": {}, "reprocess": {}}
    try:
        last_sqlite = ""
        for backend in backends:
            for w in sorted({1, args.workers}):
                url = (f"sqlite://{tmp / f'up-{w}.db'}" if backend == "sqlite" else pg.create_database())
                r = bench_uploads(su, url, tmp / f"up-{backend}-{w}", items, w)
                results["uploads"][f"{backend}, {w} worker{'s' if w > 1 else ''}"] = r
                print(f"uploads {backend} {w} workers: {r}", file=sys.stderr)
                if backend == "sqlite":
                    last_sqlite = url
        for w in sorted({1, args.workers}):
            r = bench_reprocess(last_sqlite, w)
            results["reprocess"][f"{w} Dask worker{'s' if w > 1 else ''}"] = r
            print(f"reprocess {w}: {r}", file=sys.stderr)
        for backend in backends:
            url = f"sqlite://{tmp / 'big.db'}" if backend == "sqlite" else pg.create_database()
            secs = fill(url, args.crashes, args.groups)
            from btengine.server.store import Store
            st = Store.open(url).stats()
            lat = bench_list(su, url, tmp / f"list-{backend}", args.workers)
            results["group_list"][backend] = {"crashes": st["crashes"], "groups": st["groups"],
                                              "insert_seconds": round(secs, 1),
                                              "inserts_per_second": round(st["crashes"] / secs), **lat}
            print(f"group list {backend}: {results['group_list'][backend]}", file=sys.stderr)
    finally:
        if pg is not None:
            pg.stop()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "server.json").write_text(json.dumps(results, indent=1) + "\n")
    md = ["# Crash server (bench/bench_server.py)", "",
          f"{results['machine']['cpus']} CPUs, Python {results['machine']['python']}. Command: "
          f"`{' '.join(['bench/bench_server.py'] + sys.argv[1:])}`", "",
          "## Uploads over HTTP (8 client threads, every upload analysed and committed)", "",
          "| database, gunicorn workers | uploads | uploads/s | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for k, r in results["uploads"].items():
        md.append(f"| {k} | {r['uploads']} | {r['per_second']} | {r['latency_p50_ms']} | {r['latency_p99_ms']} |")
    md += ["", f"## GET /api/v1/groups with {args.crashes:,} stored crashes ({args.workers} workers)", "",
           "| database | groups | query | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for b, r in results["group_list"].items():
        for q in ("groups by risk", "groups by risk, host filter", "groups by count"):
            md.append(f"| {b} | {r['groups']:,} | {q} | {r[q]['p50_ms']} | {r[q]['p99_ms']} |")
    md += ["", "Store.add_crashes insert rate while filling: " + ", ".join(
        f"{b} {r['inserts_per_second']:,}/s" for b, r in results["group_list"].items()), "",
           "## Reprocess on a local Dask cluster (SQLite)", "",
           "| workers | crashes | seconds | crashes/s |", "|---|---|---|---|"]
    for k, r in results["reprocess"].items():
        md.append(f"| {k} | {r['crashes']} | {r['seconds']} | {r['per_second']} |")
    (out / "server.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
