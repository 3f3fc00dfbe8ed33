"""Shapes of the knowledge data files (see knowledge/SCHEMA.md for the authoring guide).

Every model forbids unknown keys so a typo in a data file is an error, not a silent gap.
Cross-references (ids, conditions, sources) are checked in validate.py, not here.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import conditions


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


MatterType = Literal["行政许可", "行政确认", "行政给付", "公共服务", "其他行政权力", "行政裁决", "行政奖励", "其他"]
Channel = Literal["window", "online", "app", "kiosk", "mail", "phone", "onsite"]
Form = Literal["原件", "复印件", "原件及复印件", "电子", "填写", "签署"]
Tolerance = Literal["容缺", "告知承诺"]
Certainty = Literal["confirmed", "uncertain"]
SourceKind = Literal["seed", "law", "policy", "guide", "reference", "standard"]
ScenarioKind = Literal["person", "enterprise"]


def _check_condition(text: Optional[str]) -> Optional[str]:
    if text:
        conditions.parse(text)  # raises ConditionError with a precise message
    return text


class Sourced(Strict):
    """A fact, with the source ids that back it and an honest certainty flag."""

    sources: list[str] = Field(default_factory=list)
    certainty: Certainty = "confirmed"
    note: Optional[str] = None  # why uncertain, what differs by place, ...


class Dated(Strict):
    valid_from: Optional[dt.date] = None
    valid_until: Optional[dt.date] = None  # last day the fact holds

    def in_force(self, on: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= on) and (
            self.valid_until is None or on <= self.valid_until
        )


class Source(Strict):
    title: str
    publisher: str
    region: str  # region id the source speaks for (national for laws)
    date: dt.date  # date of issue or, for a web guide, the date it was read
    kind: SourceKind
    url: Optional[str] = None
    file: Optional[str] = None  # seed document file name, for seeds
    note: Optional[str] = None


class Region(Strict):
    name: str
    level: Literal["national", "province", "city", "district"]
    parent: Optional[str] = None
    source: Optional[str] = None  # source id of the region's own catalogue document
    aliases: list[str] = Field(default_factory=list)


class Material(Sourced):
    name: str
    aliases: list[str] = Field(default_factory=list)
    issuer: Optional[str] = None  # who issues the document
    description: Optional[str] = None


class Option(Strict):
    value: str
    label: str
    aliases: list[str] = Field(default_factory=list)  # free-text phrases meaning this option


class Question(Sourced):
    text: str
    help: Optional[str] = None
    options: list[Option]
    ask_if: Optional[str] = None

    _v = field_validator("ask_if")(classmethod(lambda cls, v: _check_condition(v)))


class Exemption(Sourced):
    """Material not to be submitted in these regions: the data is shared or an e-licence exists."""

    regions: list[str]
    via: str  # where the data comes from, e.g. 电子证照库（出生医学证明）


class ToleranceRule(Sourced):
    kind: Tolerance
    regions: list[str] = Field(default_factory=lambda: ["national"])
    detail: Optional[str] = None


class MaterialUse(Sourced, Dated):
    material: str
    form: Form = "原件"
    copies: int = Field(default=1, ge=0)
    holder: Optional[str] = None  # whose document, e.g. 父母双方
    when: Optional[str] = None
    regions: list[str] = Field(default_factory=lambda: ["national"])  # where this requirement holds
    exempt: list[Exemption] = Field(default_factory=list)
    tolerance: list[ToleranceRule] = Field(default_factory=list)

    _v = field_validator("when")(classmethod(lambda cls, v: _check_condition(v)))


class TimeLimit(Sourced):
    statutory: Optional[str] = None  # 法定办结时限
    promised: Optional[str] = None  # 承诺办结时限
    regions: list[str] = Field(default_factory=lambda: ["national"])


class Fee(Sourced):
    text: str  # 不收费 / 住宅80元每件 ...
    regions: list[str] = Field(default_factory=lambda: ["national"])


class Place(Sourced):
    name: str  # 户籍所在地派出所户籍窗口 / 东营市政务服务中心二楼
    regions: list[str] = Field(default_factory=lambda: ["national"])
    address: Optional[str] = None
    hours: Optional[str] = None
    phone: Optional[str] = None


class SubMatter(Sourced, Dated):
    """One matter (事项) inside a scenario."""

    name: str
    aliases: list[str] = Field(default_factory=list)
    type: MatterType
    department: str  # generic department, e.g. 公安机关（户籍派出所）
    departments: dict[str, str] = Field(default_factory=dict)  # region id -> local department
    basis: list[str] = Field(default_factory=list)  # 设定依据
    requirements: list[str] = Field(default_factory=list)  # 受理条件
    materials: list[MaterialUse] = Field(default_factory=list)
    time_limits: list[TimeLimit] = Field(default_factory=list)
    fees: list[Fee] = Field(default_factory=list)
    places: list[Place] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    in_person: bool = False  # a step that must still be done in person
    result: Optional[str] = None  # 办理结果
    applies_if: Optional[str] = None
    after: list[str] = Field(default_factory=list)  # sub-matter ids that must come first
    lifecycle: list[str] = Field(default_factory=list)  # ids of the single matters it corresponds to

    _v = field_validator("applies_if")(classmethod(lambda cls, v: _check_condition(v)))


class Listing(Strict):
    matter: str  # sub-matter id within the scenario
    listed_as: str  # the name exactly as the region's document writes it
    mandatory: bool = True


class RegionScenario(Sourced):
    name: str
    lead_department: Optional[str] = None
    sub_matters: list[Listing]


class Scenario(Strict):
    id: str
    kind: ScenarioKind
    title: str  # neutral Chinese name, e.g. 新生儿出生
    description: str
    aliases: list[str] = Field(default_factory=list)  # colloquial names
    examples: list[str] = Field(default_factory=list)  # how people say it, for search
    sources: dict[str, Source] = Field(default_factory=dict)  # sources defined in this file
    materials: dict[str, Material] = Field(default_factory=dict)  # materials defined in this file
    questions: dict[str, Question] = Field(default_factory=dict)  # ordered: the asking order
    matters: dict[str, SubMatter]
    regions: dict[str, RegionScenario]


class Departments(Strict):
    lead: Optional[str] = None
    cooperating: list[str] = Field(default_factory=list)


class LifecycleMatter(Sourced):
    """A single matter from a lifecycle matter list (个人/企业全生命周期事项清单)."""

    name: str
    kind: ScenarioKind
    stage: str  # 1出生, 2教育 ...
    scene: str
    type: Optional[MatterType] = None
    parent: Optional[str] = None  # grouping name when the list nests sub-items
    aliases: list[str] = Field(default_factory=list)
    # region id -> level (city/district) -> departments, as each region's list gives them
    departments: dict[str, dict[str, Departments]] = Field(default_factory=dict)
    regions: list[str]  # regions whose list carries this matter
