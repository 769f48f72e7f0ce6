"""What a file really is, from its first bytes: a file named `.tif` may be a PNG, a web page or a GDAL VRT.

GDAL trusts content, not names, and a VRT (XML) can point GDAL at URLs or at any file on the server, so the
format is checked here before GDAL or PIL sees the file.
"""

from __future__ import annotations

from pathlib import Path

HEAD_BYTES = 4096

# what each suffix promises, as `sniff` names it
SUFFIX_FORMATS = {
    ".tif": "GeoTIFF", ".tiff": "GeoTIFF", ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".jp2": "JPEG 2000",
    ".bmp": "BMP",
}  # fmt: skip

_MAGIC = [
    (b"II*\x00", "GeoTIFF"), (b"MM\x00*", "GeoTIFF"), (b"II+\x00", "GeoTIFF"), (b"MM\x00+", "GeoTIFF"),
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"), (b"BM", "BMP"), (b"GIF8", "GIF"), (b"%PDF", "PDF"), (b"PK\x03\x04", "ZIP"),
    (b"\x1f\x8b", "gzip"), (b"\x89HDF", "HDF5"), (b"CDF\x01", "netCDF"), (b"\x7fELF", "an executable"),
]  # fmt: skip


def sniff(path: Path) -> str:
    """The format of a file from its content: 'GeoTIFF', 'PNG', 'JPEG', 'JPEG 2000', 'BMP', 'VRT', 'XML',
    'text', 'empty', another known format's name, or 'binary' (raw data such as ENVI's)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> str:
    """`sniff` on the first bytes of a file."""
    if not head:
        return "empty"
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<vrtdataset" in text[:HEAD_BYTES]:
        return "VRT"  # also when an XML prolog or comments come first
    if text.startswith(b"<"):
        return "XML"
    if _is_text(head):
        return "text"
    return "binary"


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError as exc:  # a cut multi-byte character at the end is still text
        if exc.start < len(head) - 4:
            return False
        decoded = head[: exc.start].decode("utf-8")
    printable = sum(c.isprintable() or c in "\r\n\t\f" for c in decoded)
    return printable >= 0.95 * max(len(decoded), 1)
