"""The catalog store: a static STAC catalog folder on disk, its cached reads, `search` and atomic `ingest`.

Layout under `settings.catalog_root`:
    catalog.json                      links to every item (rebuilt after each ingest)
    items/<id>/<id>.json              the STAC Item
    items/<id>/<id>.tif               the scene as a COG (all bands stacked on one grid)
    items/<id>/<id>.png               thumbnail
Every file is written to a temporary name and renamed, the Item JSON last: an interrupted ingest never leaves an
Item pointing at half a file. Item ids come from the pixels (a hash), so re-ingesting the same scene from anywhere
updates the same Item.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pystac

from tools.catalog.cog import write_cog, write_thumbnail
from tools.catalog.filters import (
    bbox_intersects,
    date_range,
    item_interval,
    place_matches,
    platform_key,
    platform_matches,
)
from tools.catalog.items import ITEM_ID_RE, band_stats, build_item, read_item, scene_id
from tools.core.errors import NotFoundError, SentinelleError
from tools.core.files import atomic_write_text
from tools.core.results import ProgressCallback, no_progress
from tools.core.settings import get_settings
from tools.core.text import squash_text
from tools.ingest_read import Refusal, SceneData, SceneSource, discover, read_scene

CATALOG_ID = "sentinelle"


@dataclass
class IngestReport:
    """What an ingest did: items written (new or updated) and files refused, each with a one-line reason."""

    items: list[pystac.Item] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    skipped: list[Refusal] = field(default_factory=list)


class Catalog:
    """A static STAC catalog folder. Reads are cached; `ingest` writes atomically and updates the cache."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._items: dict[str, pystac.Item] | None = None
        self._stamp: float | None = None
        self._lock = threading.RLock()

    # --- reading -----------------------------------------------------------------------------------------------

    @property
    def items_dir(self) -> Path:
        return self.root / "items"

    def _catalog_stamp(self) -> float | None:
        path = self.root / "catalog.json"
        return path.stat().st_mtime if path.exists() else None

    def _load(self) -> dict[str, pystac.Item]:
        with self._lock:
            stamp = self._catalog_stamp()
            if self._items is None or stamp != self._stamp:
                items: dict[str, pystac.Item] = {}
                if self.items_dir.is_dir():
                    for folder in sorted(self.items_dir.iterdir()):
                        path = folder / f"{folder.name}.json"
                        if path.is_file():
                            try:
                                items[folder.name] = read_item(path)
                            except (ValueError, KeyError, json.JSONDecodeError):
                                continue  # unreadable leftovers are ignored, not fatal
                self._items, self._stamp = items, stamp
            return self._items

    def items(self) -> list[pystac.Item]:
        """All items, oldest first (unknown dates last), then by id."""
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return sorted(self._load().values(), key=lambda it: ((item_interval(it) or (far, far))[0], it.id))

    def get(self, item_id: str) -> pystac.Item:
        item = self._load().get(item_id) if ITEM_ID_RE.match(item_id or "") else None
        if item is None:
            raise NotFoundError(f"no scene '{item_id}' in the catalog")
        return item

    def search(self, bbox: Sequence[float] | None = None, place: str | None = None,
               start: str | dt.date | None = None, end: str | dt.date | None = None, platform: str | None = None,
               max_cloud_cover: float | None = None, georeferenced: bool | None = None) -> list[pystac.Item]:
        """Items matching every given filter.

        bbox: [west, south, east, north] EPSG:4326, intersecting the item's bbox. place: case/accent-insensitive
        match on `sentinelle:place` or `sentinelle:country`. start/end: ISO dates or years, the acquisition must
        overlap [start, end] (items of unknown date are left out when dates are asked). platform: platform or
        constellation ('sentinel-2', 'landsat', 'landsat-8', 'naip' ...). max_cloud_cover: percent; items with
        unknown cloud cover are kept.
        """
        lo, hi = date_range(start, end)
        want_place = squash_text(place) if place else None
        want_platform = platform_key(platform) if platform else None
        out = []
        for item in self.items():
            props = item.properties
            if georeferenced is not None and bool(props.get("sentinelle:georeferenced")) != georeferenced:
                continue
            if bbox is not None:
                if item.bbox is None or not bbox_intersects(item.bbox, bbox):
                    continue
            if want_place and not place_matches(props, want_place):
                continue
            if lo or hi:
                interval = item_interval(item)
                if interval is None or (lo and interval[1] < lo) or (hi and interval[0] > hi):
                    continue
            if want_platform and not platform_matches(props, want_platform):
                continue
            if max_cloud_cover is not None and props.get("eo:cloud_cover") is not None:
                if float(props["eo:cloud_cover"]) > float(max_cloud_cover):
                    continue
            out.append(item)
        return out

    # --- writing -----------------------------------------------------------------------------------------------

    def ingest(self, paths: Iterable[Path | str], place: str | None = None, datetime: str | None = None,
               progress: ProgressCallback = no_progress, georeferenced_only: bool = False,
               sources: list[SceneSource] | None = None) -> IngestReport:
        """Ingest files/folders (or pre-discovered `sources`): one COG + thumbnail + Item per scene.

        A bad file gets a one-line reason in `report.refused` and the others go on. With `georeferenced_only`,
        images without a location are skipped (reported in `report.skipped`) instead of kept as images.
        """
        report = IngestReport()
        if sources is None:
            sources, refused = discover(paths)
            report.refused.extend(refused)
        existing = set(self._load())
        total = max(len(sources), 1)
        for i, source in enumerate(sources):
            progress(i / total, f"ingesting {Path(source.label).name}")
            try:
                scene = read_scene(source, place=place, when=datetime)
                if georeferenced_only and not scene.georeferenced:
                    report.skipped.append(Refusal(source.label, "not georeferenced"))
                    continue
                item = self._write_scene(scene)
            except SentinelleError as exc:
                report.refused.append(Refusal(source.label, str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the batch; GDAL raises many kinds
                first = str(exc).splitlines()[0][:160] if str(exc) else ""
                report.refused.append(Refusal(source.label, f"cannot read ({type(exc).__name__}: {first})"))
                continue
            report.items.append(item)
            (report.updated if item.id in existing else report.new).append(item.id)
            existing.add(item.id)
        if report.items:
            self._write_catalog_json()
        progress(1.0, f"{len(report.items)} scenes ingested, {len(report.refused)} refused")
        return report

    def _write_scene(self, scene: SceneData) -> pystac.Item:
        item_id = scene_id(scene)
        folder = self.items_dir / item_id
        folder.mkdir(parents=True, exist_ok=True)
        cog = folder / f"{item_id}.tif"
        thumb = folder / f"{item_id}.png"
        stats = band_stats(scene)
        if not cog.is_file():
            write_cog(scene, cog)
        if not thumb.is_file():
            write_thumbnail(scene, stats, thumb)
        item = build_item(scene, item_id, stats, cog, thumb)
        payload = item.to_dict(include_self_link=False, transform_hrefs=False)
        payload["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../../catalog.json", "type": "application/json"},
        ]
        payload["assets"]["data"]["href"] = f"./{cog.name}"
        payload["assets"]["thumbnail"]["href"] = f"./{thumb.name}"
        target = folder / f"{item_id}.json"
        atomic_write_text(target, json.dumps(payload, indent=1, sort_keys=True) + "\n")
        stored = read_item(target)
        with self._lock:
            self._load()[item_id] = stored
        return stored

    def _write_catalog_json(self) -> None:
        """catalog.json: a STAC Catalog linking every item folder (derived from the folders, so never stale)."""
        links = [{"rel": "root", "href": "./catalog.json", "type": "application/json"}]
        if self.items_dir.is_dir():
            for folder in sorted(self.items_dir.iterdir()):
                if (folder / f"{folder.name}.json").is_file():
                    links.append({"rel": "item", "href": f"./items/{folder.name}/{folder.name}.json",
                                  "type": "application/geo+json"})
        payload = {"type": "Catalog", "stac_version": pystac.get_stac_version(), "id": CATALOG_ID,
                   "description": "Sentinelle scene catalog (COG per scene)", "links": links}
        atomic_write_text(self.root / "catalog.json", json.dumps(payload, indent=1) + "\n")
        with self._lock:
            self._stamp = self._catalog_stamp()


_CATALOGS: dict[Path, Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def open_catalog(root: Path | None = None) -> Catalog:
    """The catalog at `root` (default `settings.catalog_root`), one object per folder per process."""
    path = Path(root or get_settings().catalog_root).resolve()
    with _CATALOGS_LOCK:
        if path not in _CATALOGS:
            _CATALOGS[path] = Catalog(path)
        return _CATALOGS[path]
