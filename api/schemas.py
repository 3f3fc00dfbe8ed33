"""Request and response bodies of the HTTP API (they make the OpenAPI document)."""
from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, RootModel

MAX_MESSAGE = 10_000  # characters; longer bodies are refused with a clear error, not cut silently


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region: str = Field(..., min_length=1, max_length=64, examples=["dongying"])
    channel: Literal["web", "hotline", "kiosk"] = "web"


class TextMessage(BaseModel):
    """What the user typed or said."""
    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., max_length=MAX_MESSAGE, examples=["孩子上周出生了，要办哪些手续"])


class OptionMessage(BaseModel):
    """The value of an option button the user chose (opaque: send back what `options` gave)."""
    model_config = ConfigDict(extra="forbid")
    option: str = Field(..., max_length=200, examples=["answer:married:yes"])


MessageIn = Union[TextMessage, OptionMessage]  # exactly one of text / option


class Selection(RootModel[Annotated[dict[str, bool], Field(min_length=1)]]):
    """{sub_matter_id: true|false}: select or drop optional sub-matters (at least one)."""


# No pdf: the html format is A4 print-ready (浏览器打印/另存为PDF) with CJK fonts.
ChecklistFormat = Literal["json", "html", "text", "speech"]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rating: int = Field(..., ge=1, le=5)
    comment: str = Field("", max_length=1000)


class Option(BaseModel):
    label: str
    value: str


class Question(BaseModel):
    id: str
    text: str


class SubMatter(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    mandatory: bool
    selected: bool
    department: str
    time_limit: dict
    fee: str
    places: list[dict]


class Material(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    name: str
    form: str
    copies: int
    needed_by: list[str]
    exempt: bool
    exempt_source: Optional[str]
    note: Optional[str]


class Checklist(BaseModel):
    model_config = ConfigDict(extra="allow")
    scenario: str
    region: str
    sub_matters: list[SubMatter]
    materials: list[Material]
    steps: list[dict]
    sources: list[dict]
    knowledge_version: str


class SessionReply(BaseModel):
    session_id: str
    reply: str
    kind: str
    options: list[Option]
    region: str
    channel: str
    scenario: Optional[str]
    scenario_name: Optional[str]
    question: Optional[Question]
    answers: dict[str, str]
    answer_summary: list[dict]
    done: bool
    checklist: Optional[Checklist]
    knowledge_version: Optional[str]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class Region(BaseModel):
    id: str
    name: str
    level: str
    parent: Optional[str]
    scenarios: int


class ScenarioSummary(BaseModel):
    id: str
    name: str
    title: str
    kind: str
    lead_department: Optional[str]
    sub_matters: int
