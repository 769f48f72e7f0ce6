"""Per-sensor band mapping onto Galileo's 13 space-time bands, with the group masks and normalisation.

Galileo expects Sentinel-2 digital numbers (reflectance x 10000) normalised with its training statistics.
Sentinel-2 inputs use those statistics directly; other sensors (Landsat DN, NAIP/aerial 8-bit) have no common
radiometric scale, so both dates are standardised with statistics pooled over the pair, which keeps the two
dates comparable while bringing values into the range the encoder saw in training.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from tools.change.galileo import SPACE_TIME_BANDS, SPACE_TIME_GROUPS

S2_ORDER_13 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12"]
S2_ORDER_12 = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12"]
# Sentinel-2 band id -> Galileo band name (bands Galileo does not use are absent).
S2_TO_GALILEO = {
    "B02": "B2", "B03": "B3", "B04": "B4", "B05": "B5", "B06": "B6", "B07": "B7",
    "B08": "B8", "B8A": "B8A", "B11": "B11", "B12": "B12",
}
COMMON_TO_GALILEO = {
    "blue": "B2", "green": "B3", "red": "B4", "nir": "B8", "nir08": "B8A", "swir16": "B11", "swir22": "B12",
}
REDEDGE = ["B5", "B6", "B7"]
LANDSAT_TM = ["B2", "B3", "B4", "B8", "B11", "B12"]  # TM/ETM+ bands 1,2,3,4,5,7
LANDSAT_OLI = [None, "B2", "B3", "B4", "B8", "B11", "B12"]  # OLI bands 1..7 (1 = coastal)
RGBN = ["B4", "B3", "B2", "B8"]
RGB = ["B4", "B3", "B2"]


@dataclass
class BandMap:
    """Which source band (0-based) feeds each Galileo band, and how the values are scaled."""

    sensor: str
    galileo_to_source: dict[str, int]
    scaling: str = "pair"  # "s2dn" (Galileo statistics) or "pair" (pooled pair statistics)
    dn_factor: float = 1.0  # multiply raw values by this before S2 normalisation (reflectance 0..1 -> DN)
    pair_mean: dict[str, float] = field(default_factory=dict)
    pair_std: dict[str, float] = field(default_factory=dict)

    @property
    def has_ndvi(self) -> bool:
        return "B4" in self.galileo_to_source and "B8" in self.galileo_to_source

    @property
    def visible_groups(self) -> list[str]:
        """Galileo groups all of whose bands exist in the source (NDVI when red and NIR exist)."""
        out = []
        for name, idx in SPACE_TIME_GROUPS.items():
            if name == "NDVI":
                if self.has_ndvi:
                    out.append(name)
            elif all(SPACE_TIME_BANDS[i] in self.galileo_to_source for i in idx):
                out.append(name)
        return out

    @property
    def group_mask(self) -> np.ndarray:
        """(7,) float32, 1 = group absent, in Galileo's group order."""
        vis = set(self.visible_groups)
        return np.array([0.0 if g in vis else 1.0 for g in SPACE_TIME_GROUPS], dtype=np.float32)

    @property
    def used_bands(self) -> list[str]:
        """Galileo band names fed by the source, in Galileo order (excluding NDVI)."""
        groups = set(self.visible_groups)
        names = [SPACE_TIME_BANDS[i] for g, idx in SPACE_TIME_GROUPS.items() if g in groups for i in idx]
        return [n for n in names if n != "NDVI"]

    @property
    def is_rgb_only(self) -> bool:
        return self.visible_groups == ["S2_RGB"]


@lru_cache(maxsize=1)
def galileo_stats() -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the 13 space-time bands from the published normalization.json."""
    from tools.data import model_path

    stats = json.loads(model_path("galileo-nano/normalization.json").read_text())["13"]
    return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)


def _s2_id(name: str) -> str | None:
    m = re.search(r"B(8A|\d{1,2})$", name.strip().upper())
    if not m:
        return None
    v = m.group(1)
    return "B8A" if v == "8A" else f"B{int(v):02d}"


def band_map_from_names(names: list[str | None], common: list[str | None] | None = None, sensor: str = "") -> BandMap:
    """Maps bands by Sentinel-2 ids (B04, B8A) or STAC common names (red, nir, swir16); None when unknown."""
    common = common or [None] * len(names)
    mapping: dict[str, int] = {}
    rededge_seen = 0
    s2_like = sensor.startswith("sentinel-2") or all(n and _s2_id(n) for n in names if n)
    for i, (name, cn) in enumerate(zip(names, common, strict=False)):
        g = None
        if s2_like and name and _s2_id(name):
            g = S2_TO_GALILEO.get(_s2_id(name) or "")
        elif cn:
            cn = cn.lower()
            if cn == "rededge" and rededge_seen < 3:
                g = REDEDGE[rededge_seen]
                rededge_seen += 1
            else:
                g = COMMON_TO_GALILEO.get(cn)
        if g and g not in mapping:
            mapping[g] = i
    family = "sentinel-2" if s2_like else (sensor or "multispectral")
    return BandMap(family, mapping)


def band_map_from_count(count: int, sensor: str = "") -> BandMap:
    """Band order by convention when a raster carries no band names."""
    sensor = sensor.lower()
    if count == 13:
        names = S2_ORDER_13
    elif count == 12 and not sensor.startswith("landsat"):
        names = S2_ORDER_12
    else:
        names = []
    if names:
        return BandMap("sentinel-2", {S2_TO_GALILEO[n]: i for i, n in enumerate(names) if n in S2_TO_GALILEO})
    table: list[str | None]
    if count >= 7 and sensor.startswith("landsat"):
        table, family = LANDSAT_OLI, "landsat-oli"
    elif count == 6:
        table, family = LANDSAT_TM, "landsat-tm"
    elif count == 7:
        table, family = LANDSAT_OLI, "landsat-oli"
    elif count == 4:
        table, family = RGBN, sensor or "rgbn"
    elif count == 3:
        table, family = RGB, sensor or "rgb"
    else:  # one band (panchromatic) or unknown: the first band drives the visible (RGB) group
        return BandMap("panchromatic", {"B2": 0, "B3": 0, "B4": 0})
    return BandMap(family, {g: i for i, g in enumerate(table) if g})


def common_bands(bms: list[BandMap]) -> list[BandMap]:
    """Restricts band maps of several sources to the Galileo bands they all provide."""
    shared = set.intersection(*(set(b.galileo_to_source) for b in bms))
    return [BandMap(b.sensor, {g: i for g, i in b.galileo_to_source.items() if g in shared}) for b in bms]


def fit_scaling(bms: list[BandMap], samples: list[np.ndarray], per_date: bool = False) -> None:
    """Chooses one normalisation for all dates from sample pixels ((C_i, N) raw values per source).

    Sentinel-2 digital numbers keep Galileo's absolute normalisation. Other imagery is standardised with the
    pair's pooled statistics or, with `per_date`, each date with its own (relative radiometric normalisation:
    it removes haze and illumination offsets between acquisitions, and with them most false changes on
    decametric pairs; see `features.REGIMES`).
    """
    per_band: dict[str, list[np.ndarray]] = {}
    all_s2 = all(b.sensor == "sentinel-2" for b in bms)
    p99s = []
    for bm, data in zip(bms, samples, strict=True):
        ok = np.all(np.isfinite(data), axis=0) & np.any(data != 0, axis=0)
        for g, i in bm.galileo_to_source.items():
            per_band.setdefault(g, []).append(data[i, ok])
        if ok.any():
            p99s.append(float(np.percentile(data[list(bm.galileo_to_source.values())][:, ok], 99)))
    p99 = min(p99s) if p99s else 0.0
    if all_s2 and p99 > 255:
        scaling, factor = "s2dn", 1.0
    elif all_s2 and 0 < p99 <= 2.0:
        scaling, factor = "s2dn", 10000.0
    else:
        scaling, factor = "pair", 1.0
    for k, bm in enumerate(bms):
        bm.scaling, bm.dn_factor = scaling, factor
        if scaling == "pair":
            for g, parts in per_band.items():
                v = parts[k] if per_date and len(parts) == len(bms) else np.concatenate(parts)
                bm.pair_mean[g] = float(v.mean()) if v.size else 0.0
                bm.pair_std[g] = float(v.std()) if v.size and v.std() > 0 else 1.0


def to_galileo(raw: np.ndarray, bm: BandMap) -> np.ndarray:
    """(C, H, W) raw values -> (H, W, 13) normalised Galileo space-time bands (absent bands are 0)."""
    _, h, w = raw.shape
    mean, std = galileo_stats()
    out = np.zeros((h, w, 13), np.float32)
    red = nir = None
    for g, i in bm.galileo_to_source.items():
        k = SPACE_TIME_BANDS.index(g)
        v = raw[i].astype(np.float32)
        if bm.scaling == "s2dn":
            out[..., k] = (v * bm.dn_factor - mean[k]) / std[k]
        else:
            out[..., k] = (v - bm.pair_mean[g]) / bm.pair_std[g]
        if g == "B4":
            red = v
        elif g == "B8":
            nir = v
    if red is not None and nir is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            ndvi = np.where(nir + red != 0, (nir - red) / (nir + red), 0.0)
        out[..., 12] = (ndvi - mean[12]) / std[12]
    return out


def month_index(date: str | None, default: int = 5) -> int:
    """Galileo month index 0..11 from an ISO or YYYYMMDD date; mid-year when unknown."""
    if not date:
        return default
    m = re.match(r"(\d{4})-?(\d{2})", date)
    return int(m.group(2)) - 1 if m and 1 <= int(m.group(2)) <= 12 else default
