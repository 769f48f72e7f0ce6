"""The offline base map inlined into self-contained pages (HTML reports, notebook maps): a few Natural Earth bundles.

A page with no server cannot ask for the view it shows, so it carries three: the world (coarse, for every zoom),
the region around its layers (from zoom 5) and, for a small area, that area at full 1:50m detail (from zoom 8).
basemap.js draws each from its min zoom, finer ones on top.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from tools import basemap
from tools.core.errors import SentinelleError

log = logging.getLogger(__name__)

WORLD_LAYERS = ("land", "countries", "places")  # the page background is the ocean colour; coasts are land edges
REGION_MIN_SPAN = (24.0, 16.0)  # degrees (lon, lat) of the regional bundle at least
LOCAL_MIN_SPAN = (3.0, 2.0)


def _positions(value: Any) -> Iterable[tuple[float, float]]:
    """Every (lon, lat) in a GeoJSON geometry, feature or collection."""
    if isinstance(value, dict):
        if value.get("type") == "FeatureCollection":
            for feature in value.get("features") or []:
                yield from _positions(feature)
        elif value.get("type") == "Feature":
            yield from _positions(value.get("geometry"))
        elif "coordinates" in value:
            yield from _positions(value["coordinates"])
        elif value.get("type") == "GeometryCollection":
            for geom in value.get("geometries") or []:
                yield from _positions(geom)
    elif isinstance(value, list) and value:
        if isinstance(value[0], int | float) and len(value) >= 2:
            yield float(value[0]), float(value[1])
        else:
            for item in value:
                yield from _positions(item)


def layers_extent(layers: list[dict[str, Any]]) -> tuple[float, float, float, float] | None:
    """West, south, east, north of everything the layers draw (bounds, points, GeoJSON), None when nothing."""
    xs: list[float] = []
    ys: list[float] = []
    for layer in layers:
        if layer.get("bounds") and len(layer["bounds"]) == 4:
            west, south, east, north = (float(v) for v in layer["bounds"])
            xs += [west, east]
            ys += [south, north]
        if layer.get("point") and len(layer["point"]) >= 2:
            xs.append(float(layer["point"][0]))
            ys.append(float(layer["point"][1]))
        for lon, lat in _positions(layer.get("data")):
            xs.append(lon)
            ys.append(lat)
    if not xs:
        return None
    return max(-180.0, min(xs)), max(-90.0, min(ys)), min(180.0, max(xs)), min(90.0, max(ys))


def _grown(box: tuple[float, float, float, float], span: tuple[float, float]) -> tuple[float, float, float, float]:
    west, south, east, north = box
    cx, cy = (west + east) / 2, (south + north) / 2
    half_w, half_h = max(east - west, span[0]) / 2, max(north - south, span[1]) / 2
    return max(-180.0, cx - half_w), max(-90.0, cy - half_h), min(180.0, cx + half_w), min(90.0, cy + half_h)


def embedded_basemap(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """`{"bundles": [...]}` for basemap.js: world, region and local detail around the layers' extent.

    An empty list of bundles when Natural Earth is not available (the page still draws its layers)."""
    try:
        world = {name: basemap.layer_geojson(name, 2) for name in WORLD_LAYERS}
        bundles = [{"min_zoom": 0, "layers": world}]
        extent = layers_extent(layers)
        if extent is not None:
            region = _grown(extent, REGION_MIN_SPAN)
            bundles.append({"min_zoom": 5, "bbox": list(region), "layers": basemap.basemap_bundle(6, region)})
            if basemap.zoom_for_bbox(extent) >= 8:
                local = _grown(extent, LOCAL_MIN_SPAN)
                bundles.append({"min_zoom": 8, "bbox": list(local), "layers": basemap.basemap_bundle(10, local)})
    except SentinelleError as exc:
        log.warning("no base map in this page: %s", exc)
        return {"bundles": []}
    return {"bundles": bundles}
