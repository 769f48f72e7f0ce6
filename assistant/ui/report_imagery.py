"""Imagery inlined into the HTML report: each tile layer becomes one PNG overlay, so the page works with no server.

The mosaic is made of the very tiles the live map shows (`tools.tiles.render_url_tile`, called in-process on the
layer's URL template), at the deepest zoom where the layer's bounds fit in `max_tiles` Web-Mercator tiles.
Stitched Mercator tiles line up exactly under Leaflet's `imageOverlay`, which stretches linearly in projected space.
"""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

from morecantile import tms

log = logging.getLogger(__name__)

TILE = 256
MERCATOR = tms.get("WebMercatorQuad")


def _tiles_for(bounds: list[float], max_tiles: int) -> list[Any]:
    """The tiles over `bounds` at the deepest zoom (<= 16) where they number at most `max_tiles`."""
    west, south, east, north = bounds
    best: list[Any] = []
    for z in range(0, 17):
        tiles = list(MERCATOR.tiles(west, south, east, north, [z]))
        if len(tiles) > max_tiles:
            break
        best = tiles
    return best


def inline_tile_layer(layer: dict[str, Any], max_tiles: int = 16) -> dict[str, Any] | None:
    """A 'tiles' layer as an 'image' layer with a PNG data URI, or None when nothing could be rendered."""
    import numpy as np
    from PIL import Image

    from tools.rasters.images import decode_png_rgba
    from tools.tiles import render_url_tile

    url, bounds = layer.get("url"), layer.get("bounds")
    if layer.get("kind") != "tiles" or not url or not bounds or not url.startswith("/tiles/"):
        return None
    tiles = _tiles_for(list(bounds), max_tiles)
    if not tiles:
        return None
    xs, ys, z = [t.x for t in tiles], [t.y for t in tiles], tiles[0].z
    x0, y0 = min(xs), min(ys)
    mosaic = Image.new("RGBA", ((max(xs) - x0 + 1) * TILE, (max(ys) - y0 + 1) * TILE))
    for t in tiles:
        png = render_url_tile(url, t.z, t.x, t.y)
        if png is not None:
            tile = decode_png_rgba(png)
            mosaic.paste(tile, ((t.x - x0) * TILE, (t.y - y0) * TILE))
    if not np.asarray(mosaic)[..., 3].any():  # no tile rendered, or only transparent ones
        return None
    top_left, bottom_right = MERCATOR.bounds(x0, y0, z), MERCATOR.bounds(max(xs), max(ys), z)
    buf = io.BytesIO()
    mosaic.save(buf, format="PNG", optimize=True)
    data_uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {
        **layer,
        "kind": "image",
        "url": data_uri,
        "bounds": [top_left.left, bottom_right.bottom, bottom_right.right, top_left.top],
    }


def inline_imagery(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every tile layer replaced by its inlined image where possible; other layers as they are."""
    out = []
    for layer in layers:
        try:
            inlined = inline_tile_layer(layer)
        except Exception:  # noqa: BLE001 - a report keeps the live-tile layer rather than failing
            log.warning("could not inline %s into the report", layer.get("name"), exc_info=True)
            inlined = None
        out.append(inlined or layer)
    return out
