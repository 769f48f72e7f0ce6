"""What a session restored from a share link may contain: a link is user input, checked before it is used.

Counts and text lengths are bounded; map layers may only point at this server's own tile and upload routes;
attached images (a turn's image, the follow-up context's image and image arguments) must be files an upload made,
`uploads/<session folder>/<8 hex>_<name>` (no traversal, no symbolic link); result files must lie in the results
folder. A link that breaks a rule is refused with one line saying why (`LinkRefused`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

from assistant.config import get_settings
from assistant.events import MapLayer
from assistant.links import LinkRefused
from assistant.session import Session
from assistant.ui.upload import IMAGE_SUFFIXES, uploads_root

MAX_TURNS = 200
MAX_LAYERS = 100
MAX_STEPS = 30
MAX_TEXT = 20_000
MAX_NAME = 200
MAX_LEGEND = 24

LAYER_URL = re.compile(
    r"^/(?:tiles/scenes/|tiles/results/|api/uploads/)[A-Za-z0-9._~%/{}-]+(?:\?[A-Za-z0-9._~%=&,+-]*)?$"
)
"""The only URLs a layer may name: relative paths of this server's tile and upload-preview routes."""
COLOR = re.compile(r"^(?:#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,24}|rgba?\([0-9.,\s%]{1,40}\))$")
STYLE_KEYS = {"color", "weight", "opacity", "fillOpacity", "fillColor", "dashArray", "radius", "fill", "stroke",
              "maxNativeZoom", "minZoom", "score_property"}
_STYLE_TEXT = re.compile(r"^[#\w\s.,()%-]{0,64}$")
CONTEXT_TEXT_KEYS = {"place", "scene_id", "last_tool"}
PATH_ARGS = {"image", "before_image", "after_image"}
_UPLOAD_NAME = re.compile(r"^[0-9a-f]{8}_[A-Za-z0-9._-]{1,200}$")
"""How `assistant.ui.upload.accept_upload` names the copy it keeps: its random prefix, then the safe file name."""
_UPLOAD_FOLDER = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def data_folders() -> list[Path]:
    """Folders whose files a restored session may name (uploads and tool results)."""
    root = get_settings().data_dir
    return [(root / "uploads").resolve(), (root / "results").resolve()]


def inside(path: str | Path, folders: list[Path]) -> bool:
    """True when `path`, links resolved, lies in one of `folders`."""
    try:
        resolved = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(resolved.is_relative_to(folder) for folder in folders)


def allowed_file(path: Any) -> str | None:
    """`path` when it names a file an upload made (`<data_dir>/uploads/<session>/<8 hex>_<name>`, an image suffix,
    no `..`, no symbolic link on the way), else None: the only files a link may attach to a question."""
    if not isinstance(path, str) or not path or len(path) > 1000 or "\x00" in path:
        return None
    given = Path(path)
    if ".." in given.parts or not _UPLOAD_NAME.match(given.name) or not _UPLOAD_FOLDER.match(given.parent.name):
        return None
    if given.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    try:
        expected = uploads_root().resolve() / given.parent.name / given.name
        if given.resolve() != expected or expected.is_symlink():
            return None
    except (OSError, RuntimeError, ValueError):
        return None
    return path


def check_layer_url(url: str | None) -> None:
    if url is None:
        return
    if not LAYER_URL.match(url) or ".." in url or "//" in url:
        raise LinkRefused("This shared link names map data from outside this server; it is refused.")


def clean_style(style: dict[str, Any]) -> dict[str, Any]:
    """Only the drawing options map.js uses, with plain values (no attribution, no markup, no objects)."""
    out: dict[str, Any] = {}
    for key, value in style.items():
        if key not in STYLE_KEYS:
            continue
        if isinstance(value, bool) or (isinstance(value, int | float) and math.isfinite(value)):
            out[key] = value
        elif isinstance(value, str) and _STYLE_TEXT.match(value):
            out[key] = value
    return out


def _check_text(text: str | None, what: str, limit: int = MAX_TEXT) -> None:
    if text is not None and len(text) > limit:
        raise LinkRefused(f"This shared link has a {what} longer than {limit} characters; it is refused.")


def _clean_context(context: dict[str, Any]) -> dict[str, Any]:
    """What follow-up questions may use; paths only when allowed, everything else plain and short."""
    out: dict[str, Any] = {}
    for key in CONTEXT_TEXT_KEYS:
        if isinstance(context.get(key), str) and len(context[key]) <= MAX_NAME:
            out[key] = context[key]
    image = allowed_file(context.get("image"))
    if image:
        out["image"] = image
    ids = context.get("scene_ids")
    if isinstance(ids, list):
        out["scene_ids"] = [s for s in ids[:50] if isinstance(s, str) and len(s) <= MAX_NAME]
    dates = context.get("dates")
    if isinstance(dates, list) and len(dates) <= 2 and all(d is None or (isinstance(d, str) and len(d) <= 40)
                                                         for d in dates):
        out["dates"] = dates
    args = context.get("last_args")
    if isinstance(args, dict):
        kept: dict[str, Any] = {}
        for key, value in list(args.items())[:20]:
            if key in PATH_ARGS:
                if allowed_file(value):
                    kept[key] = value
            elif isinstance(value, str | int | float | bool) and len(str(value)) <= MAX_NAME:
                kept[key] = value
            elif isinstance(value, list) and len(value) <= 8 and all(isinstance(v, int | float) for v in value):
                kept[key] = value
        out["last_args"] = kept
    return out


def _check_layer(layer: MapLayer) -> None:
    _check_text(layer.name, "layer name", MAX_NAME)
    check_layer_url(layer.url)
    layer.style = clean_style(layer.style)
    if layer.legend is not None:
        legend = {k[:MAX_NAME]: v for k, v in list(layer.legend.items())[:MAX_LEGEND] if COLOR.match(v)}
        layer.legend = legend or None


def check_restored(session: Session) -> Session:
    """The session of a link, checked and cleaned; `LinkRefused` when it breaks a rule."""
    if len(session.turns) > MAX_TURNS:
        raise LinkRefused(f"This shared link has more than {MAX_TURNS} messages; it is refused.")
    if len(session.layers) > MAX_LAYERS:
        raise LinkRefused(f"This shared link has more than {MAX_LAYERS} map layers; it is refused.")
    results = [data_folders()[1]]
    for turn in session.turns:
        _check_text(turn.content, "message")
        if len(turn.steps) > MAX_STEPS:
            raise LinkRefused(f"This shared link has an answer with more than {MAX_STEPS} tool steps; it is refused.")
        turn.image = allowed_file(turn.image)
        for step in turn.steps:
            _check_text(step.name, "tool name", MAX_NAME)
            _check_text(step.error, "error message")
            if step.result is not None:
                step.result.files = [f for f in step.result.files if isinstance(f, str) and inside(f, results)]
                if len(step.result.layers) > MAX_LAYERS:
                    raise LinkRefused(f"This shared link has more than {MAX_LAYERS} map layers; it is refused.")
                for layer in step.result.layers:
                    _check_layer(layer)
    for layer in session.layers:
        _check_layer(layer)
    session.context = _clean_context(session.context)
    return session
