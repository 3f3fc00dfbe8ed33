"""Load test on loopback: N simulated citizens doing full conversations against the real
server (`python -m api`), with 1 and then 2 worker processes sharing one SQLite store.

Each citizen: open a session, say a first sentence, answer every question by tapping an
option (with a human-like pause), fetch the SMS text of the checklist. Reported per run:
throughput, latency p50/p95/p99 and errors, and the p95 as a ratio to the latency of the
same requests made one at a time in the same run (the baseline). Then a crash run: one
worker is killed with SIGKILL mid-run; every session whose turn was acknowledged before
must be intact afterwards (what the server said it saved is what it has).

    python bench/load.py [--citizens 200] [--think 5] [--ramp 10]
LAST line: one JSON object. Target on 2 cores: 200 concurrent conversations, p95 < 300 ms, 0 errors.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.stats import percentile  # noqa: E402

import httpx  # noqa: E402

from api.process import ServerProcess  # noqa: E402

FIRST_SENTENCES = [
    "孩子上周出生了，要办哪些手续", "我们下个月领证结婚", "父亲去世了后面要办什么", "准备买二手房过户水电气",
    "我想开个饭店", "马上退休了要办啥", "孩子要上小学报名", "公积金怎么提取", "残疾人证怎么办",
    "想办理离婚", "办个体工商户营业执照", "退役军人返乡要办什么",
]


class Citizen:
    def __init__(self, client: httpx.AsyncClient, rng: random.Random, think: float, latencies: list, errors: list,
                 acknowledged: dict):
        self.client, self.rng, self.think = client, rng, think
        self.latencies, self.errors, self.acknowledged = latencies, errors, acknowledged

    async def call(self, method: str, url: str, **kw):
        start = time.perf_counter()
        try:
            r = await self.client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            self.errors.append(f"{method} {url.split('/')[-1]}: {type(exc).__name__}")
            return None
        self.latencies.append(time.perf_counter() - start)
        if r.status_code >= 400:
            self.errors.append(f"{method} {url.split('/')[-1]}: HTTP {r.status_code}")
            return None
        return r

    async def pause(self):
        if self.think:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5) * self.think)

    async def converse(self, arrive: float = 0.0) -> bool:
        await asyncio.sleep(arrive)
        r = await self.call("POST", "/api/v1/sessions", json={"region": "dongying", "channel": "web"})
        if r is None:
            return False
        sid = r.json()["session_id"]
        await self.pause()
        r = await self.call("POST", f"/api/v1/sessions/{sid}/messages", json={"text": self.rng.choice(FIRST_SENTENCES)})
        for _ in range(15):
            if r is None:
                return False
            reply = r.json()
            self.acknowledged[sid] = (reply["scenario"], reply["answers"])
            if reply["done"] or reply["kind"] in ("checklist", "not_applicable"):
                break
            choices = [o["value"] for o in reply["options"]
                       if o["value"].startswith(("answer:", "scenario:")) and not o["value"].endswith("__unknown__")]
            if not choices:
                break
            await self.pause()
            r = await self.call("POST", f"/api/v1/sessions/{sid}/messages", json={"option": self.rng.choice(choices)})
        if reply.get("scenario"):
            await self.call("GET", f"/api/v1/sessions/{sid}/checklist", params={"format": "text"})
        return True


async def run_load(url: str, citizens: int, think: float, seed: int, during=None, ramp: float = 0.0) -> dict:
    latencies, errors, acknowledged = [], [], {}
    limits = httpx.Limits(max_connections=citizens, max_keepalive_connections=citizens)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as client:
        people = [Citizen(client, random.Random(seed + i), think, latencies, errors, acknowledged) for i in range(citizens)]
        start = time.perf_counter()
        # citizens arrive spread over `ramp` seconds, then all converse at once
        tasks = [asyncio.create_task(p.converse(ramp * i / max(citizens - 1, 1))) for i, p in enumerate(people)]
        if during:
            await during()
        finished = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = [x * 1000 for x in latencies]
    return {"citizens": citizens, "conversations_finished": sum(finished), "requests": len(latencies),
            "seconds": round(elapsed, 2), "throughput_rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(ms, 0.50), 1), "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1), "errors": len(errors), "error_kinds": sorted(set(errors))[:10],
            "_acknowledged": acknowledged}


async def run_serial(url: str, conversations: int, seed: int) -> dict:
    """The same kind of conversations, one request at a time: what a request costs unloaded."""
    latencies, errors, acknowledged = [], [], {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        for i in range(conversations):
            await Citizen(client, random.Random(seed + i), 0.0, latencies, errors, acknowledged).converse()
    ms = [x * 1000 for x in latencies]
    return {"requests": len(ms), "p50_ms": round(percentile(ms, 0.5), 1), "p95_ms": round(percentile(ms, 0.95), 1),
            "errors": len(errors)}


def wait_warm(url: str, timeout: float = 120.0) -> None:
    """Until every worker says sentence-transformers is in (the first seconds after a start are
    served by the packaged engine while it imports, slower): the baseline must not include them."""
    deadline, ready = time.time() + timeout, 0
    while time.time() < deadline and ready < 10:  # ten answers in a row: both workers have been asked
        ready = ready + 1 if httpx.get(url + "/healthz", timeout=5).json().get("sentence_transformers") else 0
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--think", type=float, default=5.0,
                        help="mean pause between a citizen's turns (reading the question, tapping), seconds")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds over which the citizens arrive")
    parser.add_argument("--baseline", type=int, default=12, help="conversations for the one-at-a-time baseline")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    env = {"YICI_RATE_PER_MINUTE": "1000000", "YICI_OPERATOR_TOKENS": "bench", "YICI_ADMIN_TOKENS": "bench-admin"}
    report: dict = {"citizens": args.citizens, "think_s": args.think, "ramp_s": args.ramp}

    with tempfile.TemporaryDirectory(prefix="yici-load-") as tmp:
        for workers in (1, 2):
            server = ServerProcess(Path(tmp) / f"w{workers}", env=env, workers=workers)
            try:
                wait_warm(server.url)
                base = asyncio.run(run_serial(server.url, args.baseline, args.seed))
                loaded = asyncio.run(run_load(server.url, args.citizens, args.think, args.seed, ramp=args.ramp))
                loaded.pop("_acknowledged")
                loaded["baseline"] = base
                loaded["p95_vs_baseline"] = round(loaded["p95_ms"] / base["p95_ms"], 2)
                report[f"workers_{workers}"] = loaded
                print(f"{workers} worker(s): {json.dumps(loaded, ensure_ascii=False)}", flush=True)
            finally:
                server.stop()

        # Crash run: 2 workers, one SIGKILLed mid-run; then the whole service restarted.
        var = Path(tmp) / "crash"
        server = ServerProcess(var, env=env, workers=2)
        killed = []

        async def kill_one_worker():
            await asyncio.sleep(args.ramp + args.think)  # every citizen is mid-conversation
            pids = server.worker_pids()
            if pids:
                os.kill(pids[0], 9)
                killed.append(pids[0])

        try:
            crash = asyncio.run(run_load(server.url, args.citizens, args.think, args.seed + 99, during=kill_one_worker,
                                         ramp=args.ramp))
        finally:
            server.stop()
        acknowledged = crash.pop("_acknowledged")
        again = ServerProcess(var, env=env, workers=1)
        lost = 0
        try:
            with httpx.Client(base_url=again.url, timeout=60) as http:
                for sid, (scenario, answers) in acknowledged.items():
                    r = http.get(f"/api/v1/sessions/{sid}")
                    body = r.json() if r.status_code == 200 else {}
                    if (body.get("scenario"), body.get("answers")) != (scenario, answers):
                        lost += 1
        finally:
            again.stop()
        crash.update({"killed_worker": killed[0] if killed else None, "sessions_acknowledged": len(acknowledged),
                      "sessions_lost": lost})
        report["sigkill_run"] = crash
        print(f"SIGKILL run: {json.dumps(crash, ensure_ascii=False)}", flush=True)

    w1, w2 = report["workers_1"], report["workers_2"]
    report["target_met"] = all(r["errors"] == 0 and r["p95_ms"] < 300 for r in (w1, w2)) and report["sigkill_run"]["sessions_lost"] == 0
    print(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
