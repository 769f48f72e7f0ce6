"""The `detect_change` agent tool: pick two catalog scenes, run the change pipeline, return facts and layers."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

from tools.core.errors import NotFoundError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.core.settings import get_settings
from tools.rasters.open import display_name

# Outlines with a faint fill: the two dates under them stay visible (and the fill still takes clicks for popups).
POLYGON_STYLE = {"color": "#e4572e", "weight": 2, "fillColor": "#e4572e", "fillOpacity": 0.05}
SCORE_COLORMAP = "magma"
MAGMA_STOPS = ("#000004", "#51127c", "#b73779", "#fc8961", "#fcfdbf")  # the colormap at 0, 1/4 ... 1 of its range
MAP_MAX_VERTICES = 200_000  # polygons sent to the browser (~6 MB of GeoJSON); changes.geojson keeps them all


def _vertices(coords) -> int:
    """Number of positions in a GeoJSON coordinates array (any nesting)."""
    if coords and isinstance(coords[0], (int, float)):
        return 1
    return sum(_vertices(c) for c in coords)


def map_features(fc: dict, budget: int | None = None) -> dict:
    """The largest patches (the file lists them largest first) whose outlines fit the vertex budget: a noisy
    mask over a large scene outlines millions of vertices, more than a browser map draws."""
    budget = MAP_MAX_VERTICES if budget is None else budget
    kept, total = [], 0
    for feature in fc["features"]:
        n = _vertices(feature["geometry"]["coordinates"])
        if kept and total + n > budget:
            break
        kept.append(feature)
        total += n
    return {**fc, "features": kept}


def _date(item) -> dt.date | None:
    if item.datetime is not None:
        return item.datetime.date()
    start = item.properties.get("start_datetime")
    return dt.date.fromisoformat(start[:10]) if start else None


def _sensor(item) -> str:
    p = item.properties
    return str(p.get("constellation") or p.get("platform") or "unknown").lower()


def _overlaps(a, b) -> bool:
    if not a.bbox or not b.bbox:
        return False
    return a.bbox[0] < b.bbox[2] and b.bbox[0] < a.bbox[2] and a.bbox[1] < b.bbox[3] and b.bbox[1] < a.bbox[3]


def pick_pair(items: list, start: str | None, end: str | None, anchor=None) -> tuple:
    """Two scenes of one sensor over the same area: the earliest on/after start and the latest on/before end.

    Never a scene outside the dates asked ('since 2016' never compares a 2015 image): (None, None) instead.
    """
    from tools.catalog import date_range

    lo_dt, hi_dt = date_range(start, end)
    lo, hi = (lo_dt.date() if lo_dt else None), (hi_dt.date() if hi_dt else None)
    groups: dict[str, list] = {}
    for it in items:
        day = _date(it)
        if day is not None and (lo is None or day >= lo) and (hi is None or day <= hi):
            groups.setdefault(_sensor(it), []).append(it)
    best, best_key = None, None
    for sensor, group in groups.items():
        if anchor is not None and sensor != _sensor(anchor):
            continue
        group.sort(key=lambda it: (_date(it), it.id))
        for i, b in enumerate(group):
            for a in group[i + 1 :]:
                if _date(a) <= _date(b) or not _overlaps(a, b):
                    continue
                if anchor is not None and anchor.id not in (a.id, b.id):
                    continue
                miss = 0
                if lo:
                    miss += (_date(b) - lo).days
                if hi:
                    miss += (hi - _date(a)).days
                key = (miss, -(_date(a) - _date(b)).days, sensor != "sentinel-2")
                if best_key is None or key < best_key:
                    best, best_key = (b, a), key
    return best or (None, None)


def _no_pair_in_range(where: str, items: list, start: str | None, end: str | None) -> str:
    """'no imagery of Bercy between 2019-01-01 and 2020-12-31; dates held: 2015-08-13, 2018-03-09' (one line)."""
    from tools.catalog import date_range

    lo, hi = date_range(start, end)
    if lo and hi:
        span = f"between {lo.date()} and {hi.date()}"
    else:
        span = f"since {lo.date()}" if lo else f"before {hi.date()}"
    days = sorted({str(_date(it)) for it in items if _date(it) is not None})
    shown = ", ".join(days[:12]) + (f" and {len(days) - 12} more" if len(days) > 12 else "")
    return f"no two scenes of {where} {span} to compare; dates held: {shown}"


def _result_id(before_id: str, after_id: str, method: str) -> str:
    digest = hashlib.sha1(f"{before_id}|{after_id}|{method}".encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9_.-]", "_", f"{before_id[:40]}__{after_id[:40]}__{method}_{digest}")


def detect_change(place: str | None = None, before_scene_id: str | None = None, after_scene_id: str | None = None,
                  start_date: str | None = None, end_date: str | None = None, method: str = "auto", *,
                  before_image: str | None = None, after_image: str | None = None,
                  progress: ProgressCallback = no_progress) -> ToolResult:
    """What changed between two dates over a place (or between two given catalog scenes, or two uploaded images)."""
    from tools.catalog import open_catalog
    from tools.change.refine import run_with_preview
    from tools.change.sources import open_scene

    if before_image and after_image:
        return compare_images(before_image, after_image, method, progress=progress)
    cat = open_catalog()
    if before_scene_id and after_scene_id:
        before, after = cat.get(before_scene_id), cat.get(after_scene_id)
    else:
        anchor = cat.get(before_scene_id or after_scene_id) if (before_scene_id or after_scene_id) else None
        if place:
            items = cat.search(place=place, georeferenced=True)
            if not items:  # not a catalog place name: the gazetteer's box ('Île-de-France'), or "I don't know X"
                from tools.places import resolve_place

                items = cat.search(bbox=resolve_place(place).bbox, georeferenced=True)
        elif anchor is not None:
            items = cat.search(bbox=anchor.bbox, georeferenced=True)
        else:
            raise NotFoundError("say where (a place) or which two scenes to compare")
        before, after = pick_pair(items, start_date, end_date, anchor)
        if before is None and (start_date or end_date) and pick_pair(items, None, None, anchor)[0] is not None:
            raise NotFoundError(_no_pair_in_range(place or (anchor.id if anchor else "?"), items, start_date, end_date))
        if before is None:
            where = f"over {place}" if place else f"overlapping {anchor.id}"
            raise NotFoundError(
                f"no two dated scenes of the same sensor {where} in the catalog ({len(items)} scene(s) found): "
                "ingest a second date with `sentinelle ingest`"
            )
    out_dir = get_settings().data_dir / "results" / "change" / _result_id(before.id, after.id, method)
    summary = run_with_preview(open_scene(before.id), open_scene(after.id), out_dir, method=method, progress=progress)
    return _result(summary, before, after, out_dir, place)


def _result_layers(label: str, out_dir: Path, summary: dict, bounds: list[float] | None) -> list[MapLayer]:
    """The change score raster and the change polygons of one run, as map layers."""
    import json

    from tools.change.pipeline import SCORE_RANGE
    from tools.tiles import result_tile_url

    fc = json.loads((out_dir / "changes.geojson").read_text())
    shown = map_features(fc)
    drawn = "" if len(shown["features"]) == len(fc["features"]) else f", largest {len(shown['features'])} drawn"
    hi = SCORE_RANGE[summary["method"]]
    # the score file is rewritten in place when a preview is refined: its version makes the tile URL a new one
    version = f"{(out_dir / 'score.tif').stat().st_mtime_ns:x}"
    stage = "" if summary.get("refined", True) else "; preview, the full-resolution map follows"
    return [
        MapLayer(name=f"{label}: change score", kind="tiles", bounds=bounds, style={"opacity": 0.6}, role="score",
                 url=result_tile_url(out_dir / "score.tif", colormap=SCORE_COLORMAP, rescale=(0.0, hi),
                                     version=version),
                 legend=score_legend(hi)),
        MapLayer(name=f"{label}: changes ({summary['n_patches']} patches{drawn})", kind="geojson", data=shown,
                 bounds=bounds, style=POLYGON_STYLE, fly_to=True,
                 legend={f"changed: score ≥ {summary['threshold']:.3g} (outlined{stage})": POLYGON_STYLE["color"]}),
    ]


def refined_layers(result: ToolResult) -> list[MapLayer] | None:
    """The score and polygon layers of a change result whose preview has been refined since (read from its
    folder), to draw in place of the preview's; None while the folder still holds the preview. The map keeps its
    view: no fly_to."""
    import json

    files = [Path(f) for f in result.files if Path(f).name == "summary.json"]
    score = next((layer for layer in result.layers if layer.role == "score"), None)
    if not files or score is None or not score.name.endswith(": change score"):
        return None
    out_dir = files[0].parent
    try:
        summary = json.loads(files[0].read_text())
    except (OSError, ValueError):
        return None
    if not summary.get("refined", True):
        return None
    label = score.name.removesuffix(": change score")
    return [layer.model_copy(update={"fly_to": False}) for layer in _result_layers(label, out_dir, summary,
                                                                                    score.bounds)]


def score_legend(hi: float) -> dict[str, str]:
    """What the score colours mean, in ramp order (the map draws them as a gradient), and what no colour means."""
    mid = len(MAGMA_STOPS) // 2
    return {
        "score 0: the two dates look alike": MAGMA_STOPS[0],
        f"score {hi / 2:g}": MAGMA_STOPS[mid],
        f"score {hi:g} or more: strongly changed": MAGMA_STOPS[-1],
        "no colour: masked (clouds, shadows or no data), not scored": "transparent",
    }


def _result(summary: dict, before, after, out_dir: Path, place: str | None) -> ToolResult:
    from tools.tiles import scene_tile_url

    bounds = list(before.bbox) if before.bbox else None
    # Layer names carry the place, so a second change run adds its layers instead of replacing the first run's.
    label = place or before.properties.get("sentinelle:place") or before.id
    layers = [
        # both dates on the map: the swipe shows `before` left of its divider and `after` right of it
        MapLayer(name=f"{label}: before {_date(before)}", kind="tiles", url=scene_tile_url(before.id), bounds=bounds,
                 role="before"),
        MapLayer(name=f"{label}: after {_date(after)}", kind="tiles", url=scene_tile_url(after.id), bounds=bounds,
                 role="after"),
        *_result_layers(label, out_dir, summary, bounds),
    ]
    facts = {
        "place": place,
        "before_scene": before.id,
        "after_scene": after.id,
        "before_date": str(_date(before)),
        "after_date": str(_date(after)),
        "sensor": _sensor(before),
        **{k: summary[k] for k in ("method", "changed_km2", "changed_percent", "analysed_km2", "n_patches",
                                   "masked_fraction", "threshold", "regime")},
        "caveats": summary.get("caveats", []),
        "largest_patches": summary["largest_patches"][:5],
        **refinement_facts(summary),
    }
    return ToolResult(tool="detect_change", facts=facts, layers=layers, files=_output_files(out_dir),
                      model=summary["model"])


def refinement_facts(summary: dict) -> dict:
    """`refined`; for a fast preview also the sampling stride and the seconds until the full-resolution map
    replaces it in the same folder (the score layer's file)."""
    if summary.get("refined", True):
        return {"refined": True}
    return {"refined": False, "preview_stride": summary.get("stride"), "refine_seconds": summary.get("refine_seconds")}


def _output_files(out_dir: Path) -> list[str]:
    from tools.change.pipeline import OUTPUT_FILES

    return [str(out_dir / f) for f in OUTPUT_FILES]


def _upload_views(before, after, out_dir: Path, summary: dict) -> list[MapLayer]:
    """The two uploaded images as before/after layers (display COGs in the run's folder): the map's swipe."""
    from rasterio.warp import transform_bounds

    from tools.change.views import write_rgb_view
    from tools.tiles import RGB_RESULT, result_tile_url

    layers = []
    for role, source in (("before", before), ("after", after)):
        day = summary[role].get("date")
        view = write_rgb_view(source, out_dir / f"{role}_rgb.tif")
        if view is None:
            continue
        bounds = list(transform_bounds(source.grid.crs, "EPSG:4326", *source.grid.bounds))
        name = f"uploads: {role} {day or display_name(str(source.label))}"  # a file name, never a server path
        layers.append(MapLayer(name=name, kind="tiles", url=result_tile_url(view, colormap=RGB_RESULT),
                               bounds=bounds, role=role))
    return layers


def compare_images(before_image: str, after_image: str, method: str = "auto", *,
                   progress: ProgressCallback = no_progress) -> ToolResult:
    """Change between two image files (uploads): same pipeline; map layers only when they are georeferenced."""

    from tools.change.refine import run_with_preview
    from tools.change.sources import open_source

    before, after = open_source(Path(before_image)), open_source(Path(after_image))
    # the pair's paths name its results (uploads carry a random prefix): no need to read the files for a key
    out_dir = get_settings().data_dir / "results" / "change" / _result_id(
        f"uploads__{Path(before_image).resolve()}", str(Path(after_image).resolve()), method
    )
    summary = run_with_preview(before, after, out_dir, method=method, progress=progress)
    layers: list[MapLayer] = []
    if before.grid.georeferenced:
        from rasterio.warp import transform_bounds

        bounds = list(transform_bounds(before.grid.crs, "EPSG:4326", *before.grid.bounds))
        layers = [*_upload_views(before, after, out_dir, summary), *_result_layers("uploads", out_dir, summary, bounds)]
    facts = {
        "before_image": display_name(before_image),
        "after_image": display_name(after_image),
        "before_date": summary["before"].get("date"),
        "after_date": summary["after"].get("date"),
        "sensor": summary["before"].get("sensor") or "unknown",
        "georeferenced": before.grid.georeferenced,
        **{k: summary[k] for k in ("method", "changed_percent", "n_patches", "threshold", "regime") if k in summary},
        "caveats": summary.get("caveats", []),
        "largest_patches": summary["largest_patches"][:5],
        **refinement_facts(summary),
    }
    if before.grid.georeferenced:
        facts.update({k: summary[k] for k in ("changed_km2", "analysed_km2") if k in summary})
    return ToolResult(tool="detect_change", facts=facts, layers=layers, files=_output_files(out_dir),
                      model=summary["model"])
