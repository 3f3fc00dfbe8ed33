"""1,000 random conversations: random buttons, random free text, random corrections.

No turn may raise, every finished conversation has a checklist with something to do (or
an explicit "not applicable" reply), and the state never holds an answer to a question
its other answers hide.
"""
import random

from knowledge.conditions import UNKNOWN

from assistant.dialogue import DialogueError
from assistant.policy import askable

NOISE = ["", "   ", "？？？", "😀👍", "asdf qwer", "<script>alert(1)</script>", "' OR 1=1 --", "你好", "谢谢",
         "我不知道要办什么", "今天天气不错", "x" * 3000, "办办办", "上一步", "重新开始", "我的回答", "多少钱", "在哪办",
         "要多久", "要带什么材料", "刚才说错了", "不办这个了，我要开饭店", "换一个，我要办退休"]


def _free_text(rng, kb, state, reply):
    if state.scenario and reply.question and rng.random() < 0.6:
        q = kb.scenarios[state.scenario].questions[reply.question]
        option = rng.choice(q.options)
        phrase = rng.choice([option.label, *option.aliases])
        return rng.choice(["", "嗯，", "我们", "刚才说错了，"]) + phrase
    if not state.scenario and rng.random() < 0.7:
        scenario = kb.scenarios[rng.choice(sorted(kb.scenarios))]
        return rng.choice([*scenario.examples, *scenario.aliases])
    return rng.choice(NOISE)


def test_random_conversations(kb, engine):
    rng = random.Random(20261121)
    regions = [r for r in kb.catalogue["regions"]]
    finished = 0
    for n in range(1000):
        reply = engine.start(rng.choice(regions), rng.choice(["web", "hotline", "kiosk"]))
        for _ in range(rng.randint(3, 25)):
            roll = rng.random()
            try:
                if reply.options and roll < 0.6:
                    reply = engine.handle(reply.state, option=rng.choice(reply.options)["value"])
                elif roll < 0.65 and reply.question:
                    reply = engine.handle(reply.state, option=f"answer:{reply.question}:{UNKNOWN}")
                elif roll < 0.7 and reply.state.answers:
                    reply = engine.handle(reply.state, option=f"cmd:change:{rng.choice(list(reply.state.answers))}")
                else:
                    reply = engine.handle(reply.state, text=_free_text(rng, kb, reply.state, reply))
            except DialogueError as exc:  # only for a malformed option, which the buttons never send
                raise AssertionError(f"conversation {n}: {exc}") from exc
            state = reply.state
            if state.scenario:
                scenario = kb.scenarios[state.scenario]
                for qid in state.answers:
                    assert askable(scenario.questions[qid], state.answers), (n, qid, state.answers)
            if reply.kind == "checklist":
                assert reply.checklist.sub_matters and (reply.checklist.materials
                                                        or all(m.channels for m in reply.checklist.sub_matters)), n
            if reply.kind == "not_applicable":
                assert not reply.checklist.sub_matters
        finished += reply.kind in ("checklist", "not_applicable")
    assert finished > 100  # the walk reaches the end often enough to test it
