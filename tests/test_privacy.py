"""Personal data citizens type is masked before it is stored, logged or analysed."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from api.privacy import mask



id_numbers = st.builds(
    lambda area, year, month, day, seq, check: f"{area}{year}{month:02d}{day:02d}{seq:03d}{check}",
    st.integers(110000, 659999), st.integers(1930, 2025), st.integers(1, 12), st.integers(1, 28),
    st.integers(0, 999), st.sampled_from(list("0123456789X")))
phones = st.builds(lambda p, rest: f"1{p}{rest:09d}", st.sampled_from("3456789"), st.integers(0, 10**9 - 1))
cards = st.builds(lambda n, length: str(n)[:length], st.integers(10**18, 10**19 - 1), st.integers(16, 19))
chinese = st.text(alphabet="我孩子出生了要办手续户口在东营结婚的号码是，。", max_size=20)


@settings(max_examples=200, deadline=None)
@given(before=chinese, after=chinese, secret=st.one_of(id_numbers, phones, cards))
def test_numbers_never_survive(before, after, secret):
    masked = mask(f"{before}{secret}{after}")
    assert secret not in masked
    assert masked.startswith(before) and masked.endswith(after)


def test_what_is_masked_and_what_is_kept():
    assert mask("我叫张三丰，身份证370502199001011234，电话13812345678") == "我叫[姓名]，身份证[身份证号]，电话[手机号]"
    assert mask("卡号6222 0212 3456 7890 123") == "卡号[银行卡号]"
    assert mask("座机0546-8888888，邮箱a.b@example.com") == "座机[电话]，邮箱[邮箱]"
    # situations and dates stay: they answer the questionnaire
    for kept in ("我是东营户口", "孩子2025年3月出生", "首套房，贷款30万", "1个月内"):
        assert mask(kept) == kept
