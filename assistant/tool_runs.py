"""Running one tool call as events, and what its outcome means for follow-up questions.

Shared by both planners (the router's single call and the LLM loop's calls), below both: a tool runs in a worker
thread so its progress streams while it works; a failed tool is one `ToolFinished(ok=False)` carrying the message.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

from assistant import registry
from assistant.errors import BadInputError, NotFoundError, SentinelleError
from assistant.events import ContextUpdated, Event, LayerAdded, ToolFinished, ToolProgress, ToolResult, ToolStarted
from assistant.session import Session

log = logging.getLogger(__name__)
POLL_S = 0.05


class ToolOutcome:
    """What a tool run left behind: its result or its error (filled while the events stream)."""

    def __init__(self, call_id: str, name: str, args: dict[str, Any]):
        self.call_id, self.name, self.args = call_id, name, args
        self.result: ToolResult | None = None
        self.error: str | None = None
        self.internal = False
        self.not_found = False
        self.duration_s = 0.0


FILE_ARGS = ("image", "before_image", "after_image")
_PATH_LIKE = re.compile(r"[/\\~]|^\.|\.(tiff?|png|jpe?g|jp2|bmp|vrt|hdr|json|txt|toml|py|sqlite3?)$", re.IGNORECASE)


def attached_files(image: str | None, session: Session) -> frozenset[str]:
    """The files a tool may open in this turn: the attachment, and those attached earlier in the conversation."""
    files = {image, session.context.get("image"), *(turn.image for turn in session.turns)}
    return frozenset(f for f in files if isinstance(f, str) and f)


def check_file_args(args: dict[str, Any], attached: frozenset[str]) -> None:
    """Refuse a file argument that is not an attachment of this conversation.

    A planner (an LLM above all) may copy a path from the user's text ("read /etc/passwd", "../data/chroma/..."):
    only the files the user attached, which the upload checks put in the session's uploads, reach a tool. Scene
    and chip ids (`<scene id>[@row_col_h_w]`) are not paths and pass.
    """
    for key in FILE_ARGS:
        value = args.get(key)
        if isinstance(value, str) and value not in attached and (_PATH_LIKE.search(value) or os.path.exists(value)):
            raise BadInputError("I can only read images attached to this conversation: attach the file to ask "
                                "about it.")


def run_tool_events(
    name: str, args: dict[str, Any], outcome: ToolOutcome, attached: frozenset[str] | None = None
) -> Iterator[Event]:
    """Run a tool in a worker thread; yield ToolStarted, ToolProgress*, ToolFinished, LayerAdded*.

    With `attached` (the agent always passes it), file arguments must be among those files (`check_file_args`).
    """
    yield ToolStarted(call_id=outcome.call_id, name=name, args=args)
    progress_q: queue.Queue[tuple[float, str]] = queue.Queue()
    box: dict[str, Any] = {}

    def progress(fraction: float, message: str) -> None:
        progress_q.put((float(fraction), str(message)))

    def work() -> None:
        try:
            if attached is not None:
                check_file_args(args, attached)
            box["result"] = registry.run_tool(name, args, progress)
        except BaseException as exc:  # noqa: BLE001 - handed to the stream below
            box["error"] = exc

    start = time.perf_counter()
    worker = threading.Thread(target=work, name=f"tool-{name}", daemon=True)
    worker.start()
    while worker.is_alive() or not progress_q.empty():
        try:
            fraction, message = progress_q.get(timeout=POLL_S)
        except queue.Empty:
            continue
        yield ToolProgress(call_id=outcome.call_id, name=name, fraction=max(0.0, min(1.0, fraction)), message=message)
    worker.join()
    outcome.duration_s = time.perf_counter() - start
    error = box.get("error")
    if error is None and not isinstance(box.get("result"), ToolResult):
        error = TypeError(f"{name} returned {type(box.get('result')).__name__}, not a ToolResult")
    if error is not None:
        if isinstance(error, SentinelleError):
            outcome.error = str(error)
            outcome.not_found = isinstance(error, NotFoundError)
        else:
            incident = outcome.call_id  # the step shows it; the log has the traceback under it
            log.error("tool %s failed (incident %s)", name, incident, exc_info=error)
            outcome.error = f"the {name} tool failed on the server (incident {incident})"
            outcome.internal = True
        yield ToolFinished(call_id=outcome.call_id, name=name, args=args, duration_s=round(outcome.duration_s, 3),
                           ok=False, error=outcome.error)
        return
    outcome.result = box["result"]
    yield ToolFinished(call_id=outcome.call_id, name=name, args=args, duration_s=round(outcome.duration_s, 3),
                       ok=True, result=outcome.result)
    for layer in outcome.result.layers:
        yield LayerAdded(layer=layer)


def context_update(name: str, args: dict[str, Any], result: ToolResult | None) -> ContextUpdated:
    """What a follow-up may refer to after this call: last tool and arguments, place, dates, scenes, image, view."""
    ctx: dict[str, Any] = {"last_tool": name,
                           "last_args": {k: v for k, v in args.items() if k not in ("question", "language")}}
    if args.get("place"):
        ctx["place"] = args["place"]
    if args.get("image"):
        ctx["image"] = args["image"]
    if args.get("start_date") or args.get("end_date"):
        ctx["dates"] = [args.get("start_date"), args.get("end_date")]
    view = None
    if result is not None:
        facts = result.facts or {}
        if name == "locate_place" and facts.get("name"):
            ctx["place"] = facts["name"]
        scenes = facts.get("scenes")
        if name == "find_scenes" and isinstance(scenes, list) and scenes:
            ctx["scene_ids"] = [str(s) for s in scenes]
            ctx["scene_id"] = str(scenes[0])
        bounds = next((layer.bounds for layer in result.layers if layer.bounds), None)
        if bounds:
            view = {"bounds": bounds}
    return ContextUpdated(context=ctx, view=view)
