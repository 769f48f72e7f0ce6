"""The one way the project opens a raster file: `open_raster`.

Every file a user gives (uploads, ingest, the reader, change inputs) and every file the project wrote (catalog COGs,
results) is opened here, so that GDAL only ever sees an existing local regular file whose content matches a driver
the product supports, with its network off, and only after the header says the raster fits the pixel budget.
Refused: `/vsi*` and URL-like names, VRT (by content, whatever the suffix), files whose content is not what the
suffix says, empty files, rasters over the budget. Every refusal is a one-line `BadInputError` naming the file
only, never a server path or a GDAL traceback.
"""

from __future__ import annotations

import os
import re
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tools.core.errors import BadInputError
from tools.core.settings import get_settings
from tools.rasters.sniff import SUFFIX_FORMATS, sniff

# sniffed format -> the only GDAL driver allowed to open it (ENVI raw data has no magic: it needs its header)
FORMAT_DRIVERS = {"GeoTIFF": "GTiff", "PNG": "PNG", "JPEG": "JPEG", "JPEG 2000": "JP2OpenJPEG", "BMP": "BMP"}
ALLOWED_DRIVERS = (*FORMAT_DRIVERS.values(), "ENVI")
ENVI_HEADER_SUFFIXES = (".hdr", ".HDR")
MAX_BANDS = 1024
"""More bands than any sensor the product reads (hyperspectral ENVI cubes hold a few hundred)."""

# GDAL configuration while opening: no directory listing, no /vsicurl on any extension, no retries, no raw bands
GDAL_SAFE_OPTIONS: dict[str, str] = {
    "GDAL_DISABLE_READDIR_ON_OPEN": "TRUE",  # no listing; sidecars (ENVI .hdr) are probed by name
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".sentinelle-no-network",
    "GDAL_HTTP_MAX_RETRY": "0",
    "GDAL_HTTP_TIMEOUT": "1",
    "GDAL_HTTP_CONNECTTIMEOUT": "1",
    "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",
    "PROJ_NETWORK": "OFF",
}

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*:")  # http:, ftp:, s3:, file:, GTIFF_DIR:, HDF5: ...


def user_max_pixels() -> int:
    """The width x height bound for files users give (uploads, ingest, the reader): they are read in memory."""
    settings = get_settings()
    return min(settings.max_image_pixels, settings.max_pixels)


UPLOAD_PREFIX = re.compile(r"^[0-9a-f]{8}_")
"""Uploads are stored as '<8 hex>_<the user's file name>' (assistant.ui.upload): the prefix is ours, not theirs."""


def display_name(raw: str | os.PathLike) -> str:
    """The file name as the user knows it, for messages and map labels: never a server path, nor an upload's
    random prefix."""
    name = Path(str(raw)).name or str(raw)
    return UPLOAD_PREFIX.sub("", name)[:80]


def checked_path(raw: str | os.PathLike) -> tuple[Path, str]:
    """(absolute path, GDAL driver) of a local file that may be opened; `BadInputError` otherwise.

    The driver comes from the file's content and must agree with its suffix; ENVI raw data needs its header.
    """
    text = os.fspath(raw)
    name = display_name(text)
    if not isinstance(text, str) or "\x00" in text:
        raise BadInputError("a raster path must be plain text")
    if text.strip().lower().startswith("/vsi") or _SCHEME.match(text.strip()):
        raise BadInputError(f"{name} is not a local file: Sentinelle opens only files on this machine")
    given = Path(text).expanduser()
    path = given.resolve()
    if str(path).lower().startswith("/vsi"):
        raise BadInputError(f"{name} is not a local file: Sentinelle opens only files on this machine")
    try:
        mode = path.stat().st_mode
    except OSError:
        raise BadInputError(f"{name} does not exist") from None
    if not stat.S_ISREG(mode):
        raise BadInputError(f"{name} is not a regular file")
    try:
        kind = sniff(path)
    except OSError:
        raise BadInputError(f"{name} cannot be read") from None
    return path, _driver_for(given, name, kind)


def _driver_for(path: Path, name: str, kind: str) -> str:
    """The driver for the content `kind` of `path` (the name as given: a link's suffix is the one the user saw)."""
    if kind == "empty":
        raise BadInputError(f"{name} is empty")
    if kind == "VRT":
        raise BadInputError(f"{name} is a GDAL VRT (XML that points at other files or URLs), which is not accepted")
    expected = SUFFIX_FORMATS.get(path.suffix.lower())
    if expected is not None:
        if kind != expected:
            raise BadInputError(f"{name} is not a {expected} (it looks like {_looks_like(kind)})")
        return FORMAT_DRIVERS[kind]
    if kind in FORMAT_DRIVERS:
        return FORMAT_DRIVERS[kind]
    if envi_header(path) is not None:
        return "ENVI"
    raise BadInputError(f"{name} is not a raster format Sentinelle reads (it looks like {_looks_like(kind)}; "
                        "accepted: GeoTIFF, JPEG, PNG, JPEG 2000, BMP, ENVI with its .hdr)")


def _looks_like(kind: str) -> str:
    return {"binary": "unknown binary data", "XML": "XML or HTML"}.get(kind, kind)


def envi_header(path: Path) -> Path | None:
    """The ENVI header (`<name>.hdr` or `<stem>.hdr`) beside a raw data file, when it really is one."""
    for suffix in ENVI_HEADER_SUFFIXES:
        for candidate in (path.parent / f"{path.name}{suffix}", path.with_suffix(suffix)):
            if candidate != path and candidate.is_file():
                with open(candidate, "rb") as fh:
                    if fh.read(4).upper() == b"ENVI":
                        return candidate
    return None


@contextmanager
def gdal_guard() -> Iterator[None]:
    """GDAL with its network off (see GDAL_SAFE_OPTIONS) and no 'not georeferenced' warnings."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning

    with rasterio.Env(**GDAL_SAFE_OPTIONS), warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        yield


def open_raster(path: str | os.PathLike, *, max_pixels: int | None = None) -> Any:
    """Open a raster file for reading (a rasterio `DatasetReader`, usable as a context manager).

    `max_pixels` bounds width x height (default `get_settings().max_pixels`; pass `user_max_pixels()` for files
    users give), and the band count is bounded by `MAX_BANDS`. Both are checked from the header, before any read:
    reads are windowed band by band, so a full 13-band Sentinel-2 tile (10980² px) is within the budget.
    """
    import rasterio
    from rasterio.errors import RasterioError

    resolved, driver = checked_path(path)
    name = display_name(path)
    try:
        with gdal_guard():
            ds = rasterio.open(resolved, driver=driver)  # GDAL tries this one driver only
    except RasterioError as exc:
        raise BadInputError(f"{name} is not a readable {_format_of(driver)} ({gdal_detail(exc, resolved)})") from None
    try:
        check_budget(ds.width, ds.height, ds.count, name, max_pixels)
        if driver in ("GTiff", "ENVI", "BMP"):
            _probe_last_pixel(ds, name)
    except BaseException:
        ds.close()
        raise
    return ds


def check_budget(width: int, height: int, count: int, name: str, max_pixels: int | None = None) -> None:
    """Refuse a raster whose header promises more pixels than the budget (one line, before any read)."""
    if width < 1 or height < 1 or count < 1:
        raise BadInputError(f"{name} holds no pixels")
    area_limit = max_pixels or get_settings().max_pixels
    if width * height > area_limit:
        raise BadInputError(f"{name} is {width} x {height} pixels, larger than the limit of {area_limit:,} pixels")
    if count > MAX_BANDS:  # a header can promise thousands of bands on a tiny file, like pixels
        raise BadInputError(f"{name} has {count} bands, more than the limit of {MAX_BANDS}")


def _probe_last_pixel(ds: Any, name: str) -> None:
    """One pixel of the last block: a truncated strip or tiled file fails here instead of in the middle of a job."""
    from rasterio.windows import Window

    with read_errors(name):
        ds.read(1, window=Window(ds.width - 1, ds.height - 1, 1, 1))


@contextmanager
def read_errors(name: str) -> Iterator[None]:
    """Pixel reads of an opened raster: GDAL read errors become one-line `BadInputError`s."""
    from rasterio.errors import RasterioError

    try:
        yield
    except RasterioError as exc:
        raise BadInputError(f"{display_name(name)}: truncated or corrupt pixel data ({gdal_detail(exc)})") from None


def gdal_detail(exc: BaseException, path: Path | None = None) -> str:
    """The first line of a GDAL error, without server paths, at most 100 characters."""
    text = (str(exc).splitlines() or [type(exc).__name__])[0]
    if path is not None:
        text = text.replace(str(path), path.name)
    text = re.sub(r"(/[^\s'\"]+)+/([^\s/'\"]+)", r"\2", text)  # any other absolute path -> its file name
    return text[:100]


def _format_of(driver: str) -> str:
    return {v: k for k, v in FORMAT_DRIVERS.items()}.get(driver, driver)
