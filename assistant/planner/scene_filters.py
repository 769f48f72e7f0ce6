"""The scene filters a question may set besides place and dates: the largest cloud cover accepted and the platform."""

from __future__ import annotations

import re

from tools.core.text import fold_text

_CLOUD_PCT = re.compile(
    r"(?:less than|under|below|at most|max(?:imum)?|<=?|moins de|inferieur a|au plus|maximum|sous)"
    r"\s*(\d{1,3})\s*(?:%|pc|percent|pour ?cent)"
    r"|(\d{1,3})\s*(?:%|percent|pour ?cent)\s*(?:of\s+)?"
    r"(?:cloud|clouds|cloud cover|de nuages|nuages|nuageux|couverture)",
)
_CLOUD_FREE = re.compile(r"\b(cloud ?free|cloudless|no clouds?|without clouds?|sans nuages?|clear sky|ciel degage)\b")


def parse_cloud_cover(text: str) -> float | None:
    """Largest cloud cover (%) the user accepts, if they said so."""
    plain = text.lower().replace("’", "'")
    plain = fold_text(plain.replace("%", " PCT ")).replace(" pct", "%")
    m = _CLOUD_PCT.search(plain)
    if m and re.search(r"cloud|nuag|couverture", plain):
        value = float(m.group(1) or m.group(2))
        if 0 <= value <= 100:
            return value
    if _CLOUD_FREE.search(plain):
        return 10.0
    return None


_PLATFORMS = [
    (re.compile(r"\bsentinel ?2\b|\bs2\b"), "sentinel-2"),
    (re.compile(r"\blandsat\b"), "landsat"),
    (re.compile(r"\bnaip\b"), "naip"),
    (re.compile(r"\bspacenet\b"), "spacenet"),
]


def parse_platform(text: str) -> str | None:
    """The platform a question names ('Sentinel-2', 'S2', 'Landsat', 'NAIP', 'SpaceNet'), or None."""
    plain = fold_text(text)
    for pattern, name in _PLATFORMS:
        if pattern.search(plain):
            return name
    return None
