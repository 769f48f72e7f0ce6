"""Scene search: chips of every catalog scene embedded in chromadb, queried by text, image, place and date.

`find_scenes` is the agent tool (see docs/architecture.md); heavy imports happen on first call.
"""

from __future__ import annotations

from typing import Any

__all__ = ["find_scenes"]


def find_scenes(*args: Any, **kwargs: Any):  # noqa: ANN201 - returns assistant.events.ToolResult
    """Scenes and chips matching a text or image query and place/date/platform/cloud filters (see query.py)."""
    from tools.search.query import find_scenes as _find

    return _find(*args, **kwargs)
