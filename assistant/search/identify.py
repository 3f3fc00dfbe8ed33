"""Identification: text + region -> scenario candidates with calibrated scores, matter
candidates, or an explicit "none".

Signals per scenario (see features()): dense cosine to its names/aliases/examples and to
its sub-matters, BM25 over words+characters+pinyin, character and pinyin coverage of the
query, colloquial-lexicon hits, an exact alias hit, and whether the region publishes it.
A logistic model fitted on the dev set (fusion.json, `python -m assistant tune`) turns
them into a probability; "none" is a top probability under the tuned threshold.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from knowledge.loader import KnowledgeBase

from .. import text as T
from . import lexical
from .dense import DEFAULT_CACHE, DenseIndex, cache_key
from .documents import MatterEntry, matter_entries, matter_texts, scenario_texts
from .lexicon import Lexicon, default_lexicon

FUSION_FILE = Path(__file__).resolve().parents[1] / "data" / "fusion.json"
FEATURES = (
    "dense_core", "dense_parts", "dense_gap", "bm25_core", "bm25_parts", "char_cover", "pinyin_cover",
    "lexicon_hit", "alias_exact", "published", "dense_core_x_alias", "dense_rank", "bm25_rank",
)


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

    def to_dict(self) -> dict:
        return {
            "label": self.label, "region": self.region, "p_any": self.p_any, "not_published": self.not_published,
            "best": asdict(self.best) if self.best else None,
            "alternatives": [asdict(c) for c in self.alternatives],
            "candidates": [asdict(c) for c in self.candidates[:5]],
            "matters": [asdict(m) for m in self.matters[:5]],
        }


QUERY_FEATURES = (
    "top_p", "second_p", "top_gap", "max_dense_core", "max_bm25_core", "max_char_cover", "max_pinyin_cover",
    "max_lexicon_hit", "any_alias", "log_length", "ascii_ratio",
)


def query_features(x: np.ndarray, p: np.ndarray, meant: str) -> np.ndarray:
    """Whole-query evidence for "is this any scenario at all" (stage two)."""
    top2 = np.sort(p)[-2:]
    col = {name: i for i, name in enumerate(FEATURES)}
    ascii_chars = sum(1 for ch in meant if ch.isascii() and ch.isalpha())
    return np.array([
        top2[1], top2[0], top2[1] - top2[0], x[:, col["dense_core"]].max(), x[:, col["bm25_core"]].max(),
        x[:, col["char_cover"]].max(), x[:, col["pinyin_cover"]].max(), x[:, col["lexicon_hit"]].max(),
        x[:, col["alias_exact"]].max(), np.log1p(len(meant)), ascii_chars / max(len(meant), 1),
    ], dtype=np.float64)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class Fusion:
    """Two calibrated logistic stages fitted on the dev set (`python -m assistant tune`):
    which scenario (per-scenario features) and whether any scenario fits (query features)."""

    weights: np.ndarray
    bias: float
    any_weights: np.ndarray
    any_bias: float
    threshold: float  # P(any scenario fits) under this means "none"
    margin: float = 0.15  # runners-up whose score is within this of the best are offered as choices
    matter_weights: tuple[float, float, float] = (1.0, 0.35, 0.25)  # dense, bm25, char cover

    @classmethod
    def load(cls, path: Path = FUSION_FILE) -> "Fusion":
        if not path.exists():  # untuned: a hand-set starting point, replaced by `python -m assistant tune`
            w = np.array([6, 2, 4, 2, 0.5, 2, 1.5, 2, 2, 0.3, 0, 1, 1], dtype=np.float64)
            aw = np.zeros(len(QUERY_FEATURES))
            aw[0] = 8.0
            return cls(w, -6.0, aw, -4.0, 0.5)
        raw = json.loads(path.read_text())
        if tuple(raw["features"]) != FEATURES or tuple(raw["query_features"]) != QUERY_FEATURES:
            raise ValueError("fusion.json was fitted on other features: run `python -m assistant tune`")
        return cls(np.array(raw["weights"]), raw["bias"], np.array(raw["any_weights"]), raw["any_bias"],
                   raw["threshold"], raw.get("margin", 0.15), tuple(raw.get("matter_weights", (1.0, 0.35, 0.25))))

    def save(self, path: Path = FUSION_FILE, **extra) -> None:
        path.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6), "query_features": list(QUERY_FEATURES),
            "any_weights": [round(float(w), 6) for w in self.any_weights], "any_bias": round(float(self.any_bias), 6),
            "threshold": round(float(self.threshold), 6), "margin": self.margin,
            "matter_weights": list(self.matter_weights), **extra,
        }, ensure_ascii=False, indent=1) + "\n")

    def probability(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(x @ self.weights + self.bias)

    def decide(self, x: np.ndarray, meant: str) -> tuple[np.ndarray, float]:
        """(score per scenario = P(any fits) x its share, P(any scenario fits))."""
        p = self.probability(x)
        p_any = float(_sigmoid(query_features(x, p, meant) @ self.any_weights + self.any_bias))
        return p_any * p / max(float(p.sum()), 1e-12), p_any


class Identifier:
    """Built once per knowledge version; thread-safe for queries."""

    def __init__(self, kb: KnowledgeBase, model=None, *, cache_dir: Path = DEFAULT_CACHE,
                 lexicon: Optional[Lexicon] = None, fusion: Optional[Fusion] = None, progress: bool = True):
        from .embedding import load_model, model_id

        self.kb = kb
        self.model = model if model is not None else load_model()
        self.lexicon = lexicon or default_lexicon()
        self.fusion = fusion or Fusion.load()
        self.scenario_ids = sorted(kb.scenarios)
        self._lock = threading.Lock()
        lexical.add_user_words(self._user_words())

        mid = model_id() if model is None else getattr(model, "yici_model_id", type(model).__name__)
        stexts = scenario_texts(kb)
        mtexts = matter_texts(kb)
        self.scenario_index = DenseIndex.load_or_build(
            "scenarios", stexts, self.model, cache_key(kb.version, mid, stexts), cache_dir, progress)
        self.matter_index = DenseIndex.load_or_build(
            "matters", mtexts, self.model, cache_key(kb.version, mid, mtexts), cache_dir, progress)
        assert self.scenario_index.owners == self.scenario_ids
        self._field_masks = {
            f: np.array([t.field == f for t in self.scenario_index.texts]) for f in ("core", "parts")
        }

        core_docs = {sid: [] for sid in self.scenario_ids}
        part_docs = {sid: [] for sid in self.scenario_ids}
        for t in stexts:
            (core_docs if t.field == "core" else part_docs)[t.owner].append(t.text)
        self.core_text = {sid: " ".join(v) for sid, v in core_docs.items()}
        self.bm25_core = lexical.BM25([lexical.terms(self.core_text[s]) for s in self.scenario_ids])
        self.bm25_parts = lexical.BM25([lexical.terms(" ".join(part_docs[s])) for s in self.scenario_ids])
        self.core_bigrams = {s: set(T.char_ngrams(self.core_text[s])) for s in self.scenario_ids}
        self.core_pinyin = {s: set(T.pinyin_ngrams(self.core_text[s])) for s in self.scenario_ids}
        self.all_text = {s: self.core_text[s] + " " + " ".join(part_docs[s]) for s in self.scenario_ids}
        self.aliases = {
            s: [a for a in (T.normalize(x) for x in (*kb.scenarios[s].aliases, kb.scenarios[s].title)) if len(a) >= 2]
            for s in self.scenario_ids
        }

        self.matter_entries = {e.key: e for e in matter_entries(kb)}
        self.matter_keys = self.matter_index.owners
        self.bm25_matters = lexical.BM25([
            lexical.terms(" ".join(t.text for t in mtexts if t.owner == key)) for key in self.matter_keys
        ])
        self.matter_bigrams = [set(T.char_ngrams(" ".join(t.text for t in mtexts if t.owner == key)))
                               for key in self.matter_keys]

    def _user_words(self) -> list[str]:
        words = []
        for s in self.kb.scenarios.values():
            words += [s.title, *s.aliases, *(m.name for m in s.matters.values())]
        words += [m.name for m in self.kb.matters.values()]
        words += [p for p, _, _ in self.lexicon.entries]
        return [T.normalize(w) for w in words]

    # ------------------------------------------------------------------ features
    def prepare(self, text: str) -> tuple[str, str]:
        """(what the user means, with negated parts removed; that plus lexicon expansions)."""
        meant = T.strip_negated(T.normalize(text))
        expansion = self.lexicon.expand(meant)
        return meant, (meant + " " + " ".join(expansion)).strip()

    def encode(self, text: str) -> np.ndarray:
        return self.model.encode_query([text], convert_to_numpy=True, normalize_embeddings=True,
                                       show_progress_bar=False)[0]

    def features(self, text: str, region: str, vector: Optional[np.ndarray] = None) -> np.ndarray:
        meant, expanded = self.prepare(text)
        vector = self.encode(expanded) if vector is None else vector
        sims = self.scenario_index.vectors @ vector.astype(np.float32)
        owner = self.scenario_index.owner_of_row
        n = len(self.scenario_ids)
        dense = {}
        for f, mask in self._field_masks.items():
            best = np.full(n, -1.0, dtype=np.float32)
            np.maximum.at(best, owner[mask], sims[mask])
            dense[f] = best
        core = dense["core"]
        order = np.argsort(-core)
        gap = core - np.where(np.arange(n) == order[0], core[order[1]], core[order[0]])

        q_terms = lexical.terms(expanded)
        scale = max(self.bm25_core.max_score(q_terms), 1e-6)
        bm_core = np.array(self.bm25_core.scores(q_terms)) / scale
        bm_parts = np.array(self.bm25_parts.scores(q_terms)) / scale

        dense_rank = np.empty(n)
        dense_rank[order] = 1.0 / (np.arange(n) + 1)
        bm_rank = np.empty(n)
        bm_rank[np.argsort(-(bm_core + 0.5 * bm_parts))] = 1.0 / (np.arange(n) + 1)
        grams = set(T.char_ngrams(meant))
        pys = set(T.pinyin_ngrams(meant))
        expansion = expanded[len(meant):].split()
        rows = []
        for i, sid in enumerate(self.scenario_ids):
            char_cover = len(grams & self.core_bigrams[sid]) / len(grams) if grams else 0.0
            pinyin_cover = len(pys & self.core_pinyin[sid]) / len(pys) if pys else 0.0
            lex = (sum(1 for t in expansion if t in self.all_text[sid]) / len(expansion)) if expansion else 0.0
            alias = 1.0 if any(a in meant for a in self.aliases[sid]) else 0.0
            published = 1.0 if region in self.kb.scenarios[sid].regions else 0.0
            rows.append([core[i], dense["parts"][i], gap[i], bm_core[i], bm_parts[i], char_cover,
                         pinyin_cover, lex, alias, published, core[i] * alias, dense_rank[i], bm_rank[i]])
        return np.array(rows, dtype=np.float64)

    # ------------------------------------------------------------------ answers
    def identify(self, text: str, region: str, *, with_matters: bool = True) -> Identification:
        meant, expanded = self.prepare(text)
        vector = self.encode(expanded)
        x = self.features(text, region, vector)
        scores, p_any = self.fusion.decide(x, meant)
        order = np.argsort(-scores)
        candidates = [self._candidate(self.scenario_ids[i], float(scores[i]), region) for i in order]
        result = Identification(text, region, candidates,
                                self.search_matters(meant, expanded, vector, region) if with_matters else [],
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

    def search_matters(self, meant: str, expanded: str, vector: np.ndarray, region: Optional[str] = None,
                       k: int = 10) -> list[MatterHit]:
        sims = self.matter_index.vectors @ vector.astype(np.float32)
        dense = np.full(len(self.matter_keys), -1.0, dtype=np.float32)
        np.maximum.at(dense, self.matter_index.owner_of_row, sims)
        q_terms = lexical.terms(expanded)
        scale = max(self.bm25_matters.max_score(q_terms), 1e-6)
        bm = np.array(self.bm25_matters.scores(q_terms)) / scale
        grams = set(T.char_ngrams(meant))
        cover = np.array([len(grams & g) / len(grams) if grams else 0.0 for g in self.matter_bigrams])
        wd, wb, wc = self.fusion.matter_weights
        score = wd * dense + wb * bm + wc * cover
        hits, seen = [], set()
        for i in np.argsort(-score):
            entry: MatterEntry = self.matter_entries[self.matter_keys[i]]
            if entry.name in seen:
                continue
            seen.add(entry.name)
            hits.append(MatterHit(entry.key, entry.name, entry.kind, entry.scenario, round(float(score[i]), 4)))
            if len(hits) == k:
                break
        return hits

    def find_matters(self, text: str, k: int = 10) -> list[MatterHit]:
        meant, expanded = self.prepare(text)
        return self.search_matters(meant, expanded, self.encode(expanded), k=k)


_shared: dict[str, Identifier] = {}
_shared_lock = threading.Lock()


def shared_identifier(kb: KnowledgeBase) -> Identifier:
    """One Identifier per knowledge version in this process (the model loads once)."""
    with _shared_lock:
        if kb.version not in _shared:
            model = next(iter(_shared.values())).model if _shared else None
            _shared[kb.version] = Identifier(kb, model, progress=os.environ.get("YICI_PROGRESS", "1") == "1")
        return _shared[kb.version]
