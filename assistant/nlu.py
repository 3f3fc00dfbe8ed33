"""Understanding one turn of free text inside a conversation.

- intents: restart, back, summary, unknown (不知道), correction, switch, side question
  (where / when / fee / time limit / materials), affirm/deny, thanks/greeting;
- answers: every situation question the text answers, matched through option labels and
  their colloquial aliases (by writing or by sound), with "不是X" read as excluding X.
Scenario identification itself is the search component (assistant.search.identify).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Optional

from knowledge.conditions import UNKNOWN
from knowledge.schema import Question, Scenario

from . import text as T

_CUES = {
    "restart": ("重新开始", "从头开始", "重来", "从头再来", "重新来", "start over", "restart", "清空"),
    "back": ("上一步", "上一题", "返回上一", "回到上一", "退回", "go back", "back"),
    "summary": ("我的回答", "我都回答了", "我回答了什么", "查看回答", "刚才答了什么", "我答了啥", "回答汇总", "my answers"),
    "unknown": ("不知道", "不确定", "不清楚", "说不准", "不太清楚", "不记得", "没数", "不晓得", "dont know", "don't know",
                "not sure"),
    "correction": ("说错了", "更正", "改一下", "改成", "弄错了", "搞错了", "填错了", "选错了", "不对，", "刚才不对", "改为"),
    "switch": ("换一个", "换个事", "办别的", "不办这个", "改办", "我要办的是", "其实是要办", "其实我要", "其实是想"),
    "checklist": ("清单", "结果", "看看材料", "材料单", "直接看", "打印", "给我看"),
    "thanks": ("谢谢", "多谢", "感谢", "thank"),
    "greeting": ("你好", "您好", "在吗", "hello", "hi"),
}
_SIDE = {
    "place": ("在哪", "哪里办", "去哪", "地址", "地点", "窗口", "where"),
    "hours": ("几点", "上班时间", "办公时间", "周末", "开门", "hours"),
    "fee": ("多少钱", "收费", "费用", "要钱", "花钱", "免费", "fee", "cost"),
    "time_limit": ("多久", "几天", "多长时间", "时限", "多快", "当天", "how long"),
    "materials": ("带什么", "要什么材料", "哪些材料", "材料", "准备什么"),
}
_AFFIRM = ("是的", "是", "对", "对的", "嗯", "有", "有的", "要", "需要", "办", "已经", "好的", "可以", "yes", "y", "ok")
_DENY = ("不是", "否", "没有", "没", "不", "不要", "不需要", "不用", "还没", "不办", "no", "n")
_NOTHING = ("没", "无", "都不", "都没", "也不", "也没", "啥也没", "什么都没", "一个也没")  # "none of these"
_ORDINALS = {"第一": 0, "第二": 1, "第三": 2, "第四": 3, "第五": 4, "第六": 5, "一": 0, "二": 1, "三": 2, "四": 3,
             "五": 4, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "a": 0, "b": 1, "c": 2, "d": 3}


@dataclass
class Understanding:
    text: str  # normalised
    intents: set[str] = field(default_factory=set)
    side: set[str] = field(default_factory=set)
    answers: dict[str, str] = field(default_factory=dict)


def has_any(text: str, cues: Iterable[str]) -> bool:
    return any(c in text for c in cues)


def intents(text: str) -> tuple[set[str], set[str]]:
    found = {name for name, cues in _CUES.items() if has_any(text, cues)}
    side = {name for name, cues in _SIDE.items() if has_any(text, cues)}
    # a bare "不知道" is an answer, but "我不知道要办什么" is not about the pending question
    return found, side


def after_cue(norm: str, intent: str) -> str:
    """"不办这个了，我要给孩子上户口" -> "了，我要给孩子上户口": the words after the intent's last cue."""
    ends = [norm.rfind(c) + len(c) for c in _CUES[intent] if c in norm]
    return norm[max(ends):] if ends else norm


_KEEP = ("继续", "不改", "不换", "接着办", "还办这个", "不用改", "continue", "keep")
_CHANGE = ("改办", "换成", "切换", "换吧", "改吧")


def confirms(text: str) -> Optional[bool]:
    """A short yes or no to the question just asked ("是的，改办" / "不是，继续"); None otherwise."""
    bare = re.sub(r"[\W_]+", "", text)
    if not bare or len(bare) > 8:
        return None
    if has_any(bare, _KEEP) or bare in _DENY or bare.startswith(("不是", "不对", "不用", "不要", "no")):
        return False
    if has_any(bare, _CHANGE) or bare in _AFFIRM or bare.startswith(("是", "对", "好", "嗯", "yes", "ok")):
        return True
    return None


def ordinal(text: str) -> Optional[int]:
    t = text.strip().strip("。.！!个项号选")
    t = re.sub(r"^(选|要|就)", "", t)
    return _ORDINALS.get(t.rstrip("个项号"))


# Words that answer only the question just asked ("没有" means no to it, not to anything else).
GENERIC = frozenset({"有", "没有", "没", "是", "不是", "否", "对", "不对", "不清楚", "不知道", "不确定", "需要", "不需要",
                     "要", "不要", "已经", "还没", "还没有", "有的", "没的", "都有", "都没有", "不用"})


def _phrases(option) -> list[str]:
    label = T.normalize(option.label)
    main = re.split(r"[（(]", label)[0]
    out = [label, main, *(T.normalize(a) for a in option.aliases)]
    return [p for p in dict.fromkeys(out) if len(p) >= 2 and p not in GENERIC]


def _localise(text: str, region_words: Iterable[str]) -> str:
    """"我俩都是东营户口" -> "我俩都是本地户口": the region's own name means 本地."""
    for word in sorted(region_words, key=len, reverse=True):
        if len(word) >= 2:
            text = text.replace(word, "本地")
    return text


def _match(phrase: str, text: str, text_pinyin: str) -> float:
    """Strength of a match: its length, a little less when only by sound (买/卖 differ only
    in tone, which pinyin drops); 0 when absent."""
    if phrase in text:
        return len(phrase)
    syllables = T.fuzzy_pinyin(phrase)
    if len(syllables) >= 3 and " " + " ".join(syllables) + " " in text_pinyin:  # speech errors; never short ones
        return len(phrase) - 0.5
    return 0.0


def extract_answers(scenario: Scenario, text: str, questions: Iterable[str], pending: Optional[str],
                    region_words: Iterable[str] = ()) -> dict[str, str]:
    """Answers the text gives to these questions (the pending one also by yes/no/ordinal)."""
    norm = _localise(T.normalize(text), region_words)
    affirmed = T.strip_negated_answer(norm)
    negated = T.negated_spans(norm, T.ANSWER_NEGATIONS)
    aff_pinyin = " " + " ".join(T.fuzzy_pinyin(affirmed)) + " "
    norm_pinyin = " " + " ".join(T.fuzzy_pinyin(norm)) + " "
    answers: dict[str, str] = {}
    questions = list(questions)
    owners = {span: _named_by(scenario, questions, span) for span in negated}
    for qid in questions:
        q: Question = scenario.questions[qid]
        best, best_len, tie = None, 0, False
        excluded = set()
        for option in q.options:
            for phrase in _phrases(option):
                # a phrase that is itself negative ("没有伤病") is looked for in the whole text
                negative = any(n in phrase for n in T.ANSWER_NEGATIONS)
                strength = _match(phrase, norm, norm_pinyin) if negative else _match(phrase, affirmed, aff_pinyin)
                if strength:
                    if strength > best_len:
                        best, best_len, tie = option.value, strength, False
                    elif strength == best_len and option.value != best:
                        tie = True
                elif any(phrase in span for span in negated):  # "不是本地的" rules out 本地的
                    excluded.add(option.value)
        agreeing = set()
        for span in (sp for sp in negated if len(sp) >= 2):
            if qid not in owners.get(span, {qid}):
                continue  # "不是公积金贷款" is about the loan type, not 没有贷款 (no mortgage)
            for o in q.options:
                for ph in _phrases(o):
                    if any(span in n or n in span for n in T.negated_spans(ph, T.ANSWER_NEGATIONS) if len(n) >= 2):
                        agreeing.add(o.value)  # the option itself says "不是…": 都不是本地户口
                    elif span in T.strip_negated_answer(ph):
                        excluded.add(o.value)  # "不是本地户口" rules out 都是本地户口
        if best is None and len(agreeing) == 1:
            best, tie = next(iter(agreeing)), False
        if best is not None and not tie:
            answers[qid] = best
        elif excluded and len(q.options) - len(excluded) == 1:
            answers[qid] = next(o.value for o in q.options if o.value not in excluded)
    if pending and not answers:  # a bare yes/no/ordinal answers the question just asked, nothing else
        value = _pending_answer(scenario.questions[pending], norm)
        if value is not None:
            answers[pending] = value
    return answers


def _named_by(scenario: Scenario, questions: list[str], span: str) -> set[str]:
    """The questions with the longest option phrase inside a negated span (none: every question)."""
    best, named = 0, set()
    for qid in questions:
        for option in scenario.questions[qid].options:
            for phrase in _phrases(option):
                if phrase in span and len(phrase) >= best:
                    named = named | {qid} if len(phrase) == best else {qid}
                    best = len(phrase)
    return named or set(questions)


def _pending_answer(q: Question, norm: str) -> Optional[str]:
    """A reply to the question just asked: 不知道, an ordinal, an option's own generic words, a bare
    yes/no, or a denial ("没有伤病") when one option means none of the others."""
    bare = norm.strip(" 。.！!，,~")
    if has_any(bare, _CUES["unknown"]) and len(bare) <= 12:
        return UNKNOWN
    index = ordinal(bare)
    if index is not None and index < len(q.options):
        return q.options[index].value
    for o in q.options:  # an option's own words too generic to read elsewhere ("都没有")
        if bare in {T.normalize(o.label), *(T.normalize(a) for a in o.aliases)}:
            return o.value
    values = [o.value for o in q.options]
    yes = next((v for v in values if v in ("yes", "y", "true", "has", "need")), None)
    no = next((v for v in values if v in ("no", "n", "false", "none", "not_needed")), None)
    if yes and no and len(bare) <= 6:
        if bare in _DENY or bare.startswith(("不", "没", "否", "no")):
            return no
        if bare in _AFFIRM or bare.startswith(("是", "有", "对", "要", "已", "yes")):
            return yes
    if no and not yes and len(bare) <= 6 and bare.startswith(_NOTHING) and not _other_denies(q, bare, no):
        return no  # "没有伤病" to "是否受伤、致残或患病": none of the options
    return None


def _other_denies(q: Question, bare: str, no: str) -> bool:
    """Whether another option itself says this denial ("没有评残" is 致残但还没有评残, not "none")."""
    said = [n for n in T.negated_spans(bare, T.ANSWER_NEGATIONS) if len(n) >= 2]
    return any(n in s or s in n for o in q.options if o.value != no for p in _phrases(o)
               for n in T.negated_spans(p, T.ANSWER_NEGATIONS) if len(n) >= 2 for s in said)


def understand(scenario: Optional[Scenario], text: str, questions: Iterable[str], pending: Optional[str],
               region_words: Iterable[str] = ()) -> Understanding:
    norm = T.normalize(text)
    found, side = intents(norm)
    answers = extract_answers(scenario, text, questions, pending, region_words) if scenario else {}
    if "unknown" in found and pending and answers.get(pending) is None and len(norm) <= 20:
        answers[pending] = UNKNOWN
    return Understanding(norm, found, side, answers)
