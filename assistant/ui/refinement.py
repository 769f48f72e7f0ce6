"""Change maps that refine themselves in the open tab.

A change answer on a large scene is a fast preview; its full-resolution refinement lands minutes or seconds later
in the same result folder (`tools.change.refine`). For each such answer a daemon thread waits for that refinement,
then swaps the preview's score and polygon layers for the refined ones in the tab's session: the revision changes,
the map's long poll (`/api/map/<sid>`) answers, and `map.js` redraws the layers whose spec changed (the score's tile
URL carries the file's version, so the browser fetches the new tiles instead of its cached preview ones).

A swap is kept per tab and applied again to any copy of the session the chat handler stores later (a question
asked while the refinement ran holds an older copy), but only while the tab still shows that very preview.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path

from assistant.events import MapLayer, ToolResult
from assistant.session import Session
from assistant.ui.store import SessionStore

log = logging.getLogger(__name__)
WAIT_S = 3600.0  # a refinement still running after this is left alone: the preview stays
MAX_TABS, MAX_SWAPS = 500, 20


class Swap:
    """The preview's layers of one change answer (names, score URL) and the refined layers that replace them."""

    def __init__(self, old: list[MapLayer], new: list[MapLayer]) -> None:
        self.old_names = {layer.name for layer in old}
        self.old_score_url = next(layer.url for layer in old if layer.role == "score")
        self.new = new

    def apply(self, session: Session) -> bool:
        """Replaces the preview's layers in place (same position in the layer list); False when the session
        does not show this preview (already swapped, cleared, or a newer run of the same question)."""
        shown = any(layer.role == "score" and layer.url == self.old_score_url for layer in session.layers)
        if not shown:
            return False
        first = next(i for i, layer in enumerate(session.layers) if layer.name in self.old_names)
        drop = self.old_names | {layer.name for layer in self.new}
        head = [layer for layer in session.layers[:first] if layer.name not in drop]
        tail = [layer for layer in session.layers[first:] if layer.name not in drop]
        session.layers = head + list(self.new) + tail
        return True


_swaps: OrderedDict[str, list[Swap]] = OrderedDict()
_threads: dict[str, list[threading.Thread]] = {}
_lock = threading.Lock()


def apply_swaps(sid: str, session: Session) -> bool:
    """Applies the refinements known for a tab to a copy of its session (before the handler stores it)."""
    with _lock:
        swaps = list(_swaps.get(sid, ()))
    changed = False
    for swap in swaps:
        changed |= swap.apply(session)
    return changed


def is_preview(result: ToolResult | None) -> bool:
    return bool(result is not None and result.tool == "detect_change" and result.facts.get("refined") is False
                and any(layer.role == "score" for layer in result.layers))


def watch(store: SessionStore, sid: str, result: ToolResult) -> threading.Thread | None:
    """Starts the thread that swaps in the refined layers of a preview answer once its refinement lands."""
    if not is_preview(result):
        return None
    thread = threading.Thread(target=_wait_and_swap, args=(store, sid, result), daemon=True,
                              name=f"map-refine-{sid[:8]}")
    with _lock:
        _threads.setdefault(sid, []).append(thread)
    thread.start()
    return thread


def wait(sid: str, timeout: float | None = None) -> None:
    """Waits for the tab's watchers (tests, shutdown)."""
    with _lock:
        threads = list(_threads.get(sid, ()))
    for thread in threads:
        thread.join(timeout)


def _wait_and_swap(store: SessionStore, sid: str, result: ToolResult) -> None:
    from tools.change.refine import wait_refinement
    from tools.change.tool import refined_layers

    summary = next((Path(f) for f in result.files if Path(f).name == "summary.json"), None)
    try:
        if summary is None or not wait_refinement(summary.parent, timeout=WAIT_S):
            return
        new = refined_layers(result)
        if new is None:  # the refinement failed: the preview stays (the log says why)
            return
        old = [layer for layer in result.layers if layer.role == "score" or layer.kind == "geojson"]
        swap = Swap(old, new)
        with _lock:
            _swaps.setdefault(sid, []).append(swap)
            _swaps.move_to_end(sid)
            del _swaps[sid][:-MAX_SWAPS]
            while len(_swaps) > MAX_TABS:
                _swaps.popitem(last=False)
        store.update(sid, swap.apply)
    except Exception:  # noqa: BLE001 - a background map update must never take the server down
        log.exception("could not draw the refined change map of tab %s", sid[:8])
    finally:
        with _lock:
            threads = _threads.get(sid, [])
            if threading.current_thread() in threads:
                threads.remove(threading.current_thread())
            if not threads:
                _threads.pop(sid, None)
