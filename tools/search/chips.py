"""Cutting scenes into chips: windows, display RGB, footprints in EPSG:4326 and land-cover facts per chip.

A chip is what the index stores one vector for. Scenes are read window by window (big scenes never load whole);
labelled image folders (AID-style `labels.csv`) become one chip per image, without a footprint.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError

WHOLE_SCENE_MAX_PIXELS = 4096 * 4096  # below this a scene's display RGB is read once and sliced


@dataclass
class Chip:
    """One window of one scene (or one labelled image): pixels for the encoder, metadata for the index."""

    id: str
    scene_id: str
    rgb: np.ndarray
    window: tuple[int, int, int, int] = (0, 0, 0, 0)  # row, col, height, width
    bbox: list[float] | None = None  # west, south, east, north (EPSG:4326)
    facts: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    bands: np.ndarray | None = None  # raw (B, H, W) chip for multispectral encoders


def parse_chip_size(spec: str | int, gsd: float | None) -> int:
    """Chip size in pixels from '256' (pixels) or '2560m' (metres, needs the scene's gsd)."""
    text = str(spec).strip().lower()
    if text.endswith("m"):
        if not gsd:
            raise BadInputError(f"chip size '{spec}' is in metres but the scene has no ground sampling distance")
        return max(8, int(round(float(text[:-1]) / gsd)))
    try:
        size = int(float(text.removesuffix("px")))
    except ValueError as exc:
        raise BadInputError(f"chip size '{spec}' is not a number of pixels or metres (e.g. 256 or 2560m)") from exc
    if size < 8:
        raise BadInputError(f"chip size {size} px is too small (8 px at least)")
    return size


def chip_windows(width: int, height: int, size: int, stride: int | None = None) -> list[tuple[int, int, int, int]]:
    """Windows (row, col, h, w) covering the raster; the last row/column is shifted to end at the edge."""
    stride = stride or size
    if stride <= 0:
        raise BadInputError("chip stride must be positive")

    def starts(extent: int) -> list[int]:
        if extent <= size:
            return [0]
        out = list(range(0, extent - size + 1, stride))
        if out[-1] + size < extent:
            out.append(extent - size)
        return out

    h, w = min(size, height), min(size, width)
    return [(r, c, h, w) for r in starts(height) for c in starts(width)]


def chip_id(scene_id: str, window: tuple[int, int, int, int]) -> str:
    """Stable id of a chip: the scene id and the window, so re-indexing skips what is there."""
    r, c, h, w = window
    return f"{scene_id}@{r}_{c}_{h}_{w}"


def _band_index(item: Any, common: str) -> int | None:
    """1-based band index of a common name ('red', 'nir', 'green') from the item's eo:bands."""
    bands = (item.properties.get("eo:bands") if item is not None else None) or []
    for i, band in enumerate(bands, start=1):
        if (band.get("common_name") or "").lower() == common:
            return i
    for i, band in enumerate(bands, start=1):  # Sentinel-2 names when common names are missing
        if band.get("name") in {"red": ("B04", "B4"), "nir": ("B08", "B8"), "green": ("B03", "B3")}.get(common, ()):
            return i
    return None


def land_cover_facts(red: np.ndarray, green: np.ndarray | None, nir: np.ndarray) -> dict[str, float]:
    """Mean NDVI, vegetated fraction (NDVI > 0.4) and open-water fraction (NDWI > 0.2) of a chip."""
    red, nir = red.astype(np.float32), nir.astype(np.float32)
    valid = (red > 0) | (nir > 0)
    if valid.sum() == 0:
        return {}
    ndvi = (nir - red) / np.maximum(nir + red, 1e-6)
    facts = {
        "ndvi": round(float(ndvi[valid].mean()), 3),
        "vegetation_fraction": round(float((ndvi[valid] > 0.4).mean()), 3),
    }
    if green is not None:
        green = green.astype(np.float32)
        ndwi = (green - nir) / np.maximum(green + nir, 1e-6)
        facts["water_fraction"] = round(float((ndwi[valid] > 0.2).mean()), 3)
    return facts


def rgb_cover_facts(rgb: np.ndarray) -> dict[str, float]:
    """Shares of green vegetation, dark blue water and bright grey built surfaces, measured on display RGB.

    For chips without a near-infrared band (aerial photos, labelled folders), so their descriptions still say
    what covers them. Simple per-pixel rules: excess green (2G - R - B) / (R + G + B) > 0.08; dark (mean < 0.4)
    and bluer than red by 0.03; bright (mean > 0.55) and nearly grey (saturation < 0.15). Coarse, not NDVI/NDWI.
    """
    x = np.asarray(rgb, dtype=np.float32)[::2, ::2, :3] / 255.0
    if x.size == 0:
        return {}
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    total = r + g + b + 1e-6
    mean = total / 3.0
    hi, lo = x.max(axis=-1), x.min(axis=-1)
    return {
        "rgb_vegetation_fraction": round(float(((2 * g - r - b) / total > 0.08).mean()), 3),
        "rgb_water_fraction": round(float(((mean < 0.4) & (b > r + 0.03) & (b >= g - 0.02)).mean()), 3),
        "rgb_bright_fraction": round(float(((mean > 0.55) & ((hi - lo) / (hi + 1e-6) < 0.15)).mean()), 3),
    }


def _footprint(src: Any, window: tuple[int, int, int, int]) -> list[float] | None:
    """The chip's [west, south, east, north] in EPSG:4326; None when the scene is not georeferenced."""
    from rasterio.windows import Window

    from tools.rasters.footprint import bbox_4326

    r, c, h, w = window
    return bbox_4326(src.crs, src.transform, src.width, src.height, Window(c, r, w, h), ndigits=7)


def scene_gsd(item: Any, src: Any) -> float | None:
    """Ground sampling distance in metres: the item's `gsd`, else the raster's pixel size when projected."""
    gsd = item.properties.get("gsd") if item is not None else None
    if gsd:
        return float(gsd)
    if src.crs is not None and src.crs.is_projected:
        return float(abs(src.transform.a))
    return None


def iter_scene_chips(
    item: Any, size: str | int = 256, stride: str | int | None = None, *, with_bands: bool = False,
    skip: set[str] | None = None,
) -> Iterator[Chip]:
    """Chips of one catalog scene, in reading order; ids in `skip` are not read at all."""
    from rasterio.windows import Window

    from tools.catalog import asset_path
    from tools.rasters.open import open_raster
    from tools.render import to_rgb

    path = asset_path(item)
    with open_raster(path) as src:
        gsd = scene_gsd(item, src)
        px = parse_chip_size(size, gsd)
        step = parse_chip_size(stride, gsd) if stride else px
        windows = [w for w in chip_windows(src.width, src.height, px, step) if chip_id(item.id, w) not in (skip or ())]
        if not windows:
            return
        whole = to_rgb(item) if src.width * src.height <= WHOLE_SCENE_MAX_PIXELS else None
        georef = item.properties.get("sentinelle:georeferenced", True)
        idx = {name: _band_index(item, name) for name in ("red", "green", "nir")}
        for win in windows:
            r, c, h, w = win
            rgb = whole[r : r + h, c : c + w] if whole is not None else to_rgb(item, window=Window(c, r, w, h))
            facts: dict[str, float] = {}
            bands = None
            if idx["red"] and idx["nir"]:
                small = (max(1, min(h, 64)), max(1, min(w, 64)))
                read = [i for i in (idx["red"], idx["green"], idx["nir"]) if i]
                arr = src.read(read, window=Window(c, r, w, h), out_shape=(len(read), *small))
                green = arr[1] if idx["green"] else None
                facts = land_cover_facts(arr[0], green, arr[-1])
            else:  # no near-infrared: coarse cover shares from the display colours
                facts = rgb_cover_facts(rgb)
            if with_bands:
                bands = src.read(window=Window(c, r, w, h)).astype(np.float32)
            yield Chip(
                id=chip_id(item.id, win), scene_id=item.id, rgb=np.ascontiguousarray(rgb), window=win,
                bbox=_footprint(src, win) if georef else None, facts=facts,
                meta={"gsd": gsd, "chip_px": px}, bands=bands,
            )


def read_labels(folder: Path) -> list[tuple[Path, str]]:
    """(image path, label) rows of a labelled folder's `labels.csv` (columns `path`, `label`)."""
    table = folder / "labels.csv"
    if not table.exists():
        raise BadInputError(f"{folder} has no labels.csv (columns: path,label)")
    with table.open(newline="") as fh:
        rows = [(folder / row["path"], row["label"]) for row in csv.DictReader(fh)]
    if not rows:
        raise BadInputError(f"{table} lists no images")
    return rows


def iter_labelled_chips(folder: Path, skip: set[str] | None = None) -> Iterator[Chip]:
    """One chip per image of a labelled folder; the true label goes to `meta['label']` (for evaluation only)."""
    from tools.render import read_rgb_image

    folder = Path(folder)
    prefix = "img:" + folder.name
    for path, label in read_labels(folder):
        rel = path.relative_to(folder).as_posix()
        cid = f"{prefix}/{rel}"
        if skip and cid in skip:
            continue
        rgb = read_rgb_image(path)
        yield Chip(
            id=cid, scene_id=cid, rgb=rgb, window=(0, 0, rgb.shape[0], rgb.shape[1]),
            facts=rgb_cover_facts(rgb), meta={"label": label, "source": str(path)},
        )


def batched(chips: Iterator[Chip], n: int) -> Iterator[list[Chip]]:
    """Groups of `n` chips (the encoder and chroma both prefer batches)."""
    batch: list[Chip] = []
    for chip in chips:
        batch.append(chip)
        if len(batch) >= n:
            yield batch
            batch = []
    if batch:
        yield batch


def centroid(bbox: list[float]) -> tuple[float, float]:
    """(lon, lat) centre of a bbox; antimeridian-crossing boxes are not expected for chips."""
    return (bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0


def n_chips_estimate(width: int, height: int, size: int, stride: int | None = None) -> int:
    """How many windows `chip_windows` will produce (for the progress bar)."""
    stride = stride or size
    rows = 1 if height <= size else math.ceil((height - size) / stride) + 1
    cols = 1 if width <= size else math.ceil((width - size) / stride) + 1
    return rows * cols
