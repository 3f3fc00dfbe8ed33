"""Text normalisation, negation, pinyin, n-grams, BM25 and the colloquial lexicon (no model).

Expectations come from what the functions promise (their docstrings and the way people
type or a kiosk hears Chinese), not from running the code.
"""
import math
import unicodedata

import pytest

from assistant import text as T
from assistant.search import lexical
from assistant.search.lexicon import Lexicon, default_lexicon


# ---------------------------------------------------------------- normalize
@pytest.mark.parametrize("raw, expected", [
    ("出生證明丟了能補嗎", "出生证明丢了能补吗"),
    ("協議離婚後戶口怎麼遷", "协议离婚后户口怎么迁"),
    ("養犬證年審", "养犬证年审"),
])
def test_normalize_traditional_to_simplified(raw, expected):
    assert T.normalize(raw) == expected


def test_normalize_full_width_to_half_width():
    # Full-width letters, digits and punctuation as typed with a Chinese input method.
    assert T.normalize("ＡＢＣ１２３！？") == "abc123!?"
    assert T.normalize("社保卡，在哪办？") == "社保卡,在哪办?"
    assert T.normalize("社保卡\u3000申领") == "社保卡 申领"  # ideographic space


def test_normalize_lower_case_and_white_space():
    assert T.normalize("  How do I register my HUKOU  ") == "how do i register my hukou"
    assert T.normalize("社保卡\t\n\n申领") == "社保卡 申领"
    assert T.normalize("") == ""
    assert T.normalize(" \t ") == ""


def test_normalize_removes_control_and_invisible_characters():
    out = T.normalize("\ufeff社保卡\x00申领\x07\u200b怎么办\u202e\x7f")
    assert not [ch for ch in out if unicodedata.category(ch) in ("Cc", "Cf")], repr(out)
    assert out.startswith("社保卡") and out.endswith("怎么办")
    assert "申领" in out


def test_normalize_is_idempotent():
    for raw in ("出生證明丟了能補嗎", "ＡＢＣ　社保卡？", "Hello\tWorld\x00", "不是离婚，是结婚"):
        once = T.normalize(raw)
        assert T.normalize(once) == once


def test_normalize_leaves_ascii_only_text_alone_apart_from_case():
    assert T.normalize("Second-Hand Apartment") == "second-hand apartment"


# ---------------------------------------------------------------- strip_negated
def _full_conversion(text: str) -> str:
    """normalize() as it was before the fast path: the converter on every Han text."""
    text = T._CONTROL.sub(" ", unicodedata.normalize("NFKC", text))
    if T._HAN.search(text):
        text = T._t2s().convert(text)
    return T._SPACE.sub(" ", text).strip().lower()


def test_normalize_skips_the_converter_only_when_it_would_change_nothing():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    lines = [line for f in sorted((repo / "tests" / "data").glob("*.tsv")) for line in f.read_text().splitlines()]
    lines += [line for f in sorted((repo / "knowledge" / "data").rglob("*.yaml")) for line in f.read_text().splitlines()]
    lines += ["乾隆皇帝", "頭髮", "發財", "後來", "著名", "於是", "皇后", "干净的头发", "一乾二淨"]
    assert len(lines) > 10000
    assert [T.normalize(t) for t in lines] == [_full_conversion(t) for t in lines]


def test_negated_matter_is_dropped_and_the_meant_one_kept():
    out = T.strip_negated("不是离婚，是结婚")
    assert "结婚" in out
    assert "离婚" not in out


@pytest.mark.parametrize("text", [
    "是不是要离婚",  # a question, not a negation
    "不是还要迁户口吗",  # "isn't it that ... still": a question
    "不是很清楚怎么办社保卡",  # hedge
    "我想办结婚登记",  # nothing negated
    "",
])
def test_questions_hedges_and_plain_text_come_back_unchanged(text):
    assert T.strip_negated(text) == text


def test_affirmation_ends_the_negated_span_without_punctuation():
    out = T.strip_negated("不是离婚而是结婚")
    assert "离婚" not in out
    assert "结婚" in out


def test_trailing_negation_drops_only_the_negated_part():
    out = T.strip_negated("我要结婚而不是离婚")
    assert out.startswith("我要结婚")
    assert "离婚" not in out


def test_negation_span_stops_at_the_clause_separator():
    out = T.strip_negated("不想办营业执照，只想开个饭店")
    assert "营业执照" not in out
    assert "开个饭店" in out


def test_english_negation():
    out = T.strip_negated(T.normalize("Not divorce, but marriage"))
    assert "divorce" not in out
    assert "marriage" in out


# ---------------------------------------------------------------- clauses
@pytest.mark.parametrize("text, expected", [
    ("我在辽宁买了套二手房,首套,准备用公积金贷款", ["我在辽宁买了套二手房", "首套", "准备用公积金贷款"]),
    ("俺老伴 前天没了 咋办", ["俺老伴", "前天没了", "咋办"]),  # hotline transcripts: spaces break clauses
    ("my father passed away, 死亡证明去哪开?", ["my father passed away", "死亡证明去哪开"]),  # words stay whole
    ("社保卡申领", ["社保卡申领"]),
    ("", []),
])
def test_clauses(text, expected):
    assert T.clauses(text) == expected


# ---------------------------------------------------------------- pinyin
def test_homophone_typo_has_the_same_pinyin():
    assert T.fuzzy_pinyin("退秀") == T.fuzzy_pinyin("退休")
    assert T.pinyin_ngrams("我要办退秀") == T.pinyin_ngrams("我要办退休")


def test_fuzzy_pinyin_meets_retroflex_confusions():
    # 公主房 (gong zhu fang) heard for 公租房 (gong zu fang): zh/z.
    heard, meant = set(T.pinyin_ngrams("公主房")), set(T.pinyin_ngrams("公租房"))
    assert heard & meant
    assert heard == meant
    # and the exact characters differ, so only pinyin can bring them together
    assert not set(T.char_ngrams("公主房")) & set(T.char_ngrams("公租房"))


@pytest.mark.parametrize("a, b", [
    ("zhi", "zi"), ("chi", "ci"), ("shi", "si"),  # retroflex
    ("nan", "lan"),  # n/l
    ("fu", "hu"),  # f/h
    ("qing", "qin"), ("feng", "fen"), ("fang", "fan"),  # front/back nasals
])
def test_fuzzy_syllable_pairs(a, b):
    assert T.fuzzy_syllable(a) == T.fuzzy_syllable(b)


@pytest.mark.parametrize("a, b", [("ma", "mi"), ("bao", "pao"), ("jia", "xia"), ("zhu", "zhi")])
def test_fuzzy_syllable_keeps_real_differences(a, b):
    assert T.fuzzy_syllable(a) != T.fuzzy_syllable(b)


def test_pinyin_is_toneless_and_ignores_non_han():
    assert T.pinyin_syllables("社保") == ("she", "bao")
    assert T.pinyin_syllables("abc 社保 123") == ("she", "bao")
    assert T.pinyin_syllables("hello") == ()
    assert T.pinyin_ngrams("hello") == []


def test_pinyin_ngrams_of_a_short_text():
    assert T.pinyin_ngrams("房") == list(T.fuzzy_pinyin("房"))
    assert len(T.pinyin_ngrams("二手房过户")) == 4  # five syllables, four bigrams


# ---------------------------------------------------------------- char n-grams
def test_char_bigrams():
    assert T.char_ngrams("社保卡") == ["社保", "保卡"]
    assert T.char_ngrams("社保 卡！") == ["社保", "保卡"]  # spaces and punctuation do not split grams


def test_char_ngrams_short_and_empty_text():
    assert T.char_ngrams("卡") == ["卡"]
    assert T.char_ngrams("") == []
    assert T.char_ngrams("，。 ") == []


def test_char_trigrams():
    assert T.char_ngrams("二手房过户", n=3) == ["二手房", "手房过", "房过户"]


def test_char_bigrams_survive_a_typo():
    typo, right = set(T.char_ngrams("二手方过户")), set(T.char_ngrams("二手房过户"))
    assert typo & right == {"二手", "过户"}


# ---------------------------------------------------------------- BM25
CORPUS = [
    ["结婚", "登记", "户口"],
    ["离婚", "登记", "户口"],
    ["养犬", "登记", "年审"],
    ["户口", "迁移", "登记", "户口"],
]


def test_bm25_document_sharing_the_rare_term_wins():
    bm = lexical.BM25(CORPUS)
    scores = bm.scores(["养犬", "登记"])
    assert max(range(len(CORPUS)), key=scores.__getitem__) == 2
    # 登记 is in every document, so the others still score, but less
    assert all(0 < s < scores[2] for i, s in enumerate(scores) if i != 2)


def test_bm25_idf_orders_terms_by_rarity():
    bm = lexical.BM25(CORPUS)
    assert bm.idf["养犬"] > bm.idf["户口"] > bm.idf["登记"] > 0
    n = len(CORPUS)
    assert bm.idf["养犬"] == pytest.approx(math.log(1 + (n - 1 + 0.5) / (1 + 0.5)))


def test_bm25_documents_without_the_terms_score_zero():
    bm = lexical.BM25(CORPUS)
    only_first = bm.scores(["结婚"])
    assert only_first[0] > 0 and only_first[1:] == [0.0, 0.0, 0.0]
    assert bm.scores(["不存在的词"]) == [0.0] * len(CORPUS)
    assert bm.scores([]) == [0.0] * len(CORPUS)


def test_bm25_term_frequency_saturates():
    bm = lexical.BM25([["户口", "户口", "登记", "迁移"], ["户口", "登记", "迁移", "落户"], ["结婚", "登记", "年审", "迁移"]])
    once, twice = bm.scores(["户口"])[1], bm.scores(["户口"])[0]
    assert once < twice < 2 * once


def test_bm25_shorter_document_wins_at_equal_term_frequency():
    bm = lexical.BM25([["户口"], ["户口", "结婚", "离婚", "养犬", "年审"], ["登记"]])
    short, long = bm.scores(["户口"])[:2]
    assert short > long > 0


def test_bm25_repeated_query_terms_count_once():
    bm = lexical.BM25(CORPUS)
    assert bm.scores(["养犬", "养犬", "养犬"]) == bm.scores(["养犬"])


def test_bm25_empty_corpus():
    bm = lexical.BM25([])
    assert bm.scores(["户口"]) == []


def test_terms_have_words_characters_and_pinyin():
    got = lexical.terms(T.normalize("我想办理结婚登记"))
    kinds = {t.split(":", 1)[0] for t in got}
    assert kinds == {"w", "c", "p"}
    assert "c:结婚" in got
    assert "p:" + "_".join(T.fuzzy_pinyin("结婚")) in got
    # stopwords never become word terms
    assert not {"w:我", "w:想", "w:办理"} & set(got)


# ---------------------------------------------------------------- lexicon
@pytest.fixture
def tiny_lexicon(tmp_path):
    path = tmp_path / "lexicon.yaml"
    path.write_text(
        "expansions:\n"
        "  社保卡: 社会保障卡\n"
        "  结婚: 结婚登记 婚姻登记\n"
        "  娃: 孩子\n"
        "  tax: 税费缴纳\n"
        "  dog: 养犬证\n"
        "exact_only: [结婚]\n",
        encoding="utf-8",
    )
    return Lexicon.load(path)


def test_lexicon_exact_phrase(tiny_lexicon):
    assert tiny_lexicon.expand("社保卡怎么办") == ["社会保障卡"]
    assert tiny_lexicon.expand("我们下个月结婚") == ["结婚登记", "婚姻登记"]
    assert tiny_lexicon.expand("今天天气怎么样") == []


def test_lexicon_homophone_by_sound(tiny_lexicon):
    # 社宝卡: a speech-recognition homophone of 社保卡 (she bao ka)
    assert tiny_lexicon.expand("社宝卡怎么申请") == ["社会保障卡"]


def test_lexicon_exact_only_phrase_not_matched_by_sound(tiny_lexicon):
    # 接婚 sounds like 结婚 (jie hun) but 结婚 is exact_only
    assert tiny_lexicon.expand("接婚") == []


def test_lexicon_single_syllable_phrase_never_matched_by_sound(tiny_lexicon):
    assert tiny_lexicon.expand("挖") == []  # wa, like 娃
    assert tiny_lexicon.expand("娃上学") == ["孩子"]


def test_lexicon_latin_phrases_match_whole_words(tiny_lexicon):
    assert tiny_lexicon.expand("how do i pay tax") == ["税费缴纳"]
    assert tiny_lexicon.expand("paying my taxes") == ["税费缴纳"]  # inflection
    assert tiny_lexicon.expand("our dogs need a licence") == ["养犬证"]
    assert tiny_lexicon.expand("i need a taxi to the airport") == []
    assert tiny_lexicon.expand("hotdog stand") == []


def test_lexicon_expansions_are_not_repeated(tiny_lexicon):
    out = tiny_lexicon.expand("社保卡 社宝卡 社保卡")
    assert out == ["社会保障卡"]


def test_lexicon_phrases_are_normalised_on_load(tmp_path):
    path = tmp_path / "lexicon.yaml"
    path.write_text("expansions:\n  社保卡: 社会保障卡\n  Hukou: 户口\nexact_only: []\n", encoding="utf-8")
    lex = Lexicon.load(path)
    assert lex.expand(T.normalize("社保卡 HUKOU")) == ["社会保障卡", "户口"]


def test_default_lexicon_abbreviation_and_homophone():
    lex = default_lexicon()
    assert "社会保障卡" in lex.expand("社保卡申领")
    assert "社会保障卡" in lex.expand("社宝卡怎么申请")  # by sound
    assert "公共租赁住房" in lex.expand("公主房怎么申请")  # by fuzzy sound (zh/z)


def test_default_lexicon_exact_only_phrases_do_not_match_by_sound():
    lex = default_lexicon()
    assert "住房公积金" in lex.expand("公积金")
    assert "住房公积金" not in lex.expand("公鸡金")  # gong ji jin: 公积金 is exact_only
    assert "结婚登记" not in lex.expand("接婚")


def test_default_lexicon_english_words_not_matched_inside_other_words():
    lex = default_lexicon()
    assert "税费缴纳" not in lex.expand("i need a taxi to the airport")
    assert "养犬证" not in lex.expand("hotdog stand near me")
    assert "税费缴纳" in lex.expand("how do i pay tax on my salary")
    assert "灵活就业" in lex.expand("i'm a freelancer now")


@pytest.mark.parametrize("text", ["我爸前天在医院走的", "奶奶是在家走的", "姥爷上个月不在了", "爷爷昨晚咽气了"])
def test_default_lexicon_colloquial_dying(text):
    assert "去世" in default_lexicon().expand(text)


@pytest.mark.parametrize("text", ["我走的时候带上材料", "这个项目短期能办完吗", "我不再了解这个", "他走得很快"])
def test_default_lexicon_walking_and_homophones_are_not_dying(text):
    # 断气 (duan qi) sounds like 短期, 不在了 like 不再了: such phrases match only as written
    assert "去世" not in default_lexicon().expand(text)


# ---------------------------------------------------------------- gram index
from hypothesis import given, settings, strategies as st  # noqa: E402

_grams = st.sets(st.sampled_from(["社保", "保卡", "户口", "登记", "出生", "结婚", "证明", "申领"]), max_size=6)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_grams, max_size=8), query=_grams)
def test_gram_index_overlap_is_the_set_intersection_per_row(rows, query):
    weight = {"社保": 2.0, "户口": 0.5}
    index = lexical.GramIndex(rows, weight)
    assert list(index.overlap(query)) == [len(r & query) for r in rows]
    expected = [sum(weight.get(g, 0.0) for g in r & query) for r in rows]
    assert list(index.overlap(query, weighted=True)) == pytest.approx(expected)
    assert list(index.sizes) == [len(r) for r in rows]
    assert list(index.weighted_sizes) == pytest.approx([sum(weight.get(g, 0.0) for g in r) for r in rows])


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 3), min_size=1, max_size=6), data=st.data())
def test_group_max_per_group_and_zero_for_empty_groups(sizes, data):
    values = data.draw(st.lists(st.floats(-5, 5), min_size=sum(sizes), max_size=sum(sizes)))
    starts, groups, i = [], [], 0
    for n in sizes:
        starts.append(i)
        groups.append(values[i:i + n])
        i += n
    import numpy as np

    out = lexical.group_max(np.array(values, dtype=np.float64), np.array(starts, dtype=np.int64))
    assert list(out) == [max(g) if g else 0.0 for g in groups]
