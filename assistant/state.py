"""Dialogue state: only what the applicant said, never what can be derived from it.

The scenario, the answers keyed by question id (in the order given), the selection of
optional sub-matters, and the scenario choices last offered. Everything else (the next
question, the checklist) is recomputed from these on every turn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Optional


@dataclass
class DialogueState:
    region: str
    channel: str = "web"  # web | hotline | kiosk
    scenario: Optional[str] = None
    answers: dict[str, str] = field(default_factory=dict)
    selection: dict[str, bool] = field(default_factory=dict)
    offered: list[str] = field(default_factory=list)  # scenario ids offered as choices last turn
    offered_for: str = ""  # what the user said that led to those choices (its answers still count)
    knowledge_version: Optional[str] = None  # the version the conversation started on
    turns: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "DialogueState":
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)

    def reset(self) -> "DialogueState":
        return DialogueState(self.region, self.channel, knowledge_version=self.knowledge_version)
