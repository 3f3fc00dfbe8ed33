"""Lexical signals: BM25 over jieba words, character bigrams and pinyin bigrams.

Words catch exact terms (户口登记), character bigrams survive typos and unknown words,
pinyin bigrams survive speech-recognition homophones (二手方过护 ~ 二手房过户).
"""
from __future__ import annotations

import functools
import math
from collections import Counter
from typing import Iterable, Sequence

from .. import text as T

# Words that carry no matter meaning; keeping them would make every document match.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 我 你 他 她 我们 你们 他们 要 想 去 在 是 有 和 跟 与 及 或 都 也 就 还 又 "
    "怎么 怎么办 怎样 如何 什么 哪些 哪里 哪个 多少 一下 需要 可以 能 能不能 请问 请 帮 帮我 问 问一下 "
    "这个 那个 一个 个 些 办 办理 手续 事 事情 东西 材料 流程 咨询 来电 来电人 市民 一件 一件事 "
    "该 应该 得 着 过 把 被 给 让 对 向 从 到 为 之 于 上 下 后 前 中 里 "
    "the a an of to for and or in on at is are how what i my me do need want".split()
)


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()
    return jieba


def warm_up() -> None:
    """Load the tokeniser dictionaries now rather than at the first query."""
    _jieba()
    T.pinyin_syllables("预热")


def add_user_words(words: Iterable[str]) -> None:
    """Government terms (matter names, aliases) so jieba keeps them whole."""
    jb = _jieba()
    for w in words:
        w = w.strip()
        if 2 <= len(w) <= 12 and " " not in w:
            jb.add_word(w, freq=20000)


def words(text: str) -> list[str]:
    return [w for w in _jieba().lcut(text) if w.strip() and w not in STOPWORDS and not _is_punct(w)]


def _is_punct(w: str) -> bool:
    return all(not ch.isalnum() for ch in w)


def terms(text: str) -> list[str]:
    """All lexical terms of a normalised text, each kind prefixed so they never collide."""
    out = ["w:" + w for w in words(text)]
    out += ["c:" + g for g in T.char_ngrams(text) if not any(ch in g for ch in "的了吗呢吧")]
    out += ["p:" + g for g in T.pinyin_ngrams(text)]
    return out


class BM25:
    """Okapi BM25 over pre-tokenised documents (small corpora: dict postings are enough)."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.n = len(docs)
        self.lengths = [len(d) for d in docs]
        self.avg = (sum(self.lengths) / self.n) if self.n else 1.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                self.postings.setdefault(term, []).append((i, tf))
        self.idf = {
            t: math.log(1 + (self.n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()
        }

    def scores(self, query: Sequence[str]) -> list[float]:
        out = [0.0] * self.n
        for term in set(query):
            for i, tf in self.postings.get(term, ()):
                norm = tf + self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg)
                out[i] += self.idf[term] * tf * (self.k1 + 1) / norm
        return out

    def max_score(self, query: Sequence[str]) -> float:
        """Score of a document made of exactly the query: a scale for normalising."""
        return sum(self.idf.get(t, 0.0) * (self.k1 + 1) / (1 + self.k1) for t in set(query))
