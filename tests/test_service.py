"""The service in-process (the real FastAPI app through its ASGI interface, a real SQLite file):
knowledge hot reload, rate limiting, analytics, masking of what is stored."""
from __future__ import annotations

import sqlite3

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import Settings
from api.service import ApiError, Service
from api.store import SQLiteStore
from assistant.search.identify import Identifier
from knowledge import load
from tests.conftest import ADMIN_TOKEN, OPERATOR_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def service(tmp_path, data_copy, identifier, search_cache):
    """A service over a writable copy of the knowledge; identifiers share the test model."""
    def make_identifier(kb, last=[]):
        found = Identifier(kb, identifier.model, cache_dir=search_cache, progress=False,
                           reuse=last[0] if last else identifier)
        last[:1] = [found]
        return found

    store = SQLiteStore(tmp_path / "yici.sqlite3", 3600, 86400)
    return Service(load(data_copy), make_identifier, store, base_url="http://test", data_dir=data_copy)


def client(service, **settings) -> TestClient:
    s = Settings(operator_tokens=[OPERATOR_TOKEN], admin_tokens=[ADMIN_TOKEN], **settings)
    return TestClient(create_app(s, service))


def to_checklist(service, sid: str) -> dict:
    reply = service.message(sid, text="孩子上周出生了，要办哪些手续")
    while reply["question"]:
        reply = service.message(sid, option=reply["options"][0]["value"])
    return reply["checklist"]


def test_reload_rejects_a_broken_file_and_keeps_serving(service, data_copy):
    version = service.kb.version
    sid = service.create_session("dongying", "web")["session_id"]
    broken = data_copy / "scenarios" / "newborn.yaml"
    good = broken.read_text()
    broken.write_text(good.replace("questions:", "questions:\n  questions:", 1))
    with pytest.raises(ApiError) as err:
        service.reload()
    assert err.value.code == "knowledge_invalid" and err.value.status == 422
    assert any(e["file"] == "scenarios/newborn.yaml" for e in err.value.detail["errors"])
    assert service.kb.version == version
    assert to_checklist(service, sid)["knowledge_version"] == version  # still serving, unchanged


def test_ongoing_sessions_finish_on_their_version(service, data_copy):
    old_version = service.kb.version
    ongoing = service.create_session("dongying", "web")["session_id"]
    service.message(ongoing, text="孩子上周出生了，要办哪些手续")
    materials = data_copy / "materials.yaml"
    text = materials.read_text()
    assert "name: 居民身份证\n" in text
    materials.write_text(text.replace("name: 居民身份证\n", "name: 居民身份证（重载测试）\n", 1))

    with client(service) as http:
        r = http.post("/api/v1/admin/reload", headers=ADMIN)
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["changed"] and body["previous"] == old_version and body["knowledge_version"] != old_version

    def id_card_name(checklist):
        return next(m["name"] for m in checklist["materials"] if m["id"] == "id_card")

    old = to_checklist(service, ongoing)
    assert old["knowledge_version"] == old_version and id_card_name(old) == "居民身份证"
    fresh = service.create_session("dongying", "web")["session_id"]
    new = to_checklist(service, fresh)
    assert new["knowledge_version"] == body["knowledge_version"] and id_card_name(new) == "居民身份证（重载测试）"


def test_reload_through_http_reports_the_precise_error(service, data_copy):
    (data_copy / "materials.yaml").write_text("id_card: [unclosed\n")
    with client(service) as http:
        r = http.post("/api/v1/admin/reload", headers=ADMIN)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "knowledge_invalid" and error["errors"][0]["file"] == "materials.yaml"


def test_citizen_requests_are_rate_limited_per_client(service):
    with client(service, rate_per_minute=5) as http:
        codes = [http.post("/api/v1/sessions", json={"region": "dongying"}).status_code for _ in range(7)]
        limited = http.post("/api/v1/sessions", json={"region": "dongying"})
        regions = http.get("/api/v1/regions")  # the catalogue is not limited
    assert codes[:5] == [201] * 5 and codes[5:] == [429, 429]
    assert limited.json()["error"]["code"] == "rate_limited" and limited.headers["retry-after"]
    assert regions.status_code == 200


def test_workers_on_one_store_share_the_rate_limit(service):
    """Two app instances (as two uvicorn workers) on one store: the client's allowance is counted
    once, not granted anew by each worker."""
    with client(service, rate_per_minute=4) as a, client(service, rate_per_minute=4) as b:
        codes = [(a if i % 2 else b).post("/api/v1/sessions", json={"region": "dongying"}).status_code
                 for i in range(6)]
    assert codes == [201] * 4 + [429, 429]


def test_analytics_show_unmatched_questions_drop_off_and_ratings(service):
    lost = service.create_session("dongying", "web")["session_id"]
    service.message(lost, text="我想问一下今天天气怎么样，身份证370502199001011234")
    dropped = service.create_session("dongying", "web")["session_id"]
    question = service.message(dropped, text="孩子出生了要办什么")["question"]["id"]
    done = service.create_session("dongying", "web")["session_id"]
    to_checklist(service, done)
    service.feedback(done, 4, "清楚，我叫李四")
    with client(service) as http:
        assert http.get("/api/v1/admin/analytics", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == 403
        report = http.get("/api/v1/admin/analytics", headers=ADMIN).json()
    assert report["sessions"] == 3 and report["completed"] == 1
    assert report["unmatched"][0]["text"] == "我想问一下今天天气怎么样，身份证[身份证号]"
    assert {"scenario": "newborn", "question": question, "sessions": 1} in report["drop_off"]
    assert report["ratings"]["average"] == 4 and report["comments"][0]["comment"] == "清楚，我叫[姓名]"


def test_stored_sessions_hold_no_personal_numbers(service, tmp_path):
    sid = service.create_session("dongying", "web")["session_id"]
    service.message(sid, text="我手机13812345678，孩子出生了，户口本号码370502199001011234")
    dump = "\n".join(str(row) for row in sqlite3.connect(tmp_path / "yici.sqlite3").execute("SELECT * FROM sessions"))
    dump += "\n".join(str(row) for row in sqlite3.connect(tmp_path / "yici.sqlite3").execute("SELECT * FROM events"))
    assert "13812345678" not in dump and "370502199001011234" not in dump


def test_a_reload_reaches_the_other_processes(service, data_copy, tmp_path, identifier, search_cache):
    """The admin's reload lands on one worker; another worker sharing the store follows it for
    new sessions, while its ongoing session stays on the version it started with."""
    other = Service(load(data_copy), lambda kb: Identifier(kb, identifier.model, cache_dir=search_cache,
                                                           progress=False, reuse=identifier),
                    SQLiteStore(tmp_path / "yici.sqlite3", 3600, 86400), data_dir=data_copy)
    other.follow_every = 0.0
    old_version = other.kb.version
    ongoing = other.create_session("dongying", "web")["session_id"]
    materials = data_copy / "materials.yaml"
    materials.write_text(materials.read_text().replace("name: 居民身份证\n", "name: 居民身份证（另一进程）\n", 1))
    new_version = service.reload()["knowledge_version"]
    assert new_version != old_version
    fresh = other.create_session("dongying", "web")
    assert fresh["knowledge_version"] == new_version == other.kb.version
    assert to_checklist(other, ongoing)["knowledge_version"] == old_version
    # a later edit that nobody reloaded is not picked up by following
    materials.write_text(materials.read_text().replace("（另一进程）", "（未重载）"))
    assert other.create_session("dongying", "web")["knowledge_version"] == new_version
