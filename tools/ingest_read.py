"""Ingest, part one: find the scenes in the paths a user gives and read each into one band stack with its facts.

A scene is one raster file (GeoTIFF/COG, ENVI, JPEG/PNG) or a folder of per-band files of one product
(Sentinel-2 `*_B01.tif ... *_B12.tif`, Landsat `*_B1.tif ... + MTL.txt`). Files are opened by
`tools.rasters.open_raster` (format, size and safety checks from the header), per-band products are stacked onto
the finest grid, and dates, places and sensor facts are gathered (`tools/rasters/`, `tools/ingest_facts.py`).
Writing the COG and the STAC Item is `tools/catalog/`'s job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tools import ingest_facts as facts_mod
from tools.core.errors import BadInputError
from tools.ingest_facts import PlaceFact
from tools.rasters import dates, sensors
from tools.rasters.dates import DateFact
from tools.rasters.footprint import bbox_4326
from tools.rasters.footprint import is_georeferenced as grid_is_georeferenced
from tools.rasters.open import check_budget, envi_header, open_raster, read_errors, user_max_pixels
from tools.rasters.sensors import Band

RASTER_EXTS = {".tif", ".tiff", ".jp2", ".img", ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".vrt"}
SIDECAR_EXTS = {".hdr", ".txt", ".json", ".geojson", ".md", ".csv", ".npy", ".npz", ".rst", ".xml", ".ovr",
                ".aux", ".pt", ".zip", ".py", ".yaml", ".yml"}
L2A_RES_DIRS = ("R10m", "R20m", "R60m")  # Sentinel-2 L2A SAFE: IMG_DATA/R10m/..._B02_10m.jp2


@dataclass
class SceneSource:
    """One scene to ingest: its files (in band order for per-band products) and what kind of product it is."""

    paths: list[Path]
    kind: str  # "raster" | "s2-bands" | "landsat-bands"
    label: str
    band_names: list[str] = field(default_factory=list)
    mtl: Path | None = None


@dataclass
class Refusal:
    path: str
    reason: str


@dataclass
class SceneData:
    """A scene read into memory: (bands, H, W) array, grid (None when not georeferenced), bands and facts."""

    data: np.ndarray
    crs: object | None
    transform: object | None
    nodata: float | None
    bands: list[Band]
    sources: list[Path]
    label: str
    slug: str
    platform: str | None = None
    constellation: str | None = None
    instruments: list[str] | None = None
    date: DateFact | None = None
    place: PlaceFact | None = None
    cloud_cover: float | None = None
    gsd: float | None = None  # the sensor's, when known (else taken from the grid)
    notes: list[str] = field(default_factory=list)

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None and self.transform is not None


# --- discovery -------------------------------------------------------------------------------------------------


def _envi_data_for_header(path: Path) -> Path | None:
    for candidate in (path.with_suffix(""), *(path.with_suffix(ext) for ext in (".img", ".dat", ".bsq"))):
        if candidate.is_file() and candidate != path:
            return candidate
    return None


def _looks_like_raster(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in RASTER_EXTS:
        return True
    return suffix not in SIDECAR_EXTS and envi_header(path) is not None


def _band_products(folder: Path) -> list[SceneSource]:
    """Per-band products inside one folder (Sentinel-2 or Landsat), one SceneSource per product prefix."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    if not files and all((folder / r).is_dir() for r in L2A_RES_DIRS):
        files = [p for r in L2A_RES_DIRS for p in sorted((folder / r).iterdir()) if p.is_file()]
    out: list[SceneSource] = []
    s2: dict[str, dict[str, Path]] = {}
    for p in files:
        if found := sensors.s2_band_file(p.name):
            bands = s2.setdefault(found[0], {})
            bands.setdefault(found[1], p)  # L2A: the finest resolution folder comes first
    mtl = next((p for p in files if p.name.upper().endswith("MTL.TXT")), None)
    landsat: dict[str, dict[str, Path]] = {}
    if mtl is not None:
        for p in files:
            if m := sensors.LANDSAT_BAND_FILE_RE.match(p.name):
                landsat.setdefault(m.group("product"), {})[m.group("band").upper()] = p
    if landsat:
        for product, bands in sorted(landsat.items()):
            if len(bands) >= 3:
                names = sorted(bands, key=lambda b: (not b[1:].isdigit(), int(b[1:]) if b[1:].isdigit() else 0))
                out.append(SceneSource([bands[b] for b in names], "landsat-bands", str(folder / product),
                                       names, mtl))
        return out
    for _product, bands in sorted(s2.items()):
        if len(bands) >= 3:
            names = [b for b in sensors.S2_ORDER if b in bands]
            out.append(SceneSource([bands[b] for b in names], "s2-bands", str(folder), names))
    return out


def discover(paths: Iterable[Path | str]) -> tuple[list[SceneSource], list[Refusal]]:
    """Scenes in the given files and folders (folders are walked; sidecars and unknown files are ignored)."""
    scenes: list[SceneSource] = []
    refused: list[Refusal] = []

    def walk(folder: Path) -> None:
        products = _band_products(folder)
        scenes.extend(products)
        grouped = {p for s in products for p in s.paths}
        for child in sorted(folder.iterdir()):
            if child.is_dir() and products and child.name in L2A_RES_DIRS:
                continue  # already stacked into the L2A product
            if child.is_dir():
                walk(child)
            elif child not in grouped and _looks_like_raster(child) and not (
                products and sensors.s2_band_file(child.name)
            ):
                scenes.append(SceneSource([child], "raster", str(child)))

    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            refused.append(Refusal(str(raw), "no such file or folder"))
        elif path.is_dir():
            before = len(scenes)
            walk(path)
            if len(scenes) == before:
                refused.append(Refusal(str(raw), "no raster or image files in this folder"))
        elif path.suffix.lower() == ".hdr":
            data = _envi_data_for_header(path)
            if data is None:
                refused.append(Refusal(str(raw), "ENVI header without its data file"))
            else:
                scenes.append(SceneSource([data], "raster", str(data)))
        else:
            scenes.append(SceneSource([path], "raster", str(path)))
    return scenes, refused


# --- reading ---------------------------------------------------------------------------------------------------


def _open(path: Path):
    """A file of the scene, opened with the checks for files users give (format, safety, size from the header)."""
    return open_raster(path, max_pixels=user_max_pixels())


def _georef(ds) -> tuple[object | None, object | None]:
    if not grid_is_georeferenced(ds.crs, ds.transform):
        return None, None
    return ds.crs, ds.transform


def _read_all(ds, name: str) -> np.ndarray:
    with read_errors(name):
        return ds.read()


def _read_single(source: SceneSource) -> SceneData:
    path = source.paths[0]
    with _open(path) as ds:
        data = _read_all(ds, path.name)
        crs, transform = _georef(ds)
        nodata = ds.nodata
        descriptions = [d or "" for d in ds.descriptions]
        tags = ds.tags()
        colorinterp = [ci.name for ci in ds.colorinterp]
    if data.dtype == np.float64:
        data = data.astype(np.float32)  # half the disk, same display and model inputs
    scene = SceneData(data, crs, transform, nodata, [], [path], source.label, _slug_for(path))
    _apply_single_facts(scene, path, descriptions, tags, colorinterp)
    return scene


def _read_stack(source: SceneSource) -> SceneData:
    """Per-band files onto the grid of the finest band (Sentinel-2: 10 m), bilinear for coarser bands."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    opened = [_open(p) for p in source.paths]
    try:
        if source.kind == "landsat-bands":
            keep = [i for i, n in enumerate(source.band_names) if n not in ("B8", "BQA")]
        else:
            keep = list(range(len(opened)))
        ref = min((opened[i] for i in keep), key=lambda ds: abs(ds.transform.a))
        check_budget(ref.width, ref.height, len(keep), Path(source.label).name, user_max_pixels())
        data = np.zeros((len(keep), ref.height, ref.width), dtype=np.dtype(ref.dtypes[0]))
        for out_i, i in enumerate(keep):
            ds = opened[i]
            if ds.shape == ref.shape and ds.transform.almost_equals(ref.transform):
                data[out_i] = _read_all(ds, ds.name)[0]
            else:
                with read_errors(ds.name):
                    reproject(rasterio.band(ds, 1), data[out_i], src_transform=ds.transform, src_crs=ds.crs,
                              dst_transform=ref.transform, dst_crs=ref.crs, resampling=Resampling.bilinear)
        crs, transform = _georef(ref)
        nodata = ref.nodata
    finally:
        for ds in opened:
            ds.close()
    names = [source.band_names[i] for i in keep]
    folder = Path(source.label)
    scene = SceneData(data, crs, transform, nodata, [], [source.paths[i] for i in keep], source.label,
                      _slug_for(folder))
    if source.kind == "s2-bands":
        _apply_s2_facts(scene, folder, names)
    else:
        _apply_landsat_facts(scene, source, names)
    return scene


def read_scene(source: SceneSource, place: str | None = None, when: str | None = None) -> SceneData:
    """Read one scene and its facts; `place`/`when` (from the user) override what the files say."""
    scene = _read_single(source) if source.kind == "raster" else _read_stack(source)
    if not scene.date and (table_range := facts_mod.folder_facts(scene.sources[0]).get("date_range")):
        start, end = (dates.parse_iso(v).start for v in table_range)
        scene.date = DateFact(start, end, "MANIFEST (range)")
    if when:
        try:
            scene.date = dates.parse_iso(when)
        except ValueError:
            raise BadInputError(f"--datetime '{when}' is not an ISO date (YYYY, YYYY-MM-DD or full ISO)") from None
    if place:
        scene.place = PlaceFact(place, None, source="argument")
    elif scene.place is None and scene.georeferenced:
        lon, lat = _center_lonlat(scene)
        scene.place = facts_mod.nearest_city(lon, lat, max_km=150.0)
        if scene.place and _distance_note(scene, lon, lat):
            scene.place.place = f"near {scene.place.place}"
    if not scene.constellation:
        gsd = _gsd(scene)
        vhr = gsd is not None and gsd <= 2.0 and scene.data.shape[0] in (3, 4)
        scene.constellation = "aerial" if vhr else "unknown"
    scene.platform = scene.platform or scene.constellation
    return scene


def _slug_for(path: Path) -> str:
    parts = [p for p in path.parts[-2:] if p not in ("/", "")]
    text = "-".join(Path(p).stem if i == len(parts) - 1 else p for i, p in enumerate(parts))
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[-60:].strip("-") or "scene"


def _center_lonlat(scene: SceneData) -> tuple[float, float]:
    from rasterio.warp import transform as warp_transform

    h, w = scene.data.shape[1:]
    x, y = scene.transform @ (w / 2, h / 2)
    xs, ys = warp_transform(scene.crs, "EPSG:4326", [x], [y])
    return xs[0], ys[0]


def _distance_note(scene: SceneData, lon: float, lat: float) -> bool:
    """True when the nearest city lies outside the scene's footprint (then the place reads 'near <city>')."""
    from tools.ingest_facts import _cities

    rows, _ = _cities()
    h, w = scene.data.shape[1:]
    bbox = bbox_4326(scene.crs, scene.transform, w, h)
    if bbox is None:
        return True
    west, south, east, north = bbox
    for name, _country, clat, clon, _pop in rows:
        if name == scene.place.place:
            return not (west <= clon <= east and south <= clat <= north)
    return True


def _gsd(scene: SceneData) -> float | None:
    if not scene.georeferenced:
        return None
    from pyproj import CRS

    crs = CRS.from_user_input(scene.crs)
    size = abs(scene.transform.a)
    if crs.is_geographic:
        lon, lat = _center_lonlat(scene)
        return float(size * 111320.0 * np.cos(np.radians(lat)))
    return float(size)


# --- facts per kind --------------------------------------------------------------------------------------------


def _apply_s2_facts(scene: SceneData, folder: Path, names: list[str]) -> None:
    scene.bands = sensors.s2_bands(names)
    scene.constellation = "sentinel-2"
    first = scene.sources[0].name
    scene.platform = sensors.s2_platform_of_file(first)
    scene.instruments = ["msi"]
    scene.gsd = 10.0
    city_dir = folder.parent
    scene.date = dates.oscd_dates(city_dir).get(folder.name) or dates.date_from_name(first)
    scene.place = facts_mod.oscd_place(city_dir.name)
    scene.slug = re.sub(r"[^a-z0-9]+", "-", f"s2-{city_dir.name}-{folder.name}".lower())


def _apply_landsat_facts(scene: SceneData, source: SceneSource, names: list[str]) -> None:
    mtl = facts_mod.read_mtl(source.mtl) if source.mtl else facts_mod.MtlFacts()
    lid = dates.parse_landsat_id(mtl.scene_id or source.paths[0].name)
    scene.platform = mtl.platform or (lid.platform if lid else None)
    scene.constellation = "landsat"
    scene.date = mtl.date or (dates.exact_date(lid.date, "Landsat scene id") if lid else None)
    scene.cloud_cover = mtl.cloud_cover
    if scene.platform in ("landsat-8", "landsat-9") and all(n in {b[0] for b in sensors.L8_BANDS} for n in names):
        scene.bands = sensors.landsat8_bands(names)
        scene.instruments = ["oli", "tirs"]
    else:
        tm = {b.name: b for b in sensors.tm_bands()}
        scene.bands = [tm.get(n, Band(n)) for n in names]
    table = facts_mod.folder_facts(source.paths[0])
    if table.get("place"):
        scene.place = PlaceFact(table["place"], table.get("country"), source="MANIFEST")


def _apply_single_facts(scene: SceneData, path: Path, descriptions: list[str], tags: dict,
                        colorinterp: list[str]) -> None:
    count = scene.data.shape[0]
    table = facts_mod.folder_facts(path)
    scene.constellation = table.get("constellation")
    scene.platform = table.get("platform")
    if table.get("instruments"):
        scene.instruments = table["instruments"]
    if table.get("place"):
        scene.place = PlaceFact(table["place"], table.get("country"), source="MANIFEST")
    if table.get("note"):
        scene.notes.append(table["note"])
    # Landsat ids in the name or in ENVI band names (Taizhou headers name their MTL files)
    lid = dates.parse_landsat_id(path.name) or next(
        (x for x in (dates.parse_landsat_id(d) for d in descriptions) if x), None)
    if lid:
        scene.platform = scene.platform or lid.platform
        scene.constellation = scene.constellation or "landsat"
        scene.instruments = scene.instruments or [lid.sensor]
        scene.date = dates.exact_date(lid.date, "Landsat scene id")
    scene.date = scene.date or dates.date_from_name(path.name) or dates.date_from_tags(tags)
    scene.bands = _bands_for(count, descriptions, table, scene.constellation, colorinterp)


def _bands_for(count: int, descriptions: list[str], table: dict, constellation: str | None,
               colorinterp: list[str]) -> list[Band]:
    """Band names and common names: from the table, S2-like descriptions, the sensor, or the band count."""
    if table.get("bands") and len(table["bands"]) == count:
        return [Band(c, c) for c in table["bands"]]
    s2_names = [sensors.s2_band_name(d) if d.strip().upper().startswith("B") else None for d in descriptions]
    if s2_names and all(s2_names):
        return sensors.s2_bands(s2_names)
    if count == 13 and constellation == "sentinel-2":
        return sensors.s2_bands()
    if constellation == "landsat" and count == 6:
        return sensors.tm_bands()
    if count >= 3 and colorinterp[:3] == ["red", "green", "blue"]:
        return sensors.rgb_bands(3) + [Band(f"band{i + 1}") for i in range(3, count)]
    return sensors.rgb_bands(count)


def is_georeferenced(source: SceneSource) -> bool:
    """Header-only check (no pixels read): does the scene's first file carry a CRS and a geotransform?"""
    try:
        with _open(source.paths[0]) as ds:
            crs, transform = _georef(ds)
    except BadInputError:
        return True  # let the full read report why the file is bad
    return crs is not None
