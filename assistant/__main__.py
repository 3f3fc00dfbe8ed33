"""Command line of the assistant.

  python -m assistant eval identify FILE.tsv   identification metrics (last line JSON)
  python -m assistant eval matters FILE.tsv    matter search metrics (last line JSON)
  python -m assistant tune                     refit the fusion on the dev sets
  python -m assistant chat --region dongying   terminal conversation
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
# tuning sets: every tests/data/*_dev*.tsv (the holdout files are never tuned on)
DEV_IDENTIFY = sorted(DATA.glob("identify_dev*.tsv"))
DEV_MATTERS = sorted(DATA.glob("matters_dev*.tsv"))


def _identifier(tuning: bool = False):
    from knowledge.loader import load_cached

    from .search.dense import DEFAULT_CACHE
    from .search.identify import Fusion, Identifier, shared_identifier

    if tuning:  # a fusion.json fitted on older features must not stop its own refit
        return Identifier(load_cached(DEFAULT_CACHE), fusion=Fusion.load(strict=False))
    return shared_identifier(load_cached(DEFAULT_CACHE))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("eval", help="评测识别或事项检索")
    ev.add_argument("what", choices=["identify", "matters"])
    ev.add_argument("file", type=Path)
    tu = sub.add_parser("tune", help="在开发集上重新拟合融合权重")
    tu.add_argument("--identify", type=Path, nargs="+", default=DEV_IDENTIFY)
    tu.add_argument("--matters", type=Path, nargs="+", default=DEV_MATTERS)
    ch = sub.add_parser("chat", help="终端对话")
    ch.add_argument("--region", default="dongying")
    args = parser.parse_args(argv)

    from .evaluation import DataFileError, evaluate_identify, evaluate_matters, read_identify, read_matters, tune

    try:
        if args.command == "eval":
            identifier = _identifier()
            if args.what == "identify":
                rows = read_identify(args.file, set(identifier.kb.scenarios), set(identifier.kb.regions))
                result, lines = evaluate_identify(identifier, rows)
            else:
                result, lines = evaluate_matters(identifier, read_matters(args.file))
            print("\n".join(lines))
            print(json.dumps(result, ensure_ascii=False))
            return 0
        if args.command == "tune":
            identifier = _identifier(tuning=True)
            known, regions = set(identifier.kb.scenarios), set(identifier.kb.regions)
            rows = [r for f in args.identify for r in read_identify(f, known, regions)]
            report = tune(identifier, rows, [r for f in args.matters for r in read_matters(f)])
            print(json.dumps(report, ensure_ascii=False))
            return 0
        if args.command == "chat":
            from .chat import run_chat

            return run_chat(args.region)
    except DataFileError as exc:
        print(f"错误: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
