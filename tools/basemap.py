"""An offline base map from Natural Earth: its layers simplified per zoom band and clipped to a box, as GeoJSON.

The map needs coasts, water, borders, towns and their names under the imagery when the server has no internet.
Natural Earth's 1:50m layers (CC0, in the data mirror) give that down to about city scale; a browser draws them as
vectors. Simplifying to about half a screen pixel per zoom band and clipping to the view keeps each answer small.
Everything here is pure: files in, GeoJSON dicts out (the cache only remembers what was computed).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import shapely

from tools.core.errors import BadInputError, NotFoundError
from tools.data import geodata_path

WORLD = (-180.0, -90.0, 180.0, 90.0)


@dataclass(frozen=True)
class BaseLayer:
    """One Natural Earth file drawn as a base-map layer, from `min_zoom` on, with the properties it keeps."""

    relpath: str
    geometry: str  # "polygon", "line" or "point"
    min_zoom: int = 0
    keep: tuple[str, ...] = ()


LAYERS: dict[str, BaseLayer] = {
    "ocean": BaseLayer("naturalearth/50m/physical/ne_50m_ocean.json", "polygon"),
    "land": BaseLayer("naturalearth/50m/physical/ne_50m_land.json", "polygon"),
    "lakes": BaseLayer("naturalearth/50m/physical/ne_50m_lakes.json", "polygon", 3),
    "urban": BaseLayer("naturalearth/50m/cultural/ne_50m_urban_areas.json", "polygon", 5),
    "rivers": BaseLayer("naturalearth/50m/physical/ne_50m_rivers_lake_centerlines.json", "line", 3),
    "coastline": BaseLayer("naturalearth/50m/physical/ne_50m_coastline.json", "line"),
    "admin1": BaseLayer("naturalearth/50m/cultural/ne_50m_admin_1_states_provinces_lines.json", "line", 4),
    "countries": BaseLayer("naturalearth/50m/cultural/ne_50m_admin_0_boundary_lines_land.json", "line"),
    "places": BaseLayer("naturalearth/50m/cultural/ne_50m_populated_places_simple.json", "point", 0,
                        ("name", "scalerank", "pop_max", "adm0cap")),
}
"""Drawing order, bottom to top."""


@dataclass(frozen=True)
class ZoomBand:
    """Zooms up to `max_zoom` share one simplification (`tolerance`, degrees), clip grid and coordinate precision."""

    max_zoom: int
    tolerance: float
    grid_deg: float | None  # clip boxes are snapped out to this grid (None: the whole world, never clipped)
    decimals: int
    max_place_rank: int  # populated places up to this SCALERANK


BANDS: tuple[ZoomBand, ...] = (
    ZoomBand(2, 0.15, None, 2, 1),
    ZoomBand(4, 0.04, 30.0, 3, 3),
    ZoomBand(6, 0.01, 10.0, 3, 4),
    ZoomBand(24, 0.0, 2.0, 4, 10),
)


def band_for_zoom(zoom: int) -> int:
    """Index in BANDS of the band drawing zoom `zoom` (0-24)."""
    if not 0 <= zoom <= 24:
        raise BadInputError(f"zoom {zoom} is outside 0-24")
    return next(i for i, band in enumerate(BANDS) if zoom <= band.max_zoom)


def label_rank_for_zoom(zoom: int) -> int:
    """Largest place SCALERANK worth a name label at `zoom` (0 = capitals and world cities)."""
    return 10 if zoom >= 7 else max(0, zoom - 2)


def layer_spec(name: str) -> BaseLayer:
    """The base layer called `name`, or NotFoundError."""
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFoundError(f"no base-map layer '{name}' (known: {', '.join(LAYERS)})") from None


@lru_cache(maxsize=len(LAYERS))
def load_layer(name: str) -> tuple[np.ndarray, tuple[dict[str, Any], ...]]:
    """Geometries (shapely array) and kept properties of one base layer, read once from the mirror."""
    spec = layer_spec(name)
    collection = json.loads(geodata_path(spec.relpath).read_text())
    features = [f for f in collection["features"] if f.get("geometry")]
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    props = tuple({k: f["properties"].get(k) for k in spec.keep} for f in features)
    if name == "places":
        props = tuple({**p, "scalerank": int(p.get("scalerank") or 0)} for p in props)
    return geoms, props


@lru_cache(maxsize=len(LAYERS) * len(BANDS))
def simplified_layer(name: str, band: int) -> tuple[np.ndarray, tuple[dict[str, Any], ...], shapely.STRtree]:
    """One layer simplified for one zoom band (topology kept, so polygons stay valid), with a spatial index."""
    geoms, props = load_layer(name)
    tolerance = BANDS[band].tolerance
    kind = layer_spec(name).geometry
    if tolerance > 0 and kind != "point":
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    keep = ~shapely.is_empty(geoms)
    if tolerance > 0 and kind == "polygon":  # islands and lakes smaller than a couple of pixels: not drawn
        keep &= shapely.area(geoms) >= (2 * tolerance) ** 2
    elif tolerance > 0 and kind == "line":
        keep &= shapely.length(geoms) >= 3 * tolerance
    geoms, props = geoms[keep], tuple(p for p, k in zip(props, keep, strict=True) if k)
    if name == "places":
        ranks = np.array([p["scalerank"] for p in props])
        shown = ranks <= BANDS[band].max_place_rank
        geoms, props = geoms[shown], tuple(p for p, k in zip(props, shown, strict=True) if k)
    return geoms, props, shapely.STRtree(geoms)


def warm_up(max_band: int = 0) -> None:
    """Simplify every layer for the coarse zoom bands now, so the first page's world view is not built on demand
    (the world band costs ~2 s per layer on this CPU, far more when the server is busy)."""
    for band in range(max_band + 1):
        for name in LAYERS:
            simplified_layer(name, band)


def snap_bbox(bbox: tuple[float, float, float, float] | None, band: int) -> tuple[float, float, float, float]:
    """`bbox` grown to the band's grid and cut to the world (the whole world for the coarsest band), so that
    nearby views share one answer."""
    grid = BANDS[band].grid_deg
    if bbox is None or grid is None:
        return WORLD
    west, south, east, north = bbox
    if not all(math.isfinite(v) for v in bbox) or west >= east or south >= north:
        raise BadInputError("bbox is west,south,east,north with west < east and south < north")
    west, east = max(-180.0, math.floor(west / grid) * grid), min(180.0, math.ceil(east / grid) * grid)
    south, north = max(-90.0, math.floor(south / grid) * grid), min(90.0, math.ceil(north / grid) * grid)
    if west >= east or south >= north:
        raise BadInputError("bbox does not overlap the world (-180..180, -90..90)")
    return west, south, east, north


def layer_geojson(name: str, zoom: int, bbox: tuple[float, float, float, float] | None = None) -> dict[str, Any]:
    """The layer as drawn at `zoom` within `bbox` (snapped out to the band's grid): a FeatureCollection whose
    `bbox` member says what it covers. Empty below the layer's min zoom."""
    spec = layer_spec(name)
    band = band_for_zoom(zoom)
    box = snap_bbox(bbox, band)
    if zoom < spec.min_zoom:
        return {"type": "FeatureCollection", "bbox": list(box), "features": []}
    geoms, props, tree = simplified_layer(name, band)
    if box == WORLD:
        hits = np.arange(len(geoms))
        parts = geoms
    else:
        hits = np.sort(tree.query(shapely.box(*box), predicate="intersects"))
        parts = geoms[hits]
        if spec.geometry != "point":
            parts = shapely.clip_by_rect(parts, *box)
    decimals = BANDS[band].decimals
    parts = shapely.transform(parts, lambda xy: np.round(xy, decimals))  # for drawing: a shorter JSON
    features = []
    for index, geom in zip(hits, parts, strict=True):
        if geom is None or shapely.is_empty(geom):
            continue
        features.append({"type": "Feature", "geometry": json.loads(shapely.to_geojson(geom)),
                         "properties": props[int(index)]})
    return {"type": "FeatureCollection", "bbox": list(box), "features": features}


def basemap_bundle(zoom: int, bbox: tuple[float, float, float, float] | None = None) -> dict[str, dict[str, Any]]:
    """Every base layer at `zoom` within `bbox`: what a self-contained page (report, notebook) inlines."""
    return {name: layer_geojson(name, zoom, bbox) for name in LAYERS}


def zoom_for_bbox(bbox: tuple[float, float, float, float], width_px: int = 1024) -> int:
    """The Web-Mercator zoom at which `bbox` about fills `width_px` pixels (0-18)."""
    west, south, east, north = bbox
    span = max(east - west, (north - south) * 1.5, 1e-6)
    return int(max(0, min(18, math.floor(math.log2(360.0 * width_px / (256.0 * span))))))


def geometry_at(name: str, lon: float, lat: float, zoom: int = 24) -> dict[str, Any] | None:
    """Properties of the first feature of a polygon layer covering (lon, lat), None when none does: which layer
    a point falls in (land or ocean) as drawn at `zoom`."""
    geoms, props, tree = simplified_layer(name, band_for_zoom(zoom))
    hits = tree.query(shapely.Point(lon, lat), predicate="intersects")
    return props[int(hits[0])] if len(hits) else None
