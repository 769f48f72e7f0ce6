"""Galileo embeddings of a scene's tiles, cached in the data dir by content hash.

Encoding both dates with Galileo is the part of a change job that does not depend on the method's head or on the
sparse preview: the fast answer and its full-resolution refinement, a second question on the same scenes (another
method, another threshold) all use the same tile embeddings. They are stored once per date under
`<data_dir>/cache/galileo/<key>.npy`, the key hashing everything they depend on: the aligned raw pixels of the
scene on the job's grid, the band scaling, the month, the encoder, the tile layout and the torch device.
Only scenes held whole in memory are cached (`AlignedReader.whole`): their hash is cheap and their embeddings
small (a city-sized Sentinel-2 scene: about 18 MB).

Whoever computes a key's embeddings holds an advisory lock on `<key>.lock` meanwhile (`claim`): a question asked
while the server's warm-up encodes the same scene waits for those embeddings instead of encoding it a second time
beside it on the same cores. The lock goes with its holder's process, so a crashed encoder never blocks anyone.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tools.core.settings import get_settings

CACHE_VERSION = "1"
CACHE_MAX_BYTES = 2 * 1024**3  # oldest entries go first beyond this
CLAIM_WAIT_S = 90.0  # the longest a job waits for another's encoding of the same scene before encoding it itself


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
        _drop_lock(p.with_suffix(".lock"))
        total -= size


def _drop_lock(path: Path) -> None:
    """Removes a pruned entry's lock file unless a job holds it (it is then left for that job)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except OSError:
        pass
    finally:
        os.close(fd)


class Claim:
    """The right to compute one key's embeddings: an exclusive lock on `<key>.lock` until `release`."""

    def __init__(self, fd: int | None) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def claim(key: str, wait_s: float = CLAIM_WAIT_S, poll_s: float = 0.2) -> tuple[np.ndarray | None, Claim]:
    """(embeddings, claim) for a key about to be computed.

    When another job holds the key's lock, waits (at most `wait_s`) for it to finish and returns what it stored;
    otherwise returns (None, a claim held until the caller has saved and released it). Past the wait, or when the
    lock file cannot be made, the caller computes without a lock (never blocked for longer than `wait_s`).
    """
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        return None, Claim(None)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                return None, Claim(None)
            time.sleep(poll_s)
    held = Claim(fd)
    arr = load(key)  # stored by a job that held the lock before us (unless it failed)
    if arr is not None:
        held.release()
        return arr, Claim(None)
    return None, held
