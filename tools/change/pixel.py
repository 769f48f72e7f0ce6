"""Per-pixel change features at full resolution, for the supervised head.

Galileo's patch distances say *where* the scene's meaning changed, but at patch resolution (80 m on Sentinel-2,
16 px on very-high-resolution imagery). These features add what a patch cannot: pixel-level band and index
differences, the same differences averaged over several neighbourhoods, texture and edge changes, the spectral
indices of each date on Sentinel-2 (OSCD labels urban change only: what the land became matters), and, for RGB
imagery, distances between the two dates' EfficientNet-Lite0 feature maps at strides 4, 8 and 16, plus the after
date's stride-16 activations themselves. LEVIR and DSIFN label changed *buildings*: a new lawn or driveway changes the
pixels as much as a new roof, and only a semantic feature of what stands there now tells them apart (leave-one-out,
these activations raised the head's held-out F1 on LEVIR pairs from 0.486 to 0.594; Galileo embedding vectors,
tried the same way, lowered it).

Band differences come twice: in Galileo's normalised units and after standardising each date with its own image
statistics (`ImageStats`, from the overview read when a job is prepared), which removes most of the seasonal and
atmospheric offset between two acquisitions; on held-out OSCD cities and LEVIR/DSIFN pairs that made the head
transfer to places it never saw. All filters are local (largest window 31 px), so tiles with overlap give the same
values as whole images, away from the scene border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import sobel, uniform_filter

from tools.change.bands import BandMap, galileo_stats
from tools.change.galileo import SPACE_TIME_BANDS

S2_INDICES = {  # name: (a, b) -> (a - b) / (a + b)
    "ndvi": ("B8", "B4"),
    "ndbi": ("B11", "B8"),
    "ndwi": ("B3", "B8"),
    "mndwi": ("B3", "B11"),
}
EFFNET_STAGES = {"e4": 2, "e8": 4, "e16": 10}  # EfficientNet-Lite0 block ending each stride-4/8/16 stage
AFTER_STAGES = ("e16",)  # stages whose after-date activations are features themselves (chosen leave-one-out, README)


@dataclass(frozen=True)
class ImageStats:
    """Per-band mean and std of each date (Galileo-normalised units), in `BandMap.used_bands` order."""

    mean1: np.ndarray
    std1: np.ndarray
    mean2: np.ndarray
    std2: np.ndarray


def image_stats(x1: np.ndarray, x2: np.ndarray, bm: BandMap) -> ImageStats:
    """Statistics of sample pixels (..., 13) of each date (non-finite rows ignored)."""
    used = [SPACE_TIME_BANDS.index(n) for n in bm.used_bands]
    a, b = x1.reshape(-1, 13)[:, used], x2.reshape(-1, 13)[:, used]
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    a, b = (a[ok], b[ok]) if ok.any() else (np.zeros((1, len(used))), np.zeros((1, len(used))))
    return ImageStats(
        a.mean(0).astype(np.float32),
        a.std(0).astype(np.float32) + 1e-3,
        b.mean(0).astype(np.float32),
        b.std(0).astype(np.float32) + 1e-3,
    )


def _smooth(a: np.ndarray, k: int) -> np.ndarray:
    return uniform_filter(a, size=(1, k, k), mode="reflect")


def _nd(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (a - b) / (a + b)
    return np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0).clip(-1, 1)


def _local_std(a: np.ndarray, k: int) -> np.ndarray:
    return np.sqrt(np.maximum(_smooth(a * a, k) - _smooth(a, k) ** 2, 0.0))


def _reflectance(x: np.ndarray, bm: BandMap) -> dict[str, np.ndarray]:
    mean, std = galileo_stats()
    return {
        g: x[..., SPACE_TIME_BANDS.index(g)] * std[SPACE_TIME_BANDS.index(g)] + mean[SPACE_TIME_BANDS.index(g)]
        for g in bm.used_bands
    }


def pixel_features(x1: np.ndarray, x2: np.ndarray, bm: BandMap, stats: ImageStats) -> dict[str, np.ndarray]:
    """(B, H, W, 13) normalised bands of both dates -> named (B, H, W) float32 features."""
    used = [SPACE_TIME_BANDS.index(n) for n in bm.used_bands]
    a, b = x1[..., used], x2[..., used]
    za, zb = (a - stats.mean1) / stats.std1, (b - stats.mean2) / stats.std2
    f: dict[str, np.ndarray] = {}
    for k, n in enumerate(bm.used_bands):
        f[f"d_{n}"] = b[..., k] - a[..., k]
        f[f"rn_{n}"] = zb[..., k] - za[..., k]
    mag = np.sqrt(((zb - za) ** 2).mean(-1))
    f["rcva"] = mag
    f["sam"] = 1 - (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-6)
    s2 = bm.scaling == "s2dn"
    for s in (3, 7, 15) if s2 else (3, 7, 15, 31):
        f[f"rcva_{s}"] = _smooth(mag, s)
    if s2:
        r1, r2 = _reflectance(x1, bm), _reflectance(x2, bm)
        idx = {n: (_nd(r1[p], r1[q]), _nd(r2[p], r2[q])) for n, (p, q) in S2_INDICES.items() if p in r1 and q in r1}
        idx["bright"] = tuple((r["B2"] + r["B3"] + r["B4"]) / 30000.0 for r in (r1, r2))
        for n, (i1, i2) in idx.items():
            d = i2 - i1
            f[f"dx_{n}"] = d
            f[f"x1_{n}"], f[f"x2_{n}"] = i1, i2  # what the land was and became (built-up vs crops)
            for s in (3, 7, 15):
                f[f"dx_{n}_{s}"] = _smooth(d, s)
        bright1, bright2 = idx["bright"]
    else:  # no radiometric scale shared across sensors: standardised brightness and chroma
        bright1, bright2 = za.mean(-1), zb.mean(-1)
        d = bright2 - bright1
        f["dx_bright"] = d
        for s in (3, 7, 15, 31):
            f[f"dx_bright_{s}"] = _smooth(d, s)
        ch1, ch2 = za - za.mean(-1, keepdims=True), zb - zb.mean(-1, keepdims=True)
        dch = np.sqrt(((ch2 - ch1) ** 2).sum(-1))
        f["dchroma"] = dch
        for s in (7, 15):
            f[f"dchroma_{s}"] = _smooth(dch, s)
    for s in (5, 11):
        t1, t2 = _local_std(bright1, s), _local_std(bright2, s)
        f[f"tex_d_{s}"] = t2 - t1
        f[f"tex1_{s}"], f[f"tex2_{s}"] = t1, t2
    g1 = np.hypot(sobel(bright1, 1), sobel(bright1, 2))
    g2 = np.hypot(sobel(bright2, 1), sobel(bright2, 2))
    for s in (3, 9):
        f[f"grad_d_{s}"] = _smooth(g2, s) - _smooth(g1, s)
    return {k: v.astype(np.float32, copy=False) for k, v in f.items()}


def net_input(rgb: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(..., 3) RGB and that image's per-band mean/std -> the net's ~[-1, 1] input (standardised, halved, clipped):
    one image's statistics only, so sensors and acquisitions with other radiometry land on the same scale."""
    return np.clip((rgb - mean) / std * 0.5, -1.5, 1.5)


def effnet_maps(rgb: np.ndarray, stages: dict[str, int] | None = None) -> dict[str, torch.Tensor]:
    """(N, H, W, 3) inputs in about [-1, 1] (`net_input`) -> EfficientNet-Lite0 activations at the ends of `stages`
    (block index per name; default EFFNET_STAGES)."""
    from tools.image_features import get_model

    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))).float()
    with torch.inference_mode():
        return get_model().stage_maps(x, stages or EFFNET_STAGES)


def _upsample(m: torch.Tensor, h: int, w: int) -> np.ndarray:
    return F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False).numpy()


def deep_features(x1: np.ndarray, x2: np.ndarray, bm: BandMap, stats: ImageStats) -> dict[str, np.ndarray]:
    """EfficientNet-Lite0 features of RGB imagery, upsampled to pixels: cosine and relative L2 distances of the
    dates' maps, and the after date's stride-16 activations (what stands there now: a roof, a yard, a road)."""
    used = [SPACE_TIME_BANDS.index(n) for n in ("B4", "B3", "B2")]
    j = [bm.used_bands.index(n) for n in ("B4", "B3", "B2")]

    def prep(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        return net_input(x[..., used], mean[j], std[j])

    n, h, w = x1.shape[:3]
    maps = effnet_maps(np.concatenate([prep(x1, stats.mean1, stats.std1), prep(x2, stats.mean2, stats.std2)]))
    f = {}
    for name, m in maps.items():
        m1, m2 = m[:n], m[n:]
        cos = 1 - F.cosine_similarity(m1, m2, dim=1)
        l2 = (m1 - m2).norm(dim=1) / (m1.norm(dim=1) + m2.norm(dim=1) + 1e-6)
        for k, v in (("cos", cos), ("l2", l2)):
            f[f"{name}_{k}"] = _upsample(v[:, None], h, w)[:, 0]
    for name in AFTER_STAGES:
        up = _upsample(maps[name][n:], h, w)
        f.update({f"after_{name}_{c:03d}": up[:, c] for c in range(up.shape[1])})
    return f


def has_rgb(bm: BandMap) -> bool:
    return all(b in bm.used_bands for b in ("B2", "B3", "B4"))
