"""Arguments of sector questions (EN/FR): the theme named by its words, a site radius, a lon/lat, a watch threshold.

Rule-based like `dates.py` and `place_names.py`: "within 2 km of 2.25, 48.70", "dans un rayon de 2 km",
"more than 5 %", "plus de 5 %" are copied exactly, never guessed.
"""

from __future__ import annotations

import re
import unicodedata

from tools.core.text import fold_text

# theme -> words on the normalised (accent-free, lower-case) text
THEME_WORDS: dict[str, re.Pattern[str]] = {
    "burned": re.compile(r"\b(burn\w*|fires?|wildfires?|brul\w*|incendi\w*|feux?)\b"),
    "water": re.compile(r"\b(water|flood\w*|wetlands?|lakes?|rivers?|reservoirs?|inundat\w*|ponds?|potholes?"
                        r"|eau|inond\w*|crues?|zones? humides?|lacs?|rivieres?|fleuves?|reservoirs?|etangs?"
                        r"|plans? d eau)\b"),
    "built": re.compile(r"\b(built|build\w*|urban\w*|construct\w*|infrastructure\w*|sprawl|impervious|concrete"
                        r"|bati\w*|urbain\w*|urbanis\w*|etalement|artificialis\w*|emprise)\b"),
    "vegetation": re.compile(r"\b(\w*forest\w*|trees?|tree cover|vegetation|canopy|logging|clear.?cut\w*"
                             r"|regrowth|green cover|foret\w*|deforest\w*|arbres?|vegetation|couvert|repousse"
                             r"|coupe\w*)\b"),
}
SITE_WORDS = re.compile(r"\b(site|facility|plant|factory|usine|installation|within|around|rayon|autour|moins de"
                        r"|watch|monitor|surveill\w*|alert\w*|previen\w*)\b")
# words that ask for a thematic measure (not 'new buildings' or 'changed': those stay with detect_change)
SECTOR_CUE = re.compile(
    r"\b(\w*forest\w*|trees?|vegetation|canopy|foret\w*|arbres?|couvert\w*|water|flood\w*|wetlands?"
    r"|lakes?|reservoirs?|eau|inond\w*|zones? humides?|lacs?|burn\w*|fires?|wildfires?|brul\w*|incendi\w*"
    r"|built up|sprawl|infrastructure\w*|etalement|artificialis\w*|emprise|km2|hectares?|surface|extent|cover"
    r"|how much (land|area|forest|water)|alert\w*|threshold|seuil|within \d+|rayon de|a moins de \d+)\b")

_RADIUS = re.compile(r"(?:within|inside|in a radius of|radius of|around|dans un rayon de|rayon de|a moins de|moins de)"
                     r"\s+(\d+(?:[.,]\d+)?)\s*(km|kilometres?|kilometers?|m|metres?|meters?)\b")
_RADIUS_AFTER = re.compile(r"\b(\d+(?:[.,]\d+)?)\s*(km|kilometres?|kilometers?)\s+(?:around|of|autour|de|du|d)\b")
_POINT = re.compile(r"(-?\d{1,3}\.\d+)\s*[,;/ ]\s*(-?\d{1,2}\.\d+)")
_THRESHOLD = re.compile(r"(?:more than|over|above|exceeds?|beyond|threshold of|threshold|plus de|au dela de"
                        r"|depasse\w*|seuil de|seuil)\s+(\d+(?:[.,]\d+)?)\s*(?:%|percent|pour ?cent)")


def _plain(text: str) -> str:
    """Lower case without accents, numbers and their '.', ',' and '%' kept (fold_text() drops punctuation)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    return " ".join(re.sub(r"[’'\u202f\u00a0]", " ", text).split())


def parse_theme(message: str) -> str | None:
    """vegetation | water | built | burned, from the first theme whose words the message uses; None if none."""
    plain = fold_text(message)
    hits = [(m.start(), name) for name, pattern in THEME_WORDS.items() if (m := pattern.search(plain))]
    return min(hits)[1] if hits else None


def parse_radius_km(message: str) -> float | None:
    """'within 2 km of', 'dans un rayon de 500 m', '3 km around' -> kilometres."""
    plain = _plain(message)
    m = _RADIUS.search(plain) or _RADIUS_AFTER.search(plain)
    if not m:
        return None
    value = float(m.group(1).replace(",", "."))
    return value / 1000.0 if m.group(2).startswith("m") else value


def parse_point(message: str) -> tuple[float, float] | None:
    """'2.25, 48.70' -> (lon, lat): decimal degrees, longitude first (as the map and GeoJSON write them)."""
    m = _POINT.search(message)
    if not m:
        return None
    lon, lat = float(m.group(1)), float(m.group(2))
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return lon, lat
    return None


def parse_threshold(message: str) -> float | None:
    """'more than 5 %', 'plus de 5 %' -> 5.0 (percent of the watched area)."""
    m = _THRESHOLD.search(_plain(message))
    return float(m.group(1).replace(",", ".")) if m else None
