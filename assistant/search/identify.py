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
    "lexicon_hit", "alias_exact", "published", "dense_core_x_alias",
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
    best: Optional[Candidate] = None  # None: nothing fits
    not_published: bool = False  # best fits but the region does not publish it
    alternatives: list[Candidate] = field(default_factory=list)  # close runners-up to offer as choices

    @property
    def label(self) -> str:
        return self.best.scenario if self.best else "none"

    def to_dict(self) -> dict:
        return {
            "label": self.label, "region": self.region, "not_published": self.not_published,
            "best": asdict(self.best) if self.best else None,
            "alternatives": [asdict(c) for c in self.alternatives],
            "candidates": [asdict(c) for c in self.candidates[:5]],
            "matters": [asdict(m) for m in self.matters[:5]],
        }


@dataclass
class Fusion:
    weights: np.ndarray
    bias: float
    threshold: float  # top probability under this means "none"
    margin: float = 0.25  # runners-up within this of the best are offered as choices
    matter_weights: tuple[float, float, float] = (1.0, 0.35, 0.25)  # dense, bm25, char cover

    @classmethod
    def load(cls, path: Path = FUSION_FILE) -> "Fusion":
        if not path.exists():  # untuned: a hand-set starting point, replaced by `python -m assistant tune`
            w = np.array([6, 2, 4, 2, 0.5, 2, 1.5, 2, 2, 0.3, 0], dtype=np.float64)
            return cls(w, -6.0, 0.5)
        raw = json.loads(path.read_text())
        assert tuple(raw["features"]) == FEATURES, "fusion.json was fitted on other features: rerun tune"
        return cls(np.array(raw["weights"]), raw["bias"], raw["threshold"], raw.get("margin", 0.25),
                   tuple(raw.get("matter_weights", (1.0, 0.35, 0.25))))

    def save(self, path: Path = FUSION_FILE, **extra) -> None:
        path.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(float(w), 6) for w in self.weights],
            "bias": round(float(self.bias), 6), "threshold": self.threshold, "margin": self.margin,
            "matter_weights": list(self.matter_weights), **extra,
        }, ensure_ascii=False, indent=1) + "\n")

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x @ self.weights + self.bias)))


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
                         pinyin_cover, lex, alias, published, core[i] * alias])
        return np.array(rows, dtype=np.float64)

    # ------------------------------------------------------------------ answers
    def identify(self, text: str, region: str, *, with_matters: bool = True) -> Identification:
        meant, expanded = self.prepare(text)
        vector = self.encode(expanded)
        x = self.features(text, region, vector)
        probs = self.fusion.probability(x)
        order = np.argsort(-probs)
        candidates = [self._candidate(self.scenario_ids[i], float(probs[i]), region) for i in order]
        result = Identification(text, region, candidates,
                                self.search_matters(meant, expanded, vector, region) if with_matters else [],
                                self.fusion.threshold)
        top = candidates[0]
        if top.score >= self.fusion.threshold:
            result.best = top
            result.not_published = not top.published
            result.alternatives = [c for c in candidates[1:4] if c.score >= top.score - self.fusion.margin
                                   and c.score >= self.fusion.threshold / 2]
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
