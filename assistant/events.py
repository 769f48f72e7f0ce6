"""Typed events: the only thing the UI and the CLI consume from the agent.

A question produces one stream of these. Tools report progress through a callback that the agent turns
into `ToolProgress` events; map layers travel as data (`MapLayer`) so deep links and reports can restore them.
The agent never writes a `Session`: what a question leaves behind (turns, layers, follow-up context, view) is
folded from these events by `assistant.turns`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress  # noqa: F401 - re-exported


class PlannedCall(BaseModel):
    name: str
    args: dict[str, Any]


class Planned(BaseModel):
    """What the planner chose before anything runs: the tool calls of this step (none: a reply without tools).

    The router plans once per question; the LLM loop once per model step that calls tools.
    """

    type: Literal["planned"] = "planned"
    calls: list[PlannedCall] = Field(default_factory=list)
    language: Literal["en", "fr"] = "en"
    follow_up: bool = False


class Clarify(BaseModel):
    """The planner needs more before it can call `tool`: it asks `question` (which is also the answer's text)."""

    type: Literal["clarify"] = "clarify"
    tool: str
    args: dict[str, Any]
    key: str = Field(..., description="Which question: a key of prompts/answers/clarify.<lang>.md.")
    question: str


class ContextUpdated(BaseModel):
    """What a follow-up question may refer to, as changed by this turn: keys to set in `Session.context`
    (`last_tool`, `last_args`, `place`, `dates`, `scene_ids`, `scene_id`, `image`) and the map view to show."""

    type: Literal["context_updated"] = "context_updated"
    context: dict[str, Any] = Field(default_factory=dict)
    view: dict[str, Any] | None = None


class ToolStarted(BaseModel):
    type: Literal["tool_started"] = "tool_started"
    call_id: str
    name: str
    args: dict[str, Any]


class ToolProgress(BaseModel):
    type: Literal["tool_progress"] = "tool_progress"
    call_id: str
    name: str
    fraction: float
    message: str


class ToolFinished(BaseModel):
    type: Literal["tool_finished"] = "tool_finished"
    call_id: str
    name: str
    args: dict[str, Any]
    duration_s: float
    ok: bool
    result: ToolResult | None = None
    error: str | None = None


class TextDelta(BaseModel):
    type: Literal["text_delta"] = "text_delta"
    text: str


class LayerAdded(BaseModel):
    type: Literal["map_layer"] = "map_layer"
    layer: MapLayer


class ErrorEvent(BaseModel):
    """A failure that is no tool's (planner, language model): a failed tool is its `ToolFinished(ok=False)`."""

    type: Literal["error"] = "error"
    message: str


class Done(BaseModel):
    """The end of one answer: its full text and language."""

    type: Literal["done"] = "done"
    answer: str
    language: Literal["en", "fr"]


Event = Annotated[
    Planned | Clarify | ToolStarted | ToolProgress | ToolFinished | LayerAdded | ContextUpdated | TextDelta | ErrorEvent
    | Done,
    Field(discriminator="type"),
]
EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)
