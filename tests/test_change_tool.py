"""`detect_change` over a catalog place: scene pair choice, outputs under the data dir, facts and map layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from assistant.errors import NotFoundError
from tools.data import geodata_path

torch.set_num_threads(1)
NAIP = ["m_4709963_se_14_1_20090818.tif", "m_4709963_se_14_1_20150926.tif", "m_4709963_se_14_1_20200831.tif"]


@pytest.fixture
def catalog(tmp_data_dir):
    from tools.catalog import open_catalog

    cat = open_catalog()
    cat.ingest([geodata_path(f"naip-timeseries/{n}") for n in NAIP], place="Prairie Test")
    return cat


def test_detect_change_over_a_place_picks_dates_and_returns_layers(catalog, tmp_data_dir):
    from tools.change import detect_change

    seen = []
    result = detect_change(place="Prairie Test", start_date="2010-01-01", end_date="2021-01-01", method="cva",
                           progress=lambda f, m: seen.append(f))
    facts = result.facts
    # earliest scene on/after the start and latest on/before the end
    assert (facts["before_date"], facts["after_date"]) == ("2015-09-26", "2020-08-31")
    assert facts["sensor"] == "naip" and facts["method"] == "cva"
    assert facts["changed_km2"] > 0 and 0 < facts["changed_percent"] < 100
    assert seen and seen[-1] == 1.0 and sorted(seen) == seen
    kinds = [layer.kind for layer in result.layers]
    assert kinds.count("tiles") == 3 and kinds.count("geojson") == 1
    polygons = next(layer for layer in result.layers if layer.kind == "geojson")
    assert polygons.data["features"] and polygons.legend and polygons.style["color"]
    # both dates on the map for the swipe, the score with an opacity slider, polygons as outlines
    roles = {layer.role: layer for layer in result.layers if layer.role}
    assert set(roles) == {"before", "after", "score"}
    assert roles["before"].visible and roles["after"].visible
    assert facts["before_date"] in roles["before"].name and facts["after_date"] in roles["after"].name
    assert roles["before"].url.startswith("/tiles/scenes/") and roles["before"].url != roles["after"].url
    assert polygons.style["fillOpacity"] <= 0.1
    assert any("masked" in label for label in roles["score"].legend)
    lon, lat = polygons.data["features"][0]["properties"]["centroid"]
    assert -100 < lon < -98 and 46 < lat < 48  # North Dakota
    results = (tmp_data_dir / "results" / "change").resolve()
    for f in result.files:
        assert Path(f).resolve().is_relative_to(results) and Path(f).exists()
    summary = json.loads(Path(result.files[-1]).read_text())
    assert summary["before"]["scene_id"] == facts["before_scene"]


def test_detect_change_without_a_pair_says_why(catalog):
    from tools.change import detect_change

    with pytest.raises(NotFoundError, match="no two dated scenes"):
        detect_change(place="Atlantis")


def test_a_gazetteer_place_finds_the_catalog_scenes_inside_it(catalog):
    """The scenes are catalogued as 'Prairie Test'; asking for the state they lie in still finds them."""
    from tools.change import detect_change

    result = detect_change(place="North Dakota", start_date="2015-01-01", end_date="2021-01-01", method="cva")
    assert (result.facts["before_date"], result.facts["after_date"]) == ("2015-09-26", "2020-08-31")
    with pytest.raises(NotFoundError, match="I don't know a place called 'Qwzxyville'"):
        detect_change(place="Qwzxyville")


def test_a_widespread_uncalibrated_result_is_explained(catalog):
    """September 2015 (harvested fields) against August 2020 (green crops): zero-shot flags about half the farmland,
    and the answer says why such a share is likely not land change."""
    from assistant.answers import compose
    from tools.change import detect_change

    result = detect_change(place="Prairie Test", start_date="2015-01-01", end_date="2021-01-01", method="zeroshot")
    assert result.facts["changed_percent"] > 25 and "widespread" in result.facts["caveats"]
    for language, words in (("en", "scene-wide difference"), ("fr", "sur toute la scène")):
        assert words in compose(result, {"place": "Prairie Test"}, language)
    french = compose(result, {"place": "Prairie Test"}, "fr")
    assert "changement\u202f; " in french and " ;" not in french and "t;" not in french  # French punctuation
    earlier = detect_change(place="Prairie Test", start_date="2009-01-01", end_date="2016-01-01", method="zeroshot")
    assert earlier.facts["changed_percent"] < 20 and earlier.facts["caveats"] == []  # August 2009 -> September 2015
    assert "Note" not in compose(earlier, {"place": "Prairie Test"}, "en")


def test_the_map_draws_the_largest_patches_within_a_vertex_budget(catalog, monkeypatch):
    from tools.change import detect_change, tool

    monkeypatch.setattr(tool, "MAP_MAX_VERTICES", 400)
    result = detect_change(place="Prairie Test", start_date="2015-01-01", end_date="2021-01-01", method="cva")
    layer = next(layer for layer in result.layers if layer.kind == "geojson")
    every = json.loads(Path(next(f for f in result.files if f.endswith(".geojson"))).read_text())["features"]
    drawn = layer.data["features"]
    assert 1 <= len(drawn) < len(every) and f"largest {len(drawn)} drawn" in layer.name
    assert [f["properties"]["id"] for f in drawn] == [f["properties"]["id"] for f in every[: len(drawn)]]
    assert sum(tool._vertices(f["geometry"]["coordinates"]) for f in drawn) <= 400 or len(drawn) == 1


def _naip_crop(name: str, dst: Path, size: int = 384) -> Path:
    """A size x size window of a real NAIP scene, written as a small GeoTIFF (what a user would upload)."""
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(geodata_path(f"naip-timeseries/{name}")) as src:
        window = Window((src.width - size) // 2, (src.height - size) // 2, size, size)
        profile = {**src.profile, "width": size, "height": size, "transform": src.window_transform(window)}
        profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.update(tiled=False)
        with rasterio.open(dst, "w", **profile) as out:
            out.write(src.read(window=window))
    return dst


def test_two_georeferenced_uploads_get_a_before_after_swipe(tmp_data_dir, tmp_path):
    import numpy as np
    from morecantile import tms

    from tools.change.tool import compare_images
    from tools.rasters.images import decode_png_rgba
    from tools.tiles import render_url_tile

    before = _naip_crop(NAIP[0], tmp_path / f"aaaa1111_{NAIP[0]}")  # uploads keep the name: its date is read
    after = _naip_crop(NAIP[2], tmp_path / f"bbbb2222_{NAIP[2]}")
    result = compare_images(str(before), str(after), method="cva")
    roles = {layer.role: layer for layer in result.layers if layer.role}
    assert set(roles) == {"before", "after", "score"}
    assert roles["before"].name.startswith("uploads: before 2009") and "2020" in roles["after"].name
    west, south, east, north = roles["before"].bounds
    tile = tms.get("WebMercatorQuad").tile((west + east) / 2, (south + north) / 2, 17)
    pixels = []
    for role in ("before", "after"):
        png = render_url_tile(roles[role].url, tile.z, tile.x, tile.y)
        assert png is not None, role
        rgba = np.asarray(decode_png_rgba(png))
        assert (rgba[..., 3] > 0).mean() > 0.5  # imagery where the upload lies, not an empty tile
        pixels.append(rgba[..., :3].astype(int))
    assert np.abs(pixels[0] - pixels[1]).mean() > 5  # two different dates drawn, not one image twice
