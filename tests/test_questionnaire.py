"""Every scenario's questionnaire, explored exhaustively per region with the real policy.

- every question that can matter in a region is asked on some path;
- every asked question has options that lead to different outcomes or further questions;
- every path ends with a checklist (a path may end with no sub-matter: the applicant's case
  is outside the scenario, e.g. a foreign spouse; most paths have something to do);
- an answer the policy would never ask is never needed: answering all asked questions
  leaves no sub-matter or material "depending" on an unanswered question.
"""
import datetime as dt

import pytest

from assistant import checklist
from assistant.policy import next_question, outcome

TODAY = dt.date(2026, 11, 21)


def _pairs(kb):
    return [(sid, region) for sid in kb.catalogue["scenarios"] for region in kb.catalogue["scenarios"][sid]["names"]]


def explore(kb, sid, region, limit=4000):
    """All answer paths: {question: set of options taken}, finished answer sets."""
    seen_questions, finished, stack, visited = {}, [], [{}], 0
    while stack and visited < limit:
        answers = stack.pop()
        visited += 1
        qid = next_question(kb, sid, region, answers, {}, TODAY)
        if qid is None:
            finished.append(answers)
            continue
        seen_questions.setdefault(qid, []).append(dict(answers))
        for option in kb.scenarios[sid].questions[qid].options:
            stack.append({**answers, qid: option.value})
    return seen_questions, finished


@pytest.fixture(scope="module")
def explored(kb):
    return {pair: explore(kb, *pair) for pair in _pairs(kb)}


def test_paths_end_in_a_checklist(kb, explored):
    for (sid, region), (_, finished) in explored.items():
        assert finished, (sid, region)
        for answers in finished[:200]:
            c = checklist.build(kb, sid, region, answers, {}, TODAY)
            # no material at all happens (an online filing on a signed commitment), never with no way to apply
            assert c.materials or all(m.channels for m in c.sub_matters), (sid, region, answers)
            # fully answered: nothing is left depending on a question never asked
            assert all(m.applies for m in c.sub_matters), (sid, region, answers)


def test_most_paths_have_something_to_do(kb, explored):
    for (sid, region), (_, finished) in explored.items():
        empty = [a for a in finished[:200] if not checklist.build(kb, sid, region, a, {}, TODAY).sub_matters]
        assert len(empty) < len(finished[:200]), (sid, region)


def test_asked_questions_matter(kb, explored):
    for (sid, region), (asked, _) in explored.items():
        for qid, contexts in asked.items():
            context = contexts[0]
            results = set()
            for option in kb.scenarios[sid].questions[qid].options:
                trial = {**context, qid: option.value}
                results.add((outcome(kb, sid, region, trial, {}, TODAY), next_question(kb, sid, region, trial, {}, TODAY)))
            assert len(results) > 1, f"{sid}/{region}: {qid} asked but no option changes anything"


def test_every_question_is_reachable_in_some_region(kb, explored):
    for sid, scenario in kb.scenarios.items():
        asked_anywhere = set()
        for (s, _), (asked, _) in explored.items():
            if s == sid:
                asked_anywhere |= set(asked)
        assert set(scenario.questions) == asked_anywhere, f"{sid}: never asked {set(scenario.questions) - asked_anywhere}"


def test_unknown_answers_keep_every_case(kb):
    """不知道 for every question: the checklist covers each case (items marked as depending)."""
    from knowledge.conditions import UNKNOWN

    for sid, region in _pairs(kb):
        answers = {}
        while (qid := next_question(kb, sid, region, answers, {}, TODAY)) is not None:
            answers[qid] = UNKNOWN
        c = checklist.build(kb, sid, region, answers, {}, TODAY)
        conditional = [m for m in c.sub_matters if not m.applies] + [m for m in c.materials if m.condition]
        if kb.scenarios[sid].questions:
            assert conditional or all(m.applies for m in c.sub_matters), (sid, region)
        for m in c.sub_matters:
            assert m.applies or m.condition, (sid, region, m.id)
