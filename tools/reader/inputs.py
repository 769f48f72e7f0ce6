"""What the reader looks at: one image (file or catalog scene, optionally a bbox window) read once.

An `ImageInput` carries a display RGB (for the scene classifier and the VLM), the spectral bands by common name
when the file says which they are (for NDVI/NDWI/NDBI and the cloud mask), and the image facts (size, GSD, CRS,
footprint, date). Big rasters are read decimated (overviews), never whole; a bbox reads only that window.
Files are opened through `tools.rasters` (format, safety and size checks) only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError, SentinelleError
from tools.core.settings import get_settings
from tools.rasters.dates import date_from_name, date_from_tags
from tools.rasters.open import display_name
from tools.rasters.sensors import S2_COMMON, S2_ORDER, s2_band_name

_COLOUR_NAMES = {"red": "red", "green": "green", "blue": "blue", "nir": "nir", "swir1": "swir16", "swir2": "swir22"}


@dataclass
class ImageInput:
    """One image as the reader sees it."""

    rgb: np.ndarray
    source: str
    width: int
    height: int
    bands: dict[str, np.ndarray] = field(default_factory=dict)
    reflectance: bool = False
    platform: str | None = None
    crs: str | None = None
    gsd: float | None = None
    bounds: list[float] | None = None
    footprint: dict[str, Any] | None = None
    date: str | None = None
    window_bbox: list[float] | None = None
    downscaled: bool = False

    @property
    def georeferenced(self) -> bool:
        return self.footprint is not None

    def facts(self) -> dict[str, Any]:
        """JSON-ready image facts."""
        out: dict[str, Any] = {"source": self.source, "width": self.width, "height": self.height}
        for key in ("platform", "crs", "date", "bounds", "window_bbox"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.gsd is not None:
            out["gsd_m"] = round(float(self.gsd), 2)
        out["bands"] = sorted(self.bands)
        out["downscaled"] = self.downscaled
        return out


def load(image: str | Path | None = None, scene_id: str | None = None, bbox: list[float] | None = None,
         max_side: int = 1024) -> ImageInput:  # fmt: skip
    """Read a file path or a catalog scene (optionally a bbox window in EPSG:4326) into an `ImageInput`."""
    if bbox is not None:
        bbox = _check_bbox(bbox)
    if scene_id:
        return _load_scene(scene_id, bbox, max_side)
    if image is None:
        raise BadInputError("give an image file or a catalog scene id to read")
    path = Path(image).expanduser()
    if not path.is_file():
        if "/" not in str(image) and "." not in path.name:  # a catalog scene id given as the image
            try:
                return _load_scene(str(image), bbox, max_side)
            except SentinelleError:
                pass
        raise BadInputError(f"image '{path.name}' does not exist")
    settings = get_settings()
    size_mb = path.stat().st_size / 1e6
    if size_mb > settings.upload_max_mb:
        raise BadInputError(f"image '{path.name}' is {size_mb:.0f} MB, over the {settings.upload_max_mb:.0f} MB limit")
    from tools.rasters.images import is_picture

    if is_picture(path):  # by content; VRT, URLs and mislabelled files are refused here
        return _load_picture(path, max_side)
    return _load_raster(path, display_name(path), bbox=bbox, max_side=max_side)


def _check_bbox(bbox: list[float]) -> list[float]:
    try:
        west, south, east, north = (float(v) for v in bbox)
    except (TypeError, ValueError) as exc:
        raise BadInputError("bbox must be four numbers: west, south, east, north (degrees)") from exc
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise BadInputError(f"bbox {bbox} is not west < east and south < north in degrees")
    return [west, south, east, north]


def _load_picture(path: Path, max_side: int) -> ImageInput:
    """JPEG/PNG/BMP: plain pictures, no georeference, RGB only."""
    from tools.rasters.images import open_image_rgb

    rgb, (width, height) = open_image_rgb(path, max_side)
    return ImageInput(rgb=rgb, source=display_name(path), width=width, height=height, date=_exact_day(path.name),
                      downscaled=rgb.shape[:2] != (height, width))  # fmt: skip


def _exact_day(name: str) -> str | None:
    """The acquisition day in a file name (a year alone is not a day)."""
    fact = date_from_name(name)
    return fact.day if fact and fact.exact else None


def band_names(dataset: Any, source_name: str, item_bands: list[dict] | None = None) -> list[str | None]:
    """Common band names (blue, green, red, nir, swir16, ...) of a raster, from the catalog, the file, or its shape.

    None where a band cannot be named; then it only serves display, never an index.
    """
    count = dataset.count
    if item_bands and len(item_bands) == count:
        names = [(b.get("common_name") or S2_COMMON.get(_s2_name(str(b.get("name", ""))))) for b in item_bands]
        return [n.lower() if n else None for n in names]
    descriptions = [str(d).strip() if d else "" for d in dataset.descriptions]
    if any(descriptions):
        named = [S2_COMMON.get(_s2_name(d)) or _COLOUR_NAMES.get(d.lower()) for d in descriptions]
        if any(named):
            return named
    if count == len(S2_ORDER):
        return [S2_COMMON[b] for b in S2_ORDER]
    interp = [c.name for c in dataset.colorinterp]
    if count >= 3 and interp[:3] == ["red", "green", "blue"]:
        return ["red", "green", "blue"] + [None] * (count - 3)
    if count == 4 and re.match(r"m_\d{7}_", source_name):  # NAIP quarter quads: R, G, B, NIR
        return ["red", "green", "blue", "nir"]
    if count == 3:
        return ["red", "green", "blue"]
    return [None] * count


def _s2_name(text: str) -> str:
    return (s2_band_name(text) or "") if text.upper().startswith("B") else ""


def _gsd_m(dataset: Any) -> float | None:
    if dataset.crs is None:
        return None
    res = abs(dataset.res[0])
    if dataset.crs.is_geographic:  # north-south pixel size: degrees of latitude are ~111 km everywhere
        return abs(dataset.res[1]) * 111_320.0
    try:
        factor = dataset.crs.linear_units_factor[1]
    except Exception:  # noqa: BLE001 - unknown units: assume metres
        factor = 1.0
    return res * factor


def _load_raster(path: Path, source: str, *, bbox: list[float] | None, max_side: int,
                 item: Any = None) -> ImageInput:  # fmt: skip
    """A GeoTIFF (or other raster): decimated read of all bands, window when bbox is given."""
    from rasterio.windows import Window

    from tools.rasters.footprint import bbox_window, dataset_footprint, dataset_is_georeferenced
    from tools.rasters.open import open_raster, read_errors, user_max_pixels

    with open_raster(path, max_pixels=user_max_pixels()) as dataset:
        georef = dataset_is_georeferenced(dataset)
        window = Window(0, 0, dataset.width, dataset.height)
        if bbox is not None:
            window = bbox_window(dataset, bbox, source)
        width, height = int(window.width), int(window.height)
        scale = min(1.0, max_side / max(width, height))
        out_h, out_w = max(1, round(height * scale)), max(1, round(width * scale))
        with read_errors(source):
            data = dataset.read(window=window, out_shape=(dataset.count, out_h, out_w), masked=True)
        item_bands = item.properties.get("eo:bands") if item is not None else None
        names = band_names(dataset, path.name, item_bands)
        footprint, bounds = (None, None)
        crs = gsd = None
        if georef:
            footprint, bounds = dataset_footprint(dataset, window)
            bounds = [round(v, 6) for v in bounds]
            crs = dataset.crs.to_string()
            gsd = _gsd_m(dataset)
        tag_date = date_from_tags(dataset.tags())
        date = tag_date.day if tag_date else None
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    array = np.ma.filled(data.astype(np.float32), np.nan)
    platform = item.properties.get("constellation") if item is not None else None
    if item is not None and item.datetime is not None:
        date = item.datetime.date().isoformat()
    date = date or _exact_day(path.name)
    if platform is None and len(names) == len(S2_ORDER) and names[1] == "blue":
        platform = "sentinel-2"
    bands, reflectance = _spectral_bands(array, names, dataset_dtype=str(data.dtype), platform=platform)
    stats = item.properties.get("sentinelle:stats") if item is not None else None
    rgb = _render(array, names, valid, platform, stats)
    return ImageInput(rgb=rgb, source=source, width=width, height=height, bands=bands, reflectance=reflectance,
                      platform=platform, crs=crs, gsd=gsd, bounds=bounds, footprint=footprint, date=date,
                      window_bbox=bbox, downscaled=scale < 1.0)  # fmt: skip


def _spectral_bands(array: np.ndarray, names: list[str | None], dataset_dtype: str,
                    platform: str | None) -> tuple[dict[str, np.ndarray], bool]:  # fmt: skip
    """Named bands scaled to about 0..1, and whether they are calibrated reflectance (Sentinel-2 x10000 DN)."""
    bands = {name: array[i] for i, name in enumerate(names) if name}
    if not bands:
        return {}, False
    finite = np.concatenate([b[np.isfinite(b)].ravel()[:100_000] for b in bands.values()])
    top = float(np.percentile(finite, 99)) if finite.size else 0.0
    reflectance = False
    if platform in ("sentinel-2", "landsat") and top > 1.5:
        scale, reflectance = 10_000.0, platform == "sentinel-2"
    elif dataset_dtype == "uint8":
        scale = 255.0
    elif top > 1.5:
        scale = 10_000.0 if top < 20_000 else 65_535.0
    else:
        scale, reflectance = 1.0, platform == "sentinel-2"
    return {name: (band / scale).astype(np.float32) for name, band in bands.items()}, reflectance


def _render(array: np.ndarray, names: list[str | None], valid: np.ndarray, platform: str | None = None,
            stats: dict | None = None) -> np.ndarray:  # fmt: skip
    """Display RGB with the platform renderer (`tools.render`, same colours as the map), else our own stretch."""
    try:
        from tools.render import rgb_from_array
    except ImportError:
        return _render_own(array, names, valid)
    bands = [{"common_name": n} for n in names]
    return rgb_from_array(array, bands, nodata=None, constellation=platform, stats=stats)


def _render_own(array: np.ndarray, names: list[str | None], valid: np.ndarray) -> np.ndarray:
    """True colour when red/green/blue are named, else the first three bands (or grey); 2-98 percentile stretch."""
    from tools.rasters.stretch import auto_stretch

    index = {name: i for i, name in enumerate(names) if name}
    if all(c in index for c in ("red", "green", "blue")):
        order = [index["red"], index["green"], index["blue"]]
    elif array.shape[0] >= 3:
        order = [0, 1, 2]
    else:
        order = [0]
    return auto_stretch(array[order], valid)


def _load_scene(scene_id: str, bbox: list[float] | None, max_side: int) -> ImageInput:
    from tools.catalog import asset_path, open_catalog

    item = open_catalog().get(scene_id)
    path = Path(asset_path(item))
    loaded = _load_raster(path, scene_id, bbox=bbox, max_side=max_side, item=item)
    loaded.platform = loaded.platform or item.properties.get("platform")
    gsd = item.properties.get("gsd")
    if gsd:  # the sensor's nominal GSD beats one derived from a reprojected (e.g. EPSG:4326) grid
        loaded.gsd = float(gsd)
    return loaded
