"""What a tool gives back: structured facts, map layers as data, files; and the progress callback it reports through.

These are the library's own types. The application turns progress calls into events and layers into map state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field


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
    role: Literal["before", "after", "score"] | None = Field(
        None, description="Part of a two-date comparison: the map swipes between before and after, and gives the "
        "score an opacity slider.")
    date: str | None = Field(
        None, max_length=32, description="The date a layer of a time series shows (ISO): layers with dates get a "
        "time slider on the map, which shows one date at a time.")


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
