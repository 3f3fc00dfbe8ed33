"""What the search indexes: texts per scenario and per single matter, taken from knowledge.

Scenario texts come in two fields: `core` (names, aliases, description, how people say it)
and `parts` (its sub-matters' names). The fusion weighs them separately, because a
sub-matter such as 社会保障卡申领 belongs to many scenarios and says little on its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from knowledge.loader import KnowledgeBase, read_yaml

from ..text import normalize

OUT_OF_SCOPE_FILE = Path(__file__).resolve().parents[1] / "data" / "out_of_scope.yaml"
NONE_OWNER = "__none__"


@dataclass(frozen=True)
class Text:
    owner: str  # scenario id, or matter key
    field: str  # core | parts | matter
    text: str


@dataclass(frozen=True)
class MatterEntry:
    key: str  # "lifecycle:<id>" or "<scenario>/<sub-matter id>"
    name: str
    kind: str  # lifecycle | sub_matter
    scenario: str | None
    regions: tuple[str, ...]


def _unique(items):
    seen, out = set(), []
    for item in items:
        norm = normalize(item)
        if norm and norm not in seen:
            seen.add(norm)
            out.append(norm)
    return out


def scenario_texts(kb: KnowledgeBase) -> list[Text]:
    out: list[Text] = []
    for sid, s in kb.scenarios.items():
        core = [s.title, s.description, *s.aliases, *s.examples, *(r.name for r in s.regions.values())]
        parts = [n for m in s.matters.values() for n in (m.name, *m.aliases)]
        parts += [item.listed_as for r in s.regions.values() for item in r.sub_matters]
        out += [Text(sid, "core", t) for t in _unique(core)]
        out += [Text(sid, "parts", t) for t in _unique(parts)]
    return out


def matter_entries(kb: KnowledgeBase) -> list[MatterEntry]:
    out = [
        MatterEntry(f"lifecycle:{mid}", m.name, "lifecycle", None, tuple(m.regions))
        for mid, m in kb.matters.items()
    ]
    for sid, s in kb.scenarios.items():
        for mid, m in s.matters.items():
            regions = tuple(r for r, listing in s.regions.items() if any(i.matter == mid for i in listing.sub_matters))
            out.append(MatterEntry(f"{sid}/{mid}", m.name, "sub_matter", sid, regions))
    return out


def matter_texts(kb: KnowledgeBase) -> list[Text]:
    out: list[Text] = []
    for mid, m in kb.matters.items():
        names = [m.name, *m.aliases, *([m.parent] if m.parent else [])]
        out += [Text(f"lifecycle:{mid}", "matter", t) for t in _unique(names)]
    for sid, s in kb.scenarios.items():
        for mid, m in s.matters.items():
            names = [m.name, *m.aliases]
            names += [i.listed_as for r in s.regions.values() for i in r.sub_matters if i.matter == mid]
            out += [Text(f"{sid}/{mid}", "matter", t) for t in _unique(names)]
    return out


def matter_contexts(kb: KnowledgeBase) -> list[Text]:
    """Each matter's name under its life event ("出生：出生医学证明办理", "新生儿出生：户口登记"):
    a question that tells the situation ("孩子刚满月…") meets the event, not the official name."""
    out = [Text(f"lifecycle:{mid}", "context", f"{m.scene}：{m.name}") for mid, m in kb.matters.items()]
    out += [Text(f"{sid}/{mid}", "context", f"{s.title}：{m.name}")
            for sid, s in kb.scenarios.items() for mid, m in s.matters.items()]
    return out


def out_of_scope_texts(path: Path = OUT_OF_SCOPE_FILE) -> list[Text]:
    """What "none" looks like: chit-chat, complaints, services that are no scenario."""
    raw = read_yaml(path) or {}
    return [Text(NONE_OWNER, group, t) for group, lines in raw.items() for t in _unique(lines)]
