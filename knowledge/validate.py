"""Cross-reference validation of a loaded knowledge base.

Each problem names the file, the key path and what is wrong, so an author can fix
it without reading code. Schema-level problems are caught earlier, in loader.py.
"""
from __future__ import annotations

import itertools
from typing import Iterator, Optional

from . import conditions
from .loader import KnowledgeBase, Problem
from .schema import Scenario, Sourced


def validate(kb: KnowledgeBase) -> list[Problem]:
    problems: list[Problem] = []
    problems += _regions(kb)
    problems += _sources_and_materials(kb)
    for scenario in kb.scenarios.values():
        problems += _scenario(kb, scenario)
    problems += _catalogue(kb)
    problems += _lifecycle(kb)
    return problems


def _file(kb: KnowledgeBase, kind: str, key: str) -> str:
    return kb.origin.get(f"{kind}:{key}", "?")


def _regions(kb: KnowledgeBase) -> Iterator[Problem]:
    if "national" not in kb.regions:
        yield Problem("regions.yaml", "regions", "缺少全国基础层 national")
    for rid, region in kb.regions.items():
        if region.parent is not None and region.parent not in kb.regions:
            yield Problem("regions.yaml", f"regions.{rid}.parent", f"未知的上级地区 {region.parent!r}")
            continue
        if region.source is not None and region.source not in kb.sources:
            yield Problem("regions.yaml", f"regions.{rid}.source", f"未知的来源 {region.source!r}")
        seen, current = set(), rid
        while current is not None and current in kb.regions:
            if current in seen:
                yield Problem("regions.yaml", f"regions.{rid}.parent", "上级地区形成循环")
                break
            seen.add(current)
            current = kb.regions[current].parent


def _cites(kb: KnowledgeBase, fact: Sourced, file: str, key: str, required: bool) -> Iterator[Problem]:
    if required and not fact.sources:
        yield Problem(file, f"{key}.sources", "事实缺少来源（sources 为空）")
    for sid in fact.sources:
        if sid not in kb.sources:
            yield Problem(file, f"{key}.sources", f"未知的来源 id {sid!r}")
    if fact.certainty == "uncertain" and not fact.note:
        yield Problem(file, f"{key}.note", "标为 uncertain 的事实须在 note 中说明不确定之处")


def _region_ids(kb: KnowledgeBase, ids: list[str], file: str, key: str) -> Iterator[Problem]:
    for rid in ids:
        if rid not in kb.regions:
            yield Problem(file, key, f"未知的地区 id {rid!r}")


def _sources_and_materials(kb: KnowledgeBase) -> Iterator[Problem]:
    for sid, src in kb.sources.items():
        if src.region not in kb.regions:
            yield Problem(_file(kb, "source", sid), f"sources.{sid}.region", f"未知的地区 id {src.region!r}")
    for mid, mat in kb.materials.items():
        yield from _cites(kb, mat, _file(kb, "material", mid), f"materials.{mid}", required=True)


def _condition(
    scenario: Scenario, text: Optional[str], file: str, key: str, allowed: Optional[set[str]] = None
) -> Iterator[Problem]:
    if not text:
        return
    try:
        node = conditions.parse(text)
    except conditions.ConditionError as exc:
        yield Problem(file, key, str(exc))
        return
    for question, values in conditions.references(node):
        if question not in scenario.questions:
            yield Problem(file, key, f"条件引用了未知的问题 {question!r}")
            continue
        if allowed is not None and question not in allowed:
            yield Problem(file, key, f"条件引用了排在后面的问题 {question!r}（只能依赖之前的问题）")
        options = {o.value for o in scenario.questions[question].options}
        for value in sorted(values - options):
            yield Problem(file, key, f"问题 {question!r} 没有选项 {value!r}（可选: {sorted(options)}）")


def _reachable(scenario: Scenario, qid: str) -> bool:
    """Some combination of earlier answers makes the question's ask_if true."""
    order = list(scenario.questions)
    earlier = order[: order.index(qid)]
    domains = [[o.value for o in scenario.questions[q].options] for q in earlier]
    if not scenario.questions[qid].ask_if:
        return True
    # Questions are few and have few options; exhaustive search stays small.
    for combo in itertools.product(*domains):
        answers: dict[str, str] = {}
        for q, value in zip(earlier, combo):
            if conditions.holds(scenario.questions[q].ask_if, answers) is not False:
                answers[q] = value
        if conditions.holds(scenario.questions[qid].ask_if, answers):
            return True
    return False


def _scenario(kb: KnowledgeBase, s: Scenario) -> Iterator[Problem]:
    file = _file(kb, "scenario", s.id)
    used: set[str] = set()
    # questions
    earlier: set[str] = set()
    for qid, q in s.questions.items():
        key = f"questions.{qid}"
        yield from _cites(kb, q, file, key, required=True)
        values = [o.value for o in q.options]
        if len(values) < 2:
            yield Problem(file, f"{key}.options", "至少需要两个选项")
        for dup in sorted({v for v in values if values.count(v) > 1}):
            yield Problem(file, f"{key}.options", f"重复的选项值 {dup!r}")
        yield from _condition(s, q.ask_if, file, f"{key}.ask_if", allowed=earlier)
        earlier.add(qid)
    # sub-matters
    for mid, m in s.matters.items():
        key = f"matters.{mid}"
        yield from _cites(kb, m, file, key, required=True)
        yield from _condition(s, m.applies_if, file, f"{key}.applies_if")
        yield from _region_ids(kb, list(m.departments), file, f"{key}.departments")
        if m.valid_from and m.valid_until and m.valid_from > m.valid_until:
            yield Problem(file, key, "valid_from 晚于 valid_until")
        for dep in m.after:
            if dep not in s.matters:
                yield Problem(file, f"{key}.after", f"未知的子事项 {dep!r}")
        for lid in m.lifecycle:
            if lid not in kb.matters:
                yield Problem(file, f"{key}.lifecycle", f"未知的单一事项 id {lid!r}")
        for i, use in enumerate(m.materials):
            ukey = f"{key}.materials[{i}]"
            if use.material not in kb.materials:
                yield Problem(file, f"{ukey}.material", f"未定义的材料 {use.material!r}")
            yield from _cites(kb, use, file, ukey, required=False)
            yield from _condition(s, use.when, file, f"{ukey}.when")
            yield from _region_ids(kb, use.regions, file, f"{ukey}.regions")
            if use.valid_from and use.valid_until and use.valid_from > use.valid_until:
                yield Problem(file, ukey, "valid_from 晚于 valid_until")
            for j, rule in enumerate([*use.exempt, *use.tolerance]):
                yield from _cites(kb, rule, file, f"{ukey}.exempt/tolerance[{j}]", required=True)
                yield from _region_ids(kb, rule.regions, file, f"{ukey}.exempt/tolerance[{j}].regions")
        for field in ("time_limits", "fees", "places"):
            for i, fact in enumerate(getattr(m, field)):
                yield from _cites(kb, fact, file, f"{key}.{field}[{i}]", required=False)
                yield from _region_ids(kb, fact.regions, file, f"{key}.{field}[{i}].regions")
        for text in [m.applies_if, *(u.when for u in m.materials)]:
            if text:
                used.update(q for q, _ in conditions.references(conditions.parse(text)))
    yield from _after_cycles(s, file)
    # questions must matter: referenced by a sub-matter or material, or gate such a question
    changed = True
    while changed:
        changed = False
        for qid in list(used):
            ask_if = s.questions[qid].ask_if if qid in s.questions else None
            for q, _ in conditions.references(conditions.parse(ask_if)) if ask_if else []:
                if q not in used:
                    used.add(q)
                    changed = True
    for qid in s.questions:
        if qid not in used:
            yield Problem(file, f"questions.{qid}", "问题的答案不影响任何子事项或材料（无用的问题）")
        elif not _reachable(s, qid):
            yield Problem(file, f"questions.{qid}.ask_if", "问题不可达：之前的任何回答组合都不会问到它")
    # region listings
    listed: set[str] = set()
    for rid, listing in s.regions.items():
        key = f"regions.{rid}"
        if rid not in kb.regions:
            yield Problem(file, key, f"未知的地区 id {rid!r}")
        yield from _cites(kb, listing, file, key, required=True)
        for i, item in enumerate(listing.sub_matters):
            if item.matter not in s.matters:
                yield Problem(file, f"{key}.sub_matters[{i}].matter", f"未知的子事项 {item.matter!r}")
            listed.add(item.matter)
        if not any(item.mandatory for item in listing.sub_matters):
            yield Problem(file, f"{key}.sub_matters", "至少需要一个必办子事项（mandatory: true）")
    for mid in s.matters:
        if mid not in listed:
            yield Problem(file, f"matters.{mid}", "子事项没有被任何地区列出")


def _after_cycles(s: Scenario, file: str) -> Iterator[Problem]:
    state: dict[str, int] = {}

    def visit(mid: str) -> bool:
        if state.get(mid) == 1:
            return True
        if state.get(mid) == 2 or mid not in s.matters:
            return False
        state[mid] = 1
        cyclic = any(visit(dep) for dep in s.matters[mid].after)
        state[mid] = 2
        return cyclic

    for mid in s.matters:
        if visit(mid):
            yield Problem(file, f"matters.{mid}.after", "办理顺序（after）形成循环")
            return


def _catalogue(kb: KnowledgeBase) -> Iterator[Problem]:
    cat_regions = kb.catalogue.get("regions", {}) or {}
    cat_scenarios = kb.catalogue.get("scenarios", {}) or {}
    for rid in cat_regions:
        if rid not in kb.regions:
            yield Problem("regions.yaml", "regions", f"目录中的地区 {rid!r} 缺失")
    for sid, entry in cat_scenarios.items():
        if sid not in kb.scenarios:
            yield Problem(f"scenarios/{sid}.yaml", "-", f"目录中的情景 {sid!r} 缺失")
            continue
        s = kb.scenarios[sid]
        file = _file(kb, "scenario", sid)
        if s.kind != entry.get("kind"):
            yield Problem(file, "kind", f"应为 {entry.get('kind')!r}（目录）")
        names = entry.get("names", {}) or {}
        subs = entry.get("sub_matters", {}) or {}
        for rid in names:
            if rid not in s.regions:
                yield Problem(file, f"regions.{rid}", f"目录要求地区 {rid!r} 发布此情景，但知识库缺失")
                continue
            listing = s.regions[rid]
            if listing.name != names[rid]:
                yield Problem(file, f"regions.{rid}.name", f"名称应为 {names[rid]!r}（目录），实为 {listing.name!r}")
            actual = [item.listed_as for item in listing.sub_matters]
            if actual != list(subs.get(rid, [])):
                yield Problem(file, f"regions.{rid}.sub_matters",
                              f"子事项应与目录一致: {subs.get(rid)}，实为 {actual}")
        for rid in s.regions:
            if rid not in names:
                yield Problem(file, f"regions.{rid}", f"地区 {rid!r} 并未发布此情景（目录中没有）")
    for sid in kb.scenarios:
        if sid not in cat_scenarios:
            yield Problem(_file(kb, "scenario", sid), "id", f"情景 {sid!r} 不在目录中")


def _lifecycle(kb: KnowledgeBase) -> Iterator[Problem]:
    for mid, m in kb.matters.items():
        file, key = _file(kb, "matter", mid), f"matters.{mid}"
        yield from _cites(kb, m, file, key, required=True)
        yield from _region_ids(kb, m.regions, file, f"{key}.regions")
        yield from _region_ids(kb, list(m.departments), file, f"{key}.departments")
