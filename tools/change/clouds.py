"""Optional cloud and cloud-shadow masking with ukis-csmask (a CNN for Sentinel-2/Landsat-like bands).

It needs top-of-atmosphere reflectance in blue, green, red and NIR (and SWIR 1/2 for the better 6-band model),
so it only runs when the pair's values are known reflectances (Sentinel-2 digital numbers). Each date gets a
mask raster on the before grid, written block by block; masked pixels are left out of the change map.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from tools.change.bands import BandMap
from tools.change.sources import BLOCK, AlignedReader, Grid

BANDS4 = [("B2", "blue"), ("B3", "green"), ("B4", "red"), ("B8", "nir")]
BANDS6 = BANDS4 + [("B11", "swir16"), ("B12", "swir22")]


def cloud_bands(bm: BandMap) -> list[tuple[str, str]] | None:
    """The bands the cloud model can use, or None when this pair does not allow cloud masking."""
    if bm.scaling != "s2dn":
        return None
    if all(g in bm.galileo_to_source for g, _ in BANDS6):
        return BANDS6
    if all(g in bm.galileo_to_source for g, _ in BANDS4):
        return BANDS4
    return None


def write_cloud_mask(reader: AlignedReader, bm: BandMap, grid: Grid, dst: Path) -> int:
    """Writes uint8 (1 = cloud, shadow or invalid) on the grid; returns the number of masked pixels."""
    from ukis_csmask.mask import CSmask

    bands = cloud_bands(bm)
    if bands is None:
        raise ValueError("cloud masking needs Sentinel-2 reflectances in blue, green, red and NIR")
    masked = 0
    with rasterio.open(dst, "w", **grid.profile("uint8")) as out:
        for r in range(0, grid.height, BLOCK):
            for c in range(0, grid.width, BLOCK):
                w = Window(c, r, min(BLOCK, grid.width - c), min(BLOCK, grid.height - r))
                raw = reader.read(w)
                img = np.stack([raw[bm.galileo_to_source[g]] for g, _ in bands], axis=-1) * (bm.dn_factor / 1e4)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    csm = CSmask(img.astype(np.float32), [n for _, n in bands], product_level="l1c", nodata_value=0,
                                 intra_op_num_threads=1, inter_op_num_threads=1)
                cloudy = (csm.valid[..., 0] == 0).astype(np.uint8)
                out.write(cloudy, 1, window=w)
                masked += int(cloudy.sum())
    return masked
