"""Text normalisation shared by every matcher: what people type or a kiosk hears.

normalize(): traditional -> simplified, full-width -> half-width, lower case, no control
characters, collapsed white space. strip_negated(): drops the "不是X" part of
"不是离婚，是结婚" so that X does not pull the match. pinyin_ngrams(): toneless, accent-
folded pinyin, so that speech-recognition homophones (二手方过护 ~ 二手房过户, 公主房 ~ 公租房)
still meet.
"""
from __future__ import annotations

import functools
import os
import re
import unicodedata

_CONTROL = re.compile(r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\ufeff]")
_SPACE = re.compile(r"\s+")
_HAN = re.compile(r"[\u4e00-\u9fff]")
# Clause separators: a negated span ends at one of these.
_SEPARATORS = "，,。.！!？?；;、 \n"
_NEGATIONS = ("不是要办", "不是办", "不是", "并非", "不办", "不想办", "不用办", "不要办", "不打算办", "而不是", "not ", "no ")
_HEDGES = ("不是很", "不是还", "不是也", "不是说", "没有没有")  # "不是还要迁户口吗": a question, not a negation
_AFFIRM = ("而是", "是要", "是想", "我要", "我想", "是", "but ")


@functools.lru_cache(maxsize=1)
def _t2s():
    import opencc  # opencc-python-reimplemented: pure Python, no data download

    return opencc.OpenCC("t2s")


@functools.lru_cache(maxsize=1)
def _convertible() -> frozenset[str]:
    """Characters at which some t2s dictionary entry changes the text. A text without any
    is already simplified: the pure-Python converter (most of normalize's cost) is skipped."""
    out: set[str] = set()
    for _, _, mapping in _t2s().dict_cache.values():
        for key, value in mapping.items():
            value = value.split(" ")[0]  # the converter takes the first candidate
            if len(key) == len(value):
                out.update(k for k, v in zip(key, value) if k != v)
            elif key != value:
                out.update(key)
    return frozenset(out)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)  # full-width letters/digits/punctuation -> ASCII
    text = _CONTROL.sub(" ", text)
    if _HAN.search(text) and not _convertible().isdisjoint(text):
        text = _t2s().convert(text)
    return _SPACE.sub(" ", text).strip().lower()


# Answers also read plain negation ("没有抵押", "不需要审批"); search does not, because there
# "没工作了" is the very thing to find (unemployment), not something to discard.
ANSWER_NEGATIONS = _NEGATIONS + ("不需要", "无需", "不用", "没有", "没")


# Clause breaks: punctuation, or a space next to Chinese ("俺老伴 前天没了"); spaces between
# Latin words ("passed away") do not break.
_CLAUSE_BREAK = re.compile(r"[，,。！!？?；;]+|(?<![a-z0-9])\s+|\s+(?![a-z0-9])")


def clauses(text: str) -> list[str]:
    """"我在辽宁买了套二手房，首套" -> ["我在辽宁买了套二手房", "首套"] (normalised text)."""
    return [c for c in (part.strip() for part in _CLAUSE_BREAK.split(text)) if c]


def negated_spans(text: str, negations: tuple[str, ...] = _NEGATIONS) -> list[str]:
    """What the speaker negates: "不是本地户口，是外地的" -> ["本地户口"]."""
    return _split_negated(text, negations)[1]


def strip_negated(text: str) -> str:
    """Remove spans the speaker negates: "不是离婚，是结婚" -> "，是结婚".

    A negated span runs from the negation word to the next clause separator or to a
    following affirmation ("而是", "是"). Text with nothing negated comes back unchanged.
    """
    return _split_negated(text)[0]


def strip_negated_answer(text: str) -> str:
    return _split_negated(text, ANSWER_NEGATIONS)[0]


def _split_negated(text: str, negations: tuple[str, ...] = _NEGATIONS) -> tuple[str, list[str]]:
    out, spans, i = [], [], 0
    while i < len(text):
        neg = next((n for n in negations if text.startswith(n, i)), None)
        # "是不是" asks a question; "不是很" hedges: neither negates a matter.
        if neg is None or text.startswith(("是不是", "有没有", "要不要"), max(0, i - 1)) \
                or text.startswith("需不需要", max(0, i - 1)) or text.startswith(_HEDGES, i):
            out.append(text[i])
            i += 1
            continue
        j = i + len(neg)
        while j < len(text) and text[j] not in _SEPARATORS:
            if j > i + len(neg) and any(text.startswith(a, j) for a in _AFFIRM):
                break
            j += 1
        if text[i + len(neg):j].strip():
            spans.append(text[i + len(neg):j].strip())
        out.append(" ")
        i = j
    return "".join(out), spans


@functools.lru_cache(maxsize=4096)
def pinyin_syllables(text: str) -> tuple[str, ...]:
    """Toneless pinyin of the Han characters (other characters dropped).

    Per-character readings only (no phrase dictionary): matching needs the same reading on
    both sides, not the right one, and skipping the phrase table saves a second at start.
    """
    os.environ.setdefault("PYPINYIN_NO_PHRASES", "true")
    from pypinyin import lazy_pinyin

    han = "".join(_HAN.findall(text))
    return tuple(lazy_pinyin(han, errors="ignore")) if han else ()


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"), ("n", "l"), ("f", "h"), ("r", "l"))
_FUZZY_FINALS = (("ing", "in"), ("eng", "en"), ("ang", "an"), ("iang", "ian"), ("uang", "uan"))


@functools.lru_cache(maxsize=2048)
def fuzzy_syllable(syllable: str) -> str:
    """Collapse the sound pairs that accents and speech recognisers confuse (模糊音):
    zh/z ch/c sh/s, n/l, f/h, r/l, -ing/-in, -eng/-en, -ang/-an."""
    for a, b in _FUZZY_INITIALS:
        if syllable.startswith(a):
            syllable = b + syllable[len(a):]
            break
    for a, b in _FUZZY_FINALS:
        if syllable.endswith(a):
            return syllable[: -len(a)] + b
    return syllable


def fuzzy_pinyin(text: str) -> tuple[str, ...]:
    return tuple(fuzzy_syllable(s) for s in pinyin_syllables(text))


def char_ngrams(text: str, n: int = 2) -> list[str]:
    compact = re.sub(r"[\s\W_]+", "", text)
    if len(compact) < n:
        return [compact] if compact else []
    return [compact[i:i + n] for i in range(len(compact) - n + 1)]


def pinyin_ngrams(text: str, n: int = 2) -> list[str]:
    syl = fuzzy_pinyin(text)
    if len(syl) < n:
        return list(syl)
    return ["_".join(syl[i:i + n]) for i in range(len(syl) - n + 1)]
