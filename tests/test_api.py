"""The HTTP API against the real server process (python -m api) on loopback: every endpoint,
every documented error, and agreement with the engine's own checklist."""
from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
import pytest

from assistant import checklist as C
from tests.conftest import ADMIN_TOKEN, OPERATOR_TOKEN

V1 = "/api/v1"
OP = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


def start(api, region="dongying", channel="web") -> dict:
    r = api.post(f"{V1}/sessions", json={"region": region, "channel": channel})
    assert r.status_code == 201, r.text
    return r.json()


def say(api, sid: str, **body) -> dict:
    r = api.post(f"{V1}/sessions/{sid}/messages", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def finish(api, reply: dict, pick=0, limit=20) -> dict:
    """Answer every remaining question with its `pick`-th option (buttons, as a citizen would)."""
    for _ in range(limit):
        if reply["question"] is None:
            return reply
        answers = [o for o in reply["options"] if o["value"].startswith(f"answer:{reply['question']['id']}:")]
        reply = say(api, reply["session_id"], option=answers[min(pick, len(answers) - 2)]["value"])
    raise AssertionError("questionnaire did not end")


def error_of(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]["message"]), "message must be Chinese"
    return body["error"]["code"]


def test_openapi_documents_every_endpoint(api):
    paths = api.get("/openapi.json").json()["paths"]
    for path in ["/sessions", "/sessions/{session_id}/messages", "/sessions/{session_id}/selection",
                 "/sessions/{session_id}/checklist", "/sessions/{session_id}/feedback", "/regions",
                 "/regions/{region}/scenarios", "/scenarios/{scenario_id}", "/search"]:
        assert V1 + path in paths, path
    assert "patch" in paths[f"{V1}/sessions/{{session_id}}/selection"]


def test_healthz(api, kb):
    body = api.get("/healthz").json()
    assert body.pop("sentence_transformers") in (True, False)  # False while the engine answers alone
    assert body == {"status": "ok", "knowledge_version": kb.version, "store": True}
    deadline = time.time() + 120
    while not api.get("/healthz").json()["sentence_transformers"] and time.time() < deadline:
        time.sleep(0.2)  # it imports on a thread after start (packaged.StartingModel)
    assert api.get("/healthz").json()["sentence_transformers"] is True


def test_session_starts_with_the_regions_scenarios(api, kb):
    reply = start(api)
    assert reply["kind"] == "greeting" and reply["scenario"] is None and reply["checklist"] is None
    published = {s.id for s in kb.scenarios_of("dongying")}
    offered = {o["value"].split(":", 1)[1] for o in reply["options"] if o["value"].startswith("scenario:")}
    assert offered and offered <= published
    assert api.get(f"{V1}/sessions/{reply['session_id']}").json() == reply  # restorable after a page reload


def test_newborn_conversation_matches_the_engines_checklist(api, kb):
    reply = start(api)
    sid = reply["session_id"]
    reply = say(api, sid, text="我俩都是东营户口，孩子上周在市妇幼出生，想一起办社保卡")
    assert reply["scenario"] == "newborn"
    assert reply["answers"]["parents_hukou"] == "both_local"  # given in the first sentence, not asked again
    asked = []
    while reply["question"]:
        asked.append(reply["question"]["id"])
        labels = {o["value"] for o in reply["options"]}
        assert any(v.startswith(f"answer:{reply['question']['id']}:") for v in labels)
        reply = say(api, sid, option=next(o["value"] for o in reply["options"] if o["value"].startswith("answer:")))
    assert "parents_hukou" not in asked
    assert reply["done"] and reply["kind"] == "checklist"
    checklist = reply["checklist"]
    ids = [m["id"] for m in checklist["sub_matters"]]
    for m in checklist["sub_matters"]:
        assert {"id", "name", "mandatory", "selected", "department", "time_limit", "fee", "places"} <= set(m)
    material_ids = [m["id"] for m in checklist["materials"]]
    assert len(material_ids) == len(set(material_ids)), "one merged list: each material once"
    for m in checklist["materials"]:
        assert {"id", "name", "form", "copies", "needed_by", "exempt", "exempt_source", "note"} <= set(m)
        assert set(m["needed_by"]) <= set(ids)
        assert m["exempt"] == (m["exempt_source"] is not None)
    assert any(len(m["needed_by"]) > 1 for m in checklist["materials"])  # the merge is visible
    assert checklist["steps"] and checklist["sources"] and checklist["knowledge_version"] == kb.version
    expected = C.build(kb, "newborn", "dongying", reply["answers"], {}, dt.date.today())
    assert ids == [m.id for m in expected.sub_matters]
    assert material_ids == [m.id for m in expected.materials]


def _finished(api, scenario_text="孩子出生了要办什么手续"):
    reply = start(api)
    return finish(api, say(api, reply["session_id"], text=scenario_text))


def test_selection_recomputes_the_materials(api):
    reply = _finished(api)
    sid, checklist = reply["session_id"], reply["checklist"]
    optional = [m for m in checklist["sub_matters"] if not m["mandatory"]]
    assert optional, "newborn in dongying has optional sub-matters"
    drop = optional[-1]["id"]
    only_for_it = {m["id"] for m in checklist["materials"] if m["needed_by"] == [drop]}
    r = api.patch(f"{V1}/sessions/{sid}/selection", json={drop: False})
    assert r.status_code == 200, r.text
    after = r.json()
    assert next(m for m in after["sub_matters"] if m["id"] == drop)["selected"] is False
    assert not only_for_it & {m["id"] for m in after["materials"]}
    assert all(drop not in m["needed_by"] for m in after["materials"])
    # the session remembers it: the json checklist agrees
    assert api.get(f"{V1}/sessions/{sid}/checklist").json()["materials"] == after["materials"]
    back = api.patch(f"{V1}/sessions/{sid}/selection", json={drop: True}).json()
    assert [m["id"] for m in back["materials"]] == [m["id"] for m in checklist["materials"]]

    mandatory = next(m["id"] for m in checklist["sub_matters"] if m["mandatory"])
    assert error_of(api.patch(f"{V1}/sessions/{sid}/selection", json={mandatory: False}), 422) == "mandatory_sub_matter"
    assert error_of(api.patch(f"{V1}/sessions/{sid}/selection", json={"no_such": True}), 422) == "unknown_sub_matter"
    assert error_of(api.patch(f"{V1}/sessions/{sid}/selection", json={}), 422) == "invalid_request"
    assert error_of(api.patch(f"{V1}/sessions/{sid}/selection", json={drop: "maybe"}), 422) == "invalid_request"
    fresh = start(api)["session_id"]
    assert error_of(api.patch(f"{V1}/sessions/{fresh}/selection", json={drop: False}), 409) == "no_scenario"


def test_checklist_formats(api):
    reply = _finished(api)
    sid, name = reply["session_id"], reply["checklist"]["scenario_name"]
    html = api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert name in html.text and "<svg" in html.text and "@page" in html.text  # A4 print CSS and the QR code
    assert f"/api/v1/sessions/{sid}/checklist" in html.text
    text = api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "text"}).text
    assert len(text) <= 500 and reply["checklist"]["sub_matters"][0]["listed_as"] in text
    long = api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "text", "long": "true"}).text
    assert len(long) > len(text)
    speech = api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "speech"}).text
    assert speech and not any(ch.isdigit() for ch in speech) and "|" not in speech
    assert error_of(api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "pdf"}), 422) == "invalid_request"
    assert error_of(api.get(f"{V1}/sessions/{sid}/checklist", params={"format": "doc"}), 422) == "invalid_request"
    fresh = start(api)["session_id"]
    assert error_of(api.get(f"{V1}/sessions/{fresh}/checklist"), 409) == "no_scenario"


def test_feedback(api):
    sid = _finished(api)["session_id"]
    r = api.post(f"{V1}/sessions/{sid}/feedback", json={"rating": 5, "comment": "很清楚，电话13812345678"})
    assert r.status_code == 201 and r.json()["ok"] is True
    for bad in ({"rating": 0}, {"rating": 6}, {"rating": "好"}, {"comment": "没有评分"}):
        assert error_of(api.post(f"{V1}/sessions/{sid}/feedback", json=bad), 422) == "invalid_request"
    assert error_of(api.post(f"{V1}/sessions/unknown-session-id/feedback", json={"rating": 3}), 404) == "session_not_found"


def test_regions_and_their_scenarios(api, kb):
    regions = {r["id"]: r for r in api.get(f"{V1}/regions").json()}
    assert set(regions) == set(kb.catalogue["regions"])
    assert regions["zibo"]["scenarios"] == 0 and regions["dongying"]["scenarios"] == len(kb.scenarios_of("dongying"))
    listed = api.get(f"{V1}/regions/tianjin/scenarios").json()
    assert [s["id"] for s in listed] == [s.id for s in kb.scenarios_of("tianjin")]
    assert listed[0]["name"] == kb.scenarios[listed[0]["id"]].regions["tianjin"].name
    assert error_of(api.get(f"{V1}/regions/mars/scenarios"), 404) == "region_not_found"


def test_scenario_guide_shows_every_situation(api, kb):
    assert error_of(api.get(f"{V1}/scenarios/newborn", params={"region": "dongying"}), 401) == "auth_required"
    bad = {"Authorization": "Bearer wrong"}
    assert error_of(api.get(f"{V1}/scenarios/newborn", params={"region": "dongying"}, headers=bad), 403) == "forbidden"
    guide = api.get(f"{V1}/scenarios/newborn", params={"region": "dongying"}, headers=OP).json()
    scenario = kb.scenarios["newborn"]
    assert [q["id"] for q in guide["questions"]] == list(scenario.questions)
    assert [m["id"] for m in guide["checklist"]["sub_matters"]] == [i.matter for i in scenario.regions["dongying"].sub_matters]
    assert any(m["condition"] for m in guide["checklist"]["materials"])  # "depends" cases spelled out
    assert guide["sms_text"] and len(guide["sms_text"]) <= 500
    unpublished = next(s for s in kb.scenarios.values() if "dongying" not in s.regions)
    other = api.get(f"{V1}/scenarios/{unpublished.id}", params={"region": "dongying"}, headers=OP).json()
    assert other["published"] is False and other["publishers"]
    assert error_of(api.get(f"{V1}/scenarios/nope", params={"region": "dongying"}, headers=OP), 404) == "scenario_not_found"
    assert error_of(api.get(f"{V1}/scenarios/newborn", headers=OP), 422) == "invalid_request"


def test_search_and_matter_guides(api):
    assert error_of(api.get(f"{V1}/search", params={"q": "二手房", "region": "dongying"}), 401) == "auth_required"
    found = api.get(f"{V1}/search", params={"q": "二手房过户 水电气", "region": "dongying"}, headers=OP).json()
    assert found["best"] == "second_hand_house" and found["scenarios"][0]["id"] == "second_hand_house"
    assert found["matters"]
    key = found["matters"][0]["key"]
    guide = api.get(f"{V1}/matters/{key}", params={"region": "dongying"}, headers=OP)
    assert guide.status_code == 200 and guide.json()["name"] == found["matters"][0]["name"]
    lifecycle = api.get(f"{V1}/search", params={"q": "办理营业执照", "region": "dongying"}, headers=OP).json()
    life = next(m for m in lifecycle["matters"] if m["kind"] == "lifecycle")
    body = api.get(f"{V1}/matters/{life['key']}", params={"region": "dongying"}, headers=OP).json()
    assert body["kind"] == "lifecycle" and body["name"] == life["name"] and body["sources"]
    chat = api.get(f"{V1}/search", params={"q": "今天天气怎么样", "region": "dongying"}, headers=OP).json()
    assert chat["none"] is True
    assert api.get(f"{V1}/search", params={"q": "  ", "region": "dongying"}, headers=OP).json()["none"] is True
    assert error_of(api.get(f"{V1}/matters/nope/nothing", params={"region": "dongying"}, headers=OP), 404) == "matter_not_found"
    assert error_of(api.get(f"{V1}/search", params={"q": "x", "region": "mars"}, headers=OP), 404) == "region_not_found"


@pytest.mark.parametrize("body, status, code", [
    ({"region": "mars"}, 404, "unknown_region"),
    ({"region": "dongying", "channel": "fax"}, 422, "invalid_request"),
    ({"channel": "web"}, 422, "invalid_request"),
    ({"region": "dongying", "extra": 1}, 422, "invalid_request"),
])
def test_session_creation_errors(api, body, status, code):
    assert error_of(api.post(f"{V1}/sessions", json=body), status) == code


def test_message_errors(api):
    sid = start(api)["session_id"]
    url = f"{V1}/sessions/{sid}/messages"
    assert error_of(api.post(url, json={}), 422) == "invalid_request"
    assert error_of(api.post(url, json={"text": "结婚", "option": "cmd:restart"}), 422) == "invalid_request"
    assert error_of(api.post(url, json={"option": "answer:nope:x"}), 422) == "bad_option"
    assert error_of(api.post(url, content=b'{"text": ', headers={"content-type": "application/json"}), 422) == "invalid_request"
    assert error_of(api.post(url, json={"text": "长" * 20_000}), 422) == "invalid_request"
    assert error_of(api.post(f"{V1}/sessions/not-a-session/messages", json={"text": "结婚"}), 404) == "session_not_found"
    assert error_of(api.get("/api/v1/nothing-here"), 404) == "not_found"
    assert error_of(api.delete(f"{V1}/regions"), 405) == "method_not_allowed"
    # nothing above touched the session
    assert api.get(f"{V1}/sessions/{sid}").json()["kind"] == "greeting"


def test_two_messages_at_once_are_both_applied(api):
    sid = say(api, start(api)["session_id"], text="孩子出生了要办什么手续")["session_id"]
    barrier = threading.Barrier(2)
    results = []

    def send(option):
        barrier.wait()
        results.append(api.post(f"{V1}/sessions/{sid}/messages", json={"option": option}).status_code)

    threads = [threading.Thread(target=send, args=(o,)) for o in ("answer:married:yes", "answer:baby_age:within_month")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200, 200]
    answers = api.get(f"{V1}/sessions/{sid}").json()["answers"]
    assert answers.get("married") == "yes" and answers.get("baby_age") == "within_month"


def test_admin_endpoints_need_the_admin_token(api):
    assert error_of(api.post(f"{V1}/admin/reload"), 401) == "auth_required"
    assert error_of(api.post(f"{V1}/admin/reload", headers=OP), 403) == "forbidden"
    assert error_of(api.get(f"{V1}/admin/analytics", headers=OP), 403) == "forbidden"
    body = api.get(f"{V1}/admin/analytics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    assert {"sessions", "completed", "unmatched", "drop_off", "ratings"} <= set(body)
