"""The `measure_theme` agent tool: a sector measure (forest, water, built-up, burned, or all of them around a site)
over every date the catalog holds for a place or a site buffer, with a chart, maps and a watch threshold."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path
from typing import Any

from tools.core.errors import BadInputError, NotFoundError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.core.settings import get_settings
from tools.services.themes import THEMES, Theme, get_theme

SITE_THEMES = ("vegetation", "water", "built")  # 'any': every one the bands allow
COLORMAPS = {"vegetation": "greens", "water": "blues", "built": "oranges", "burned": "reds"}


def _sensor(item: Any) -> str:
    p = item.properties
    return str(p.get("constellation") or p.get("platform") or "unknown").lower()


def _group_key(item: Any) -> tuple[str, str]:
    return _sensor(item), str(item.properties.get("sentinelle:place") or "")


def pick_series(items: list[Any], start: str | None, end: str | None, minimum: int = 1) -> list[Any]:
    """The dated scenes of one sensor over one place inside [start, end], oldest first: the group with most dates."""
    from tools.services.measure import item_date

    lo = dt.date.fromisoformat(start[:10]) if start else None
    hi = dt.date.fromisoformat(end[:10]) if end else None
    groups: dict[tuple[str, str], list[Any]] = {}
    for item in items:
        try:
            day = item_date(item)
        except BadInputError:
            continue
        if (lo and day < lo) or (hi and day > hi) or not item.properties.get("proj:transform"):
            continue
        groups.setdefault(_group_key(item), []).append(item)
    if not groups:
        return []
    best = max(groups.values(), key=lambda g: (len(g), _sensor(g[0]) == "sentinel-2"))
    best.sort(key=item_date)
    return best if len(best) >= minimum else []


def _themes(theme: str) -> list[Theme]:
    key = (theme or "").strip().lower()
    if key in ("any", "site", "change", "all"):
        return [THEMES[name] for name in SITE_THEMES]
    return [get_theme(key)]


def _usable(themes: list[Theme], bands: set[str]) -> list[Theme]:
    """The themes these bands allow; the first theme's own error when none does."""
    usable = []
    for theme in themes:
        try:
            theme.bands(bands)
            usable.append(theme)
        except BadInputError:
            if len(themes) == 1:
                raise
    return usable


def _result_dir(items: list[Any], key: str) -> Path:
    digest = hashlib.sha1("|".join([key, *[it.id for it in items]]).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{items[0].id[:40]}_{key[:40]}_{digest}")
    return get_settings().data_dir / "results" / "services" / name


def measure_theme(theme: str = "vegetation", place: str | None = None, lon: float | None = None,
                  lat: float | None = None, radius_km: float | None = None, start_date: str | None = None,
                  end_date: str | None = None, threshold_percent: float | None = None, *,
                  progress: ProgressCallback = no_progress) -> ToolResult:
    """Measure a theme over every catalog date of a place (or within `radius_km` of a site) and say whether the
    changed share crosses `threshold_percent`."""
    from tools.catalog import open_catalog
    from tools.services.areas import site_polygon
    from tools.services.cube import item_bands
    from tools.services.measure import load_series

    themes = _themes(theme)
    polygon, centre = None, None
    cat = open_catalog()
    if lon is not None and lat is not None:
        centre = (float(lon), float(lat))
    elif radius_km and place:
        from tools.places import resolve_place

        found = resolve_place(place)
        centre = (found.lon, found.lat)
    if radius_km and centre is None:
        raise BadInputError("a site watch needs a place or a longitude, latitude for its centre")
    if centre is not None:
        polygon = site_polygon(centre[0], centre[1], float(radius_km or 1.0))
        items = cat.search(bbox=list(polygon.bounds), georeferenced=True)
    elif place:
        items = cat.search(place=place, georeferenced=True)
        if not items:
            from tools.places import resolve_place

            items = cat.search(bbox=resolve_place(place).bbox, georeferenced=True)
    else:
        raise NotFoundError("say where to measure: a place, or a site with a radius")
    pairwise = any(t.pairwise for t in themes)
    series_items = pick_series(items, start_date, end_date, minimum=2 if pairwise else 1)
    where = place or (f"{centre[0]:.4f}, {centre[1]:.4f}" if centre else "there")
    if not series_items:
        raise NotFoundError(f"no dated scenes over {where} in the catalog for that period "
                            f"({len(items)} scene(s) found there)")
    bands = set(item_bands(series_items[0]))
    themes = _usable(themes, bands)
    if not themes:
        raise BadInputError(f"this imagery ({', '.join(sorted(bands))}) allows none of the site measures")
    progress(0.05, f"{len(series_items)} dates of {_sensor(series_items[0])}")
    series = load_series(series_items, themes, polygon, progress)
    out_dir = _result_dir(series_items, f"{theme}_{radius_km}_{centre}")
    return _result(series, series_items, themes, out_dir, place, centre, radius_km, threshold_percent, progress)


def _result(series, items: list[Any], themes: list[Theme], out_dir: Path, place: str | None,
            centre: tuple[float, float] | None, radius_km: float | None, threshold_percent: float | None,
            progress: ProgressCallback) -> ToolResult:
    import numpy as np

    from tools.services.chart import line_chart
    from tools.services.cube import item_bands
    from tools.services.measure import (
        GAIN,
        LOSS,
        area_km2,
        class_map,
        loss_gain_map,
        theme_figures,
        write_cog,
    )

    bands = set(item_bands(items[0]))
    by_theme: dict[str, dict[str, Any]] = {}
    files: list[str] = []
    layers: list[MapLayer] = []
    label = place or (f"site {centre[0]:.4f}, {centre[1]:.4f}" if centre else items[0].id)
    bounds = _bounds(series)
    changed = np.zeros(series.analysed.shape, bool)
    for theme in themes:
        figures = theme_figures(series, theme)
        figures["measure"] = theme.label_en
        figures["formula"] = theme.formula(theme.bands(bands))
        by_theme[theme.name] = figures
        full = loss_gain_map(series, theme)
        changed |= (full == LOSS) | (full == GAIN)
        files.append(str(write_cog(full, series, out_dir / f"{theme.name}_lossgain.tif")))
        shown = np.where((full == LOSS) | (full == GAIN), full, 0).astype(np.uint8)
        display = write_cog(shown, series, out_dir / f"{theme.name}_lossgain_map.tif", nodata=0)
        layers.append(_tiles(f"{label}: {theme.label_en}" + ("" if theme.pairwise else " loss / gain"),
                             display, "rdylgn", (LOSS, GAIN), bounds,
                             {"burned": "#a50026"} if theme.pairwise else {"loss": "#a50026", "gain": "#006837"},
                             visible=True))
        if not theme.pairwise:
            for i, day in enumerate(series.dates):
                cls = class_map(series, theme, i)
                cls[cls == 255] = 0
                path = write_cog(cls, series, out_dir / f"{theme.name}_{day}.tif", nodata=0)
                files.append(str(path))
                layer = _tiles(f"{label}: {theme.label_en} {day}", path, COLORMAPS[theme.name], (0, 1), bounds,
                               None, visible=i == len(series.dates) - 1)
                layers.append(layer.model_copy(update={"date": str(day)}))  # the map's time slider steps through
    progress(0.85, "drawing the chart")
    lines = {}
    for theme in themes:
        figures = by_theme[theme.name]
        if theme.pairwise:
            rows = [(dt.date.fromisoformat(r["to"]), r["percent"]) for r in figures["intervals"]]
        else:
            rows = [(dt.date.fromisoformat(r["date"]), r["percent"]) for r in figures["series"]]
        lines[theme.label_en] = rows
    title = f"{label}: % of the analysed area ({len(series.dates)} dates)"
    files.insert(0, str(line_chart(lines, title, out_dir / "chart.png")))
    analysed = area_km2(series.analysed, series.areas_km2)
    changed_km2 = area_km2(changed, series.areas_km2)
    first = items[0].properties
    facts: dict[str, Any] = {
        "place": place,
        "theme": themes[0].name if len(themes) == 1 else "any",
        "measures": [t.name for t in themes],
        "sensor": _sensor(items[0]),
        "dates": [str(d) for d in series.dates],
        "n_dates": len(series.dates),
        "scenes": [it.id for it in items],
        "analysed_km2": round(analysed, 4),
        "changed_km2": round(changed_km2, 4),
        "changed_percent": round(100.0 * changed_km2 / analysed, 2) if analysed else 0.0,
        "resolution_m": first.get("gsd"),
        "caveats": _caveats(items, series, [t.name for t in themes]),
        "clouds": series.clouds,
        "by_theme": by_theme,
    }
    if centre is not None:
        facts.update({"site_lon": round(centre[0], 5), "site_lat": round(centre[1], 5),
                      "radius_km": float(radius_km or 1.0)})
        layers.append(MapLayer(name=f"{label}: {facts['radius_km']:g} km watch area", kind="geojson",
                               data=_circle_geojson(centre, float(radius_km or 1.0)), bounds=bounds,
                               style={"color": "#333333", "weight": 2, "fillOpacity": 0.0}))
    if threshold_percent is not None:
        facts["threshold_percent"] = float(threshold_percent)
        facts["alert"] = facts["changed_percent"] > float(threshold_percent)
    if layers:
        layers[0].fly_to = True
    progress(1.0, "done")
    return ToolResult(tool="measure_theme", facts=facts, layers=layers, files=files, model=None)


def _tiles(name: str, path: Path, colormap: str, rescale: tuple[float, float], bounds: list[float] | None,
           legend: dict[str, str] | None, visible: bool) -> MapLayer:
    from tools.tiles import result_tile_url

    return MapLayer(name=name, kind="tiles", url=result_tile_url(path, colormap=colormap, rescale=rescale),
                    bounds=bounds, legend=legend, visible=visible, style={"opacity": 0.7})


def _bounds(series) -> list[float]:
    from rasterio.transform import array_bounds
    from rasterio.warp import transform_bounds

    rows, cols = series.analysed.shape
    west, south, east, north = array_bounds(rows, cols, series.transform)
    return [round(v, 6) for v in transform_bounds(series.crs, "EPSG:4326", west, south, east, north)]


def _circle_geojson(centre: tuple[float, float], radius_km: float) -> dict[str, Any]:
    from shapely.geometry import mapping

    from tools.services.areas import site_polygon

    geometry = mapping(site_polygon(centre[0], centre[1], radius_km))
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": geometry, "properties": {"radius_km": radius_km}}]}


# Water under a low sun. Tuned on Paris (OSCD, MNDWI rule): 20.8 % 'water' on 2016-11-30 (noon sun 19 deg) and
# 9.1 % on 2017-11-07 (24 deg), where the Seine is a few percent: building shadows read as water. Checked on
# cities not tuned on, where the figure holds across seasons above 25 deg: Nantes 7.5 % (July) / 8.5 % (October,
# 35 deg), Bordeaux 6.5 % (May) / 7.2 % (October, 34 deg), Pisa 1.0 % (August) / 1.4 % (February, 32 deg).
LOW_SUN_DEG = 25.0


def noon_sun_elevation(day: dt.date, lat: float) -> float:
    """The sun's elevation at local noon (degrees) on `day` at latitude `lat` (declination from the day of year)."""
    import math

    declination = 23.44 * math.sin(2 * math.pi * (284 + day.timetuple().tm_yday) / 365.0)
    return 90.0 - abs(lat - declination)


def _caveats(items: list[Any], series, themes: list[str] | None = None) -> list[str]:
    """Keys of the method's limits that apply (worded in prompts/answers/measure_theme.*.md)."""
    themes = themes or []
    from tools.catalog import asset_path
    from tools.rasters.open import open_raster

    out = ["resolution", "clouds_masked" if series.clouds is not None else "clouds"]
    with open_raster(asset_path(items[0])) as ds:
        if ds.dtypes[0] == "uint8":  # 8-bit digital numbers or a display stretch: thresholds are approximate
            out.append("not_reflectance")
    year_only = any("year" in str(it.properties.get("sentinelle:date_source") or "") for it in items)
    if year_only:
        out.append("year_only")
    if "water" in themes:
        west_south_east_north = _bounds(series)
        lat = (west_south_east_north[1] + west_south_east_north[3]) / 2
        if any(noon_sun_elevation(day, lat) < LOW_SUN_DEG for day in series.dates):
            out.append("water_low_sun")
    months = {d.month for d in series.dates}
    if not year_only and len(series.dates) >= 2 and (max(months) - min(months)) >= 2:
        out.append("season")
    if len(series.dates) < 2:
        out.append("single_date")
    return out
