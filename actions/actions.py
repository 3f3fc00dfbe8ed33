"""Custom actions on rasa-sdk: the same code behind the real action server
(`python -m rasa_sdk --actions actions`) and in-process for the embedded service
(actions/embedded.py runs them through rasa-sdk's ActionExecutor).

Slots (assistant/rasa/domain.yml): region, channel, yici_state (the dialogue state),
scenario, answers, selection, situation_answer (the form's requested slot).
A button payload starting with "option:" is an option value (scenario:…, answer:…, toggle:…, cmd:…).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from assistant import checklist as C
from assistant import nlu
from assistant.dialogue import DialogueError, Reply
from assistant.policy import next_question, relevant_questions
from assistant.render import render_text
from assistant.state import DialogueState

from .runtime import engine

OPTION_PREFIX = "option:"


def _buttons(options: List[Dict[str, str]]) -> List[Dict[str, str]]:
    return [{"title": o["label"], "payload": OPTION_PREFIX + o["value"]} for o in options]


def _state(tracker: Tracker) -> DialogueState:
    saved = tracker.get_slot("yici_state")
    if isinstance(saved, dict):
        return DialogueState.from_dict(saved)
    return DialogueState(tracker.get_slot("region") or "dongying", tracker.get_slot("channel") or "web",
                         knowledge_version=engine().kb.version)


def _say(dispatcher: CollectingDispatcher, reply: Reply) -> List[Dict[Text, Any]]:
    payload = {"kind": reply.kind, "question": reply.question, "done": reply.done}
    if reply.checklist is not None:
        payload["checklist"] = reply.checklist.to_dict()
    dispatcher.utter_message(text=reply.text, buttons=_buttons(reply.options), json_message=payload)
    s = reply.state
    return [SlotSet("yici_state", s.to_dict()), SlotSet("scenario", s.scenario), SlotSet("answers", s.answers),
            SlotSet("selection", s.selection)]


class ActionYiciTurn(Action):
    """One whole turn of the embedded dialogue engine (identify, ask, extract, checklist)."""

    def name(self) -> Text:
        return "action_yici_turn"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict):
        text = (tracker.latest_message or {}).get("text") or ""
        state = _state(tracker)
        eng = engine()
        try:
            if tracker.get_slot("yici_state") is None and not text:
                reply = eng.start(state.region, state.channel)
            elif text.startswith(OPTION_PREFIX):
                reply = eng.handle(state, option=text[len(OPTION_PREFIX):])
            else:
                reply = eng.handle(state, text=text)
        except DialogueError as exc:
            dispatcher.utter_message(text=str(exc), json_message={"error": exc.code})
            return []
        return _say(dispatcher, reply)


class ActionIdentifyScenario(Action):
    """Which scenario the latest message means: sets `scenario`, offers choices when unsure."""

    def name(self) -> Text:
        return "action_identify_scenario"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict):
        text = (tracker.latest_message or {}).get("text") or ""
        region = tracker.get_slot("region") or "dongying"
        found = engine().identifier.identify(text, region)
        result = found.to_dict()
        if found.best is None:
            dispatcher.utter_message(response="utter_nothing_fits", json_message=result)
            return [SlotSet("scenario", None)]
        if found.not_published:
            names = "、".join(engine().kb.regions[r].name for r in found.best.publishers)
            dispatcher.utter_message(text=f"本地区未发布“{found.best.name}”，发布地区：{names}。", json_message=result)
            return [SlotSet("scenario", None)]
        if found.alternatives:
            choices = [found.best, *found.alternatives]
            dispatcher.utter_message(text="您想办理的是哪一件事？", json_message=result,
                                     buttons=[{"title": c.name, "payload": f"{OPTION_PREFIX}scenario:{c.scenario}"}
                                              for c in choices])
            return [SlotSet("scenario", None)]
        return [SlotSet("scenario", found.best.scenario), SlotSet("answers", {})]


class ValidateSituationForm(FormValidationAction):
    """The situation questionnaire as a Rasa form: it requests `situation_answer` while the
    policy still has a question whose answer changes the outcome."""

    def name(self) -> Text:
        return "validate_situation_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> List[Text]:
        scenario, region = tracker.get_slot("scenario"), tracker.get_slot("region") or "dongying"
        if not scenario:
            return []
        pending = next_question(engine().kb, scenario, region, tracker.get_slot("answers") or {},
                                tracker.get_slot("selection") or {})
        return ["situation_answer"] if pending else []

    def validate_situation_answer(self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                  domain: DomainDict) -> Dict[Text, Any]:
        kb = engine().kb
        scenario_id, region = tracker.get_slot("scenario"), tracker.get_slot("region") or "dongying"
        answers = dict(tracker.get_slot("answers") or {})
        selection = tracker.get_slot("selection") or {}
        pending = next_question(kb, scenario_id, region, answers, selection)
        text = str(slot_value or "")
        if text.startswith(OPTION_PREFIX + "answer:"):
            qid, _, value = text[len(OPTION_PREFIX + "answer:"):].partition(":")
            found = {qid: value} if qid in kb.scenarios[scenario_id].questions else {}
        else:
            region_words = [kb.regions[region].name, *kb.regions[region].aliases]
            found = nlu.extract_answers(kb.scenarios[scenario_id], text, relevant_questions(kb, scenario_id, region),
                                        pending, region_words)
        if not found:
            dispatcher.utter_message(response="utter_not_understood")
        answers.update(found)
        still = next_question(kb, scenario_id, region, answers, selection)
        return {"answers": answers, "situation_answer": None if still else "done"}


class ActionAskSituationAnswer(Action):
    """Asks the pending situation question with its options as buttons."""

    def name(self) -> Text:
        return "action_ask_situation_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict):
        kb = engine().kb
        scenario_id, region = tracker.get_slot("scenario"), tracker.get_slot("region") or "dongying"
        qid = next_question(kb, scenario_id, region, tracker.get_slot("answers") or {}, tracker.get_slot("selection") or {})
        if qid is None:
            return []
        q = kb.scenarios[scenario_id].questions[qid]
        buttons = [{"title": o.label, "payload": f"{OPTION_PREFIX}answer:{qid}:{o.value}"} for o in q.options]
        dispatcher.utter_message(text=q.text, buttons=buttons, json_message={"question": qid})
        return []


class ActionBuildChecklist(Action):
    """The one-time notice for the answers so far (text for chat/SMS, JSON for front ends)."""

    def name(self) -> Text:
        return "action_build_checklist"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict):
        scenario_id, region = tracker.get_slot("scenario"), tracker.get_slot("region") or "dongying"
        if not scenario_id:
            dispatcher.utter_message(response="utter_ask_scenario")
            return []
        result = C.build(engine().kb, scenario_id, region, tracker.get_slot("answers") or {},
                         tracker.get_slot("selection") or {})
        dispatcher.utter_message(text=render_text(result), json_message={"checklist": result.to_dict()})
        return [SlotSet("checklist", result.to_dict())]


class ActionLookupMatter(Action):
    """A single matter: best matches for the latest message with department, time limit, fee."""

    def name(self) -> Text:
        return "action_lookup_matter"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict):
        text = (tracker.latest_message or {}).get("text") or ""
        hits = engine().identifier.find_matters(text, k=3)
        kb = engine().kb
        lines = []
        for hit in hits:
            if hit.kind == "lifecycle":
                m = kb.matters[hit.key.split(":", 1)[1]]
                deps = "；".join(f"{kb.regions[r].name}：{(lv.get('district') or lv.get('city')).lead or ''}"
                                for r, lv in m.departments.items() if (lv.get('district') or lv.get('city')))
                lines.append(f"{m.name}（{m.type or '事项'}，{m.stage}·{m.scene}）{deps}")
            else:
                sid, mid = hit.key.split("/", 1)
                m = kb.scenarios[sid].matters[mid]
                lines.append(f"{m.name}（{m.department}；属于“{kb.scenarios[sid].title}”一件事）")
        dispatcher.utter_message(text="\n".join(lines) or "没有找到相关事项。",
                                 json_message={"matters": [h.__dict__ for h in hits]})
        return []
