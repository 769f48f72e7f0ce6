"""Change detection: Galileo encoder, change pipeline, supervised head; the `detect_change` agent tool."""

from __future__ import annotations

from tools.change.tool import detect_change

__all__ = ["detect_change"]
