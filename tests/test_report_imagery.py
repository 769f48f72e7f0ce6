"""The HTML report carries its imagery: tile layers become inlined PNG overlays made of the live map's tiles."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
from helpers.data_dirs import module_data_dir
from PIL import Image

from assistant.events import MapLayer
from assistant.session import Session
from tools.data import geodata_path


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    with module_data_dir(tmp_path_factory, "report-data"):
        from tools.catalog import open_catalog

        report = open_catalog().ingest([geodata_path("rasterio-fixtures/RGB.byte.tif")])
        assert report.refused == []
        yield report.items[0]


def test_report_inlines_scene_imagery_where_it_lies(scene):
    from assistant.ui.share import report_html
    from tools.tiles import scene_tile_url

    session = Session()
    session.add_layer(
        MapLayer(name="before 2016", kind="tiles", url=scene_tile_url(scene.id), bounds=list(scene.bbox), visible=False)
    )
    session.add_layer(
        MapLayer(
            name="broken", kind="tiles", url="/tiles/scenes/no-such-scene/{z}/{x}/{y}.png", bounds=list(scene.bbox)
        )
    )
    page = report_html(session)
    state = json.loads(re.search(r"<script type='application/json' id='sn-map-state'>(.*?)</script>", page,
                                 re.S).group(1))
    by_name = {layer["name"]: layer for layer in state["layers"]}
    assert by_name["broken"]["kind"] == "tiles"  # nothing to inline: the live-tile layer stays
    inlined = by_name["before 2016"]
    assert inlined["kind"] == "image" and inlined["visible"] is False
    assert inlined["url"].startswith("data:image/png;base64,")
    rgba = np.asarray(Image.open(io.BytesIO(base64.b64decode(inlined["url"].split(",", 1)[1]))).convert("RGBA"))
    assert rgba.shape[0] >= 256 and rgba[..., 3].mean() > 20  # real pixels, not an empty canvas
    west, south, east, north = scene.bbox
    got = inlined["bounds"]
    assert got[0] <= west and got[1] <= south and got[2] >= east and got[3] >= north  # covers the scene
    assert got[2] - got[0] < 4 * (east - west)  # and not much more


def test_report_inlines_result_rasters_with_their_colormap(scene, tmp_data_dir):
    import rasterio

    from assistant.ui.report_imagery import inline_imagery
    from tools.tiles import result_tile_url, results_root

    out = results_root() / "report-test" / "score.tif"
    assert out.is_relative_to(tmp_data_dir.resolve())  # not the project's own data dir
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(geodata_path("rasterio-fixtures/RGB.byte.tif")) as src:
        with rasterio.open(out, "w", **(src.profile | {"count": 1})) as dst:
            dst.write(src.read(1), 1)
    bounds = list(scene.bbox)
    layers = [{"name": name, "kind": "tiles", "url": url, "bounds": bounds} for name, url in [
        ("viridis", result_tile_url(out)),
        ("magma", result_tile_url(out, "magma", (10.0, 200.0))),
        ("bad colormap", result_tile_url(out, "no-such-map")),
        ("outside results", "/tiles/results/..%2F..%2Fcatalog/{z}/{x}/{y}.png"),
    ]]  # fmt: skip
    by_name = {layer["name"]: layer for layer in inline_imagery(layers)}
    assert by_name["bad colormap"]["kind"] == by_name["outside results"]["kind"] == "tiles"  # kept as live tiles
    pixels = {}
    for name in ("viridis", "magma"):
        assert by_name[name]["kind"] == "image" and by_name[name]["bounds"][0] <= bounds[0]
        data = base64.b64decode(by_name[name]["url"].split(",", 1)[1])
        pixels[name] = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
        assert pixels[name][..., 3].mean() > 20
    assert not np.array_equal(pixels["viridis"], pixels["magma"])  # the URL's colormap and rescale were applied
