"""XYZ PNG tiles (rio-tiler) of catalog scenes and result rasters: the URL templates and the renderers.

The HTTP routes live in the app (`assistant/ui/tiles_routes.py`); the HTML report calls the renderers directly
(`render_url_tile`, the inverse of the two URL builders). Only two things can be rendered: the COG of a catalog
item (looked up by a validated id, never by a path) and rasters under `<data_dir>/results/` (the path is resolved
and must stay inside that folder). Scene tiles use the item's stored 2-98 percentiles, so tiles of one scene match
at every zoom; outside the footprint is transparent.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tools.core.errors import BadInputError, NotFoundError
from tools.core.settings import get_settings

PREFIX = "/tiles"
_XYZ = "/{z}/{x}/{y}.png"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")
_GDAL_LOCK = threading.Semaphore(2)  # at most two tile reads at once on a 2-core machine


def scene_tile_url(item_id: str, preset: str | None = None) -> str:
    """XYZ template of a catalog scene, e.g. `/tiles/scenes/<id>/{z}/{x}/{y}.png?preset=truecolor`."""
    if not _ID_RE.match(item_id):
        raise BadInputError(f"'{item_id}' is not a scene id")
    url = f"/tiles/scenes/{item_id}/{{z}}/{{x}}/{{y}}.png"
    return f"{url}?{urlencode({'preset': preset})}" if preset else url


def results_root() -> Path:
    """The only folder result tiles are rendered from."""
    return (get_settings().data_dir / "results").resolve()


def result_tile_url(path: Path, colormap: str = "viridis", rescale: tuple[float, float] | None = None,
                    version: str | None = None) -> str:
    """XYZ template of a result raster under `<data_dir>/results/` (change scores, masks). `version` (the route
    ignores it) names one state of a file rewritten in place: a new URL, so browsers fetch the new tiles."""
    resolved = Path(path).resolve()
    root = results_root()
    if not resolved.is_relative_to(root):
        raise BadInputError(f"{path} is not under the results folder {root}")
    rel = quote(resolved.relative_to(root).as_posix())
    query = {"colormap": colormap}
    if rescale is not None:
        query["rescale"] = f"{float(rescale[0])},{float(rescale[1])}"
    if version:
        query["v"] = version
    return f"/tiles/results/{rel}/{{z}}/{{x}}/{{y}}.png?{urlencode(query)}"


# --- scene tiles ---------------------------------------------------------------------------------------------------


def _scene(item_id: str):
    from tools.catalog import asset_path, open_catalog

    if not _ID_RE.match(item_id):
        raise NotFoundError("unknown scene")
    try:
        item = open_catalog().get(item_id)
    except NotFoundError:
        raise NotFoundError("unknown scene") from None
    if not item.properties.get("sentinelle:georeferenced"):
        raise NotFoundError("scene has no location")
    path = asset_path(item)
    if not path.is_file():
        raise NotFoundError("scene file missing")
    return item, path


def render_scene_tile(item_id: str, z: int, x: int, y: int, preset: str | None = None) -> bytes | None:
    """PNG bytes of one tile of a catalog scene (None when the tile lies outside the scene).

    Raises NotFoundError (unknown or unlocated scene, tile outside the pyramid), BadInputError (unknown preset).
    """
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    from tools.rasters.open import open_raster
    from tools.render import display_indexes, stats_for

    check_tile(z, x, y)
    item, path = _scene(item_id)
    props = item.properties
    indexes = display_indexes(props.get("eo:bands") or [], preset, props.get("constellation"))
    stats = props.get("sentinelle:stats")
    with _GDAL_LOCK, open_raster(path) as ds, Reader(None, dataset=ds) as src:
        if not src.tile_exists(x, y, z):
            return None
        try:
            img = _overview_tile(src, x, y, z, indexes) or src.tile(x, y, z, indexes=indexes)
        except TileOutsideBounds:
            return None
    if stats:
        low, high = stats_for(stats, indexes)
    else:
        low, high = _percentiles_of(img)
    img = img.rescale(in_range=list(zip(low, high, strict=True)))
    return img.render(img_format="PNG")


def _overview_tile(src, x: int, y: int, z: int, indexes: list[int], size: int = 256):
    """A tile far coarser than the scene (a 300 m chip seen at z10): warp a decimated read of the whole scene.

    rio-tiler would read a source window hundreds of times the scene's size at full resolution, which takes
    seconds; reading the scene at about the tile's resolution first takes milliseconds. None: use rio-tiler.
    """
    import numpy as np
    from rasterio.transform import from_bounds
    from rasterio.warp import Resampling, reproject, transform_bounds
    from rio_tiler.models import ImageData

    ds = src.dataset
    tile = src.tms.xy_bounds(x, y, z)
    tile_res = (tile.right - tile.left) / size
    left, bottom, right, top = transform_bounds(ds.crs, "EPSG:3857", *ds.bounds)
    native_res = (right - left) / ds.width
    if tile_res < 8 * native_res:
        return None
    scale = tile_res / (2 * native_res)
    out_h, out_w = max(1, int(ds.height / scale)), max(1, int(ds.width / scale))
    data = ds.read(indexes, out_shape=(len(indexes), out_h, out_w), resampling=Resampling.average).astype("float32")
    valid = ds.dataset_mask(out_shape=(out_h, out_w)) > 0
    data[:, ~valid] = np.nan
    src_transform = ds.transform * ds.transform.scale(ds.width / out_w, ds.height / out_h)
    dst = np.full((len(indexes), size, size), np.nan, dtype="float32")
    dst_transform = from_bounds(tile.left, tile.bottom, tile.right, tile.top, size, size)
    reproject(data, dst, src_transform=src_transform, src_crs=ds.crs, src_nodata=np.nan, dst_transform=dst_transform,
              dst_crs="EPSG:3857", dst_nodata=np.nan, resampling=Resampling.bilinear)
    mask = np.isnan(dst)
    array = np.ma.MaskedArray(np.nan_to_num(dst), mask=np.broadcast_to(mask.any(axis=0), dst.shape))
    return ImageData(array, bounds=tile, crs=src.tms.rasterio_crs)


def _percentiles_of(img) -> tuple[list[float], list[float]]:
    """2-98 percentiles per band of a rendered tile (masked pixels left out): scenes without stored stats."""
    from tools.rasters.stretch import percentiles

    return percentiles(img.array)


# --- result tiles --------------------------------------------------------------------------------------------------


def result_path(relpath: str) -> Path:
    """A file under the results folder; anything that resolves outside it (../, links, absolute) is refused."""
    root = results_root()
    if not relpath or "\x00" in relpath or relpath.startswith(("/", "\\")):
        raise NotFoundError("unknown result")
    candidate = (root / relpath).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        raise NotFoundError("unknown result")
    return candidate


@lru_cache(maxsize=64)
def _result_stats(path: str, mtime: float) -> tuple[float, float]:
    """2-98 percentiles of band 1 of a result raster (cached per file version)."""
    from tools.rasters.open import open_raster
    from tools.rasters.stretch import percentiles

    with open_raster(path) as ds:
        scale = max(1, int(max(ds.width, ds.height) / 1024))
        arr = ds.read(1, masked=True, out_shape=(max(1, ds.height // scale), max(1, ds.width // scale)))
    (low,), (high,) = percentiles(arr[None])
    return low, high


def render_result_tile(relpath: str, z: int, x: int, y: int, colormap: str = "viridis",
                       rescale: str | None = None) -> bytes | None:
    """PNG bytes of one tile of a result raster (band 1, colour-mapped; `rescale` is 'min,max', else its 2-98
    percentiles); None when the tile lies outside the raster. Only files under `<data_dir>/results/`.

    Raises NotFoundError (unknown result, tile outside the pyramid), BadInputError (colormap, rescale).
    """
    from rio_tiler.colormap import cmap

    check_tile(z, x, y)
    path = result_path(relpath)
    if colormap.lower() == RGB_RESULT:
        img = _result_tile(path, z, x, y, indexes=(1, 2, 3), rgb=True)
        return None if img is None else img.render(img_format="PNG")
    try:
        colors = cmap.get(colormap.lower())
    except Exception:  # noqa: BLE001 - rio-tiler raises InvalidColorMapName
        raise BadInputError(f"unknown colormap '{colormap}'") from None
    if rescale:
        try:
            low, high = (float(v) for v in rescale.split(","))
        except ValueError:
            raise BadInputError("rescale is 'min,max'") from None
    else:
        low, high = _result_stats(str(path), path.stat().st_mtime)
    img = _result_tile(path, z, x, y, indexes=(1,))
    if img is None:
        return None
    img = img.rescale(in_range=[(low, high)])
    return img.render(img_format="PNG", colormap=colors)


RGB_RESULT = "rgb"
"""The `colormap` of a result that is already a display image (8-bit RGB, 0 = transparent): drawn as it is."""


def _result_tile(path: Path, z: int, x: int, y: int, indexes: tuple[int, ...], rgb: bool = False):  # noqa: ANN202
    """The rio-tiler ImageData of one tile of a result raster, None outside it; `rgb` checks the file is a display
    image (three 8-bit bands) first."""
    from rio_tiler.errors import TileOutsideBounds
    from rio_tiler.io import Reader

    from tools.rasters.open import open_raster

    with _GDAL_LOCK, open_raster(path) as ds, Reader(None, dataset=ds) as src:
        if rgb and (ds.count < 3 or ds.dtypes[0] != "uint8"):
            raise BadInputError("this result is not an RGB display image")
        if not src.tile_exists(x, y, z):
            return None
        try:
            return src.tile(x, y, z, indexes=indexes)
        except TileOutsideBounds:
            return None


def check_tile(z: int, x: int, y: int) -> None:
    """A tile of the Web-Mercator pyramid (zoom 0-24), else NotFoundError."""
    if not (0 <= z <= 24 and 0 <= x < 2**z and 0 <= y < 2**z):
        raise NotFoundError("no such tile")


def render_url_tile(url: str, z: int, x: int, y: int) -> bytes | None:
    """PNG bytes of one tile of a template made by `scene_tile_url` or `result_tile_url` (the inverse of those
    two), rendered as the tile route would; None where the route answers without an image (outside the raster,
    unknown scene or result, bad parameter, or a URL that is not one of these templates)."""
    parts = urlsplit(url)
    if not parts.path.startswith(PREFIX + "/") or not parts.path.endswith(_XYZ):
        return None
    path = unquote(parts.path[: -len(_XYZ)])  # a router sees the decoded path
    query = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    try:
        if path.startswith(f"{PREFIX}/scenes/"):
            return render_scene_tile(path.removeprefix(f"{PREFIX}/scenes/"), z, x, y, query.get("preset"))
        if path.startswith(f"{PREFIX}/results/"):
            return render_result_tile(path.removeprefix(f"{PREFIX}/results/"), z, x, y,
                                      colormap=query.get("colormap", "viridis"), rescale=query.get("rescale"))
    except (NotFoundError, BadInputError):
        return None
    return None
