"""Scoring every tile of a job: batches read in order, scored on a small thread pool, embeddings cached.

Reads stay on the calling thread (rasterio datasets are not shared between threads); the scoring of a batch
(Galileo, pixel features, the head) runs on `SCORE_WORKERS` threads, which keeps both cores of a small machine busy
where numpy and scipy filters alone would use one (they, torch and sklearn's predict release the GIL). Batches come
back in order, so the caller writes and histograms them exactly as a sequential pass would.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import torch
from rasterio.windows import Window

from tools.change import embeddings as cache
from tools.change.band_features import Regime
from tools.change.job import ChangeJob, read_padded, score_batch
from tools.change.sources import AlignedReader, Grid
from tools.torch_device import batch_size, torch_device

SCORE_WORKERS = max(1, min(2, os.cpu_count() or 1))


def _cached_embeddings(job: ChangeJob, readers: tuple[AlignedReader, AlignedReader], regime: Regime,
                       n_tiles: int) -> tuple[list, list, list[cache.Claim]]:
    """Per date: its cache key (None: not cacheable) and its cached embeddings (None: to be computed), and the
    claims held on the keys this job computes (released by the caller once it has saved them).

    Keys are claimed in sorted order, so two jobs sharing scenes never wait on each other in a cycle."""
    keys, found, claims = [None, None], [None, None], []
    if job.method == "cva":
        return keys, found, claims
    device = torch_device().type

    def key_and_cached(k: int) -> tuple:  # one date per thread: hashing a city's bands takes ~70 ms
        key = cache.scene_key(readers[k].whole, job.bms[k], job.months[k], job.encoder_size, regime, n_tiles, device)
        return key, cache.load(key)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="change-key") as pool:
        (keys[0], found[0]), (keys[1], found[1]) = pool.map(key_and_cached, (0, 1))
    for k in sorted((k for k in (0, 1) if keys[k] is not None and found[k] is None), key=lambda k: keys[k]):
        if keys[k] == keys[1 - k] and k == 1:  # the same scene twice: one claim, one encoding
            continue
        found[k], held = cache.claim(keys[k])
        claims.append(held)
    for k in (0, 1):
        if keys[k] is not None and keys[k] == keys[1 - k] and found[1 - k] is not None:
            found[k] = found[1 - k]
        if found[k] is not None and len(found[k]) != n_tiles:
            found[k] = None
    return keys, found, claims


def scored_batches(
    job: ChangeJob,
    r1: AlignedReader,
    r2: AlignedReader,
    cores: list[Window],
    grid: Grid,
    regime: Regime,
    stride: int = 1,
    workers: int | None = None,
    timings: dict | None = None,
) -> Iterator[tuple[list[Window], np.ndarray, np.ndarray, np.ndarray]]:
    """(windows, score (B, T, T), raw1, raw2) of each batch of tiles, in order.

    Galileo embeddings of a date come from the cache when its scene was encoded before on this grid; else they
    are computed and stored at the end. `timings` (when given) collects seconds per stage summed over batches,
    the pixels the head classified and those it would classify at full resolution (to estimate a refinement).
    `workers` threads score (default SCORE_WORKERS); 0 scores on the calling thread (profiling, debugging).
    """
    workers = SCORE_WORKERS if workers is None else workers
    stats = timings if timings is not None else {}
    t0 = time.perf_counter()
    keys, found, claims = _cached_embeddings(job, (r1, r2), regime, len(cores))
    stats["embedding_lookup"] = time.perf_counter() - t0  # hashing, and waiting for another job's encoding
    try:
        yield from _scored(job, r1, r2, cores, grid, regime, stride, workers, stats, keys, found)
    finally:  # once the embeddings are saved, or when the job stops early
        for held in claims:
            held.release()


def _scored(job: ChangeJob, r1: AlignedReader, r2: AlignedReader, cores: list[Window], grid: Grid, regime: Regime,
            stride: int, workers: int, stats: dict, keys: list, found: list) -> Iterator[tuple]:
    """`scored_batches` once the cached embeddings are known: reads, scores, and stores the fresh ones."""
    size = batch_size(regime.batch)
    fresh: list[list] = [[], []]
    stats["cached_dates"] = sum(f is not None for f in found)
    stats["cacheable"] = job.method != "cva" and all(k is not None for k in keys)

    def work(start: int, raw1: np.ndarray, raw2: np.ndarray) -> dict:
        emb = tuple(None if f is None else torch.from_numpy(f[start : start + len(raw1)]) for f in found)
        return score_batch(job, raw1, raw2, embeddings=emb, stride=stride)

    def finish(item: tuple) -> tuple:
        batch, raw1, raw2, future = item
        out = future.result()
        for k in (0, 1):
            if found[k] is None and keys[k] is not None:
                fresh[k].append(np.asarray(out["embeddings"][k], np.float32))
        for name, seconds in out.get("seconds", {}).items():
            stats[name] = stats.get(name, 0.0) + seconds
        for name in ("head_pixels", "head_pixels_full"):
            stats[name] = stats.get(name, 0) + out.get(name, 0)
        return batch, out["score"], raw1, raw2

    pending: deque = deque()
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="change-score") as pool:
        for start in range(0, len(cores), size):
            batch = cores[start : start + size]
            t0 = time.perf_counter()
            raw1 = np.stack([read_padded(r1, w, grid, regime) for w in batch])
            raw2 = np.stack([read_padded(r2, w, grid, regime) for w in batch])
            stats["read"] = stats.get("read", 0.0) + time.perf_counter() - t0
            if workers == 0:
                done: Future = Future()
                done.set_result(work(start, raw1, raw2))
            else:
                done = pool.submit(work, start, raw1, raw2)
            pending.append((batch, raw1, raw2, done))
            if len(pending) > workers:  # a bounded number of batches in flight: memory stays per batch
                yield finish(pending.popleft())
        while pending:
            yield finish(pending.popleft())
    for k in (0, 1):
        if fresh[k] and sum(len(e) for e in fresh[k]) == len(cores):
            cache.save(keys[k], np.concatenate(fresh[k]))
