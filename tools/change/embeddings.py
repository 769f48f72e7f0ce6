"""Galileo embeddings of a scene's tiles, cached in the data dir by content hash.

Encoding both dates with Galileo is the part of a change job that does not depend on the method's head or on the
sparse preview: the fast answer and its full-resolution refinement, a second question on the same scenes (another
method, another threshold) all use the same tile embeddings. They are stored once per date under
`<data_dir>/cache/galileo/<key>.npy`, the key hashing everything they depend on: the aligned raw pixels of the
scene on the job's grid, the band scaling, the month, the encoder, the tile layout and the torch device.
Only scenes held whole in memory are cached (`AlignedReader.whole`): their hash is cheap and their embeddings
small (a city-sized Sentinel-2 scene: about 18 MB).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from tools.core.settings import get_settings

CACHE_VERSION = "1"
CACHE_MAX_BYTES = 2 * 1024**3  # oldest entries go first beyond this


def cache_dir() -> Path:
    return get_settings().data_dir / "cache" / "galileo"


def scene_key(whole: np.ndarray | None, bm, month: int, encoder: str, regime, n_tiles: int, device: str) -> str | None:
    """Content hash of one date's embeddings; None when the scene is not held whole (not cached)."""
    if whole is None:
        return None
    h = hashlib.blake2b(digest_size=20)
    h.update(np.ascontiguousarray(whole).view(np.uint8).reshape(-1))  # hashlib releases the GIL on large buffers
    params = {
        "v": CACHE_VERSION,
        "shape": list(whole.shape),
        "dtype": str(whole.dtype),
        "bands": bm.galileo_to_source,
        "scaling": [bm.scaling, bm.dn_factor, sorted(bm.pair_mean.items()), sorted(bm.pair_std.items())],
        "month": month,
        "encoder": encoder,
        "regime": [regime.name, regime.patch_size, regime.tile, regime.overlap, regime.downscale],
        "tiles": n_tiles,
        "device": device,
    }
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()


def load(key: str | None) -> np.ndarray | None:
    """The cached (n_tiles, h, w, D) float32 embeddings for a key, or None (absent or unreadable)."""
    if key is None:
        return None
    path = cache_dir() / f"{key}.npy"
    try:
        arr = np.load(path)
    except (OSError, ValueError):
        return None
    os.utime(path)  # recently used: pruned last
    return arr


def save(key: str | None, embeddings: np.ndarray) -> None:
    """Stores embeddings atomically (a concurrent reader sees the old file or the whole new one), then prunes."""
    if key is None:
        return
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.part")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, np.ascontiguousarray(embeddings, dtype=np.float32))
        os.replace(tmp, folder / f"{key}.npy")
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return
    prune(folder)


def prune(folder: Path, max_bytes: int = CACHE_MAX_BYTES) -> None:
    """Removes the least recently used entries until the cache holds at most `max_bytes`."""
    entries = []
    for p in folder.glob("*.npy"):
        try:
            st = p.stat()
        except OSError:
            continue
        entries.append((st.st_mtime, st.st_size, p))
    total = sum(size for _, size, _ in entries)
    for _, size, p in sorted(entries):
        if total <= max_bytes:
            break
        p.unlink(missing_ok=True)
        total -= size
