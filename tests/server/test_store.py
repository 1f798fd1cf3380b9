"""The Store on SQLite and PostgreSQL directly: migrations, idempotence under races, the risk
ranking against the documented formula, filters, histograms, regroup."""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Dict, List

import pytest

DAY = 86400.0


def record(n: int, fingerprint: str, severity: str, received: float, **kw: Any) -> Any:
    from btengine.server.store import CrashRecord
    attrs = kw.pop("attributes", {})
    return CrashRecord(sha256=f"{n:064x}", received=received, format="btsnap", size=10,
                       filename=f"c{n}.btsnap", blob=b"BTSNAP\r\n" + str(n).encode(),
                       fingerprint=fingerprint, title=f"prog!{fingerprint}_top < prog!main",
                       severity=severity, kind=kw.pop("kind", "abort"), signal="SIGSEGV",
                       attributes=attrs, report={"n": n}, registers={"1": {"rip": n}}, **kw)


def documented_risk(severity: str, flags: int, count: int, hosts: int, versions: int, age: float) -> float:
    """docs/server.md's formula, written out again here (not imported from ranking.py)."""
    sev = {"exploitable": 1500, "probably_exploitable": 1000, "probably_not_exploitable": 500,
           "unknown": 0}[severity]
    fl = (60 if flags & 1 else 0) + (40 if flags & 2 else 0)
    freq = min(150.0, 50 * math.log10(count))
    spread = min(60.0, 30 * math.log2(hosts)) + min(40.0, 20 * math.log2(versions))
    rec = 100 * 2 ** (-age / (7 * DAY))
    return sev + fl + freq + spread + rec


def test_migrations_are_idempotent_and_versioned(db_url: str) -> None:
    from btengine.server.store import MIGRATIONS, Store
    s1 = Store.open(db_url)
    s2 = Store.open(db_url)  # a second process starting on the same database
    assert s1.schema_version() == s2.schema_version() == MIGRATIONS[-1][0]
    assert s1.stats()["crashes"] == 0
    s1.close()
    s2.close()


def test_concurrent_same_crash_is_stored_once(db_url: str) -> None:
    from btengine.server.store import Store
    stores = [Store.open(db_url) for _ in range(4)]  # separate connections, as separate servers
    now = time.time()
    out: List[Any] = []
    barrier = threading.Barrier(8)

    def go(k: int) -> None:
        barrier.wait()
        out.append(stores[k % 4].add_crash(record(1, "f1", "unknown", now)))
        out.append(stores[k % 4].add_crash(record(2 + k, "f1", "unknown", now, attributes={"host": f"h{k}"})))

    threads = [threading.Thread(target=go, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = [r for r in out if r[0] == out[0][0] or True]
    created = [r for r in first if r[2]]
    assert len(created) == 9  # crash 1 once, crashes 2..9 once each
    ids = {r[0] for r in out}
    assert len(ids) == 9
    st = stores[0].stats()
    assert st["crashes"] == 9 and st["groups"] == 1 and st["groups_with_wrong_count"] == 0
    g = stores[0].groups()[0]
    assert g["total_count"] == 9 and g["hosts"] == 8
    for s in stores:
        s.close()


def test_rare_exploitable_outranks_ten_thousand_fresh_aborts(db_url: str) -> None:
    """docs/server.md's promise: one probably_exploitable crash seen once, a month ago, ranks
    above 10,000 benign aborts from every host and version, today."""
    from btengine.server.store import Store
    s = Store.open(db_url)
    now = time.time()
    benign = [record(n, "abort", "probably_not_exploitable", now - n,
                     attributes={"host": f"h{n % 500}", "version": f"2.{n % 30}"}, flags=3)
              for n in range(10000)]
    for k in range(0, len(benign), 250):  # transactions of a realistic size
        s.add_crashes(benign[k:k + 250])
    s.add_crash(record(20000, "rare", "probably_exploitable", now - 30 * DAY, kind="wild-write"))
    s.add_crash(record(20001, "meh", "unknown", now))
    groups = s.groups(now=now)
    assert [g["fingerprint"] for g in groups] == ["rare", "abort", "meh"]
    by = {g["fingerprint"]: g for g in groups}
    assert by["abort"]["total_count"] == 10000 and by["abort"]["hosts"] == 500 and len(by["abort"]["versions"]) == 30
    assert by["abort"]["risk"] == pytest.approx(documented_risk("probably_not_exploitable", 3, 10000, 500, 30,
                                                                 now - by["abort"]["last_seen"]), abs=0.02)
    assert by["rare"]["risk"] == pytest.approx(documented_risk("probably_exploitable", 0, 1, 1, 1, 30 * DAY),
                                               abs=0.02)
    assert sum(by["abort"]["risk_terms"].values()) == pytest.approx(by["abort"]["risk"], abs=0.05)
    assert s.groups(order="count", now=now)[0]["fingerprint"] == "abort"
    assert s.groups(order="first_seen", now=now)[0]["fingerprint"] == "meh"
    s.close()


def test_worst_severity_kind_and_representative(db_url: str) -> None:
    from btengine.server.store import Store
    s = Store.open(db_url)
    now = time.time()
    ids = [s.add_crash(record(n, "g", sev, now + n, kind=k))[0] for n, (sev, k) in enumerate(
        [("unknown", "abort"), ("probably_exploitable", "null-deref"), ("exploitable", "wild-write"),
         ("probably_exploitable", "null-deref")])]
    g = s.groups()[0]
    assert (g["severity"], g["kind"], g["representative"]) == ("exploitable", "wild-write", ids[2])
    assert g["first_seen"] == now and g["last_seen"] == now + 3
    s.close()


def test_filters_histograms_and_facets(db_url: str) -> None:
    from btengine.server.store import Filters, Store
    s = Store.open(db_url)
    now = time.time()
    recs = []
    for n in range(60):
        recs.append(record(n, f"fp{n % 3}", ["exploitable", "unknown"][n % 2], now - n * DAY / 4,
                           kind=["wild-write", "abort"][n % 2],
                           attributes={"host": f"h{n % 5}", "version": f"1.{n % 4}", "channel": ["beta", "stable"][n % 2],
                                       "prod": "demo"}))
    s.add_crashes(recs)
    def count(f: Filters) -> int:
        return sum(g["count"] for g in s.groups(f, limit=1000))
    assert count(Filters()) == 60
    assert count(Filters(host="h1")) == sum(1 for n in range(60) if n % 5 == 1)
    assert count(Filters(version="1.2", host="h2")) == sum(1 for n in range(60) if n % 4 == 2 and n % 5 == 2)
    assert count(Filters(attributes={"channel": "beta"})) == 30
    assert count(Filters(severity="exploitable")) == 30 and count(Filters(kind="abort")) == 30
    assert count(Filters(since=now - 2 * DAY)) == sum(1 for n in range(60) if n * DAY / 4 <= 2 * DAY)
    assert count(Filters(until=now - 2 * DAY)) == sum(1 for n in range(60) if n * DAY / 4 > 2 * DAY)
    assert s.group_count(Filters(text="FP1_TOP")) == 1
    assert s.group_count(Filters(text="no such")) == 0
    assert s.group_count(Filters(text="%")) == 0  # LIKE wildcards are literal
    h = s.histogram(filters=Filters(), buckets=16, until=now + 1)
    assert sum(h) == sum(1 for n in range(60) if n * DAY / 4 < 16 * DAY - 1) and h[-1] == 4
    hs = s.histograms([g["id"] for g in s.groups()], buckets=16, until=now + 1)
    assert sum(sum(v) for v in hs.values()) == sum(h)
    f = s.facets()
    assert f["host"] == [f"h{k}" for k in range(5)] and f["version"] == ["1.0", "1.1", "1.2", "1.3"]
    assert f["severity"] == ["exploitable", "unknown"] and f["product"] == ["demo"]
    assert "channel" in f["attribute_keys"]
    c = s.crash(recs and s.crashes(limit=1)[0]["id"])
    assert c["report"] and c["registers"] and isinstance(next(iter(c["registers"])), int)
    assert s.blob(c["id"]).startswith(b"BTSNAP")
    assert s.crashes(filters=Filters(host="h0"), limit=1000) and all(
        x["host"] == "h0" for x in s.crashes(filters=Filters(host="h0"), limit=1000))
    s.close()


def test_regroup_follows_new_fingerprints(db_url: str) -> None:
    from btengine.server.store import CrashRecord, Store
    s = Store.open(db_url)
    now = time.time()
    ids = [s.add_crash(record(n, f"old{n % 2}", "unknown", now, attributes={"host": f"h{n}"}))[0]
           for n in range(6)]
    keep = {g["fingerprint"]: g["id"] for g in s.groups()}
    # Crashes 0, 2 keep "old0"; 4 moves to "new", and all of "old1" merges into "old0".
    updates = []
    for n, cid in enumerate(ids):
        fp = "new" if n == 4 else "old0"
        updates.append((cid, record(n, fp, "exploitable" if n == 4 else "unknown", now,
                                    attributes={"host": f"h{n}"}), None))
    s.update_analyses(updates)
    r = s.regroup()
    assert r["removed"] == 1 and r["created"] == 1
    groups = {g["fingerprint"]: g for g in s.groups()}
    assert set(groups) == {"old0", "new"} and groups["old0"]["id"] == keep["old0"]
    assert groups["old0"]["total_count"] == 5 and groups["old0"]["hosts"] == 5
    assert groups["new"]["severity"] == "exploitable" and s.groups()[0]["fingerprint"] == "new"
    assert s.stats()["groups_with_wrong_count"] == 0
    s.close()


def test_bad_urls_are_clear() -> None:
    from btengine.server.store import Store, StoreError
    with pytest.raises(StoreError, match="unknown database URL"):
        Store.open("mysql://x/y")
    with pytest.raises(StoreError, match="cannot connect"):
        Store.open("postgresql://nobody@127.0.0.1:1/none")
