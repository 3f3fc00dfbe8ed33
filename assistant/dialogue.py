"""The conversation: from a first sentence to the one-time notice, one turn at a time.

handle(state, text|option) -> Reply. The reply carries the new state; the state holds only
the scenario, the answers and the selection, and every turn recomputes the next question
and the checklist from them (flows are data in knowledge/, outcomes come from checklist.py).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Optional

from knowledge.conditions import UNKNOWN
from knowledge.loader import KnowledgeBase
from knowledge.schema import Scenario

from . import checklist as C
from . import nlu
from . import text as T
from .policy import askable, next_question, relevant_questions
from .state import DialogueState

UNKNOWN_LABEL = "不确定"
MIN_CHOICE_SCORE = 0.01  # when unsure whether anything fits, scenarios offered must reach this
MAX_TEXT = 2000  # longer messages are cut: nobody describes a situation in more


class DialogueError(ValueError):
    """A request the conversation cannot take (unknown region, bad option...)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass
class Reply:
    text: str
    state: DialogueState
    options: list[dict] = field(default_factory=list)  # [{label, value}]
    kind: str = "question"  # greeting|choose|question|checklist|info|redirect|not_published|not_applicable
    question: Optional[str] = None  # id of the question asked
    checklist: Optional[C.Checklist] = None

    @property
    def done(self) -> bool:
        return self.checklist is not None and self.question is None


def default_engine() -> "Engine":
    """The embedded default for a process of its own (terminal chat, rasa action server): the
    repository's knowledge, pickled per version under the cache, and the in-process index."""
    from knowledge.loader import load_cached

    from .search.dense import DEFAULT_CACHE
    from .search.identify import shared_identifier

    kb = load_cached(DEFAULT_CACHE)
    return Engine(kb, shared_identifier(kb))


class Engine:
    def __init__(self, kb: KnowledgeBase, identifier, today: Optional[dt.date] = None):
        self.kb = kb
        self.identifier = identifier
        self.today = today
        self._relevant: dict[tuple[str, str], list[str]] = {}  # knowledge-derived, not conversation state

    # ------------------------------------------------------------------ entry points
    def start(self, region: str, channel: str = "web") -> Reply:
        if region not in self.kb.regions or region not in self.kb.catalogue.get("regions", {}):
            raise DialogueError("unknown_region", f"未知的地区：{region}")
        state = DialogueState(region, channel, knowledge_version=self.kb.version)
        return self._welcome(state)

    def handle(self, state: DialogueState, text: Optional[str] = None, option: Optional[str] = None) -> Reply:
        state = self._next_turn(state)
        if option is not None:
            return self._option(state, option)
        text = (text or "").strip()[:MAX_TEXT]
        if not T.normalize(text):
            return self._reask(state, "请说一下您要办理的事情，例如“孩子出生后要办哪些手续”。")
        return self._text(state, text)

    def select(self, state: DialogueState, changes: dict[str, bool]) -> Reply:
        """Choose or drop optional sub-matters (套餐式) all at once; the checklist recomputes."""
        state = self._next_turn(state)
        if not state.scenario:
            raise DialogueError("no_scenario", "还没有确定要办的一件事，无法选择事项。")
        items = self._listing(state)
        for mid, chosen in changes.items():
            if mid not in items:
                raise DialogueError("unknown_sub_matter", f"本事项清单中没有“{mid}”。")
            if items[mid].mandatory and not chosen:
                raise DialogueError("mandatory_sub_matter", f"“{items[mid].listed_as}”是必办事项，不能取消。")
        state.selection.update({mid: bool(v) for mid, v in changes.items() if not items[mid].mandatory})
        return self._progress(state, "", force_checklist=True)

    def _next_turn(self, state: DialogueState) -> DialogueState:
        state = replace(state, answers=dict(state.answers), selection=dict(state.selection),
                        offered=list(state.offered), turns=state.turns + 1)
        if state.scenario is not None and state.scenario not in self.kb.scenarios:
            state = state.reset()  # knowledge changed under an old session: start cleanly
        return state

    # ------------------------------------------------------------------ options (buttons)
    def _option(self, state: DialogueState, option: str) -> Reply:
        kind, _, rest = option.partition(":")
        if kind == "cmd":
            return self._command(state, rest)
        if kind == "scenario" and rest in self.kb.scenarios:
            said = state.offered_for if rest in state.offered else ""
            if state.scenario and state.scenario != rest:
                return self._switch_to(state, rest, said)
            return self._enter(state, rest, said)
        if kind == "answer" and state.scenario:
            qid, _, value = rest.partition(":")
            q = self._scenario(state).questions.get(qid)
            if q and (value == UNKNOWN or value in {o.value for o in q.options}):
                return self._answered(state, {qid: value})
        if kind == "toggle" and state.scenario:
            ids = self._listing(state)
            if rest in ids and not ids[rest].mandatory:
                state.selection[rest] = not state.selection.get(rest, True)
                return self._progress(state, "已更新所选事项。")
            if rest in ids:
                return self._progress(state, f"“{ids[rest].listed_as}”是必办事项，不能取消。")
        raise DialogueError("bad_option", f"无法识别的选项：{option}")

    def _command(self, state: DialogueState, command: str) -> Reply:
        if command == "restart":
            return self._welcome(state.reset(), "好的，我们重新开始。")
        if command == "back":
            if state.answers:
                state.answers.pop(next(reversed(state.answers)))
                return self._progress(state, "好的，回到上一题。")
            if state.scenario:
                return self._welcome(state.reset(), "好的，回到开始。")
            return self._welcome(state)
        if command == "summary":
            return self._summary(state)
        if command.startswith("change:") and state.scenario:
            qid = command.split(":", 1)[1]
            if qid in state.answers:  # ask it again; the other answers stay
                state.answers.pop(qid)
                return self._progress(state, "好的，请重新回答：", only=qid)
        if command == "checklist" and state.scenario:
            return self._progress(state, "", force_checklist=True)
        if command == "continue" and state.scenario:  # "继续办理…" instead of another scenario offered
            state.offered, state.offered_for = [], ""
            return self._progress(state, "好的，继续办理。")
        raise DialogueError("bad_option", f"无法识别的命令：{command}")

    # ------------------------------------------------------------------ free text
    def _text(self, state: DialogueState, text: str) -> Reply:
        scenario = self._scenario(state) if state.scenario else None
        pending = self._pending(state) if scenario else None
        questions = self._questions(state.scenario, state.region) if scenario else []
        u = nlu.understand(scenario, text, questions, pending, self._region_words(state.region))

        if "restart" in u.intents:
            return self._welcome(state.reset(), "好的，我们重新开始。")
        if "back" in u.intents and not u.answers:
            return self._command(state, "back")
        if "summary" in u.intents and not u.answers:
            return self._summary(state)

        if scenario is None:
            if state.offered:
                index = nlu.ordinal(u.text)
                if index is not None and index < len(state.offered):
                    return self._enter(state, state.offered[index], state.offered_for)
            return self._identify(state, text, u)

        # Scenarios offered last turn (switch or not? a region's alternatives) count for this reply only.
        offered, offered_for = state.offered, state.offered_for
        state.offered, state.offered_for = [], ""
        if offered:
            index, yes = nlu.ordinal(u.text), nlu.confirms(u.text)
            if index is None and yes and len(offered) == 1:
                index = 0
            if index is not None and index < len(offered):
                return self._switch_to(state, offered[index], offered_for)
            if yes is False:
                return self._command(state, "continue")

        if "switch" in u.intents:  # "不办这个了，我要办离婚": the words after the cue name the new matter
            found = self.identifier.identify(text, state.region, with_matters=False)
            if found.best and found.best.scenario != state.scenario:
                return self._switch(state, text, found)
        # Free text changes an earlier answer only when the user says it is a correction.
        answers = {q: v for q, v in u.answers.items()
                   if q not in state.answers or state.answers[q] == v or "correction" in u.intents}
        news = any(state.answers.get(q) != v for q, v in answers.items())
        # "租房提取多久能到账" names an answer already given only to say what it asks about
        if answers and (news or not u.side):
            return self._answered(state, answers, corrected="correction" in u.intents)
        if u.side:
            return self._side_question(state, u)
        # Not an answer: maybe another scenario ("不办这个了，我要开饭店") or something off-topic.
        found = self.identifier.identify(text, state.region, with_matters=True)
        if found.best and found.best.scenario != state.scenario and ("switch" in u.intents or found.p_any >= 0.5):
            # unasked, with answers to lose: ask first (a region that lacks it only informs, below)
            if state.answers and "switch" not in u.intents and not found.not_published \
                    and found.best.scenario not in offered:
                return self._confirm_switch(state, text, found)
            return self._switch(state, text, found)
        if "checklist" in u.intents:
            return self._progress(state, "", force_checklist=True)
        if "thanks" in u.intents:
            return self._progress(state, "不客气。")
        return self._progress(state, "抱歉，我没有理解这句话与当前事项的关系。")

    def _identify(self, state: DialogueState, text: str, u: nlu.Understanding) -> Reply:
        found = self.identifier.identify(text, state.region)
        if found.best is None:
            unsure = [c for c in found.candidates[:3] if c.published and c.score >= MIN_CHOICE_SCORE]
            if unsure and found.p_any >= found.threshold / 2:  # maybe something fits: let them pick
                return self._choose(state, text, unsure, "不太确定您要办的是哪一件事，是下面的哪一件吗？")
            return self._nothing_fits(state, found, u)
        if found.not_published:
            return self._not_published(state, found)
        if found.alternatives:
            return self._choose(state, text, [found.best, *found.alternatives], "您想办理的是下面哪一件事？")
        return self._enter(state, found.best.scenario, text)

    def _choose(self, state: DialogueState, text: str, choices: list, question: str) -> Reply:
        state.offered, state.offered_for = [c.scenario for c in choices], text
        return Reply(question, state, kind="choose",
                     options=[{"label": c.name, "value": f"scenario:{c.scenario}"} for c in choices]
                     + [{"label": "都不是，重新描述", "value": "cmd:restart"}])

    def _enter(self, state: DialogueState, scenario_id: str, text: str) -> Reply:
        if state.region not in self.kb.scenarios[scenario_id].regions:
            publishers = self._publisher_names(scenario_id)
            return Reply(f"{self.kb.regions[state.region].name}未发布“{self.kb.scenarios[scenario_id].title}”"
                         f"一件事（发布地区：{publishers}）。", state, kind="not_published",
                         options=self._region_menu(state))
        state.scenario, state.offered, state.offered_for = scenario_id, [], ""
        state.answers, state.selection = {}, {}
        scenario = self._scenario(state)
        if text:  # the first sentence often answers questions already
            questions = self._questions(scenario_id, state.region)
            state.answers.update(nlu.extract_answers(scenario, text, questions, None, self._region_words(state.region)))
            self._drop_unreachable(state)
        name = scenario.regions[state.region].name
        return self._progress(state, f"好的，为您办理{name}。")

    def _switch(self, state: DialogueState, text: str, found) -> Reply:
        if found.not_published:
            return self._not_published(state, found)
        # answers come from the words after the cue: in "不办这个了，…" 不办 answers nothing
        return self._switch_to(state, found.best.scenario, nlu.after_cue(T.normalize(text), "switch"))

    def _switch_to(self, state: DialogueState, scenario_id: str, text: str) -> Reply:
        old = self._scenario(state).title
        reply = self._enter(state, scenario_id, text)
        if reply.kind != "not_published":
            reply.text = f"已从“{old}”切换。" + reply.text
        return reply

    def _confirm_switch(self, state: DialogueState, text: str, found) -> Reply:
        """Free text that answers nothing here but fits another scenario, once answers were given:
        ask before leaving them ("孩子爸爸去世了" may be a detail, not a new matter)."""
        old, new = (_quoted(n) for n in (self._scenario(state).regions[state.region].name, found.best.name))
        state.offered, state.offered_for = [found.best.scenario], text
        return Reply(f"您是想改办{new}吗？改办后，{old}已回答的{len(state.answers)}个问题不再保留。", state,
                     kind="choose", options=[{"label": f"改办{new}", "value": f"scenario:{found.best.scenario}"},
                                             {"label": f"继续办理{old}", "value": "cmd:continue"}])

    def _answered(self, state: DialogueState, answers: dict[str, str], corrected: bool = False) -> Reply:
        changed = [qid for qid, v in answers.items() if state.answers.get(qid) not in (None, v)]
        for qid, value in answers.items():
            state.answers.pop(qid, None)  # re-insert: the latest answer is the last one given
            state.answers[qid] = value
        dropped = self._drop_unreachable(state)
        note = "已更正。" if (changed or corrected) else ""
        if dropped:
            names = "、".join(self._scenario(state).questions[q].text.rstrip("？?") for q in dropped)
            note += f"（根据新的回答，不再需要：{names}）"
        return self._progress(state, note)

    def _drop_unreachable(self, state: DialogueState) -> list[str]:
        """Answers to questions that the other answers now hide are no longer part of the case."""
        scenario = self._scenario(state)
        dropped = []
        changed = True
        while changed:
            changed = False
            for qid in list(state.answers):
                q = scenario.questions.get(qid)
                if q is None or not askable(q, state.answers):
                    state.answers.pop(qid)
                    dropped.append(qid)
                    changed = True
        return dropped

    # ------------------------------------------------------------------ replies
    def _progress(self, state: DialogueState, prefix: str, force_checklist: bool = False,
                  only: Optional[str] = None) -> Reply:
        scenario = self._scenario(state)
        qid = only or (None if force_checklist else self._pending(state))
        if qid is not None:
            q = scenario.questions[qid]
            text = f"{prefix}{q.text}" + (f"（{q.help}）" if q.help and state.channel != "kiosk" else "")
            options = [{"label": o.label, "value": f"answer:{qid}:{o.value}"} for o in q.options]
            options.append({"label": UNKNOWN_LABEL, "value": f"answer:{qid}:{UNKNOWN}"})
            if state.answers:
                options.append({"label": "上一步", "value": "cmd:back"})
            return Reply(text.strip(), state, options=options, kind="question", question=qid)
        result = C.build(self.kb, state.scenario, state.region, state.answers, state.selection, self._today())
        if not result.sub_matters:
            return Reply(f"{prefix}根据您的回答，{result.scenario_name}中没有适用于您情况的事项"
                         "（例如涉外、涉港澳台或其他特殊情形另有办理渠道）。如回答有误，可以修改。", state,
                         kind="not_applicable", checklist=result,
                         options=[{"label": "查看我的回答", "value": "cmd:summary"}, {"label": "上一步", "value": "cmd:back"},
                                  {"label": "重新开始", "value": "cmd:restart"}])
        n_mat = sum(1 for m in result.materials if not m.exempt)
        n_exempt = len(result.materials) - n_mat
        chosen = [m for m in result.sub_matters if m.selected]
        text = (f"{prefix}根据您的情况，共需办理{len(chosen)}个事项，准备{n_mat}项材料"
                + (f"（另有{n_exempt}项可通过数据共享免于提交）" if n_exempt else "") + "。清单如下。")
        if any(not m.applies for m in chosen) or any(m.condition for m in result.materials):
            text += "部分事项或材料视情况而定，清单中已注明适用情形。"
        options = [{"label": f"{'取消' if m.selected else '加选'}：{m.listed_as}", "value": f"toggle:{m.id}"}
                   for m in result.sub_matters if not m.mandatory]
        options += [{"label": "查看我的回答", "value": "cmd:summary"}, {"label": "重新开始", "value": "cmd:restart"}]
        return Reply(text.strip(), state, options=options, kind="checklist", checklist=result)

    def _summary(self, state: DialogueState) -> Reply:
        if not state.scenario:
            return self._welcome(state, "您还没有回答任何问题。")
        scenario = self._scenario(state)
        items = C.answer_summary(scenario, state.answers)
        if not items:
            return self._progress(state, "您还没有回答情形问题。")
        lines = [f"{i + 1}. {it['question']} —— {it['answer']}" for i, it in enumerate(items)]
        options = [{"label": f"修改：{it['question'].rstrip('？?')}", "value": f"cmd:change:{it['question_id']}"}
                   for it in items]
        reply = self._progress(state, "您的回答：\n" + "\n".join(lines) + "\n")
        reply.options = options + reply.options
        return reply

    def _side_question(self, state: DialogueState, u: nlu.Understanding) -> Reply:
        """Where / when / fee / time limit / materials of one matter, without losing the questionnaire."""
        result = C.build(self.kb, state.scenario, state.region, state.answers, state.selection, self._today())
        named = [m for m in result.sub_matters if T.normalize(m.listed_as)[:4] in u.text
                 or any(T.normalize(a) in u.text for a in self._scenario(state).matters[m.id].aliases if len(a) >= 2)]
        targets = named or result.selected
        parts = []
        if "materials" in u.side:
            mats = [m.name for m in result.materials if not m.exempt and (not named or set(m.needed_by) & {t.id for t in named})]
            parts.append("目前需要准备：" + "、".join(mats) + "（回答完问题后清单会更准确）")
        for m in targets[:3 if named else 5]:
            bits = []
            if "place" in u.side or "hours" in u.side:
                place = "；".join(p["name"] + (f"（{p['hours']}）" if p.get("hours") else "") for p in m.places)
                bits.append(f"办理地点：{place or '以当地公布为准'}；渠道：{'、'.join(m.channels) or '窗口'}")
            if "fee" in u.side:
                bits.append(f"收费：{m.fee}")
            if "time_limit" in u.side:
                t = m.time_limit
                bits.append("办理时限：" + ("；".join(x for x in (f"法定{t['statutory']}" if t["statutory"] else "",
                                                           f"承诺{t['promised']}" if t["promised"] else "") if x)
                                         or "未查到时限，以窗口告知为准"))
            if bits:
                parts.append(f"{m.name}——" + "；".join(bits))
        reply = self._progress(state, "\n".join(parts) + "\n\n")
        reply.kind = "info" if reply.question else reply.kind
        return reply

    def _nothing_fits(self, state: DialogueState, found, u: nlu.Understanding) -> Reply:
        if "greeting" in u.intents or "thanks" in u.intents:
            return self._welcome(state, "您好！" if "greeting" in u.intents else "不客气。")
        matters = [m for m in found.matters[:3] if m.score >= 0.5]
        if matters:
            names = "、".join(m.name for m in matters)
            text = (f"没有找到与您描述对应的“一件事”。相关的单项事项有：{names}。"
                    "您也可以换个说法描述您遇到的情况，或从下面选择。")
        else:
            text = "抱歉，我主要帮您办理政务服务“一件事”，这个问题我没法回答。您可以说说要办的事，或从下面选择。"
        return Reply(text, state, kind="redirect", options=self._region_menu(state))

    def _not_published(self, state: DialogueState, found) -> Reply:
        best = found.best
        region = self.kb.regions[state.region].name
        text = f"{region}目前没有发布“{self.kb.scenarios[best.scenario].title}”一件事（发布地区：{self._publisher_names(best.scenario)}）。"
        local = [c for c in found.candidates if c.published and c.score >= found.threshold / 2][:3]
        if local:
            state.offered, state.offered_for = [c.scenario for c in local], found.text
            return Reply(text + "本地区相近的一件事有：", state, kind="not_published",
                         options=[{"label": c.name, "value": f"scenario:{c.scenario}"} for c in local])
        return Reply(text + "您可以咨询当地政务服务中心，或选择本地区已发布的事项。", state, kind="not_published",
                     options=self._region_menu(state))

    def _welcome(self, state: DialogueState, prefix: str = "") -> Reply:
        region = self.kb.regions[state.region].name
        if not self.kb.scenarios_of(state.region):
            text = f"{prefix}您好，我是一次告知助手。{region}尚未发布“一件事”目录，您可以描述要办的事，我会告诉您哪些地区有相应的一件事和相关单项事项。"
            return Reply(text, state, kind="greeting")
        text = f"{prefix}您好，我是一次告知助手（{region}）。请说说您要办的事，例如“孩子出生要办哪些手续”。也可以直接选择："
        return Reply(text, state, kind="greeting", options=self._region_menu(state))

    def _reask(self, state: DialogueState, message: str) -> Reply:
        if state.scenario:
            return self._progress(state, message + "\n")
        return self._welcome(state, message)

    # ------------------------------------------------------------------ helpers
    def _scenario(self, state: DialogueState) -> Scenario:
        return self.kb.scenarios[state.scenario]

    def _listing(self, state: DialogueState) -> dict:
        """The region's sub-matters of the current scenario by id (with mandatory, listed_as)."""
        listing = self._scenario(state).regions.get(state.region)
        return {i.matter: i for i in listing.sub_matters} if listing else {}

    def _pending(self, state: DialogueState) -> Optional[str]:
        return next_question(self.kb, state.scenario, state.region, state.answers, state.selection, self._today())

    def _questions(self, scenario_id: str, region: str) -> list[str]:
        key = (scenario_id, region)
        if key not in self._relevant:
            self._relevant[key] = relevant_questions(self.kb, scenario_id, region)
        return self._relevant[key]

    def _today(self) -> dt.date:
        return self.today or dt.date.today()

    def _region_words(self, region: str) -> list[str]:
        r = self.kb.regions[region]
        return [r.name, *r.aliases]

    def _publisher_names(self, scenario_id: str) -> str:
        return "、".join(self.kb.regions[r].name for r in self.kb.publishers(scenario_id))

    def _region_menu(self, state: DialogueState, limit: int = 8) -> list[dict]:
        scenarios = self.kb.scenarios_of(state.region)
        person = [s for s in scenarios if s.kind == "person"]
        ordered = (person + [s for s in scenarios if s.kind != "person"])[:limit]
        return [{"label": s.regions[state.region].name, "value": f"scenario:{s.id}"} for s in ordered]


def _quoted(name: str) -> str:
    """Regions' own names often quote themselves already ("“出生”一件事")."""
    return name if "“" in name else f"“{name}”"
