"""`to_leafmap`: a session's map as a leafmap (folium) map that draws with no internet: no outside URL in its HTML,
the session's layers, legend and the Natural Earth base map in it, imagery inlined."""

from __future__ import annotations

import re

import pytest

from assistant.events import MapLayer
from assistant.session import Session
from tools.data import geodata_path

RING = [[2.15, 48.71], [2.19, 48.71], [2.19, 48.75], [2.15, 48.75], [2.15, 48.71]]
OUTSIDE_URL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.I)


def _session() -> Session:
    polygons = MapLayer(name="Saclay: changes (1 patches)", kind="geojson", style={"color": "#e4572e"},
                        data={"type": "FeatureCollection", "features": [
                            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [RING]},
                             "properties": {"area_ha": 12.5}}]},
                        legend={"changed: score ≥ 0.42 (outlined)": "#e4572e",
                                "no colour: masked <clouds>": "transparent"})
    marker = MapLayer(name="place: Saclay", kind="marker", point=[2.17, 48.73])
    return Session(layers=[polygons, marker])


def test_to_leafmap_writes_offline_html_with_the_layers_legend_and_base_map(tmp_path):
    from leafmap.foliumap import Map

    from assistant.notebook import to_leafmap

    m = to_leafmap(_session())
    assert isinstance(m, Map)
    out = tmp_path / "map.html"
    m.to_html(str(out))
    page = out.read_text()
    assert not OUTSIDE_URL.search(page), OUTSIDE_URL.search(page)
    assert "https://" not in page and "http://" not in page.replace("http://www.w3.org", "")
    assert "data:text/javascript;base64," in page and "data:text/css;base64," in page  # the vendored Leaflet
    assert "Saclay: changes (1 patches)" in page and "place: Saclay" in page
    assert "changed: score ≥ 0.42 (outlined)" in page
    assert "masked &lt;clouds&gt;" in page and "masked <clouds>" not in page  # legend text is escaped
    assert "Natural Earth (offline)" in page and page.count("\"permanent\": true") >= 5  # named places
    assert "Paris" in page and "2.17" in page


def test_to_leafmap_inlines_catalog_imagery(tmp_data_dir):
    from assistant.notebook import to_leafmap
    from tools.catalog import open_catalog
    from tools.tiles import scene_tile_url

    report = open_catalog().ingest([geodata_path("rasterio-fixtures/RGB.byte.tif")], place="Fixture")
    assert report.refused == []
    scene = report.items[0]
    layer = {"name": "after 2017", "kind": "tiles", "url": scene_tile_url(scene.id), "bounds": list(scene.bbox),
             "role": "after"}
    page = to_leafmap([layer]).get_root().render()
    assert "data:image/png;base64," in page and "/tiles/scenes/" not in page
    assert "after 2017" in page


def test_to_leafmap_refuses_what_is_not_layers():
    from assistant.errors import BadInputError
    from assistant.notebook import to_leafmap

    with pytest.raises(BadInputError):
        to_leafmap("not layers")
