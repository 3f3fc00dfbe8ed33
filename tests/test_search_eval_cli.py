"""`python -m assistant eval identify|matters FILE` in fresh processes, and the evaluation data.

The CLI processes reuse the session's index (YICI_CACHE_DIR = the session cache, built by
the `identifier` fixture first), so each run only loads; there are three runs in all. The
metrics they print are checked against the in-process Identifier's own answers.
"""
import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.text import normalize
from knowledge.loader import DATA_DIR, content_hash

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
METRIC_KEYS = {"n", "top1", "top3", "none_precision", "none_recall"}

IDENTIFY_ROWS = [
    ("家里老人去世了要办哪些手续", "dongying", "after_death"),
    ("宝宝刚生下来，落户和医保怎么一起办", "tianjin", "newborn"),
    ("想开个小饭馆，从执照到开业要办什么", "liaoning", "restaurant|business_startup"),
    ("我们下个月领证，婚后户口怎么迁", "dongying", "marriage"),
    ("公司没业务了想简易注销", "tianjin", "simple_deregistration"),
    ("退伍回老家，档案和户口怎么弄", "liaoning", "veteran"),
    ("想给家里的狗办年审", "liaoning", "dog_license"),
    ("孩子九月上小学，要准备什么", "dongying", "school_enrollment"),
    ("今天中午吃什么好呢", "dongying", "none"),
    ("帮我查一下快递到哪了", "tianjin", "none"),
    ("how do I apply for a residence permit", "liaoning", "residence_permit"),
    ("二手房买卖过户，水电气也要改名", "tianjin", "second_hand_house"),
]
MATTER_ROWS = [
    ("补办身份证", "居民身份证"),
    ("新生儿出生证明", "出生医学证明"),
    ("社会保障卡第一次申领", "社会保障卡"),
    ("办护照", "护照"),
    ("个人养犬年审", "养犬|犬"),
    ("结婚登记要带什么", "结婚登记"),
]


def _write(path: Path, header: str, rows) -> Path:
    path.write_text(header + "\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(kb, search_cache, *args) -> subprocess.CompletedProcess:
    # A fresh process reads the knowledge files as they are now; edited since the session
    # loaded them, it would rebuild the whole index (minutes) and replace the session's.
    assert content_hash(DATA_DIR)[:12] == kb.version, "knowledge data changed while the tests ran"
    env = {**os.environ, "YICI_CACHE_DIR": str(search_cache), "YICI_PROGRESS": "0"}
    env.pop("YICI_EMBEDDING_MODEL", None)
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=900)


def _last_json(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def identify_run(identifier, kb, search_cache, tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("eval") / "identify.tsv", "text\tregion\texpected", IDENTIFY_ROWS)
    return _run(kb, search_cache, "eval", "identify", str(path))


@pytest.fixture(scope="module")
def matters_run(identifier, kb, search_cache, tmp_path_factory):
    path = _write(tmp_path_factory.mktemp("eval") / "matters.tsv", "text\texpected", MATTER_ROWS)
    return _run(kb, search_cache, "eval", "matters", str(path))


# ---------------------------------------------------------------- eval identify
def test_eval_identify_prints_metrics_as_the_last_line(identify_run):
    assert identify_run.returncode == 0, identify_run.stderr
    result = _last_json(identify_run.stdout)
    assert METRIC_KEYS | {"baselines"} == set(result)
    assert result["n"] == len(IDENTIFY_ROWS)
    assert set(result["baselines"]) == {"bm25", "embedding"}
    for metrics in (result, result["baselines"]["bm25"], result["baselines"]["embedding"]):
        assert METRIC_KEYS <= set(metrics)
        assert metrics["n"] == len(IDENTIFY_ROWS)
        for key in METRIC_KEYS - {"n"}:
            assert 0.0 <= metrics[key] <= 1.0, (key, metrics)
        assert metrics["top3"] >= metrics["top1"]
    assert "Traceback" not in identify_run.stderr


def test_eval_identify_agrees_with_the_identifier(identify_run, identifier):
    """The CLI's numbers are what Identifier.identify answers for the same rows."""
    result = _last_json(identify_run.stdout)
    top1 = top3 = said_none = right_none = 0
    for text, region, expected in IDENTIFY_ROWS:
        gold = set(expected.split("|"))
        answer = identifier.identify(text, region, with_matters=False)
        ranked = answer.ranked_labels()
        assert ranked[0] == answer.label and sorted(ranked) == sorted([*identifier.scenario_ids, "none"])
        top1 += ranked[0] in gold
        top3 += bool(gold & set(ranked[:3]))
        said_none += ranked[0] == "none"
        right_none += ranked[0] == "none" and "none" in gold
    n, true_none = len(IDENTIFY_ROWS), sum("none" in e for *_, e in IDENTIFY_ROWS)
    assert result["top1"] == round(top1 / n, 4)
    assert result["top3"] == round(top3 / n, 4)
    assert result["none_recall"] == round(right_none / true_none, 4)
    assert result["none_precision"] == (round(right_none / said_none, 4) if said_none else 1.0)


def test_eval_identify_lists_its_errors(identify_run):
    summary = [line for line in identify_run.stdout.splitlines() if re.fullmatch(r"错误 \d+ / 12", line)]
    assert len(summary) == 1, identify_run.stdout
    wrong = int(summary[0].split()[1])
    assert wrong == round((1 - _last_json(identify_run.stdout)["top1"]) * 12)


# ---------------------------------------------------------------- eval matters
def test_eval_matters_prints_metrics_as_the_last_line(matters_run, identifier):
    assert matters_run.returncode == 0, matters_run.stderr
    result = _last_json(matters_run.stdout)
    assert set(result) == {"n", "top1", "top5"}
    assert result["n"] == len(MATTER_ROWS)
    top1 = top5 = 0
    for text, expected in MATTER_ROWS:
        names = [h.name for h in identifier.find_matters(text, k=5)]
        fits = [any(e in name for e in expected.split("|")) for name in names]
        top1 += bool(fits and fits[0])
        top5 += any(fits)
    assert result["top1"] == round(top1 / len(MATTER_ROWS), 4)
    assert result["top5"] == round(top5 / len(MATTER_ROWS), 4)
    assert 0.0 <= result["top1"] <= result["top5"] <= 1.0


# ---------------------------------------------------------------- bad files
def test_wrong_header_exits_2_with_a_clear_message(identifier, kb, search_cache, tmp_path):
    path = _write(tmp_path / "bad.tsv", "sentence\tregion\texpected", IDENTIFY_ROWS[:2])
    run = _run(kb, search_cache, "eval", "identify", str(path))
    assert run.returncode == 2, (run.stdout, run.stderr)
    assert "表头应为 text region expected" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.strip() == ""


@pytest.fixture
def in_process(identifier, search_cache, monkeypatch, capsys):
    """main() in this process, answering from the session identifier (no second model load)."""
    from assistant.__main__ import main
    from assistant.search import dense, identify

    monkeypatch.setattr(dense, "DEFAULT_CACHE", search_cache)  # its knowledge pickle goes there, not to var/
    monkeypatch.setattr(identify, "shared_identifier", lambda knowledge: identifier)

    def run(*args):
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_unknown_scenario_id_exits_2(in_process, tmp_path):
    path = _write(tmp_path / "unknown.tsv", "text\tregion\texpected",
                  [IDENTIFY_ROWS[0], ("开个面包店", "tianjin", "bakery|restaurant")])
    code, out, err = in_process("eval", "identify", str(path))
    assert code == 2
    assert "未知的情景 id" in err and "bakery" in err and f"{path}:3" in err
    assert out == ""


def test_unknown_region_exits_2(in_process, tmp_path):
    path = _write(tmp_path / "region.tsv", "text\tregion\texpected", [("开饭店", "beijing", "restaurant")])
    code, out, err = in_process("eval", "identify", str(path))
    assert code == 2 and "未知的地区" in err and "beijing" in err


def test_matters_file_with_wrong_header_or_missing_value_exits_2(in_process, tmp_path):
    header = _write(tmp_path / "header.tsv", "text\tregion\texpected", [("补办身份证", "dongying", "居民身份证")])
    code, _, err = in_process("eval", "matters", str(header))
    assert code == 2 and "表头应为 text expected" in err
    missing = tmp_path / "missing.tsv"
    missing.write_text("text\texpected\n补办身份证\t\n", encoding="utf-8")
    code, _, err = in_process("eval", "matters", str(missing))
    assert code == 2 and "缺少列值" in err and f"{missing}:2" in err


def test_missing_file_exits_2(in_process, tmp_path):
    code, _, err = in_process("eval", "identify", str(tmp_path / "nope.tsv"))
    assert code == 2 and "无法读取" in err


# ---------------------------------------------------------------- evaluation data
def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


IDENTIFY_FILES = sorted(DATA.glob("identify_*.tsv"))
MATTER_FILES = sorted(DATA.glob("matters_*.tsv"))


def test_evaluation_files_exist():
    names = {p.name for p in IDENTIFY_FILES + MATTER_FILES}
    assert {"identify_holdout.tsv", "matters_holdout.tsv"} <= names
    assert any(n.startswith("identify_dev") for n in names) and any(n.startswith("matters_dev") for n in names)


@pytest.mark.parametrize("path", IDENTIFY_FILES, ids=lambda p: p.name)
def test_identify_file_names_only_known_scenarios_and_regions(path, kb):
    rows = _rows(path)
    assert rows and list(rows[0]) == ["text", "region", "expected"]
    unknown = [(n, r["expected"]) for n, r in enumerate(rows, start=2)
               for e in r["expected"].split("|") if e.strip() not in kb.scenarios and e.strip() != "none"]
    assert not unknown, unknown
    assert not [(n, r["region"]) for n, r in enumerate(rows, start=2) if r["region"] not in kb.regions]
    assert all(r["text"].strip() for r in rows)


def _key(text: str) -> str:
    """What the identifier sees, ignoring punctuation and spaces."""
    return re.sub(r"[\W_]+", "", normalize(text))


@pytest.mark.parametrize("kind", ["identify", "matters"])
def test_holdout_shares_no_text_with_the_dev_sets(kind):
    dev = {}
    for path in sorted(DATA.glob(f"{kind}_dev*.tsv")):
        for r in _rows(path):
            dev.setdefault(_key(r["text"]), f"{path.name}: {r['text']}")
    holdout = _rows(DATA / f"{kind}_holdout.tsv")
    shared = [f"{r['text']!r} ~ {dev[_key(r['text'])]}" for r in holdout if _key(r["text"]) in dev]
    assert not shared, f"{len(shared)} holdout rows also in the dev sets:\n" + "\n".join(shared)
