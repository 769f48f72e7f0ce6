"""The tools' pictures (a measure's chart over time) under the answer in the chat, and inlined in the HTML report.

A picture is a PNG that a finished tool step lists in its result files and that lies in the data dir's results
folder: the one folder of tool outputs Gradio serves (`layout.launch_settings`) and the only one a restored link
may name (`restored.check_restored`). Anything else a session names is not shown.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from assistant.session import ToolStep

MAX_INLINE_BYTES = 2 * 1024 * 1024  # a chart is ~20 kB; a larger file is not inlined into a report
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def figures(steps: list[ToolStep]) -> list[tuple[Path, str]]:
    """(path, alt text) of each picture of the finished steps, in order, each once."""
    from assistant.ui.restored import data_folders, inside

    results = [data_folders()[1]]
    out: list[tuple[Path, str]] = []
    for step in steps:
        if step.result is None or step.status != "done":
            continue
        for name in step.result.files:
            if not isinstance(name, str) or not name.lower().endswith(".png") or not inside(name, results):
                continue
            path = Path(name)
            if path.is_file() and path not in [p for p, _ in out]:
                out.append((path, f"{step.name}: chart of the measure over time"))
    return out


def figure_messages(steps: list[ToolStep]) -> list[dict[str, Any]]:
    """Chatbot image messages (Gradio serves the file from the results folder), one per picture."""
    return [{"role": "assistant", "content": {"path": str(path), "alt_text": alt}} for path, alt in figures(steps)]


def png_data_uri(path: Path) -> str | None:
    """The PNG as a data: URI for a self-contained report; None when it is not a PNG or too large."""
    try:
        if path.stat().st_size > MAX_INLINE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(PNG_MAGIC):
        return None
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def figures_html(steps: list[ToolStep]) -> str:
    """<img> tags with the pictures inlined (alt text escaped)."""
    import html

    tags = []
    for path, alt in figures(steps):
        uri = png_data_uri(path)
        if uri:
            tags.append(f"<img class='chart' src='{uri}' alt='{html.escape(alt, quote=True)}'>")
    return "".join(tags)
