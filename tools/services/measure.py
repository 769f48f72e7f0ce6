"""Thematic measures over every date of a series: area per date, loss and gain, trend, period of largest loss.

One cube (all dates, the bands the themes need) is loaded lazily; each theme's class is computed per date; areas
are sums of per-pixel km² (geodesic on geographic grids). Only pixels valid at every date (and inside the site
buffer, when one is given) are analysed, so the dates compare like with like. The maps (class per date, loss/gain
between the first and last date, burned area) are written as COGs in the results folder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError, NotFoundError
from tools.core.results import ProgressCallback, no_progress
from tools.services.areas import mask_window, pixel_areas_km2, polygon_mask
from tools.services.cube import item_bands, item_grid, load_cube
from tools.services.themes import Theme

# values of the loss/gain map
STABLE_ABSENT, LOSS, GAIN, STABLE_PRESENT, OUTSIDE = 0, 1, 2, 3, 255


@dataclass
class Series:
    """The loaded dates: their class stacks per theme, the analysed mask and the per-pixel areas."""

    dates: list[dt.date]
    classes: dict[str, np.ndarray]  # theme -> bool (time, y, x)
    analysed: np.ndarray  # bool (y, x)
    areas_km2: np.ndarray  # (y, 1)
    transform: Any
    crs: str
    clouds: dict[str, Any] | None = None  # what cloud masking did (None: not applicable to this imagery)


def item_date(item: Any) -> dt.date:
    """The acquisition date of an item (its datetime, else its start)."""
    if item.datetime is not None:
        return item.datetime.date()
    start = item.properties.get("start_datetime")
    if not start:
        raise BadInputError(f"scene {item.id} has no date")
    return dt.date.fromisoformat(start[:10])


def load_series(items: list[Any], themes: list[Theme], polygon: Any = None,
                progress: ProgressCallback = no_progress, mask_clouds: bool = True) -> Series:
    """Class stacks of `themes` over `items` (one sensor, oldest first) inside `polygon` (EPSG:4326) if given.

    Sentinel-2 digital numbers get cloud and shadow masks (`clouds`): a date mostly under cloud is left out, and a
    pixel clouded at any kept date is left out of every date, so the dates still compare like with like.
    """
    import dask

    from tools.services.clouds import MOSTLY_CLOUDED, cloud_bands, cloud_stack

    available = set(item_bands(items[0]))
    for item in items[1:]:
        available &= set(item_bands(item))
    bands = sorted({b for theme in themes for b in theme.bands(available)})
    masked_by = cloud_bands(items, available) if mask_clouds else None
    transform, shape, crs = item_grid(items[0])
    window, inside = None, np.ones(shape, bool)
    if polygon is not None:
        inside = polygon_mask(polygon, transform, shape, crs)
        window = mask_window(inside)
        inside = inside[window]
        transform = transform @ transform.translation(window[1].start, window[0].start)
    progress(0.1, f"loading {len(items)} dates ({', '.join(bands)})")
    cube = load_cube(items, sorted(set(bands) | set(masked_by or [])), window)
    kept, clouded, clouds = list(range(cube.sizes["time"])), np.zeros(inside.shape, bool), None
    if masked_by:
        progress(0.2, "masking clouds and shadows")
        stack = np.asarray(cloud_stack(cube, masked_by).compute(), bool) & inside
        shares = [float(m.sum()) / max(int(inside.sum()), 1) for m in stack]
        kept = [i for i, share in enumerate(shares) if share <= MOSTLY_CLOUDED] or [int(np.argmin(shares))]
        clouded = stack[kept].any(axis=0)
        clouds = {"model": "ukis-csmask (" + ", ".join(masked_by) + ")",
                  "percent_per_date": {str(item_date(items[i])): round(100 * share, 2)
                                       for i, share in enumerate(shares)},
                  "dates_left_out": [str(item_date(items[i])) for i in range(len(items)) if i not in kept]}
        if len(kept) < (2 if any(t.pairwise for t in themes) else 1):
            raise NotFoundError("every date but one is mostly under cloud: no burned area can be measured")
    cube = cube.isel(time=kept)
    per_date = [{b: cube[b].isel(time=i) for b in bands} for i in range(cube.sizes["time"])]
    lazy: dict[str, Any] = {}
    for theme in themes:
        if theme.pairwise:
            lazy[theme.name] = [theme.classify_pair(per_date[i - 1], per_date[i]) for i in range(1, len(per_date))]
        else:
            lazy[theme.name] = [theme.classify(scene) for scene in per_date]
    valid = cube[bands].to_array().notnull().all(dim=("variable", "time"))
    computed, valid_np = dask.compute({k: [a.data for a in v] for k, v in lazy.items()}, valid.data)
    progress(0.6, "measuring areas")
    analysed = np.asarray(valid_np, bool) & inside & ~clouded
    if not analysed.any():
        raise NotFoundError("no pixel is valid (and cloud-free) at every date in the analysed area")
    classes = {k: np.stack([np.asarray(a, bool) for a in v]) & analysed for k, v in computed.items()}
    dates = [item_date(items[i]) for i in kept]
    areas = pixel_areas_km2(transform, analysed.shape, crs)
    if clouds is not None:
        clouds["masked_km2"] = round(area_km2(clouded & np.asarray(valid_np, bool), areas), 4)
    return Series(dates=dates, classes=classes, analysed=analysed, areas_km2=areas, transform=transform, crs=crs,
                  clouds=clouds)


def area_km2(mask: np.ndarray, areas_km2: np.ndarray) -> float:
    """Sum of the pixel areas where `mask` is True."""
    return float((mask * areas_km2).sum())


def _decimal_year(day: dt.date) -> float:
    return day.year + (day.timetuple().tm_yday - 1) / 365.25


def theme_figures(series: Series, theme: Theme) -> dict[str, Any]:
    """Per-date areas, loss/gain (first to last and per interval), trend and the interval of largest loss."""
    stack = series.classes[theme.name]
    analysed = area_km2(series.analysed, series.areas_km2)

    def pct(km2: float) -> float:
        return round(100.0 * km2 / analysed, 2) if analysed else 0.0

    if theme.pairwise:  # burned: one mask per interval
        dates = series.dates
        intervals = [{"from": str(dates[i]), "to": str(dates[i + 1]), "km2": round(area_km2(m, series.areas_km2), 4),
                      "percent": pct(area_km2(m, series.areas_km2))} for i, m in enumerate(stack)]
        union = stack.any(axis=0)
        burned = area_km2(union, series.areas_km2)
        out = {"analysed_km2": round(analysed, 4), "intervals": intervals, "burned_km2": round(burned, 4),
               "burned_percent": pct(burned), "changed_km2": round(burned, 4), "changed_percent": pct(burned)}
        if intervals:
            top = max(intervals, key=lambda r: r["km2"])
            out["largest_burn"] = {"from": top["from"], "to": top["to"], "km2": top["km2"]}
        return out
    values = [area_km2(m, series.areas_km2) for m in stack]
    series_rows = [{"date": str(d), "km2": round(v, 4), "percent": pct(v)} for d, v in zip(series.dates, values,
                                                                                            strict=True)]
    loss = area_km2(stack[0] & ~stack[-1], series.areas_km2)
    gain = area_km2(~stack[0] & stack[-1], series.areas_km2)
    intervals = []
    for i in range(len(stack) - 1):
        a, b = stack[i], stack[i + 1]
        lost, won = area_km2(a & ~b, series.areas_km2), area_km2(~a & b, series.areas_km2)
        intervals.append({"from": str(series.dates[i]), "to": str(series.dates[i + 1]), "loss_km2": round(lost, 4),
                          "gain_km2": round(won, 4), "net_km2": round(won - lost, 4)})
    out: dict[str, Any] = {
        "analysed_km2": round(analysed, 4), "series": series_rows,
        "first_km2": round(values[0], 4), "first_percent": pct(values[0]),
        "last_km2": round(values[-1], 4), "last_percent": pct(values[-1]),
        "loss_km2": round(loss, 4), "loss_percent": pct(loss), "gain_km2": round(gain, 4), "gain_percent": pct(gain),
        "net_km2": round(gain - loss, 4), "net_percent": round(pct(gain) - pct(loss), 2),
        "changed_km2": round(loss + gain, 4), "changed_percent": pct(loss + gain), "intervals": intervals,
    }
    if len(values) >= 3:
        years = np.array([_decimal_year(d) for d in series.dates])
        out["trend_km2_per_year"] = round(float(np.polyfit(years, np.array(values), 1)[0]), 4)
    if intervals:
        worst = min(intervals, key=lambda r: r["net_km2"])
        if worst["net_km2"] < 0:
            out["largest_loss"] = {"from": worst["from"], "to": worst["to"], "net_km2": worst["net_km2"]}
        best = max(intervals, key=lambda r: r["net_km2"])
        if best["net_km2"] > 0:
            out["largest_gain"] = {"from": best["from"], "to": best["to"], "net_km2": best["net_km2"]}
    return out


def loss_gain_map(series: Series, theme: Theme) -> np.ndarray:
    """uint8 map first -> last date: LOSS, GAIN, STABLE_PRESENT, STABLE_ABSENT; OUTSIDE where not analysed."""
    stack = series.classes[theme.name]
    if theme.pairwise:
        out = np.where(stack.any(axis=0), LOSS, STABLE_ABSENT).astype(np.uint8)
    else:
        first, last = stack[0], stack[-1]
        out = np.full(first.shape, STABLE_ABSENT, np.uint8)
        out[first & last] = STABLE_PRESENT
        out[first & ~last] = LOSS
        out[~first & last] = GAIN
    out[~series.analysed] = OUTSIDE
    return out


def write_cog(array: np.ndarray, series: Series, path: Path, nodata: int = OUTSIDE) -> Path:
    """A single-band uint8 array on the series grid as a COG (written to a temporary name, then renamed)."""
    import rasterio
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "width": array.shape[1], "height": array.shape[0], "count": 1, "dtype": "uint8",
               "crs": series.crs, "transform": series.transform, "nodata": nodata}
    tmp = path.with_suffix(".tmp.tif")
    with rasterio.Env(GDAL_NUM_THREADS="1"), MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(array.astype(np.uint8), 1)
        with mem.open() as src:
            cog_translate(src, str(tmp), cog_profiles.get("deflate"), in_memory=True, quiet=True,
                          overview_resampling="nearest")
    tmp.replace(path)
    return path


def class_map(series: Series, theme: Theme, index: int) -> np.ndarray:
    """uint8 class map of one date: 1 in the class, 0 not, OUTSIDE where not analysed."""
    out = series.classes[theme.name][index].astype(np.uint8)
    out[~series.analysed] = OUTSIDE
    return out
