"""Raster -> display RGB (uint8), shared by the image reader, search chips, thumbnails and tiles.

Which bands make the picture follows the bands' common names (Sentinel-2 true colour B04,B03,B02; NAIP RGB;
Landsat false colour), and the stretch is a 2-98 percentile one, per band (`tools/rasters/stretch.py`). Catalog
items carry their percentiles (`sentinelle:stats`, computed once at ingest) so that every window of a scene gets the
same colours. Files are opened through `tools.rasters` only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError
from tools.rasters.stretch import percentiles, stretch

PRESETS = ("truecolor", "falsecolor", "swir", "rgb")
_PRESET_NAMES = {
    "truecolor": ("red", "green", "blue"),
    "falsecolor": ("nir", "red", "green"),
    "swir": ("swir16", "nir", "red"),
}
_NIR = ("nir", "nir08")


def _common_names(bands: Sequence[Any]) -> list[str | None]:
    out = []
    for band in bands:
        if isinstance(band, dict):
            out.append(band.get("common_name"))
        else:
            out.append(getattr(band, "common_name", None))
    return out


def _index_of(names: list[str | None], wanted: str) -> int | None:
    options = _NIR if wanted == "nir" else (wanted,)
    for option in options:
        if option in names:
            return names.index(option)
    return None


def default_preset(bands: Sequence[Any], constellation: str | None = None) -> str:
    """The preset a scene is shown with: Sentinel-2/NAIP/photos true colour, Landsat false colour."""
    names = _common_names(bands)
    has = {p: all(_index_of(names, n) is not None for n in _PRESET_NAMES[p]) for p in _PRESET_NAMES}
    if constellation == "landsat":
        if not has["truecolor"] and has["swir"]:
            return "swir"  # stacks shipped as SWIR1,NIR,Red,Green (Pucallpa)
        if has["falsecolor"]:
            return "falsecolor"
    if has["truecolor"]:
        return "truecolor"
    return "rgb"


def display_indexes(bands: Sequence[Any], preset: str | None = None, constellation: str | None = None) -> list[int]:
    """1-based band indexes (3 of them) for a preset; unknown presets are a user error."""
    count = len(bands)
    if count == 0:
        raise BadInputError("a raster with no bands cannot be displayed")
    preset = preset or default_preset(bands, constellation)
    if preset not in PRESETS:
        raise BadInputError(f"unknown display preset '{preset}' (use {', '.join(PRESETS)})")
    if preset != "rgb":
        names = _common_names(bands)
        idx = [_index_of(names, n) for n in _PRESET_NAMES[preset]]
        if all(i is not None for i in idx):
            return [i + 1 for i in idx]
        raise BadInputError(f"preset '{preset}' needs bands {', '.join(_PRESET_NAMES[preset])}, which this scene lacks")
    if count < 3:
        return [1, 1, 1]
    return [1, 2, 3]


def valid_mask(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """Pixels that hold data in every band: finite and not nodata."""
    ok = np.all(np.isfinite(data), axis=0) if np.issubdtype(data.dtype, np.floating) else np.ones(data.shape[1:], bool)
    if nodata is not None and not np.isnan(nodata):
        ok &= ~np.all(data == nodata, axis=0)
    return ok


def rgb_from_array(data: np.ndarray, bands: Sequence[Any], nodata: float | None = None, preset: str | None = None,
                   constellation: str | None = None, stats: dict | None = None) -> np.ndarray:
    """A full band stack (bands, H, W) -> display RGB (H, W, 3) uint8 with the preset's bands and the stretch."""
    idx = display_indexes(bands, preset, constellation)
    picked = data[[i - 1 for i in idx]]
    valid = valid_mask(data, nodata)
    low, high = stats_for(stats, idx) if stats else percentiles(picked, valid)
    return stretch(picked, low, high, valid)


def stats_for(stats: dict, indexes: Sequence[int]) -> tuple[list[float], list[float]]:
    """Stored per-band percentiles (`sentinelle:stats` = {'p2': [...], 'p98': [...]}) for 1-based indexes."""
    return [stats["p2"][i - 1] for i in indexes], [stats["p98"][i - 1] for i in indexes]


def _bands_of_dataset(ds) -> list[dict]:
    """Band common names of a plain raster file, from its descriptions or colour interpretation, else by count."""
    from tools.rasters.sensors import s2_band_name, s2_bands, tm_bands

    names = [(d or "").strip().upper() for d in ds.descriptions]
    s2_names = [s2_band_name(n) if n.startswith("B") else None for n in names]
    if s2_names and all(s2_names):
        return [b.to_dict() for b in s2_bands(s2_names)]
    if ds.count == 13:
        return [b.to_dict() for b in s2_bands()]
    if ds.count == 6 and all(not n for n in names):
        return [b.to_dict() for b in tm_bands()]
    if ds.count >= 3:
        return [{"name": n, "common_name": n} for n in ("red", "green", "blue")] + [
            {"name": f"band{i + 1}"} for i in range(3, ds.count)]
    return [{"name": "pan", "common_name": "pan"}] * ds.count


def _window_of(ds, window: Any):
    """A rasterio Window, or a [west, south, east, north] bbox in EPSG:4326, as a window of `ds`."""
    from rasterio.windows import Window

    from tools.rasters.footprint import bbox_window

    if window is None or isinstance(window, Window):
        return window
    if len(window) == 4:
        return bbox_window(ds, window, Path(ds.name).name)
    raise BadInputError("a window is a rasterio Window or a [west, south, east, north] bbox of a georeferenced scene")


def _out_shape(height: int, width: int, max_size: int | None) -> tuple[int, int]:
    if not max_size or max(height, width) <= max_size:
        return height, width
    scale = max_size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_rgb(path_or_item: Any, window: Any = None, max_size: int | None = None, preset: str | None = None) -> np.ndarray:
    """Display RGB (H, W, 3) uint8 of a catalog item or a raster file, optionally a window and at most max_size px.

    `window`: a rasterio Window (pixels of the scene) or [west, south, east, north] in EPSG:4326.
    Items use their stored percentiles (same colours for every window); plain files are stretched on what is read.
    """
    from rasterio.enums import Resampling

    from tools.rasters.open import open_raster, read_errors

    stats = None
    constellation = None
    if hasattr(path_or_item, "properties") and hasattr(path_or_item, "assets"):
        from tools.assets import asset_path

        path = asset_path(path_or_item)
        props = path_or_item.properties
        bands = props.get("eo:bands") or []
        stats = props.get("sentinelle:stats")
        constellation = props.get("constellation")
    else:
        path = Path(path_or_item)
        bands = None
    with open_raster(path) as ds:
        if bands is None:
            bands = _bands_of_dataset(ds)
            photo = ds.count >= 3 and ds.dtypes[0] == "uint8" and [c.name for c in ds.colorinterp[:3]] == [
                "red", "green", "blue"] and ds.crs is None
        else:
            photo = False
        idx = display_indexes(bands, preset, constellation)
        win = _window_of(ds, window)
        height, width = (int(win.height), int(win.width)) if win is not None else (ds.height, ds.width)
        shape = _out_shape(height, width, max_size)
        with read_errors(Path(path).name):
            data = ds.read(idx, window=win, out_shape=(3, *shape), resampling=Resampling.average
                           if shape != (height, width) else Resampling.nearest)
        nodata = ds.nodata
    valid = valid_mask(data, nodata)
    if photo:
        out = np.transpose(data, (1, 2, 0)).copy()
        out[~valid] = 0
        return out
    low, high = stats_for(stats, idx) if stats else percentiles(data, valid)
    return stretch(data, low, high, valid)


def read_rgb_image(path: str | Path, max_size: int | None = None) -> np.ndarray:
    """Any image file (JPEG, PNG, BMP, GeoTIFF, ENVI...) -> RGB (H, W, 3) uint8; photos are kept as they are."""
    from tools.rasters.images import is_picture, open_image_rgb

    if is_picture(path):
        return open_image_rgb(path, max_size)[0]
    return to_rgb(path, max_size=max_size)
