"""Lexical signals: BM25 over jieba words, character bigrams and pinyin bigrams.

Words catch exact terms (户口登记), character bigrams survive typos and unknown words,
pinyin bigrams survive speech-recognition homophones (二手方过护 ~ 二手房过户).
"""
from __future__ import annotations

import functools
import math
from collections import Counter
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from .. import text as T

# Words that carry no matter meaning; keeping them would make every document match.
STOPWORDS = frozenset(
    "的 了 吗 呢 吧 啊 呀 么 我 你 他 她 我们 你们 他们 要 想 去 在 是 有 和 跟 与 及 或 都 也 就 还 又 "
    "怎么 怎么办 怎样 如何 什么 哪些 哪里 哪个 多少 一下 需要 可以 能 能不能 请问 请 帮 帮我 问 问一下 "
    "这个 那个 一个 个 些 办 办理 手续 事 事情 东西 材料 流程 咨询 来电 来电人 市民 一件 一件事 "
    "该 应该 得 着 过 把 被 给 让 对 向 从 到 为 之 于 上 下 后 前 中 里 "
    "the a an of to for and or in on at is are how what i my me do need want".split()
)


# jieba's most frequent words kept in its dictionary. Loading all 350,000 costs 0.6 s of every
# start (a tenth of the cold-start budget); the government terms that matter are added as user
# words anyway, and rarer general words fall back to jieba's HMM.
JIEBA_WORDS = 60000


def _dictionary(jieba) -> Path:
    """jieba's dictionary cut to its JIEBA_WORDS most frequent words, written once to the cache."""
    from knowledge.loader import replace_cache_file

    from .dense import DEFAULT_CACHE

    path = DEFAULT_CACHE / f"jieba-{jieba.__version__}-top{JIEBA_WORDS}.txt"
    if not path.exists():
        source = Path(jieba.__file__).with_name("dict.txt").read_text(encoding="utf-8").splitlines()
        rows = sorted((line.split() for line in source if line.strip()), key=lambda r: -int(r[1]))

        def write(tmp: Path) -> None:
            tmp.write_text("".join(" ".join(r) + "\n" for r in rows[:JIEBA_WORDS]), encoding="utf-8")

        replace_cache_file(path, write, "jieba-*.txt")
    return path


@functools.lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(60)
    tokenizer = jieba.Tokenizer(dictionary=str(_dictionary(jieba)))
    tokenizer.initialize()
    return tokenizer


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


class GramIndex:
    """Rows of n-gram sets as one sparse 0/1 matrix, so that a query's overlap with every row
    (every matter, every name) is one matrix-vector product instead of a Python loop."""

    def __init__(self, rows: Sequence[set[str]], weight: Optional[dict[str, float]] = None):
        from scipy.sparse import csr_matrix

        self.vocab: dict[str, int] = {}
        cols, ptr = [], [0]
        for grams in rows:
            cols += [self.vocab.setdefault(g, len(self.vocab)) for g in sorted(grams)]
            ptr.append(len(cols))
        self.matrix = csr_matrix((np.ones(len(cols)), np.array(cols, dtype=np.int64), np.array(ptr)),
                                 shape=(len(rows), max(len(self.vocab), 1)))
        self.sizes = np.array([len(g) for g in rows], dtype=np.float64)
        # optional weight per gram (idf): a row's weighted size, and the query side's weights
        self.weight = np.ones(self.matrix.shape[1]) if weight is None else \
            np.array([weight.get(g, 0.0) for g in sorted(self.vocab, key=self.vocab.get)] or [0.0])
        self.weighted_sizes = self.matrix @ self.weight

    def indicator(self, grams: Iterable[str]) -> np.ndarray:
        q = np.zeros(self.matrix.shape[1])
        q[[self.vocab[g] for g in grams if g in self.vocab]] = 1.0
        return q

    def overlap(self, grams: Iterable[str], weighted: bool = False) -> np.ndarray:
        """Per row: how many of the query's grams it has (or their summed weight)."""
        q = self.indicator(grams)
        return self.matrix @ (q * self.weight if weighted else q)


def group_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Max of `values` per group of consecutive rows beginning at `starts`; 0 for an empty group."""
    padded = np.append(values, -np.inf)  # a row after the last: a trailing empty group stays in range
    out = np.maximum.reduceat(padded, starts)
    out[np.append(starts[1:], len(values)) == starts] = 0.0
    return out
