"""Search results as a thumbnail strip in the chat, and a click on one that flies the map to its scene.

The catalog keeps each scene's thumbnail beside its COG, a folder Gradio must never serve; a small PNG copy is made
in `<data_dir>/ui/thumbnails/` (one of Gradio's allowed paths, see `assistant.ui.layout.launch_settings`), named
by a hash of the source path. Sources are read only from the data dir, the catalog and the sample-data mirror,
and only image files: a forged session cannot make the chat show any other file. A click comes back as the file's
name; it is matched against the session's own search results, so the browser only ever picks among them.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

from assistant.config import get_settings
from assistant.session import ChatTurn, Session

THUMB_PX = 192
"""Pixels a side of the copies; the page shows them smaller (`assistant.ui.layout.CSS`: scene-thumb-*.png)."""
STRIP_MAX = 6
SOURCE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
MAX_SOURCE_BYTES = 64 * 1024 * 1024


def thumbs_root() -> Path:
    """Where the chat's thumbnails are written (served by Gradio)."""
    return get_settings().data_dir / "ui" / "thumbnails"


def _trusted_roots() -> list[Path]:
    s = get_settings()
    roots = [s.data_dir, s.catalog_root, s.data_mirror]
    return [Path(root).resolve() for root in roots if root is not None]


def thumb_name(source: str) -> str:
    """The served file's name for a source thumbnail (stable, so a click can be matched back to its scene)."""
    return "scene-thumb-" + hashlib.sha1(str(Path(source).resolve()).encode()).hexdigest()[:20] + ".png"


def served_thumbnail(source: str | None) -> Path | None:
    """A small PNG copy of `source` in the served folder; None when the source is not an image file inside the
    data dir, catalog or sample data, or cannot be read."""
    if not source or "\x00" in str(source) or "://" in str(source):
        return None
    try:
        path = Path(source).resolve()
    except (OSError, RuntimeError):
        return None
    if path.suffix.lower() not in SOURCE_SUFFIXES or not any(path.is_relative_to(root) for root in _trusted_roots()):
        return None
    if not path.is_file() or path.stat().st_size > MAX_SOURCE_BYTES:
        return None
    target = thumbs_root() / thumb_name(str(path))
    if target.is_file() and target.stat().st_mtime >= path.stat().st_mtime:
        return target
    try:
        image = _read_small(path)
    except Exception:  # noqa: BLE001 - a scene without a readable thumbnail is still listed in the answer
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{uuid.uuid4().hex}.png")
    image.save(partial)
    os.replace(partial, target)
    return target


def _read_small(path: Path):
    """The image reduced to THUMB_PX a side, read through `tools.rasters` like every other image."""
    from PIL import Image

    if path.suffix.lower() in (".tif", ".tiff"):
        from rasterio.enums import Resampling

        from tools.rasters.open import open_raster
        from tools.rasters.stretch import auto_stretch

        with open_raster(path) as ds:
            scale = max(1.0, max(ds.width, ds.height) / THUMB_PX)
            shape = (max(1, round(ds.height / scale)), max(1, round(ds.width / scale)))
            indexes = [1, 2, 3] if ds.count >= 3 else [1]
            data = ds.read(indexes, out_shape=(len(indexes), *shape), resampling=Resampling.average)
        return Image.fromarray(auto_stretch(data))
    from tools.rasters.images import open_image_rgb

    rgb, _ = open_image_rgb(path, max_side=THUMB_PX)  # content sniffed, pixel budget checked from the header
    return Image.fromarray(rgb)


def _search_scenes(turn: ChatTurn) -> list[dict[str, Any]]:
    """The scenes of the turn's last successful search, best first (grouped from the chips for older sessions)."""
    from tools.search.scenes import group_by_scene

    for step in reversed(turn.steps):
        if step.name == "find_scenes" and step.status == "done" and step.result is not None:
            facts = step.result.facts or {}
            if facts.get("mode") == "catalog":
                return list(facts.get("results") or [])
            return list(facts.get("scene_results") or group_by_scene(facts.get("results") or []))
    return []


def scene_strip(turn: ChatTurn) -> dict[str, Any] | None:
    """The chat message under a search answer: the top scenes' thumbnails, each captioned in words."""
    from assistant.scene_labels import scene_titles

    language = turn.language or "en"
    scenes = _search_scenes(turn)[:STRIP_MAX]
    items = []
    for scene, title in zip(scenes, scene_titles(scenes, language), strict=True):
        thumb = served_thumbnail(scene.get("thumbnail"))
        if thumb is not None:
            items.append({"path": str(thumb), "alt_text": title})
    if not items:
        return None
    return {"role": "assistant", "content": items}


def focus_bounds(session: Session, name: str) -> list[float] | None:
    """The footprint of the session's search result whose thumbnail is the file `name` (None if none is)."""
    name = Path(str(name)).name
    for turn in reversed(session.turns):
        for scene in _search_scenes(turn):
            source, bbox = scene.get("thumbnail"), scene.get("bbox")
            if source and bbox and len(bbox) == 4 and thumb_name(str(source)) == name:
                return [float(v) for v in bbox]
    return None


def clicked_file(value: Any) -> str | None:
    """The file name in a chatbot select event's value ({'component': 'image', 'value': {path, url...}} in
    Gradio 6, or a bare file dict); None for a text message."""
    if not isinstance(value, dict):
        return None
    data = value.get("value") if isinstance(value.get("value"), dict) else value.get("file", value)
    if not isinstance(data, dict):
        return None
    for key in ("path", "url", "orig_name"):
        text = data.get(key)
        if isinstance(text, str) and text.endswith(".png"):
            return text.rsplit("/", 1)[-1].split("?", 1)[0]
    return None
