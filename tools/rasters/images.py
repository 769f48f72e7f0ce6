"""Pictures (JPEG, PNG, BMP) read with PIL under the same checks as `open_raster`: local regular file, content
that matches the suffix, PIL's decompression-bomb guard set to the project's pixel budget, size checked from the
header before decoding. JPEGs are decoded at a reduced scale when only a small picture is wanted."""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np

from tools.core.errors import BadInputError
from tools.rasters.open import checked_path, display_name, user_max_pixels
from tools.rasters.stretch import auto_stretch

PIL_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "BMP": "BMP"}  # GDAL driver -> PIL format


def _pil() -> Any:
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = user_max_pixels()  # PIL refuses at twice this, we refuse at this from the header
    return Image


def is_picture(path: str | os.PathLike) -> bool:
    """True when the file is a JPEG, PNG or BMP by content (`open_image_rgb` reads it); refusals raise."""
    return checked_path(path)[1] in PIL_FORMATS


def open_image_rgb(path: str | os.PathLike, max_side: int | None = None) -> tuple[np.ndarray, tuple[int, int]]:
    """(RGB (H, W, 3) uint8, (width, height) of the file) of a picture, at most `max_side` pixels a side.

    16-bit and float grey pictures are stretched 2-98 % rather than clipped to white.
    """
    image_mod = _pil()
    resolved, driver = checked_path(path)
    name = display_name(path)
    if driver not in PIL_FORMATS:
        raise BadInputError(f"{name} is not a JPEG, PNG or BMP picture")
    limit = user_max_pixels()
    try:
        with warnings.catch_warnings():
            # PIL warns (on stderr, with its own file path) between the limit and twice it; the header check below
            # refuses those files itself, with their size
            warnings.simplefilter("ignore", image_mod.DecompressionBombWarning)
            opened = image_mod.open(resolved, formats=[PIL_FORMATS[driver]])
        with opened as pil:
            width, height = pil.size
            if width * height > limit:
                raise BadInputError(f"{name} is {width} x {height} pixels, larger than the limit of {limit:,} pixels")
            if max_side:
                pil.draft("RGB", (max_side, max_side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale when big
            if pil.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                grey = np.asarray(pil, dtype=np.float32)[None]
                picture = image_mod.fromarray(auto_stretch(grey))
            else:
                picture = pil.convert("RGB")
                picture.load()
    except image_mod.DecompressionBombError:
        raise BadInputError(f"{name} is larger than the limit of {limit:,} pixels") from None
    except (OSError, SyntaxError, ValueError) as exc:  # PIL: UnidentifiedImageError is an OSError
        raise BadInputError(f"{name} is a corrupt or truncated {driver} picture ({type(exc).__name__})") from None
    if max_side and max(picture.size) > max_side:
        scale = max_side / max(picture.size)
        size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
        picture = picture.resize(size, image_mod.Resampling.BILINEAR)
    return np.ascontiguousarray(np.asarray(picture)), (width, height)


def decode_png_rgba(data: bytes) -> Any:
    """A PNG made in this process (a rendered tile) as an RGBA PIL image; only the PNG decoder is tried."""
    image_mod = _pil()
    with image_mod.open(io.BytesIO(data), formats=["PNG"]) as pil:
        return pil.convert("RGBA")
