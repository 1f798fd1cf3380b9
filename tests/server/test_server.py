"""The crash server over HTTP, on SQLite and on PostgreSQL: the corpus uploaded concurrently,
grouping, ranking, idempotence, refused uploads, Crashpad's multipart, tokens, kill -9."""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import server_util as su

MAX_UPLOAD = 8_000_000  # the test servers' --max-upload-size


def open_store(url: str) -> Any:
    from btengine.server.store import Store
    return Store.open(url)


def all_groups(base: str, token: str = None, **params: str) -> List[Dict[str, Any]]:
    from urllib.parse import urlencode
    out: List[Dict[str, Any]] = []
    while True:
        q = urlencode({**params, "limit": 1000, "offset": len(out)})
        page = su.get_json(f"{base}/api/v1/groups?{q}", token)
        out += page["groups"]
        if len(out) >= page["total"] or not page["groups"]:
            return out


def snapshot_of(store: Any) -> Tuple[Dict[str, int], List[Tuple[str, int, int, int]]]:
    """Everything a refused upload must leave alone: row counts and every group's numbers."""
    groups = sorted((g["fingerprint"], g["total_count"], g["hosts"], len(g["versions"]))
                    for g in store.groups(limit=100000))
    return store.stats(), groups


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request: Any, tmp_path_factory: Any, corpus: List[su.Item]) -> Iterator[Dict[str, Any]]:
    """A server on a fresh database of each kind, the whole corpus uploaded into it by 8 client
    threads while a ninth reads /healthz and the group list."""
    work = tmp_path_factory.mktemp(f"loaded-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite://{work / 'crashes.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    server = su.ServerProcess(url, work, workers=2,
                              args=[*su.symbol_args(), "--max-upload-size", str(MAX_UPLOAD)]).start()
    reads: List[Tuple[int, float]] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for path in ("/healthz", "/api/v1/groups?limit=20"):
                t0 = time.perf_counter()
                try:
                    status, _, _ = su.request(server.base + path, timeout=30)
                except OSError:
                    status = -1
                reads.append((status, time.perf_counter() - t0))
            time.sleep(0.05)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t0 = time.perf_counter()
    results = su.upload_all(server.base, corpus, threads=8)
    seconds = time.perf_counter() - t0
    stop.set()
    t.join(timeout=60)
    try:
        yield {"server": server, "url": url, "results": results, "reads": reads, "seconds": seconds,
               "backend": request.param}
    finally:
        server.stop()


def test_corpus_is_large_and_distinct(corpus: List[su.Item]) -> None:
    shas = {hashlib.sha256(i.data).hexdigest() for i in corpus}
    assert len(corpus) >= 1000 and len(shas) == len(corpus)
    assert any(i.path.suffix == ".dmp" for i in corpus) and any(i.path.suffix == ".btsnap" for i in corpus)


def test_concurrent_upload_groups_exact(loaded: Dict[str, Any], expected: Dict[str, Tuple[str, str]]) -> None:
    results = loaded["results"]
    bad = [(i.path.name, s, b) for i, s, b in results if s != 201]
    assert not bad, f"{len(bad)} uploads not created: {bad[:5]}"
    ids = [b["id"] for _, _, b in results]
    assert len(set(ids)) == len(ids)
    # The grouping, against the fingerprints the engine gives each file on its own.
    want = Counter(fp for fp, _ in expected.values())
    got = {g["fingerprint"]: g["total_count"] for g in all_groups(loaded["server"].base)}
    assert got == dict(want)
    for item, _, body in results:
        assert body["fingerprint"] == expected[hashlib.sha256(item.data).hexdigest()][0]
    stats = open_store(loaded["url"]).stats()
    assert stats["crashes"] == len(results) == stats["payloads"]
    assert stats["crashes_without_group"] == stats["crashes_without_payload"] == 0
    assert stats["groups_with_wrong_count"] == 0
    print(f"\n{loaded['backend']}: {len(results)} uploads in {loaded['seconds']:.1f} s "
          f"({len(results) / loaded['seconds']:.0f}/s)")


def test_server_kept_serving_during_uploads(loaded: Dict[str, Any]) -> None:
    reads = loaded["reads"]
    assert len(reads) >= 10, f"only {len(reads)} reads while uploading"
    assert all(s == 200 for s, _ in reads), Counter(s for s, _ in reads)
    assert max(t for _, t in reads) < 10


def test_ranking_puts_the_worst_severities_first(loaded: Dict[str, Any],
                                                 expected: Dict[str, Tuple[str, str]]) -> None:
    groups = all_groups(loaded["server"].base)
    worst: Dict[str, str] = {}
    for fp, sev in expected.values():
        if fp not in worst or su.SEVERITY_ORDER.index(sev) < su.SEVERITY_ORDER.index(worst[fp]):
            worst[fp] = sev
    assert {g["fingerprint"]: g["severity"] for g in groups} == worst
    ranks = [su.SEVERITY_ORDER.index(g["severity"]) for g in groups]
    assert len(set(ranks)) >= 3, "the corpus should span several severities"
    assert ranks == sorted(ranks), "a group outranked one of a worse severity"
    assert groups[0]["severity"] == "exploitable"
    risks = [g["risk"] for g in groups]
    assert risks == sorted(risks, reverse=True)
    # The loudest group is not first unless it is also the most severe.
    loudest = max(groups, key=lambda g: g["total_count"])
    if loudest["severity"] != "exploitable":
        assert groups.index(loudest) > 0


def test_filters_match_the_corpus(loaded: Dict[str, Any], corpus: List[su.Item],
                                  expected: Dict[str, Tuple[str, str]]) -> None:
    base = loaded["server"].base
    import btengine
    # host/version of each file: the upload's attributes, else the snapshot's own (--attr).
    by_host: Counter = Counter()
    for item in corpus:
        attrs = dict(item.attrs)
        if not attrs:
            with btengine.open(item.path, offline=True) as p:
                attrs = p.attributes
        by_host[(attrs.get("host"), attrs.get("version"))] += 1
    host, version = "host-3", "1.2"
    want = by_host[(host, version)]
    assert want > 0
    groups = all_groups(base, host=host, version=version)
    assert sum(g["count"] for g in groups) == want
    sev = all_groups(base, severity="exploitable")
    assert sev and all(g["severity"] == "exploitable" for g in sev)
    assert sum(g["count"] for g in sev) == sum(1 for _, s in expected.values() if s == "exploitable")


def test_reupload_changes_nothing(loaded: Dict[str, Any]) -> None:
    store = open_store(loaded["url"])
    before = snapshot_of(store)
    sample = random.Random(7).sample(loaded["results"], 25)
    for k, (item, _, first) in enumerate(sample):
        status, body = su.upload(loaded["server"].base, item, gz=k % 2 == 1)  # gzip: same bytes decoded
        assert status == 200 and body["created"] is False and body["id"] == first["id"]
    assert snapshot_of(store) == before


def _raw_post(base: str, path: str, body: bytes, headers: Dict[str, str]) -> Tuple[int, Dict[str, Any]]:
    status, raw, _ = su.request(base + path, data=body, headers=headers)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, {"raw": raw.decode(errors="replace")}


def test_bad_uploads_are_refused_and_store_nothing(loaded: Dict[str, Any], corpus: List[su.Item],
                                                   tmp_path: Path) -> None:
    base = loaded["server"].base
    store = open_store(loaded["url"])
    before = snapshot_of(store)
    snap = next(i for i in corpus if i.path.suffix == ".btsnap").data
    dmp = next(i for i in corpus if i.path.suffix == ".dmp" and "fixtures" not in str(i.path)).data
    core = next((corpus[0].path.parent / "cores").rglob("core*"), None)
    ct = {"Content-Type": "application/octet-stream"}
    cases = [
        ("truncated snapshot", snap[: len(snap) // 2], ct, 400),
        ("snapshot header only", snap[:8], ct, 400),
        ("snapshot, zeroed version", snap[:8] + bytes(32) + snap[40:], ct, 400),
        ("minidump header only", dmp[:64], ct, 400),
        ("minidump without streams", dmp[:8] + bytes(32) + dmp[40:], ct, 400),
        ("text", b"hello, I am not a crash\n" * 10, ct, 415),
        ("empty", b"", ct, 400),
        ("ELF", b"\x7fELF\x02\x01\x01" + bytes(100), ct, 415),
        ("corrupt gzip", gzip.compress(snap)[:40], {**ct, "Content-Encoding": "gzip"}, 400),
        ("gzip bomb", gzip.compress(bytes(4 * MAX_UPLOAD)), {**ct, "Content-Encoding": "gzip"}, 413),
        ("gzip bomb, no header", gzip.compress(bytes(4 * MAX_UPLOAD)), ct, 413),
        ("brotli", snap, {**ct, "Content-Encoding": "br"}, 415),
    ]
    if core is not None:
        cases.append(("a core file", core.read_bytes()[:MAX_UPLOAD], ct, 415))
    for name, body, headers, want in cases:
        status, reply = _raw_post(base, "/api/v1/crashes", body, headers)
        assert status == want, f"{name}: {status} {reply}"
        assert "error" in reply and reply["error"], name
    # Too large: refused from the Content-Length alone, before any of the body is sent.
    conn = http.client.HTTPConnection("127.0.0.1", loaded["server"].port, timeout=30)
    conn.putrequest("POST", "/api/v1/crashes")
    conn.putheader("Content-Length", str(MAX_UPLOAD + 1))
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and "limit" in json.loads(resp.read())["error"]
    conn.close()
    # Too large without a Content-Length (chunked): refused once the limit is passed.
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_UPLOAD // (1 << 20) + 2):
            yield snap[:8] + os.urandom((1 << 20) - 8)
    try:
        status, _, _ = su.request(base + "/api/v1/crashes", data=chunks(),  # type: ignore[arg-type]
                                  headers={**ct, "Transfer-Encoding": "chunked"})
        assert status == 413
    except (ConnectionError, http.client.HTTPException, OSError):
        pass  # the server may close the connection while we still send: refused all the same
    # Multipart: no dump field, not multipart, a bad dump inside.
    status, _ = _raw_post(base, "/submit", b"x=1", {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    body, ctype = multipart({"prod": "p"}, None)
    assert _raw_post(base, "/submit", body, {"Content-Type": ctype})[0] == 400
    body, ctype = multipart({"prod": "p"}, b"MDMP" + bytes(20))
    assert _raw_post(base, "/submit", body, {"Content-Type": ctype})[0] == 400
    assert snapshot_of(store) == before


def multipart(fields: Dict[str, str], dump: bytes = None, name: str = "upload_file_minidump"
              ) -> Tuple[bytes, str]:
    """A Breakpad/Crashpad upload body (as crashpad's HTTPMultipartBuilder writes it)."""
    boundary = "---MultipartBoundary-" + hashlib.md5(os.urandom(8)).hexdigest()
    out = b""
    for k, v in fields.items():
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").encode()
    if dump is not None:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += dump + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_crashpad_multipart_gzip_upload(loaded: Dict[str, Any]) -> None:
    """A Breakpad test dump sent the way Crashpad sends it: multipart, gzipped, annotations as
    form fields, the token in the URL; analysed with the server's .sym files."""
    import btengine
    dmp_path = su.TESTDATA / "breakpad" / "linux_inline.dmp"
    if not dmp_path.exists():
        pytest.skip(f"{dmp_path} missing (the shared testdata)")
    dmp = dmp_path.read_bytes()
    # A fresh copy (other bytes) so that this is a new crash whatever ran before.
    data = dmp + b"\0"
    body, ctype = multipart({"prod": "inline-demo", "ver": "3.1.4", "guid": "0badc0de",
                             "plat": "Linux"}, data)
    status, raw, _ = su.request(loaded["server"].base + "/submit?token=unused", data=gzip.compress(body),
                                headers={"Content-Type": ctype, "Content-Encoding": "gzip"})
    text = raw.decode()
    assert status == 201 and text.startswith("CrashID=bt-"), text
    crash = su.get_json(f"{loaded['server'].base}/api/v1/crashes/{int(text.strip()[11:])}")
    assert crash["format"] == "minidump" and crash["product"] == "inline-demo" and crash["version"] == "3.1.4"
    assert crash["attributes"]["guid"] == "0badc0de"
    with btengine.open(dmp_path, symbols=[str(su.INLINE_SYM)], offline=True) as p:
        want = [f.function for f in p.crashed_thread.frames]
        tid = p.crashed_thread.tid
    assert want[0], "the .sym file should name the crashing function"
    thread = next(t for t in crash["report"]["threads"] if t["tid"] == tid)
    assert [f["function"] for f in thread["frames"]] == want
    assert crash["registers"][str(tid)]["rip"] > 0  # JSON keys are strings
    status, blob, headers = su.request(f"{loaded['server'].base}/api/v1/crashes/{crash['id']}/download")
    assert status == 200 and blob == data and ".dmp" in headers["Content-Disposition"]


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: Any) -> Iterator[su.ServerProcess]:
    work = tmp_path_factory.mktemp("tokens")
    with su.ServerProcess(f"sqlite://{work / 't.db'}", work, workers=1,
                          args=["--upload-token", "up-1", "--read-token", "rd-1"]) as s:
        yield s


def test_tokens_enforced(token_server: su.ServerProcess, corpus: List[su.Item]) -> None:
    base = token_server.base
    item = corpus[0]
    assert su.upload(base, item)[0] == 401
    assert su.upload(base, item, token="wrong")[0] == 401
    assert su.upload(base, item, token="up-1")[0] == 201
    assert su.upload(base, corpus[1], token="rd-1")[0] == 201  # a read token may upload too
    status, raw, _ = su.request(f"{base}/api/v1/crashes?token=up-1", data=corpus[2].data)
    assert status == 201, raw
    for path in ("/api/v1/groups", "/api/v1/crashes/1", "/api/v1/crashes/1/download", "/api/v1/groups/1"):
        assert su.request(base + path)[0] == 401, path
        assert su.request(base + path, headers={"Authorization": "Bearer up-1"})[0] == 401, path
        assert su.request(base + path, headers={"Authorization": "Bearer rd-1"})[0] == 200, path
    assert su.request(base + "/api/v1/groups?token=rd-1")[0] == 200
    assert su.request(base + "/api/v1/groups", headers={"Cookie": "btengine_token=rd-1"})[0] == 200
    body, ctype = multipart({"prod": "x"}, corpus[3].data)
    assert su.request(base + "/submit", data=body, headers={"Content-Type": ctype})[0] == 401
    assert su.request(base + "/submit?token=up-1", data=body, headers={"Content-Type": ctype})[0] == 201
    assert su.request(base + "/healthz")[0] == 200
    assert len(all_groups(base, token="rd-1")) >= 1


def test_kill_9_loses_nothing_acknowledged(db_url: str, tmp_path: Path, corpus: List[su.Item]) -> None:
    server = su.ServerProcess(db_url, tmp_path, workers=2, args=su.symbol_args()).start()
    acked: Dict[str, int] = {}
    lock = threading.Lock()
    items = corpus[:400]
    killed = threading.Event()

    def client(part: List[su.Item]) -> None:
        for it in part:
            if killed.is_set():
                return
            try:
                status, body = su.upload(server.base, it)
            except OSError:
                continue  # the connection died with the server: not acknowledged
            if status in (200, 201):
                with lock:
                    acked[hashlib.sha256(it.data).hexdigest()] = body["id"]

    threads = [threading.Thread(target=client, args=(items[k::6],)) for k in range(6)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill9()  # master and workers, mid-burst: some requests are being processed
    killed.set()
    for t in threads:
        t.join(timeout=60)
    assert len(acked) >= 60
    server2 = su.ServerProcess(db_url, tmp_path / "again", workers=1).start()
    try:
        for sha, cid in acked.items():
            crash = su.get_json(f"{server2.base}/api/v1/crashes/{cid}")
            assert crash["sha256"] == sha
        stats = open_store(db_url).stats()
        assert stats["crashes_without_group"] == stats["crashes_without_payload"] == 0
        assert stats["groups_with_wrong_count"] == 0 and stats["crashes"] == stats["payloads"]
        assert stats["crashes"] >= len(acked)
        # What was in flight and not acknowledged is either whole or absent: uploading it again
        # stores it (201) or finds it (200), never an error.
        for it in items[:120]:
            status, _ = su.upload(server2.base, it)
            assert status in (200, 201)
    finally:
        server2.stop()


PLUGIN = '''
from btengine.plugins import classifier

@classifier
def flag_deep(proc, result):
    t = proc.crashed_thread
    if t is not None and any((f.function or "").startswith("level_") for f in t.frames):
        result.classify("deep-recursion-bug", "exploitable", "a frame of the level_* chain crashed")
'''


def test_reprocess_on_dask(loaded: Dict[str, Any], tmp_path: Path, corpus: List[su.Item]) -> None:
    """Re-analyse the whole stored corpus on a local Dask cluster of 3 worker processes: with the
    same engine and no plugin nothing changes; with a new plugin the classifications it makes
    appear and regroup/rank; a crash that no longer analyses is reported and kept."""
    import subprocess
    import sys

    import btengine
    from btengine.server.ingest import AnalysisOptions
    from btengine.server.reprocess import reprocess

    store = open_store(loaded["url"])
    before_index = store.analysis_index()
    before_groups = {g["fingerprint"]: (g["id"], g["total_count"], g["severity"], g["kind"])
                     for g in store.groups(limit=100000)}
    sample = sorted(before_index)[::97]
    before_reports = {cid: store.crash(cid)["report"] for cid in sample}
    env = dict(os.environ, PYTHONPATH=str(su.PYTHON_DIR))
    r = subprocess.run([sys.executable, "-m", "btengine", "store", "reprocess", "--db", loaded["url"],
                        "--workers", "3", "--json", *su.symbol_args()],
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout)
    assert summary["crashes"] == len(before_index) and summary["failed"] == 0 and summary["workers"] == 3
    assert summary["changed"] == 0 and summary["regroup"]["created"] == summary["regroup"]["removed"] == 0
    assert store.analysis_index() == before_index
    assert {g["fingerprint"]: (g["id"], g["total_count"], g["severity"], g["kind"])
            for g in store.groups(limit=100000)} == before_groups
    assert {cid: store.crash(cid)["report"] for cid in sample} == before_reports

    # A new plugin, and one crash whose stored bytes got damaged.
    plugin = tmp_path / "flag_deep.py"
    plugin.write_text(PLUGIN)
    victim = sorted(before_index)[5]
    with store._tx() as tx:
        tx.execute("UPDATE crash_payloads SET blob = ? WHERE crash_id = ?", (b"BTSNAP\r\n" + bytes(20), victim))
    # Which crashes the plugin should flag, decided by opening each stored file here.
    want_flagged = set()
    for cid in before_index:
        if cid == victim:
            continue
        row = store.blobs([cid])[cid]
        f = tmp_path / f"x{ingest_ext(row['format'])}"
        f.write_bytes(row["blob"])
        with btengine.open(f, symbols=su.symbol_paths(), offline=True) as p:
            t = p.crashed_thread
            if t is not None and any((fr.function or "").startswith("level_") for fr in t.frames):
                want_flagged.add(cid)
    assert want_flagged, "the corpus should have level_* crashes (deep_c)"
    summary = reprocess(store, AnalysisOptions(symbols=su.symbol_paths(), plugins=[str(plugin)]), workers=3)
    assert summary["failed"] == 1 and summary["errors"][0][0] == victim
    after = store.analysis_index()
    assert after[victim] == before_index[victim]  # kept as it was
    assert store.crash(victim)["analysis_error"]
    flagged = {cid for cid in after if cid in want_flagged}
    assert summary["changed"] == sum(1 for cid in want_flagged if before_index[cid][1:] != ("exploitable", "deep-recursion-bug"))
    for cid in before_index:
        if cid in want_flagged:
            assert after[cid][1:] == ("exploitable", "deep-recursion-bug"), cid
            assert store.crash(cid)["plugins"]["classifications"][0]["kind"] == "deep-recursion-bug"
        else:
            assert after[cid] == before_index[cid], cid
    groups = store.groups(limit=100000)
    assert flagged and all(g["severity"] == "exploitable" and g["flags"] & 1
                           for g in groups if g["kind"] == "deep-recursion-bug")
    ranks = [su.SEVERITY_ORDER.index(g["severity"]) for g in groups]
    assert ranks == sorted(ranks)
    assert store.stats()["groups_with_wrong_count"] == 0


def ingest_ext(fmt: str) -> str:
    return ".btsnap" if fmt == "btsnap" else ".dmp"


def test_two_servers_side_by_side(db_url: str, tmp_path: Path, corpus: List[su.Item],
                                  expected: Dict[str, Tuple[str, str]]) -> None:
    """Two `btengine server` processes on one database (stateless behind it): the same files sent
    to both at once are stored once, and the groups are exact."""
    items = random.Random(11).sample(corpus, 80)
    a = su.ServerProcess(db_url, tmp_path / "a", workers=2, args=su.symbol_args()).start()
    b = su.ServerProcess(db_url, tmp_path / "b", workers=2, args=su.symbol_args()).start()
    try:
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(lambda job: (job[1], *su.upload(job[0].base, job[1])),
                                  [(s, it) for it in items for s in (a, b)]))
    finally:
        a.stop()
        b.stop()
    assert all(status in (200, 201) for _, status, _ in results)
    by_sha: Dict[str, List[Tuple[int, Dict[str, Any]]]] = defaultdict(list)
    for it, status, body in results:
        by_sha[hashlib.sha256(it.data).hexdigest()].append((status, body))
    for sha, answers in by_sha.items():
        assert sorted(s for s, _ in answers) == [200, 201], answers  # created once, found once
        assert len({body["id"] for _, body in answers}) == 1
    store = open_store(db_url)
    want = Counter(expected[sha][0] for sha in by_sha)
    assert {g["fingerprint"]: g["total_count"] for g in store.groups(limit=10000)} == dict(want)
    stats = store.stats()
    assert stats["crashes"] == len(by_sha) and stats["groups_with_wrong_count"] == 0
