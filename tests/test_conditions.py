import pytest

from knowledge.conditions import UNKNOWN, ConditionError, describe, evaluate, holds, parse, references


@pytest.mark.parametrize(
    "text, answers, expected",
    [
        ("a == x", {"a": "x"}, True),
        ("a == x", {"a": "y"}, False),
        ("a != x", {"a": "y"}, True),
        ("a in [x, y]", {"a": "y"}, True),
        ("a not in [x, y]", {"a": "z"}, True),
        ("a not in [x, y]", {"a": "x"}, False),
        ("a == x and b == y", {"a": "x", "b": "y"}, True),
        ("a == x and b == y", {"a": "x", "b": "n"}, False),
        ("a == x or b == y", {"a": "n", "b": "y"}, True),
        ("not a == x", {"a": "x"}, False),
        ("not (a == x or b == y)", {"a": "n", "b": "n"}, True),
        ("a == x or b == y and c == z", {"a": "n", "b": "y", "c": "z"}, True),  # and binds tighter
    ],
)
def test_evaluate(text, answers, expected):
    assert evaluate(parse(text), answers) is expected


@pytest.mark.parametrize(
    "text, answers, expected",
    [
        ("a == x", {}, None),  # unanswered: depends
        ("a == x", {"a": UNKNOWN}, None),  # 不知道: depends
        ("a == x and b == y", {"b": "n"}, False),  # known false wins in and
        ("a == x and b == y", {"b": "y"}, None),
        ("a == x or b == y", {"b": "y"}, True),  # known true wins in or
        ("a == x or b == y", {"b": "n"}, None),
        ("not a == x", {}, None),
    ],
)
def test_three_valued(text, answers, expected):
    assert evaluate(parse(text), answers) is expected


def test_no_condition_always_holds():
    assert holds(None, {}) is True
    assert holds("", {"a": "x"}) is True


@pytest.mark.parametrize(
    "text",
    ["a ==", "a = x", "a == x and", "(a == x", "a in x", "a in [x,]", "__import__('os') == x", "a == x b == y", "and == x"],
)
def test_rejects_malformed(text):
    with pytest.raises(ConditionError):
        parse(text)


def test_references_lists_questions_and_values():
    refs = references(parse("a in [x, y] and not (b == z or c != w)"))
    assert sorted((q, sorted(v)) for q, v in refs) == [("a", ["x", "y"]), ("b", ["z"]), ("c", ["w"])]


def test_describe_uses_labels():
    labels = {"married": ("父母是否结婚", {"yes": "已婚", "no": "未婚"})}
    assert describe(parse("married == no"), labels) == "父母是否结婚：未婚"
