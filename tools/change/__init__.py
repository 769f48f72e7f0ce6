"""Change detection: Galileo encoder, change pipeline, supervised head; the `detect_change` agent tool."""

from __future__ import annotations

from tools.change.tool import detect_change

__all__ = ["detect_change", "warm_up"]


def warm_up() -> None:
    """At app start: the Galileo encoder and the cached change heads in memory (a first question waits for
    neither)."""
    from tools.change.head import HEAD_REGIMES, cached_head
    from tools.change.job import get_encoder

    get_encoder("nano")
    for regime in HEAD_REGIMES:
        cached_head(regime)
