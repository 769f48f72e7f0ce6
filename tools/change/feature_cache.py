"""Per-pair feature cache for accuracy work: the head's per-pixel features and both dates' Galileo patch
embeddings of one labelled pair, computed once tile by tile exactly as the pipeline scores a scene, stored as npz
under `<data_dir>/change-features/<regime>/` so that each experiment is a quick fit instead of an encoder run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.change.job import prepare, read_padded, score_batch, tile_windows, valid_pixels
from tools.change.labels import Pair, read_label
from tools.change.sources import AlignedReader
from tools.core.settings import get_settings

CACHE_VERSION = "1"


@dataclass
class PairFeatures:
    """One pair's cached arrays: features (H, W, F) float16, names, label/valid (H, W), embeddings of each date on
    the patch grid (H/p, W/p, D) float16 (patch p of the regime; row k covers pixels k*p .. k*p+p-1)."""

    pair: Pair
    names: list[str]
    x: np.ndarray
    label: np.ndarray
    valid: np.ndarray
    e1: np.ndarray
    e2: np.ndarray
    patch: int


def cache_dir(regime: str) -> Path:
    return get_settings().data_dir / "change-features" / regime


def compute(pair: Pair) -> PairFeatures:
    """Features, label, valid mask and both dates' patch embeddings of a pair (minutes on CPU for a city)."""
    job = prepare(pair.before, pair.after, method="zeroshot")
    grid, regime = job.grid, job.regime
    o, p = regime.overlap, regime.patch_size * regime.downscale
    if o % p or (regime.tile - 2 * o) % p:
        raise ValueError(f"regime {regime.name}: overlap and core must be whole patches to keep embeddings")
    names: list[str] = []
    arr = e1g = e2g = None
    valid = np.zeros((grid.height, grid.width), bool)
    cores = tile_windows(grid, regime)
    with AlignedReader(job.before, grid) as r1, AlignedReader(job.after, grid) as r2:
        for i in range(0, len(cores), regime.batch):
            batch = cores[i : i + regime.batch]
            raw1 = np.stack([read_padded(r1, w, grid, regime) for w in batch])
            raw2 = np.stack([read_padded(r2, w, grid, regime) for w in batch])
            out = score_batch(job, raw1, raw2, want_features=True)
            feats, (b1, b2) = out["features"], out["embeddings"]
            if arr is None:
                names = sorted(feats)
                arr = np.zeros((grid.height, grid.width, len(names)), np.float16)
                gh, gw = -(-grid.height // p), -(-grid.width // p)
                e1g = np.zeros((gh, gw, b1.shape[-1]), np.float16)
                e2g = np.zeros_like(e1g)
            for k, w in enumerate(batch):
                h, wd, r, c = int(w.height), int(w.width), int(w.row_off), int(w.col_off)
                arr[r : r + h, c : c + wd] = np.stack([feats[n][k, o : o + h, o : o + wd] for n in names], -1)
                valid[r : r + h, c : c + wd] = valid_pixels(
                    raw1[k][:, o : o + h, o : o + wd], job.before.nodata
                ) & valid_pixels(raw2[k][:, o : o + h, o : o + wd], job.after.nodata)
                ph, pw, pr, pc, po = -(-h // p), -(-wd // p), r // p, c // p, o // p
                e1g[pr : pr + ph, pc : pc + pw] = np.asarray(b1[k])[po : po + ph, po : po + pw]
                e2g[pr : pr + ph, pc : pc + pw] = np.asarray(b2[k])[po : po + ph, po : po + pw]
    return PairFeatures(pair, names, arr, read_label(pair), valid, e1g, e2g, p)


def load_or_compute(pair: Pair, regime: str) -> PairFeatures:
    """The cached arrays of a pair, computed and written first when missing or of another cache version."""
    path = cache_dir(regime) / f"{pair.dataset}_{pair.name}.npz"
    if path.exists():
        z = np.load(path, allow_pickle=False)
        if str(z["version"]) == CACHE_VERSION:
            return PairFeatures(
                pair, [str(n) for n in z["names"]], z["x"], z["label"], z["valid"], z["e1"], z["e2"], int(z["patch"])
            )
    f = compute(pair)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp, version=CACHE_VERSION, names=np.array(f.names), x=f.x, label=f.label, valid=f.valid, e1=f.e1, e2=f.e2,
        patch=f.patch,
    )
    tmp.replace(path)
    return f
