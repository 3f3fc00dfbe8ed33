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

from .search.identify import FEATURES, Fusion, Identifier, rank_with_none


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
NONE = "none"


def ranking(labels: Sequence[str], scores: Sequence[float], is_none: bool) -> list[str]:
    """The baselines' ranked answers: they have no probability for "none", so it comes first
    when nothing fits, else last (never a free top-3 hit)."""
    order = [l for _, l in sorted(zip(scores, labels), key=lambda t: -t[0])]
    return [NONE, *order] if is_none else [*order, NONE]


def metrics(rows: Sequence[IdentifyRow], ranked: Sequence[list[str]]) -> dict:
    n = len(rows)
    top1 = sum(r[0] in row.expected for row, r in zip(rows, ranked))
    top3 = sum(bool(set(r[:3]) & row.expected) for row, r in zip(rows, ranked))
    pred_none = [r[0] == NONE for r in ranked]
    true_none = [NONE in row.expected for row in rows]
    tp = sum(p and t for p, t in zip(pred_none, true_none))
    return {
        "n": n,
        "top1": round(top1 / n, 4) if n else 0.0,
        "top3": round(top3 / n, 4) if n else 0.0,
        "none_precision": round(tp / sum(pred_none), 4) if sum(pred_none) else 1.0,
        "none_recall": round(tp / sum(true_none), 4) if sum(true_none) else 1.0,
    }


class Scorer:
    """Per-row features of the fused model and scores of the two baselines, computed once."""

    def __init__(self, identifier: Identifier, rows: Sequence[IdentifyRow], tuning: bool = False):
        self.identifier = identifier
        self.rows = list(rows)
        self.labels = identifier.scenario_ids
        self.features, self.meant, self.none, self.bm25, self.dense = [], [], [], [], []
        for row in self.rows:
            q = identifier.query(row.text)
            self.meant.append(q.meant)
            self.features.append(identifier.features(q, row.region))
            self.none.append(identifier.none_evidence(q, skip_copies=tuning))
            # Baselines see the plain normalised text: no lexicon, no negation handling, no fusion.
            plain = _plain(row.text)
            self.dense.append(_dense_baseline(identifier, identifier.encode(plain)))
            self.bm25.append(_bm25_baseline(identifier, plain))

    def decisions(self, fusion: Fusion) -> list[tuple[np.ndarray, float]]:
        return [fusion.decide(x, m, e) for x, m, e in zip(self.features, self.meant, self.none)]

    def ranked_fused(self, fusion: Fusion) -> list[list[str]]:
        return [rank_with_none(self.labels, s, p_any, fusion.threshold) for s, p_any in self.decisions(fusion)]

    def ranked_baseline(self, scores: Sequence[np.ndarray], threshold: float) -> list[list[str]]:
        return [ranking(self.labels, s, float(np.max(s)) < threshold) for s in scores]


def _plain(text: str) -> str:
    from .text import normalize

    return normalize(text)


def _dense_baseline(identifier: Identifier, vector: np.ndarray) -> np.ndarray:
    best, = identifier.scenario_index.owner_best(vector)
    return best


def _bm25_baseline(identifier: Identifier, text: str) -> np.ndarray:
    from .search import lexical

    terms = lexical.terms(text)
    scale = max(identifier.bm25_core.max_score(terms), 1e-6)
    return (np.array(identifier.bm25_core.scores(terms)) + np.array(identifier.bm25_parts.scores(terms))) / scale


# Share of "nothing fits" texts the threshold is chosen for, whatever share a dev file holds.
# 5-fold CV on dev1-5 (2026-11-21): 0.12 -> top-1 0.975, none P/R 0.975/0.942; 0.20 -> 0.976,
# 0.976/0.947; the rows as they come (0.23) -> 0.975, 0.960/0.958. (0.12 was chosen when the
# gate had fewer out-of-scope texts and said "none" too readily.)
NONE_SHARE = 0.20


def best_threshold(rows: Sequence[IdentifyRow], labels: Sequence[str], scores: Sequence[np.ndarray],
                   gate: Sequence[float], none_share: Optional[float] = NONE_SHARE) -> float:
    """Threshold on `gate` (per row) maximising top-1 accuracy, none counted as a label, with
    the none rows weighted to `none_share` of the total (None: as they come)."""
    gate = np.asarray(gate, dtype=np.float64)
    top_ok = np.array([labels[int(np.argmax(s))] in row.expected for s, row in zip(scores, rows)])
    none_ok = np.array([NONE in row.expected for row in rows])
    weight = np.ones(len(rows))
    if none_share is not None and 0 < none_ok.sum() < len(rows):
        weight = np.where(none_ok, none_share / none_ok.mean(), (1 - none_share) / (1 - none_ok.mean()))
    cuts = np.unique(np.concatenate([[min(0.0, gate.min(initial=0.0))], gate + 1e-9]))
    acc = np.array([np.average(np.where(gate >= t, top_ok, none_ok), weights=weight) for t in cuts])
    # Every threshold from cuts[i] up to cuts[i + 1] scores the same: of the best run of such
    # intervals take the middle, not the lower edge, which sits right on one row's score.
    i = j = int(np.argmax(acc))
    while j + 1 < len(acc) and acc[j + 1] >= acc[i] - 1e-12:
        j += 1
    return float(cuts[i] if j + 1 == len(cuts) else (cuts[i] + cuts[j + 1]) / 2)


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
    ranked = [_with_clauses(identifier, row, r) for row, r in zip(rows, scorer.ranked_fused(identifier.fusion))]
    result = metrics(rows, ranked)
    base = json.loads(Path(_fusion_path()).read_text()).get("baselines", {}) if Path(_fusion_path()).exists() else {}
    result["baselines"] = {
        "bm25": metrics(rows, scorer.ranked_baseline(scorer.bm25, base.get("bm25_threshold", 0.5))),
        "embedding": metrics(rows, scorer.ranked_baseline(scorer.dense, base.get("embedding_threshold", 0.85))),
    }
    return result, errors_report(rows, ranked)


def _with_clauses(identifier: Identifier, row: IdentifyRow, ranked: list[str]) -> list[str]:
    """What identify() answers when the whole sentence falls under the gate: it may still
    decide on one clause (Identifier._from_clause), so the metrics count that too."""
    if ranked[0] != NONE:
        return ranked
    found = identifier.identify(row.text, row.region, with_matters=False)
    return found.ranked_labels() if found.best else ranked


def _fusion_path() -> Path:
    from .search.identify import FUSION_FILE

    return FUSION_FILE


def evaluate_matters(identifier: Identifier, rows: Sequence[MatterRow]) -> tuple[dict, list[str]]:
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
def _fit_stage1(scorer: Scorer, indices: Sequence[int], c: float) -> tuple[np.ndarray, float]:
    """Listwise: a softmax over the scenarios of each in-scope row, its mass on the expected
    ones (L2 penalty 1/2C). Rows meaning none say nothing about which scenario."""
    from scipy.optimize import minimize

    lists = []
    for i in indices:
        y = np.array([label in scorer.rows[i].expected for label in scorer.labels], dtype=np.float64)
        if y.any():
            lists.append((scorer.features[i], y))
    x_all = np.stack([x for x, _ in lists])  # rows x scenarios x features
    y_all = np.stack([y for _, y in lists])

    def loss(w):
        z = x_all @ w
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        right = np.maximum((p * y_all).sum(axis=1), 1e-12)
        q = p * y_all / right[:, None] - p
        return 0.5 / c * float(w @ w) - float(np.log(right).sum()), w / c - np.einsum("rs,rsf->f", q, x_all)

    w = minimize(loss, np.zeros(x_all.shape[2]), jac=True, method="L-BFGS-B").x
    return w.astype(np.float64), 0.0


def fit_fusion(scorer: Scorer, c: float = 1.0, folds: int = 5) -> Fusion:
    """Stage one on all rows; stage two (and the threshold) on stage one's out-of-fold
    probabilities, so the none gate learns from scores as confident as unseen text gets."""
    from sklearn.linear_model import LogisticRegression

    from .search.identify import query_features

    n = len(scorer.rows)
    oof: list[Optional[np.ndarray]] = [None] * n
    perm = np.random.default_rng(3).permutation(n)
    for k in range(folds):
        held = perm[k::folds].tolist()
        w, b = _fit_stage1(scorer, sorted(set(range(n)) - set(held)), c)
        for i in held:
            oof[i] = Fusion(w, b, np.zeros(0), 0.0, 0.5).probability(scorer.features[i])
    w, b = _fit_stage1(scorer, range(n), c)
    qx = np.array([query_features(x, p, m, e) for x, p, m, e in zip(scorer.features, oof, scorer.meant, scorer.none)])
    qy = np.array([0 if NONE in row.expected else 1 for row in scorer.rows])
    def fit_gate(rows):
        return LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(qx[rows], qy[rows])

    # The threshold is chosen on the gate's out-of-fold probabilities too: in-sample ones are
    # surer than unseen text, and a threshold set on them answers "none" too readily.
    oof_any = np.zeros(n)
    for k in range(folds):
        held = perm[k::folds]
        fold_gate = fit_gate(np.setdiff1d(perm, held))
        oof_any[held] = fold_gate.predict_proba(qx[held])[:, 1]
    gate = fit_gate(perm)
    fusion = Fusion(w, b, gate.coef_[0].astype(np.float64), float(gate.intercept_[0]), 0.5)
    fusion.threshold = best_threshold(scorer.rows, scorer.labels, oof, oof_any)  # type: ignore[arg-type]
    return fusion


def cross_validate(scorer: Scorer, folds: int = 5, c: float = 1.0, seed: int = 7) -> dict:
    """Held-out estimate on the dev set itself: fit on 4/5, score the other 1/5."""
    idx = np.random.default_rng(seed).permutation(len(scorer.rows))
    ranked: list[Optional[list[str]]] = [None] * len(scorer.rows)
    for k in range(folds):
        test = sorted(idx[k::folds].tolist())
        train = _subset(scorer, sorted(set(range(len(scorer.rows))) - set(test)))
        fusion = fit_fusion(train, c)
        for i, r in zip(test, _subset(scorer, test).ranked_fused(fusion)):
            ranked[i] = r
    return metrics(scorer.rows, ranked)  # type: ignore[arg-type]


def _subset(scorer: Scorer, indices: Iterable[int]) -> Scorer:
    sub = object.__new__(Scorer)
    sub.identifier, sub.labels = scorer.identifier, scorer.labels
    indices = list(indices)
    sub.rows = [scorer.rows[i] for i in indices]
    sub.features = [scorer.features[i] for i in indices]
    sub.meant = [scorer.meant[i] for i in indices]
    sub.none = [scorer.none[i] for i in indices]
    sub.bm25 = [scorer.bm25[i] for i in indices]
    sub.dense = [scorer.dense[i] for i in indices]
    return sub


def _matter_training(identifier: Identifier, rows: Sequence[MatterRow]):
    data = []
    for row in rows:
        cand, x = identifier.matter_features(identifier.query(row.text))
        names = [identifier.matter_entries[identifier.matter_keys[i]].name for i in cand]
        data.append((x, np.array([any(e in n for e in row.expected) for n in names], dtype=int)))
    return data


def _fit_matters(data, c: float) -> tuple[np.ndarray, float]:
    """Listwise: a softmax over each query's candidates, the mass on its right names (ranking
    is what is asked: a pointwise fit spends itself on the many easy negatives). Then one
    logistic on that score, so that score >= 0.5 still reads "probably fits"."""
    from scipy.optimize import minimize
    from sklearn.linear_model import LogisticRegression

    lists = [(x, y) for x, y in data if 0 < y.sum()]

    def loss(w):
        value, grad = 0.5 / c * float(w @ w), w / c
        for x, y in lists:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            right = float(p[y == 1].sum())
            value -= np.log(right + 1e-12)
            grad = grad - ((p * y) / max(right, 1e-12) - p) @ x
        return value, grad

    w = minimize(loss, np.zeros(data[0][0].shape[1]), jac=True, method="L-BFGS-B").x
    z = np.concatenate([x @ w for x, _ in data]).reshape(-1, 1)
    y = np.concatenate([y for _, y in data])
    calib = LogisticRegression(max_iter=3000, class_weight="balanced").fit(z, y)
    scale = max(float(calib.coef_[0][0]), 1e-3)  # keeps the ranking whatever the calibration says
    return (w * scale).astype(np.float64), float(calib.intercept_[0])


def _matter_accuracy(data, w: np.ndarray, b: float) -> float:
    hits = [int(y[int(np.argmax(x @ w + b))]) if len(y) else 0 for x, y in data]
    return float(np.mean(hits)) if hits else 0.0


def tune_matters(identifier: Identifier, rows: Sequence[MatterRow], folds: int = 5) -> tuple[dict, dict]:
    """Fit the matter ranker; C chosen by cross-validated top-1 on the dev rows."""
    data = _matter_training(identifier, rows)
    perm = np.random.default_rng(5).permutation(len(data))
    best_c, best_cv = 1.0, -1.0
    for c in (1.0, 3.0, 10.0, 30.0):
        accs = []
        for k in range(folds):
            held = set(perm[k::folds].tolist())
            w, b = _fit_matters([d for i, d in enumerate(data) if i not in held], c)
            accs.append(_matter_accuracy([data[i] for i in held], w, b) * len(held))
        cv = sum(accs) / len(data)
        if cv > best_cv + 1e-9:
            best_c, best_cv = c, cv
    w, b = _fit_matters(data, best_c)
    identifier.fusion.matter_weights, identifier.fusion.matter_bias = w, b
    result, _ = evaluate_matters(identifier, rows)
    return {"C": best_c, "cv_top1": round(best_cv, 4)}, result


def tune(identifier: Identifier, dev: Sequence[IdentifyRow], matters: Sequence[MatterRow],
         log: Callable[[str], None] = print) -> dict:
    scorer = Scorer(identifier, dev, tuning=True)
    report: dict = {}
    best_c, best_cv = 1.0, None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        cv = cross_validate(scorer, c=c)
        log(f"C={c}: 5-fold CV {cv}")
        if best_cv is None or (cv["top1"], cv["top3"]) > (best_cv["top1"], best_cv["top3"]):
            best_c, best_cv = c, cv
    fusion = fit_fusion(scorer, best_c)
    fusion.margin = identifier.fusion.margin
    identifier.fusion = fusion
    mcv, mres = tune_matters(identifier, matters)
    baselines = {
        "bm25_threshold": best_threshold(dev, scorer.labels, scorer.bm25, [float(np.max(s)) for s in scorer.bm25]),
        "embedding_threshold": best_threshold(dev, scorer.labels, scorer.dense,
                                              [float(np.max(s)) for s in scorer.dense]),
    }
    report = {"C": best_c, "cv": best_cv, "matters_cv": mcv, "matters_dev": mres,
              "dev_fit": metrics(dev, scorer.ranked_fused(fusion))}
    fusion.save(baselines=baselines, tuned_on={"identify": len(dev), "matters": len(matters)}, report=report)
    return report


__all__ = ["FEATURES", "read_identify", "read_matters", "evaluate_identify", "evaluate_matters", "tune"]
