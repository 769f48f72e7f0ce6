"""Galileo embeddings of the catalog's scene pairs, computed ahead of any question.

Encoding both dates with Galileo is most of a first change question on a city-sized Sentinel-2 pair (about 20
CPU-seconds of 30). The embeddings are cached by content (`tools.change.embeddings`), keyed on the dates' pixels
aligned on the job's grid, the band scaling and the tile layout, so they are computed here through the very
job a question runs (`prepare` + `scored_batches`): the keys match by construction, and a question on a warmed
pair only reads them. Pairs come in the order a question would pick them (`pair_order`); scenes too large to be
held whole are not cached by the pipeline, so they are skipped here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tools.core.results import ProgressCallback, no_progress

log = logging.getLogger(__name__)


@dataclass
class Warmed:
    """What one warm-up did: pairs visited, dates encoded (the others were cached already), pairs skipped."""

    pairs: int = 0
    encoded_dates: int = 0
    skipped: int = 0
    seconds: float = 0.0


def pair_order(items: Iterable) -> list[tuple]:
    """Every (before, after) pair of catalog items a change question may compare (same sensor, overlapping,
    before dated earlier): Sentinel-2 first, then the longest time spans (what a question without dates picks)."""
    from tools.change.tool import _date, _overlaps, _sensor

    by_sensor: dict[str, list] = {}
    for it in items:
        if _date(it) is not None and it.properties.get("sentinelle:georeferenced", True):
            by_sensor.setdefault(_sensor(it), []).append(it)
    ranked = []
    for sensor, group in by_sensor.items():
        group.sort(key=lambda it: (_date(it), it.id))
        for i, b in enumerate(group):
            for a in group[i + 1:]:
                if _date(a) > _date(b) and _overlaps(a, b):
                    ranked.append(((sensor != "sentinel-2", -(_date(a) - _date(b)).days, b.id, a.id), b, a))
    ranked.sort(key=lambda r: r[0])
    return [(b, a) for _, b, a in ranked]


def cacheable(source) -> bool:
    """The pipeline caches the embeddings of scenes it holds whole in memory only (`AlignedReader.whole`)."""
    from tools.change.sources import WHOLE_SCENE_MAX_VALUES

    return len(source.bands) * source.grid.width * source.grid.height <= WHOLE_SCENE_MAX_VALUES


def warm_pair(before, after, encoder_size: str = "nano", workers: int = 1) -> int | None:
    """Computes and caches the Galileo embeddings of both dates of one pair as a change question on it would;
    the number of dates encoded (0: both were cached), None when the pair cannot be cached (too large, no
    Galileo bands)."""
    from tools.change.job import prepare, tile_windows
    from tools.change.scoring import scored_batches
    from tools.change.sources import AlignedReader

    if not (cacheable(before) and cacheable(after)):
        return None
    job = prepare(before, after, method="zeroshot", encoder_size=encoder_size)
    cores = tile_windows(job.grid, job.regime)
    timings: dict = {}
    with AlignedReader(job.before, job.grid) as r1, AlignedReader(job.after, job.grid) as r2:
        if r1.whole is None or r2.whole is None:
            return None
        for _ in scored_batches(job, r1, r2, cores, job.grid, job.regime, workers=workers, timings=timings):
            pass  # the scores are not needed: scored_batches stores the embeddings once every tile is done
    if not timings.get("cacheable"):
        return None
    return 2 - int(timings.get("cached_dates", 0))


def warm_catalog(items: Iterable | None = None, max_pairs: int | None = None, encoder_size: str = "nano",
                 workers: int = 1, progress: ProgressCallback = no_progress,
                 should_stop: Callable[[], bool] = lambda: False) -> Warmed:
    """Warms the Galileo cache for the catalog's pairs (all items by default), in `pair_order`, at most
    `max_pairs` of them; a pair that fails is logged and skipped (a warm-up never stops the server)."""
    from tools.change.sources import open_scene
    from tools.core.errors import SentinelleError

    if items is None:
        from tools.catalog import open_catalog

        items = open_catalog().items()
    pairs = pair_order(items)[:max_pairs]
    done = Warmed()
    t0 = time.perf_counter()
    sources: dict = {}
    for k, (b, a) in enumerate(pairs):
        if should_stop():
            break
        progress(k / max(1, len(pairs)), f"Galileo embeddings of {b.id} and {a.id}")
        try:
            for it in (b, a):
                if it.id not in sources:
                    if len(sources) >= 4:  # each holds its whole-scene read: a few scenes in memory at most
                        for other in [key for key in sources if key not in (b.id, a.id)]:
                            del sources[other]  # never the pair's other date, opened a moment ago
                    sources[it.id] = open_scene(it.id)
            encoded = warm_pair(sources[b.id], sources[a.id], encoder_size, workers)
        except (SentinelleError, OSError, ValueError) as exc:
            log.warning("no Galileo warm-up for %s -> %s: %s", b.id, a.id, exc)
            encoded = None
        done.pairs += 1
        if encoded is None:
            done.skipped += 1
        else:
            done.encoded_dates += encoded
    done.seconds = time.perf_counter() - t0
    progress(1.0, f"{done.encoded_dates} date(s) encoded over {done.pairs} pair(s)")
    return done
