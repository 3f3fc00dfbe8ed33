"""A small, safe condition language for knowledge data (never eval'd as code).

Grammar:
    expr    := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | "(" expr ")" | test
    test    := QUESTION "==" VALUE | QUESTION "!=" VALUE
             | QUESTION "in" "[" VALUE ("," VALUE)* "]"
             | QUESTION "not" "in" "[" VALUE ("," VALUE)* "]"
QUESTION and VALUE are identifiers ([a-z0-9_]+).

Evaluation is three-valued (Kleene): a question that is unanswered or answered
"不知道" yields None ("depends"), so a checklist can cover each case honestly.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Mapping, Optional, Union

UNKNOWN = "__unknown__"  # the answer value stored when the applicant says 不知道/不确定

_TOKEN = re.compile(r"\s*(?:(==|!=|\(|\)|\[|\]|,)|([A-Za-z0-9_]+))")


class ConditionError(ValueError):
    """A condition string that does not parse."""


@dataclass(frozen=True)
class Test:
    question: str
    values: frozenset[str]
    negated: bool = False


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class And:
    operands: tuple["Node", ...]


@dataclass(frozen=True)
class Or:
    operands: tuple["Node", ...]


Node = Union[Test, Not, And, Or]


def _tokenize(text: str) -> list[str]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"无法解析的字符 {text[pos:pos + 10]!r}（位置 {pos}）")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> Optional[str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: Optional[str] = None) -> str:
        tok = self.peek()
        if tok is None:
            raise ConditionError(f"条件意外结束: {self.text!r}")
        if expected is not None and tok != expected:
            raise ConditionError(f"期望 {expected!r}，得到 {tok!r}: {self.text!r}")
        self.i += 1
        return tok

    def ident(self) -> str:
        tok = self.take()
        if not re.fullmatch(r"[A-Za-z0-9_]+", tok) or tok in ("and", "or", "not", "in"):
            raise ConditionError(f"期望标识符，得到 {tok!r}: {self.text!r}")
        return tok

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise ConditionError(f"多余的内容 {self.peek()!r}: {self.text!r}")
        return node

    def expr(self) -> Node:
        parts = [self.and_()]
        while self.peek() == "or":
            self.take()
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Node:
        parts = [self.unary()]
        while self.peek() == "and":
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def unary(self) -> Node:
        tok = self.peek()
        if tok == "not":
            self.take()
            return Not(self.unary())
        if tok == "(":
            self.take()
            node = self.expr()
            self.take(")")
            return node
        return self.test()

    def test(self) -> Node:
        question = self.ident()
        op = self.take()
        if op in ("==", "!="):
            return Test(question, frozenset([self.ident()]), negated=(op == "!="))
        negated = False
        if op == "not":
            negated = True
            op = self.take()
        if op != "in":
            raise ConditionError(f"未知运算符 {op!r}: {self.text!r}")
        self.take("[")
        values = [self.ident()]
        while self.peek() == ",":
            self.take()
            values.append(self.ident())
        self.take("]")
        return Test(question, frozenset(values), negated=negated)


@functools.lru_cache(maxsize=8192)  # conditions are few and re-evaluated every turn
def parse(text: str) -> Node:
    return _Parser(text).parse()


def references(node: Node) -> list[tuple[str, frozenset[str]]]:
    """(question, values) pairs a condition mentions, for validation."""
    if isinstance(node, Test):
        return [(node.question, node.values)]
    if isinstance(node, Not):
        return references(node.operand)
    return [ref for op in node.operands for ref in references(op)]


def evaluate(node: Node, answers: Mapping[str, str]) -> Optional[bool]:
    """True/False, or None when it depends on an unanswered or unknown question."""
    if isinstance(node, Test):
        value = answers.get(node.question)
        if value is None or value == UNKNOWN:
            return None
        return (value in node.values) != node.negated
    if isinstance(node, Not):
        inner = evaluate(node.operand, answers)
        return None if inner is None else not inner
    results = [evaluate(op, answers) for op in node.operands]
    if isinstance(node, And):
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


def holds(text: Optional[str], answers: Mapping[str, str]) -> Optional[bool]:
    """Evaluate an optional condition string; no condition always holds."""
    return True if not text else evaluate(parse(text), answers)


def describe(node: Node, labels: Mapping[str, tuple[str, Mapping[str, str]]]) -> str:
    """Chinese reading of a condition, e.g. "孩子在哪里出生：在家中出生".

    labels maps question id -> (question text, {option value: option label}).
    """
    if isinstance(node, Test):
        qtext, opts = labels.get(node.question, (node.question, {}))
        vals = "或".join(opts.get(v, v) for v in sorted(node.values))
        return f"{qtext}{'不是' if node.negated else '：'}{vals}"
    if isinstance(node, Not):
        return f"并非（{describe(node.operand, labels)}）"
    joiner = "，且" if isinstance(node, And) else "；或"
    return joiner.join(describe(op, labels) for op in node.operands)
