"""The knowledge base covers the required catalogue and lifecycle lists, at the required depth."""
import csv
import json
import subprocess
import sys

import pytest

from knowledge.loader import read_yaml
from knowledge.resolve import in_chain

from .conftest import REPO, SHARED

COMPLETE = [
    "newborn", "school_enrollment", "marriage", "divorce", "second_hand_house", "after_death", "retirement",
    "veteran", "disability_aid", "unemployment", "flexible_employment", "business_startup", "restaurant",
    "hiring", "simple_deregistration", "enterprise_real_estate", "housing_fund_withdrawal",
    "residence_permit", "offsite_medical",
]


@pytest.mark.skipif(not (SHARED / "spec/catalogue.yaml").exists(), reason="shared spec not beside the checkout")
def test_catalogue_copy_matches_spec():
    assert read_yaml(REPO / "knowledge/data/catalogue.yaml") == read_yaml(SHARED / "spec/catalogue.yaml")


def test_each_region_publishes_exactly_its_catalogue(kb):
    for region in kb.catalogue["regions"]:
        expected = {sid for sid, s in kb.catalogue["scenarios"].items() if region in s["names"]}
        assert {s.id for s in kb.scenarios_of(region)} == expected, region
    assert kb.scenarios_of("zibo") == []  # zibo publishes no catalogue of its own


def test_listings_equal_catalogue_names_and_sub_matters(kb):
    for sid, entry in kb.catalogue["scenarios"].items():
        scenario = kb.scenarios[sid]
        assert scenario.kind == entry["kind"]
        for region, name in entry["names"].items():
            listing = scenario.regions[region]
            assert listing.name == name
            assert [item.listed_as for item in listing.sub_matters] == entry["sub_matters"][region]


def test_region_inheritance_chain(kb):
    assert kb.region_chain("shanting") == ["shanting", "zaozhuang", "shandong", "national"]
    assert kb.region_chain("dongying") == ["dongying", "shandong", "national"]
    assert kb.region_chain("tianjin") == ["tianjin", "national"]


def _materials(kb, scenario, region):
    chain = kb.region_chain(region)
    return {u.material for item in scenario.regions[region].sub_matters
            for u in scenario.matters[item.matter].materials if in_chain(u.regions, chain)}


@pytest.mark.parametrize("sid", COMPLETE)
def test_complete_scenarios_have_full_depth(kb, sid):
    scenario = kb.scenarios[sid]
    assert len(scenario.questions) >= 3
    for region, listing in scenario.regions.items():
        chain = kb.region_chain(region)
        assert len(_materials(kb, scenario, region)) >= 5, region
        for item in listing.sub_matters:
            m = scenario.matters[item.matter]
            where = f"{sid}/{region}/{item.matter}"
            assert [u for u in m.materials if in_chain(u.regions, chain)], f"{where}: no materials"
            assert m.requirements, f"{where}: no conditions (受理条件)"
            assert [t for t in m.time_limits if in_chain(t.regions, chain)], f"{where}: no time limit"
            assert [f for f in m.fees if in_chain(f.regions, chain)], f"{where}: no fee"
            assert [p for p in m.places if in_chain(p.regions, chain)], f"{where}: no place"
            assert m.channels, f"{where}: no channel"


def test_every_scenario_has_key_materials_and_a_question(kb):
    for sid, scenario in kb.scenarios.items():
        assert scenario.questions, sid
        assert scenario.aliases and scenario.examples, sid
        for region in scenario.regions:
            assert len(_materials(kb, scenario, region)) >= 2, (sid, region)


@pytest.mark.skipif(not (SHARED / "spec/lifecycle_matters.tsv").exists(), reason="shared spec not beside the checkout")
def test_every_lifecycle_row_is_a_single_matter(kb):
    with open(SHARED / "spec/lifecycle_matters.tsv", encoding="utf-8") as fh:
        rows = [(r["kind"], r["stage"], r["scene"], r["name"]) for r in csv.DictReader(fh, delimiter="\t")]
    ours = sorted((m.kind, m.stage, m.scene, m.name) for m in kb.matters.values())
    assert ours == sorted(rows)
    for m in kb.matters.values():
        assert m.regions and set(m.regions) <= set(m.departments) | set(m.regions)


def test_coverage_command_last_line_is_json(kb):
    run = subprocess.run([sys.executable, "-m", "knowledge", "coverage"], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    table = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(table) == set(kb.catalogue["regions"])
    assert table["zibo"] == {}
    for region, scenarios in table.items():
        assert set(scenarios) == {s.id for s in kb.scenarios_of(region)}
        for sid, row in scenarios.items():
            assert row["sub_matters"] == len(kb.catalogue["scenarios"][sid]["sub_matters"][region])
            assert row["materials"] == len(_materials(kb, kb.scenarios[sid], region))
            assert row["questions"] == len(kb.scenarios[sid].questions)
