"""The display stretch, once: per-band 2-98 percentiles over valid pixels, and the linear map to uint8.

Catalog items store their percentiles at ingest so that every window and tile of a scene gets the same colours;
everything else (uploads, thumbnails, photos in 16 bit, result rasters) is stretched on what was read.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

LOW, HIGH = 2.0, 98.0


def percentiles(data: np.ndarray, valid: np.ndarray | None = None, lo: float = LOW, hi: float = HIGH,
                max_samples: int = 1_000_000) -> tuple[list[float], list[float]]:
    """Per-band (lo, hi) percentiles of a (bands, H, W) array over valid, finite pixels, on a regular subsample
    for big arrays; a band without valid pixels gets (0, 1), a flat band (v, v + 1)."""
    bands, height, width = data.shape
    step = max(1, int(np.ceil(np.sqrt(height * width / max_samples))))
    sample = np.ma.getdata(data)[:, ::step, ::step].astype(np.float64)
    ok = np.isfinite(sample)
    if valid is not None:
        ok &= valid[::step, ::step][None, :, :]
    if np.ma.isMaskedArray(data):
        ok &= ~np.ma.getmaskarray(data)[:, ::step, ::step]
    low, high = [], []
    for b in range(bands):
        values = sample[b][ok[b]]
        if values.size == 0:
            low.append(0.0)
            high.append(1.0)
            continue
        p_lo, p_hi = np.percentile(values, [lo, hi])
        low.append(float(p_lo))
        high.append(float(p_hi if p_hi > p_lo else p_lo + 1.0))
    return low, high


def stretch(data: np.ndarray, low: Sequence[float], high: Sequence[float],
            valid: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W) any dtype -> (H, W, B) uint8, linear between low and high per band; invalid pixels black."""
    out = np.empty((data.shape[1], data.shape[2], data.shape[0]), dtype=np.uint8)
    for b in range(data.shape[0]):
        scaled = (np.ma.getdata(data[b]).astype(np.float32) - low[b]) / max(high[b] - low[b], 1e-12)
        scaled = np.nan_to_num(scaled, nan=0.0, posinf=1.0, neginf=0.0)
        out[:, :, b] = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if valid is not None:
        out[~valid] = 0
    return out


def auto_stretch(data: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """(B, H, W) -> (H, W, 3) uint8 display image: the 2-98 percentile stretch of what was read, one band as grey."""
    if data.shape[0] == 1:
        data = np.repeat(data, 3, axis=0)
    return stretch(data[:3], *percentiles(data[:3], valid), valid)
