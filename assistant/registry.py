"""The five agent tools over the library functions of `tools/`: names, argument schemas, descriptions (from
`prompts/tools/*.md`) and the functions behind.

The tool modules are imported when a tool runs, not here: they pull heavy dependencies (torch, rasterio,
chromadb), and the router must be able to plan without them. `run_tool` is what the agent calls (with a
progress callback); `langchain_tools()` is what an LLM sees (bind_tools).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from assistant.tool_specs import load_tool_specs
from tools.core.errors import BadInputError, ModelUnavailableError
from tools.core.results import ProgressCallback, ToolResult, no_progress


class LocatePlaceArgs(BaseModel):
    place: str = Field(..., description="Place name as the user wrote it: town, region, US state or country.")


class FindScenesArgs(BaseModel):
    query: str | None = Field(None, description="What the scenes should show, in words (e.g. 'forest', 'harbour').")
    place: str | None = Field(None, description="Place the scenes must cover.")
    start_date: str | None = Field(None, description="Earliest acquisition date, YYYY-MM-DD.")
    end_date: str | None = Field(None, description="Latest acquisition date, YYYY-MM-DD.")
    max_cloud_cover: float | None = Field(None, description="Largest accepted cloud cover, percent.")
    image: str | None = Field(None, description="Path of an attached image to find similar scenes.")
    platform: str | None = Field(None, description="sentinel-2, landsat, naip ...")


class ReadImageArgs(BaseModel):
    question: str = Field(..., description="The user's question about the image.")
    image: str | None = Field(None, description="Path of the attached image.")
    scene_id: str | None = Field(None, description="Catalog scene id, when the question is about a scene.")
    bbox: list[float] | None = Field(None, description="[west, south, east, north] window to read, EPSG:4326.")
    language: str = Field("en", description="Answer language: en or fr.")


class DetectChangeArgs(BaseModel):
    place: str | None = Field(None, description="Place to analyse (catalog scenes are chosen for it).")
    before_scene_id: str | None = Field(None, description="Catalog scene id of the earlier date.")
    after_scene_id: str | None = Field(None, description="Catalog scene id of the later date.")
    start_date: str | None = Field(None, description="Earlier date or period start, YYYY-MM-DD.")
    end_date: str | None = Field(None, description="Later date or period end, YYYY-MM-DD.")
    before_image: str | None = Field(None, description="Earlier image file (an upload), with after_image.")
    after_image: str | None = Field(None, description="Later image file (an upload), with before_image.")


class MeasureThemeArgs(BaseModel):
    theme: str = Field("any", description="vegetation (forest), water (flood, wetland), built (urban growth, "
                       "infrastructure), burned (fire), or any (every one the imagery allows: a site watch).")
    place: str | None = Field(None, description="Place to measure (every catalog date there is used).")
    lon: float | None = Field(None, description="Longitude of a watched site (with lat and radius_km).")
    lat: float | None = Field(None, description="Latitude of a watched site.")
    radius_km: float | None = Field(None, description="Only the area within this distance of the site (km).")
    start_date: str | None = Field(None, description="Period start, YYYY-MM-DD.")
    end_date: str | None = Field(None, description="Period end, YYYY-MM-DD.")
    threshold_percent: float | None = Field(None, description="Alert when more than this % of the area changed.")


# name -> (module, function, argument schema)
TOOL_TABLE: dict[str, tuple[str, str, type[BaseModel]]] = {
    "locate_place": ("tools.places", "locate_place", LocatePlaceArgs),
    "find_scenes": ("tools.search", "find_scenes", FindScenesArgs),
    "read_image": ("tools.reader", "read_image", ReadImageArgs),
    "detect_change": ("tools.change", "detect_change", DetectChangeArgs),
    "measure_theme": ("tools.services", "measure_theme", MeasureThemeArgs),
}
TOOL_NAMES = tuple(TOOL_TABLE)


def tool_description(name: str) -> str:
    """The `## description` section of prompts/tools/<name>.md."""
    return load_tool_specs()[name].description


def tool_function(name: str) -> Callable[..., ToolResult]:
    """The library function behind a tool (imported now)."""
    if name not in TOOL_TABLE:
        raise BadInputError(f"unknown tool '{name}'")
    module, func, _schema = TOOL_TABLE[name]
    try:
        return getattr(importlib.import_module(module), func)
    except (ImportError, AttributeError) as exc:
        raise ModelUnavailableError(f"the {name} tool is not available in this install ({exc})") from exc


def validate_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Arguments checked against the tool's schema, unset optional ones dropped."""
    schema = TOOL_TABLE[name][2]
    try:
        model = schema.model_validate(args)
    except Exception as exc:  # pydantic ValidationError: the LLM or the user gave bad arguments
        raise BadInputError(f"bad arguments for {name}: {str(exc).splitlines()[0]}") from exc
    return model.model_dump(exclude_none=True)


def run_tool(name: str, args: dict[str, Any], progress: ProgressCallback = no_progress) -> ToolResult:
    """Run one tool with validated arguments."""
    clean = validate_args(name, args)
    return tool_function(name)(**clean, progress=progress)


@lru_cache(maxsize=1)
def langchain_tools() -> list[Any]:
    """The tools as LangChain StructuredTools (for `bind_tools`); calling one returns the result facts as JSON."""
    from langchain_core.tools import StructuredTool

    tools = []
    for name, (_module, _func, schema) in TOOL_TABLE.items():

        def _call(_name: str = name, **kwargs: Any) -> str:
            return run_tool(_name, kwargs).model_dump_json(exclude={"layers"})

        tools.append(
            StructuredTool.from_function(
                func=lambda _n=name, **kw: _call(_n, **kw), name=name, description=tool_description(name),
                args_schema=schema,
            )
        )
    return tools
