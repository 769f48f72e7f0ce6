"""The terminal progress bar of the CLI: a tqdm bar driven by a library `ProgressCallback`.

The library reports `(fraction, message)` and never draws; commands that show progress wrap their call in this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tools.core.results import ProgressCallback, no_progress


@contextmanager
def terminal_progress(show: bool = True, desc: str | None = None) -> Iterator[ProgressCallback]:
    """A progress callback that draws a 0-100 % bar on stderr (nothing when `show` is false); closed on exit."""
    if not show:
        yield no_progress
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=desc, unit="%", bar_format="{l_bar}{bar}| {n:.0f}% {postfix}")

    def update(fraction: float, message: str) -> None:
        bar.n = round(100 * max(0.0, min(1.0, fraction)))
        bar.set_postfix_str(message[:60])
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
