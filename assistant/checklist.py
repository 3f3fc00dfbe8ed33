"""The one-time notice (一次告知): a personal checklist built from knowledge and answers.

Sub-matters as a package (mandatory fixed, optional selectable) and ONE merged material
list: a document needed by several sub-matters is one line that says who needs it, with
the strictest requirement (original over copy, most copies); 免提交 only when every
sub-matter that needs it can take it from shared data; 容缺/告知承诺 noted. Anything that
holds only in some cases (an unknown answer) says in which case. Pure function of its inputs.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Mapping, Optional

from knowledge import conditions
from knowledge.loader import KnowledgeBase
from knowledge.resolve import ResolvedMatter, chain_of, most_specific, resolve
from knowledge.schema import Scenario

# Strictness of a material's form: the merged line asks for the strictest.
FORM_RANK = {"电子": 0, "填写": 1, "签署": 1, "复印件": 2, "原件": 3, "原件及复印件": 4}
CHANNEL_NAMES = {"window": "窗口", "online": "网上办", "app": "掌上办（手机App）", "kiosk": "自助终端",
                 "mail": "邮寄", "phone": "电话", "onsite": "上门/现场"}


@dataclass
class SubMatterLine:
    id: str
    name: str
    listed_as: str
    mandatory: bool
    selected: bool
    applies: bool  # False: it applies only in some cases, see `condition`
    condition: Optional[str]  # Chinese reading of when it applies (for "depends")
    type: str
    department: str
    time_limit: dict
    fee: str
    places: list[dict]
    channels: list[str]
    in_person: bool
    result: Optional[str]
    basis: list[str]
    requirements: list[str]
    uncertain: list[str]
    sources: list[str]


@dataclass
class MaterialLine:
    id: str
    name: str
    form: str
    copies: int
    needed_by: list[str]
    holders: list[str]
    exempt: bool
    exempt_source: Optional[str]
    tolerance: list[str]  # 容缺/告知承诺 with details
    condition: Optional[str]  # when only some cases need it
    note: Optional[str]
    uncertain: bool
    issuer: Optional[str]


@dataclass
class Checklist:
    scenario: str
    scenario_name: str
    region: str
    region_name: str
    date: str
    knowledge_version: str
    sub_matters: list[SubMatterLine]
    materials: list[MaterialLine]
    steps: list[dict]
    answers: list[dict]  # [{question, answer}] for the summary
    sources: list[dict]
    uncertain: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def selected(self) -> list[SubMatterLine]:
        return [m for m in self.sub_matters if m.selected]


def labels(scenario: Scenario) -> dict[str, tuple[str, dict[str, str]]]:
    return {qid: (q.text.rstrip("？?"), {o.value: o.label for o in q.options}) for qid, q in scenario.questions.items()}


def _describe(text: Optional[str], scenario: Scenario) -> Optional[str]:
    return conditions.describe(conditions.parse(text), labels(scenario)) if text else None


def build(
    kb: KnowledgeBase,
    scenario_id: str,
    region: str,
    answers: Mapping[str, str],
    selection: Optional[Mapping[str, bool]] = None,
    on: Optional[dt.date] = None,
) -> Checklist:
    """The checklist for these answers; `selection` toggles optional sub-matters (default: all)."""
    on = on or dt.date.today()
    scenario = kb.scenarios[scenario_id]
    chain = chain_of(kb, region)
    resolved = resolve(kb, scenario_id, region, answers, on)
    selection = dict(selection or {})
    lines, sources = [], set()
    for r in resolved:
        lines.append(_sub_matter_line(scenario, r, chain, selection))
        sources.update(r.matter.sources)
    chosen = {line.id for line in lines if line.selected}
    materials = _merge_materials(kb, scenario, [r for r in resolved if r.id in chosen], sources)
    listing = scenario.regions[region]
    sources.update(listing.sources)
    uncertain = [f"{m.name}：{u}" for m in lines if m.selected for u in m.uncertain]
    return Checklist(
        scenario=scenario_id, scenario_name=listing.name, region=region, region_name=kb.regions[region].name,
        date=on.isoformat(), knowledge_version=kb.version, sub_matters=lines, materials=materials,
        steps=_steps(scenario, [line for line in lines if line.selected]),
        answers=answer_summary(scenario, answers),
        sources=[source_entry(kb, sid) for sid in sorted(sources) if sid in kb.sources],
        uncertain=uncertain,
    )


def _sub_matter_line(scenario: Scenario, r: ResolvedMatter, chain: list[str], selection) -> SubMatterLine:
    m = r.matter
    limits = most_specific(m.time_limits, chain)
    fees = most_specific(m.fees, chain)
    places = most_specific(m.places, chain)
    uncertain = [f.note for f in [m, *limits, *fees, *places] if f.certainty == "uncertain" and f.note]
    selected = True if r.listing.mandatory else bool(selection.get(r.id, True))
    return SubMatterLine(
        id=r.id, name=m.name, listed_as=r.listing.listed_as, mandatory=r.listing.mandatory, selected=selected,
        applies=r.applies is True, condition=None if r.applies is True else _describe(m.applies_if, scenario),
        type=m.type, department=r.department,
        time_limit={"statutory": "；".join(t.statutory for t in limits if t.statutory) or None,
                    "promised": "；".join(t.promised for t in limits if t.promised) or None},
        fee="；".join(f.text for f in fees) or "未查到收费信息，以窗口告知为准",
        places=[{k: v for k, v in {"name": p.name, "address": p.address, "hours": p.hours, "phone": p.phone}.items()
                 if v} for p in places],
        channels=[CHANNEL_NAMES.get(c, c) for c in m.channels], in_person=m.in_person, result=m.result,
        basis=list(m.basis), requirements=list(m.requirements), uncertain=list(dict.fromkeys(uncertain)),
        sources=list(m.sources),
    )


def _merge_materials(kb: KnowledgeBase, scenario: Scenario, resolved: list[ResolvedMatter], sources: set) -> list[MaterialLine]:
    merged: dict[str, dict] = {}
    for r in resolved:
        for u in r.materials:
            use = u.use
            sources.update(use.sources)
            entry = merged.setdefault(use.material, {
                "form": use.form, "copies": use.copies, "needed_by": [], "holders": [], "exempt_all": True,
                "exempt_via": [], "tolerance": [], "conditions": [], "always": False, "notes": [], "uncertain": False,
            })
            if FORM_RANK.get(use.form, 0) > FORM_RANK.get(entry["form"], 0):
                entry["form"] = use.form
            entry["copies"] = max(entry["copies"], use.copies)
            if r.id not in entry["needed_by"]:
                entry["needed_by"].append(r.id)
            if use.holder and use.holder not in entry["holders"]:
                entry["holders"].append(use.holder)
            if u.exemption is None:
                entry["exempt_all"] = False
            else:
                entry["exempt_via"].append(u.exemption.via)
                sources.update(u.exemption.sources)
            for t in u.tolerance:
                text = f"{t.kind}：{t.detail}" if t.detail else t.kind
                if text not in entry["tolerance"]:
                    entry["tolerance"].append(text)
                sources.update(t.sources)
            needed_always = u.applies is True and r.applies is True
            entry["always"] = entry["always"] or needed_always
            if not needed_always:
                parts = [p for p in (_describe(r.matter.applies_if, scenario) if r.applies is not True else None,
                                     _describe(use.when, scenario) if u.applies is not True else None) if p]
                entry["conditions"].append(f"{r.matter.name}：" + "，且".join(parts) if parts else r.matter.name)
            if use.note and use.note not in entry["notes"]:
                entry["notes"].append(use.note)
            entry["uncertain"] = entry["uncertain"] or use.certainty == "uncertain"
    lines = []
    for mid, e in merged.items():
        material = kb.materials[mid]
        lines.append(MaterialLine(
            id=mid, name=material.name, form=e["form"], copies=e["copies"], needed_by=e["needed_by"],
            holders=e["holders"], exempt=e["exempt_all"],
            exempt_source="；".join(dict.fromkeys(e["exempt_via"])) if e["exempt_all"] else None,
            tolerance=e["tolerance"], condition=None if e["always"] else "；".join(e["conditions"]),
            note="；".join(e["notes"]) or None, uncertain=e["uncertain"] or material.certainty == "uncertain",
            issuer=material.issuer,
        ))
    return lines


def _steps(scenario: Scenario, lines: list[SubMatterLine]) -> list[dict]:
    """Order of the selected sub-matters: prerequisites (`after`) first, else listing order."""
    chosen = {line.id: line for line in lines}
    done: list[str] = []

    def visit(mid: str) -> None:
        if mid in done or mid not in chosen:
            return
        for dep in scenario.matters[mid].after:
            visit(dep)
        done.append(mid)

    for line in lines:
        visit(line.id)
    return [{"order": i + 1, "sub_matter": mid, "name": chosen[mid].name, "in_person": chosen[mid].in_person,
             "after": [d for d in scenario.matters[mid].after if d in chosen]} for i, mid in enumerate(done)]


def answer_summary(scenario: Scenario, answers: Mapping[str, str]) -> list[dict]:
    out = []
    for qid, value in answers.items():
        q = scenario.questions.get(qid)
        if q is None:
            continue
        label = next((o.label for o in q.options if o.value == value), "不确定" if value == conditions.UNKNOWN else value)
        out.append({"question_id": qid, "question": q.text, "answer": label, "value": value})
    return out


def source_entry(kb: KnowledgeBase, sid: str) -> dict:
    s = kb.sources[sid]
    return {"id": sid, "title": s.title, "publisher": s.publisher, "region": kb.regions[s.region].name,
            "date": s.date.isoformat(), "url": s.url, "kind": s.kind}
