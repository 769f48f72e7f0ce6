"""Catalog items as one lazy xarray cube (time, y, x) per band, loaded with odc-stac and chunked with dask.

This is how the field builds a time series from STAC: the same code computes on one laptop core or on a Dask
cluster (when a `distributed.Client` is active, `.compute()` runs there; see deploy/README.md). Scenes of one
sensor often sit on slightly different grids from date to date (the NAIP quarter-quads here differ by a row and a
few metres), and a per-pixel series needs one grid: every date is resampled (nearest neighbour, so values stay the
sensor's own) onto the first date's grid, or onto a window of it for a site.

Rasters are still opened the project's one safe way: every href is checked by `tools.rasters.open.checked_path`
(local regular GeoTIFF, no VRT, no URL) and its header against the pixel budget before odc-stac sees it, and
odc-stac's rasterio environment gets the same network-off GDAL options as `open_raster`.
"""

from __future__ import annotations

from typing import Any

from tools.core.errors import BadInputError
from tools.rasters.open import GDAL_SAFE_OPTIONS, check_budget, checked_path, display_name

CHUNK = 512  # pixels per side of a dask chunk: each chunk is one windowed read per band and date


def item_bands(item: Any) -> list[str]:
    """The common names of an item's stacked bands, in band order."""
    return [str(b.get("common_name") or b.get("name") or f"b{i + 1}")
            for i, b in enumerate(item.properties.get("eo:bands") or [])]


def item_grid(item: Any) -> tuple[Any, tuple[int, int], str]:
    """(affine transform, (rows, cols), CRS) of an item's COG, from its projection fields."""
    from affine import Affine

    props = item.properties
    transform, shape, epsg = props.get("proj:transform"), props.get("proj:shape"), props.get("proj:epsg")
    if not (transform and shape and epsg):
        raise BadInputError(f"scene {item.id} has no grid (proj:transform, proj:shape, proj:epsg)")
    return Affine(*transform[:6]), (int(shape[0]), int(shape[1])), f"EPSG:{int(epsg)}"


def _loadable(item: Any) -> Any:
    """A copy of the item whose data asset lists its bands (odc-stac reads band names per asset)."""
    from tools.catalog import asset_path

    path, driver = checked_path(asset_path(item))
    if driver != "GTiff":
        raise BadInputError(f"{display_name(path)} is not a GeoTIFF")
    _transform, (rows, cols), _crs = item_grid(item)
    bands = item.properties.get("eo:bands") or []
    check_budget(cols, rows, max(len(bands), 1), display_name(path))
    clone = item.clone()
    asset = clone.assets["data"]
    asset.href = str(path)
    asset.extra_fields["eo:bands"] = bands
    asset.extra_fields["raster:bands"] = [{"nodata": 0, "data_type": "float32"} for _ in bands]
    return clone


def load_cube(items: list[Any], bands: list[str], window: tuple[slice, slice] | None = None) -> Any:
    """An xarray Dataset (time, y, x) of `bands` for the items, on the first item's grid (or a window of it).

    Nothing is read yet: values are dask arrays in CHUNK x CHUNK windows. Pixels equal to 0 (the catalog COGs'
    nodata) or outside a scene become NaN.
    """
    import odc.stac
    from odc.geo.geobox import GeoBox

    if not items:
        raise BadInputError("no scenes to load")
    transform, shape, crs = item_grid(items[0])
    geobox = GeoBox(shape, transform, crs)
    if window is not None:
        geobox = geobox[window]
    odc.stac.configure_rio(cloud_defaults=False, **GDAL_SAFE_OPTIONS)
    cube = odc.stac.load(
        [_loadable(it) for it in items], bands=bands, geobox=geobox, chunks={"x": CHUNK, "y": CHUNK},
        resampling="nearest", dtype="float32", groupby="id",
    )
    return cube.where(cube != 0)
