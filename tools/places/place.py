"""A resolved place: the one record every place source (catalog, gazetteer, online geocoder) answers with."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
