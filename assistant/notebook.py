"""A session's map in a notebook: `to_leafmap(session)` gives a leafmap (folium backend) map with the same layers,
their legends and the offline Natural Earth base map.

It must work with no internet, like the app: folium loads Leaflet from a CDN and leafmap adds online base maps by
default, so the map gets no tile base map, the vendored Leaflet is inlined as `data:` URIs, catalog/result tiles are
inlined as images (as in the HTML report) and markers are circles (Leaflet's pin icon is an image from a URL).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assistant.errors import BadInputError
from assistant.events import MapLayer
from assistant.ui.basemap_page import embedded_basemap, layers_extent
from assistant.ui.map import STATIC_DIR
from tools import basemap
from tools.core.errors import ModelUnavailableError

if TYPE_CHECKING:
    from leafmap.foliumap import Map

    from assistant.session import Session

BASE_STYLES: dict[str, dict[str, Any]] = {
    "ocean": {"stroke": False, "fillColor": "#c9dbe8", "fillOpacity": 1},
    "land": {"stroke": False, "fillColor": "#f3f0e8", "fillOpacity": 1},
    "lakes": {"color": "#a9c3d6", "weight": 0.6, "fillColor": "#c9dbe8", "fillOpacity": 1},
    "urban": {"stroke": False, "fillColor": "#e6dccd", "fillOpacity": 1},
    "rivers": {"color": "#a9c3d6", "weight": 1, "fill": False},
    "coastline": {"color": "#93afc4", "weight": 0.8, "fill": False},
    "admin1": {"color": "#c2b3cc", "weight": 0.7, "dashArray": "3 3", "fill": False},
    "countries": {"color": "#9c87a8", "weight": 1.2, "fill": False},
}
"""The same muted style as the app's basemap.js."""


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def _leaflet_css() -> str:
    """The vendored leaflet.css with its images (layer-control icon) inlined, so a data: URI CSS finds them."""
    folder = STATIC_DIR / "leaflet"
    return re.sub(r"url\((images/[\w.-]+\.png)\)",
                  lambda match: f"url({_data_uri((folder / match.group(1)).read_bytes(), 'image/png')})",
                  (folder / "leaflet.css").read_text())


def _layer_dicts(source: Session | Sequence[MapLayer | dict[str, Any]]) -> tuple[list[dict[str, Any]], dict | None]:
    layers = getattr(source, "layers", source)
    view = getattr(source, "view", None)
    if not isinstance(layers, Sequence) or isinstance(layers, str | bytes):
        raise BadInputError("to_leafmap takes a Session or a list of map layers")
    out = []
    for layer in layers:
        spec = layer if isinstance(layer, MapLayer) else MapLayer.model_validate(layer)
        out.append(spec.model_dump(exclude_none=True))
    return out, view


def _add_basemap(m: Map, layers: list[dict[str, Any]], zoom: int) -> None:
    """Natural Earth bundles (world, region, local) as folium GeoJSON under everything, place names as tooltips."""
    import folium

    group = folium.FeatureGroup(name="Natural Earth (offline)", overlay=False, control=True)
    rank = basemap.label_rank_for_zoom(zoom)
    named: set[tuple[str, float, float]] = set()
    for bundle in embedded_basemap(layers)["bundles"]:
        for name, fc in bundle["layers"].items():
            if not fc["features"]:
                continue
            if name == "places":
                for feature in fc["features"]:
                    lon, lat = feature["geometry"]["coordinates"][:2]
                    props = feature["properties"]
                    key = (str(props.get("name")), round(lat, 2), round(lon, 2))
                    if key in named:
                        continue
                    named.add(key)
                    tooltip = None
                    if props.get("scalerank", 10) <= rank:
                        tooltip = folium.Tooltip(html.escape(key[0]), permanent=True, direction="right",
                                                 class_name="sn-place-label")
                    folium.CircleMarker([lat, lon], radius=2.5, color="#5b5b5b", weight=1, fill=True,
                                        fill_color="#ffffff", fill_opacity=1, tooltip=tooltip).add_to(group)
                continue
            style = BASE_STYLES.get(name, {"color": "#999", "weight": 1})
            folium.GeoJson(fc, name=name, style_function=lambda _f, s=style: s, interactive=False,
                           control=False).add_to(group)
    group.add_to(m)


def _add_layer(m: Map, spec: dict[str, Any], inline: bool) -> None:
    import folium
    from folium.raster_layers import ImageOverlay

    from assistant.ui.report_imagery import inline_tile_layer

    style = spec.get("style") or {}
    name = spec["name"]
    if spec["kind"] == "tiles" and inline:
        spec = inline_tile_layer(spec) or spec
    bounds = spec.get("bounds")
    if spec["kind"] == "tiles":
        folium.TileLayer(spec["url"], name=name, attr="Sentinelle", overlay=True, show=spec.get("visible", True),
                         opacity=style.get("opacity", 1)).add_to(m)
    elif spec["kind"] == "image" and bounds:
        west, south, east, north = bounds
        ImageOverlay(spec["url"], bounds=[[south, west], [north, east]], name=name, show=spec.get("visible", True),
                     opacity=style.get("opacity", 1)).add_to(m)
    elif spec["kind"] == "geojson" and spec.get("data"):
        drawn = {"color": "#3388ff", "weight": 2, "fillOpacity": 0.2, **style}
        folium.GeoJson(spec["data"], name=name, show=spec.get("visible", True),
                       style_function=lambda _f, s=drawn: s).add_to(m)
    elif spec["kind"] == "marker" and spec.get("point"):
        lon, lat = spec["point"][:2]
        folium.CircleMarker([lat, lon], radius=7, color="#1f5fbf", fill=True, fill_opacity=0.9,
                            tooltip=html.escape(name)).add_to(folium.FeatureGroup(name=name).add_to(m))
    elif spec["kind"] == "bounds" and bounds:
        west, south, east, north = bounds
        folium.Rectangle([[south, west], [north, east]], color=style.get("color", "#ff7800"), weight=2, fill=False,
                         tooltip=html.escape(name)).add_to(folium.FeatureGroup(name=name).add_to(m))


def _add_legend(m: Map, layers: list[dict[str, Any]]) -> None:
    """One legend box (leafmap's) per layer that has a legend, text escaped."""
    for spec in layers:
        legend = spec.get("legend")
        if not legend or spec.get("visible") is False:
            continue
        entries = {html.escape(label): color for label, color in legend.items() if color != "transparent"}
        notes = [html.escape(label) for label, color in legend.items() if color == "transparent"]
        if notes:
            entries.update({note: "#ffffff" for note in notes})
        m.add_legend(title=html.escape(spec["name"]), legend_dict=entries, draggable=False, position="bottomright")


def to_leafmap(source: Session | Sequence[MapLayer | dict[str, Any]], inline_imagery: bool = True) -> Map:
    """A leafmap `Map` (folium backend) of a session's map layers (or a list of layers) over the Natural Earth
    base map, drawing with no internet. `inline_imagery` renders catalog/result tile layers into the page (as the
    HTML report does), so the map needs no running Sentinelle server."""
    try:
        from leafmap.foliumap import Map
    except ImportError as exc:
        raise ModelUnavailableError("leafmap is not installed: pip install -e '.[notebook]'") from exc

    layers, view = _layer_dicts(source)
    extent = layers_extent(layers) or (-30.0, -50.0, 60.0, 70.0)
    if view and view.get("bounds"):
        extent = tuple(view["bounds"])
    zoom = basemap.zoom_for_bbox(extent, width_px=800)
    center = [(extent[1] + extent[3]) / 2, (extent[0] + extent[2]) / 2]
    m = Map(center=center, zoom=zoom, tiles=None, draw_control=False, measure_control=False,
            fullscreen_control=False, search_control=False, locate_control=False, scale_control=True)
    # the vendored Leaflet, inline: no CDN (folium's defaults also pull jQuery and Bootstrap, unused here)
    m.default_js = [("leaflet", _data_uri((STATIC_DIR / "leaflet" / "leaflet.js").read_bytes(), "text/javascript"))]
    m.default_css = [("leaflet_css", _data_uri(_leaflet_css().encode(), "text/css"))]
    _add_basemap(m, layers, zoom)
    for spec in layers:
        _add_layer(m, spec, inline_imagery)
    _add_legend(m, layers)
    m.add_layer_control()
    if len(layers):
        west, south, east, north = extent
        m.fit_bounds([[south, west], [north, east]])
    return m
