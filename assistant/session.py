"""One conversation and its map: serialisable, so deep links and reports restore exactly what was shown."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from assistant.events import MapLayer, ToolResult


class ToolStep(BaseModel):
    """A tool call as shown in the chat: name, arguments, status, duration, and its result or error."""

    call_id: str
    name: str
    args: dict[str, Any] = Field(default_factory=dict)
    status: Literal["running", "done", "error"] = "running"
    duration_s: float | None = None
    result: ToolResult | None = None
    error: str | None = None


class ChatTurn(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    image: str | None = Field(None, description="Path of an image attached by the user (inside the data dir).")
    steps: list[ToolStep] = Field(default_factory=list)
    language: Literal["en", "fr"] | None = None


class Session(BaseModel):
    """Conversation + map state for one user. The agent appends to it; the UI renders it."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[ChatTurn] = Field(default_factory=list)
    layers: list[MapLayer] = Field(default_factory=list)
    view: dict[str, Any] | None = Field(None, description="Last map view: {'bounds': [w,s,e,n]} or {'center', 'zoom'}.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="What follow-up questions may refer to: last place, dates, scene ids, image."
    )

    def add_layer(self, layer: MapLayer) -> None:
        """Add a layer, replacing an earlier one with the same name (a re-run shows the new result)."""
        self.layers = [existing for existing in self.layers if existing.name != layer.name]
        self.layers.append(layer)

    def to_token(self) -> str:
        """Compact, signed URL-safe token of the whole state (small sessions; large ones are stored server-side)."""
        from assistant.links import sign

        return sign(self.model_dump_json(exclude_none=True).encode())

    @classmethod
    def from_token(cls, token: str) -> Session:
        """The session of a token made by this server; `LinkRefused` when it is altered, expired or too large."""
        from assistant.links import unsign

        return cls.model_validate_json(unsign(token))
