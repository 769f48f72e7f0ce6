"""Map rendering: a small HTML page around the vendored Leaflet and our `map.js`, live or self-contained.

The live page sits in an iframe beside the chat and long-polls the session store for its layers, so the map
follows the conversation without reloading. The self-contained page inlines Leaflet and the layer data (reports).
"""

from __future__ import annotations

import html
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.config import get_settings
from assistant.ui.basemap_page import embedded_basemap

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


EXTRA_JS = ("basemap.js", "compare.js", "timeslider.js")
"""Loaded before map.js: the offline Natural Earth base map and the two-date comparison controls."""
EXTRA_CSS = ("map-extras.css",)


def map_config() -> dict[str, Any]:
    """What map.js needs besides layers: online base maps or not, catalog imagery, URL prefixes."""
    return {
        "online": not get_settings().offline,
        "catalog": catalog_overlays(),
        "staticBase": STATIC_URL,
        "apiBase": "/api/map/",
        "basemapUrl": "/basemap/",
    }


ONLINE_TILE_HOSTS = ["https://tile.openstreetmap.org", "https://server.arcgisonline.com"]
"""Where map.js fetches base maps when the server is online (nothing else leaves this server)."""


def map_csp(nonce: str | None = None, image_origins: list[str] | None = None) -> str:
    """Content-Security-Policy of a map page: scripts only from this server (or with `nonce`, for reports), images
    from this server, `data:` and the base-map hosts when online; no plugins, forms or outside connections."""
    images = ["'self'", "data:", "blob:", *(image_origins or [])]
    if not get_settings().offline:
        images += ONLINE_TILE_HOSTS
    scripts = f"'nonce-{nonce}'" if nonce else "'self'"
    policy = (
        f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; img-src {' '.join(images)}; "
        "connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; object-src 'none'"
    )
    return policy if nonce else policy + "; frame-ancestors 'self'"  # a <meta> policy cannot say frame-ancestors


def _page(head: str, body: str, title: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title>{head}</head>"
        f"<body><div id='map'></div>{body}</body></html>"
    )


def json_data_block(element_id: str, value: Any) -> str:
    """A `<script type=application/json>` block: data for map.js that the browser never runs as code.

    Every `<`, `>` and `&` is written as a JSON escape, so no value can close the element or open another."""
    text = json.dumps(value, ensure_ascii=False).replace("&", "\\u0026").replace("<", "\\u003c")
    text = text.replace(">", "\\u003e").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"<script type='application/json' id='{html.escape(element_id)}'>{text}</script>"


def live_map_page(sid: str) -> str:
    """The iframe page for one live session (no inline script: map.js reads its config and starts itself)."""
    head = (
        f"<link rel='stylesheet' href='{STATIC_URL}/leaflet/leaflet.css'>"
        f"<link rel='stylesheet' href='{STATIC_URL}/map.css'>"
        + "".join(f"<link rel='stylesheet' href='{STATIC_URL}/{name}'>" for name in EXTRA_CSS)
        + f"<script src='{STATIC_URL}/leaflet/leaflet.js'></script>"
    )
    body = (
        json_data_block("sn-map-config", map_config())
        + json_data_block("sn-map-live", {"sid": sid})
        + "".join(f"<script src='{STATIC_URL}/{name}'></script>" for name in EXTRA_JS)
        + f"<script src='{STATIC_URL}/map.js'></script>"
    )
    return _page(head, body, "Sentinelle map")


def standalone_map_html(state: dict[str, Any], title: str = "Sentinelle map", base_url: str = "") -> str:
    """A map page with Leaflet, our script and the layers inlined: opens from a file, no server needed
    for vector layers (tile layers still come from `base_url` when that server is reachable).

    The page carries its own CSP `<meta>`: only its two inline scripts (marked with a fresh nonce) run."""
    css = (STATIC_DIR / "leaflet" / "leaflet.css").read_text() + (STATIC_DIR / "map.css").read_text()
    css += "".join((STATIC_DIR / name).read_text() for name in EXTRA_CSS)
    leaflet = (STATIC_DIR / "leaflet" / "leaflet.js").read_text()
    leaflet += "".join("\n" + (STATIC_DIR / name).read_text() for name in EXTRA_JS)  # before map.js, which uses them
    ours = (STATIC_DIR / "map.js").read_text()
    config = map_config()
    config["catalog"] = []
    layers = [_absolute(layer, base_url) for layer in state.get("layers", [])]
    nonce = secrets.token_urlsafe(18)
    origin = _origin(base_url)
    csp = map_csp(nonce=nonce, image_origins=[origin] if origin else [])
    head = f"<meta http-equiv='Content-Security-Policy' content=\"{csp}\"><style>{css}</style>"
    body = (
        json_data_block("sn-map-config", config)
        + json_data_block("sn-map-state", {"layers": layers, "view": state.get("view")})
        + json_data_block("sn-basemap-data", embedded_basemap(layers))
        + f"<script nonce='{nonce}'>{leaflet}</script><script nonce='{nonce}'>{ours}</script>"
    )
    return _page(head, body, title)


def _origin(base_url: str) -> str | None:
    """`scheme://host[:port]` of an http(s) base URL (the report's tile server), None otherwise."""
    parts = urlsplit(base_url or "")
    if parts.scheme in ("http", "https") and parts.netloc and re.match(r"^[A-Za-z0-9.\-:\[\]]+$", parts.netloc):
        return f"{parts.scheme}://{parts.netloc}"
    return None


def _absolute(layer: dict[str, Any], base_url: str) -> dict[str, Any]:
    """Server-relative tile/image URLs made absolute so a saved report still finds the server."""
    url = layer.get("url")
    if url and url.startswith("/") and base_url:
        return {**layer, "url": base_url.rstrip("/") + url}
    return layer


def map_iframe(sid: str | None, height: int = 640) -> str:
    """The HTML component's value: an iframe on the live map page of this session.

    Not sandboxed, on purpose: the page long-polls `/api/map/` with the login cookie, which needs its own origin,
    and a frame given `allow-scripts allow-same-origin` can lift its own sandbox. What protects the page is its
    CSP (only this server's script files, no inline script, no outside connections) and map.js, which turns no
    layer data into markup."""
    if not sid:
        return f"<div style='height:{height}px' class='sn-map-placeholder'>Loading map…</div>"
    src = f"/map/{html.escape(sid)}"
    return (
        f"<iframe id='sentinelle-map' src='{src}' title='map' "
        f"style='width:100%;height:{height}px;border:0;border-radius:8px' loading='eager'></iframe>"
    )
