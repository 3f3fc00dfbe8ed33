"""Masking of personal data citizens type (身份证号, phone numbers, bank cards, names...).

Applied before anything is logged, stored as analytics or kept in a session, and before the
text reaches the engine: no answer of the questionnaire depends on those numbers.
"""
from __future__ import annotations

import re

_RULES = [
    # 18-digit resident ID (last char may be X), also with spaces; 15-digit old IDs
    (re.compile(r"(?<![0-9A-Za-z])[1-9]\d{5}\s?(?:18|19|20)\d{2}\s?\d{2}\s?\d{2}\s?\d{3}[0-9Xx](?![0-9A-Za-z])"), "[身份证号]"),
    (re.compile(r"(?<!\d)[1-9]\d{14}(?!\d)"), "[身份证号]"),
    # bank cards: 16–19 digits, possibly grouped by 4
    (re.compile(r"(?<!\d)\d{4}(?:[\s-]?\d{4}){3}(?:[\s-]?\d{1,3})?(?!\d)"), "[银行卡号]"),
    # mainland mobile numbers (optional +86), landlines with area code
    (re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)"), "[手机号]"),
    (re.compile(r"(?<!\d)0\d{2,3}-?\d{7,8}(?!\d)"), "[电话]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z0-9.-]+"), "[邮箱]"),
    # a name right after the words that introduce one (2–4 Han characters); not after 我是,
    # which introduces situations (我是东营户口)
    (re.compile(r"((?:我叫|姓名[是为:：]?|名字[是叫:：]?)\s?)[\u4e00-\u9fff]{2,4}"), r"\1[姓名]"),
    # any other long digit run (account, certificate or case numbers)
    (re.compile(r"\d{9,}"), "[号码]"),
]


def mask(text: str) -> str:
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
