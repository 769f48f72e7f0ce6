"""Typed events: the only thing the UI and the CLI consume from the agent.

A question produces one stream of these. Tools report progress through a callback that the agent turns
into `ToolProgress` events; map layers travel as data (`MapLayer`) so deep links and reports can restore them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter

from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress  # noqa: F401 - re-exported


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
    type: Literal["error"] = "error"
    message: str


class Done(BaseModel):
    """The end of one answer: its full text and language."""

    type: Literal["done"] = "done"
    answer: str
    language: Literal["en", "fr"]


Event = Annotated[
    ToolStarted | ToolProgress | ToolFinished | TextDelta | LayerAdded | ErrorEvent | Done,
    Field(discriminator="type"),
]
EventAdapter: TypeAdapter[Event] = TypeAdapter(Event)
