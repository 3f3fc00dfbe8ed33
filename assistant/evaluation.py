"""Evaluation and tuning of identification and matter search on TSV files.

identify TSV: `text	region	expected` (expected: scenario id, ids joined by |, or none)
matters TSV:  `text	expected` (expected: name substrings joined by |)
"""
from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from .search.identify import FEATURES, Fusion, Identifier


class DataFileError(ValueError):
    pass


@dataclass(frozen=True)
class IdentifyRow:
    text: str
    region: str
    expected: frozenset[str]


@dataclass(frozen=True)
class MatterRow:
    text: str
    expected: tuple[str, ...]


def _read(path: Path, header: Sequence[str]) -> list[dict]:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(header):
                raise DataFileError(f"{path}: 表头应为 {' '.join(header)}（制表符分隔），实为 {reader.fieldnames}")
            rows = []
            for n, row in enumerate(reader, start=2):
                if any(row.get(h) in (None, "") for h in header):
                    raise DataFileError(f"{path}:{n}: 缺少列值")
                rows.append({h: row[h].strip() for h in header})
            return rows
    except OSError as exc:
        raise DataFileError(f"无法读取 {path}: {exc}") from exc


def read_identify(path: Path, known: Optional[set[str]] = None, regions: Optional[set[str]] = None) -> list[IdentifyRow]:
    rows = []
    for n, r in enumerate(_read(path, ("text", "region", "expected")), start=2):
        expected = frozenset(e.strip() for e in r["expected"].split("|") if e.strip())
        if known is not None and not expected <= known | {"none"}:
            raise DataFileError(f"{path}:{n}: 未知的情景 id {sorted(expected - known - {'none'})}")
        if regions is not None and r["region"] not in regions:
            raise DataFileError(f"{path}:{n}: 未知的地区 {r['region']!r}")
        rows.append(IdentifyRow(r["text"], r["region"], expected))
    return rows


def read_matters(path: Path) -> list[MatterRow]:
    return [MatterRow(r["text"], tuple(e for e in r["expected"].split("|") if e))
            for r in _read(path, ("text", "expected"))]


# ---------------------------------------------------------------- scoring
def ranking(labels: Sequence[str], scores: Sequence[float], threshold: float) -> list[str]:
    """Ranked answers with "none" placed where the threshold cuts the scores."""
    above = [l for l, s in zip(labels, scores) if s >= threshold]
    below = [l for l, s in zip(labels, scores) if s < threshold]
    return above + ["none"] + below


def metrics(rows: Sequence[IdentifyRow], ranked: Sequence[list[str]]) -> dict:
    n = len(rows)
    top1 = sum(r[0] in row.expected for row, r in zip(rows, ranked))
    top3 = sum(bool(set(r[:3]) & row.expected) for row, r in zip(rows, ranked))
    pred_none = [r[0] == "none" for r in ranked]
    true_none = ["none" in row.expected for row in rows]
    tp = sum(p and t for p, t in zip(pred_none, true_none))
    return {
        "n": n,
        "top1": round(top1 / n, 4) if n else 0.0,
        "top3": round(top3 / n, 4) if n else 0.0,
        "none_precision": round(tp / sum(pred_none), 4) if sum(pred_none) else 1.0,
        "none_recall": round(tp / sum(true_none), 4) if sum(true_none) else 1.0,
    }


class Scorer:
    """Per-row scores of the fused model and of the two baselines, computed once."""

    def __init__(self, identifier: Identifier, rows: Sequence[IdentifyRow]):
        self.identifier = identifier
        self.rows = list(rows)
        self.labels = identifier.scenario_ids
        self.features, self.bm25, self.dense = [], [], []
        for row in self.rows:
            meant, expanded = identifier.prepare(row.text)
            vector = identifier.encode(expanded)
            x = identifier.features(row.text, row.region, vector)
            self.features.append(x)
            # Baselines see the plain normalised text: no lexicon, no negation handling, no fusion.
            plain = identifier.encode(_plain(row.text))
            self.dense.append(_dense_baseline(identifier, plain))
            self.bm25.append(_bm25_baseline(identifier, _plain(row.text)))

    def ranked(self, scores: Sequence[np.ndarray], threshold: float) -> list[list[str]]:
        out = []
        for s in scores:
            order = np.argsort(-s)
            out.append(ranking([self.labels[i] for i in order], [float(s[i]) for i in order], threshold))
        return out

    def fused(self, fusion: Fusion) -> list[np.ndarray]:
        return [fusion.probability(x) for x in self.features]


def _plain(text: str) -> str:
    from .text import normalize

    return normalize(text)


def _dense_baseline(identifier: Identifier, vector: np.ndarray) -> np.ndarray:
    sims = identifier.scenario_index.vectors @ vector.astype(np.float32)
    best = np.full(len(identifier.scenario_ids), -1.0, dtype=np.float32)
    np.maximum.at(best, identifier.scenario_index.owner_of_row, sims)
    return best.astype(np.float64)


def _bm25_baseline(identifier: Identifier, text: str) -> np.ndarray:
    from .search import lexical

    terms = lexical.terms(text)
    scale = max(identifier.bm25_core.max_score(terms), 1e-6)
    return (np.array(identifier.bm25_core.scores(terms)) + np.array(identifier.bm25_parts.scores(terms))) / scale


def best_threshold(scorer: Scorer, scores: Sequence[np.ndarray]) -> float:
    """Threshold maximising top-1 accuracy (none counts as a label); vectorised over rows."""
    top = np.array([float(np.max(s)) for s in scores])
    top_ok = np.array([scorer.labels[int(np.argmax(s))] in row.expected for s, row in zip(scores, scorer.rows)])
    none_ok = np.array(["none" in row.expected for row in scorer.rows])
    best, best_acc = 0.5, -1.0
    for t in np.unique(np.concatenate([[0.0], top + 1e-9])):
        acc = float(np.mean(np.where(top >= t, top_ok, none_ok)))
        if acc > best_acc:
            best, best_acc = float(t), acc
    return best


def errors_report(rows: Sequence[IdentifyRow], ranked: Sequence[list[str]]) -> list[str]:
    per_label: dict[str, list[str]] = defaultdict(list)
    confusion: Counter = Counter()
    for row, r in zip(rows, ranked):
        if r[0] not in row.expected:
            gold = "|".join(sorted(row.expected))
            per_label[gold].append(f"    {row.text[:60]!r} [{row.region}] -> {r[0]} (then {', '.join(r[1:3])})")
            confusion[(gold, r[0])] += 1
    lines = [f"错误 {sum(len(v) for v in per_label.values())} / {len(rows)}"]
    for label in sorted(per_label, key=lambda k: -len(per_label[k])):
        lines.append(f"  {label}: {len(per_label[label])}")
        lines += per_label[label]
    lines.append("混淆（期望 -> 预测: 次数）:")
    lines += [f"  {g} -> {p}: {c}" for (g, p), c in confusion.most_common(20)]
    return lines


def evaluate_identify(identifier: Identifier, rows: Sequence[IdentifyRow]) -> tuple[dict, list[str]]:
    scorer = Scorer(identifier, rows)
    fusion = identifier.fusion
    ranked = scorer.ranked(scorer.fused(fusion), fusion.threshold)
    result = metrics(rows, ranked)
    base = json.loads(Path(_fusion_path()).read_text()).get("baselines", {}) if Path(_fusion_path()).exists() else {}
    result["baselines"] = {
        "bm25": metrics(rows, scorer.ranked(scorer.bm25, base.get("bm25_threshold", 0.5))),
        "embedding": metrics(rows, scorer.ranked(scorer.dense, base.get("embedding_threshold", 0.85))),
    }
    return result, errors_report(rows, ranked)


def _fusion_path() -> Path:
    from .search.identify import FUSION_FILE

    return FUSION_FILE


def evaluate_matters(identifier: Identifier, rows: Sequence[MatterRow],
                     weights: Optional[tuple[float, float, float]] = None) -> tuple[dict, list[str]]:
    if weights is not None:
        identifier.fusion.matter_weights = weights
    top1 = top5 = 0
    errors = []
    for row in rows:
        names = [h.name for h in identifier.find_matters(row.text, k=5)]
        hit = [any(e in name for e in row.expected) for name in names]
        top1 += bool(hit[:1] and hit[0])
        top5 += any(hit)
        if not (hit and hit[0]):
            errors.append(f"    {row.text[:50]!r} 期望 {'|'.join(row.expected)} -> {names[:3]}")
    n = len(rows)
    return {"n": n, "top1": round(top1 / n, 4) if n else 0.0, "top5": round(top5 / n, 4) if n else 0.0}, \
        [f"错误 {len(errors)} / {n}", *errors]


# ---------------------------------------------------------------- tuning
def fit_fusion(scorer: Scorer, c: float = 1.0) -> Fusion:
    from sklearn.linear_model import LogisticRegression

    xs, ys, ws = [], [], []
    for row, x in zip(scorer.rows, scorer.features):
        for i, label in enumerate(scorer.labels):
            xs.append(x[i])
            ys.append(1 if label in row.expected else 0)
            ws.append(1.0 if label in row.expected else 0.15)  # one positive among 47: rebalance
    model = LogisticRegression(C=c, max_iter=2000)
    model.fit(np.array(xs), np.array(ys), sample_weight=np.array(ws))
    fusion = Fusion(model.coef_[0].astype(np.float64), float(model.intercept_[0]), 0.5)
    fusion.threshold = best_threshold(scorer, scorer.fused(fusion))
    return fusion


def cross_validate(scorer: Scorer, folds: int = 5, c: float = 1.0, seed: int = 7) -> dict:
    """Held-out estimate on the dev set itself: fit on 4/5, score the other 1/5."""
    idx = np.random.default_rng(seed).permutation(len(scorer.rows))
    ranked: list[Optional[list[str]]] = [None] * len(scorer.rows)
    for k in range(folds):
        test = set(idx[k::folds].tolist())
        train = _subset(scorer, [i for i in range(len(scorer.rows)) if i not in test])
        fusion = fit_fusion(train, c)
        held = _subset(scorer, sorted(test))
        for i, r in zip(sorted(test), held.ranked(held.fused(fusion), fusion.threshold)):
            ranked[i] = r
    return metrics(scorer.rows, ranked)  # type: ignore[arg-type]


def _subset(scorer: Scorer, indices: Iterable[int]) -> Scorer:
    sub = object.__new__(Scorer)
    sub.identifier, sub.labels = scorer.identifier, scorer.labels
    indices = list(indices)
    sub.rows = [scorer.rows[i] for i in indices]
    sub.features = [scorer.features[i] for i in indices]
    sub.bm25 = [scorer.bm25[i] for i in indices]
    sub.dense = [scorer.dense[i] for i in indices]
    return sub


def tune_matters(identifier: Identifier, rows: Sequence[MatterRow]) -> tuple[tuple[float, float, float], dict]:
    best, best_m = identifier.fusion.matter_weights, {"top1": -1.0}
    for wb in (0.0, 0.2, 0.35, 0.5, 0.8):
        for wc in (0.0, 0.15, 0.25, 0.4, 0.6):
            m, _ = evaluate_matters(identifier, rows, (1.0, wb, wc))
            if (m["top1"], m["top5"]) > (best_m["top1"], best_m.get("top5", -1)):
                best, best_m = (1.0, wb, wc), m
    identifier.fusion.matter_weights = best
    return best, best_m


def tune(identifier: Identifier, dev: Sequence[IdentifyRow], matters: Sequence[MatterRow],
         log: Callable[[str], None] = print) -> dict:
    scorer = Scorer(identifier, dev)
    report: dict = {}
    best_c, best_cv = 1.0, None
    for c in (0.1, 0.3, 1.0, 3.0, 10.0):
        cv = cross_validate(scorer, c=c)
        log(f"C={c}: 5-fold CV {cv}")
        if best_cv is None or (cv["top1"], cv["top3"]) > (best_cv["top1"], best_cv["top3"]):
            best_c, best_cv = c, cv
    fusion = fit_fusion(scorer, best_c)
    fusion.margin = identifier.fusion.margin
    identifier.fusion = fusion
    weights, mres = tune_matters(identifier, matters)
    fusion.matter_weights = weights
    baselines = {
        "bm25_threshold": best_threshold(scorer, scorer.bm25),
        "embedding_threshold": best_threshold(scorer, scorer.dense),
    }
    report = {"C": best_c, "cv": best_cv, "matters_dev": mres,
              "dev_fit": metrics(dev, scorer.ranked(scorer.fused(fusion), fusion.threshold))}
    fusion.save(baselines=baselines, tuned_on={"identify": len(dev), "matters": len(matters)}, report=report)
    return report


__all__ = ["FEATURES", "read_identify", "read_matters", "evaluate_identify", "evaluate_matters", "tune"]
