"""Map rendering: a small HTML page around the vendored Leaflet and our `map.js`, live or self-contained.

The live page sits in an iframe beside the chat and long-polls the session store for its layers, so the map
follows the conversation without reloading. The self-contained page inlines Leaflet and the layer data (reports).
"""

from __future__ import annotations

import html
import json
import threading
import time
from pathlib import Path
from typing import Any

from assistant.config import get_settings

STATIC_DIR = Path(__file__).with_name("static")
STATIC_URL = "/static/sentinelle"
CATALOG_TTL_S = 60.0

_catalog_cache: dict[str, Any] = {"at": 0.0, "items": []}
_catalog_lock = threading.Lock()


def catalog_overlays() -> list[dict[str, Any]]:
    """Georeferenced catalog scenes as {id, bbox, datetime, tiles}: the map's always-available imagery.

    Empty when the catalog or tile modules are not there yet; cached for a minute (ingests show up soon after).
    """
    with _catalog_lock:
        if time.monotonic() - _catalog_cache["at"] < CATALOG_TTL_S:
            return _catalog_cache["items"]
        items: list[dict[str, Any]] = []
        try:
            from tools.catalog import open_catalog
            from tools.tiles import scene_tile_url

            for item in open_catalog().search(georeferenced=True):
                if not item.bbox:
                    continue
                when = item.datetime.isoformat() if item.datetime else item.properties.get("start_datetime")
                tiles = scene_tile_url(item.id)
                items.append({"id": item.id, "bbox": list(item.bbox), "datetime": when, "tiles": tiles})
        except Exception:  # noqa: BLE001 - the map must come up even when the catalog is missing or broken
            items = []
        _catalog_cache.update(at=time.monotonic(), items=items)
        return items


def map_config() -> dict[str, Any]:
    """What map.js needs besides layers: online base maps or not, catalog imagery, URL prefixes."""
    return {
        "online": not get_settings().offline,
        "catalog": catalog_overlays(),
        "staticBase": STATIC_URL,
        "apiBase": "/api/map/",
    }


def _page(head: str, body_script: str, title: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>{head}</head>"
        f"<body><div id='map'></div>{body_script}</body></html>"
    )


def _json_script(value: Any) -> str:
    """JSON safe to put inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def live_map_page(sid: str) -> str:
    """The iframe page for one live session."""
    head = (
        f"<link rel='stylesheet' href='{STATIC_URL}/leaflet/leaflet.css'>"
        f"<link rel='stylesheet' href='{STATIC_URL}/map.css'>"
        f"<script src='{STATIC_URL}/leaflet/leaflet.js'></script>"
    )
    script = (
        f"<script>window.SENTINELLE_MAP_CONFIG = {_json_script(map_config())};</script>"
        f"<script src='{STATIC_URL}/map.js'></script>"
        f"<script>SentinelleMap.live({_json_script(sid)});</script>"
    )
    return _page(head, script, "Sentinelle map")


def standalone_map_html(state: dict[str, Any], title: str = "Sentinelle map", base_url: str = "") -> str:
    """A map page with Leaflet, our script and the layers inlined: opens from a file, no server needed
    for vector layers (tile layers still come from `base_url` when that server is reachable)."""
    css = (STATIC_DIR / "leaflet" / "leaflet.css").read_text() + (STATIC_DIR / "map.css").read_text()
    js = (STATIC_DIR / "leaflet" / "leaflet.js").read_text() + "\n" + (STATIC_DIR / "map.js").read_text()
    config = map_config()
    config["catalog"] = []
    layers = [_absolute(layer, base_url) for layer in state.get("layers", [])]
    head = f"<style>{css}</style>"
    script = (
        f"<script>window.SENTINELLE_MAP_CONFIG = {_json_script(config)};</script>"
        f"<script>{js}</script>"
        f"<script>SentinelleMap.embedded({_json_script({'layers': layers, 'view': state.get('view')})});</script>"
    )
    return _page(head, script, title)


def _absolute(layer: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Server-relative tile/image URLs made absolute so a saved report still finds the server."""
    url = layer.get("url")
    if url and url.startswith("/") and base_url:
        return {**layer, "url": base_url.rstrip("/") + url}
    return layer


def map_iframe(sid: str | None, height: int = 640) -> str:
    """The HTML component's value: an iframe on the live map page of this session."""
    if not sid:
        return f"<div style='height:{height}px' class='sn-map-placeholder'>Loading map…</div>"
    src = f"/map/{html.escape(sid)}"
    return (
        f"<iframe id='sentinelle-map' src='{src}' title='map' "
        f"style='width:100%;height:{height}px;border:0;border-radius:8px' loading='eager'></iframe>"
    )
