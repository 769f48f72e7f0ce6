"""Areas on a raster grid and the site buffer: km² per pixel and the 'within N km of' mask.

A pixel of a geographic grid (EPSG:4326) shrinks with latitude, so its area is the geodesic area of its outline on
the WGS84 ellipsoid, computed per row. A projected grid has one pixel area (its units must be metres). A site
buffer is a circle drawn in an azimuthal equidistant projection centred on the site, so its radius is true in every
direction, then carried to the raster's CRS and burnt into a mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from affine import Affine

from tools.core.errors import BadInputError, NotFoundError


def pixel_areas_km2(transform: Affine, shape: tuple[int, int], crs: Any) -> np.ndarray:
    """Area of each pixel in km², shaped (rows, 1) to broadcast over columns (axis-aligned grids)."""
    from pyproj import CRS, Geod

    crs = CRS.from_user_input(crs)
    rows = shape[0]
    if transform.b or transform.d:
        raise BadInputError("a rotated raster grid is not supported for area measures")
    if crs.is_geographic:
        geod = Geod(ellps="WGS84")
        x0, x1 = transform.c, transform.c + transform.a
        out = np.empty((rows, 1), np.float64)
        for r in range(rows):
            y0 = transform.f + r * transform.e
            y1 = y0 + transform.e
            area, _ = geod.polygon_area_perimeter([x0, x1, x1, x0], [y0, y0, y1, y1])
            out[r, 0] = abs(area) / 1e6
        return out
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return np.full((rows, 1), abs(transform.a * transform.e) * factor * factor / 1e6)


def _reproject(geometry: Any, src: Any, dst: Any) -> Any:
    """A shapely geometry carried from CRS `src` to CRS `dst` (x = longitude / easting first)."""
    import shapely
    from pyproj import Transformer

    transformer = Transformer.from_crs(src, dst, always_xy=True)
    return shapely.transform(geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))


def site_polygon(lon: float, lat: float, radius_km: float) -> Any:
    """The circle of `radius_km` around (lon, lat) as a shapely polygon in EPSG:4326."""
    from pyproj import CRS
    from shapely.geometry import Point

    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadInputError(f"{lon}, {lat} is not a longitude, latitude")
    if not 0 < radius_km <= 100:
        raise BadInputError(f"a site radius of {radius_km} km is out of range (0 to 100 km)")
    local = CRS.from_proj4(f"+proj=aeqd +lat_0={lat} +lon_0={lon} +datum=WGS84 +units=m")
    return _reproject(Point(0, 0).buffer(radius_km * 1000.0, quad_segs=32), local, "EPSG:4326")


def polygon_mask(polygon_wgs84: Any, transform: Affine, shape: tuple[int, int], crs: Any) -> np.ndarray:
    """True inside the polygon (pixel centres), on the raster grid; `NotFoundError` when no pixel falls inside."""
    from rasterio.features import geometry_mask
    from shapely.geometry import mapping

    shape_in_grid = _reproject(polygon_wgs84, "EPSG:4326", crs)
    inside = geometry_mask([mapping(shape_in_grid)], out_shape=shape, transform=transform, invert=True)
    if not inside.any():
        raise NotFoundError("the site buffer does not overlap the imagery")
    return inside


def mask_window(mask: np.ndarray) -> tuple[slice, slice]:
    """Row and column slices of the smallest window holding every True pixel of `mask`."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return slice(int(rows[0]), int(rows[-1]) + 1), slice(int(cols[0]), int(cols[-1]) + 1)
