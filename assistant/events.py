"""Typed events: the only thing the UI and the CLI consume from the agent.

A question produces one stream of these. Tools report progress through a callback that the agent turns
into `ToolProgress` events; map layers travel as data (`MapLayer`) so deep links and reports can restore them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, TypeAdapter


class MapLayer(BaseModel):
    """One thing to draw on the map. Rendered by the UI; stored as is in session state and reports."""

    name: str
    kind: Literal["tiles", "geojson", "marker", "bounds", "image"]
    url: str | None = Field(None, description="XYZ tile URL template ({z}/{x}/{y}) or image URL for kind=image.")
    data: dict[str, Any] | None = Field(None, description="GeoJSON (EPSG:4326) for kind=geojson.")
    bounds: list[float] | None = Field(None, description="[west, south, east, north] in EPSG:4326.")
    point: list[float] | None = Field(None, description="[lon, lat] for kind=marker.")
    style: dict[str, Any] = Field(default_factory=dict, description="Colour, opacity, weight ...")
    legend: dict[str, str] | None = Field(None, description="Label -> colour, shown in the legend.")
    visible: bool = True
    fly_to: bool = Field(False, description="Centre the map on this layer when it arrives.")


class ToolResult(BaseModel):
    """What a tool returns: structured facts, map layers, files. Never prose only."""

    tool: str
    facts: dict[str, Any] = Field(default_factory=dict)
    layers: list[MapLayer] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    model: str | None = Field(None, description="The model(s) that produced the facts.")


ProgressCallback = Callable[[float, str], None]
"""progress(fraction 0..1, message). Tools call it during long work."""


def no_progress(fraction: float, message: str) -> None:  # noqa: ARG001 - the default callback
    """A progress callback that ignores everything."""


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
