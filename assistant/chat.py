"""Terminal conversation: `python -m assistant chat --region dongying`."""
from __future__ import annotations

import sys

from .dialogue import DialogueError, Reply, default_engine


def show(reply: Reply, out=sys.stdout) -> None:
    from .render import render_text

    print(f"\n助手：{reply.text}", file=out)
    if reply.checklist is not None:
        print(render_text(reply.checklist, long=True), file=out)
    for i, option in enumerate(reply.options, start=1):
        print(f"  [{i}] {option['label']}", file=out)


def run_chat(region: str, stdin=sys.stdin, out=sys.stdout) -> int:
    engine = default_engine()
    try:
        reply = engine.start(region, "web")
    except DialogueError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    show(reply, out)
    print("（输入数字选择选项，直接输入文字回答；输入 exit 退出）", file=out)
    for line in stdin:
        line = line.strip()
        if line in ("exit", "quit", "退出"):
            break
        option = None
        if line.isdigit() and 1 <= int(line) <= len(reply.options):
            option = reply.options[int(line) - 1]["value"]
        try:
            reply = engine.handle(reply.state, text=None if option else line, option=option)
        except DialogueError as exc:
            print(f"错误：{exc}", file=out)
            continue
        show(reply, out)
    return 0
