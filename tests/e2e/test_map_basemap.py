"""The map in headless Chromium with no internet: the Natural Earth base map at world, region and city zoom, and the
before/after swipe of a change result, in the live page and in a self-contained report."""

from __future__ import annotations

import base64
import io
from urllib.parse import urlsplit

import pytest
from browser_helpers import ARTIFACTS, shot
from PIL import Image

from assistant.ui.map import standalone_map_html

pytestmark = pytest.mark.e2e

MUMBAI = (72.88, 19.07)
SACLAY = (2.17, 48.73)
BEFORE_RGB, AFTER_RGB = (220, 40, 40), (40, 60, 220)


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "file", "about", "blob") or parts.hostname == "127.0.0.1"


def _watch_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(request.url))
    return seen


def _wait_basemap(frame, zoom: int) -> dict:
    # a zoom band is simplified on first use (seconds; far more on a busy CI machine): a generous bound
    frame.wait_for_function(f"() => document.body.getAttribute('data-basemap-zoom') === '{zoom}'", timeout=120_000)
    frame.wait_for_timeout(300)  # labels are thinned after the tooltips are laid out
    return frame.evaluate("SentinelleBasemap.stats()")


def _set_view(frame, lon: float, lat: float, zoom: int) -> dict:
    frame.evaluate(f"void sentinelleLeaflet.setView([{lat}, {lon}], {zoom}, {{animate: false}})")
    return _wait_basemap(frame, zoom)


def test_offline_basemap_draws_at_world_region_and_city_zoom(page, app_url):
    requests = _watch_requests(page)
    page.goto(f"{app_url}/map/e2e-basemap")
    page.wait_for_selector(".leaflet-container", timeout=30_000)
    frame = page.main_frame
    names = page.locator(".leaflet-control-layers-base label").all_inner_texts()
    assert any("Natural Earth" in n for n in names), names
    assert not any("No base map" in n for n in names), names

    world = _set_view(frame, *MUMBAI, 2)
    assert world.get("land", 0) > 50 and world.get("countries", 0) > 50, world
    assert world.get("labels", 0) >= 5, world
    shot(page, "basemap_z2")

    region = _set_view(frame, *MUMBAI, 8)
    assert region.get("land", 0) >= 1 and region.get("coastline", 0) >= 1, region
    assert region.get("urban", 0) >= 1 and region.get("places", 0) >= 1, region
    labels = page.locator(".sn-place-label").all_inner_texts()
    assert "Mumbai" in labels, labels
    shot(page, "basemap_mumbai_z8")

    city = _set_view(frame, *SACLAY, 13)
    assert city.get("land", 0) >= 1 and city.get("urban", 0) >= 1, city  # Paris's urban area reaches Saclay
    shot(page, "basemap_saclay_z13")

    outside = [url for url in requests if not _local(url)]
    assert not outside, f"requests left 127.0.0.1: {outside[:5]}"
    assert any("/basemap/land.json" in url for url in requests)


def test_basemap_labels_follow_scalerank(page, app_url):
    """Place names by SCALERANK: at world zoom only the largest cities are named, more ranks as the map zooms in,
    and no two shown names overlap."""
    page.goto(f"{app_url}/map/e2e-labels")
    page.wait_for_selector(".leaflet-container", timeout=30_000)
    frame = page.main_frame
    ranks = {}
    for zoom in (3, 5, 8):
        stats = _set_view(frame, 10.0, 48.0, zoom)
        shown = [int(r) for r in page.evaluate(
            "() => Array.from(document.querySelectorAll('.sn-place-label [data-rank]')).map(e => e.dataset.rank)")]
        assert shown and stats["labels"] == len(shown), (zoom, stats)
        ranks[zoom] = max(shown)
        assert ranks[zoom] <= page.evaluate(f"SentinelleBasemap.labelRank({zoom})"), (zoom, shown)
    assert ranks[3] < ranks[8], ranks
    visible = page.evaluate("""() => Array.from(document.querySelectorAll('.sn-place-label'))
        .filter(el => el.style.visibility !== 'hidden').map(el => el.getBoundingClientRect())""")
    overlaps = sum(1 for i, a in enumerate(visible) for b in visible[i + 1:]
                   if a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
                   and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])
    assert overlaps == 0, f"{overlaps} overlapping place names"


def _png_uri(rgb: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), rgb).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _compare_report(tmp_path) -> str:
    west, south, east, north = 2.10, 48.68, 2.24, 48.78
    bounds = [west, south, east, north]
    ring = [[2.15, 48.71], [2.19, 48.71], [2.19, 48.75], [2.15, 48.75], [2.15, 48.71]]
    layers = [
        {"name": "Saclay: before 2016-03-15", "kind": "image", "url": _png_uri(BEFORE_RGB), "bounds": bounds,
         "role": "before"},
        {"name": "Saclay: after 2017-10-30", "kind": "image", "url": _png_uri(AFTER_RGB), "bounds": bounds,
         "role": "after"},
        {"name": "Saclay: change score", "kind": "image", "url": _png_uri((250, 250, 190)), "role": "score",
         "bounds": [2.16, 48.72, 2.18, 48.74], "style": {"opacity": 0.6},
         "legend": {"score 0: the two dates look alike": "#000004", "score 0.5": "#b73779",
                    "score 1 or more: strongly changed": "#fcfdbf",
                    "no colour: masked (clouds, shadows or no data), not scored": "transparent"}},
        {"name": "Saclay: changes (1 patches)", "kind": "geojson", "fly_to": True,
         "style": {"color": "#e4572e", "weight": 2, "fillOpacity": 0.05},
         "data": {"type": "FeatureCollection", "features": [
             {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}]}},
    ]
    path = tmp_path / "compare.html"
    path.write_text(standalone_map_html({"layers": layers}, title="compare"), encoding="utf-8")
    return path.as_uri()


def _pixel(page, x: int, y: int) -> tuple[int, int, int]:
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    return image.getpixel((x, y))


def _close(rgb, want, tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(rgb, want, strict=True))


def test_swipe_shows_both_dates_and_moves(browser, tmp_path):
    """A self-contained page with a before, an after and a score layer: left of the divider is the before date,
    right of it the after date; dragging the divider moves that border; no request leaves the file."""
    context = browser.new_context(offline=True, viewport={"width": 1200, "height": 800})
    page = context.new_page()
    requests = _watch_requests(page)
    page.goto(_compare_report(tmp_path))
    page.wait_for_selector(".sn-swipe-handle", timeout=30_000)
    page.wait_for_timeout(800)
    box = page.locator("#map").bounding_box()
    mid_y = int(box["y"] + box["height"] * 0.15)  # above the score square and the polygon
    handle = page.locator(".sn-swipe-handle").bounding_box()
    divider = handle["x"] + handle["width"] / 2
    assert abs(divider - (box["x"] + box["width"] / 2)) < 3, "the divider starts in the middle"
    left, right = _pixel(page, int(divider - 150), mid_y), _pixel(page, int(divider + 150), mid_y)
    assert _close(left, BEFORE_RGB) and _close(right, AFTER_RGB), (left, right)
    assert page.locator(".sn-swipe-before").inner_text().endswith("before 2016-03-15")
    assert "after 2017-10-30" in page.locator(".sn-swipe-after").inner_text()
    shot(page, "swipe_middle")

    page.mouse.move(divider, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.8, handle["y"] + handle["height"] / 2, steps=8)
    page.mouse.up()
    assert int(page.evaluate("document.body.getAttribute('data-swipe')")) in range(78, 83)
    moved = _pixel(page, int(divider + 150), mid_y)  # was after, now left of the divider: before
    assert _close(moved, BEFORE_RGB), moved
    assert _close(_pixel(page, int(box["x"] + box["width"] * 0.9), int(box["y"] + box["height"] * 0.5)), AFTER_RGB)
    shot(page, "swipe_dragged")

    slider = page.locator(".sn-compare input[type=range]")
    slider.fill("10")
    assert page.evaluate("document.body.getAttribute('data-score-opacity')") == "10"
    notes = page.locator(".sn-compare-note").all_inner_texts()
    assert any("masked" in n for n in notes) and any("score 0" in n for n in notes), notes
    stats = page.evaluate("SentinelleBasemap.stats()")
    assert stats.get("land", 0) >= 1 and stats.get("urban", 0) >= 1, stats  # base map inlined in the page
    outside = [url for url in requests if not _local(url)]
    assert not outside, outside[:5]
    context.close()
    assert (ARTIFACTS / "swipe_dragged.png").is_file()


def test_time_slider_shows_one_date_of_a_series(browser, tmp_path):
    """Three dates of a measured series (MapLayer.date): the newest is shown first, the slider and its buttons
    show one date at a time, and a layer without a date stays on."""
    colours = {"1985-07-01": (200, 30, 30), "2000-07-01": (30, 160, 30), "2020-07-01": (30, 30, 200)}
    bounds = [-74.7, -8.5, -74.4, -8.2]
    layers = [{"name": f"Pucallpa: forest {day}", "kind": "image", "url": _png_uri(rgb), "bounds": bounds,
               "date": day, "visible": day == "2020-07-01"} for day, rgb in colours.items()]
    layers.append({"name": "Pucallpa: forest loss / gain", "kind": "bounds", "bounds": bounds, "fly_to": True})
    path = tmp_path / "series.html"
    path.write_text(standalone_map_html({"layers": layers}, title="series"), encoding="utf-8")
    context = browser.new_context(offline=True, viewport={"width": 1000, "height": 700})
    page = context.new_page()
    requests = _watch_requests(page)
    page.goto(path.as_uri())
    page.wait_for_selector(".sn-time input[type=range]", timeout=30_000)
    page.wait_for_timeout(800)
    box = page.locator("#map").bounding_box()
    centre = (int(box["x"] + box["width"] / 2), int(box["y"] + box["height"] / 2))

    def shown() -> tuple[str, tuple[int, int, int]]:
        return page.evaluate("document.body.getAttribute('data-time')"), _pixel(page, *centre)

    day, rgb = shown()
    assert day == "2020-07-01" and _close(rgb, colours[day]), (day, rgb)
    assert page.evaluate("document.body.getAttribute('data-time-shown')") == "1"
    page.locator(".sn-time input[type=range]").fill("0")
    day, rgb = shown()
    assert day == "1985-07-01" and _close(rgb, colours[day]), (day, rgb)
    page.locator(".sn-time-step").nth(1).click()  # next
    day, rgb = shown()
    assert day == "2000-07-01" and _close(rgb, colours[day]), (day, rgb)
    assert page.locator(".sn-time-label").inner_text() == "2000-07-01"
    assert page.locator(".sn-time-count").inner_text() == "2 / 3"
    shot(page, "time_slider")
    assert not [url for url in requests if not _local(url)]
    context.close()
