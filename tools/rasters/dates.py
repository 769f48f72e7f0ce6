"""Acquisition dates from file names, raster tags and `dates.txt`: one parser, used by ingest, change and reader.

A date is a `DateFact`: exact, or only known to lie in an interval (a year in a file name). Each parser returns
None when it cannot tell, so that the next source of dates can be tried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path


@dataclass
class DateFact:
    """An acquisition date: exact (`start == end`) or only known to lie in [start, end] (e.g. a year)."""

    start: datetime
    end: datetime
    source: str

    @property
    def exact(self) -> bool:
        return self.start == self.end

    @property
    def middle(self) -> datetime:
        return self.start + (self.end - self.start) / 2

    @property
    def day(self) -> str:
        """The ISO day that stands for this date: the day itself when exact, else the middle of the interval."""
        return (self.start if self.exact else self.middle).date().isoformat()


def _utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def exact_date(value: datetime, source: str) -> DateFact:
    return DateFact(value, value, source)


def year_date(year: int, source: str) -> DateFact:
    return DateFact(_utc(year), _utc(year, 12, 31), source)


def parse_iso(value: str) -> DateFact:
    """User-given dates: YYYY, YYYY-MM-DD or a full ISO datetime (UTC when no zone)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}", value):
        return year_date(int(value), "argument")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return exact_date(parsed, "argument")


_LANDSAT_ID = re.compile(r"L([CTEOM])(\d)(\d{3})(\d{3})(\d{4})(\d{3})")  # LT51200382000124 -> L5 TM, 2000 day 124
_LANDSAT_OLD = re.compile(r"L(\d)\d(\d{3})(\d{3})_\d{3}(\d{4})(\d{2})(\d{2})")  # L71119038_03820000317 -> 2000-03-17
_NAIP = re.compile(r"m_\d{7}_[ns][ew]_\d{2}_\d+_(\d{8})")
_S2_TILE_DATE = re.compile(r"T\d{2}[A-Z]{3}_(\d{8})T(\d{6})")  # T31UDQ_20171107T105229_B01
_S2_OPER = re.compile(r"^(S2[AB])_OPER_.*_A(\d{6})_")  # old tile names: the date in them is a processing time
_S2_ORBIT_EPOCH = {"S2A": datetime(2015, 6, 23, 1, 52, tzinfo=UTC), "S2B": datetime(2017, 3, 7, 1, 49, tzinfo=UTC)}
_S2_ORBITS_PER_DAY = 14.3  # 143 orbits per 10-day repeat cycle
# YYYYMMDD, YYYY-MM-DD or YYYY_MM_DD (one separator throughout), not inside a longer number
_DAY = re.compile(r"(?<!\d)((?:19|20)\d{2})([-_]?)(0[1-9]|1[0-2])\2(0[1-9]|[12]\d|3[01])(?!\d)")
_YEAR = re.compile(r"(?<!\d)(19[789]\d|20[0-3]\d)(?!\d)")  # 1970-2039, not inside a longer number


@dataclass
class LandsatId:
    platform: str
    sensor: str
    date: datetime


def parse_landsat_id(text: str) -> LandsatId | None:
    """Landsat scene ids in names or headers: new style (year + day of year) and old L7 style (YYYYMMDD)."""
    sensors = {"C": "oli-tirs", "T": "tm", "E": "etm+", "O": "oli", "M": "mss"}
    if m := _LANDSAT_ID.search(text):
        sensor, sat, _path, _row, year, doy = m.groups()
        if 1972 <= int(year) <= 2100 and 1 <= int(doy) <= 366:
            return LandsatId(f"landsat-{sat}", sensors[sensor], _utc(int(year)) + timedelta(days=int(doy) - 1))
    if m := _LANDSAT_OLD.search(text):
        sat, _path, _row, year, month, day = m.groups()
        try:
            return LandsatId(f"landsat-{sat}", "etm+" if sat == "7" else "tm", _utc(int(year), int(month), int(day)))
        except ValueError:
            return None
    return None


def date_from_name(name: str) -> DateFact | None:
    """Dates in file names: NAIP m_..._YYYYMMDD, Landsat scene ids, Sentinel-2 tile names, YYYYMMDD (or with - or
    _ between the parts), else a year (1970-2039) standing alone in the name."""
    stem = Path(name).name
    if m := _NAIP.search(stem):
        return exact_date(datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC), "file name (NAIP)")
    if lid := parse_landsat_id(stem):
        return exact_date(lid.date, "file name (Landsat scene id)")
    if m := _S2_OPER.match(stem):
        # sensing day from the absolute orbit number (matches OSCD's dates.txt for every city in the sample data)
        when = _S2_ORBIT_EPOCH[m.group(1)] + timedelta(days=(int(m.group(2)) - 1) / _S2_ORBITS_PER_DAY)
        return exact_date(_utc(when.year, when.month, when.day), "Sentinel-2 absolute orbit")
    if m := _S2_TILE_DATE.search(stem):
        stamp = datetime.strptime(m.group(1) + m.group(2), "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        return exact_date(stamp, "file name (Sentinel-2 tile)")
    if m := _DAY.search(stem):
        try:
            return exact_date(_utc(int(m.group(1)), int(m.group(3)), int(m.group(4))), "file name")
        except ValueError:  # 20170231
            pass
    if m := _YEAR.search(Path(stem).stem):
        return year_date(int(m.group(1)), "file name (year)")
    return None


_DATE_TAGS = ("TIFFTAG_DATETIME", "ACQUISITIONDATE", "DATE_ACQUIRED", "EXIF_DateTimeOriginal")


def date_from_tags(tags: dict) -> DateFact | None:
    """A raster's own date tags (GeoTIFF TIFFTAG_DATETIME, ACQUISITIONDATE, EXIF), first one that parses."""
    for key in _DATE_TAGS:
        if fact := date_from_tiff_tag(tags.get(key)):
            return fact
    return None


def date_from_tiff_tag(value: str | None) -> DateFact | None:
    """TIFFTAG_DATETIME ('YYYY:MM:DD HH:MM:SS') and ACQUISITIONDATE-like tags."""
    if not value:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%Y%m%d"):
        try:
            return exact_date(datetime.strptime(value.strip()[:19], fmt).replace(tzinfo=UTC), "raster metadata")
        except ValueError:
            continue
    return None


def oscd_dates(city_dir: Path) -> dict[str, DateFact]:
    """OSCD `dates.txt` (date_1 -> imgs_1, date_2 -> imgs_2); the tile names of imgs_1 carry processing times."""
    path = city_dir / "dates.txt"
    out: dict[str, DateFact] = {}
    if not path.is_file():
        return out
    for line in path.read_text().splitlines():
        if m := re.match(r"\s*date_(\d)\s*:\s*(\d{8})", line):
            stamp = datetime.strptime(m.group(2), "%Y%m%d").replace(tzinfo=UTC)
            out[f"imgs_{m.group(1)}"] = exact_date(stamp, "dates.txt")
    return out
