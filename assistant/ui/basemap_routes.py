"""The offline base map's HTTP route: `/basemap/{layer}.json?z=..&bbox=w,s,e,n` answers `tools.basemap` GeoJSON.

Answers depend only on the layer, the zoom band and the bbox snapped to the band's grid, so they are kept (JSON
and gzip bytes) in a small in-memory cache and the browser may keep them a day.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections import OrderedDict

from fastapi import APIRouter, HTTPException, Query, Request, Response

from tools import basemap
from tools.core.errors import BadInputError, DataUnavailableError, NotFoundError

PREFIX = "/basemap"
CACHE_ENTRIES = 512
_HEADERS = {"Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}

router = APIRouter(prefix=PREFIX, tags=["basemap"])
_cache: OrderedDict[tuple, tuple[bytes, bytes]] = OrderedDict()
_lock = threading.Lock()


def parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    """'w,s,e,n' as four floats (None when absent); BadInputError otherwise."""
    if not text:
        return None
    try:
        west, south, east, north = (float(v) for v in text.split(","))
    except ValueError:
        raise BadInputError("bbox is 'west,south,east,north' in degrees") from None
    return west, south, east, north


def layer_bytes(layer: str, zoom: int, bbox: tuple[float, float, float, float] | None) -> tuple[bytes, bytes]:
    """Compact JSON of one layer at one zoom and box, and its gzip, computed once per band and snapped box."""
    spec = basemap.layer_spec(layer)
    band = basemap.band_for_zoom(zoom)
    box = basemap.snap_bbox(bbox, band)
    key = (layer, band, zoom >= spec.min_zoom, box)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    body = json.dumps(basemap.layer_geojson(layer, zoom, box), separators=(",", ":")).encode()
    value = (body, gzip.compress(body, compresslevel=6))
    with _lock:
        _cache[key] = value
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return value


@router.get("/layers.json")
def layers() -> dict:
    """The base layers in drawing order with their kind and min zoom, and the label rank per zoom."""
    return {
        "layers": [{"name": n, "geometry": s.geometry, "min_zoom": s.min_zoom} for n, s in basemap.LAYERS.items()],
        "label_rank": [basemap.label_rank_for_zoom(z) for z in range(25)],
        "bands": [b.max_zoom for b in basemap.BANDS],
    }


@router.get("/{layer}.json")
def layer_route(layer: str, request: Request, z: int = Query(..., ge=0, le=24),
                bbox: str | None = Query(None)) -> Response:
    """One base layer as GeoJSON for zoom `z` within `bbox` (snapped out; its `bbox` member says the cover)."""
    try:
        body, packed = layer_bytes(layer, z, parse_bbox(bbox))
    except NotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    except BadInputError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    except DataUnavailableError as exc:
        raise HTTPException(status_code=503, detail=str(exc)) from None
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(packed, media_type="application/json", headers={**_HEADERS, "Content-Encoding": "gzip"})
    return Response(body, media_type="application/json", headers=_HEADERS)
