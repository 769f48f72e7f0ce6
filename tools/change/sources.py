"""Inputs of a change job: a raster file, a folder of per-band Sentinel-2 files, or a catalog scene id.

Each input is opened as a `Source` (band files, names, date, sensor, grid); `AlignedReader` reads windows of
any source on a reference grid (date 1's), reprojecting and resampling through rasterio's WarpedVRT so that
memory depends on the window, never on the scene.
"""

from __future__ import annotations

import math
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from tools.change.bands import S2_ORDER_13, BandMap, band_map_from_count, band_map_from_names
from tools.core.errors import BadInputError, NotFoundError
from tools.rasters.dates import date_from_name, oscd_dates
from tools.rasters.footprint import is_georeferenced
from tools.rasters.open import gdal_guard, open_raster, read_errors
from tools.rasters.sensors import s2_band_file

BLOCK = 1024  # pixels per side of the blocks whole-grid passes read and write (memory bound, not scene bound)

RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".png", ".jpg", ".jpeg", ".img", ".vrt"}


@dataclass
class Grid:
    """A pixel grid: CRS (None when not georeferenced), affine transform and size."""

    crs: CRS | None
    transform: Affine
    width: int
    height: int

    @property
    def georeferenced(self) -> bool:
        return self.crs is not None

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        t = self.transform
        xs = [t.c, t.c + t.a * self.width]
        ys = [t.f, t.f + t.e * self.height]
        return min(xs), min(ys), max(xs), max(ys)

    def profile(self, dtype: str, nodata: float | None = None, compress: str = "deflate") -> dict:
        """A one-band tiled GeoTIFF profile on this grid (results are written block by block, then made COGs;
        `compress="none"` for a temporary file read back once: deflating it costs more than the disk it saves)."""
        prof = {"driver": "GTiff", "width": self.width, "height": self.height, "count": 1, "dtype": dtype,
                "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": compress, "transform": self.transform}
        if nodata is not None:
            prof["nodata"] = nodata
        if self.crs is not None:
            prof["crs"] = self.crs
        return prof

    def pixel_size_m(self) -> float | None:
        """Ground size of one pixel in metres (approximate for geographic CRS); None when not georeferenced."""
        if self.crs is None:
            return None
        res = abs(self.transform.a)
        if self.crs.is_geographic:
            lat = (self.bounds[1] + self.bounds[3]) / 2
            dx = res * 111_320 * max(float(np.cos(np.radians(lat))), 0.01)
            dy = abs(self.transform.e) * 110_540
            return float(np.sqrt(dx * dy))
        return res * (self.crs.linear_units_factor[1] if self.crs.linear_units_factor else 1.0)


@dataclass
class Source:
    """One date of a change job."""

    label: str
    bands: list[tuple[Path, int]]  # (file, 1-based band index) per source band
    band_map: BandMap
    grid: Grid
    date: str | None = None
    sensor: str = "unknown"
    scene_id: str | None = None
    nodata: list[float | None] = field(default_factory=list)
    # Whole-scene reads on a grid, kept so a job reads a small scene once (`AlignedReader.read`): preparing a job
    # (overview statistics), scoring it and refining a fast preview all slice the same array.
    whole_reads: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def files(self) -> list[Path]:
        return sorted({f for f, _ in self.bands})


def _grid_of(path: Path) -> tuple[Grid, int, list, str, list]:
    with open_raster(path) as src:
        crs = src.crs if is_georeferenced(src.crs, src.transform) else None
        grid = Grid(crs, src.transform, src.width, src.height)
        with read_errors(path.name):
            src.read(1, window=Window(0, 0, min(8, src.width), min(8, src.height)))
        return grid, src.count, list(src.descriptions), src.dtypes[0], list(src.nodatavals)


def _file_date(name: str) -> str | None:
    fact = date_from_name(name)
    return fact.day if fact else None


def _folder_date(folder: Path, files: list[Path]) -> str | None:
    """OSCD `dates.txt` beside `imgs_1`/`imgs_2`, else the date in the first band file's name."""
    if fact := oscd_dates(folder.parent).get(folder.name):
        return fact.day
    return _file_date(files[0].name) if files else None


def open_folder(folder: Path) -> Source:
    """A folder of per-band Sentinel-2 files (`*_B04.tif` ...); the grid is the 10 m bands' grid."""
    found: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if band := s2_band_file(f.name):
            found[band[1]] = f
    if not found:
        raise BadInputError(f"folder {folder.name} holds no per-band files named like *_B04.tif")
    names = [b for b in S2_ORDER_13 if b in found]
    ref_name = next((b for b in ("B02", "B03", "B04", "B08") if b in found), None)
    grids = {b: _grid_of(found[b]) for b in names}
    if ref_name is None:
        ref_name = min(names, key=lambda b: abs(grids[b][0].transform.a))
    bm = band_map_from_names(names, sensor="sentinel-2")
    return Source(
        label=str(folder),
        bands=[(found[b], 1) for b in names],
        band_map=bm,
        grid=grids[ref_name][0],
        date=_folder_date(folder, [found[b] for b in names]),
        sensor="sentinel-2",
        nodata=[grids[b][4][0] for b in names],
    )


def open_file(path: Path, sensor: str = "", names: list | None = None, common: list | None = None,
              date: str | None = None, scene_id: str | None = None) -> Source:
    grid, count, descriptions, _dtype, nodata = _grid_of(path)
    names = names or descriptions
    bm = None
    if any(names) or (common and any(common)):
        bm = band_map_from_names(list(names) + [None] * (count - len(names)), common, sensor)
        if not bm.galileo_to_source:
            bm = None
    if bm is None:
        bm = band_map_from_count(count, sensor)
    if not date:
        date = _file_date(path.name)  # a year alone in the name stands for its middle
    return Source(str(path), [(path, i + 1) for i in range(count)], bm, grid, date, bm.sensor if not sensor else sensor,
                  scene_id, nodata)


def open_source(spec: str | Path) -> Source:
    """Opens a path (file or per-band folder) or, failing that, a catalog scene id."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return open_folder(path)
    if path.is_file():
        return open_file(path)
    if any(sep in str(spec) for sep in ("/", "\\")) or path.suffix.lower() in RASTER_SUFFIXES:
        raise BadInputError(f"no such file or folder: {spec}")
    return open_scene(str(spec))


def open_scene(scene_id: str) -> Source:
    """A catalog scene (its stacked COG), with band names, date and sensor from the STAC item."""
    try:
        from tools.catalog import asset_path, open_catalog
    except ImportError as exc:  # the catalog module is not there yet
        raise NotFoundError(f"unknown scene '{scene_id}' (no catalog available)") from exc
    item = open_catalog().get(scene_id)
    props = item.properties
    bands = props.get("eo:bands") or []
    names = [b.get("name") for b in bands]
    common = [b.get("common_name") for b in bands]
    dt = item.datetime.date().isoformat() if item.datetime else props.get("datetime", "")[:10] or None
    sensor = str(props.get("constellation") or props.get("platform") or "")
    return open_file(Path(asset_path(item)), sensor=sensor, names=names, common=common, date=dt, scene_id=scene_id)


WHOLE_SCENE_MAX_VALUES = 32_000_000
"""Band x pixel count up to which a scene is read once into memory (128 MB as float32)."""


def _translation(src, ref: Grid) -> tuple[float, float] | None:
    """(dx, dy) in source pixels when the reference grid is the source grid shifted (same CRS, pixel size, no
    rotation): dates of one tiling scheme, or a window of a scene. Else None."""
    if src.crs is None or ref.crs is None or src.crs != ref.crs:
        return None
    s, r = src.transform, ref.transform
    if s.b or s.d or r.b or r.d or not (math.isclose(s.a, r.a, rel_tol=1e-9) and math.isclose(s.e, r.e, rel_tol=1e-9)):
        return None
    return (r.c - s.c) / s.a, (r.f - s.f) / s.e


def _read_shifted(ds, idx: list[int], window: Window, dx: float, dy: float, nodata: float) -> np.ndarray:
    """Bilinear resampling of a translated grid from a plain windowed read, as a WarpedVRT would give it (nodata
    neighbours left out of the weights, 0 where none is valid) at a fraction of the cost: GDAL re-warps the
    overlapping source blocks on every windowed read of a VRT."""
    h, w = int(window.height), int(window.width)
    x0, y0 = (round(v) if abs(v - round(v)) < 1e-6 else v for v in (window.col_off + dx, window.row_off + dy))
    c0, r0 = math.floor(x0), math.floor(y0)
    fx, fy = x0 - c0, y0 - r0
    ww, hh = w + (fx > 0), h + (fy > 0)
    buf = np.full((len(idx), hh, ww), nodata, np.float32)  # outside the source: nodata
    cs, rs = max(c0, 0), max(r0, 0)
    ce, re_ = min(c0 + ww, ds.width), min(r0 + hh, ds.height)
    if ce > cs and re_ > rs:
        buf[:, rs - r0 : re_ - r0, cs - c0 : ce - c0] = ds.read(idx, window=Window(cs, rs, ce - cs, re_ - rs))
    if fx == 0 and fy == 0:  # a whole-pixel shift: the read is the answer
        for band in buf:
            band[~(np.isfinite(band) & (band != nodata))] = 0
        return buf
    out = np.zeros((len(idx), h, w), np.float32)
    wx = [1 - fx, fx] if fx > 0 else [1.0]
    wy = [1 - fy, fy] if fy > 0 else [1.0]
    for k, band in enumerate(buf):  # band by band: a whole-strip read stays a few band-sized arrays
        ok = np.isfinite(band) & (band != nodata)
        band[~ok] = 0
        valid = ok.astype(np.float32)
        num, den = np.zeros((h, w), np.float32), np.zeros((h, w), np.float32)
        for i, a in enumerate(wy):
            for j, b in enumerate(wx):
                num += np.float32(a * b) * band[i : i + h, j : j + w]  # invalid samples are 0 in band
                den += np.float32(a * b) * valid[i : i + h, j : j + w]
        np.divide(num, den, out=out[k], where=den > 0)
    return out


class AlignedReader:
    """Reads windows of a source on a reference grid (reprojected/resampled when the grids differ)."""

    def __init__(self, source: Source, ref: Grid, resampling: Resampling = Resampling.bilinear) -> None:
        self.source = source
        self.ref = ref
        self._stack = ExitStack()
        self._datasets: dict[Path, object] = {}
        self._scale: dict[Path, tuple[float, float]] = {}
        self._whole: np.ndarray | None = None
        self._shift: dict[Path, tuple[float, float, float]] = {}
        with gdal_guard():
            for f in source.files:
                src = self._stack.enter_context(open_raster(f))
                same = src.width == ref.width and src.height == ref.height and (
                    ref.crs is None or (src.crs == ref.crs and src.transform.almost_equals(ref.transform))
                )
                shift = _translation(src, ref) if not same and resampling == Resampling.bilinear else None
                if same:
                    self._datasets[f] = src
                elif shift is not None:
                    self._datasets[f] = src
                    self._shift[f] = (*shift, src.nodata if src.nodata is not None else 0)
                elif ref.crs is not None and src.crs is not None:
                    self._datasets[f] = self._stack.enter_context(
                        WarpedVRT(src, crs=ref.crs, transform=ref.transform, width=ref.width, height=ref.height,
                                  resampling=resampling, src_nodata=src.nodata if src.nodata is not None else 0,
                                  nodata=0)
                    )
                else:  # pixel grids only: stretch to the reference size
                    self._datasets[f] = src
                    self._scale[f] = (src.width / ref.width, src.height / ref.height)

    def read(self, window: Window) -> np.ndarray:
        """(C, h, w) float32 raw values for the window of the reference grid.

        Small scenes are read (and warped) once and sliced from memory: many small windowed reads through a
        WarpedVRT re-warp the overlapping source blocks every time (minutes for one OSCD city). Large scenes
        keep the windowed reads, so memory stays bounded by WHOLE_SCENE_MAX_VALUES.
        """
        if self._whole is None and len(self.source.bands) * self.ref.width * self.ref.height <= WHOLE_SCENE_MAX_VALUES:
            self._whole = self.source.whole_reads.get(self._grid_key)
            if self._whole is None:
                self._whole = self._read_window(Window(0, 0, self.ref.width, self.ref.height))
                self.source.whole_reads = {self._grid_key: self._whole}  # one grid at a time: memory stays bounded
        if self._whole is not None:
            c, r = int(window.col_off), int(window.row_off)
            return self._whole[:, r : r + int(window.height), c : c + int(window.width)].copy()
        return self._read_window(window)

    @property
    def _grid_key(self) -> tuple:
        return (str(self.ref.crs), tuple(self.ref.transform), self.ref.width, self.ref.height)

    @property
    def whole(self) -> np.ndarray | None:
        """The whole scene on the reference grid when it is small enough to be held (read on first use), else None."""
        if len(self.source.bands) * self.ref.width * self.ref.height > WHOLE_SCENE_MAX_VALUES:
            return None
        self.read(Window(0, 0, 1, 1))
        return self._whole

    def _read_window(self, window: Window) -> np.ndarray:
        out = np.empty((len(self.source.bands), int(window.height), int(window.width)), np.float32)
        by_file: dict[Path, list[tuple[int, int]]] = {}
        for k, (f, b) in enumerate(self.source.bands):
            by_file.setdefault(f, []).append((k, b))
        for f, pairs in by_file.items():
            ds = self._datasets[f]
            idx = [b for _, b in pairs]
            if f in self._shift:
                data = _read_shifted(ds, idx, window, *self._shift[f])
            elif f in self._scale:
                sx, sy = self._scale[f]
                win = Window(window.col_off * sx, window.row_off * sy, window.width * sx, window.height * sy)
                data = ds.read(idx, window=win, out_shape=(len(idx), out.shape[1], out.shape[2]),
                               resampling=Resampling.bilinear)
            else:
                data = ds.read(idx, window=window)
            for (k, _), arr in zip(pairs, data, strict=True):
                out[k] = arr
        return out

    def read_overview(self, max_side: int = 512, n: int = 12, size: int = 48) -> np.ndarray:
        """(C, N) raw values for statistics: the whole grid decimated when small, else n x n sample windows.

        Sampling windows keeps this cheap on huge scenes (a decimated read would decode every block).
        """
        if max(self.ref.width, self.ref.height) <= 2 * max_side:
            # Read at full resolution and decimate here: GDAL's resampled reads (out_shape) of these small
            # pixel-interleaved COGs took ~30 s per scene, the full read ~0.1 s.
            step = max(1, math.ceil(max(self.ref.width, self.ref.height) / max_side))
            full = self.read(Window(0, 0, self.ref.width, self.ref.height))
            return np.ascontiguousarray(full[:, ::step, ::step]).reshape(len(self.source.bands), -1)
        parts = []
        for r in np.linspace(0, self.ref.height - size, n).astype(int):
            for c in np.linspace(0, self.ref.width - size, n).astype(int):
                parts.append(self.read(Window(int(c), int(r), size, size)).reshape(len(self.source.bands), -1))
        return np.concatenate(parts, axis=1)

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> AlignedReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_overlap(before: Source, after: Source) -> float:
    """Fraction of the before grid covered by the after scene; raises when they do not overlap."""
    a, b = before.grid, after.grid
    if a.crs is None or b.crs is None:
        if (a.crs is None) != (b.crs is None):
            if (a.width, a.height) != (b.width, b.height):
                raise BadInputError("one image is georeferenced and the other is not, and their sizes differ")
        return 1.0
    from rasterio.warp import transform_bounds

    bb = transform_bounds(b.crs, a.crs, *b.bounds, densify_pts=21)
    ab = a.bounds
    w = min(ab[2], bb[2]) - max(ab[0], bb[0])
    h = min(ab[3], bb[3]) - max(ab[1], bb[1])
    if w <= 0 or h <= 0:
        raise BadInputError("the two scenes do not overlap: pick two images of the same area")
    return float(w * h / ((ab[2] - ab[0]) * (ab[3] - ab[1])))
