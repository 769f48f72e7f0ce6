"""Bad input files made in a temp folder: what users attach by mistake or on purpose.

Two families: files the reader must *refuse to judge* (they open, but show nothing it can classify) and files that
must not open at all (wrong content, truncated, lying headers). Each maker writes one file and returns its path.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

MIN_SCENE_SIDE = 32


def _png(path: Path, rgb: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(rgb).save(path)
    return path


def tiny_png(folder: Path) -> Path:
    """1 x 1 px: nothing to classify."""
    return _png(folder / "one_pixel.png", np.array([[[34, 120, 40]]], dtype=np.uint8))


def thin_png(folder: Path) -> Path:
    """500 x 20 px: long but below the minimum side."""
    rng = np.random.default_rng(1)
    strip = np.clip(rng.normal(100, 20, (20, 500, 3)), 0, 255).astype(np.uint8)
    return _png(folder / "thin_strip.png", strip)


def flat_png(folder: Path) -> Path:
    """One flat colour (a green that the classifier once called 'forest')."""
    return _png(folder / "flat_green.png", np.full((256, 256, 3), (40, 120, 40), dtype=np.uint8))


def noise_png(folder: Path) -> Path:
    """Uniform random noise."""
    rng = np.random.default_rng(0)
    return _png(folder / "noise.png", rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))


def checkerboard_png(folder: Path) -> Path:
    """Two flat colours in squares: a drawing, not a photograph."""
    board = (np.kron(np.indices((8, 8)).sum(0) % 2, np.ones((32, 32))) * 255).astype(np.uint8)
    return _png(folder / "checkerboard.png", np.dstack([board] * 3))


def screenshot_png(folder: Path) -> Path:
    """A settings-dialog-like picture: title bar, boxes, buttons, text."""
    from PIL import Image, ImageDraw

    shot = Image.new("RGB", (480, 320), (240, 240, 240))
    draw = ImageDraw.Draw(shot)
    draw.rectangle((0, 0, 480, 30), fill=(40, 90, 160))
    draw.text((10, 8), "Settings - Preferences", fill="white")
    for i in range(6):
        y = 50 + i * 40
        draw.rectangle((20, y, 300, y + 28), outline=(120, 120, 120), fill="white")
        draw.text((30, y + 8), f"Option {i}: enabled", fill="black")
        draw.rectangle((320, y, 400, y + 28), fill=(60, 160, 80))
    path = folder / "screenshot.png"
    shot.save(path)
    return path


def empty_geotiff(folder: Path, side: int = 12000) -> Path:
    """A `side` x `side` GeoTIFF (sparse, a few kB) that is nodata everywhere but one 64 px square."""
    import rasterio
    from rasterio.transform import from_origin

    path = folder / "nearly_empty.tif"
    profile = {"driver": "GTiff", "width": side, "height": side, "count": 3, "dtype": "uint8", "nodata": 0,
               "crs": "EPSG:32631", "transform": from_origin(440000, 5420000, 10, 10), "tiled": True,
               "blockxsize": 512, "blockysize": 512, "compress": "deflate", "sparse_ok": True}
    with rasterio.open(path, "w", **profile) as dst:
        block = np.random.default_rng(2).integers(1, 255, (3, 64, 64), dtype=np.uint8)
        dst.write(block, window=rasterio.windows.Window(side // 2, side // 2, 64, 64))
    return path


def nodata_geotiff(folder: Path) -> Path:
    """A georeferenced 256 x 256 GeoTIFF whose every pixel is nodata."""
    import rasterio
    from rasterio.transform import from_origin

    path = folder / "all_nodata.tif"
    with rasterio.open(path, "w", driver="GTiff", width=256, height=256, count=3, dtype="uint16", nodata=0,
                       crs="EPSG:32631", transform=from_origin(440000, 5420000, 10, 10)) as dst:
        dst.write(np.zeros((3, 256, 256), dtype=np.uint16))
    return path


# files the reader opens but must refuse to judge: maker -> the `unreadable` reason it must give
UNJUDGEABLE: dict[str, tuple[Callable[[Path], Path], str]] = {
    "1x1 png": (tiny_png, "too_small"),
    "500x20 png": (thin_png, "too_small"),
    "flat colour png": (flat_png, "flat"),
    "noise png": (noise_png, "noise"),
    "checkerboard png": (checkerboard_png, "few_colours"),
    "screenshot png": (screenshot_png, "few_colours"),
    "nearly empty 12000² geotiff": (empty_geotiff, "no_data"),
    "all-nodata geotiff": (nodata_geotiff, "no_data"),
}


# --- files that must not open ---------------------------------------------------------------------------------


def empty_file(folder: Path, name: str = "empty.tif") -> Path:
    path = folder / name
    path.write_bytes(b"")
    return path


def text_as(folder: Path, suffix: str) -> Path:
    path = folder / f"notes{suffix}"
    path.write_text("this is a shopping list, not an image\n" * 20)
    return path


def truncated_geotiff(folder: Path) -> Path:
    """A real-looking GeoTIFF cut in the middle of its pixel data."""
    import rasterio
    from rasterio.transform import from_origin

    whole = folder / "whole.tif"
    rng = np.random.default_rng(3)
    with rasterio.open(whole, "w", driver="GTiff", width=512, height=512, count=3, dtype="uint8",
                       crs="EPSG:32631", transform=from_origin(440000, 5420000, 10, 10)) as dst:
        dst.write(rng.integers(0, 255, (3, 512, 512), dtype=np.uint8))
    data = whole.read_bytes()
    whole.unlink()
    path = folder / "truncated.tif"
    path.write_bytes(data[: len(data) // 3])
    return path


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def huge_header_png(folder: Path, side: int = 100_000) -> Path:
    """A PNG whose header claims side x side px (10 giga-pixels) over a few bytes of data."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 64)
    path = folder / "huge_header.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", body)
                     + _png_chunk(b"IEND", b""))
    return path


def bomb_png(folder: Path, side: int = 17_000) -> Path:
    """A zip-bomb-like PNG: 17000 x 17000 px of zeros (867 MB decoded, over the pixel limit) in 3.8 MB."""
    row = b"\x00" + b"\x00" * (side * 3)
    compressor = zlib.compressobj(1)
    parts = [compressor.compress(row) for _ in range(side)]
    parts.append(compressor.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path = folder / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
                     + _png_chunk(b"IEND", b""))
    return path


def plain_png(folder: Path) -> Path:
    """A real aerial picture without georeference (an AID scene re-saved as PNG)."""
    from PIL import Image

    from tools.data import geodata_path

    path = folder / "no_georef.png"
    Image.open(geodata_path("aid-scenes/Forest/forest_1.jpg")).save(path)
    return path


def vrt_as_tif(folder: Path) -> Path:
    """A GDAL VRT (an XML file that can point at any file on the server) renamed .tif."""
    path = folder / "innocent.tif"
    path.write_text(
        '<VRTDataset rasterXSize="64" rasterYSize="64"><VRTRasterBand dataType="Byte" band="1">'
        "<SimpleSource><SourceFilename relativeToVRT=\"0\">/etc/passwd</SourceFilename><SourceBand>1</SourceBand>"
        "</SimpleSource></VRTRasterBand></VRTDataset>\n"
    )
    return path
