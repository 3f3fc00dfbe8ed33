"""The custom actions behind the real rasa-sdk action server on loopback (webhook protocol),
and the same actions in-process through rasa-sdk's ActionExecutor."""
import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from api.process import free_port

from .conftest import REPO


def _get(url):
    with urllib.request.urlopen(url, timeout=60) as r:
        return r.status, json.loads(r.read())


def _post(url, payload):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status, json.loads(r.read())


def _domain():
    import yaml

    return yaml.safe_load((REPO / "assistant" / "rasa" / "domain.yml").read_text(encoding="utf-8"))


def _call(action, text, slots, events=()):
    return {"next_action": action, "sender_id": "t1", "version": "3.21.1", "domain": _domain(),
            "tracker": {"sender_id": "t1", "slots": slots, "latest_message": {"text": text, "intent": {}, "entities": []},
                        "events": list(events), "paused": False, "followup_action": None,
                        "active_loop": {"name": "situation_form"} if action.startswith("validate") else {},
                        "latest_action_name": None}}


@pytest.fixture(scope="module")
def action_server(search_cache, identifier):  # identifier: the index is built before the server starts
    port = free_port()
    env = {**os.environ, "YICI_CACHE_DIR": str(search_cache), "YICI_PROGRESS": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if _get(base + "/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError(proc.stdout.read().decode(errors="replace")[-2000:])
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def test_health_and_action_list(action_server):
    status, body = _get(action_server + "/health")
    assert status == 200 and body.get("status") == "ok"
    status, actions = _get(action_server + "/actions")
    names = {a["name"] for a in actions}
    assert {"action_yici_turn", "action_identify_scenario", "validate_situation_form", "action_ask_situation_answer",
            "action_build_checklist", "action_lookup_matter"} <= names


def test_identify_over_webhook(action_server):
    status, body = _post(action_server + "/webhook",
                         _call("action_identify_scenario", "媳妇刚生了孩子要办哪些手续", {"region": "dongying"}))
    assert status == 200
    slots = {e["name"]: e["value"] for e in body["events"] if e["event"] == "slot"}
    assert slots["scenario"] == "newborn"


def test_turns_and_checklist_over_webhook(action_server):
    status, body = _post(action_server + "/webhook", _call("action_yici_turn", "我们协议离婚，离完户口要迁走", {"region": "dongying"}))
    slots = {e["name"]: e["value"] for e in body["events"] if e["event"] == "slot"}
    assert status == 200 and slots["scenario"] == "divorce"
    assert body["responses"][0]["buttons"]  # the next question with its options
    status, body = _post(action_server + "/webhook", _call(
        "action_build_checklist", "", {"region": "dongying", "scenario": "divorce", "answers": slots["answers"]}))
    checklist = body["responses"][0]["custom"]["checklist"]
    assert checklist["scenario"] == "divorce" and "marriage_certificate" in {m["id"] for m in checklist["materials"]}


def test_form_validation_fills_answers(action_server, kb):
    q = next(iter(kb.scenarios["marriage"].questions))
    option = kb.scenarios["marriage"].questions[q].options[0].value
    answer = f"option:answer:{q}:{option}"
    # what Rasa sends: the user's message filled the requested slot in this turn
    events = [{"event": "user", "text": answer}, {"event": "slot", "name": "situation_answer", "value": answer}]
    status, body = _post(action_server + "/webhook", _call(
        "validate_situation_form", answer, {"region": "tianjin", "scenario": "marriage", "answers": {},
                                            "situation_answer": answer, "requested_slot": "situation_answer"}, events))
    slots = {e["name"]: e["value"] for e in body["events"] if e["event"] == "slot"}
    assert slots["answers"] == {q: option}


def test_unknown_action_is_a_clear_error(action_server):
    req = urllib.request.Request(action_server + "/webhook", data=json.dumps(_call("action_nope", "", {})).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 404


def test_embedded_runs_the_same_action_in_process(engine):
    from actions import runtime
    from actions.embedded import run_turn

    runtime.use(engine)
    state, response = run_turn(None, "tianjin", "web", "孩子刚出生想上户口")
    assert state.scenario == "newborn" and response["custom"]["kind"] in ("question", "checklist")
    option = response["buttons"][0]["payload"].split(":", 1)[1]
    state2, response2 = run_turn(state, "tianjin", "web", option=option)
    assert len(state2.answers) >= len(state.answers)
