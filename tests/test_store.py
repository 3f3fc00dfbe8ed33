"""Session stores: SQLite (WAL, the embedded default) and a real redis-server started here.
Both keep the same contract: create/get/save with compare-and-swap, expiry, events."""
from __future__ import annotations

import shutil
import socket
import sqlite3
import subprocess
import threading
import time

import pytest

from api import store as store_module
from api.store import RedisStore, SessionRecord, SQLiteStore, refill
from api.process import free_port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server on a free loopback port, for this test run only."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed: run `make test` (scripts/install.sh installs it)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


@pytest.fixture(params=["sqlite", "redis"])
def make_store(request, tmp_path):
    def make(ttl=3600.0, retention=86400.0):
        if request.param == "sqlite":
            return SQLiteStore(tmp_path / "s.sqlite3", ttl, retention)
        url = request.getfixturevalue("redis_url")
        return RedisStore(url, ttl, retention, prefix=f"t{time.time_ns()}:")
    return make


def record(sid="abcdefgh1234") -> SessionRecord:
    return SessionRecord(id=sid, region="dongying", channel="web", state={"region": "dongying", "answers": {}})


def test_create_get_save(make_store):
    store = make_store()
    rec = record()
    store.create(rec)
    got = store.get(rec.id)
    assert got.state == rec.state and got.rev == 1
    got.state["answers"] = {"married": "yes"}
    assert store.save(got) and got.rev == 2
    assert store.get(rec.id).state["answers"] == {"married": "yes"}
    assert store.get("missing-session") is None


def test_a_stale_save_is_refused(make_store):
    """Two workers read revision 1; the second save would lose the first one's answer."""
    store = make_store()
    store.create(record())
    first, second = store.get("abcdefgh1234"), store.get("abcdefgh1234")
    first.state["answers"] = {"married": "yes"}
    second.state["answers"] = {"baby_age": "within_month"}
    assert store.save(first)
    assert not store.save(second) and second.rev == 1
    assert store.get("abcdefgh1234").state["answers"] == {"married": "yes"}


def test_idle_sessions_expire(make_store):
    store = make_store(ttl=1.0)
    store.create(record())
    assert store.get("abcdefgh1234") is not None
    time.sleep(2.2)  # redis expiry has one-second resolution
    store.purge()
    assert store.get("abcdefgh1234") is None


def test_events_and_retention(make_store):
    store = make_store(retention=1.0)
    store.add_event("unmatched", {"text": "今天天气"})
    store.add_event("feedback", {"rating": 4})
    assert [e["kind"] for e in store.events()] == ["unmatched", "feedback"]
    assert next(store.events("feedback"))["rating"] == 4
    time.sleep(1.2)
    store.purge()
    assert list(store.events()) == []


def test_events_stream_page_by_page_in_time_order(make_store, monkeypatch):
    """A month of events is read a page at a time (here 7), all of them, oldest first, kinds merged."""
    monkeypatch.setattr(store_module, "PAGE", 7)
    store = make_store()
    for i in range(30):
        store.add_event("question" if i % 3 else "session", {"i": i})
    got = list(store.events())
    assert [e["i"] for e in got] == list(range(30))
    assert [e["i"] for e in store.events("session")] == list(range(0, 30, 3))
    assert [e["i"] for e in store.events("question", since=got[20]["at"])] == [i for i in range(20, 30) if i % 3]


def test_sqlite_is_in_wal_mode_and_survives_reopening(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = SQLiteStore(path, 3600, 86400)
    store.create(record())
    mode = sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    again = SQLiteStore(path, 3600, 86400)  # a restarted process
    assert again.get("abcdefgh1234").region == "dongying"


def test_two_redis_clients_share_sessions(redis_url):
    """Several API processes on several hosts: one creates, the other continues."""
    a = RedisStore(redis_url, 3600, 86400, prefix="shared:")
    b = RedisStore(redis_url, 3600, 86400, prefix="shared:")
    a.create(record("sharedsession1"))
    rec = b.get("sharedsession1")
    rec.state["scenario"] = "newborn"
    assert b.save(rec)
    assert a.get("sharedsession1").state["scenario"] == "newborn"


def test_two_api_processes_share_sessions_through_redis(redis_url, identifier, search_cache, tmp_path):
    """Two service processes (as on two hosts) on one redis-server: a conversation started on
    one continues on the other, and neither keeps it in its own SQLite file."""
    import httpx

    from tests.conftest import LiveServer

    env = {"YICI_STORE": "redis", "YICI_REDIS_URL": redis_url}
    a = LiveServer(tmp_path / "a", search_cache, env=env)
    b = LiveServer(tmp_path / "b", search_cache, env=env)
    try:
        with httpx.Client(base_url=a.url, timeout=60) as ha, httpx.Client(base_url=b.url, timeout=60) as hb:
            sid = ha.post("/api/v1/sessions", json={"region": "dongying"}).json()["session_id"]
            first = hb.post(f"/api/v1/sessions/{sid}/messages", json={"text": "孩子出生了要办什么"}).json()
            assert first["scenario"] == "newborn"
            answer = next(o["value"] for o in first["options"] if o["value"].startswith("answer:"))
            second = ha.post(f"/api/v1/sessions/{sid}/messages", json={"option": answer}).json()
            qid, value = answer.split(":")[1:3]
            assert second["answers"][qid] == value
            assert hb.get(f"/api/v1/sessions/{sid}").json()["answers"] == second["answers"]
    finally:
        a.stop()
        b.stop()
    for side in ("a", "b"):
        db = tmp_path / side / "yici.sqlite3"
        assert not db.exists() or sqlite3.connect(db).execute("SELECT name FROM sqlite_master").fetchall() == []


def _twin(store):
    """A second connection to the same store, as another worker process would open."""
    if isinstance(store, SQLiteStore):
        return SQLiteStore(store.path, store.ttl, store.retention)
    return RedisStore(store.url, store.ttl, store.retention,
                      prefix=store.prefix)


def test_the_rate_limit_is_one_bucket_for_every_connection(make_store):
    """Two workers' connections, four threads at once, 40 requests of one client against a
    6-per-minute bucket: exactly 6 pass, however the requests interleave."""
    a = make_store()
    b = _twin(a)
    results: list[bool] = []
    def worker(store):
        for _ in range(10):
            results.append(store.take_token("10.0.0.7", 6))
    threads = [threading.Thread(target=worker, args=(s,)) for s in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 40 and sum(results) == 6
    assert b.take_token("10.0.0.8", 6)  # every client has its own bucket


def test_a_bucket_refills_at_its_rate_up_to_one_minute():
    assert refill(0.0, 30.0, 6) == pytest.approx(3.0)
    assert refill(2.0, 3600.0, 6) == 6.0  # never more than a minute's allowance
    assert refill(1.0, -5.0, 6) == 1.0  # a clock stepping back adds nothing
