"""Identification: text + region -> scenario candidates with calibrated scores, matter
candidates, or an explicit "none".

Signals per scenario (see features()): dense cosine to its names/aliases/examples and to
its sub-matters, BM25 over words+characters+pinyin, character and pinyin coverage of the
query, colloquial-lexicon hits, an exact alias hit, and whether the region publishes it.
A listwise (softmax) model fitted on the dev set (fusion.json, `python -m assistant tune`)
shares the probability among the scenarios, and a logistic gate on whole-query evidence
(incl. overlap with the out-of-scope texts) says whether any fits; "none" is a gate under
the tuned threshold, unless one clause alone clears it for the same scenario and the rest
answers its questions.
"""
from __future__ import annotations

import functools
import json
import os
import pickle
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from knowledge.loader import KnowledgeBase, pickle_writer, replace_cache_file

from .. import nlu
from .. import text as T
from . import lexical, packaged
from .dense import DEFAULT_CACHE, DenseIndex, cache_key
from .documents import (MatterEntry, Text, matter_contexts, matter_entries, matter_texts, out_of_scope_texts,
                        scenario_texts)
from .lexicon import Lexicon, default_lexicon

FUSION_FILE = Path(__file__).resolve().parents[1] / "data" / "fusion.json"
FEATURES = (
    "dense_core", "dense_parts", "dense_gap", "bm25_core", "bm25_parts", "char_cover", "pinyin_cover",
    "lexicon_hit", "alias_exact", "published", "dense_core_x_alias", "dense_rank", "bm25_rank",
    "classifier", "classifier_log", "alias_near", "alias_pinyin_near",
)
# The lexicon's expansion terms are encoded once with the index; a query's vector adds their
# (normalised) sum at this weight to the encoding of the user's own words. Encoding the words
# and the terms as one longer text ranked no better in CV and cost 40 % more model time.
EXPANSION_WEIGHT = 0.5
COPY_DICE = 0.8  # bigram overlap from which a text counts as a copy of another
MAX_CLAUSES = 8  # clauses tried one by one when the whole sentence falls under the gate


@dataclass(frozen=True)
class Candidate:
    scenario: str
    score: float  # calibrated probability that this is what the user means
    name: str  # the region's own name when it publishes it, else the neutral title
    published: bool
    publishers: tuple[str, ...]


@dataclass(frozen=True)
class MatterHit:
    key: str
    name: str
    kind: str  # lifecycle | sub_matter
    scenario: Optional[str]
    score: float


@dataclass
class Query:
    """One user text, prepared once for every signal (scenarios, none gate, matters)."""

    meant: str  # normalised, negated parts and place names removed
    expanded: str  # meant plus the lexicon's expansion terms
    vector: np.ndarray  # the model's encoding of `meant`, plus the expansion terms' vectors

    @functools.cached_property
    def expansion(self) -> list[str]:
        return self.expanded[len(self.meant):].split()

    @functools.cached_property
    def grams(self) -> set[str]:
        return set(T.char_ngrams(self.meant))

    @functools.cached_property
    def pinyin(self) -> set[str]:
        return set(T.pinyin_ngrams(self.meant))

    @functools.cached_property
    def terms(self) -> list[str]:
        return lexical.terms(self.expanded)

    @functools.cached_property
    def compact(self) -> str:
        return "".join(T.char_ngrams(self.meant, 1))


@dataclass
class Identification:
    text: str
    region: str
    candidates: list[Candidate]  # all scenarios, best first
    matters: list[MatterHit]
    threshold: float
    p_any: float = 0.0  # calibrated probability that some scenario fits at all
    best: Optional[Candidate] = None  # None: nothing fits
    not_published: bool = False  # best fits but the region does not publish it
    alternatives: list[Candidate] = field(default_factory=list)  # close runners-up to offer as choices

    @property
    def label(self) -> str:
        return self.best.scenario if self.best else "none"

    def ranked_labels(self) -> list[str]:
        """Every answer best first, "none" among them by its own probability (1 - p_any)."""
        return rank_with_none([c.scenario for c in self.candidates], [c.score for c in self.candidates],
                              self.p_any, self.threshold)

    def to_dict(self) -> dict:
        return {
            "label": self.label, "region": self.region, "p_any": self.p_any, "not_published": self.not_published,
            "best": asdict(self.best) if self.best else None,
            "alternatives": [asdict(c) for c in self.alternatives],
            "candidates": [asdict(c) for c in self.candidates[:5]],
            "matters": [asdict(m) for m in self.matters[:5]],
        }


def rank_with_none(labels: list[str], scores, p_any: float, threshold: float) -> list[str]:
    """Answers best first. The first is the decision: "none" under the threshold, else the best
    scenario. After it "none" is an answer like the others, placed by its probability 1 - p_any
    against the scenarios' p_any x share: a confident "二手房" ranks none last, a doubtful one
    offers "nothing fits" right after it (as the dialogue's choices offer 都不是)."""
    order = [label for _, label in sorted(zip(scores, labels), key=lambda t: -t[0])]
    if p_any < threshold:
        return ["none", *order]
    by_label = dict(zip(labels, scores))
    before = sum(1 for label in order[1:] if by_label[label] > 1.0 - p_any)
    return [order[0], *order[1:1 + before], "none", *order[1 + before:]]


MATTER_FEATURES = (
    "dense", "dense_rank", "bm25", "char_cover", "name_cover", "pinyin_cover", "lexicon_hit", "name_in_query",
    "is_lifecycle", "dense_gap", "bm25_rank", "text_cover_idf", "text_pinyin_cover", "alias_in_query",
    "common_run", "query_cover_idf", "name_length", "companion", "companion_rank", "companion_gap",
    "companion_context", "companion_context_gap",
)
QUERY_FEATURES = (
    "top_p", "second_p", "top_gap", "max_dense_core", "max_bm25_core", "max_char_cover", "max_pinyin_cover",
    "max_lexicon_hit", "any_alias", "log_length", "ascii_ratio", "max_classifier", "second_dense_core",
    "none_classifier", "max_dense_none", "dense_margin_over_none", "none_char_overlap", "max_alias_near",
)


def query_features(x: np.ndarray, p: np.ndarray, meant: str, none: tuple[float, float]) -> np.ndarray:
    """Whole-query evidence for "is this any scenario at all" (stage two)."""
    top2 = np.sort(p)[-2:]
    col = {name: i for i, name in enumerate(FEATURES)}
    ascii_chars = sum(1 for ch in meant if ch.isascii() and ch.isalpha())
    return np.array([
        top2[1], top2[0], top2[1] - top2[0], x[:, col["dense_core"]].max(), x[:, col["bm25_core"]].max(),
        x[:, col["char_cover"]].max(), x[:, col["pinyin_cover"]].max(), x[:, col["lexicon_hit"]].max(),
        x[:, col["alias_exact"]].max(), np.log1p(len(meant)), ascii_chars / max(len(meant), 1),
        x[:, col["classifier"]].max(), np.sort(x[:, col["dense_core"]])[-2],
        none[0], none[1], x[:, col["dense_core"]].max() - none[1], none[2], x[:, col["alias_near"]].max(),
    ], dtype=np.float64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Fusion:
    """Two stages fitted on the dev set (`python -m assistant tune`): which scenario (a softmax
    over per-scenario features) and whether any scenario fits (a logistic on query features).
    Matters are ranked by a listwise fit too, calibrated so that a score >= 0.5 reads "fits"."""

    weights: np.ndarray
    bias: float
    any_weights: np.ndarray
    any_bias: float
    threshold: float  # P(any scenario fits) under this means "none"
    margin: float = 0.15  # runners-up whose score is within this of the best are offered as choices
    matter_bias: float = -6.0
    matter_weights: np.ndarray = field(
        default_factory=lambda: np.array([8.0, 1.0, 2.0, 2.0, 1.0, 1.0, 1.0, 2.0, 0.0, 0, 0, 0, 0, 0, 0, 0, 0, 2.0, 0, 0, 0, 0]))  # as MATTER_FEATURES

    @classmethod
    def load(cls, path: Path = FUSION_FILE, strict: bool = True) -> "Fusion":
        """strict=False (tuning): a file fitted on other features gives the untuned starting point."""
        if not path.exists() or (not strict and not cls._fits(json.loads(path.read_text()))):
            # untuned: a hand-set starting point, replaced by `python -m assistant tune`
            w = np.array([6, 2, 4, 2, 0.5, 2, 1.5, 2, 2, 0.3, 0, 1, 1, 4, 0.5, 1, 1], dtype=np.float64)
            aw = np.zeros(len(QUERY_FEATURES))
            aw[0] = 8.0
            return cls(w, -6.0, aw, -4.0, 0.5)
        raw = json.loads(path.read_text())
        if not cls._fits(raw):
            raise ValueError("fusion.json was fitted on other features: run `python -m assistant tune`")
        return cls(np.array(raw["weights"]), raw["bias"], np.array(raw["any_weights"]), raw["any_bias"],
                   raw["threshold"], raw.get("margin", 0.15), raw["matter_bias"], np.array(raw["matter_weights"]))

    @staticmethod
    def _fits(raw: dict) -> bool:
        return (tuple(raw.get("features", ())) == FEATURES and tuple(raw.get("query_features", ())) == QUERY_FEATURES
                and tuple(raw.get("matter_features", ())) == MATTER_FEATURES)

    def save(self, path: Path = FUSION_FILE, **extra) -> None:
        path.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6), "query_features": list(QUERY_FEATURES),
            "any_weights": [round(float(w), 6) for w in self.any_weights], "any_bias": round(float(self.any_bias), 6),
            "threshold": round(float(self.threshold), 6), "margin": self.margin,
            "matter_features": list(MATTER_FEATURES),
            "matter_weights": [round(float(w), 6) for w in self.matter_weights],
            "matter_bias": round(float(self.matter_bias), 6), **extra,
        }, ensure_ascii=False, indent=1) + "\n")

    def probability(self, x: np.ndarray) -> np.ndarray:
        """P(each scenario is the one meant), given that one is: a softmax over the scenarios
        (fitted listwise). Independent sigmoids saturate together, and two confident scenarios
        then look like a tie although one is far ahead."""
        z = x @ self.weights + self.bias
        z = np.exp(z - z.max())
        return z / z.sum()

    def decide(self, x: np.ndarray, meant: str, none: tuple[float, float]) -> tuple[np.ndarray, float]:
        """(score per scenario = P(any fits) x its share, P(any scenario fits)).

        none: (classifier probability of "none", best similarity to an out-of-scope text, best
        character overlap with one)."""
        p = self.probability(x)
        p_any = float(_sigmoid(query_features(x, p, meant, none) @ self.any_weights + self.any_bias))
        return p_any * p, p_any


class ScenarioClassifier:
    """Softmax over scenarios, fitted on the knowledge texts' vectors (never on evaluation data).

    Max-similarity only looks at the single nearest text; the classifier learns which region
    of the embedding space belongs to which scenario from all of its texts together.
    """

    def __init__(self, weights: np.ndarray, bias: np.ndarray):
        self.weights, self.bias = weights.astype(np.float32), bias.astype(np.float32)

    @classmethod
    def load_or_fit(cls, index: DenseIndex, none_index: DenseIndex, key: str, cache_dir: Path) -> "ScenarioClassifier":
        """Classes: the scenarios (index owners) and, last, "none" (the out-of-scope texts)."""
        path = Path(cache_dir) / f"scenario-classifier-{key}.npz"
        if path.exists():
            data = np.load(path)
            return cls(data["weights"], data["bias"])
        from sklearn.linear_model import LogisticRegression

        x = np.vstack([index.vectors, none_index.vectors])
        y = np.concatenate([index.owner_of_row, np.full(len(none_index.vectors), len(index.owners))])
        model = LogisticRegression(C=10.0, max_iter=3000).fit(x, y)
        def write(tmp: Path) -> None:
            with tmp.open("wb") as fh:
                np.savez(fh, weights=model.coef_, bias=model.intercept_)

        replace_cache_file(path, write, "scenario-classifier-*.npz")
        return cls(model.coef_, model.intercept_)

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        """P(each scenario), then P(none) as the last entry."""
        z = self.weights @ vector.astype(np.float32) + self.bias
        z = np.exp(z - z.max())
        return (z / z.sum()).astype(np.float64)


@dataclass
class LexicalTables:
    """Everything lexical the identifier precomputes from the knowledge texts (cached: the
    tokenising and pinyin conversion of some thousands of texts would cost a second per start).
    Gram sets are sparse matrices (lexical.GramIndex): one product scores every row at once."""

    FORMAT = 5  # bump when the tables' contents change (or the tokeniser's dictionary): the cache key includes it

    all_text: dict
    aliases: dict
    bm25_core: lexical.BM25
    bm25_parts: lexical.BM25
    core_grams: lexical.GramIndex  # per scenario (scenario_ids order): bigrams of its core texts
    core_pinyin: lexical.GramIndex
    alias_grams: lexical.GramIndex  # per alias, scenario after scenario (alias_starts)
    alias_pinyin: lexical.GramIndex
    alias_starts: np.ndarray
    bm25_matters: lexical.BM25
    matter_grams: lexical.GramIndex  # per matter: bigrams of all its texts, idf-weighted
    matter_name_grams: lexical.GramIndex  # per matter: bigrams of its official name
    matter_pinyin: lexical.GramIndex
    matter_text: list
    matter_name: list  # per matter: its normalised official name
    matter_names: list  # per matter: its normalised names (name, aliases, listed names)
    name_grams: lexical.GramIndex  # per name of every matter, matter after matter (name_starts), idf-weighted
    name_pinyin: lexical.GramIndex
    name_chars: lexical.GramIndex  # single characters: a common run of one
    name_starts: np.ndarray
    is_lifecycle: np.ndarray
    name_length: np.ndarray  # log(1 + characters of the official name)
    bigram_idf: dict  # character bigram -> idf over the matters (登记/申请 weigh little, 契税 much)

    @classmethod
    def load_or_build(cls, kb: KnowledgeBase, scenario_ids, stexts, matter_keys, mtexts, key: str,
                      cache_dir: Path) -> "LexicalTables":
        path = Path(cache_dir) / f"lexical-{key}.pickle"
        try:
            with path.open("rb") as fh:
                return pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            pass
        core = {sid: [] for sid in scenario_ids}
        parts = {sid: [] for sid in scenario_ids}
        for t in stexts:
            (core if t.field == "core" else parts)[t.owner].append(t.text)
        core_text = {sid: " ".join(v) for sid, v in core.items()}
        by_matter: dict[str, list[str]] = {key: [] for key in matter_keys}
        for t in mtexts:
            by_matter[t.owner].append(t.text)
        aliases = {s: [a for a in (T.normalize(x) for x in (*kb.scenarios[s].aliases, kb.scenarios[s].title))
                       if len(a) >= 2] for s in scenario_ids}
        all_aliases = [a for s in scenario_ids for a in aliases[s]]
        names = [[n for n in by_matter[k] if len(n) >= 2] for k in matter_keys]
        all_names = [n for ns in names for n in ns]
        matter_bigrams = [set(T.char_ngrams(" ".join(by_matter[k]))) for k in matter_keys]
        idf = _bigram_idf(matter_bigrams)
        entries = {e.key: e for e in matter_entries(kb)}
        tables = cls(
            all_text={s: core_text[s] + " " + " ".join(parts[s]) for s in scenario_ids},
            aliases=aliases,
            bm25_core=lexical.BM25([lexical.terms(core_text[s]) for s in scenario_ids]),
            bm25_parts=lexical.BM25([lexical.terms(" ".join(parts[s])) for s in scenario_ids]),
            core_grams=lexical.GramIndex([set(T.char_ngrams(core_text[s])) for s in scenario_ids]),
            core_pinyin=lexical.GramIndex([set(T.pinyin_ngrams(core_text[s])) for s in scenario_ids]),
            alias_grams=lexical.GramIndex([set(T.char_ngrams(a)) for a in all_aliases]),
            alias_pinyin=lexical.GramIndex([set(T.pinyin_ngrams(a)) for a in all_aliases]),
            alias_starts=_starts([len(aliases[s]) for s in scenario_ids]),
            bm25_matters=lexical.BM25([lexical.terms(" ".join(by_matter[k])) for k in matter_keys]),
            matter_grams=lexical.GramIndex(matter_bigrams, idf),
            matter_name_grams=lexical.GramIndex([set(T.char_ngrams(by_matter[k][0])) for k in matter_keys]),
            matter_pinyin=lexical.GramIndex([set(T.pinyin_ngrams(" ".join(by_matter[k]))) for k in matter_keys]),
            matter_text=[" ".join(by_matter[k]) for k in matter_keys],
            matter_name=[T.normalize(entries[k].name) for k in matter_keys],
            matter_names=names,
            name_grams=lexical.GramIndex([set(T.char_ngrams(n)) for n in all_names], idf),
            name_pinyin=lexical.GramIndex([set(T.pinyin_ngrams(n)) for n in all_names]),
            name_chars=lexical.GramIndex([set(n) for n in all_names]),
            name_starts=_starts([len(ns) for ns in names]),
            is_lifecycle=np.array([float(entries[k].kind == "lifecycle") for k in matter_keys]),
            name_length=np.log1p([len(entries[k].name) for k in matter_keys]),
            bigram_idf=idf,
        )
        replace_cache_file(path, pickle_writer(tables), "lexical-*.pickle")
        return tables


def _first(*models):
    """The first model given (a SentenceTransformer's truth value is its number of modules)."""
    return next((m for m in models if m is not None), None)


def _encode_one(model, text: str) -> np.ndarray:
    vector = model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)[0]
    vector.setflags(write=False)
    return vector


def _reciprocal_rank(order: np.ndarray) -> np.ndarray:
    """1 / (1 + position) of each item, given the items best first."""
    rank = np.empty(len(order))
    rank[order] = 1.0 / (np.arange(len(order)) + 1)
    return rank


def _starts(sizes: list[int]) -> np.ndarray:
    """Start row of each group of consecutive rows of the given sizes."""
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64) if sizes else np.zeros(0, np.int64)


def _bigram_idf(docs: list[set]) -> dict:
    df: dict[str, int] = {}
    for grams in docs:
        for g in grams:
            df[g] = df.get(g, 0) + 1
    return {g: float(np.log(1 + len(docs) / c)) for g, c in df.items()}


def _common_run(a: str, b: str, cap: int = 6) -> int:
    """Length of the longest common substring of a and b, counted up to `cap` (the feature
    saturates there): substring tests run in C, unlike a Python dynamic programme."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    for k in range(min(cap, len(short)), 0, -1):
        if any(short[i:i + k] in long_ for i in range(len(short) - k + 1)):
            return k
    return 0


class Identifier:
    """Built once per knowledge version; thread-safe for queries."""

    def __init__(self, kb: KnowledgeBase, model=None, *, companion=None, cache_dir: Path = DEFAULT_CACHE,
                 lexicon: Optional[Lexicon] = None, fusion: Optional[Fusion] = None, progress: bool = True,
                 reuse: Optional["Identifier"] = None):
        """model: the main embedding model; companion: the second one matter search asks
        (default: the configured ones). `reuse`: the identifier of the previous knowledge
        version (a hot reload); its models are kept and its vectors taken over for texts that
        did not change, so a reload re-encodes only what was edited."""
        # jieba's dictionary loads on a thread, and the companion's engine on another;
        # sentence-transformers imports last, while the packaged engines already answer.
        warm = threading.Thread(target=lexical.warm_up, daemon=True)
        warm.start()
        self.kb = kb
        # models it starts itself import sentence-transformers once the rest has loaded (below)
        self.model = _first(model, getattr(reuse, "model", None)) or packaged.starting_model(start=False)
        self.companion = _first(companion, getattr(reuse, "companion", None)) \
            or packaged.starting_model(packaged.configured_companion(), start=False)
        warm.join()
        self.lexicon = lexicon or default_lexicon()
        self.fusion = fusion or Fusion.load()
        self.scenario_ids = sorted(kb.scenarios)
        self._lock = threading.Lock()
        self._place_names = sorted({T.normalize(n) for r in kb.regions.values() if r.level != "national"
                                    for n in (r.name, *r.aliases) if len(n) >= 2}, key=len, reverse=True)
        lexical.add_user_words(self._user_words())

        mid = getattr(self.model, "yici_model_id", type(self.model).__name__)
        stexts = scenario_texts(kb)
        mtexts = matter_texts(kb)
        skey = cache_key(kb.version, mid, stexts)
        # Scenario texts are mostly utterances (aliases, examples): encode them like queries.
        def index(name: str, attr: str, texts, key: str, as_queries: bool, by: str = "model") -> DenseIndex:
            """`by`: the attribute naming the model that encodes these texts."""
            previous, model = getattr(reuse, attr, None), getattr(self, by)
            if previous is not None and previous.texts == list(texts) and getattr(reuse, by) is model:
                return previous
            return DenseIndex.load_or_build(name, texts, model, key, cache_dir, progress, as_queries=as_queries)

        self.scenario_index = index("scenarios", "scenario_index", stexts, skey, True)
        otexts = out_of_scope_texts()
        self.none_index = index("out_of_scope", "none_index", otexts, cache_key(kb.version, mid, otexts), True)
        if reuse is not None and self.scenario_index is reuse.scenario_index and self.none_index is reuse.none_index:
            self.classifier = reuse.classifier  # fitted on exactly these vectors
        else:
            self.classifier = ScenarioClassifier.load_or_fit(
                self.scenario_index, self.none_index, cache_key(skey, mid, otexts), cache_dir)
        self.matter_index = index("matters", "matter_index", mtexts, cache_key(kb.version, mid, mtexts), False)
        cid = getattr(self.companion, "yici_model_id", type(self.companion).__name__)
        ctexts = mtexts + matter_contexts(kb)  # the names, then each name under its life event
        self.companion_index = index("matters-companion", "companion_index", ctexts,
                                     cache_key(kb.version, cid, ctexts), False, by="companion")
        ttexts = [Text(term, "term", term) for term in self.lexicon.terms()]
        self.term_index = index("lexicon_terms", "term_index", ttexts, cache_key("lexicon", mid, ttexts), True)
        self._term_row = {t.text: i for i, t in enumerate(self.term_index.texts)}
        assert self.scenario_index.owners == self.scenario_ids
        assert self.companion_index.owners == self.matter_index.owners

        self.matter_entries = {e.key: e for e in matter_entries(kb)}
        self.matter_keys = self.matter_index.owners
        # jieba learns the lexicon's phrases as words, so the tables depend on the lexicon too
        tkey = cache_key(skey, f"lexical-v{LexicalTables.FORMAT}-{self.lexicon.digest()}", mtexts)
        tables = LexicalTables.load_or_build(kb, self.scenario_ids, stexts, self.matter_keys, mtexts, tkey, cache_dir)
        self.__dict__.update(vars(tables))
        self._term_hits: dict[tuple[str, str], np.ndarray] = {}  # lexicon term -> texts containing it
        self._none_grams = lexical.GramIndex([g for g in (set(T.char_ngrams(t.text)) for t in otexts) if g])
        for m in (self.companion, self.model):
            if isinstance(m, packaged.StartingModel):
                m.start()

    def _user_words(self) -> list[str]:
        words = []
        for s in self.kb.scenarios.values():
            words += [s.title, *s.aliases, *(m.name for m in s.matters.values())]
        words += [m.name for m in self.kb.matters.values()]
        words += [p for p, _, _ in self.lexicon.entries]
        return [T.normalize(w) for w in words]

    # ------------------------------------------------------------------ features
    def prepare(self, text: str) -> tuple[str, str]:
        """(what the user means, with negated parts and place names removed; that plus
        lexicon expansions). "我在辽宁买了套二手房": the region is a parameter, not a topic."""
        meant = T.strip_negated(T.normalize(text))
        for name in self._place_names:
            meant = meant.replace(name, " ")
        expansion = self.lexicon.expand(meant)
        return meant, (meant + " " + " ".join(expansion)).strip()

    def query(self, text: str) -> Query:
        meant, expanded = self.prepare(text)
        q = Query(meant, expanded, self.encode(meant))
        if q.expansion:
            terms = self.term_index.vectors[[self._term_row[t] for t in q.expansion]].sum(axis=0)
            vector = q.vector + EXPANSION_WEIGHT * terms / max(float(np.linalg.norm(terms)), 1e-6)
            q.vector = (vector / max(float(np.linalg.norm(vector)), 1e-6)).astype(np.float32)
        return q

    def encode(self, text: str) -> np.ndarray:
        return self._encode_cached(text)

    @functools.lru_cache(maxsize=4096)  # repeated texts (option labels, retries) skip the model
    def _encode_cached(self, text: str) -> np.ndarray:
        return _encode_one(self.model, text)

    @functools.lru_cache(maxsize=4096)
    def companion_vector(self, text: str) -> np.ndarray:
        return _encode_one(self.companion, text)

    def features(self, q: Query, region: str) -> np.ndarray:
        """One row per scenario (self.scenario_ids order), columns as FEATURES."""
        meant, vector = q.meant, q.vector
        n = len(self.scenario_ids)
        core, parts = self.scenario_index.owner_best(vector, ("core", "parts"))
        order = np.argsort(-core)
        gap = core - np.where(np.arange(n) == order[0], core[order[1]], core[order[0]])
        dense_rank = _reciprocal_rank(order)

        scale = max(self.bm25_core.max_score(q.terms), 1e-6)
        bm_core = np.array(self.bm25_core.scores(q.terms)) / scale
        bm_parts = np.array(self.bm25_parts.scores(q.terms)) / scale
        bm_rank = _reciprocal_rank(np.argsort(-(bm_core + 0.5 * bm_parts)))

        grams, pys = q.grams, q.pinyin
        char_cover = self.core_grams.overlap(grams) / max(len(grams), 1)
        pinyin_cover = self.core_pinyin.overlap(pys) / max(len(pys), 1)
        lex = self._expansion_hits("scenario", q.expansion)
        alias = np.array([any(a in meant for a in self.aliases[s]) for s in self.scenario_ids], dtype=np.float64)
        published = np.array([region in self.kb.scenarios[s].regions for s in self.scenario_ids], dtype=np.float64)
        clf = self.classifier.probabilities(vector)[:n]
        # Graded alias hits: "社宝转移" is most of 社保转移 by sound, "网咖" most of 开网咖 by writing.
        alias_cover = lexical.group_max(self.alias_grams.overlap(grams) / np.maximum(self.alias_grams.sizes, 1),
                                        self.alias_starts)
        alias_pinyin = lexical.group_max(self.alias_pinyin.overlap(pys) / np.maximum(self.alias_pinyin.sizes, 1),
                                         self.alias_starts)
        # Near misses only: an exact alias already counts in alias_exact, and counting it twice
        # would crowd two exact hits ("没领结婚证，上户口") into a tie.
        near = 1.0 - alias
        return np.column_stack([
            core, parts, gap, bm_core, bm_parts, char_cover, pinyin_cover, lex, alias, published,
            core * alias, dense_rank, bm_rank, clf, np.log(clf + 1e-6), alias_cover * near, alias_pinyin * near,
        ])

    def none_evidence(self, q: Query, skip_copies: bool = False) -> tuple[float, float, float]:
        """(classifier P(none), best cosine to an out-of-scope text, best bigram overlap (Dice) with one).

        The overlap sees "二手车过户" written like the out-of-scope 二手车过户要什么手续, where the
        vectors and the scenario's words (二手, 过户) still pull towards 二手房. skip_copies (tuning
        only): a dev row that is itself nearly an out-of-scope line would teach the gate to trust
        the overlap more than unseen text deserves."""
        p_none = float(self.classifier.probabilities(q.vector)[-1])
        grams = q.grams
        dice = 2 * self._none_grams.overlap(grams) / (self._none_grams.sizes + len(grams)) if grams else np.zeros(0)
        if skip_copies:
            dice = dice[dice < COPY_DICE]
        overlap = float(dice.max(initial=0.0))
        return p_none, float(self.none_index.similarities(q.vector).max(initial=-1.0)), overlap

    # ------------------------------------------------------------------ answers
    def identify(self, text: str, region: str, *, with_matters: bool = True) -> Identification:
        result = self._identify_text(text, region, with_matters)
        if result.best is None:
            result = self._from_clause(result, with_matters) or result
        return result

    def _from_clause(self, whole: Identification, with_matters: bool) -> Optional[Identification]:
        """"我在辽宁买了套二手房，首套，准备用公积金贷款": details that answer the questionnaire
        dilute the sentence's evidence below the gate while it still ranks the right scenario
        first. A clause that passes the gate on its own for that same scenario decides, when
        the other clauses answer some of its questions ("律师费大概多少" answers none of 离婚's)."""
        parts = T.clauses(T.normalize(whole.text))
        if len(parts) < 2:
            return None
        top = whole.candidates[0].scenario
        for i, part in enumerate(parts[:MAX_CLAUSES]):
            found = self._identify_text(part, whole.region, with_matters)
            if found.best is not None and found.best.scenario == top \
                    and self._answers_questions(top, "，".join(parts[:i] + parts[i + 1:]), whole.region):
                found.text = whole.text
                return found
        return None

    def _answers_questions(self, scenario_id: str, text: str, region: str) -> bool:
        """Whether the text answers some of the scenario's questions, read as the dialogue reads answers."""
        scenario, place = self.kb.scenarios[scenario_id], self.kb.regions[region]
        return bool(nlu.extract_answers(scenario, text, list(scenario.questions), None, [place.name, *place.aliases]))

    def _identify_text(self, text: str, region: str, with_matters: bool) -> Identification:
        q = self.query(text)
        x = self.features(q, region)
        scores, p_any = self.fusion.decide(x, q.meant, self.none_evidence(q))
        order = np.argsort(-scores)
        candidates = [self._candidate(self.scenario_ids[i], float(scores[i]), region) for i in order]
        result = Identification(text, region, candidates,
                                self.search_matters(q) if with_matters else [],
                                self.fusion.threshold, p_any=round(p_any, 4))
        if p_any >= self.fusion.threshold:
            top = candidates[0]
            result.best = top
            result.not_published = not top.published
            result.alternatives = [c for c in candidates[1:3] if c.score >= top.score - self.fusion.margin]
        return result

    def _candidate(self, sid: str, score: float, region: str) -> Candidate:
        s = self.kb.scenarios[sid]
        published = region in s.regions
        return Candidate(sid, round(score, 4), s.regions[region].name if published else s.title, published,
                         tuple(s.regions))

    def _expansion_hits(self, kind: str, expansion: list[str]) -> np.ndarray:
        """Share of the lexicon's expansion terms that each scenario's (or matter's) texts contain."""
        total = np.zeros(len(self.scenario_ids) if kind == "scenario" else len(self.matter_text))
        for term in expansion:
            hits = self._term_hits.get((kind, term))
            if hits is None:  # the lexicon's terms are few: each is looked up in the texts once
                texts = [self.all_text[s] for s in self.scenario_ids] if kind == "scenario" else self.matter_text
                hits = self._term_hits[(kind, term)] = np.array([term in t for t in texts], dtype=np.float64)
            total = total + hits
        return total / max(len(expansion), 1)

    def matter_features(self, q: Query, pool: int = 60) -> tuple[np.ndarray, np.ndarray]:
        """(candidate rows into self.matter_keys, their features as MATTER_FEATURES).

        Candidates: the best `pool` by dense similarity and by BM25; the rest cannot win. The
        gram overlaps are computed for every matter at once (sparse products), the substring
        features only for the candidates."""
        dense, = self.matter_index.owner_best(q.vector)
        # A model of another family (USE next to e5) errs elsewhere: its similarity, rank and gap
        # to its best lifted cross-validated top-1 on the dev rows and on descriptive phrasing;
        # so did its similarity to the names under their life events (documents.matter_contexts).
        companion, context = self.companion_index.owner_best(self.companion_vector(q.meant), ("matter", "context"))
        bm = np.array(self.bm25_matters.scores(q.terms)) / max(self.bm25_matters.max_score(q.terms), 1e-6)
        by_dense, by_bm = np.argsort(-dense), np.argsort(-bm)
        rows = np.unique(np.concatenate([by_dense[:pool], by_bm[:pool]]))
        rank, bm_rank = _reciprocal_rank(by_dense), _reciprocal_rank(by_bm)
        companion_rank = _reciprocal_rank(np.argsort(-companion))
        grams, pys = q.grams, q.pinyin
        # Bigrams no matter uses (我家, 怎么) say nothing about which matter: weigh them like the rarest.
        unseen = max(self.bigram_idf.values(), default=1.0)
        q_weight = sum(self.bigram_idf.get(g, unseen) for g in grams) or 1.0
        # How completely the best of its names appears in the query, rare bigrams counting most:
        # "契税" in "买新房的契税怎么交" covers 契税申报 more than 房地产交易税费申报.
        name_idf_cover = self.name_grams.overlap(grams, weighted=True) / np.maximum(self.name_grams.weighted_sizes, 1e-6)
        name_pinyin = self.name_pinyin.overlap(pys) / np.maximum(self.name_pinyin.sizes, 1)
        x = np.column_stack([
            dense, rank, bm,
            self.matter_grams.overlap(grams) / max(len(grams), 1),
            self.matter_name_grams.overlap(grams) / np.maximum(self.matter_name_grams.sizes, 1),
            self.matter_pinyin.overlap(pys) / max(len(pys), 1),
            self._expansion_hits("matter", q.expansion),
            np.zeros(len(dense)),  # name_in_query, alias_in_query, common_run: below, candidates only
            self.is_lifecycle,
            dense - dense.max(), bm_rank,
            lexical.group_max(name_idf_cover, self.name_starts),
            lexical.group_max(name_pinyin, self.name_starts),
            np.zeros(len(dense)), np.zeros(len(dense)),
            self.matter_grams.overlap(grams, weighted=True) / q_weight,
            self.name_length, companion, companion_rank, companion - companion.max(), context, context - context.max(),
        ])[rows]
        meant, compact = q.meant, q.compact
        shares_pair = self.name_grams.overlap(grams) > 0  # else no common run beyond one character
        shares_char = self.name_chars.overlap(set(compact)) > 0
        col = {name: c for c, name in enumerate(MATTER_FEATURES)}
        for j, i in enumerate(rows):
            names, first = self.matter_names[i], self.name_starts[i]
            x[j, col["name_in_query"]] = float(self.matter_name[i] in meant)
            x[j, col["alias_in_query"]] = float(any(n in meant for n in names))
            x[j, col["common_run"]] = max((_common_run(compact, n) if shares_pair[first + k] else float(shares_char[first + k])
                            for k, n in enumerate(names)), default=0) / 6.0
        return rows, x

    def search_matters(self, q: Query, k: int = 10) -> list[MatterHit]:
        rows, x = self.matter_features(q)
        score = _sigmoid(x @ self.fusion.matter_weights + self.fusion.matter_bias)
        hits, seen = [], set()
        for j in np.argsort(-score):
            entry: MatterEntry = self.matter_entries[self.matter_keys[rows[j]]]
            if entry.name in seen:
                continue
            seen.add(entry.name)
            hits.append(MatterHit(entry.key, entry.name, entry.kind, entry.scenario, round(float(score[j]), 4)))
            if len(hits) == k:
                break
        return hits

    def find_matters(self, text: str, k: int = 10) -> list[MatterHit]:
        return self.search_matters(self.query(text), k=k)


_shared: dict[str, Identifier] = {}
_shared_lock = threading.Lock()


def shared_identifier(kb: KnowledgeBase) -> Identifier:
    """One Identifier per knowledge version in this process."""
    with _shared_lock:
        if kb.version not in _shared:  # the models load once: a later version takes them over
            previous = next(iter(_shared.values()), None)
            _shared[kb.version] = Identifier(kb, getattr(previous, "model", None),
                                             companion=getattr(previous, "companion", None),
                                             progress=os.environ.get("YICI_PROGRESS", "1") == "1")
        return _shared[kb.version]
