"""The offline base map on the real Natural Earth files: where land and sea are, simplification per zoom band,
clipping, place names by rank, the HTTP route (with login) and the bundles inlined into reports."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import shapely
from fastapi.testclient import TestClient

from tools import basemap
from tools.core.errors import BadInputError, NotFoundError

sys.path.insert(0, str(Path(__file__).parent / "e2e"))

PARIS = (2.35, 48.86)
ATLANTIC = (-30.0, 40.0)
MUMBAI = (72.88, 19.07)


def _geoms(fc: dict) -> list:
    return [shapely.geometry.shape(f["geometry"]) for f in fc["features"]]


def _covers(fc: dict, lon: float, lat: float) -> bool:
    point = shapely.Point(lon, lat)
    return any(g.covers(point) for g in _geoms(fc))


@pytest.mark.parametrize("zoom", [2, 5, 8, 13])
def test_paris_is_on_land_and_the_atlantic_is_ocean_at_every_band(zoom):
    assert basemap.geometry_at("land", *PARIS, zoom=zoom) is not None
    assert basemap.geometry_at("ocean", *PARIS, zoom=zoom) is None
    assert basemap.geometry_at("ocean", *ATLANTIC, zoom=zoom) is not None
    assert basemap.geometry_at("land", *ATLANTIC, zoom=zoom) is None


def test_simplification_shrinks_vertex_counts_band_by_band():
    counts = [int(shapely.get_num_coordinates(basemap.simplified_layer("land", band)[0]).sum())
              for band in range(len(basemap.BANDS))]
    full = int(shapely.get_num_coordinates(basemap.load_layer("land")[0]).sum())
    assert counts == sorted(counts) and len(set(counts)) == len(counts), counts
    assert counts[-1] == full and counts[0] < full / 4, (counts, full)
    assert all(shapely.is_valid(basemap.simplified_layer("land", 0)[0]))


def test_a_view_is_clipped_to_its_snapped_box_and_keeps_the_coast():
    fc = basemap.layer_geojson("land", 8, (72.5, 18.5, 73.5, 19.5))
    west, south, east, north = fc["bbox"]
    assert (west, south, east, north) == (72.0, 18.0, 74.0, 20.0)  # snapped out to the 2 degree grid
    box = shapely.box(west, south, east, north).buffer(1e-9)
    assert fc["features"] and all(box.covers(g) for g in _geoms(fc))
    assert _covers(fc, 73.2, 19.0) and not _covers(fc, 72.6, 19.0)  # inland of Mumbai vs the Arabian Sea
    assert _covers(basemap.layer_geojson("urban", 8, (72.5, 18.5, 73.5, 19.5)), *MUMBAI)
    world = basemap.layer_geojson("land", 2, (72.5, 18.5, 73.5, 19.5))
    assert world["bbox"] == list(basemap.WORLD) and len(world["features"]) > 100


def test_place_names_follow_scalerank_and_layers_their_min_zoom():
    world = basemap.layer_geojson("places", 2)
    names = {f["properties"]["name"] for f in world["features"]}
    assert {"Paris", "Mumbai"} <= names and "Pune" not in names  # Pune's SCALERANK is 2
    assert all(f["properties"]["scalerank"] <= basemap.BANDS[0].max_place_rank for f in world["features"])
    near = basemap.layer_geojson("places", 8, (72.5, 18.0, 74.5, 19.5))
    assert "Pune" in {f["properties"]["name"] for f in near["features"]}
    assert set(world["features"][0]["properties"]) == {"name", "scalerank", "pop_max", "adm0cap"}
    assert basemap.layer_geojson("urban", 3, (0, 40, 10, 50))["features"] == []
    assert basemap.label_rank_for_zoom(2) < basemap.label_rank_for_zoom(5) < basemap.label_rank_for_zoom(8)


def test_bad_requests_are_library_errors():
    with pytest.raises(NotFoundError):
        basemap.layer_geojson("roads", 5)
    with pytest.raises(BadInputError):
        basemap.layer_geojson("land", 30)
    with pytest.raises(BadInputError):
        basemap.layer_geojson("land", 8, (10.0, 40.0, 5.0, 50.0))
    with pytest.raises(BadInputError):
        basemap.layer_geojson("land", 8, (200.0, 0.0, 210.0, 10.0))


def test_route_serves_gzipped_geojson_and_needs_the_login(tmp_data_dir, monkeypatch):
    from fake_agent import FakeAssistant

    from assistant.config import get_settings
    from assistant.ui.handlers import Handlers
    from assistant.ui.server import build_app
    from assistant.ui.store import SessionStore

    with TestClient(build_app(Handlers(store=SessionStore(), assistant=FakeAssistant))) as client:
        response = client.get("/basemap/coastline.json", params={"z": 8, "bbox": "72.5,18.5,73.5,19.5"},
                              headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and response.headers["content-encoding"] == "gzip"
        assert response.headers["content-type"] == "application/json"
        fc = response.json()  # the client undoes the gzip
        assert fc["type"] == "FeatureCollection" and fc["features"] and fc["bbox"] == [72.0, 18.0, 74.0, 20.0]
        plain = client.get("/basemap/coastline.json", params={"z": 8, "bbox": "72.6,18.6,73.4,19.4"},
                           headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and json.loads(plain.content) == fc  # same snapped box
        assert client.get("/basemap/roads.json", params={"z": 3}).status_code == 404
        assert client.get("/basemap/land.json", params={"z": 3, "bbox": "a,b"}).status_code == 400
        assert client.get("/basemap/land.json", params={"z": 40}).status_code == 422
        names = [layer["name"] for layer in client.get("/basemap/layers.json").json()["layers"]]
        assert names == list(basemap.LAYERS)

    monkeypatch.setenv("SENTINELLE_AUTH", "jury:s3cret")
    get_settings.cache_clear()
    with TestClient(build_app(Handlers(store=SessionStore(), assistant=FakeAssistant))) as client:
        assert client.get("/basemap/land.json", params={"z": 2}).status_code == 401


def test_report_pages_inline_world_region_and_local_bundles():
    from assistant.ui.basemap_page import embedded_basemap, layers_extent
    from assistant.ui.map import standalone_map_html

    ring = [[2.15, 48.71], [2.19, 48.71], [2.19, 48.75], [2.15, 48.75], [2.15, 48.71]]
    layers = [{"name": "changes", "kind": "geojson", "data": {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": {}}]}}]
    assert layers_extent(layers) == (2.15, 48.71, 2.19, 48.75)
    bundles = embedded_basemap(layers)["bundles"]
    assert [b["min_zoom"] for b in bundles] == [0, 5, 8]
    local = bundles[-1]["layers"]
    assert _covers(local["urban"], 2.17, 48.73) and _covers(local["land"], 2.17, 48.73)
    assert "Paris" in {f["properties"]["name"] for f in local["places"]["features"]}
    page = standalone_map_html({"layers": layers})
    assert "id='sn-basemap-data'" in page and "SentinelleBasemap" in page and "SentinelleCompare" in page
    assert [b["min_zoom"] for b in embedded_basemap([])["bundles"]] == [0]


def test_warm_up_simplifies_the_world_band_of_every_layer():
    from tools import basemap

    basemap.simplified_layer.cache_clear()
    basemap.warm_up()
    info = basemap.simplified_layer.cache_info()
    assert info.currsize == len(basemap.LAYERS)  # one entry per layer, world band only
    basemap.layer_geojson("land", 2)
    assert basemap.simplified_layer.cache_info().hits > info.hits  # the first world view is served from the cache
