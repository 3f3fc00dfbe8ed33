"""Questionnaire policy: which situation question to ask next ("ask only what is needed").

A question is asked only when, given what is already known, some answer to it would
change the outcome (which selected sub-matters apply, which materials they need), or
would open a later question that does. Questions are taken in the scenario's declared
order. Everything is recomputed from the answers on every turn.
"""
from __future__ import annotations

import datetime as dt
from typing import Mapping, Optional

from knowledge import conditions
from knowledge.loader import KnowledgeBase
from knowledge.resolve import resolve
from knowledge.schema import Question


def outcome(kb: KnowledgeBase, scenario: str, region: str, answers: Mapping[str, str],
            selection: Mapping[str, bool], on: dt.date) -> frozenset:
    """What the applicant would be told: applicable sub-matters and needed materials."""
    out = set()
    for r in resolve(kb, scenario, region, answers, on):
        if not r.listing.mandatory and not selection.get(r.id, True):
            continue
        out.add(("matter", r.id, r.applies))
        out.update(("material", r.id, u.use.material, u.use.holder, u.use.form, u.use.copies, u.applies,
                    u.exemption is not None) for u in r.materials)
    return frozenset(out)


def askable(q: Question, answers: Mapping[str, str]) -> bool:
    """Its gate holds or may hold (an unknown earlier answer does not hide a question)."""
    return conditions.holds(q.ask_if, answers) is not False


def _needed(kb, scenario_id, region, qid, answers, selection, on, depth=0) -> bool:
    """Some two answers to the question tell the applicant different things, or one of
    them opens a later question that does."""
    s = kb.scenarios[scenario_id]
    q = s.questions[qid]
    seen = set()
    for option in q.options:
        trial = {**answers, qid: option.value}
        seen.add(outcome(kb, scenario_id, region, trial, selection, on))
        if len(seen) > 1:
            return True
        if depth < 2:
            for later_id, later in s.questions.items():
                if later_id in trial or not later.ask_if or qid not in later.ask_if:
                    continue
                if conditions.holds(later.ask_if, trial) and _needed(kb, scenario_id, region, later_id, trial,
                                                                      selection, on, depth + 1):
                    return True
    return False


def next_question(kb: KnowledgeBase, scenario_id: str, region: str, answers: Mapping[str, str],
                  selection: Optional[Mapping[str, bool]] = None, on: Optional[dt.date] = None) -> Optional[str]:
    """Id of the next question to ask, or None when the checklist is final."""
    on = on or dt.date.today()
    selection = selection or {}
    for qid, q in kb.scenarios[scenario_id].questions.items():
        if qid in answers or not askable(q, answers):
            continue
        if _needed(kb, scenario_id, region, qid, answers, selection, on):
            return qid
    return None


def relevant_questions(kb: KnowledgeBase, scenario_id: str, region: str) -> list[str]:
    """Questions that can matter at all in this region (others are never asked there)."""
    s = kb.scenarios[scenario_id]
    on = dt.date.today()
    return [qid for qid in s.questions if _needed(kb, scenario_id, region, qid, {}, {}, on)
            or any(qid in (q.ask_if or "") for q in s.questions.values())]
