"""Cloud and cloud-shadow masks for the sector measures, with ukis-csmask (the CNN the change module uses).

The model reads top-of-atmosphere reflectance in blue, green, red and NIR (and SWIR 1/2 for its better 6-band
model), so masks are made only for Sentinel-2 series stored as digital numbers (reflectance x 10000, uint16).
Each date is masked chunk by chunk inside the dask graph (a chunk is CHUNK pixels a side, larger than the
model's 256 px tiles), so the masks are computed where the cube is, on one core or on a cluster.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

BANDS6 = ["blue", "green", "red", "nir", "swir16", "swir22"]
BANDS4 = BANDS6[:4]
MOSTLY_CLOUDED = 0.5  # a date with more than this share of the area under cloud or shadow is left out


def cloud_bands(items: list[Any], available: set[str]) -> list[str] | None:
    """The bands the cloud model reads for this series, or None when it cannot be masked (not Sentinel-2 digital
    numbers, or no blue/green/red/NIR)."""
    from tools.catalog import asset_path
    from tools.rasters.open import open_raster

    sensors = {str(it.properties.get("constellation") or it.properties.get("platform") or "").lower()
               for it in items}
    if not sensors or not all(s.startswith("sentinel-2") for s in sensors):
        return None
    with open_raster(asset_path(items[0])) as ds:
        if ds.dtypes[0] not in ("uint16", "int16"):  # 8-bit stretches and float reflectance: no known DN scale
            return None
    if set(BANDS6) <= available:
        return list(BANDS6)
    if set(BANDS4) <= available:
        return list(BANDS4)
    return None


def _mask_block(block: np.ndarray, names: list[str]) -> np.ndarray:
    """(bands, y, x) digital numbers (NaN = nodata) -> bool (y, x), True where cloud, shadow or invalid."""
    from ukis_csmask.mask import CSmask

    img = np.nan_to_num(np.moveaxis(block, 0, -1), nan=0.0).astype(np.float32) / 10000.0
    if not (img > 0).any():
        return np.ones(block.shape[1:], bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        csm = CSmask(img, names, product_level="l1c", nodata_value=0, intra_op_num_threads=1,
                     inter_op_num_threads=1)
    return csm.valid[..., 0] == 0


def cloud_stack(cube: Any, names: list[str]) -> Any:
    """Lazy bool (time, y, x): cloud, shadow or invalid per date (dask, chunk by chunk)."""
    import dask.array as da

    stacked = da.stack([cube[b].data for b in names], axis=1)  # (time, bands, y, x)
    stacked = stacked.rechunk({0: 1, 1: len(names)})
    return stacked.map_blocks(lambda blk: _mask_block(blk[0], names)[None], drop_axis=1, dtype=bool)
