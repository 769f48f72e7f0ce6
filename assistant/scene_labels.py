"""Scenes in words for answers and the chat: 'Sentinel-2 image of Rotterdam, 12 March 2018' / 'image Sentinel-2 de
Rotterdam, 12 mars 2018', never a raw id (ids stay in the facts and exports)."""

from __future__ import annotations

import unicodedata
from datetime import date
from pathlib import PurePosixPath
from typing import Any

from tools.rasters.sensors import sensor_name  # noqa: F401 - re-exported: the answers name sensors

NOUNS = {
    "en": {"scene": ("scene", "scenes"), "tile": ("tile", "tiles")},
    "fr": {"scene": ("scène", "scènes"), "tile": ("tuile", "tuiles")},
}


def day_label(day: str | None, language: str) -> str | None:
    """'2018-03-12' -> '12 March 2018' (en) / '12 mars 2018' (fr); what is not a date is returned as given."""
    if not day:
        return None
    try:
        when = date.fromisoformat(str(day)[:10])
    except ValueError:
        return str(day)
    from babel.dates import format_date

    return format_date(when, "d MMMM y", locale=language if language in NOUNS else "en")


def count_label(n: int, noun: str, language: str) -> str:
    """'1 scene', '3 scenes', '3 scènes' (the number as a plain integer, as the facts hold it)."""
    one, many = NOUNS.get(language, NOUNS["en"])[noun]
    return f"{n} {one if n == 1 else many}"


def _of(place: str, language: str) -> str:
    if language != "fr":
        return f"of {place}"
    first = unicodedata.normalize("NFKD", place[:1])[:1].lower()
    return f"d'{place}" if first in "aeiouyh" else f"de {place}"


def _class_words(row: dict[str, Any], language: str) -> str | None:
    if language == "fr" and row.get("class"):
        from tools.search.describe import french_name

        return french_name(str(row["class"]))
    return row.get("class_name")


def scene_title(row: dict[str, Any], language: str) -> str:
    """What a scene is, in words: sensor, place and date when known; a stored picture without any, by its name."""
    sensor = sensor_name(row.get("platform"))
    place = row.get("place")
    when = day_label(row.get("date"), language)
    if language == "fr":
        title = "image" + (f" {sensor}" if sensor else "")
    else:
        title = f"{sensor} image" if sensor else "image"
    if place:
        title += " " + _of(str(place), language)
    elif not sensor and not when:
        name = PurePosixPath(str(row.get("scene_id") or "")).stem
        if name:
            title += f" « {name} »" if language == "fr" else f" '{name}'"
    if when:
        title += f", {when}"
    return title


def scene_titles(rows: list[dict[str, Any]], language: str) -> list[str]:
    """The titles of several scenes, told apart: two scenes of one place and date (three views of one port) also
    say where their footprints' centres are."""
    from collections import Counter

    from assistant.templates import fmt_coord

    titles = [scene_title(row, language) for row in rows]
    repeated = Counter(titles)
    out = []
    for title, row in zip(titles, rows, strict=True):
        bbox = row.get("bbox")
        if repeated[title] > 1 and bbox and len(bbox) == 4:
            lon, lat = (float(bbox[0]) + float(bbox[2])) / 2, (float(bbox[1]) + float(bbox[3])) / 2
            west = "W" if language == "en" else "O"
            title += f", {fmt_coord(lat, 'N', 'S', language)} {fmt_coord(lon, 'E', west, language)}"
        out.append(title)
    return out


def scene_label(row: dict[str, Any], language: str, title: str | None = None) -> str:
    """A scene with what the search measured: '<title> (industrial area, 3 tiles, score 0.73)'."""
    from assistant.templates import fmt_number, fmt_percent

    details = []
    kind = _class_words(row, language)
    if kind:
        details.append(kind)
    chips = int(row.get("chips") or 0)
    if chips > 1:
        details.append(count_label(chips, "tile", language))
    if row.get("cloud_cover") is not None:
        cloud = fmt_percent(float(row["cloud_cover"]), language)
        details.append(cloud + (" clouds" if language != "fr" else " de nuages"))
    if row.get("score") is not None:
        details.append("score " + fmt_number(float(row["score"]), language, 2))
    title = title or scene_title(row, language)
    return f"{title} ({', '.join(details)})" if details else title
