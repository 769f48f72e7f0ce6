"""Display copies of a compared pair's two images: 8-bit RGB COGs in the run's result folder.

Catalog scenes have tile routes of their own; two uploaded images do not, so without these the map could show the
change score of an upload pair but not the before/after swipe. The copies are decimated (longest side at most
`MAX_SIDE`) and stretched like every other display image (2-98 percentiles).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling

from tools.change.sources import Source
from tools.rasters.open import open_raster
from tools.rasters.stretch import auto_stretch

MAX_SIDE = 2048
RGB_BANDS = ("B4", "B3", "B2")  # Galileo's names of red, green, blue


def display_bands(source: Source) -> list[int]:
    """Source band positions to show as red, green, blue: the true-colour bands when mapped, else the first three
    (or the only one, as grey)."""
    mapped = [source.band_map.galileo_to_source.get(name) for name in RGB_BANDS]
    if all(index is not None for index in mapped):
        return [int(index) for index in mapped]
    return list(range(min(3, len(source.bands))))


def write_rgb_view(source: Source, target: Path) -> Path | None:
    """`target` written as a display COG of `source` on its own footprint; None when it has no georeference (a
    picture cannot be placed on the map)."""
    from tools.change.pipeline import to_cog

    grid = source.grid
    if not grid.georeferenced:
        return None
    scale = max(1.0, max(grid.width, grid.height) / MAX_SIDE)
    height, width = max(1, round(grid.height / scale)), max(1, round(grid.width / scale))
    planes, valid = [], np.ones((height, width), dtype=bool)
    for position in display_bands(source):
        path, band = source.bands[position]
        with open_raster(path) as ds:
            plane = ds.read(band, out_shape=(height, width), resampling=Resampling.average, masked=True)
        valid &= ~np.ma.getmaskarray(plane)
        planes.append(plane)
    rgb = auto_stretch(np.ma.stack(planes), valid)  # (H, W, 3), invalid pixels black
    rgb[valid & (rgb.max(axis=2) == 0)] = 1  # a true black pixel stays visible: 0 is the transparent value
    profile = grid.profile("uint8", nodata=0)
    profile.update(count=3, width=width, height=height,
                   transform=grid.transform @ Affine.scale(grid.width / width, grid.height / height))
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        plain = Path(tmp) / target.name
        with rasterio.open(plain, "w", **profile) as dst:
            dst.write(np.moveaxis(rgb, 2, 0))
        to_cog(plain, target)
    return target
