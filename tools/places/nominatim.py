"""The online geocoder: OpenStreetMap Nominatim, asked only when `settings.nominatim` is on and `settings.offline`
is off."""

from __future__ import annotations

import json
import logging

from tools.places.place import Place

log = logging.getLogger(__name__)


def nominatim_place(place: str) -> Place | None:
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
