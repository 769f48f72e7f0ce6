"""Measured facts beyond the scene type: land-cover shares from spectral indices, cloud and shadow share.

Only what the bands allow: NDVI needs red + NIR, water needs green + NIR (NDWI) or green + SWIR (MNDWI, preferred),
built-up needs SWIR + NIR (NDBI). Cloud and shadow come from the ukis-csmask CNN (ONNX), which needs blue, green,
red and NIR in calibrated reflectance (Sentinel-2 here); with SWIR 1/2 it runs its 6-band model.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from tools.reader.inputs import ImageInput

NDVI_VEGETATION = 0.3
MNDWI_WATER = 0.0
NDWI_WATER = 0.2  # NDWI (green/NIR) > 0 also flags bright bare soil in uncalibrated NAIP; 0.2 keeps lakes only
PRESENCE_PCT = 1.0  # a cover class under 1% of the image counts as absent
CLOUD_MODEL = "ukis-csmask 1.0 (U-Net, ONNX)"
_CLOUD_MAX_SIDE = 512
_lock = threading.Lock()


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a - b) / (a + b)


def _pct(mask: np.ndarray, valid: np.ndarray) -> float:
    n = int(valid.sum())
    return round(100.0 * float((mask & valid).sum()) / n, 2) if n else 0.0


def spectral_facts(img: ImageInput) -> dict[str, Any]:
    """Cover shares (% of valid pixels) the bands support; `measurable` lists what could be measured."""
    b = img.bands
    out: dict[str, Any] = {"measurable": []}
    if not {"red", "nir"} <= b.keys():
        return out
    valid = np.isfinite(b["red"]) & np.isfinite(b["nir"]) & ((b["red"] + b["nir"]) > 0)
    ndvi = _ratio(b["nir"], b["red"])
    out["ndvi_mean"] = round(float(np.nanmean(np.where(valid, ndvi, np.nan))), 3) if valid.any() else None
    out["vegetation_pct"] = _pct(ndvi > NDVI_VEGETATION, valid)
    out["measurable"].append("vegetation")
    if "green" in b:
        if "swir16" in b:
            water_index, index_name, threshold = _ratio(b["green"], b["swir16"]), "MNDWI", MNDWI_WATER
        else:
            water_index, index_name, threshold = _ratio(b["green"], b["nir"]), "NDWI", NDWI_WATER
        water = water_index > threshold
        out["water_pct"] = _pct(water, valid & np.isfinite(water_index))
        out["water_index"] = f"{index_name} > {threshold}"
        out["measurable"].append("water")
    if "swir16" in b:
        ndbi = _ratio(b["swir16"], b["nir"])
        built = (ndbi > 0) & (ndvi < 0.2)
        if "water_pct" in out:
            built &= ~water
        out["built_up_pct"] = _pct(built, valid & np.isfinite(ndbi))
        out["measurable"].append("built_up")
    return out


def cloud_facts(img: ImageInput) -> dict[str, Any]:
    """Cloud and shadow share from ukis-csmask, or a reason code (`cloud_reasons` in the templates) it cannot run."""
    needed = {"blue", "green", "red", "nir"}
    if not needed <= img.bands.keys():
        return {"cloud_unavailable": "no_bands"}
    if not img.reflectance:
        return {"cloud_unavailable": "not_reflectance"}
    try:
        from ukis_csmask.mask import CSmask
    except ImportError:
        return {"cloud_unavailable": "not_installed"}
    order = ["blue", "green", "red", "nir"] + [n for n in ("swir16", "swir22") if n in img.bands]
    if len(order) == 5:
        order = order[:4]
    stack = np.dstack([img.bands[n] for n in order]).astype(np.float32)
    valid = np.all(np.isfinite(stack), axis=2)
    stack = _resample_for_mask(np.nan_to_num(stack, nan=0.0), img.gsd)
    valid = _resample_for_mask(valid.astype(np.float32)[:, :, None], img.gsd)[:, :, 0] > 0.5
    with _lock, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = CSmask(stack, band_order=order, product_level="l1c", nodata_value=0,
                      intra_op_num_threads=1, inter_op_num_threads=1).csm[:, :, 0]  # fmt: skip
    return {
        "cloud_pct": _pct(mask == 1, valid),
        "cloud_shadow_pct": _pct(mask == 2, valid),
        "cloud_model": f"{CLOUD_MODEL}, {len(order)} bands",
    }


def _resample_for_mask(stack: np.ndarray, gsd: float | None) -> np.ndarray:
    """About 30 m pixels (what the mask was trained on), at most 512 px a side."""
    from PIL import Image

    h, w = stack.shape[:2]
    factor = 1.0
    if gsd and gsd < 30:
        factor = gsd / 30.0
    factor = min(factor, _CLOUD_MAX_SIDE / max(h, w))
    if factor >= 1.0:
        return stack
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.dstack([np.asarray(Image.fromarray(stack[:, :, i]).resize(size, Image.BILINEAR))
                      for i in range(stack.shape[2])])  # fmt: skip
