"""Where the crash server keeps crashes and groups: SQLite (one file, the default) or PostgreSQL
(psycopg 3), the same schema and numbered migrations on both (docs/server.md, "Schema").

Ingest of one crash is one transaction: the group upsert (INSERT ... ON CONFLICT (fingerprint)
DO UPDATE), the crash row, its payload (the uploaded bytes, the report), its attributes, the
group's hosts and versions and its stored risk terms. Nothing of a crash is visible before that
commit, and the server answers only after it: an acknowledged crash is durable, an unacknowledged
one left nothing behind. Idempotence is the UNIQUE sha256 of the uploaded bytes (the same file
twice is one crash), which also settles two servers racing with the same file: the loser's
insert conflicts, its transaction is rolled back and it answers with the winner's id.

Several processes share one store: on SQLite every write transaction is BEGIN IMMEDIATE (the
write lock taken up front, so two writers never deadlock upgrading a read lock) with a busy
timeout, in WAL mode (readers never wait for the writer); on PostgreSQL the group row lock taken
by the upsert orders concurrent ingests of one group, and batches are written in fingerprint
order so that two batches lock groups in the same order.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..plugins import SEVERITIES
from . import ranking

__all__ = ["Filters", "Store", "CrashRecord", "StoreError", "SEVERITIES", "MIGRATIONS"]


class StoreError(Exception):
    """The database cannot be opened or used (bad URL, missing driver, newer schema)."""


@dataclass
class Filters:
    """Which crashes count (docs/server.md). Every field given must match (AND)."""

    attributes: Dict[str, str] = field(default_factory=dict)  # exact match on stored attributes
    version: Optional[str] = None
    host: Optional[str] = None
    kind: Optional[str] = None        # classification kind, e.g. "null-deref"
    severity: Optional[str] = None    # one of SEVERITIES
    since: Optional[float] = None     # received >= since
    until: Optional[float] = None     # received < until
    text: Optional[str] = None        # substring of the fingerprint title (top frames)

    def crash_level(self) -> bool:
        """Whether a filter needs the crashes (text alone is answered from the groups)."""
        return bool(self.attributes or self.version is not None or self.host is not None
                    or self.kind is not None or self.severity is not None
                    or self.since is not None or self.until is not None)


@dataclass
class CrashRecord:
    """One analysed upload, as ingest.py makes it and add_crashes() stores it."""

    sha256: str
    received: float
    format: str                        # "btsnap" | "minidump"
    size: int
    filename: str
    blob: bytes
    fingerprint: str
    title: str
    severity: str
    kind: Optional[str] = None
    signal: Optional[str] = None
    executable: Optional[str] = None
    flags: int = 0                     # ranking.FLAG_*
    attributes: Dict[str, str] = field(default_factory=dict)         # merged (what filters see)
    upload_attributes: Dict[str, str] = field(default_factory=dict)  # the upload's own
    report: Dict[str, Any] = field(default_factory=dict)
    plugins: Optional[Dict[str, Any]] = None
    registers: Dict[str, Dict[str, int]] = field(default_factory=dict)

    @property
    def host(self) -> Optional[str]:
        return self.attributes.get("host") or self.attributes.get("hostname") or None

    @property
    def version(self) -> Optional[str]:
        return self.attributes.get("version") or self.attributes.get("ver") or None

    @property
    def product(self) -> Optional[str]:
        return self.attributes.get("product") or self.attributes.get("prod") or None


# Schema ---------------------------------------------------------------------------------------
# Written once for both databases; {ID}, {BIGINT}, {REAL}, {BLOB} are filled per dialect. JSON is
# kept as TEXT on both (read back whole, never queried inside: attributes are a table for that).
MIGRATIONS: List[Tuple[int, str, List[str]]] = [
    (1, "crashes, groups, payloads, attributes, group hosts and versions", [
        """CREATE TABLE groups (
            id {ID},
            fingerprint TEXT NOT NULL UNIQUE,
            first_seen {REAL} NOT NULL,
            last_seen {REAL} NOT NULL,
            count {BIGINT} NOT NULL,
            severity TEXT NOT NULL,
            severity_rank INTEGER NOT NULL,
            kind TEXT,
            title TEXT NOT NULL,
            executable TEXT,
            representative {BIGINT},
            rep_rank INTEGER,
            flags INTEGER NOT NULL DEFAULT 0,
            hosts INTEGER NOT NULL DEFAULT 0,
            versions INTEGER NOT NULL DEFAULT 0,
            risk_base {REAL} NOT NULL DEFAULT 0)""",
        "CREATE INDEX groups_risk ON groups (risk_base)",
        "CREATE INDEX groups_last_seen ON groups (last_seen)",
        "CREATE INDEX groups_first_seen ON groups (first_seen)",
        "CREATE INDEX groups_count ON groups (count)",
        """CREATE TABLE crashes (
            id {ID},
            sha256 TEXT NOT NULL UNIQUE,
            received {REAL} NOT NULL,
            format TEXT NOT NULL,
            size {BIGINT} NOT NULL,
            filename TEXT,
            host TEXT,
            version TEXT,
            product TEXT,
            kind TEXT,
            severity TEXT NOT NULL,
            severity_rank INTEGER NOT NULL,
            signal TEXT,
            title TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            group_id {BIGINT} NOT NULL REFERENCES groups (id),
            flags INTEGER NOT NULL DEFAULT 0,
            executable TEXT,
            attributes TEXT NOT NULL,
            upload_attributes TEXT NOT NULL,
            analysed {REAL},
            analysis_error TEXT)""",
        "CREATE INDEX crashes_group ON crashes (group_id, received)",
        "CREATE INDEX crashes_received ON crashes (received)",
        "CREATE INDEX crashes_host ON crashes (host)",
        "CREATE INDEX crashes_version ON crashes (version)",
        "CREATE INDEX crashes_product ON crashes (product)",
        "CREATE INDEX crashes_kind ON crashes (kind)",
        "CREATE INDEX crashes_severity ON crashes (severity)",
        "CREATE INDEX crashes_fingerprint ON crashes (fingerprint)",
        # The wide columns live apart so that list queries scan narrow rows.
        """CREATE TABLE crash_payloads (
            crash_id {BIGINT} PRIMARY KEY REFERENCES crashes (id),
            blob {BLOB} NOT NULL,
            report TEXT NOT NULL,
            plugins TEXT,
            registers TEXT)""",
        """CREATE TABLE crash_attributes (
            crash_id {BIGINT} NOT NULL REFERENCES crashes (id),
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (crash_id, key))""",
        "CREATE INDEX crash_attributes_kv ON crash_attributes (key, value)",
        """CREATE TABLE group_hosts (
            group_id {BIGINT} NOT NULL, host TEXT NOT NULL, PRIMARY KEY (group_id, host))""",
        """CREATE TABLE group_versions (
            group_id {BIGINT} NOT NULL, version TEXT NOT NULL, PRIMARY KEY (group_id, version))""",
    ]),
]

_DIALECT = {
    "sqlite": {"ID": "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT": "INTEGER", "REAL": "REAL",
               "BLOB": "BLOB", "MIN2": "MIN", "MAX2": "MAX"},
    "postgresql": {"ID": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "BIGINT": "BIGINT",
                   "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA", "MIN2": "LEAST", "MAX2": "GREATEST"},
}

_GROUP_COLUMNS = ("id, fingerprint, first_seen, last_seen, count, severity, severity_rank, kind, "
                  "title, executable, representative, flags, hosts, versions, risk_base")
_CRASH_COLUMNS = ("id, group_id, received, format, size, sha256, host, version, product, kind, "
                  "severity, signal, title, fingerprint, attributes, filename, executable, flags, "
                  "analysis_error")
_BUSY_TIMEOUT_MS = 60_000
_PG_MIGRATION_LOCK = 0x6274656E67696E65  # "btengine": serialises concurrent migrations


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class _Race(Exception):
    """Another process stored the same bytes between our check and our insert: roll back, retry."""


class Store:
    """A crash store (docs/server.md). Thread-safe: one connection per thread (and per process:
    a Store used after fork() opens new connections)."""

    def __init__(self, url: str, dialect: str, target: str) -> None:
        self.url = url
        self.dialect = dialect
        self._target = target  # the SQLite path, or the PostgreSQL conninfo
        self._local = threading.local()
        self._pid = os.getpid()
        self._all: List[Any] = []
        self._all_lock = threading.Lock()
        self._d = _DIALECT[dialect]

    # Opening ------------------------------------------------------------------------------
    @classmethod
    def open(cls, url: str) -> "Store":
        """"sqlite:///abs/path.db", a plain file path, or "postgresql://..."; creates or migrates
        the schema. StoreError for a URL it cannot use."""
        url = os.fspath(url)
        if url.startswith(("postgresql://", "postgres://")):
            try:
                import psycopg  # noqa: F401
            except ImportError as e:
                raise StoreError(f"{url}: PostgreSQL needs psycopg 3 (pip install 'psycopg[binary]'): {e}")
            store = cls(url, "postgresql", url)
        else:
            path = url[len("sqlite://"):] if url.startswith("sqlite://") else url
            if not path or path == ":memory:":
                raise StoreError(f"{url!r}: give a SQLite file path (several processes share it)")
            if "://" in path:
                raise StoreError(f"{url!r}: unknown database URL (sqlite:///PATH, a file path, or "
                                 "postgresql://USER@HOST:PORT/DB)")
            path = os.path.abspath(os.path.expanduser(path))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            store = cls("sqlite://" + path, "sqlite", path)
        store._migrate()
        return store

    def _connect(self) -> Any:
        if self.dialect == "sqlite":
            conn = sqlite3.connect(self._target, timeout=_BUSY_TIMEOUT_MS / 1000,
                                   isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            # WAL: readers never wait for the writer. synchronous=FULL: a commit is on disk when
            # it returns, so an answered upload survives a power cut too, not only a kill.
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            return conn
        import psycopg
        from psycopg.rows import dict_row
        try:
            return psycopg.connect(self._target, autocommit=True, row_factory=dict_row)
        except psycopg.OperationalError as e:
            from .config import redact_url
            raise StoreError(f"cannot connect to {redact_url(self.url)}: {e}") from e

    def _conn(self) -> Any:
        if os.getpid() != self._pid:  # forked: the parent's connections are not ours to use
            self._local = threading.local()
            self._all = []
            self._pid = os.getpid()
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._all_lock:
            for c in self._all:
                with contextlib.suppress(Exception):
                    c.close()
            self._all = []
        self._local = threading.local()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # SQL helpers ----------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        sql = sql.replace("{MIN2}", self._d["MIN2"]).replace("{MAX2}", self._d["MAX2"])
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def _rows(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> List[Dict[str, Any]]:
        cur = (conn or self._conn()).execute(self._sql(sql), tuple(params))
        return [dict(r) for r in cur.fetchall()]

    def _one(self, sql: str, params: Sequence[Any] = (), conn: Any = None) -> Optional[Dict[str, Any]]:
        rows = self._rows(sql, params, conn)
        return rows[0] if rows else None

    @contextlib.contextmanager
    def _tx(self) -> Iterator["_Tx"]:
        """One write transaction: committed when the block ends, rolled back if it raises."""
        conn = self._conn()
        if self.dialect == "sqlite":
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield _Tx(self, conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        else:
            with conn.transaction():
                yield _Tx(self, conn)

    def _migrate(self) -> None:
        conn = self._conn()
        with self._tx() as tx:
            if self.dialect == "postgresql":
                # Two servers starting at once on an empty database: one migrates, the other
                # waits here and then finds the schema current.
                tx.execute("SELECT pg_advisory_xact_lock(?)", (_PG_MIGRATION_LOCK,))
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                       "description TEXT NOT NULL, applied " + self._d["REAL"] + " NOT NULL)")
            row = tx.one("SELECT MAX(version) AS v FROM schema_version")
            current = int(row["v"]) if row and row["v"] is not None else 0
            latest = MIGRATIONS[-1][0]
            if current > latest:
                raise StoreError(f"{self.url}: schema version {current} is newer than this btengine "
                                 f"knows ({latest}): upgrade btengine")
            for version, description, statements in MIGRATIONS:
                if version <= current:
                    continue
                for s in statements:
                    tx.execute(s.format(**self._d))
                tx.execute("INSERT INTO schema_version (version, description, applied) VALUES (?, ?, ?)",
                           (version, description, time.time()))
        del conn

    def schema_version(self) -> int:
        row = self._one("SELECT MAX(version) AS v FROM schema_version")
        return int(row["v"]) if row and row["v"] is not None else 0

    # Ingest ---------------------------------------------------------------------------------
    def find_sha256(self, sha256: str) -> Optional[Tuple[int, int, str]]:
        """(crash id, group id, fingerprint) of the crash with these bytes, or None."""
        row = self._one("SELECT id, group_id, fingerprint FROM crashes WHERE sha256 = ?", (sha256,))
        return (int(row["id"]), int(row["group_id"]), row["fingerprint"] or "") if row else None

    def add_crash(self, rec: CrashRecord) -> Tuple[int, int, bool]:
        """Stores one crash: (crash id, group id, created). created is False when a crash with
        the same bytes (sha256) is already stored: then nothing changed."""
        return self.add_crashes([rec])[0]

    def add_crashes(self, records: Sequence[CrashRecord]) -> List[Tuple[int, int, bool]]:
        """Stores several crashes in one transaction (all or none), in the order given; each
        result as add_crash()'s."""
        order = sorted(range(len(records)), key=lambda i: records[i].fingerprint)  # lock order
        for attempt in range(5):
            try:
                out: Dict[int, Tuple[int, int, bool]] = {}
                with self._tx() as tx:
                    for i in order:
                        out[i] = self._insert(tx, records[i])
                return [out[i] for i in range(len(records))]
            except _Race:
                continue  # the retry finds the other process's row in its first SELECT
            except Exception as e:
                if self.dialect == "postgresql" and type(e).__name__ in ("DeadlockDetected",
                                                                         "SerializationFailure"):
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise
        raise StoreError("could not store the crashes: conflicting writers kept retrying")

    def _insert(self, tx: "_Tx", r: CrashRecord) -> Tuple[int, int, bool]:
        got = tx.one("SELECT id, group_id FROM crashes WHERE sha256 = ?", (r.sha256,))
        if got:
            return int(got["id"]), int(got["group_id"]), False
        rank = ranking.severity_rank(r.severity)
        g = tx.one(
            """INSERT INTO groups (fingerprint, first_seen, last_seen, count, severity, severity_rank,
                                   kind, title, executable, flags)
               VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (fingerprint) DO UPDATE SET
                 count = groups.count + 1,
                 first_seen = {MIN2}(groups.first_seen, excluded.first_seen),
                 last_seen = {MAX2}(groups.last_seen, excluded.last_seen),
                 severity = CASE WHEN excluded.severity_rank < groups.severity_rank
                                 THEN excluded.severity ELSE groups.severity END,
                 kind = CASE WHEN excluded.severity_rank < groups.severity_rank
                             THEN excluded.kind ELSE groups.kind END,
                 severity_rank = {MIN2}(groups.severity_rank, excluded.severity_rank),
                 flags = groups.flags | excluded.flags
               RETURNING id, severity, flags, count, hosts, versions, representative, rep_rank""",
            (r.fingerprint, r.received, r.received, r.severity, rank, r.kind, r.title,
             r.executable, r.flags))
        assert g is not None
        gid = int(g["id"])
        c = tx.one(
            """INSERT INTO crashes (sha256, received, format, size, filename, host, version, product,
                                    kind, severity, severity_rank, signal, title, fingerprint,
                                    group_id, flags, executable, attributes, upload_attributes,
                                    analysed)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (sha256) DO NOTHING RETURNING id""",
            (r.sha256, r.received, r.format, r.size, r.filename, r.host, r.version, r.product,
             r.kind, r.severity, rank, r.signal, r.title, r.fingerprint, gid, r.flags,
             r.executable, json.dumps(r.attributes, sort_keys=True),
             json.dumps(r.upload_attributes, sort_keys=True), time.time()))
        if c is None:
            raise _Race()
        cid = int(c["id"])
        tx.execute("INSERT INTO crash_payloads (crash_id, blob, report, plugins, registers) "
                   "VALUES (?, ?, ?, ?, ?)",
                   (cid, r.blob, json.dumps(r.report), json.dumps(r.plugins) if r.plugins is not None
                    else None, json.dumps(r.registers)))
        if r.attributes:
            tx.executemany("INSERT INTO crash_attributes (crash_id, key, value) VALUES (?, ?, ?)",
                           [(cid, k, v) for k, v in sorted(r.attributes.items())])
        new_hosts = new_versions = 0
        if r.host:
            new_hosts = tx.execute("INSERT INTO group_hosts (group_id, host) VALUES (?, ?) "
                                   "ON CONFLICT DO NOTHING", (gid, r.host))
        if r.version:
            new_versions = tx.execute("INSERT INTO group_versions (group_id, version) VALUES (?, ?) "
                                      "ON CONFLICT DO NOTHING", (gid, r.version))
        # One more version of the group row, not one per column: PostgreSQL keeps every version
        # a transaction makes of a row until it ends, and a batch of one group's crashes would
        # otherwise walk an ever longer chain.
        rep, rep_rank = g["representative"], g["rep_rank"]
        if rep is None or int(rep_rank) > rank:
            rep, rep_rank = cid, rank
        hosts, versions = int(g["hosts"]) + new_hosts, int(g["versions"]) + new_versions
        tx.execute("UPDATE groups SET hosts = ?, versions = ?, representative = ?, rep_rank = ?, "
                   "risk_base = ? WHERE id = ?",
                   (hosts, versions, rep, rep_rank,
                    ranking.risk_base(g["severity"], int(g["flags"]), int(g["count"]), hosts, versions), gid))
        return cid, gid, True

    # Queries --------------------------------------------------------------------------------
    def _crash_where(self, f: Filters, alias: str = "c") -> Tuple[str, List[Any]]:
        w: List[str] = []
        p: List[Any] = []
        for k, v in sorted(f.attributes.items()):
            w.append(f"EXISTS (SELECT 1 FROM crash_attributes a WHERE a.crash_id = {alias}.id "
                     "AND a.key = ? AND a.value = ?)")
            p += [k, v]
        for col in ("version", "host", "kind", "severity"):
            v = getattr(f, col)
            if v is not None:
                w.append(f"{alias}.{col} = ?")
                p.append(v)
        if f.since is not None:
            w.append(f"{alias}.received >= ?")
            p.append(float(f.since))
        if f.until is not None:
            w.append(f"{alias}.received < ?")
            p.append(float(f.until))
        if f.text:
            w.append(f"LOWER({alias}.title) LIKE ? ESCAPE '\\'")
            p.append("%" + _like_escape(f.text.lower()) + "%")
        return (" AND ".join(w) if w else "1 = 1"), p

    def _group_source(self, f: Filters) -> Tuple[str, List[Any]]:
        """FROM clause giving g (groups) and n (the count of matching crashes)."""
        if not f.crash_level():
            where, p = "1 = 1", []
            if f.text:
                where = "LOWER(g.title) LIKE ? ESCAPE '\\'"
                p = ["%" + _like_escape(f.text.lower()) + "%"]
            return f"(SELECT g.*, g.count AS n FROM groups g WHERE {where}) g", p
        where, p = self._crash_where(f)
        return (f"(SELECT g.*, m.n FROM groups g JOIN (SELECT c.group_id, COUNT(*) AS n FROM crashes c "
                f"WHERE {where} GROUP BY c.group_id) m ON m.group_id = g.id) g"), p

    def groups(self, filters: Optional[Filters] = None, order: str = "risk", limit: int = 50,
               offset: int = 0, now: Optional[float] = None) -> List[Dict[str, Any]]:
        """The groups with at least one crash matching `filters`, ordered by "risk" (highest
        first), "count", "last_seen" or "first_seen" (most first / newest first)."""
        f = filters or Filters()
        now = time.time() if now is None else now
        source, p = self._group_source(f)
        orders = {"risk": f"g.risk_base + {ranking.RECENCY_SQL} DESC",
                  "count": "g.n DESC", "last_seen": "g.last_seen DESC",
                  "first_seen": "g.first_seen DESC"}
        if order not in orders:
            raise ValueError(f"order must be one of {', '.join(orders)}, not {order!r}")
        params = list(p) + ([now, now] if order == "risk" else []) + [int(limit), int(offset)]
        rows = self._rows(f"SELECT g.* FROM {source} ORDER BY {orders[order]}, g.id LIMIT ? OFFSET ?",
                          params)
        return self._group_dicts(rows, now)

    def _group_dicts(self, rows: List[Dict[str, Any]], now: float) -> List[Dict[str, Any]]:
        versions: Dict[int, List[str]] = {int(r["id"]): [] for r in rows}
        if rows:
            marks = ", ".join("?" for _ in rows)
            for v in self._rows(f"SELECT group_id, version FROM group_versions WHERE group_id IN ({marks})",
                                [int(r["id"]) for r in rows]):
                versions[int(v["group_id"])].append(v["version"])
        out = []
        for r in rows:
            args = (r["severity"], int(r["flags"]), int(r["count"]), int(r["hosts"]), int(r["versions"]))
            terms = ranking.terms(*args, float(r["last_seen"]), now)
            out.append({
                "id": int(r["id"]), "fingerprint": r["fingerprint"], "title": r["title"],
                "kind": r["kind"], "severity": r["severity"],
                "risk": round(float(r["risk_base"]) + ranking.recency(float(r["last_seen"]), now), 2),
                "risk_terms": terms,
                "count": int(r.get("n", r["count"])), "total_count": int(r["count"]),
                "first_seen": float(r["first_seen"]), "last_seen": float(r["last_seen"]),
                "hosts": int(r["hosts"]), "versions": sorted(versions[int(r["id"])], key=_version_key),
                "executable": r["executable"],
                "representative": int(r["representative"]) if r["representative"] is not None else None,
                "flags": int(r["flags"]),
            })
        return out

    def group_count(self, filters: Optional[Filters] = None) -> int:
        source, p = self._group_source(filters or Filters())
        row = self._one(f"SELECT COUNT(*) AS n FROM {source}", p)
        return int(row["n"]) if row else 0

    def group(self, group_id: int, now: Optional[float] = None) -> Optional[Dict[str, Any]]:
        rows = self._rows(f"SELECT {_GROUP_COLUMNS} FROM groups WHERE id = ?", (int(group_id),))
        out = self._group_dicts(rows, time.time() if now is None else now)
        return out[0] if out else None

    def histogram(self, group_id: Optional[int] = None, filters: Optional[Filters] = None,
                  buckets: int = 14, bucket_seconds: int = 86400,
                  until: Optional[float] = None) -> List[int]:
        """Crash counts per bucket, oldest first; the last bucket ends at `until` (default now).
        Without a group: every crash matching the filters."""
        if group_id is None:
            return self._histograms(None, filters, buckets, bucket_seconds, until)[0]
        return self.histograms([group_id], filters, buckets, bucket_seconds, until)[int(group_id)]

    def histograms(self, group_ids: List[int], filters: Optional[Filters] = None, buckets: int = 14,
                   bucket_seconds: int = 86400, until: Optional[float] = None) -> Dict[int, List[int]]:
        """histogram() of several groups in one query."""
        if not group_ids:
            return {}
        return self._histograms([int(g) for g in group_ids], filters, buckets, bucket_seconds, until)

    def _histograms(self, group_ids: Optional[List[int]], filters: Optional[Filters], buckets: int,
                    bucket_seconds: int, until: Optional[float]) -> Dict[int, List[int]]:
        if buckets <= 0 or bucket_seconds <= 0:
            raise ValueError("buckets and bucket_seconds must be positive")
        end = time.time() if until is None else float(until)
        start = end - buckets * bucket_seconds
        where, p = self._crash_where(filters or Filters())
        bucket = ("CAST((c.received - ?) / ? AS INTEGER)" if self.dialect == "sqlite"
                  else "CAST(FLOOR((c.received - ?) / ?) AS INTEGER)")
        gsel = "c.group_id" if group_ids is not None else "0"
        gwhere = ""
        params: List[Any] = [start, float(bucket_seconds)] + p + [start, end]
        if group_ids is not None:
            gwhere = f" AND c.group_id IN ({', '.join('?' for _ in group_ids)})"
            params += group_ids
        rows = self._rows(f"SELECT {gsel} AS gid, {bucket} AS b, COUNT(*) AS n FROM crashes c "
                          f"WHERE {where} AND c.received >= ? AND c.received < ?{gwhere} "
                          "GROUP BY 1, 2", params)
        out: Dict[int, List[int]] = {g: [0] * buckets for g in (group_ids if group_ids is not None else [0])}
        for r in rows:
            b = int(r["b"])
            if 0 <= b < buckets:
                out[int(r["gid"])][b] += int(r["n"])
        return out

    def crashes(self, group_id: Optional[int] = None, filters: Optional[Filters] = None,
                limit: int = 50, offset: int = 0) -> List[Dict[str, Any]]:
        """Crashes, newest first."""
        where, p = self._crash_where(filters or Filters())
        if group_id is not None:
            where += " AND c.group_id = ?"
            p.append(int(group_id))
        cols = ", ".join("c." + x.strip() for x in _CRASH_COLUMNS.split(","))
        rows = self._rows(f"SELECT {cols} FROM crashes c WHERE {where} "
                          "ORDER BY c.received DESC, c.id DESC LIMIT ? OFFSET ?", p + [int(limit), int(offset)])
        return [_crash_dict(r) for r in rows]

    def crash_count(self, group_id: Optional[int] = None, filters: Optional[Filters] = None) -> int:
        where, p = self._crash_where(filters or Filters())
        if group_id is not None:
            where += " AND c.group_id = ?"
            p.append(int(group_id))
        row = self._one(f"SELECT COUNT(*) AS n FROM crashes c WHERE {where}", p)
        return int(row["n"]) if row else 0

    def crash(self, crash_id: int) -> Optional[Dict[str, Any]]:
        """crashes()' keys plus "report" (btengine.backtrace/2 with variables), "plugins" (the
        btengine.plugins/1 document or None) and "registers" ({tid: {register: value}})."""
        row = self._one(f"SELECT {_CRASH_COLUMNS} FROM crashes WHERE id = ?", (int(crash_id),))
        if row is None:
            return None
        out = _crash_dict(row)
        pay = self._one("SELECT report, plugins, registers FROM crash_payloads WHERE crash_id = ?",
                        (int(crash_id),))
        out["report"] = json.loads(pay["report"]) if pay else None
        out["plugins"] = json.loads(pay["plugins"]) if pay and pay["plugins"] else None
        regs = json.loads(pay["registers"]) if pay and pay["registers"] else {}
        out["registers"] = {int(t): r for t, r in regs.items()}
        return out

    def blob(self, crash_id: int) -> Optional[bytes]:
        row = self._one("SELECT blob FROM crash_payloads WHERE crash_id = ?", (int(crash_id),))
        return bytes(row["blob"]) if row else None

    def facets(self) -> Dict[str, List[str]]:
        """Distinct values for the UI's filter menus."""
        out: Dict[str, List[str]] = {}
        for col in ("version", "host", "kind", "severity", "product"):
            vals = [r["v"] for r in self._rows(f"SELECT DISTINCT {col} AS v FROM crashes "
                                               f"WHERE {col} IS NOT NULL")]
            out[col] = sorted(vals, key=_version_key) if col == "version" else sorted(vals)
        out["severity"] = [s for s in SEVERITIES if s in out["severity"]]
        out["attribute_keys"] = sorted(r["k"] for r in self._rows("SELECT DISTINCT key AS k FROM crash_attributes"))
        return out

    def stats(self) -> Dict[str, int]:
        """Row counts, and the consistency checks a test (or an operator) can run: crashes
        without their group or payload, groups whose count disagrees with their crashes."""
        def one(sql: str) -> int:
            row = self._one(sql)
            return int(row["n"]) if row else 0
        return {
            "crashes": one("SELECT COUNT(*) AS n FROM crashes"),
            "groups": one("SELECT COUNT(*) AS n FROM groups"),
            "payloads": one("SELECT COUNT(*) AS n FROM crash_payloads"),
            "attributes": one("SELECT COUNT(*) AS n FROM crash_attributes"),
            "crashes_without_group": one("SELECT COUNT(*) AS n FROM crashes c WHERE NOT EXISTS "
                                         "(SELECT 1 FROM groups g WHERE g.id = c.group_id)"),
            "crashes_without_payload": one("SELECT COUNT(*) AS n FROM crashes c WHERE NOT EXISTS "
                                           "(SELECT 1 FROM crash_payloads p WHERE p.crash_id = c.id)"),
            "groups_with_wrong_count": one(
                "SELECT COUNT(*) AS n FROM groups g WHERE g.count <> "
                "(SELECT COUNT(*) FROM crashes c WHERE c.group_id = g.id)"),
            "analysis_errors": one("SELECT COUNT(*) AS n FROM crashes WHERE analysis_error IS NOT NULL"),
        }

    # Reprocessing ----------------------------------------------------------------------------
    def crash_ids(self) -> List[int]:
        return [int(r["id"]) for r in self._rows("SELECT id FROM crashes ORDER BY id")]

    def analysis_index(self) -> Dict[int, Tuple[str, str, Optional[str]]]:
        """{crash id: (fingerprint, severity, kind)} of every crash (reprocess compares with it)."""
        return {int(r["id"]): (r["fingerprint"], r["severity"], r["kind"])
                for r in self._rows("SELECT id, fingerprint, severity, kind FROM crashes")}

    def blobs(self, crash_ids: Sequence[int]) -> Dict[int, Dict[str, Any]]:
        """{id: {"blob", "filename", "format", "upload_attributes", "received", ...}} for reprocess."""
        if not crash_ids:
            return {}
        marks = ", ".join("?" for _ in crash_ids)
        rows = self._rows(f"SELECT c.id, c.filename, c.format, c.sha256, c.size, c.received, "
                          f"c.upload_attributes, p.blob FROM crashes c JOIN crash_payloads p "
                          f"ON p.crash_id = c.id WHERE c.id IN ({marks})", [int(i) for i in crash_ids])
        return {int(r["id"]): {**r, "blob": bytes(r["blob"]),
                               "upload_attributes": json.loads(r["upload_attributes"])} for r in rows}

    def update_analyses(self, results: Sequence[Tuple[int, Optional[CrashRecord], Optional[str]]]) -> None:
        """Writes re-analysed crashes in one transaction: (id, record, None) replaces the analysis
        (groups are fixed by regroup() afterwards); (id, None, error) records that the crash no
        longer analyses: its stored analysis and bytes stay."""
        now = time.time()
        with self._tx() as tx:
            for cid, r, error in results:
                if r is None:
                    tx.execute("UPDATE crashes SET analysis_error = ?, analysed = ? WHERE id = ?",
                               (error or "analysis failed", now, cid))
                    continue
                tx.execute("""UPDATE crashes SET host = ?, version = ?, product = ?, kind = ?,
                              severity = ?, severity_rank = ?, signal = ?, title = ?, fingerprint = ?,
                              flags = ?, executable = ?, attributes = ?, analysed = ?,
                              analysis_error = NULL WHERE id = ?""",
                           (r.host, r.version, r.product, r.kind, r.severity,
                            ranking.severity_rank(r.severity), r.signal, r.title, r.fingerprint,
                            r.flags, r.executable, json.dumps(r.attributes, sort_keys=True), now, cid))
                tx.execute("UPDATE crash_payloads SET report = ?, plugins = ?, registers = ? "
                           "WHERE crash_id = ?",
                           (json.dumps(r.report), json.dumps(r.plugins) if r.plugins is not None else None,
                            json.dumps(r.registers), cid))
                tx.execute("DELETE FROM crash_attributes WHERE crash_id = ?", (cid,))
                if r.attributes:
                    tx.executemany("INSERT INTO crash_attributes (crash_id, key, value) VALUES (?, ?, ?)",
                                   [(cid, k, v) for k, v in sorted(r.attributes.items())])

    def regroup(self) -> Dict[str, int]:
        """Recomputes every group from its crashes' fingerprints (after reprocess): a group keeps
        its id while its fingerprint has crashes, new fingerprints get new groups, emptied groups
        go. One transaction; concurrent ingests wait for it. Returns counts."""
        with self._tx() as tx:
            if self.dialect == "postgresql":
                tx.execute("LOCK TABLE groups, crashes IN SHARE ROW EXCLUSIVE MODE")
            rows = tx.rows("SELECT id, fingerprint, received, severity, severity_rank, kind, title, "
                           "executable, host, version, flags, group_id FROM crashes ORDER BY id")
            agg: Dict[str, Dict[str, Any]] = {}
            for r in rows:
                a = agg.get(r["fingerprint"])
                if a is None:
                    a = agg[r["fingerprint"]] = {
                        "first": r["received"], "last": r["received"], "count": 0,
                        "rank": r["severity_rank"], "severity": r["severity"], "kind": r["kind"],
                        "title": r["title"], "executable": r["executable"], "rep": r["id"],
                        "flags": 0, "hosts": set(), "versions": set(), "crashes": []}
                a["count"] += 1
                a["first"] = min(a["first"], r["received"])
                a["last"] = max(a["last"], r["received"])
                if r["severity_rank"] < a["rank"]:
                    a.update(rank=r["severity_rank"], severity=r["severity"], kind=r["kind"], rep=r["id"])
                a["flags"] |= int(r["flags"])
                if r["host"]:
                    a["hosts"].add(r["host"])
                if r["version"]:
                    a["versions"].add(r["version"])
                a["crashes"].append((int(r["id"]), r["group_id"]))
            existing = {g["fingerprint"]: int(g["id"]) for g in tx.rows("SELECT id, fingerprint FROM groups")}
            moved = created = 0
            tx.execute("DELETE FROM group_hosts")
            tx.execute("DELETE FROM group_versions")
            for fp, a in sorted(agg.items()):
                values = (a["first"], a["last"], a["count"], a["severity"], a["rank"], a["kind"],
                          a["title"], a["executable"], a["rep"], a["rank"], a["flags"],
                          len(a["hosts"]), len(a["versions"]),
                          ranking.risk_base(a["severity"], a["flags"], a["count"], len(a["hosts"]),
                                            len(a["versions"])))
                if fp in existing:
                    gid = existing[fp]
                    tx.execute("""UPDATE groups SET first_seen = ?, last_seen = ?, count = ?, severity = ?,
                                  severity_rank = ?, kind = ?, title = ?, executable = ?, representative = ?,
                                  rep_rank = ?, flags = ?, hosts = ?, versions = ?, risk_base = ?
                                  WHERE id = ?""", values + (gid,))
                else:
                    g = tx.one("""INSERT INTO groups (first_seen, last_seen, count, severity, severity_rank,
                                  kind, title, executable, representative, rep_rank, flags, hosts, versions,
                                  risk_base, fingerprint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                                  RETURNING id""", values + (fp,))
                    assert g is not None
                    gid = int(g["id"])
                    created += 1
                changes = [(gid, cid) for cid, old in a["crashes"] if old != gid]
                if changes:
                    tx.executemany("UPDATE crashes SET group_id = ? WHERE id = ?", changes)
                    moved += len(changes)
                tx.executemany("INSERT INTO group_hosts (group_id, host) VALUES (?, ?)",
                               [(gid, h) for h in sorted(a["hosts"])])
                tx.executemany("INSERT INTO group_versions (group_id, version) VALUES (?, ?)",
                               [(gid, v) for v in sorted(a["versions"])])
            gone = tx.execute("DELETE FROM groups WHERE NOT EXISTS "
                              "(SELECT 1 FROM crashes c WHERE c.group_id = groups.id)")
        return {"groups": len(agg), "created": created, "removed": gone, "moved": moved}


class _Tx:
    """Statements inside one transaction (Store._tx)."""

    def __init__(self, store: Store, conn: Any) -> None:
        self._s = store
        self._c = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs a statement; returns the rows it changed."""
        cur = self._c.execute(self._s._sql(sql), tuple(params))
        return int(cur.rowcount or 0) if cur.rowcount and cur.rowcount > 0 else 0

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> None:
        seq = [tuple(x) for x in seq]
        if not seq:
            return
        if self._s.dialect == "sqlite":
            self._c.executemany(self._s._sql(sql), seq)
        else:
            with self._c.cursor() as cur:
                cur.executemany(self._s._sql(sql), seq)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> List[Dict[str, Any]]:
        return self._s._rows(sql, params, self._c)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Optional[Dict[str, Any]]:
        return self._s._one(sql, params, self._c)


def _crash_dict(r: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "id": int(r["id"]), "group_id": int(r["group_id"]), "received": float(r["received"]),
        "format": r["format"], "size": int(r["size"]), "sha256": r["sha256"], "host": r["host"],
        "version": r["version"], "product": r["product"], "kind": r["kind"],
        "severity": r["severity"], "signal": r["signal"], "title": r["title"],
        "fingerprint": r["fingerprint"], "attributes": json.loads(r["attributes"]),
        "filename": r["filename"], "executable": r["executable"], "flags": int(r["flags"]),
        "analysis_error": r["analysis_error"],
    }


def _version_key(v: str) -> Tuple[Any, ...]:
    """"1.10" after "1.9": numeric runs compare as numbers."""
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"(\d+)", v) if x)
