"""Where a raster lies: is it georeferenced, its outline and bbox in EPSG:4326 (whole grid or a window), and the
window under a bbox."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from tools.core.errors import BadInputError


def is_georeferenced(crs: Any, transform: Any) -> bool:
    """A CRS and a real geotransform (GDAL gives photos the identity transform and no CRS)."""
    return crs is not None and transform is not None and not transform.is_identity


def dataset_is_georeferenced(ds: Any) -> bool:
    """`is_georeferenced` of an opened rasterio dataset (header only, no pixels read)."""
    return is_georeferenced(ds.crs, ds.transform)


def _pixel_box(width: int, height: int, window: Any = None) -> tuple[float, float, float, float]:
    """(col0, row0, col1, row1) of the whole grid or of a rasterio Window."""
    if window is None:
        return 0.0, 0.0, float(width), float(height)
    return (float(window.col_off), float(window.row_off), float(window.col_off + window.width),
            float(window.row_off + window.height))


def bbox_4326(crs: Any, transform: Any, width: int, height: int, window: Any = None,
              ndigits: int | None = None) -> list[float] | None:
    """[west, south, east, north] in EPSG:4326 (edges densified), None when not georeferenced or degenerate."""
    from rasterio.warp import transform_bounds

    if not is_georeferenced(crs, transform):
        return None
    c0, r0, c1, r1 = _pixel_box(width, height, window)
    xs, ys = zip(*(transform @ corner for corner in ((c0, r0), (c1, r0), (c1, r1), (c0, r1))), strict=True)
    bounds = transform_bounds(crs, "EPSG:4326", min(xs), min(ys), max(xs), max(ys), densify_pts=21)
    if not all(math.isfinite(v) for v in bounds) or bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
        return None
    return [round(float(v), ndigits) if ndigits is not None else float(v) for v in bounds]


def footprint_4326(crs: Any, transform: Any, width: int, height: int, window: Any = None,
                   points_per_edge: int = 20, ndigits: int | None = 8) -> tuple[dict, list[float]] | None:
    """(GeoJSON polygon, bbox) in EPSG:4326 of the grid or a window; each edge densified so the outline stays right
    after reprojection. None when not georeferenced."""
    from rasterio.warp import transform as warp_transform
    from shapely.geometry import Polygon, mapping

    bbox = bbox_4326(crs, transform, width, height, window, ndigits)
    if bbox is None:
        return None
    c0, r0, c1, r1 = _pixel_box(width, height, window)
    n = points_per_edge
    cols = [c0 + (c1 - c0) * i / n for i in range(n)] + [c1] * n + [c1 - (c1 - c0) * i / n for i in range(n)] + [c0] * n
    rows = [r0] * n + [r0 + (r1 - r0) * i / n for i in range(n)] + [r1] * n + [r1 - (r1 - r0) * i / n for i in range(n)]
    xs, ys = zip(*(transform @ (c, r) for c, r in zip(cols, rows, strict=True)), strict=True)
    lons, lats = warp_transform(crs, "EPSG:4326", list(xs), list(ys))
    polygon = Polygon(list(zip(lons, lats, strict=True))).buffer(0)
    return mapping(polygon), bbox


def dataset_footprint(ds: Any, window: Any = None) -> tuple[dict, list[float]] | None:
    """`footprint_4326` of an opened rasterio dataset (or one window of it)."""
    return footprint_4326(ds.crs, ds.transform, ds.width, ds.height, window)


def bbox_window(ds: Any, bbox: Sequence[float], name: str) -> Any:
    """The window of an opened dataset under a [west, south, east, north] EPSG:4326 bbox, clipped to the raster
    and rounded to whole pixels; `BadInputError` when the raster has no georeference or the bbox misses it."""
    from rasterio.errors import WindowError
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    if not dataset_is_georeferenced(ds):
        raise BadInputError(f"'{name}' has no georeference, so a bbox cannot select a window in it")
    native = transform_bounds("EPSG:4326", ds.crs, *[float(v) for v in bbox], densify_pts=21)
    window = from_bounds(*native, transform=ds.transform).round_offsets().round_lengths()
    try:
        window = window.intersection(Window(0, 0, ds.width, ds.height))
    except WindowError:
        raise BadInputError(f"bbox {list(bbox)} does not overlap '{name}'") from None
    if window.width < 1 or window.height < 1:
        raise BadInputError(f"bbox {list(bbox)} does not overlap '{name}'")
    return window
