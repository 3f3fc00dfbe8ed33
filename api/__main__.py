"""Start the service: `python -m api [--host H] [--port P] [--workers N] [--store sqlite|redis]`.

Embedded defaults: sessions in var/yici.sqlite3 (WAL), the search index in-process (built on
the first start, then loaded from var/cache). Prints the URLs when it is ready.
"""
from __future__ import annotations

import argparse
import os
import sys

import assistant  # noqa: E402,F401  thread-pool environment (see assistant/__init__.py) before numpy loads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description="一次告知服务")
    parser.add_argument("--host", default=os.environ.get("YICI_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("YICI_PORT", "8000")))
    parser.add_argument("--workers", type=int, default=1, help="工作进程数（共享同一会话存储）")
    parser.add_argument("--store", choices=["sqlite", "redis"], default=os.environ.get("YICI_STORE", "sqlite"))
    args = parser.parse_args(argv)
    os.environ.update(YICI_HOST=args.host, YICI_PORT=str(args.port), YICI_STORE=args.store)
    if args.workers > 1:  # each worker's encoder gets its share of the cores, not all of them
        os.environ.setdefault("YICI_EMBEDDING_THREADS", str(max(1, (os.cpu_count() or 1) // args.workers)))

    import logging

    import uvicorn

    from .config import from_env

    settings = from_env()  # also creates the console/admin tokens on a fresh install
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    base = settings.base_url
    token_file = settings.db_path.parent / "tokens.json"
    print("一次告知服务启动中（首次启动需构建检索索引，约半分钟）……", flush=True)
    print(f"  市民端演示页（含对话挂件）: {base}/", flush=True)
    print(f"  12345 坐席控制台:          {base}/console", flush=True)
    print(f"  自助终端:                  {base}/kiosk", flush=True)
    print(f"  API 文档（OpenAPI）:       {base}/docs", flush=True)
    if not os.environ.get("YICI_OPERATOR_TOKENS") or not os.environ.get("YICI_ADMIN_TOKENS"):
        print(f"  坐席口令与管理口令见 {token_file}（也可用 YICI_OPERATOR_TOKENS / YICI_ADMIN_TOKENS 设置）", flush=True)
    uvicorn.run("api.app:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level="info", access_log=False)  # access logs would carry session ids, not needed
    return 0


if __name__ == "__main__":
    sys.exit(main())
