"""Change pipeline: align two dates, score change tile by tile, threshold, polygonise, write COGs and a summary.

Pass 1 reads date 2 onto date 1's grid window by window, scores batches of overlapping tiles and streams the
cores of each row of tiles into an uncompressed temporary GeoTIFF while building a histogram; pass 2 thresholds
block by block, writes the mask and the polygons. Memory depends on the tile and block sizes, not on the scene size.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
import time
import warnings
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from tools.change import scoring
from tools.change.cva import otsu_threshold
from tools.change.head import load_head
from tools.change.job import (  # noqa: F401 - METHODS, get_encoder, prepare re-exported: the pipeline's API
    METHODS,
    ChangeJob,
    get_encoder,
    prepare,
    read_padded,
    score_batch,
    tile_windows,
    valid_pixels,
)
from tools.change.polygons import polygonize_mask
from tools.change.scoring import scored_batches
from tools.change.sources import BLOCK, AlignedReader
from tools.change.training import load_or_train_head
from tools.core.results import ProgressCallback, no_progress
from tools.rasters.open import open_raster

SCORE_RANGE = {"zeroshot": 1.0, "cva": 6.0, "head": 1.0}
NODATA_MASK = 255
OUTPUT_FILES = ("score.tif", "mask.tif", "changes.geojson", "summary.json")  # what run_change writes
GDAL_CACHE_MB = 128
# Where each stage of a run lies on the 0..1 progress scale (the tiles take most of the time).
PREPARED, CLOUDS_DONE, TILES_START, TILES_END, POLYGONS_END, SCORE_COG_END = 0.06, 0.08, 0.09, 0.84, 0.92, 0.96


def stage(progress: ProgressCallback, lo: float, hi: float) -> ProgressCallback:
    """`progress` for one stage of a run: the stage's own 0..1 mapped onto lo..hi of the whole."""
    return lambda fraction, message: progress(lo + (hi - lo) * min(max(float(fraction), 0.0), 1.0), message)


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
    stride: int = 1,
) -> dict:
    """Runs a change job end to end; returns the summary (also written to summary.json).

    With `clouds`, clouds and shadows of either date (ukis-csmask, when the bands allow) are left out. With
    `stride` > 1 the head classifies every stride-th pixel and interpolates in between: a fast preview of the
    full-resolution map (the summary says `refined: false`); other methods ignore it.
    """
    # GDAL's cache bounded; compressed blocks decoded on the scoring cores (a stacked Sentinel-2 city: 2x faster)
    with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB, GDAL_NUM_THREADS=str(scoring.SCORE_WORKERS)), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # pixel-grid inputs (PNG pairs) write pixel grids
        return _run_change(before, after, out_dir, method, progress, encoder_size, head, threshold, window, clouds,
                           stride)


def _run_change(before, after, out_dir, method, progress, encoder_size, head, threshold, window, clouds,
                stride=1) -> dict:
    t0 = time.perf_counter()
    prep = stage(progress, 0.0, PREPARED)
    head_source = load_head
    if method == "head":  # a missing head is fitted first (minutes): its progress is the last part of preparing
        head_source = functools.partial(load_or_train_head, progress=stage(prep, 0.75, 1.0))
    job = prepare(before, after, method, encoder_size, head, window, head_source=head_source, progress=prep)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid, regime = job.grid, job.regime
    if job.method == "cva":  # per-pixel: large tiles, no encoder context needed
        regime = dataclasses.replace(regime, tile=512, overlap=8, batch=1)
    cores = tile_windows(grid, regime)
    hi = SCORE_RANGE[job.method]
    edges = np.linspace(0.0, hi, 1025)
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
                    for k, (reader, bm) in enumerate(((r1, job.bms[0]), (r2, job.bms[1]))):
                        progress(PREPARED + (CLOUDS_DONE - PREPARED) * k / 2,
                                 f"masking clouds and shadows of date {k + 1}")
                        path = Path(tmp) / f"clouds_{k}.tif"
                        cloud_info[f"date{k + 1}_cloud_pixels"] = write_cloud_mask(reader, bm, grid, path)
                        cloud_readers.append(stack.enter_context(open_raster(path)))
                    cloud_info["applied"] = True
            dst = stack.enter_context(rasterio.open(tmp_score, "w", **grid.profile("float32", float("nan"), "none")))
            done = 0
            if job.method != "cva":
                progress(CLOUDS_DONE, f"loading the Galileo-{job.encoder_size} encoder")
                get_encoder(job.encoder_size)
            what = "scoring tiles" if job.method == "cva" else "encoding and scoring tiles"
            progress(TILES_START, f"{what}: 0/{len(cores)}")
            stride = max(1, int(stride)) if job.method == "head" else 1
            timings: dict = {}
            strip = ScoreStrip(dst, grid.width, edges)
            for batch, scores, raw1, raw2 in scored_batches(job, r1, r2, cores, grid, regime, stride, timings=timings):
                o = regime.overlap
                for k, w in enumerate(batch):
                    h, wd = int(w.height), int(w.width)
                    s = scores[k, o : o + h, o : o + wd].astype(np.float32)
                    ok = valid_pixels(raw1[k][:, o : o + h, o : o + wd], job.before.nodata) & valid_pixels(
                        raw2[k][:, o : o + h, o : o + wd], job.after.nodata
                    )
                    for cr in cloud_readers:
                        ok &= cr.read(1, window=w) == 0
                    s[~ok] = np.nan
                    strip.add(w, s)
                done += len(batch)
                progress(TILES_START + (TILES_END - TILES_START) * done / len(cores), f"{what}: {done}/{len(cores)}")
            strip.flush()
            hist, n_valid = strip.hist, strip.n_valid
        if threshold is None:
            threshold = job.head.threshold if job.method == "head" else otsu_threshold(hist, edges)
        tmp_mask = Path(tmp) / "mask.tif"
        poly = polygonize_mask(tmp_score, tmp_mask, grid, threshold, regime.min_pixels, BLOCK,
                               progress=stage(progress, TILES_END, POLYGONS_END))
        progress(POLYGONS_END, "writing the change score as a Cloud-Optimised GeoTIFF")
        to_cog(tmp_score, out_dir / "score.tif")
        progress(SCORE_COG_END, "writing the change mask as a Cloud-Optimised GeoTIFF")
        to_cog(tmp_mask, out_dir / "mask.tif")
    progress(0.99, "writing the polygons and the summary")
    summary = _summary(job, poly, threshold, n_valid, out_dir, time.perf_counter() - t0)
    summary["clouds"] = cloud_info
    summary["stride"], summary["refined"] = stride, stride == 1
    summary["timings"] = {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()}
    summary["caveats"] = caveats(summary)
    (out_dir / "changes.geojson").write_text(json.dumps(poly["geojson"]))
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    progress(1.0, "done")
    return summary


class ScoreStrip:
    """Gathers the tile cores of one row of tiles and writes them to the score raster as one strip, keeping the
    histogram of the valid scores (bins `edges`) as it goes.

    Tiles come in row-major order (`tile_windows`); a Sentinel-2 city has ~1000 small tile cores, and writing and
    histogramming them one by one cost a quarter of a cached zero-shot run. Memory: one strip of the grid's width.
    """

    def __init__(self, dst, width: int, edges: np.ndarray) -> None:
        self.dst, self.width, self.edges = dst, width, edges
        self.hist = np.zeros(len(edges) - 1, np.int64)
        self.n_valid = 0
        self._row: int | None = None
        self._buf: np.ndarray | None = None

    def add(self, window: Window, score: np.ndarray) -> None:
        """One tile core's scores (NaN where not valid)."""
        row = int(window.row_off)
        if row != self._row:
            self.flush()
            self._row = row
            self._buf = np.full((int(window.height), self.width), np.nan, np.float32)
        c = int(window.col_off)
        self._buf[:, c : c + score.shape[1]] = score

    def flush(self) -> None:
        if self._buf is None:
            return
        self.dst.write(self._buf, 1, window=Window(0, self._row, self.width, self._buf.shape[0]))
        v = self._buf[np.isfinite(self._buf)]
        self.n_valid += v.size
        self.hist += np.histogram(np.clip(v, 0, self.edges[-1]), bins=self.edges)[0]
        self._buf, self._row = None, None


SEASON_GAP_MONTHS = 3  # dates this many months apart in the year: vegetation and snow change the scene
WIDESPREAD_PERCENT = 25.0  # an uncalibrated (Otsu) mask this large is more likely radiometry than land change


def caveats(summary: dict) -> list[str]:
    """Reasons to read a result with care, as codes the answers explain: `season` (the dates fall in different
    seasons), `widespread` (Otsu flagged a large share of the scene: a threshold that splits the score histogram
    in two always flags something, so a scene-wide shift reads as change), `head_missing` (`auto` answered with
    zero-shot because the trained head for this imagery is not fitted yet), `preview` (the head classified every
    `stride`-th pixel only: a fast preview, `tools.change.refine` computes the full-resolution map after)."""
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
    if summary.get("refined") is False:
        out.append("preview")
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
