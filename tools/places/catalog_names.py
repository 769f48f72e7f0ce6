"""Places the catalog knows: every `sentinelle:place` of its scenes, with the union of their footprints, re-read
when the catalog folder changes (a scene ingested from the UI is a place at once)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from tools.core.settings import get_settings
from tools.core.text import fold_text
from tools.places.place import Place

log = logging.getLogger(__name__)

_catalog_cache: dict[str, tuple[tuple[float, ...], dict[str, Place]]] = {}


def _catalog_stamp(root: Path) -> tuple[float, ...]:
    """Modification times that change when scenes are ingested or removed."""
    stamps = []
    for path in (root / "items", root / "catalog.json", root):
        try:
            stamps.append(path.stat().st_mtime)
        except OSError:
            stamps.append(0.0)
    return tuple(stamps)


def catalog_places(refresh: bool = False) -> dict[str, Place]:
    """Normalised name -> Place for every `sentinelle:place` in the catalog (union of its scenes' footprints).

    Re-read when the catalog folder changes (a scene ingested from the UI is a place at once). The catalog module
    may be absent or empty; then there are simply no catalog places.
    """
    root_path = Path(get_settings().catalog_root)
    root = str(root_path)
    stamp = _catalog_stamp(root_path)
    cached = _catalog_cache.get(root)
    if not refresh and cached and cached[0] == stamp:
        return cached[1]
    places: dict[str, Place] = {}
    try:
        from tools.catalog import open_catalog

        items = list(open_catalog().items())
    except Exception as exc:  # noqa: BLE001 - the catalog is optional for place lookup
        log.info("no catalog places (%s)", exc)
        items = []
    boxes: dict[str, list[list[float]]] = {}
    labels: dict[str, tuple[str, str | None, int]] = {}
    for item in items:
        props = getattr(item, "properties", {}) or {}
        label = props.get("sentinelle:place")
        bbox = getattr(item, "bbox", None)
        if not label or not bbox or not props.get("sentinelle:georeferenced", True):
            continue
        key = fold_text(str(label))
        boxes.setdefault(key, []).append([float(v) for v in bbox[:4]])
        count = labels.get(key, (label, None, 0))[2] + 1
        labels[key] = (str(label), props.get("sentinelle:country"), count)
    for key, bxs in boxes.items():
        arr = np.asarray(bxs)
        bbox = [float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max())]
        label, country, count = labels[key]
        pretty = label.replace("_", " ")
        pretty = pretty[:1].upper() + pretty[1:]
        places[key] = Place(
            name=pretty, kind="catalog", lon=(bbox[0] + bbox[2]) / 2, lat=(bbox[1] + bbox[3]) / 2, bbox=bbox,
            country=country, source="catalog", extra={"scenes": count},
        )
        for alias in _catalog_aliases(label):
            places.setdefault(alias, places[key])
    _catalog_cache[root] = (stamp, places)
    return places


def _catalog_aliases(label: str) -> list[str]:
    """Other names of a catalog place: 'saclay_e' -> 'saclay', 'Paris (Bercy)' -> 'bercy', 'Near X' -> 'x'."""
    aliases = []
    m = re.match(r"^([A-Za-z][\w-]{2,})_[a-z0-9]{1,2}$", label)
    if m:
        aliases.append(fold_text(m.group(1)))
    m = re.search(r"\(([^)]+)\)", label)
    if m:
        aliases.append(fold_text(m.group(1)))
    m = re.match(r"^(near|around|pres de|north of|south of) (.+)$", fold_text(label))
    if m:
        aliases.append(m.group(2))
    return [a for a in aliases if len(a) > 2]
