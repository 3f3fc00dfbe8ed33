"""Where sessions, feedback and analytics events live.

SQLite in WAL mode is the embedded default (one file, survives restarts, several worker
processes on one host). Redis lets API processes on several hosts share sessions. Both
offer the same small interface; a session is saved with compare-and-swap on its revision
so two turns racing on one session never silently overwrite each other.
"""
from __future__ import annotations

import heapq
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional, Protocol


@dataclass
class SessionRecord:
    id: str
    region: str
    channel: str
    state: dict  # DialogueState.to_dict()
    last: dict = field(default_factory=dict)  # the last reply shown, to restore a reloaded page
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    rev: int = 0  # bumped by every save; a save with a stale rev is refused

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "region": self.region, "channel": self.channel, "state": self.state,
                           "last": self.last, "created": self.created, "updated": self.updated, "rev": self.rev},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "SessionRecord":
        return cls(**json.loads(text))


class Store(Protocol):
    def create(self, record: SessionRecord) -> None: ...
    def get(self, session_id: str) -> Optional[SessionRecord]: ...
    def save(self, record: SessionRecord) -> bool: ...  # False: someone saved a newer revision first
    def add_event(self, kind: str, data: dict) -> None: ...
    def events(self, kind: Optional[str] = None, since: float = 0.0) -> Iterator[dict]: ...  # oldest first, paged
    def purge(self) -> int: ...  # drop expired sessions and events past retention
    def ping(self) -> bool: ...
    def take_token(self, client: str, per_minute: int) -> bool: ...  # shared rate limit (below)


SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
  id TEXT PRIMARY KEY, rev INTEGER NOT NULL, updated REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated);
CREATE TABLE IF NOT EXISTS events (
  id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, at REAL NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_kind_at ON events(kind, at);
CREATE TABLE IF NOT EXISTS rate_buckets (
  client TEXT PRIMARY KEY, tokens REAL NOT NULL, at REAL NOT NULL);
"""
PAGE = 1000  # events read per round trip
BUCKET_IDLE = 600.0  # seconds after which a client's bucket is full again for sure (dropped by purge)


def refill(tokens: float, idle: float, per_minute: int) -> float:
    """A token bucket of `per_minute` requests, refilled continuously (a burst of the whole minute)."""
    return min(float(max(per_minute, 1)), tokens + max(idle, 0.0) * per_minute / 60.0)


class SQLiteStore:
    def __init__(self, path: Path, ttl_seconds: float, retention_seconds: float):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.ttl, self.retention = ttl_seconds, retention_seconds
        self._local = threading.local()
        with self._conn() as c:
            c.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:  # one connection per thread; WAL lets readers and one writer overlap
            conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
            conn.execute("PRAGMA busy_timeout=10000")
            self._local.conn = conn
        return conn

    def create(self, record: SessionRecord) -> None:
        record.rev = 1
        self._conn().execute("INSERT INTO sessions(id, rev, updated, data) VALUES (?, ?, ?, ?)",
                             (record.id, record.rev, record.updated, record.to_json()))

    def get(self, session_id: str) -> Optional[SessionRecord]:
        row = self._conn().execute("SELECT data FROM sessions WHERE id = ? AND updated >= ?",
                                   (session_id, time.time() - self.ttl)).fetchone()
        return SessionRecord.from_json(row[0]) if row else None

    def save(self, record: SessionRecord) -> bool:
        old = record.rev
        record.rev, record.updated = old + 1, time.time()
        cur = self._conn().execute("UPDATE sessions SET rev = ?, updated = ?, data = ? WHERE id = ? AND rev = ?",
                                   (record.rev, record.updated, record.to_json(), record.id, old))
        if cur.rowcount != 1:
            record.rev = old
            return False
        return True

    def add_event(self, kind: str, data: dict) -> None:
        self._conn().execute("INSERT INTO events(kind, at, data) VALUES (?, ?, ?)",
                             (kind, time.time(), json.dumps(data, ensure_ascii=False)))

    def events(self, kind: Optional[str] = None, since: float = 0.0) -> Iterator[dict]:
        """Oldest first, a page at a time (a month of events need not fit in memory)."""
        sql = "SELECT id, kind, at, data FROM events WHERE at >= ? AND id > ?"
        if kind:
            sql += " AND kind = ?"
        last = 0
        while True:
            rows = self._conn().execute(sql + " ORDER BY id LIMIT ?",
                                        [since, last, *([kind] if kind else []), PAGE]).fetchall()
            for last, k, at, d in rows:
                yield {**json.loads(d), "kind": k, "at": at}
            if len(rows) < PAGE:
                return

    def purge(self) -> int:
        now = time.time()
        c = self._conn()
        n = c.execute("DELETE FROM sessions WHERE updated < ?", (now - self.ttl,)).rowcount
        n += c.execute("DELETE FROM events WHERE at < ?", (now - self.retention,)).rowcount
        c.execute("DELETE FROM rate_buckets WHERE at < ?", (now - BUCKET_IDLE,))
        return n

    def take_token(self, client: str, per_minute: int) -> bool:
        """One request of `client` against its bucket, in one write transaction: every worker
        process on this database counts together."""
        c, now = self._conn(), time.time()
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute("SELECT tokens, at FROM rate_buckets WHERE client = ?", (client,)).fetchone()
            tokens = refill(row[0], now - row[1], per_minute) if row else float(max(per_minute, 1))
            allowed = tokens >= 1
            c.execute("INSERT OR REPLACE INTO rate_buckets(client, tokens, at) VALUES (?, ?, ?)",
                      (client, tokens - 1 if allowed else tokens, now))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return allowed

    def ping(self) -> bool:
        return self._conn().execute("SELECT 1").fetchone() == (1,)


# Compare-and-swap in one round trip: set the session only if its stored rev is the one we read.
_CAS = """
local cur = redis.call('HGET', KEYS[1], 'rev')
if (not cur) or tonumber(cur) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'data', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


# Token bucket in one round trip, on the server's clock (hosts' clocks may differ).
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local per_minute = tonumber(ARGV[1])
local cap = math.max(per_minute, 1)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = cap
if b[1] then tokens = math.min(cap, tonumber(b[1]) + math.max(now - tonumber(b[2]), 0) * per_minute / 60) end
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return allowed
"""


class RedisStore:
    """Sessions as hashes that expire when idle; events in a sorted set per kind (score = time)."""

    def __init__(self, url: str, ttl_seconds: float, retention_seconds: float, prefix: str = "yici:"):
        import redis

        self.url = url
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5)
        self.ttl, self.retention, self.prefix = int(max(ttl_seconds, 1)), retention_seconds, prefix
        self._cas = self.r.register_script(_CAS)
        self._bucket = self.r.register_script(_BUCKET)

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}s:{session_id}"

    def create(self, record: SessionRecord) -> None:
        record.rev = 1
        key = self._key(record.id)
        with self.r.pipeline() as p:
            p.hset(key, mapping={"rev": 1, "data": record.to_json()})
            p.expire(key, self.ttl)
            p.execute()

    def get(self, session_id: str) -> Optional[SessionRecord]:
        data = self.r.hget(self._key(session_id), "data")
        return SessionRecord.from_json(data) if data else None

    def save(self, record: SessionRecord) -> bool:
        old = record.rev
        record.rev, record.updated = old + 1, time.time()
        if self._cas(keys=[self._key(record.id)], args=[old, record.rev, record.to_json(), self.ttl]) != 1:
            record.rev = old
            return False
        return True

    def add_event(self, kind: str, data: dict) -> None:
        now = time.time()
        member = json.dumps({"at": now, "n": time.time_ns(), **data}, ensure_ascii=False)
        self.r.zadd(f"{self.prefix}e:{kind}", {member: now})
        self.r.sadd(f"{self.prefix}e:kinds", kind)

    def events(self, kind: Optional[str] = None, since: float = 0.0) -> Iterator[dict]:
        """Oldest first, a page at a time; several kinds are merged by time."""
        kinds = [kind] if kind else sorted(self.r.smembers(f"{self.prefix}e:kinds"))
        return heapq.merge(*(self._events_of(k, since) for k in kinds), key=lambda e: e["at"])

    def _events_of(self, kind: str, since: float) -> Iterator[dict]:
        key, low, seen = f"{self.prefix}e:{kind}", since, set()
        while True:  # keyset paging on the score; members at the boundary score are not repeated
            page = self.r.zrangebyscore(key, low, "+inf", start=0, num=PAGE, withscores=True)
            fresh = [(m, score) for m, score in page if not (score == low and m in seen)]
            for member, _ in fresh:
                data = json.loads(member)
                data.pop("n", None)
                yield {**data, "kind": kind}
            if len(page) < PAGE or not fresh:
                return
            low = fresh[-1][1]
            seen = {m for m, score in page if score == low}

    def purge(self) -> int:  # sessions expire by themselves
        cutoff = time.time() - self.retention
        return sum(self.r.zremrangebyscore(f"{self.prefix}e:{k}", "-inf", cutoff)
                   for k in self.r.smembers(f"{self.prefix}e:kinds"))

    def ping(self) -> bool:
        return bool(self.r.ping())

    def take_token(self, client: str, per_minute: int) -> bool:
        """One request of `client` against its bucket: every process on this Redis counts together."""
        return self._bucket(keys=[f"{self.prefix}rate:{client}"], args=[per_minute, int(BUCKET_IDLE)]) == 1


def open_store(settings) -> Store:
    ttl, retention = settings.session_ttl_hours * 3600, settings.retention_days * 86400
    if settings.store == "redis":
        return RedisStore(settings.redis_url, ttl, retention)
    if settings.store == "sqlite":
        return SQLiteStore(settings.db_path, ttl, retention)
    raise ValueError(f"未知的会话存储：{settings.store}（可选 sqlite 或 redis）")
