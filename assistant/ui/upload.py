"""Uploads: images and GeoTIFFs kept inside the data dir; georeferenced ones become map layers.

A georeferenced upload is warped to EPSG:4326 into a small PNG preview so that the image overlay lines up with
its footprint; the preview is served by `/api/uploads/<sid>/<file>` (only PNGs from that folder).
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import numpy as np

from assistant.config import get_settings
from assistant.errors import BadInputError
from assistant.events import MapLayer

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".jp2"}  # what `tools.rasters` opens
BROWSER_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
PREVIEW_MAX_PX = 1024
THUMB_MAX_PX = 384
MAX_NAME_CHARS = 120
"""Longest file name kept for an upload (names are at most 255 bytes; the copy adds a prefix, its preview a suffix)."""
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SID = re.compile(r"^[0-9a-f]{8,32}$")


def uploads_root() -> Path:
    return get_settings().data_dir / "uploads"


def accept_upload(src: str | Path, sid: str) -> Path:
    """Check an uploaded file (type, size) and keep a copy under `<data_dir>/uploads/<sid>/`.

    Raises `BadInputError` with a message fit for the chat when the file is too large or not an image.
    """
    src = Path(src)
    if not src.is_file():
        raise BadInputError("The uploaded file could not be read; please upload it again.")
    limit_mb = get_settings().upload_max_mb
    size_mb = src.stat().st_size / 1e6
    if size_mb > limit_mb:
        raise BadInputError(f"'{src.name}' is {size_mb:.1f} MB; the upload limit is {limit_mb:g} MB.")
    if src.suffix.lower() not in IMAGE_SUFFIXES:
        allowed = ", ".join(sorted(IMAGE_SUFFIXES))
        raise BadInputError(f"'{src.name}' is not an image this app reads (accepted: {allowed}).")
    folder = uploads_root() / _SAFE.sub("_", sid)
    folder.mkdir(parents=True, exist_ok=True)
    name = _SAFE.sub("_", src.name)
    if len(name) > MAX_NAME_CHARS:  # with our prefix and a "_preview.png" it must stay a legal file name
        name = name[: MAX_NAME_CHARS - len(src.suffix)] + _SAFE.sub("_", src.suffix)
    dest = folder / f"{uuid.uuid4().hex[:8]}_{name}"
    shutil.copyfile(src, dest)
    _check_readable(dest)
    return dest


def _check_readable(path: Path) -> None:
    """Fail early, with a one-line message, on a file that is not what it says, too large, empty or corrupt
    (`tools.rasters.open_raster`: content sniffed, VRT and remote references refused, size from the header)."""
    from tools.rasters.open import open_raster, read_errors, user_max_pixels

    try:
        with open_raster(path, max_pixels=user_max_pixels()) as ds, read_errors(path.name):
            ds.read(1, out_shape=(1, min(ds.height, 8), min(ds.width, 8)))
    except BadInputError as exc:
        path.unlink(missing_ok=True)
        raise BadInputError(str(exc).replace(path.name, path.name.split("_", 1)[-1])) from None


def georeference(path: Path) -> list[float] | None:
    """[west, south, east, north] in EPSG:4326 when the file is georeferenced, else None."""
    from tools.rasters.footprint import bbox_4326
    from tools.rasters.open import open_raster

    with open_raster(path) as ds:
        return bbox_4326(ds.crs, ds.transform, ds.width, ds.height)


def write_preview(path: Path, bounds: list[float]) -> Path:
    """A PNG of the upload warped to EPSG:4326 (at most PREVIEW_MAX_PX a side), transparent outside the data."""
    from PIL import Image
    from rasterio.enums import Resampling
    from rasterio.vrt import WarpedVRT

    from tools.rasters.open import open_raster
    from tools.rasters.stretch import auto_stretch

    with open_raster(path) as ds, WarpedVRT(ds, crs="EPSG:4326", resampling=Resampling.bilinear) as vrt:
        scale = max(vrt.width, vrt.height) / PREVIEW_MAX_PX
        shape = (max(1, round(vrt.height / max(scale, 1))), max(1, round(vrt.width / max(scale, 1))))
        indexes = [1, 2, 3] if vrt.count >= 3 else [1]
        data = vrt.read(indexes, out_shape=(len(indexes), *shape), resampling=Resampling.bilinear, masked=True)
        mask = vrt.dataset_mask(out_shape=shape) > 0
    valid = mask & ~np.ma.getmaskarray(data).any(axis=0)
    rgb = auto_stretch(np.ma.getdata(data), valid)
    rgba = np.dstack([rgb, (valid * 255).astype(np.uint8)])
    out = path.with_name(path.stem + "_preview.png")
    Image.fromarray(rgba, "RGBA").save(out)
    return out


def chat_image(path: str | Path) -> str | None:
    """What the chat shows for an attached image: the file itself when browsers display it, else a PNG thumbnail
    made next to it (GeoTIFFs, multi-band rasters). None when the file is gone (e.g. a link from another server)
    or lies outside the uploads folder: nothing else is shown, and thumbnails are written only there."""
    path = Path(path)
    if not path.resolve().is_relative_to(uploads_root().resolve()) or not path.is_file():
        return None
    if path.suffix.lower() in BROWSER_SUFFIXES:
        return str(path)
    thumb = path.with_name(path.stem + "_thumb.png")
    if not thumb.exists():
        from PIL import Image
        from rasterio.enums import Resampling

        from tools.rasters.open import open_raster
        from tools.rasters.stretch import auto_stretch

        try:
            with open_raster(path) as ds:
                scale = max(1.0, max(ds.width, ds.height) / THUMB_MAX_PX)
                shape = (max(1, round(ds.height / scale)), max(1, round(ds.width / scale)))
                indexes = [1, 2, 3] if ds.count >= 3 else [1]
                data = ds.read(indexes, out_shape=(len(indexes), *shape), resampling=Resampling.average)
        except Exception:  # noqa: BLE001 - no thumbnail: the chat shows the question without it
            return None
        Image.fromarray(auto_stretch(data)).save(thumb)
    return str(thumb)


def upload_layers(path: Path, sid: str) -> list[MapLayer]:
    """Map layers for an upload: footprint + image overlay when georeferenced, nothing otherwise."""
    bounds = georeference(path)
    if bounds is None:
        return []
    preview = write_preview(path, bounds)
    from tools.rasters.open import display_name

    name = display_name(path)
    url = f"/api/uploads/{_SAFE.sub('_', sid)}/{preview.name}"
    return [
        MapLayer(name=f"Upload: {name}", kind="image", url=url, bounds=bounds, style={"opacity": 0.9}),
        MapLayer(
            name=f"Upload footprint: {name}",
            kind="bounds",
            bounds=bounds,
            style={"color": "#e6194b", "weight": 2},
            legend={"uploaded image": "#e6194b"},
            fly_to=True,
        ),
    ]


def preview_file(sid: str, name: str) -> Path:
    """The preview PNG a map asks for; nothing else under the uploads folder is served."""
    if not _SID.match(sid) or _SAFE.sub("_", name) != name or not name.endswith("_preview.png") or ".." in name:
        raise BadInputError("bad preview name")
    path = uploads_root() / sid / name
    if not path.is_file():
        raise BadInputError("no such preview")
    return path
