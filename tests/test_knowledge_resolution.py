"""Answer combinations -> which sub-matters apply and which materials are needed.

The cases (tests/data/resolution_cases_*.yaml) are written from the service guides'
logic, one table per complete scenario; they pin the data and the resolver together.
"""
import datetime as dt
from pathlib import Path

import pytest

from knowledge.conditions import UNKNOWN
from knowledge.loader import read_yaml
from knowledge.resolve import NotPublished, material_ids, resolve

CASES = {sid: cases for path in sorted((Path(__file__).parent / "data").glob("resolution_cases_*.yaml"))
         for sid, cases in (read_yaml(path) or {}).items()}
PARAMS = [(sid, i, case) for sid, cases in CASES.items() for i, case in enumerate(cases)]


@pytest.mark.parametrize("sid, i, case", PARAMS, ids=[f"{s}-{i}" for s, i, _ in PARAMS])
def test_resolution_case(kb, sid, i, case):
    answers = {k: (UNKNOWN if v == "unknown" else str(v)) for k, v in (case.get("answers") or {}).items()}
    on = case.get("date") or dt.date(2026, 11, 21)
    resolved = resolve(kb, sid, case["region"], answers, on)
    assert {m.id for m in resolved} == set(case["sub_matters"]), case["name"]
    if "depends" in case:  # sub-matters that apply only in some cases of an unknown answer
        assert {m.id for m in resolved if m.applies is None} == set(case["depends"]), case["name"]
    got = material_ids(resolved)
    if "materials" in case:
        assert got == set(case["materials"]), case["name"]
    assert set(case.get("materials_include", [])) <= got, case["name"]
    assert not set(case.get("materials_exclude", [])) & got, case["name"]


def test_cases_cover_every_complete_scenario():
    from .test_knowledge_catalogue import COMPLETE

    assert set(COMPLETE) <= set(CASES)
    for sid in COMPLETE:
        assert len(CASES[sid]) >= 3, sid


def test_unpublished_scenario_is_reported_not_borrowed(kb):
    with pytest.raises(NotPublished) as info:
        resolve(kb, "restaurant", "dongying", {})
    assert set(info.value.publishers) == {"liaoning", "tianjin"}


def test_marriage_household_register_depends_on_date(kb):
    """婚姻登记条例 (in force 2025-05-10): the registration itself no longer needs the 户口簿."""
    def registration_materials(on):
        resolved = resolve(kb, "marriage", "dongying", {}, on)
        return material_ids([m for m in resolved if m.id == "marriage_registration"])

    assert "household_register" in registration_materials(dt.date(2025, 5, 9))
    assert "household_register" not in registration_materials(dt.date(2025, 5, 10))
