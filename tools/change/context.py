"""Spatial-context features for the change head: what a pixel's neighbourhood looks like, not only the pixel.

A per-pixel classifier sees each pixel alone; a new district or a cleared lot is a coherent region of change, while
noise (a car park filling, a shadow, a field harvested) is scattered. These features summarise the strongest change
features of the head over windows of several sizes (mean, spread, maximum, and the pixel against its surroundings),
and compare the two dates' Galileo embeddings pooled over larger blocks of patches. All are computed from one
image's own values (no labels), so a user's new scene gives them the same way; they are studied under the protocol
of docs/change-accuracy.md (`benchmarks/change_accuracy_s2.py`).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import maximum_filter, uniform_filter

CONTEXT_BASE = ("rcva", "sam", "g_cos", "tex_d_5", "dx_ndvi", "dx_ndbi", "dx_bright", "dx_mndwi")
"""Per-pixel head features summarised over neighbourhoods (signed index differences are taken in absolute value)."""
MEAN_WINDOWS, STD_WINDOWS, MAX_WINDOWS, ANOMALY_WINDOW = (31, 63), (7, 15), (7, 15, 31), 31


def pixel_context(
    x: np.ndarray,
    names: list[str],
    means: tuple[int, ...] = MEAN_WINDOWS,
    stds: tuple[int, ...] = STD_WINDOWS,
    maxs: tuple[int, ...] = MAX_WINDOWS,
    anomaly: int = ANOMALY_WINDOW,
) -> tuple[list[str], np.ndarray]:
    """(H, W, F) head features of one image -> (names, (H, W, K) float32) neighbourhood statistics of CONTEXT_BASE
    (window sizes in pixels)."""
    out_names: list[str] = []
    maps: list[np.ndarray] = []
    for base in CONTEXT_BASE:
        v = np.abs(np.nan_to_num(x[..., names.index(base)].astype(np.float32)))
        for w in means:
            maps.append(uniform_filter(v, w, mode="mirror"))
            out_names.append(f"c_{base}_mean{w}")
        for w in stds:
            m = uniform_filter(v, w, mode="mirror")
            maps.append(np.sqrt(np.maximum(uniform_filter(v * v, w, mode="mirror") - m * m, 0.0)))
            out_names.append(f"c_{base}_std{w}")
        for w in maxs:
            maps.append(maximum_filter(v, w, mode="mirror"))
            out_names.append(f"c_{base}_max{w}")
        maps.append(v - uniform_filter(v, anomaly, mode="mirror"))
        out_names.append(f"c_{base}_anom{anomaly}")
    return out_names, np.stack(maps, -1)


def _cos_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    num = (a * b).sum(-1)
    den = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-8
    return (1.0 - num / den).astype(np.float32)


def galileo_context(e1: np.ndarray, e2: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Both dates' patch embeddings (gh, gw, D) -> (names, (gh, gw, 4)) on the patch grid: cosine distance of the
    embeddings averaged over 2 x 2 and 4 x 4 patches, and the largest patch cosine distance over 3 x 3 and 5 x 5."""
    a, b = e1.astype(np.float32), e2.astype(np.float32)
    maps, names = [], []
    for k in (2, 4):
        size = (k, k, 1)
        maps.append(_cos_distance(uniform_filter(a, size, mode="nearest"), uniform_filter(b, size, mode="nearest")))
        names.append(f"c_gpool{k}")
    cos = _cos_distance(a, b)
    for k in (3, 5):
        maps.append(maximum_filter(cos, k, mode="nearest"))
        names.append(f"c_gmax{k}")
    return names, np.stack(maps, -1)


def galileo_context_tiles(e1: torch.Tensor, e2: torch.Tensor) -> dict[str, torch.Tensor]:
    """Batched (B, h, w, D) patch embeddings of both dates -> {name: (B, h, w)} on the patch grid, the same values
    as `galileo_context` (edges replicated): what a tile of the pipeline computes from its own patches."""
    a, b = e1.permute(0, 3, 1, 2).float(), e2.permute(0, 3, 1, 2).float()
    out = {}
    for k in (2, 4):  # window [i - k//2, i + k - k//2 - 1], as scipy's uniform_filter places an even window
        pad = (k // 2, k - k // 2 - 1, k // 2, k - k // 2 - 1)
        pa = F.avg_pool2d(F.pad(a, pad, mode="replicate"), k, stride=1)
        pb = F.avg_pool2d(F.pad(b, pad, mode="replicate"), k, stride=1)
        out[f"c_gpool{k}"] = 1.0 - F.cosine_similarity(pa, pb, dim=1, eps=1e-8)
    cos = (1.0 - F.cosine_similarity(a, b, dim=1, eps=1e-8))[:, None]
    for k in (3, 5):
        out[f"c_gmax{k}"] = F.max_pool2d(F.pad(cos, (k // 2,) * 4, mode="replicate"), k, stride=1)[:, 0]
    return out


def patch_to_pixels(grid: np.ndarray, h: int, w: int, patch: float) -> np.ndarray:
    """(gh, gw, K) values at patch centres -> (h, w, K) per pixel, bilinear (clamped at the edges)."""
    gh, gw, _ = grid.shape

    def axis(n: int, g: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = (np.arange(n) + 0.5) / patch - 0.5
        i0 = np.clip(np.floor(t).astype(int), 0, g - 1)
        return i0, np.clip(i0 + 1, 0, g - 1), np.clip(t - np.floor(t), 0.0, 1.0).astype(np.float32)

    y0, y1, fy = axis(h, gh)
    x0, x1, fx = axis(w, gw)
    fy, fx = fy[:, None, None], fx[None, :, None]
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x1] * fx
    bot = grid[y1][:, x0] * (1 - fx) + grid[y1][:, x1] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)
