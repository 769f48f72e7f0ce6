"""Sensor facts, once: Sentinel-2 and Landsat bands (STAC `eo` common names), band file names, platform names."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Sentinel-2 MSI: (name, STAC common name, native gsd m, centre wavelength um) in the catalog's stacking order.
S2_BANDS = [
    ("B01", "coastal", 60, 0.443), ("B02", "blue", 10, 0.490), ("B03", "green", 10, 0.560),
    ("B04", "red", 10, 0.665), ("B05", "rededge", 20, 0.705), ("B06", "rededge", 20, 0.740),
    ("B07", "rededge", 20, 0.783), ("B08", "nir", 10, 0.842), ("B8A", "nir08", 20, 0.865),
    ("B09", "nir09", 60, 0.945), ("B10", "cirrus", 60, 1.375), ("B11", "swir16", 20, 1.610),
    ("B12", "swir22", 20, 2.190),
]  # fmt: skip
S2_ORDER = [b[0] for b in S2_BANDS]
S2_COMMON = {b[0]: b[1] for b in S2_BANDS}

# Landsat 8 OLI/TIRS bands stacked on the 30 m grid (B8 pan at 15 m and the QA band are left out).
L8_BANDS = [
    ("B1", "coastal", 0.443), ("B2", "blue", 0.482), ("B3", "green", 0.561), ("B4", "red", 0.655),
    ("B5", "nir08", 0.865), ("B6", "swir16", 1.609), ("B7", "swir22", 2.201), ("B9", "cirrus", 1.373),
    ("B10", "lwir11", 10.9), ("B11", "lwir12", 12.0),
]  # fmt: skip
# Landsat 4/5 TM and 7 ETM+ reflective bands as shipped in 6-band stacks (thermal band 6 left out).
TM_BANDS = [
    ("B1", "blue", 0.485), ("B2", "green", 0.56), ("B3", "red", 0.66), ("B4", "nir", 0.83),
    ("B5", "swir16", 1.65), ("B7", "swir22", 2.22),
]  # fmt: skip

# Per-band Sentinel-2 files: `..._B04.tif`, `T31UDQ_20171107T105229_B8A.jp2`, L2A `..._B02_10m.jp2`.
S2_BAND_FILE_RE = re.compile(
    r"^(?P<product>.*?)_?(?P<band>B0[1-9]|B1[0-2]|B8A)(?:_(?P<res>\d{2})m)?\.(tif|tiff|jp2)$", re.IGNORECASE
)
LANDSAT_BAND_FILE_RE = re.compile(r"^(?P<product>.*?)_(?P<band>B\d{1,2}|BQA)\.(tif|tiff)$", re.IGNORECASE)

_PLATFORM_ALIASES = {"s2": "sentinel-2", "s2a": "sentinel-2a", "s2b": "sentinel-2b", "s2c": "sentinel-2c",
                     "sentinel": "sentinel-2", "l5": "landsat-5", "l7": "landsat-7", "l8": "landsat-8",
                     "l9": "landsat-9"}  # fmt: skip


@dataclass
class Band:
    """One band of a scene: its name, STAC common name and centre wavelength (um)."""

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


def s2_band_name(text: str) -> str | None:
    """'B4', 'b04', 'B8A', '8A' -> the canonical Sentinel-2 band name ('B04', 'B8A'); None when it is not one."""
    value = text.strip().upper()
    value = value[1:] if value.startswith("B") else value
    if value == "8A":
        return "B8A"
    if value.isdigit() and 1 <= int(value) <= 12:
        return f"B{int(value):02d}"
    return None


def s2_band_file(name: str) -> tuple[str, str] | None:
    """(product prefix, canonical band) of a per-band Sentinel-2 file name, or None."""
    m = S2_BAND_FILE_RE.match(name)
    if not m:
        return None
    band = s2_band_name(m.group("band"))
    return (m.group("product"), band) if band else None


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


def platform_name(text: str) -> str:
    """One spelling of a platform: 'Sentinel 2'/'s2' -> 'sentinel-2', 'S2A' -> 'sentinel-2a',
    'LANDSAT_8'/'l8' -> 'landsat-8'; other names lower-cased with dashes."""
    value = re.sub(r"[\s_]+", "-", text.strip().lower())
    value = _PLATFORM_ALIASES.get(value, value)
    return re.sub(r"^(sentinel|landsat)-?(\d)", r"\1-\2", value)


def s2_platform_of_file(name: str) -> str:
    """The Sentinel-2 unit of a product file name ('S2A_...' -> 'sentinel-2a'), else 'sentinel-2'."""
    m = re.match(r"(S2[ABC])_", name, re.IGNORECASE)
    return platform_name(m.group(1)) if m else "sentinel-2"


SENSOR_NAMES = {"naip": "NAIP", "spacenet": "SpaceNet", "worldview": "WorldView", "planetscope": "PlanetScope",
                "spot": "SPOT", "modis": "MODIS"}


def sensor_name(platform: str | None) -> str | None:
    """'sentinel-2a' -> 'Sentinel-2A', 'landsat-8' -> 'Landsat 8', 'naip' -> 'NAIP' (catalog names read as names)."""
    if not platform:
        return None
    text = str(platform).strip().lower()
    head, _, tail = text.partition("-")
    if head == "sentinel" and tail:
        return f"Sentinel-{tail.upper()}"
    if head == "landsat" and tail:
        return f"Landsat {tail}"
    if head in SENSOR_NAMES:
        return SENSOR_NAMES[head] + (f"-{tail.upper()}" if tail else "")
    return text[:1].upper() + text[1:]
