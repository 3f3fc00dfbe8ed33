"""Conversation regression tests: tests/conversations/*.yaml, one file per scenario.

Each conversation is a list of turns (user text or an option value) with what must hold
after the turn: the scenario, answers recorded, the question asked next (or none: the
checklist), the reply kind; and a `final` block on the checklist's sub-matters and
materials. Expectations come from the scenario's service logic, not from running the code.
"""
from pathlib import Path

import pytest

from assistant import nlu
from assistant import text as T
from knowledge.loader import read_yaml

FILES = sorted((Path(__file__).parent / "conversations").glob("*.yaml"))
CASES = [(f.stem, i, c) for f in FILES for i, c in enumerate(read_yaml(f) or [])]

# Conversations that show open engine bugs (kept as tests so the fix is visible when it lands).
KNOWN_BUGS: dict[str, str] = {}
PARAMS = [pytest.param(f, i, c, id=f"{f}-{i}", marks=pytest.mark.xfail(reason=KNOWN_BUGS[f"{f}-{i}"], strict=False))
          if f"{f}-{i}" in KNOWN_BUGS else pytest.param(f, i, c, id=f"{f}-{i}") for f, i, c in CASES]


@pytest.mark.parametrize("file, i, case", PARAMS)
def test_conversation(engine, file, i, case):
    reply = engine.start(case["region"], case.get("channel", "web"))
    asked = []
    for n, turn in enumerate(case["turns"]):
        where = f"{case['name']} / turn {n + 1}"
        reply = engine.handle(reply.state, text=turn.get("user"), option=turn.get("option"))
        if reply.question:
            asked.append(reply.question)
        if "scenario" in turn:
            assert reply.state.scenario == turn["scenario"], where
        if "answers" in turn:
            for qid, value in turn["answers"].items():
                assert reply.state.answers.get(qid) == (None if value is None else str(value)), f"{where}: {qid}"
        if "asks" in turn:
            assert reply.question == turn["asks"], f"{where}: asked {reply.question}"
        if "kind" in turn:
            assert reply.kind == turn["kind"], f"{where}: kind {reply.kind}"
        for fragment in turn.get("reply_contains", []):
            assert fragment in reply.text, f"{where}: {fragment!r} not in {reply.text!r}"
        for value in turn.get("offers", []):
            assert value in [o["value"] for o in reply.options], f"{where}: {value} not offered"
    for qid in case.get("never_asked", []):
        assert qid not in asked, f"{case['name']}: asked {qid}"
    final = case.get("final")
    if final:
        assert reply.checklist is not None and reply.question is None, f"{case['name']}: not finished"
        c = reply.checklist
        chosen = {m.id for m in c.sub_matters if m.selected}
        materials = {m.id for m in c.materials}
        if "sub_matters" in final:
            assert chosen == set(final["sub_matters"]), case["name"]
        assert set(final.get("materials_include", [])) <= materials, case["name"]
        assert not set(final.get("materials_exclude", [])) & materials, case["name"]
        for mid in final.get("exempt", []):
            assert next(m for m in c.materials if m.id == mid).exempt, f"{case['name']}: {mid} not exempt"


def test_every_complete_scenario_has_conversations():
    from .test_knowledge_catalogue import COMPLETE

    covered = {c["turns"][0].get("scenario") for _, _, c in CASES} | {f for f, _, _ in CASES}
    assert set(COMPLETE) <= covered


@pytest.mark.parametrize("text, meaning", [
    ("是的", True), ("对，改办", True), ("好", True), ("嗯嗯", True), ("OK", True),
    ("不是，继续", False), ("继续办理出生", False), ("不改了", False), ("不", False),
    ("我们俩都是东营户口", None), ("是要给孩子上户口的那件事吗", None),
])
def test_a_short_yes_or_no_answers_the_question_just_asked(text, meaning):
    """How a reply to "您是想改办…吗？" is read; anything longer is handled as a new sentence."""
    assert nlu.confirms(T.normalize(text)) is meaning
