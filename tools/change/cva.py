"""Change-vector analysis: the classic per-pixel baseline that every learned method is compared against."""

from __future__ import annotations

import numpy as np

from tools.change.bands import BandMap
from tools.change.galileo import SPACE_TIME_BANDS


def cva_score(x1: np.ndarray, x2: np.ndarray, bm: BandMap) -> np.ndarray:
    """RMS difference of the normalised bands the source provides: (..., 13) x2 -> (...)."""
    used = [SPACE_TIME_BANDS.index(n) for n in bm.used_bands]
    return np.sqrt(((x2[..., used] - x1[..., used]) ** 2).mean(axis=-1))


def otsu_threshold(hist: np.ndarray, edges: np.ndarray) -> float:
    """Otsu's threshold from a histogram (maximises the between-class variance)."""
    hist = hist.astype(np.float64)
    total = hist.sum()
    if total <= 0:
        return float(edges[-1])
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)
    w1 = total - w0
    m0 = np.cumsum(hist * centers)
    mu0 = np.divide(m0, w0, out=np.zeros_like(m0), where=w0 > 0)
    mu1 = np.divide(m0[-1] - m0, w1, out=np.zeros_like(m0), where=w1 > 0)
    between = w0 * w1 * (mu0 - mu1) ** 2
    return float(edges[int(np.argmax(between)) + 1])
