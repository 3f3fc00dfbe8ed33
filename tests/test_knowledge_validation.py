"""The checker catches each kind of broken data with a precise file/key message."""
import subprocess
import sys

import pytest
import yaml

from knowledge import KnowledgeError, load
from knowledge.loader import read_yaml

from .conftest import REPO

SCENARIO = "newborn"


def edit(path, change):
    data = read_yaml(path)
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def problems(data_dir):
    with pytest.raises(KnowledgeError) as info:
        load(data_dir)
    return [str(p) for p in info.value.problems]


def first_matter(data):
    return next(iter(data["matters"].values()))


def first_question(data):
    return next(iter(data["questions"]))


def test_real_knowledge_passes(kb):
    assert set(kb.scenarios) == set(kb.catalogue["scenarios"])


def test_duplicate_yaml_key(data_copy):
    path = data_copy / "materials.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "  id_card:\n    name: 重复\n    sources: [law_resident_id_card]\n",
                    encoding="utf-8")
    found = problems(data_copy)
    assert any("materials.yaml" in p and "重复的键 'id_card'" in p for p in found)


def test_unknown_material(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml",
         lambda d: first_matter(d)["materials"].append({"material": "no_such_doc"}))
    found = problems(data_copy)
    assert any(f"scenarios/{SCENARIO}.yaml" in p and "未定义的材料 'no_such_doc'" in p for p in found)


def test_condition_with_unknown_question_and_option(data_copy):
    def change(d):
        q = first_question(d)
        matters = list(d["matters"].values())
        matters[0]["applies_if"] = "no_such_question == x"
        matters[1]["applies_if"] = f"{q} == no_such_option"
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    found = problems(data_copy)
    assert any("applies_if" in p and "未知的问题 'no_such_question'" in p for p in found)
    assert any("applies_if" in p and "没有选项 'no_such_option'" in p for p in found)


def test_condition_syntax_error_is_reported_with_key(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml",
         lambda d: first_matter(d).__setitem__("applies_if", "a == "))
    found = problems(data_copy)
    assert any(f"scenarios/{SCENARIO}.yaml" in p and "applies_if" in p for p in found)


def test_unreachable_and_useless_questions(data_copy):
    def change(d):
        q = first_question(d)
        values = [o["value"] for o in d["questions"][q]["options"]]
        d["questions"]["never_asked"] = {
            "text": "永远问不到的问题", "sources": ["seed_dongying"],
            "ask_if": f"{q} == {values[0]} and {q} == {values[1]}",
            "options": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"}],
        }
        d["questions"]["changes_nothing"] = {
            "text": "不影响结果的问题", "sources": ["seed_dongying"],
            "options": [{"value": "a", "label": "甲"}, {"value": "b", "label": "乙"}],
        }
        first_matter(d)["materials"].append({"material": "photo", "when": "never_asked == a"})
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    found = problems(data_copy)
    assert any("questions.never_asked.ask_if" in p and "不可达" in p for p in found)
    assert any("questions.changes_nothing" in p and "无用的问题" in p for p in found)


def test_ask_if_may_only_use_earlier_questions(data_copy):
    def change(d):
        qs = list(d["questions"])
        d["questions"][qs[0]]["ask_if"] = f"{qs[-1]} == {d['questions'][qs[-1]]['options'][0]['value']}"
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    assert any("排在后面的问题" in p for p in problems(data_copy))


def test_missing_catalogue_scenario(data_copy):
    (data_copy / "scenarios/divorce.yaml").unlink()
    assert any("目录中的情景 'divorce' 缺失" in p for p in problems(data_copy))


def test_listing_must_equal_catalogue(data_copy):
    def change(d):
        region = next(iter(d["regions"].values()))
        region["sub_matters"][0]["listed_as"] = "改过的名字"
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    assert any("子事项应与目录一致" in p for p in problems(data_copy))


def test_region_that_does_not_publish(data_copy):
    def change(d):
        d["regions"]["zibo"] = next(iter(d["regions"].values()))
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    assert any("regions.zibo" in p and "并未发布" in p for p in problems(data_copy))


def test_fact_without_source(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", lambda d: first_matter(d).__setitem__("sources", []))
    assert any("缺少来源" in p for p in problems(data_copy))


def test_unknown_source(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml",
         lambda d: first_matter(d)["sources"].append("no_such_source"))
    assert any("未知的来源 id 'no_such_source'" in p for p in problems(data_copy))


def test_uncertain_needs_note(data_copy):
    def change(d):
        m = first_matter(d)
        m["certainty"] = "uncertain"
        m.pop("note", None)
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", change)
    assert any("uncertain" in p and ".note" in p for p in problems(data_copy))


def test_duplicate_id_across_files(data_copy):
    scenario = read_yaml(data_copy / f"scenarios/{SCENARIO}.yaml")
    edit(data_copy / "scenarios/marriage.yaml",
         lambda d: d.setdefault("sources", {}).update({next(iter(scenario["sources"])): next(iter(scenario["sources"].values()))}))
    assert any("重复的source id" in p for p in problems(data_copy))


def test_unknown_key_is_a_schema_error(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml", lambda d: first_matter(d).__setitem__("fees_typo", "x"))
    assert any("fees_typo" in p for p in problems(data_copy))


def test_cli_check_exits_non_zero_with_precise_message(data_copy):
    edit(data_copy / f"scenarios/{SCENARIO}.yaml",
         lambda d: first_matter(d)["materials"].append({"material": "no_such_doc"}))
    run = subprocess.run([sys.executable, "-m", "knowledge", "check", "--data", str(data_copy)],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 1
    assert f"scenarios/{SCENARIO}.yaml" in run.stderr and "no_such_doc" in run.stderr


def test_cli_check_passes_on_real_data():
    run = subprocess.run([sys.executable, "-m", "knowledge", "check"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "知识库检查通过" in run.stdout
