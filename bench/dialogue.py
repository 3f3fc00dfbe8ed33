"""Dialogue benchmark: in-process turn latency over full conversations, against one
identification call measured in the same run (target: a turn's p95 <= 1.5x an
identification call's p95). LAST line: one JSON object.

    python bench/dialogue.py [--conversations N]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.stats import percentile  # noqa: E402
os.environ.setdefault("YICI_PROGRESS", "0")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=120)
    args = parser.parse_args()
    from knowledge.loader import load_cached

    from assistant.dialogue import Engine
    from assistant.search.dense import DEFAULT_CACHE
    from assistant.search.identify import shared_identifier

    kb = load_cached(DEFAULT_CACHE)
    identifier = shared_identifier(kb)
    engine = Engine(kb, identifier, today=dt.date(2026, 11, 21))
    rng = random.Random(7)
    pairs = [(sid, r) for sid, s in kb.scenarios.items() for r in s.regions]
    turns, identify = [], []
    for n in range(args.conversations):
        sid, region = pairs[n % len(pairs)]
        scenario = kb.scenarios[sid]
        first = f"{rng.choice(scenario.examples)}（{n}）"  # distinct texts: no encode cache hits
        t = time.perf_counter()
        identifier.identify(first + "#", region)
        identify.append((time.perf_counter() - t) * 1000)
        reply = engine.start(region)
        step = 0
        while step < 15:
            if step == 0:
                kwargs = {"text": first}
            elif reply.question and rng.random() < 0.3:
                # the question of the scenario the conversation is in (the first text may have led elsewhere)
                asked = kb.scenarios[reply.state.scenario].questions[reply.question]
                option = rng.choice(asked.options)
                kwargs = {"text": rng.choice([option.label, *option.aliases]) + f"（{n}-{step}）"}
            elif reply.options:
                kwargs = {"option": reply.options[0]["value"]}
            else:
                break
            t = time.perf_counter()
            reply = engine.handle(reply.state, **kwargs)
            turns.append((time.perf_counter() - t) * 1000)
            step += 1
            if reply.done and step > 1:
                break
    result = {
        "conversations": args.conversations, "turns": len(turns),
        "turn_p50_ms": round(percentile(turns, 0.5), 2), "turn_p95_ms": round(percentile(turns, 0.95), 2),
        "identify_p50_ms": round(percentile(identify, 0.5), 2), "identify_p95_ms": round(percentile(identify, 0.95), 2),
    }
    result["turn_p95_ratio_to_identify_p95"] = round(result["turn_p95_ms"] / result["identify_p95_ms"], 3)
    print(f"turn p50 {result['turn_p50_ms']} ms, p95 {result['turn_p95_ms']} ms; identification p95 "
          f"{result['identify_p95_ms']} ms; ratio {result['turn_p95_ratio_to_identify_p95']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
