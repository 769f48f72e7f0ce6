"""A scene's files in the catalog: the band stack as a COG and its PNG thumbnail, each written to a temporary
name and renamed, so an interrupted ingest never leaves half a file under the final name."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from tools.ingest_read import SceneData

THUMB_SIZE = 256


def write_cog(scene: SceneData, target: Path) -> None:
    """The band stack as a deflate COG with overviews, written to a temp file then renamed."""
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    bands, height, width = scene.data.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": str(scene.data.dtype)}
    if scene.georeferenced:
        profile.update(crs=scene.crs, transform=scene.transform)
    if scene.nodata is not None:
        profile["nodata"] = scene.nodata
    out_profile = cog_profiles.get("deflate")
    out_profile.update(blockxsize=256, blockysize=256)
    if np.issubdtype(scene.data.dtype, np.integer):
        out_profile["predictor"] = 2
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), MemoryFile() as mem:
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning for plain images: expected, they stay images
            with mem.open(**profile) as dst:
                dst.write(scene.data)
                for i, band in enumerate(scene.bands, start=1):
                    dst.set_band_description(i, band.name)
            with mem.open() as src:
                cog_translate(src, str(tmp), out_profile, in_memory=True, quiet=True, overview_resampling="average",
                              use_cog_driver=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_thumbnail(scene: SceneData, stats: dict, target: Path) -> None:
    """A PNG of at most THUMB_SIZE px a side, stretched with the scene's own percentiles (`stats`)."""
    from PIL import Image

    from tools.render import rgb_from_array

    step = max(1, int(np.ceil(max(scene.data.shape[1:]) / (THUMB_SIZE * 2))))
    small = scene.data[:, ::step, ::step]
    rgb = rgb_from_array(small, scene.bands, scene.nodata, constellation=scene.constellation, stats=stats)
    img = Image.fromarray(rgb)
    img.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BILINEAR)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
