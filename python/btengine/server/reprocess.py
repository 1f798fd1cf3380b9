"""`btengine store reprocess`: re-analyse every stored crash with the current engine and plugins,
on Dask (a LocalCluster of worker processes by default, or an existing scheduler).

The driver hands out batches of crash ids; each worker reads those crashes' bytes from the
database itself (by URL: nothing large travels through the scheduler), analyses them as ingest
does and returns the analyses. The driver writes them in batched transactions as they arrive and
regroups once at the end. A crash that no longer analyses keeps its stored analysis and bytes, is
marked (crashes.analysis_error) and counted: reported, never lost.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from . import ingest
from .store import CrashRecord, Store

BATCH = 25          # crashes per Dask task
WRITE_BATCH = 200   # crashes per write transaction

_stores: Dict[str, Store] = {}


def _worker_store(url: str) -> Store:
    """One Store per worker process and URL, kept between tasks."""
    if url not in _stores:
        _stores[url] = Store.open(url)
    return _stores[url]


def analyse_batch(db_url: str, crash_ids: Sequence[int], opts: Dict[str, Any]
                  ) -> List[Tuple[int, Optional[Dict[str, Any]], Optional[str]]]:
    """Runs in a Dask worker: [(id, analysis fields, None) or (id, None, error)]."""
    import btengine
    options = ingest.AnalysisOptions(**opts)
    store = _worker_store(db_url)
    rows = store.blobs(crash_ids)
    out: List[Tuple[int, Optional[Dict[str, Any]], Optional[str]]] = []
    for cid in crash_ids:
        row = rows.get(int(cid))
        if row is None:  # deleted meanwhile
            out.append((int(cid), None, "the crash or its bytes are gone from the store"))
            continue
        fd, path = tempfile.mkstemp(prefix="btengine-reprocess-", suffix=ingest.EXTENSIONS[row["format"]])
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(row["blob"])
            fields = ingest.analyse_file(path, row["format"], options, row["upload_attributes"])
            out.append((int(cid), fields, None))
        except (btengine.Error, OSError, ValueError, LookupError) as e:
            out.append((int(cid), None, f"{type(e).__name__}: {e}"))
        finally:
            os.unlink(path)
    return out


def reprocess(store: Store, opts: ingest.AnalysisOptions, *, scheduler: Optional[str] = None,
              workers: int = 0, batch: int = BATCH,
              progress: Optional[Callable[[int, int, int], None]] = None) -> Dict[str, Any]:
    """Re-analyses every crash of `store`; returns a summary: crashes, reanalysed, failed (with
    `errors`: [(id, message)]), changed (fingerprint, severity or kind differ), regroup counts,
    seconds, workers."""
    import importlib
    distributed: Any = importlib.import_module("dask.distributed")  # untyped: keep mypy --strict quiet
    Client, LocalCluster, as_completed = distributed.Client, distributed.LocalCluster, distributed.as_completed

    start = time.perf_counter()
    before = store.analysis_index()
    ids = sorted(before)
    batches = [ids[i:i + batch] for i in range(0, len(ids), batch)]
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        n = workers or os.cpu_count() or 1
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    errors: List[Tuple[int, str]] = []
    changed = done = 0
    pending: List[Tuple[int, Optional[CrashRecord], Optional[str]]] = []

    def flush() -> None:
        if pending:
            store.update_analyses(pending)
            pending.clear()

    try:
        nworkers = len(client.scheduler_info().get("workers", {}))
        opt = asdict(opts)
        futures = {client.submit(analyse_batch, store.url, b, opt, pure=False): b for b in batches}
        for fut in as_completed(futures):
            b = futures[fut]
            try:
                results = fut.result()
            except Exception as e:  # the worker died (the engine crashed on one of them) or similar
                results = [(cid, None, f"worker failed on this batch: {type(e).__name__}: {e}") for cid in b]
            for cid, fields, error in results:
                if fields is None:
                    errors.append((cid, error or "analysis failed"))
                    pending.append((cid, None, error))
                    continue
                rec = CrashRecord(sha256="", received=0.0, format="", size=0, filename="", blob=b"", **fields)
                if before.get(cid) != (rec.fingerprint, rec.severity, rec.kind):
                    changed += 1
                pending.append((cid, rec, None))
            done += len(b)
            if len(pending) >= WRITE_BATCH:
                flush()
            if progress:
                progress(done, len(ids), len(errors))
        flush()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    regroup = store.regroup()
    return {"crashes": len(ids), "reanalysed": len(ids) - len(errors), "failed": len(errors),
            "errors": errors, "changed": changed, "regroup": regroup,
            "seconds": round(time.perf_counter() - start, 3), "workers": nworkers}


def stderr_progress(done: int, total: int, failed: int) -> None:
    sys.stderr.write(f"\rreprocess: {done}/{total} crashes" + (f", {failed} failed" if failed else ""))
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()
