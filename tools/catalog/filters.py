"""What `Catalog.search` filters on: an item's acquisition interval against a date range, its bbox, place and
platform. Pure functions of Item properties, so the store and the tools that pre-check dates share one reading."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import pystac

from tools.core.errors import BadInputError
from tools.core.text import squash_text


def item_interval(item: pystac.Item) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end] of an item's acquisition (equal for an exact date); None when the date is unknown."""
    props = item.properties
    if props.get("sentinelle:date_known") is False:
        return None
    start = props.get("start_datetime")
    end = props.get("end_datetime")
    if start and end:
        return parse_datetime(start), parse_datetime(end)
    if item.datetime is not None:
        return item.datetime, item.datetime
    return None


def parse_datetime(value: str | dt.datetime | dt.date) -> dt.datetime:
    """A UTC datetime from an ISO date/datetime or a year (a naive value is taken as UTC)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    text = str(value).strip()
    if re.fullmatch(r"\d{4}", text):
        return dt.datetime(int(text), 1, 1, tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def ordered_dates(start: str | dt.date | None, end: str | dt.date | None) -> tuple:
    """A date filter's (start, end) in time order: a reversed pair ('between 2018 and 2015') is swapped, and a date
    that does not exist ('2016-02-30') is a BadInputError, never a ValueError."""
    bounds = []
    for value in (start, end):
        try:
            bounds.append((parse_datetime(value), _end_of(value)) if value else None)
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"'{value}' is not a valid date (use YYYY-MM-DD or a year)") from exc
    if bounds[0] and bounds[1] and bounds[0][0] > bounds[1][1]:
        return end, start
    return start, end


def date_range(start: str | dt.date | None, end: str | dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end] of a date filter as datetimes (ISO dates or years; see `ordered_dates`)."""
    start, end = ordered_dates(start, end)
    return (parse_datetime(start) if start else None), (_end_of(end) if end else None)


def _end_of(value: str | dt.datetime | dt.date) -> dt.datetime:
    """An end bound given as a day or a year covers that whole day or year."""
    text = str(value).strip()
    if re.fullmatch(r"\d{4}", text):
        return dt.datetime(int(text), 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return parse_datetime(value) + dt.timedelta(days=1) - dt.timedelta(seconds=1)
    return parse_datetime(value)


def bbox_intersects(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two [west, south, east, north] boxes overlap (touching counts)."""
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def place_matches(props: dict, want: str) -> bool:
    """Whether an item's place or country is the `squash_text`ed place asked for."""
    place = squash_text(str(props.get("sentinelle:place") or ""))
    country = squash_text(str(props.get("sentinelle:country") or ""))
    if place.startswith("near"):
        place = place[4:]
    # the whole country name only: 'Île-de-France' is not France, though 'france' is in 'ile de france'
    bare = want.removeprefix("the")  # squash_text() drops spaces: 'thenetherlands'
    return bool((place and (want in place or place in want)) or (country and bare == country.removeprefix("the")))


def platform_key(text: str) -> str:
    """The key a platform filter is matched on ('Sentinel 2A' -> the squashed platform name)."""
    from tools.rasters.sensors import platform_name

    return squash_text(platform_name(text))


def platform_matches(props: dict, want: str) -> bool:
    """Whether an item's platform or constellation is (or starts with) the `platform_key` asked for."""
    platform = squash_text(str(props.get("platform") or ""))
    constellation = squash_text(str(props.get("constellation") or ""))
    return want == constellation or platform.startswith(want) or constellation.startswith(want)
