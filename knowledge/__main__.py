"""Command line: `python -m knowledge check|coverage [--data DIR]`."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .loader import KnowledgeBase, KnowledgeError, load
from .resolve import in_chain


def coverage(kb: KnowledgeBase) -> dict[str, dict[str, dict[str, int]]]:
    """Per region and published scenario: sub-matters, distinct materials, questions."""
    table: dict[str, dict[str, dict[str, int]]] = {}
    for rid in kb.catalogue.get("regions", {}):
        chain = kb.region_chain(rid)
        table[rid] = {}
        for s in kb.scenarios_of(rid):
            listed = [s.matters[item.matter] for item in s.regions[rid].sub_matters]
            materials = {u.material for m in listed for u in m.materials if in_chain(u.regions, chain)}
            table[rid][s.id] = {"sub_matters": len(listed), "materials": len(materials),
                                "questions": len(s.questions)}
    return table


def _print_coverage(kb: KnowledgeBase) -> None:
    table = coverage(kb)
    print(f"knowledge version {kb.version}: {len(kb.scenarios)} scenarios, "
          f"{len(kb.matters)} single matters, {len(kb.materials)} materials, {len(kb.sources)} sources")
    print(f"{'region':<10} {'scenario':<32} {'sub':>4} {'mat':>4} {'q':>3}  name")
    for rid, scenarios in table.items():
        if not scenarios:
            print(f"{rid:<10} {'(publishes no scenario)':<32}")
        for sid, row in scenarios.items():
            name = kb.scenarios[sid].regions[rid].name
            print(f"{rid:<10} {sid:<32} {row['sub_matters']:>4} {row['materials']:>4} {row['questions']:>3}  {name}")
    print(json.dumps(table, ensure_ascii=False, sort_keys=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m knowledge", description="知识库检查与覆盖统计")
    parser.add_argument("command", choices=["check", "coverage"])
    parser.add_argument("--data", type=Path, default=None, help="数据目录（默认为内置知识库）")
    parser.add_argument("--only", action="append", default=None, metavar="SCENARIO",
                        help="只加载这些情景（编写单个文件时用；可重复）")
    args = parser.parse_args(argv)
    try:
        kb = load(args.data, only=set(args.only) if args.only else None)
    except KnowledgeError as exc:
        for problem in exc.problems:
            print(f"错误 {problem}", file=sys.stderr)
        print(f"知识库检查失败：{len(exc.problems)} 个问题", file=sys.stderr)
        return 1
    if args.command == "check":
        print(f"知识库检查通过：版本 {kb.version}，{len(kb.scenarios)} 个情景，"
              f"{len(kb.matters)} 个单一事项，{len(kb.materials)} 种材料，{len(kb.sources)} 个来源")
    else:
        _print_coverage(kb)
    return 0


if __name__ == "__main__":
    sys.exit(main())
