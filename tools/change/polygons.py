"""Binary change mask and change polygons from a score raster, block by block (bounded memory).

Connected changed pixels become polygons with their area (m², geodesic for geographic grids) and mean score;
patches cut by block edges are merged afterwards. Polygons are returned in EPSG:4326, or in pixel coordinates
when the images carry no georeference.
"""

from __future__ import annotations

import heapq
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import Geod
from rasterio.features import shapes
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.geometry import mapping, shape
from shapely.ops import unary_union
from shapely.strtree import STRtree

from tools.change.sources import Grid
from tools.core.results import ProgressCallback, no_progress
from tools.rasters.open import open_raster

MAX_FEATURES = 3000
MAX_PATCH_PARTS = 256  # a joined patch of more parts is drawn part by part (see _merge_border)
SIMPLIFY_PX = 0.75  # outline tolerance (pixels): pixel staircases become straight edges, ~2x fewer vertices
EIGHT = np.ones((3, 3), dtype=bool)
_GEOD = Geod(ellps="WGS84")


def pixel_area_m2(grid: Grid) -> float | None:
    """Ground area of one pixel (at the grid centre for geographic CRS); None without georeference."""
    if grid.crs is None:
        return None
    t = grid.transform
    if grid.crs.is_geographic:
        x0, y0 = t * (grid.width / 2, grid.height / 2)
        ring = [(x0, y0), (x0 + t.a, y0), (x0 + t.a, y0 + t.e), (x0, y0 + t.e)]
        lons, lats = zip(*ring, strict=True)
        return abs(_GEOD.polygon_area_perimeter(lons, lats)[0])
    factor = grid.crs.linear_units_factor[1] if grid.crs.linear_units_factor else 1.0
    return abs(t.a * t.e - t.b * t.d) * factor**2


def polygonize_mask(score_path: Path, mask_path: Path, grid: Grid, threshold: float, min_pixels: int,
                    block: int = 1024, progress: ProgressCallback = no_progress) -> dict:
    """Writes the uint8 mask (1 change, 0 no change, 255 no data) and returns polygons and counts (`progress`: one
    call per block, then one before the patches cut by block edges are merged)."""
    n_blocks = len(range(0, grid.height, block)) * len(range(0, grid.width, block))
    done = 0
    parts: list[tuple[object, float, int]] = []
    border: list[tuple[object, float, int]] = []
    top: list[int] = []  # pixel counts of the largest interior patches kept as polygons (min-heap)
    changed = interior = 0
    tolerance = SIMPLIFY_PX * min(abs(grid.transform.a), abs(grid.transform.e))
    with open_raster(score_path) as src, rasterio.open(mask_path, "w", **grid.profile("uint8", 255, "none")) as dst:
        for r in range(0, grid.height, block):
            for c in range(0, grid.width, block):
                w = Window(c, r, min(block, grid.width - c), min(block, grid.height - r))
                progress(0.9 * done / n_blocks, f"thresholding and drawing change patches: block {done + 1}/{n_blocks}")
                done += 1
                sc = src.read(1, window=w)
                valid = np.isfinite(sc)
                ch = valid & (np.nan_to_num(sc, nan=-np.inf) > threshold)
                labels, n = ndimage.label(ch, structure=EIGHT)
                counts = np.bincount(labels.ravel(), minlength=n + 1)
                if n:
                    small = counts < min_pixels
                    small[0] = False
                    labels[small[labels]] = 0
                    ch = labels > 0
                dst.write(np.where(valid, ch, 255).astype(np.uint8), 1, window=w)
                changed += int(ch.sum())
                if not ch.any():
                    continue
                sums = np.bincount(labels.ravel(), weights=np.nan_to_num(sc).ravel(), minlength=n + 1)
                objects = ndimage.find_objects(labels)
                edge = np.zeros(n + 1, bool)
                for lab, sl in enumerate(objects, start=1):
                    if sl is not None:
                        edge[lab] = (sl[0].start == 0 and r > 0) or (sl[1].start == 0 and c > 0) or (
                            sl[0].stop == w.height and r + w.height < grid.height) or (
                            sl[1].stop == w.width and c + w.width < grid.width)
                present = counts >= min_pixels
                present[0] = False
                interior += int((present & ~edge).sum())
                cut = top[0] if len(top) >= MAX_FEATURES else 0
                # patches too small to rank among the largest are counted, not drawn (a patch cut by a block edge
                # is kept when its piece reaches a quarter of that size, since merging may make it large enough)
                wanted = present & np.where(edge, counts > cut // 4, counts > cut)
                keep = wanted[labels] & ch
                geoms: dict[int, list] = {}
                for geom, val in shapes(np.where(keep, labels, 0).astype(np.int32), mask=keep, connectivity=8,
                                        transform=window_transform(w, grid.transform)):
                    geoms.setdefault(int(val), []).append(shape(geom))
                for lab, gl in geoms.items():
                    g = gl[0] if len(gl) == 1 else unary_union(gl)
                    if not edge[lab]:  # pieces on block edges stay exact until they are merged
                        g = g.simplify(tolerance, preserve_topology=True)
                    item = (g, float(sums[lab]), int(counts[lab]))
                    if edge[lab]:
                        border.append(item)
                    else:
                        parts.append(item)
                        heapq.heappush(top, int(counts[lab]))
                        if len(top) > MAX_FEATURES:
                            heapq.heappop(top)
                if len(parts) > 2 * MAX_FEATURES:
                    parts = sorted(parts, key=lambda p: -p[2])[:MAX_FEATURES]
    progress(0.9, "joining the change patches cut by block edges")
    merged = [(g.simplify(tolerance, preserve_topology=True), v, n) for g, v, n in _merge_border(border)]
    return _to_geojson(parts + merged, grid, changed, interior + len(merged))


def _merge_border(border: list[tuple[object, float, int]]) -> list[tuple[object, float, int]]:
    """Joins the pieces of patches cut by block edges into the patches one block would have drawn.

    Pieces that touch, along an edge or at a corner only, hold 8-connected pixels: each group of them is one
    patch (a multipolygon where its parts meet at corners), as a patch inside a block is. A group of more than
    MAX_PATCH_PARTS parts (the speckle of a noisy mask, joined across a whole scene) is drawn as its parts, each
    with the pieces inside it: simplifying and validating one multipolygon of thousands of parts took minutes.
    Each group is unioned on its own (one union of all the pieces of a noisy large scene took most of its time).
    """
    if not border:
        return []
    geoms = np.array([g for g, _, _ in border], dtype=object)
    sums = np.array([v for _, v, _ in border], dtype=np.float64)
    counts = np.array([n for _, _, n in border], dtype=np.int64)
    a, b = STRtree(geoms).query(geoms, predicate="intersects")
    n_groups, group = connected_components(
        coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(len(geoms), len(geoms))), directed=False)
    order = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[order], np.arange(n_groups + 1))
    out = []
    for k in range(n_groups):
        idx = order[starts[k] : starts[k + 1]]
        union = geoms[idx[0]] if len(idx) == 1 else shapely.union_all(geoms[idx])
        if shapely.get_num_geometries(union) <= MAX_PATCH_PARTS:
            out.append((union, float(sums[idx].sum()), max(int(counts[idx].sum()), 1)))
            continue
        inside_points = shapely.point_on_surface(geoms[idx])
        for part in getattr(union, "geoms", [union]):
            inside = shapely.within(inside_points, part)
            out.append((part, float(sums[idx][inside].sum()), max(int(counts[idx][inside].sum()), 1)))
    return out


def valid_polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """`geom` as a valid (OGC) polygon or multipolygon.

    Simplifying outlines and rounding reprojected coordinates can make a ring touch or cross itself (seen on real
    outputs: Nanjing, Pucallpa, Bordeaux, Rennes), which PostGIS, QGIS and geopandas reject; `make_valid` repairs
    it and the lines or points a repair may leave are dropped, since only the areas are change patches.
    """
    if geom.is_valid:
        return geom
    fixed = shapely.make_valid(geom)
    polys = [g for g in getattr(fixed, "geoms", [fixed]) if isinstance(g, shapely.Polygon | shapely.MultiPolygon)]
    flat = [p for g in polys for p in getattr(g, "geoms", [g]) if not p.is_empty]
    return shapely.MultiPolygon(flat) if len(flat) > 1 else (flat[0] if flat else shapely.Polygon())


def _to_geojson(parts: list[tuple[object, float, int]], grid: Grid, changed: int, n_patches: int) -> dict:
    px_area = pixel_area_m2(grid)
    parts.sort(key=lambda p: -p[2])
    features = []
    to_wgs84 = None
    if grid.crs is not None:
        from pyproj import Transformer

        tr = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True)

        def to_wgs84(coords: np.ndarray) -> np.ndarray:
            x, y = tr.transform(coords[:, 0], coords[:, 1])
            return np.round(np.column_stack([x, y]), 7)  # 1 cm: the file stays small, the outline unchanged
    for k, (g, s, n) in enumerate(parts[:MAX_FEATURES]):
        props = {"id": k + 1, "area_px": n, "mean_score": round(s / n, 4)}
        if grid.crs is not None:
            g4326 = valid_polygonal(shapely.transform(g, to_wgs84))
            if g4326.is_empty:
                continue
            geo = mapping(g4326)
            area = abs(_GEOD.geometry_area_perimeter(g4326)[0])
            cen = g4326.centroid
            props.update(area_m2=round(area, 1), centroid=[round(cen.x, 6), round(cen.y, 6)])
        else:
            g = valid_polygonal(g)
            geo = mapping(g)
            cen = g.centroid
            props.update(area_m2=None, centroid=[round(cen.x, 1), round(cen.y, 1)])
        features.append({"type": "Feature", "geometry": geo, "properties": props})
    fc = {"type": "FeatureCollection", "features": features,
          "properties": {"georeferenced": grid.crs is not None, "crs": "EPSG:4326" if grid.crs else "pixel",
                         "n_patches": n_patches, "truncated": n_patches > len(features)}}
    largest = [
        {"id": f["properties"]["id"], "area_m2": f["properties"]["area_m2"], "area_px": f["properties"]["area_px"],
         "centroid": f["properties"]["centroid"], "mean_score": f["properties"]["mean_score"]}
        for f in features[:10]
    ]
    return {"geojson": fc, "pixel_area_m2": px_area, "changed_pixels": changed, "n_patches": n_patches,
            "largest": largest}
