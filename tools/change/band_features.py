"""Per-tile change features from Galileo: patch embeddings of both dates and their distances.

Full-resolution pixel features for the supervised head live in `tools.change.pixel`.

Everything works on batches of equally sized tiles (B, T, T, 13) already mapped to Galileo's normalised bands,
so the same code serves the zero-shot score, the change-vector baseline and the supervised head.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from tools.change.bands import BandMap
from tools.change.galileo import GalileoPatchEncoder


@dataclass(frozen=True)
class Regime:
    """Processing settings for one kind of imagery (chosen by measurement, see accuracy.py)."""

    name: str
    patch_size: int
    tile: int = 64
    overlap: int = 16
    downscale: int = 1  # average-pool pixels before encoding (very-high-resolution imagery)
    batch: int = 8
    min_pixels: int = 4  # smallest change patch kept (pixels)
    per_date_scaling: bool = False  # standardise each date with its own statistics (`bands.fit_scaling`)


REGIMES = {
    "s2": Regime("s2", patch_size=8, tile=64, overlap=8, min_pixels=4),
    # Per-date scaling, by measurement (`sentinelle eval change`): on the Taizhou/Nanjing Landsat pairs it raised
    # zero-shot F1 from 0.42 to 0.79 and CVA from 0.44 to 0.85; on LEVIR/DSIFN it lowered both a little.
    "multispectral": Regime("multispectral", patch_size=8, tile=64, overlap=8, min_pixels=4, per_date_scaling=True),
    # 256 px tiles with 32 px of overlap compute each pixel ~1.8 times (128 px tiles: 4 times): a 2048² preview
    # 22.2 -> 13.9 s; decision-pair F1 0.583 -> 0.578 (docs/change-accuracy.md, "VHR tile size").
    "vhr": Regime("vhr", patch_size=4, tile=256, overlap=32, downscale=4, min_pixels=20),
}


def choose_regime(bm: BandMap, pixel_size_m: float | None) -> Regime:
    """Sentinel-2 bands -> s2; decametric multispectral -> multispectral; sub-3 m or unknown RGB -> vhr."""
    if bm.sensor == "sentinel-2" and len(bm.visible_groups) >= 4:
        return REGIMES["s2"]
    if pixel_size_m is None or pixel_size_m < 3.0:
        return REGIMES["vhr"]
    return REGIMES["multispectral"]


@lru_cache(maxsize=32)
def _group_index(visible: tuple[str, ...]) -> list[int]:
    from tools.change.galileo import SPACE_TIME_GROUPS

    return [i for i, g in enumerate(SPACE_TIME_GROUPS) if g in visible]


def embed(
    encoder: GalileoPatchEncoder, x: np.ndarray, months: np.ndarray, bm: BandMap, regime: Regime,
    input_res_m: float = 10.0,
) -> torch.Tensor:
    """(B, T, T, 13) normalised bands -> (B, T/(p*d), T/(p*d), D) mean token of the visible groups per patch."""
    b, h, w, _ = x.shape
    device = next(encoder.parameters()).device  # the GPU when SENTINELLE_TORCH_DEVICE gives one
    xt = torch.from_numpy(np.ascontiguousarray(x)).to(device)
    if regime.downscale > 1:
        xt = F.avg_pool2d(xt.permute(0, 3, 1, 2), regime.downscale).permute(0, 2, 3, 1)
        h, w = xt.shape[1:3]
    gm = torch.from_numpy(bm.group_mask).to(device)
    s_t_x = xt[:, :, :, None, :]
    s_t_m = gm.expand(b, h, w, 1, 7)
    sp_x = xt.new_zeros(b, h, w, 16)
    sp_m = xt.new_ones(b, h, w, 3)
    t_x, t_m = xt.new_zeros(b, 1, 6), xt.new_ones(b, 1, 3)
    st_x, st_m = xt.new_zeros(b, 18), xt.new_ones(b, 4)
    m = torch.as_tensor(months, dtype=torch.long, device=device).reshape(b, 1)
    with torch.no_grad():
        out = encoder(
            s_t_x,
            sp_x,
            t_x,
            st_x,
            s_t_m,
            sp_m,
            t_m,
            st_m,
            m,
            patch_size=regime.patch_size,
            input_resolution_m=input_res_m,
        )[0]
    idx = _group_index(tuple(bm.visible_groups))
    return out[:, :, :, 0, idx, :].mean(dim=3).cpu()


def upsample(a: torch.Tensor, size: int) -> np.ndarray:
    """(B, h, w) patch values -> (B, size, size) pixel values, bilinear."""
    return F.interpolate(a[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0].numpy()


def galileo_distances(e1: torch.Tensor, e2: torch.Tensor, size: int) -> dict[str, np.ndarray]:
    """Cosine and L2 distances between the dates' patch embeddings, at pixel resolution."""
    cos = 1.0 - F.cosine_similarity(e1, e2, dim=-1)
    l2 = (e1 - e2).norm(dim=-1) / e1.shape[-1] ** 0.5
    ctx = F.avg_pool2d(cos[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]
    return {"g_cos": upsample(cos, size), "g_l2": upsample(l2, size), "g_cos_ctx": upsample(ctx, size)}
