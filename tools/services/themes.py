"""Thematic classes from spectral indices: what each sector measure counts, its formula, threshold and bands.

Every index is a normalised difference (a - b) / (a + b) of two bands named by their STAC common names. Ratios do
not depend on a linear scale, so they read the same from reflectance, Sentinel-2 digital numbers or 8-bit stretched
products; the thresholds are the usual literature values for reflectance, so on stretched products (the Pucallpa
Landsat series) they are approximate and the answers say so. Each function works on numpy or xarray arrays alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tools.core.errors import BadInputError

# Thresholds (one place, documented in each theme's `formula`)
NDVI_VEGETATION = 0.5  # dense green vegetation; 0.2-0.5 is sparse vegetation or crops
NBR_FOREST = 0.3  # with SWIR: a moist closed canopy; cleared pasture and crops fall below it
WATER_INDEX = 0.0  # NDWI above 0: more green than NIR reflectance, open water (no SWIR)
# With SWIR, water is MNDWI > 0.2 and MNDWI > NDVI (after Zou et al. 2017). In top-of-atmosphere Sentinel-2 of a
# hazy low-sun winter city, roofs and shadows have MNDWI just above 0: Paris, November 2016 read 63 % 'water' with
# MNDWI > 0, 49 % with MNDWI > NDVI added, 18 % with the 0.2 floor; the rest is shadow, a limit the answer states.
MNDWI_WATER = 0.2
NDBI_BUILT = 0.0  # NDBI above 0 (more SWIR than NIR) and NDVI below NDVI_NOT_GREEN: bare or built surface
NDVI_NOT_GREEN = 0.3
DNBR_BURNED = 0.27  # Key & Benson (2006): 0.27 is the lower bound of moderate burn severity


def normalized_difference(a: Any, b: Any) -> Any:
    """(a - b) / (a + b) as float32; NaN where a + b is 0 or either band is missing (NaN)."""
    a = a.astype("float32")
    b = b.astype("float32")
    total = a + b
    if hasattr(total, "where"):  # xarray: stays lazy
        return ((a - b) / total).where(total != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total != 0, (a - b) / total, np.nan).astype("float32")


@dataclass(frozen=True)
class Theme:
    """One sector measure: the class it counts per date (or per pair of dates for `burned`)."""

    name: str  # vegetation | water | built | burned
    label_en: str
    label_fr: str
    pairwise: bool = False  # burned: a class of a pair of dates (dNBR), not of one date

    def bands(self, available: set[str]) -> list[str]:
        """The bands this measure reads from a scene holding `available` (common names); `BadInputError` if short."""
        need = _BANDS[self.name]
        for option in need:
            if set(option) <= available:
                return list(option)
        wanted = " or ".join("+".join(o) for o in need)
        raise BadInputError(f"the {self.label_en} measure needs the {wanted} bands; this imagery has "
                            f"{', '.join(sorted(available)) or 'none'}")

    def formula(self, bands: list[str]) -> str:
        """The index and threshold used with these bands, in words (goes into the facts and the answer)."""
        swir = next((b for b in bands if b.startswith("swir")), None)
        if self.name == "vegetation":
            if swir:
                return (f"forest = NDVI (nir-red)/(nir+red) >= {NDVI_VEGETATION} and NBR (nir-{swir})/(nir+{swir})"
                        f" >= {NBR_FOREST}")
            return f"vegetation = NDVI (nir-red)/(nir+red) >= {NDVI_VEGETATION}"
        if self.name == "water":
            if swir:
                return f"water = MNDWI (green-{swir})/(green+{swir}) > {MNDWI_WATER} and MNDWI > NDVI"
            return f"water = NDWI (green-nir)/(green+nir) > {WATER_INDEX}"
        if self.name == "built":
            return (f"built-up = NDBI ({swir}-nir)/({swir}+nir) > {NDBI_BUILT} and NDVI < {NDVI_NOT_GREEN}")
        return f"burned = dNBR (NBR before - NBR after, NBR = (nir-{swir})/(nir+{swir})) >= {DNBR_BURNED}"

    def classify(self, scene: Mapping[str, Any]) -> Any:
        """Boolean class of one date from its bands (pairwise themes: see `classify_pair`). NaN inputs -> False."""
        if self.pairwise:
            raise BadInputError(f"the {self.label_en} measure compares two dates")
        names = self.bands(set(scene))
        swir = next((b for b in names if b.startswith("swir")), None)
        if self.name == "vegetation":
            ndvi = normalized_difference(scene["nir"], scene["red"])
            out = ndvi >= NDVI_VEGETATION
            if swir:
                out = out & (normalized_difference(scene["nir"], scene[swir]) >= NBR_FOREST)
            return out
        if self.name == "water":
            if not swir:
                return normalized_difference(scene["green"], scene["nir"]) > WATER_INDEX
            mndwi = normalized_difference(scene["green"], scene[swir])
            return (mndwi > MNDWI_WATER) & (mndwi > normalized_difference(scene["nir"], scene["red"]))
        ndbi = normalized_difference(scene[swir], scene["nir"])
        ndvi = normalized_difference(scene["nir"], scene["red"])
        return (ndbi > NDBI_BUILT) & (ndvi < NDVI_NOT_GREEN)

    def classify_pair(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> Any:
        """Burned between two dates: dNBR >= DNBR_BURNED."""
        names = self.bands(set(before) & set(after))
        swir = next(b for b in names if b.startswith("swir"))
        nbr_before = normalized_difference(before["nir"], before[swir])
        nbr_after = normalized_difference(after["nir"], after[swir])
        return (nbr_before - nbr_after) >= DNBR_BURNED


# bands each theme reads, preferred option first (common names)
_BANDS: dict[str, list[tuple[str, ...]]] = {
    "vegetation": [("nir", "red", "swir16"), ("nir", "red", "swir22"), ("nir", "red")],
    "water": [("green", "swir16", "nir", "red"), ("green", "nir")],
    "built": [("swir16", "nir", "red"), ("swir22", "nir", "red")],
    "burned": [("nir", "swir22"), ("nir", "swir16")],
}

THEMES: dict[str, Theme] = {
    "vegetation": Theme("vegetation", "forest and vegetation cover", "couvert forestier et végétal"),
    "water": Theme("water", "open water extent", "surface en eau libre"),
    "built": Theme("built", "built-up and bare land", "surfaces bâties et sols nus"),
    "burned": Theme("burned", "burned area", "surface brûlée", pairwise=True),
}
THEME_NAMES = tuple(THEMES)


def get_theme(name: str) -> Theme:
    """The theme called `name` (vegetation, water, built, burned); `BadInputError` otherwise."""
    key = (name or "").strip().lower()
    if key not in THEMES:
        raise BadInputError(f"unknown measure '{name}': say one of {', '.join(THEME_NAMES)}")
    return THEMES[key]
