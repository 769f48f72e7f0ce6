"""One change job: two inputs opened on one grid, their bands mapped, the method and head chosen, and the
scoring of a batch of overlapping tiles (shared by the pipeline and the head's training, below both).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from rasterio.transform import Affine
from rasterio.windows import Window

from tools.change.band_features import Regime, choose_regime, embed, galileo_distances
from tools.change.bands import BandMap, common_bands, fit_scaling, month_index, to_galileo
from tools.change.cva import cva_score
from tools.change.head import (
    HEAD_REGIMES,
    ChangeHead,
    head_fits,
    head_path,
    load_head,
    sparse_positions,
    upsample_sparse,
)
from tools.change.pixel import deep_features, has_rgb, image_stats, pixel_features
from tools.change.sources import AlignedReader, Grid, Source, check_overlap, open_source
from tools.core.errors import BadInputError
from tools.core.results import ProgressCallback, no_progress

METHODS = ("zeroshot", "head", "cva")


@lru_cache(maxsize=4)
def get_encoder(size: str = "nano"):
    """The Galileo encoder, loaded once per process (nano ships offline; tiny/base download when online)."""
    from tools.change.galileo import load_encoder
    from tools.change.weights import encoder_files
    from tools.torch_device import torch_device

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    weights, config = encoder_files(size)
    return load_encoder(weights, config, size).to(torch_device())


@dataclass
class ChangeJob:
    """Two aligned sources and everything needed to score them."""

    before: Source
    after: Source
    bms: tuple[BandMap, BandMap]
    regime: Regime
    months: tuple[int, int]
    method: str
    encoder_size: str = "nano"
    overlap_fraction: float = 1.0
    head: object | None = None
    extras: dict = field(default_factory=dict)

    @property
    def grid(self) -> Grid:
        return self.before.grid


def prepare(
    before: str | Path | Source,
    after: str | Path | Source,
    method: str = "auto",
    encoder_size: str = "nano",
    head: object | None = None,
    window: tuple[int, int, int, int] | None = None,
    head_source: Callable[[str], ChangeHead | None] = load_head,
    progress: ProgressCallback = no_progress,
) -> ChangeJob:
    """Opens both inputs, checks they overlap, maps their bands onto shared Galileo bands, fits scaling.

    `window` (col, row, width, height) restricts the job to part of the before grid (georeferenced inputs).
    Unless given, the head is `head_source(regime)`: the cached one by default; the pipeline passes
    `tools.change.training.load_or_train_head` for method 'head', which fits a missing one first.
    `progress` goes from 0 to 1 over these steps (reading the overviews of large scenes takes most of it).
    """
    progress(0.0, "opening the before image")
    b = before if isinstance(before, Source) else open_source(before)
    progress(0.1, "opening the after image")
    a = after if isinstance(after, Source) else open_source(after)
    progress(0.2, "checking the overlap and the shared bands")
    if window is not None:
        if not b.grid.georeferenced:
            raise BadInputError("a window can only be given for georeferenced images")
        col, row, width, height = window
        width, height = min(width, b.grid.width - col), min(height, b.grid.height - row)
        if width <= 0 or height <= 0 or col < 0 or row < 0:
            raise BadInputError("the window lies outside the before image")
        t = b.grid.transform
        b.grid = Grid(b.grid.crs, t * Affine.translation(col, row), width, height)
    frac = check_overlap(b, a)
    bm1, bm2 = common_bands([b.band_map, a.band_map])
    if not bm1.visible_groups:
        raise BadInputError("the two images share no usable bands (need at least red, green and blue)")
    regime = choose_regime(bm1, b.grid.pixel_size_m())
    with AlignedReader(b, b.grid) as r1, AlignedReader(a, b.grid) as r2:
        progress(0.25, "reading an overview of the before image")
        o1 = r1.read_overview()
        progress(0.45, "reading an overview of the after image, aligned on the before grid")
        o2 = r2.read_overview()
    progress(0.65, "fitting the band scaling of both dates")
    fit_scaling([bm1, bm2], [o1, o2], per_date=regime.per_date_scaling)
    progress(0.7, "measuring the image statistics of both dates")
    stats = image_stats(to_galileo(o1[:, :, None], bm1), to_galileo(o2[:, :, None], bm2), bm1)
    if method not in (*METHODS, "auto"):
        raise BadInputError(f"unknown method '{method}': use one of auto, {', '.join(METHODS)}")
    if method in ("auto", "head") and head is None:
        progress(0.75, f"loading the change head ({regime.name})")
        head = head_source(regime.name)  # its bands are checked below
        if head is None and method == "head":
            raise BadInputError(
                f"no trained change head for this kind of imagery ({regime.name}, bands "
                f"{', '.join(bm1.used_bands)}): run `sentinelle change train-head`, or use "
                "--method zeroshot"
            )
    if method in ("auto", "head") and head is not None:
        if not head_fits(head, bm1) or head.regime != regime.name:
            if method == "head":
                raise BadInputError(
                    f"the change head was trained for {head.regime} imagery with bands "
                    f"{', '.join(n[2:] for n in head.feature_names if n.startswith('d_'))}; "
                    "these images differ: use --method zeroshot"
                )
            head = None
    extras: dict = {}
    if method == "auto":
        if head is None and regime.name in HEAD_REGIMES and not head_path(regime.name).exists():
            extras["head_missing"] = True  # said in the answer: the head is fitted in the background
        method = "head" if head is not None else "zeroshot"
    return ChangeJob(
        b,
        a,
        (bm1, bm2),
        regime,
        (month_index(b.date), month_index(a.date)),
        method,
        encoder_size,
        frac,
        head,
        {"stats": stats, **extras},
    )


def tile_windows(grid: Grid, regime: Regime) -> list[Window]:
    """Core windows (stride = tile - 2*overlap) covering the grid."""
    stride = regime.tile - 2 * regime.overlap
    return [
        Window(c, r, min(stride, grid.width - c), min(stride, grid.height - r))
        for r in range(0, grid.height, stride)
        for c in range(0, grid.width, stride)
    ]


def read_padded(reader: AlignedReader, core: Window, grid: Grid, regime: Regime) -> np.ndarray:
    """(C, T, T) raw values: the core plus its overlap, mirrored where it leaves the grid."""
    o, t = regime.overlap, regime.tile
    c0, r0 = max(0, core.col_off - o), max(0, core.row_off - o)
    c1 = min(grid.width, core.col_off + core.width + o)
    r1 = min(grid.height, core.row_off + core.height + o)
    data = reader.read(Window(c0, r0, c1 - c0, r1 - r0))
    top, left = o - (core.row_off - r0), o - (core.col_off - c0)
    bottom, right = t - top - data.shape[1], t - left - data.shape[2]
    return np.pad(data, ((0, 0), (top, bottom), (left, right)), mode="reflect" if min(data.shape[1:]) > 1 else "edge")


def valid_pixels(raw: np.ndarray, nodata: list) -> np.ndarray:
    """Pixels of a (C, H, W) tile that hold data: finite, not all zero, not any band's nodata."""
    ok = np.all(np.isfinite(raw), axis=0) & np.any(raw != 0, axis=0)
    for k, nd in enumerate(nodata[: raw.shape[0]]):
        if nd is not None and nd != 0 and not (isinstance(nd, float) and math.isnan(nd)):
            ok &= raw[k] != nd
    return ok


def encode_pair(job: ChangeJob, x1: np.ndarray | None, x2: np.ndarray | None) -> tuple:
    """Galileo embeddings of the tiles of both dates ((B, T, T, 13) each), in one encoder call; a date given as
    None (its embeddings cached) is not encoded and comes back as None."""
    xs = [(x, m) for x, m in ((x1, job.months[0]), (x2, job.months[1])) if x is not None]
    if not xs:
        return None, None
    months = np.concatenate([np.full(len(x), m) for x, m in xs])
    e = embed(get_encoder(job.encoder_size), np.concatenate([x for x, _ in xs]), months, job.bms[0], job.regime)
    n1 = len(x1) if x1 is not None else 0
    return (e[:n1] if x1 is not None else None), (e[n1:] if x2 is not None else None)


def score_batch(
    job: ChangeJob,
    raw1: np.ndarray,
    raw2: np.ndarray,
    want_features: bool = False,
    embeddings: tuple | None = None,
    stride: int = 1,
) -> dict:
    """Scores a batch of tiles: raw (B, C, T, T) of each date -> score (B, T, T) (+ features when asked).

    `embeddings`: the dates' Galileo tile embeddings when known (cached), a date given as None is encoded here;
    they come back under "embeddings". `stride` > 1 classifies every stride-th pixel of each tile with the head
    and interpolates the probability bilinearly in between (the fast preview; 1 is full resolution).
    """
    bm1, bm2 = job.bms
    x1 = np.stack([to_galileo(r, bm1) for r in raw1])
    x2 = np.stack([to_galileo(r, bm2) for r in raw2])
    out: dict = {}
    seconds = out["seconds"] = {}  # per stage, to estimate how long a full-resolution refinement takes
    t = x1.shape[1]
    need_galileo = job.method in ("zeroshot", "head") or want_features
    if need_galileo:
        t0 = time.perf_counter()
        e1, e2 = embeddings or (None, None)
        c1, c2 = encode_pair(job, x1 if e1 is None else None, x2 if e2 is None else None)
        e1, e2 = (c1 if e1 is None else e1), (c2 if e2 is None else e2)
        out["embeddings"] = (e1, e2)
        dist = galileo_distances(torch.as_tensor(e1), torch.as_tensor(e2), t)
        out["zeroshot"] = dist["g_cos"]
        seconds["galileo"] = time.perf_counter() - t0
    if job.method == "head" or want_features:
        t0 = time.perf_counter()
        stats = job.extras["stats"]
        feats = {**dist, **pixel_features(x1, x2, bm1, stats)}
        if job.regime.name != "s2" and has_rgb(bm1):
            feats.update(deep_features(x1, x2, bm1, stats))
        out["features"] = feats
        seconds["features"] = time.perf_counter() - t0
        if job.method == "head":
            t0 = time.perf_counter()
            # Only the tile cores are kept, so only they (plus the smoothing margin) are classified.
            m = max(0, job.regime.overlap - job.head.smooth // 2)
            inner = slice(m, t - m)
            out["head"] = np.zeros((len(x1), t, t), np.float32)
            if stride <= 1:
                stack = np.stack([feats[k][:, inner, inner] for k in job.head.feature_names], axis=-1)
                out["head"][:, inner, inner] = job.head.predict_map(stack)
            else:
                pos = sparse_positions(t - 2 * m, stride)
                ix = np.ix_(np.arange(len(x1)), pos + m, pos + m)
                stack = np.stack([feats[k][ix] for k in job.head.feature_names], axis=-1)
                p = job.head.predict_proba(stack.reshape(-1, stack.shape[-1])).reshape(stack.shape[:-1])
                out["head"][:, inner, inner] = job.head.smooth_map(upsample_sparse(p, pos, t - 2 * m))
            seconds["head"] = time.perf_counter() - t0
            out["head_pixels_full"] = len(x1) * (t - 2 * m) ** 2
            out["head_pixels"] = out["head_pixels_full"] if stride <= 1 else len(x1) * len(pos) ** 2
    if job.method == "cva":
        out["cva"] = cva_score(x1, x2, bm1)
    out["score"] = out[job.method]
    return out
