"""Facts that hold for one region, one date and one set of answers.

This is the knowledge-level answer: which sub-matters of a scenario apply and which
material uses each needs. Merging into one material list and rendering happen later
in the checklist; nothing here knows about dialogue or presentation.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, TypeVar

from . import conditions
from .loader import KnowledgeBase
from .schema import Exemption, Listing, MaterialUse, SubMatter, ToleranceRule

T = TypeVar("T")


class UnknownRegion(KeyError):
    pass


class NotPublished(LookupError):
    """The region does not publish this scenario; `publishers` says who does."""

    def __init__(self, scenario: str, region: str, publishers: list[str]):
        self.scenario, self.region, self.publishers = scenario, region, publishers
        super().__init__(f"{region} 未发布情景 {scenario}；发布地区: {', '.join(publishers) or '无'}")


def in_chain(regions: Sequence[str], chain: Sequence[str]) -> bool:
    return any(r in chain for r in regions)


def most_specific(facts: Sequence[T], chain: Sequence[str]) -> list[T]:
    """Facts scoped to the closest region of the chain (a city's own beats the national one)."""
    best: Optional[int] = None
    for fact in facts:
        for r in fact.regions:  # type: ignore[attr-defined]
            if r in chain:
                depth = chain.index(r)
                best = depth if best is None else min(best, depth)
    if best is None:
        return []
    return [f for f in facts if chain[best] in f.regions]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ResolvedUse:
    use: MaterialUse
    applies: Optional[bool]  # None: depends on an unknown answer
    exemption: Optional[Exemption]  # 免提交 in this region
    tolerance: tuple[ToleranceRule, ...]


@dataclass(frozen=True)
class ResolvedMatter:
    id: str
    matter: SubMatter
    listing: Listing
    applies: Optional[bool]  # None: depends on an unknown answer
    department: str
    materials: tuple[ResolvedUse, ...]


def chain_of(kb: KnowledgeBase, region: str) -> list[str]:
    if region not in kb.regions:
        raise UnknownRegion(region)
    return kb.region_chain(region)


def resolve(
    kb: KnowledgeBase,
    scenario_id: str,
    region: str,
    answers: Mapping[str, str],
    on: Optional[dt.date] = None,
) -> list[ResolvedMatter]:
    """Sub-matters of the region's listing that apply (True) or may apply (None)."""
    on = on or dt.date.today()
    chain = chain_of(kb, region)
    scenario = kb.scenarios[scenario_id]
    if region not in scenario.regions:
        raise NotPublished(scenario_id, region, kb.publishers(scenario_id))
    result = []
    for listing in scenario.regions[region].sub_matters:
        matter = scenario.matters[listing.matter]
        applies = conditions.holds(matter.applies_if, answers)
        if applies is False or not matter.in_force(on):
            continue
        uses = []
        for use in matter.materials:
            if not in_chain(use.regions, chain) or not use.in_force(on):
                continue
            needed = conditions.holds(use.when, answers)
            if needed is False:
                continue
            exemption = next((e for e in use.exempt if in_chain(e.regions, chain)), None)
            tolerance = tuple(t for t in use.tolerance if in_chain(t.regions, chain))
            uses.append(ResolvedUse(use, needed, exemption, tolerance))
        department = next((matter.departments[r] for r in chain if r in matter.departments), matter.department)
        result.append(ResolvedMatter(listing.matter, matter, listing, applies, department, tuple(uses)))
    return result


def material_ids(resolved: Sequence[ResolvedMatter], *, include_exempt: bool = True) -> set[str]:
    return {
        u.use.material
        for m in resolved
        for u in m.materials
        if include_exempt or u.exemption is None
    }
