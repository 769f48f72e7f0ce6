"""Change pipeline: align two dates, score change tile by tile, threshold, polygonise, write COGs and a summary.

Pass 1 reads date 2 onto date 1's grid window by window, scores batches of overlapping tiles and streams the
core of each tile into a tiled GeoTIFF while building a histogram; pass 2 thresholds block by block, writes the
mask and the polygons. Memory depends on the tile and block sizes, not on the scene size.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from rasterio.windows import Window

from tools.change.bands import BandMap, common_bands, fit_scaling, month_index, to_galileo
from tools.change.cva import cva_score, otsu_threshold
from tools.change.features import Regime, choose_regime, embed, galileo_distances
from tools.change.pixel import deep_features, has_rgb, image_stats, pixel_features
from tools.change.polygons import polygonize_mask
from tools.change.sources import BLOCK, AlignedReader, Grid, Source, check_overlap, open_source
from tools.core.errors import BadInputError
from tools.core.results import ProgressCallback, no_progress
from tools.rasters.open import open_raster
from tools.torch_device import batch_size

METHODS = ("zeroshot", "head", "cva")
SCORE_RANGE = {"zeroshot": 1.0, "cva": 6.0, "head": 1.0}
NODATA_MASK = 255
OUTPUT_FILES = ("score.tif", "mask.tif", "changes.geojson", "summary.json")  # what run_change writes
GDAL_CACHE_MB = 128


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
) -> ChangeJob:
    """Opens both inputs, checks they overlap, maps their bands onto shared Galileo bands, fits scaling.

    `window` (col, row, width, height) restricts the job to part of the before grid (georeferenced inputs).
    """
    b = before if isinstance(before, Source) else open_source(before)
    a = after if isinstance(after, Source) else open_source(after)
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
        o1, o2 = r1.read_overview(), r2.read_overview()
    fit_scaling([bm1, bm2], [o1, o2], per_date=regime.per_date_scaling)
    stats = image_stats(to_galileo(o1[:, :, None], bm1), to_galileo(o2[:, :, None], bm2), bm1)
    if method not in (*METHODS, "auto"):
        raise BadInputError(f"unknown method '{method}': use one of auto, {', '.join(METHODS)}")
    if method in ("auto", "head") and head is None:
        from tools.change.head import load_head

        head = load_head(regime.name, train_if_missing=method == "head")  # its bands are checked below
        if head is None and method == "head":
            raise BadInputError(
                f"no trained change head for this kind of imagery ({regime.name}, bands "
                f"{', '.join(bm1.used_bands)}): run `sentinelle change train-head`, or use "
                "--method zeroshot"
            )
    if method in ("auto", "head") and head is not None:
        from tools.change.head import head_fits

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
        from tools.change.head import head_path

        if head is None and regime.name in ("s2", "vhr") and not head_path(regime.name).exists():
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


def _read_padded(reader: AlignedReader, core: Window, grid: Grid, regime: Regime) -> np.ndarray:
    """(C, T, T) raw values: the core plus its overlap, mirrored where it leaves the grid."""
    o, t = regime.overlap, regime.tile
    c0, r0 = max(0, core.col_off - o), max(0, core.row_off - o)
    c1 = min(grid.width, core.col_off + core.width + o)
    r1 = min(grid.height, core.row_off + core.height + o)
    data = reader.read(Window(c0, r0, c1 - c0, r1 - r0))
    top, left = o - (core.row_off - r0), o - (core.col_off - c0)
    bottom, right = t - top - data.shape[1], t - left - data.shape[2]
    return np.pad(data, ((0, 0), (top, bottom), (left, right)), mode="reflect" if min(data.shape[1:]) > 1 else "edge")


def _valid(raw: np.ndarray, nodata: list) -> np.ndarray:
    ok = np.all(np.isfinite(raw), axis=0) & np.any(raw != 0, axis=0)
    for k, nd in enumerate(nodata[: raw.shape[0]]):
        if nd is not None and nd != 0 and not (isinstance(nd, float) and math.isnan(nd)):
            ok &= raw[k] != nd
    return ok


def score_batch(job: ChangeJob, raw1: np.ndarray, raw2: np.ndarray, want_features: bool = False) -> dict:
    """Scores a batch of tiles: raw (B, C, T, T) of each date -> score (B, T, T) (+ features when asked)."""
    bm1, bm2 = job.bms
    x1 = np.stack([to_galileo(r, bm1) for r in raw1])
    x2 = np.stack([to_galileo(r, bm2) for r in raw2])
    out: dict = {}
    t = x1.shape[1]
    need_galileo = job.method in ("zeroshot", "head") or want_features
    if need_galileo:
        enc = get_encoder(job.encoder_size)
        n = len(x1)
        months = np.array([job.months[0]] * n + [job.months[1]] * n)
        e = embed(enc, np.concatenate([x1, x2]), months, bm1, job.regime)
        dist = galileo_distances(e[:n], e[n:], t)
        out["zeroshot"] = dist["g_cos"]
    if job.method == "head" or want_features:
        stats = job.extras["stats"]
        feats = {**dist, **pixel_features(x1, x2, bm1, stats)}
        if job.regime.name != "s2" and has_rgb(bm1):
            feats.update(deep_features(x1, x2, bm1, stats))
        out["features"] = feats
        if job.method == "head":
            # Only the tile cores are kept, so only they (plus the smoothing margin) are classified.
            m = max(0, job.regime.overlap - job.head.smooth // 2)
            inner = slice(m, t - m)
            stack = np.stack([feats[k][:, inner, inner] for k in job.head.feature_names], axis=-1)
            out["head"] = np.zeros((len(x1), t, t), np.float32)
            out["head"][:, inner, inner] = job.head.predict_map(stack)
    if job.method == "cva":
        out["cva"] = cva_score(x1, x2, bm1)
    out["score"] = out[job.method]
    return out


def _batches(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def to_cog(src: Path, dst: Path) -> None:
    """Rewrites a tiled GeoTIFF as a Cloud-Optimised GeoTIFF (streamed, with overviews)."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        cog_translate(
            str(src),
            str(dst),
            cog_profiles.get("deflate"),
            quiet=True,
            in_memory=False,
            overview_resampling="nearest",
            config={"GDAL_NUM_THREADS": "1"},
        )


def run_change(
    before,
    after,
    out_dir: Path,
    method: str = "auto",
    progress: ProgressCallback = no_progress,
    encoder_size: str = "nano",
    head: object | None = None,
    threshold: float | None = None,
    window: tuple[int, int, int, int] | None = None,
    clouds: bool = False,
) -> dict:
    """Runs a change job end to end; returns the summary (also written to summary.json).

    With `clouds`, clouds and shadows of either date (ukis-csmask, when the bands allow) are left out.
    """
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB), warnings.catch_warnings():  # GDAL's cache: bounded
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # pixel-grid inputs (PNG pairs) write pixel grids
        return _run_change(before, after, out_dir, method, progress, encoder_size, head, threshold, window, clouds)


def _run_change(before, after, out_dir, method, progress, encoder_size, head, threshold, window, clouds) -> dict:
    t0 = time.perf_counter()
    progress(0.0, "opening images")
    job = prepare(before, after, method, encoder_size, head, window)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid, regime = job.grid, job.regime
    if job.method == "cva":  # per-pixel: large tiles, no encoder context needed
        regime = dataclasses.replace(regime, tile=512, overlap=8, batch=1)
    cores = tile_windows(grid, regime)
    hi = SCORE_RANGE[job.method]
    edges = np.linspace(0.0, hi, 1025)
    hist = np.zeros(1024, np.int64)
    n_valid = 0
    cloud_info: dict = {"requested": clouds, "applied": False}
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".work") as tmp:
        tmp_score = Path(tmp) / "score.tif"
        with AlignedReader(job.before, grid) as r1, AlignedReader(job.after, grid) as r2, ExitStack() as stack:
            cloud_readers = []
            if clouds:
                from tools.change.clouds import cloud_bands, write_cloud_mask

                if cloud_bands(job.bms[0]) is None:
                    cloud_info["reason"] = "needs Sentinel-2 reflectance in blue, green, red and NIR"
                else:
                    progress(0.02, "masking clouds and shadows")
                    for k, (reader, bm) in enumerate(((r1, job.bms[0]), (r2, job.bms[1]))):
                        path = Path(tmp) / f"clouds_{k}.tif"
                        cloud_info[f"date{k + 1}_cloud_pixels"] = write_cloud_mask(reader, bm, grid, path)
                        cloud_readers.append(stack.enter_context(open_raster(path)))
                    cloud_info["applied"] = True
            dst = stack.enter_context(rasterio.open(tmp_score, "w", **grid.profile("float32", float("nan"))))
            done = 0
            for batch in _batches(cores, batch_size(regime.batch)):
                raw1 = np.stack([_read_padded(r1, w, grid, regime) for w in batch])
                raw2 = np.stack([_read_padded(r2, w, grid, regime) for w in batch])
                scores = score_batch(job, raw1, raw2)["score"]
                o = regime.overlap
                for k, w in enumerate(batch):
                    h, wd = int(w.height), int(w.width)
                    s = scores[k, o : o + h, o : o + wd].astype(np.float32)
                    ok = _valid(raw1[k][:, o : o + h, o : o + wd], job.before.nodata) & _valid(
                        raw2[k][:, o : o + h, o : o + wd], job.after.nodata
                    )
                    for cr in cloud_readers:
                        ok &= cr.read(1, window=w) == 0
                    s[~ok] = np.nan
                    dst.write(s, 1, window=w)
                    v = s[ok]
                    n_valid += v.size
                    hist += np.histogram(np.clip(v, 0, hi), bins=edges)[0]
                done += len(batch)
                progress(0.05 + 0.8 * done / len(cores), f"scored {done}/{len(cores)} tiles")
        if threshold is None:
            threshold = job.head.threshold if job.method == "head" else otsu_threshold(hist, edges)
        progress(0.88, "thresholding and polygonising")
        tmp_mask = Path(tmp) / "mask.tif"
        poly = polygonize_mask(tmp_score, tmp_mask, grid, threshold, regime.min_pixels, BLOCK)
        to_cog(tmp_score, out_dir / "score.tif")
        to_cog(tmp_mask, out_dir / "mask.tif")
    progress(0.97, "writing summary")
    summary = _summary(job, poly, threshold, n_valid, out_dir, time.perf_counter() - t0)
    summary["clouds"] = cloud_info
    summary["caveats"] = caveats(summary)
    (out_dir / "changes.geojson").write_text(json.dumps(poly["geojson"]))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    progress(1.0, "done")
    return summary


SEASON_GAP_MONTHS = 3  # dates this many months apart in the year: vegetation and snow change the scene
WIDESPREAD_PERCENT = 25.0  # an uncalibrated (Otsu) mask this large is more likely radiometry than land change


def caveats(summary: dict) -> list[str]:
    """Reasons to read a result with care, as codes the answers explain: `season` (the dates fall in different
    seasons), `widespread` (Otsu flagged a large share of the scene: a threshold that splits the score histogram
    in two always flags something, so a scene-wide shift reads as change), `head_missing` (`auto` answered with
    zero-shot because the trained head for this imagery is not fitted yet)."""
    out = []
    months = [str((summary.get(k) or {}).get("date") or "")[5:7] for k in ("before", "after")]
    if all(m.isdigit() for m in months):
        gap = abs(int(months[0]) - int(months[1]))
        if min(gap, 12 - gap) >= SEASON_GAP_MONTHS:
            out.append("season")
    if summary.get("method") in ("zeroshot", "cva") and summary.get("changed_percent", 0.0) >= WIDESPREAD_PERCENT:
        out.append("widespread")
    if summary.get("head_missing"):
        out.append("head_missing")
    return out


def _summary(job: ChangeJob, poly: dict, threshold: float, n_valid: int, out_dir: Path, seconds: float) -> dict:
    grid = job.grid
    px_area = poly["pixel_area_m2"]
    changed_px = poly["changed_pixels"]
    total_px = grid.width * grid.height
    model = f"galileo-{job.encoder_size}" if job.method != "cva" else None
    if job.method == "head":
        model = f"galileo-{job.encoder_size} + change head ({job.head.kind}, {job.regime.name})"
    return {
        "before": {
            "source": job.before.label,
            "date": job.before.date,
            "sensor": job.before.sensor,
            "scene_id": job.before.scene_id,
        },
        "after": {
            "source": job.after.label,
            "date": job.after.date,
            "sensor": job.after.sensor,
            "scene_id": job.after.scene_id,
        },
        "method": job.method,
        "head_missing": bool(job.extras.get("head_missing")),
        "model": model,
        "regime": job.regime.name,
        "patch_size": job.regime.patch_size,
        "bands_used": job.bms[0].used_bands + (["NDVI"] if job.bms[0].has_ndvi else []),
        "galileo_groups": job.bms[0].visible_groups,
        "georeferenced": grid.georeferenced,
        "crs": grid.crs.to_string() if grid.crs else None,
        "width": grid.width,
        "height": grid.height,
        "pixel_size_m": grid.pixel_size_m(),
        "threshold": float(threshold),
        "valid_pixels": int(n_valid),
        "masked_pixels": int(total_px - n_valid),
        "masked_fraction": float(1 - n_valid / total_px) if total_px else 0.0,
        "changed_pixels": int(changed_px),
        "changed_percent": float(100.0 * changed_px / n_valid) if n_valid else 0.0,
        "changed_km2": float(changed_px * px_area / 1e6) if px_area else None,
        "analysed_km2": float(n_valid * px_area / 1e6) if px_area else None,
        "n_patches": poly["n_patches"],
        "largest_patches": poly["largest"],
        "overlap_fraction": job.overlap_fraction,
        "files": {k: str(out_dir / k) for k in OUTPUT_FILES},
        "seconds": round(seconds, 2),
    }
