"""The scene catalog: a static STAC catalog on disk (one folder per Item: COG + thumbnail + Item JSON) and queries.

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
import hashlib
import json
import os
import re
import tempfile
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pystac

from tools.assets import asset_path  # noqa: F401 - re-exported: the catalog's API
from tools.core.errors import BadInputError, NotFoundError, SentinelleError
from tools.core.results import ProgressCallback, no_progress
from tools.core.settings import get_settings
from tools.ingest_facts import normalize
from tools.ingest_read import Refusal, SceneData, SceneSource, discover, read_scene

EO_SCHEMA = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
PROJ_SCHEMA = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
ITEM_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
THUMB_SIZE = 256
CATALOG_ID = "sentinelle"


def item_interval(item: pystac.Item) -> tuple[dt.datetime, dt.datetime] | None:
    """[start, end] of an item's acquisition (equal for an exact date); None when the date is unknown."""
    props = item.properties
    if props.get("sentinelle:date_known") is False:
        return None
    start = props.get("start_datetime")
    end = props.get("end_datetime")
    if start and end:
        return _parse_dt(start), _parse_dt(end)
    if item.datetime is not None:
        return item.datetime, item.datetime
    return None


def _parse_dt(value: str | dt.datetime | dt.date) -> dt.datetime:
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
            bounds.append((_parse_dt(value), _end_of(value)) if value else None)
        except (TypeError, ValueError) as exc:
            raise BadInputError(f"'{value}' is not a valid date (use YYYY-MM-DD or a year)") from exc
    if bounds[0] and bounds[1] and bounds[0][0] > bounds[1][1]:
        return end, start
    return start, end


def date_range(start: str | dt.date | None, end: str | dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[start, end] of a date filter as datetimes (ISO dates or years; see `ordered_dates`)."""
    start, end = ordered_dates(start, end)
    return (_parse_dt(start) if start else None), (_end_of(end) if end else None)


def _end_of(value: str | dt.datetime | dt.date) -> dt.datetime:
    """An end bound given as a day or a year covers that whole day or year."""
    text = str(value).strip()
    if re.fullmatch(r"\d{4}", text):
        return dt.datetime(int(text), 12, 31, 23, 59, 59, tzinfo=dt.UTC)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return _parse_dt(value) + dt.timedelta(days=1) - dt.timedelta(seconds=1)
    return _parse_dt(value)


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
                                items[folder.name] = _read_item(path)
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
        want_place = normalize(place) if place else None
        want_platform = _platform_key(platform) if platform else None
        out = []
        for item in self.items():
            props = item.properties
            if georeferenced is not None and bool(props.get("sentinelle:georeferenced")) != georeferenced:
                continue
            if bbox is not None:
                if item.bbox is None or not _bbox_intersects(item.bbox, bbox):
                    continue
            if want_place and not _place_matches(props, want_place):
                continue
            if lo or hi:
                interval = item_interval(item)
                if interval is None or (lo and interval[1] < lo) or (hi and interval[0] > hi):
                    continue
            if want_platform and not _platform_matches(props, want_platform):
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
        stats = _stats(scene)
        if not cog.is_file():
            _write_cog(scene, cog)
        if not thumb.is_file():
            _write_thumbnail(scene, stats, thumb)
        item = build_item(scene, item_id, stats, cog, thumb)
        payload = item.to_dict(include_self_link=False, transform_hrefs=False)
        payload["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../../catalog.json", "type": "application/json"},
        ]
        payload["assets"]["data"]["href"] = f"./{cog.name}"
        payload["assets"]["thumbnail"]["href"] = f"./{thumb.name}"
        target = folder / f"{item_id}.json"
        _atomic_write_text(target, json.dumps(payload, indent=1, sort_keys=True) + "\n")
        stored = _read_item(target)
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
        _atomic_write_text(self.root / "catalog.json", json.dumps(payload, indent=1) + "\n")
        with self._lock:
            self._stamp = self._catalog_stamp()


def _read_item(path: Path) -> pystac.Item:
    """An Item as written (no migration: `proj:epsg` and `eo:bands` stay as the contract names them)."""
    return pystac.Item.from_dict(json.loads(path.read_text()), href=str(path), migrate=False)


_CATALOGS: dict[Path, Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def open_catalog(root: Path | None = None) -> Catalog:
    """The catalog at `root` (default `settings.catalog_root`), one object per folder per process."""
    path = Path(root or get_settings().catalog_root).resolve()
    with _CATALOGS_LOCK:
        if path not in _CATALOGS:
            _CATALOGS[path] = Catalog(path)
        return _CATALOGS[path]


# --- items ---------------------------------------------------------------------------------------------------------


def scene_id(scene: SceneData) -> str:
    """Stable id: a slug of the source name plus a hash of the pixels and band names (same scene -> same id)."""
    digest = hashlib.sha256()
    digest.update(str(scene.data.shape).encode())
    digest.update(str(scene.data.dtype).encode())
    digest.update(",".join(b.name for b in scene.bands).encode())
    digest.update(np.ascontiguousarray(scene.data).tobytes())
    slug = re.sub(r"[^a-z0-9_-]+", "-", scene.slug.lower()).strip("-_")[:80] or "scene"
    return f"{slug}-{digest.hexdigest()[:10]}"


def _stats(scene: SceneData) -> dict:
    from tools.render import percentiles, valid_mask

    low, high = percentiles(scene.data, valid_mask(scene.data, scene.nodata))
    return {"p2": [round(v, 6) for v in low], "p98": [round(v, 6) for v in high]}


def _footprint(scene: SceneData) -> tuple[dict, list[float]]:
    """Geometry (densified outline of the grid, EPSG:4326) and bbox of a georeferenced scene."""
    from tools.rasters.footprint import footprint_4326

    height, width = scene.data.shape[1:]
    return footprint_4326(scene.crs, scene.transform, width, height)


def _epsg(crs) -> int | None:
    try:
        return crs.to_epsg()
    except Exception:  # noqa: BLE001 - custom CRS without an EPSG code
        return None


def build_item(scene: SceneData, item_id: str, stats: dict, cog: Path, thumb: Path) -> pystac.Item:
    """The STAC Item of a scene (assets point at the local COG and thumbnail)."""
    from tools.ingest_read import _gsd

    props: dict = {
        "platform": scene.platform or "unknown",
        "constellation": scene.constellation or "unknown",
        "eo:bands": [b.to_dict() for b in scene.bands],
        "sentinelle:georeferenced": scene.georeferenced,
        "sentinelle:sources": [str(p) for p in scene.sources],
        "sentinelle:stats": stats,
        "sentinelle:date_known": scene.date is not None,
    }
    if scene.instruments:
        props["instruments"] = scene.instruments
    if scene.place:
        props["sentinelle:place"] = scene.place.place
        if scene.place.country:
            props["sentinelle:country"] = scene.place.country
        props["sentinelle:place_source"] = scene.place.source
    if scene.cloud_cover is not None:
        props["eo:cloud_cover"] = round(float(scene.cloud_cover), 2)
    if scene.notes:
        props["sentinelle:notes"] = scene.notes
    when: dt.datetime | None
    if scene.date is None:
        # STAC needs a time: an open interval says 'unknown' without inventing a date
        when = None
        props["start_datetime"] = "1970-01-01T00:00:00Z"
        props["end_datetime"] = "2100-01-01T00:00:00Z"
    elif scene.date.exact:
        when = scene.date.start
    else:
        when = scene.date.middle
        props["start_datetime"] = scene.date.start.isoformat().replace("+00:00", "Z")
        props["end_datetime"] = scene.date.end.isoformat().replace("+00:00", "Z")
    if scene.date is not None:
        props["sentinelle:date_source"] = scene.date.source
    height, width = scene.data.shape[1:]
    if scene.georeferenced:
        geometry, bbox = _footprint(scene)
        gsd = scene.gsd or _gsd(scene)
        if gsd:
            props["gsd"] = round(gsd, 3)
        props["proj:epsg"] = _epsg(scene.crs)
        if props["proj:epsg"] is None:
            props["proj:wkt2"] = scene.crs.to_wkt()
        props["proj:shape"] = [height, width]
        props["proj:transform"] = [round(v, 10) for v in list(scene.transform)[:6]]
        extensions = [EO_SCHEMA, PROJ_SCHEMA]
    else:
        geometry, bbox = None, None
        props["sentinelle:shape"] = [height, width]
        extensions = [EO_SCHEMA]
    item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox, datetime=when, properties=props,
                       stac_extensions=extensions)
    item.add_asset("data", pystac.Asset(href=str(cog), media_type=pystac.MediaType.COG
                                        if scene.georeferenced else pystac.MediaType.GEOTIFF,
                                        roles=["data"], title="scene (all bands)"))
    item.add_asset("thumbnail", pystac.Asset(href=str(thumb), media_type=pystac.MediaType.PNG, roles=["thumbnail"],
                                             title="thumbnail"))
    return item


def _write_cog(scene: SceneData, target: Path) -> None:
    """The band stack as a deflate COG with overviews, written to a temp file then renamed."""
    from rasterio.io import MemoryFile
    from rio_cogeo.cogeo import cog_translate
    from rio_cogeo.profiles import cog_profiles

    bands, height, width = scene.data.shape
    profile = {"driver": "GTiff", "width": width, "height": height, "count": bands, "dtype": str(scene.data.dtype)}
    if scene.georeferenced:
        profile.update(crs=scene.crs, transform=scene.transform)
    if scene.nodata is not None:
        profile["nodata"] = scene.nodata
    out_profile = cog_profiles.get("deflate")
    out_profile.update(blockxsize=256, blockysize=256)
    if np.issubdtype(scene.data.dtype, np.integer):
        out_profile["predictor"] = 2
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings(), MemoryFile() as mem:
            warnings.simplefilter("ignore")  # NotGeoreferencedWarning for plain images: expected, they stay images
            with mem.open(**profile) as dst:
                dst.write(scene.data)
                for i, band in enumerate(scene.bands, start=1):
                    dst.set_band_description(i, band.name)
            with mem.open() as src:
                cog_translate(src, str(tmp), out_profile, in_memory=True, quiet=True, overview_resampling="average",
                              use_cog_driver=False)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_thumbnail(scene: SceneData, stats: dict, target: Path) -> None:
    from PIL import Image

    from tools.render import rgb_from_array

    step = max(1, int(np.ceil(max(scene.data.shape[1:]) / (THUMB_SIZE * 2))))
    small = scene.data[:, ::step, ::step]
    rgb = rgb_from_array(small, scene.bands, scene.nodata, constellation=scene.constellation, stats=stats)
    img = Image.fromarray(rgb)
    img.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BILINEAR)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        img.save(tmp, format="PNG")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_write_text(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# --- query helpers -------------------------------------------------------------------------------------------------


def _bbox_intersects(a: Sequence[float], b: Sequence[float]) -> bool:
    return not (a[2] < b[0] or b[2] < a[0] or a[3] < b[1] or b[3] < a[1])


def _place_matches(props: dict, want: str) -> bool:
    place = normalize(str(props.get("sentinelle:place") or ""))
    country = normalize(str(props.get("sentinelle:country") or ""))
    if place.startswith("near"):
        place = place[4:]
    # the whole country name only: 'Île-de-France' is not France, though 'france' is in 'ile de france'
    bare = want.removeprefix("the")  # normalize() drops spaces: 'thenetherlands'
    return bool((place and (want in place or place in want)) or (country and bare == country.removeprefix("the")))


def _platform_key(text: str) -> str:
    from tools.rasters.sensors import platform_name

    return normalize(platform_name(text))


def _platform_matches(props: dict, want: str) -> bool:
    platform = normalize(str(props.get("platform") or ""))
    constellation = normalize(str(props.get("constellation") or ""))
    return want == constellation or platform.startswith(want) or constellation.startswith(want)


def validate_item(item: pystac.Item) -> list[str]:
    """STAC validation with pystac: full (core + extensions) when the schemas can be fetched, else the core schema
    plus local checks of the extension fields. Returns the schema URIs checked; raises on invalid items."""
    import logging

    from pystac.validation.stac_validator import GetSchemaError

    logger = logging.getLogger("pystac.validation.stac_validator")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # pystac logs a traceback before raising GetSchemaError when offline
    try:
        return list(item.validate())
    except GetSchemaError:
        core = item.clone()
        core.stac_extensions = []
        checked = list(core.validate())
        props = item.properties
        for band in props.get("eo:bands", []):
            if not isinstance(band.get("name"), str):
                raise pystac.STACValidationError("eo:bands entries need a name") from None
        if "proj:epsg" in props and props["proj:epsg"] is not None and not isinstance(props["proj:epsg"], int):
            raise pystac.STACValidationError("proj:epsg must be an integer") from None
        return checked + ["(offline: extension fields checked locally)"]
    finally:
        logger.setLevel(level)


def check_item_id(item_id: str) -> str:
    """Ids are lower-case slugs; anything else (paths, dots) is refused before touching the disk."""
    if not ITEM_ID_RE.match(item_id or ""):
        raise BadInputError(f"'{item_id}' is not a scene id")
    return item_id


# --- demo catalog --------------------------------------------------------------------------------------------------

# Files of the sample data that are labels, masks or previews of a scene already ingested, not scenes themselves.
_NOT_SCENES = re.compile(r"(/labels?/|/pair/|/derived/abudhabi_|-cm\.tif$|/cm\.png$|change\.bmp$|unchanged\.bmp$)",
                         re.IGNORECASE)


_NOT_IMAGERY_SUFFIXES = {".json", ".geojson", ".7z", ".md", ".txt", ".csv"}


def demo_sources() -> tuple[list[SceneSource], list[Refusal], list[Refusal]]:
    """Scenes of every sample-data folder (mirror or data dir): (georeferenced scenes, skipped, refused)."""
    from tools.core.errors import DataUnavailableError
    from tools.data import geodata_path, load_registry
    from tools.ingest_read import is_georeferenced

    scenes: list[SceneSource] = []
    skipped: list[Refusal] = []
    refused: list[Refusal] = []
    registry = [e for e in load_registry() if e.kind == "geodata"]
    groups = {e.group for e in registry if Path(e.relpath).suffix.lower() not in _NOT_IMAGERY_SUFFIXES}
    for group in sorted(groups):  # sets of vectors and documents only (the Natural Earth base map) hold no scenes
        try:
            folder = geodata_path(group)
        except DataUnavailableError as exc:
            refused.append(Refusal(group, str(exc)))
            continue
        found, bad = discover([folder])
        refused.extend(bad)
        for source in found:
            label = Path(source.label).as_posix()
            if _NOT_SCENES.search(label):
                skipped.append(Refusal(source.label, "label, mask or preview of another scene"))
            elif not is_georeferenced(source):
                skipped.append(Refusal(source.label, "not georeferenced"))
            else:
                scenes.append(source)
    return scenes, skipped, refused


def build_demo_catalog(progress: ProgressCallback = no_progress, root: Path | None = None) -> IngestReport:
    """Ingest every georeferenced scene of the sample data into the catalog (idempotent)."""
    scenes, skipped, refused = demo_sources()
    report = open_catalog(root).ingest([], sources=scenes, progress=progress, georeferenced_only=True)
    report.skipped = skipped + report.skipped
    report.refused = refused + report.refused
    return report
