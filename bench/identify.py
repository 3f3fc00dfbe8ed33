"""Identification benchmark: latency against one bare encode, index build, cold start, RSS.

    python bench/identify.py [--queries N]

Every figure is measured in this run; the targets are ratios (identification p95 <= 2x a
bare encode of the same model) and absolute ceilings (p95 <= 30 ms, cold start <= 5 s,
peak RSS <= 1 GB). LAST line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.stats import percentile  # noqa: E402

QUERIES = [
    "媳妇下个月预产期，生完要跑哪些手续", "二手方过护水电气怎么弄", "来电人父亲去世咨询后续手续", "不是离婚，是结婚",
    "how do I register my newborn's hukou", "想开个烧烤店要办什么证", "公司不干了怎么注销", "我下个月退休要准备啥",
    "退伍回来户口怎么落", "残疾证怎么办", "没工作了能领失业金吗", "去上海看病要备案吗", "孩子明年上小学要准备什么",
    "今天天气怎么样", "身份证丢了怎么补办", "招了几个新员工社保怎么弄", "居住证到期了", "公积金怎么提取出来",
]


def process_age() -> float:
    """Seconds since this process was created (interpreter start-up included)."""
    ticks = os.sysconf("SC_CLK_TCK")
    started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return uptime - started


def child(mode: str, cache: str, n: int) -> None:
    """Runs in a fresh process so that build, cold start and RSS are measured honestly."""
    if mode == "imports":  # the floor of any start: the model's libraries, nothing of ours
        import sentence_transformers  # noqa: F401
        import torch  # noqa: F401

        print(json.dumps({"seconds_to_first_answer": process_age()}))
        return
    os.environ["YICI_CACHE_DIR"] = cache
    os.environ["YICI_PROGRESS"] = "0"
    from knowledge.loader import load_cached
    from assistant.search.identify import Identifier

    kb = load_cached(Path(cache))
    identifier = Identifier(kb, cache_dir=Path(cache), progress=False)
    first = identifier.identify(QUERIES[0], "dongying")
    ready = process_age()
    out = {"seconds_to_first_answer": ready, "first_label": first.label}
    model, companion = identifier.model, identifier.companion
    if hasattr(model, "wait"):  # the packaged models answer before sentence-transformers is in
        # latency is measured on the SentenceTransformers, once they are in
        model, companion = model.wait(), companion.wait() if hasattr(companion, "wait") else companion
        out["seconds_to_sentence_transformers"] = process_age()
    if mode == "latency":
        full, bare, second = [], [], []
        kwargs = dict(convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
        for i in range(n):
            q = f"{QUERIES[i % len(QUERIES)]}{i}"  # distinct texts: no encode cache hits
            t = time.perf_counter()
            model.encode_query([q + "#"], **kwargs)
            bare.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            companion.encode_query([q + "#"], **kwargs)
            second.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            identifier.identify(q, "liaoning")
            full.append((time.perf_counter() - t) * 1000)
        out.update(full_ms=full, bare_ms=bare, companion_ms=second)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def run_child(mode: str, cache: str, n: int) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", mode, "--cache", cache, "--queries", str(n)],
                          capture_output=True, text=True, cwd=REPO, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--child", choices=["build", "latency", "imports"])
    parser.add_argument("--cache")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.cache, args.queries)
        return 0
    with tempfile.TemporaryDirectory() as cache:
        build, build_wall = run_child("build", cache, 0)  # empty cache: builds the index
        # cached index: cold start, the median of three (one start varies by a few tenths), each
        # next to a start that only imports torch + sentence-transformers (the baseline)
        colds, floors = [], []
        for _ in range(3):
            colds.append(run_child("build", cache, 0)[0])
            floors.append(run_child("imports", cache, 0)[0]["seconds_to_first_answer"])
        cold = sorted(colds, key=lambda r: r["seconds_to_first_answer"])[1]
        floor = sorted(floors)[1]
        lat, _ = run_child("latency", cache, args.queries)
    full, bare = lat["full_ms"], lat["bare_ms"]
    result = {
        "queries": len(full),
        "identify_p50_ms": round(percentile(full, 0.5), 2), "identify_p95_ms": round(percentile(full, 0.95), 2),
        "bare_encode_p50_ms": round(percentile(bare, 0.5), 2), "bare_encode_p95_ms": round(percentile(bare, 0.95), 2),
        "p95_ratio_to_bare_encode": round(percentile(full, 0.95) / percentile(bare, 0.95), 3),
        # part of every identification with matters: the matter search's second model (USE)
        "companion_encode_p95_ms": round(percentile(lat["companion_ms"], 0.95), 2),
        "index_build_s": round(build["seconds_to_first_answer"] - cold["seconds_to_first_answer"], 2),
        "first_start_with_build_s": round(build["seconds_to_first_answer"], 2),
        "cold_start_cached_s": round(cold["seconds_to_first_answer"], 2),
        "import_torch_sentence_transformers_s": round(floor, 2),  # same run: the baseline of any start
        "cold_start_ratio_to_imports": round(cold["seconds_to_first_answer"] / floor, 3),
        # until then the packaged engine answers (packaged.StartingModel), afterwards sentence-transformers
        "sentence_transformers_ready_s": round(cold.get("seconds_to_sentence_transformers", 0.0), 2),
        "peak_rss_mb": round(max(build["peak_rss_mb"], *(c["peak_rss_mb"] for c in colds), lat["peak_rss_mb"]), 1),
    }
    print(f"identification p50 {result['identify_p50_ms']} ms, p95 {result['identify_p95_ms']} ms "
          f"({result['p95_ratio_to_bare_encode']}x a bare encode, p95 {result['bare_encode_p95_ms']} ms; "
          f"the companion's encode p95 {result['companion_encode_p95_ms']} ms)")
    print(f"index build {result['index_build_s']} s; cold start with cached index {result['cold_start_cached_s']} s "
          f"({result['cold_start_ratio_to_imports']}x importing torch + sentence-transformers alone, "
          f"{result['import_torch_sentence_transformers_s']} s; sentence-transformers ready after "
          f"{result['sentence_transformers_ready_s']} s, the engine answering until then); "
          f"peak RSS {result['peak_rss_mb']} MB")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
