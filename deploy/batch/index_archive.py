"""Archive-scale chip indexing on Dask: the chips, encoder, scene classes and descriptions of `sentinelle index`,
computed by parallel workers; the driver alone writes to chroma.

Why this shape: embedding is the cost (CPU or GPU per chip) and parallelises per scene window; chroma writes are
cheap but must not race (an embedded `PersistentClient` is one process's SQLite), so workers return vectors and the
driver upserts them as tasks finish. Each task is a slice of one scene's chip ids; ids already in the index are
skipped before any pixel is read, so a re-run after a crash resumes. The per-chip work is the search indexer's own
code (`tools.search.chips.iter_scene_chips`, `tools.search.indexer.store_batch` with its encoder, class bank and
descriptions): a chip indexed here is stored exactly as `sentinelle index` stores it.

Run locally (a LocalCluster of worker processes) or on any Dask cluster (`--scheduler tcp://host:8786`), e.g.
    python -m deploy.batch.index_archive --catalog /data/catalog --workers 4 --chroma-url http://chroma:8000
    python -m deploy.batch.index_archive --cogs /archive/naip --scheduler tcp://dask-scheduler:8786
Workers must see the scene files at the same paths (shared file system) and have this project installed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from assistant.events import ProgressCallback, no_progress

TASK_CHIPS = 128  # chips per task: big enough to amortise a scene read, small enough to balance workers
RASTER_SUFFIXES = {".tif", ".tiff"}


@dataclass
class Task:
    """One unit of work: some chips of one scene. The item travels as a dict with absolute asset paths."""

    item: dict[str, Any]
    chip_ids: list[str]


@dataclass
class Embedded:
    """What a worker sends back: exactly the arguments of `ChipIndex.add`."""

    ids: list[str]
    img: np.ndarray
    txt: np.ndarray
    metadatas: list[dict[str, Any]]
    documents: list[str]


# --- scenes ------------------------------------------------------------------------------------------


def catalog_items(root: Path | None = None) -> list[Any]:
    """Every scene of the STAC catalog (default: the configured catalog)."""
    from tools.catalog import open_catalog

    return list(open_catalog(root).items())


def cog_items(paths: Iterable[Path | str]) -> list[Any]:
    """Light STAC Items for GeoTIFF/COG files not ingested in the catalog (folders are searched recursively).

    Only what indexing needs, read from the file headers (never the pixels): footprint, gsd, band common names,
    and a date when the file name carries one; the file itself is the `data` asset, nothing is copied.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in RASTER_SUFFIXES)
        elif path.suffix.lower() in RASTER_SUFFIXES:
            files.append(path)
    if not files:
        from assistant.errors import BadInputError

        raise BadInputError("no GeoTIFF/COG files found in the given paths")
    common = _common_parent(files)
    return [_cog_item(f, common) for f in files]


def _common_parent(files: Sequence[Path]) -> Path:
    parents = [f.resolve().parent for f in files]
    base = parents[0]
    while not all(p == base or base in p.parents for p in parents):
        base = base.parent
    return base


def _cog_item(path: Path, base: Path) -> Any:
    import pystac

    from tools.rasters.dates import date_from_name
    from tools.rasters.footprint import bbox_4326, dataset_is_georeferenced
    from tools.rasters.open import open_raster
    from tools.render import _bands_of_dataset

    path = path.resolve()
    rel = path.relative_to(base).with_suffix("").as_posix()
    item_id = re.sub(r"[^a-z0-9_-]+", "-", rel.lower()).strip("-_") or "scene"
    with open_raster(path) as ds:
        georef = dataset_is_georeferenced(ds)
        props: dict[str, Any] = {
            "platform": "unknown", "eo:bands": _bands_of_dataset(ds), "sentinelle:georeferenced": georef,
            "sentinelle:sources": [str(path)],
        }
        bbox = geometry = None
        if georef:
            bbox = bbox_4326(ds.crs, ds.transform, ds.width, ds.height, ndigits=7)
            w, s, e, n = bbox
            geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
            if ds.crs.is_projected:
                props["gsd"] = round(abs(ds.transform.a), 3)
    date = date_from_name(path.name)
    when = None
    if date is None:  # STAC needs a time: an open interval says 'unknown', as the catalog does
        props.update(start_datetime="1970-01-01T00:00:00Z", end_datetime="2100-01-01T00:00:00Z")
    elif date.exact:
        when = date.start
    else:
        when = date.middle
        props.update(start_datetime=date.start.isoformat(), end_datetime=date.end.isoformat())
    item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox, datetime=when, properties=props)
    item.add_asset("data", pystac.Asset(href=str(path), roles=["data"]))
    return item


def portable(item: Any) -> dict[str, Any]:
    """The item as a dict whose `data` asset is an absolute path (workers have no catalog to resolve it against)."""
    from tools.catalog import asset_path

    data = item.to_dict(include_self_link=False, transform_hrefs=False)
    data["assets"] = {"data": {**data["assets"]["data"], "href": str(asset_path(item))}}
    return data


# --- planning (driver) and embedding (workers) --------------------------------------------------------


def _scene_chip_ids(item: Any, chip: str | int, stride: str | int | None) -> list[str]:
    """Ids of every chip of a scene, from the raster header only (same windows as the indexer)."""
    from tools.catalog import asset_path
    from tools.rasters.open import open_raster
    from tools.search.chips import chip_id, chip_windows, parse_chip_size, scene_gsd

    with open_raster(asset_path(item)) as src:
        gsd = scene_gsd(item, src)
        px = parse_chip_size(chip, gsd)
        step = parse_chip_size(stride, gsd) if stride else px
        return [chip_id(item.id, w) for w in chip_windows(src.width, src.height, px, step)]


def plan(items: Sequence[Any], chip: str | int, stride: str | int | None, have: set[str],
         per_task: int = TASK_CHIPS) -> tuple[list[Task], int, int]:
    """Tasks of at most `per_task` new chips each; returns (tasks, chips to add, chips already indexed)."""
    tasks: list[Task] = []
    todo_total = skipped = 0
    for item in items:
        ids = _scene_chip_ids(item, chip, stride)
        todo = [i for i in ids if i not in have]
        skipped += len(ids) - len(todo)
        todo_total += len(todo)
        if todo:
            data = portable(item)
            tasks += [Task(data, todo[s : s + per_task]) for s in range(0, len(todo), per_task)]
    return tasks, todo_total, skipped


class _Collector:
    """Stands in for `ChipIndex` in the indexer's `store_batch`: keeps what it would have written."""

    def __init__(self) -> None:
        self.parts: list[tuple] = []

    def add(self, ids, img, txt, metadatas, documents) -> None:  # noqa: ANN001 - ChipIndex.add's signature
        self.parts.append((list(ids), np.asarray(img, np.float32), np.asarray(txt, np.float32), list(metadatas),
                           list(documents)))

    def result(self) -> Embedded:
        if not self.parts:
            return Embedded([], np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32), [], [])
        ids, img, txt, metas, docs = zip(*self.parts, strict=True)
        return Embedded(sum(ids, []), np.concatenate(img), np.concatenate(txt), sum(metas, []), sum(docs, []))


def embed_task(task: Task, chip: str | int, stride: str | int | None, encoder_name: str, bank: Any) -> Embedded:
    """Runs on a worker: cut this task's chips, then embed, classify and describe them with the indexer's code."""
    import pystac
    import torch

    from tools.search.chips import batched, iter_scene_chips
    from tools.search.encoders import get_encoder
    from tools.search.indexer import BATCH, store_batch

    torch.set_num_threads(1)  # one thread per worker task: parallelism comes from the workers
    item = pystac.Item.from_dict(task.item)
    wanted = set(task.chip_ids)
    others = {cid for cid in _scene_chip_ids(item, chip, stride) if cid not in wanted}
    encoder = get_encoder(encoder_name)
    out = _Collector()
    chips = iter_scene_chips(item, chip, stride, with_bands=encoder.needs_bands, skip=others)
    for group in batched(chips, BATCH):
        store_batch(out, encoder, group, {item.id: item}, bank)
    return out.result()


# --- the run -------------------------------------------------------------------------------------------


def _client(scheduler: str | None, workers: int):  # noqa: ANN202 - distributed.Client
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=40)
    return Client(cluster), cluster


def index_archive(
    items: Sequence[Any], *, chip: str | int = 256, stride: str | int | None = None, encoder: str | None = None,
    chroma_path: Path | None = None, chroma_url: str | None = None, scheduler: str | None = None, workers: int = 2,
    per_task: int = TASK_CHIPS, bank: Any = True, progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Embed every not-yet-indexed chip of `items` on Dask workers and upsert them into the chip index.

    The index is the configured one (`SENTINELLE_CHROMA_URL` or `SENTINELLE_CHROMA_PATH`) unless `chroma_path` or
    `chroma_url` is given. `bank=True` uses the indexer's default exemplar bank for scene classes.
    """
    from distributed import as_completed

    from tools.search.encoders import DEFAULT_ENCODER, get_encoder
    from tools.search.index import ChipIndex
    from tools.search.indexer import default_bank

    encoder = encoder or DEFAULT_ENCODER
    t0 = time.perf_counter()
    index = ChipIndex(root=chroma_path, url=chroma_url, encoder=encoder)
    have = index.all_ids()
    tasks, todo, skipped = plan(items, chip, stride, have, per_task)
    bank = default_bank(encoder) if bank is True else (bank or None)
    stats: dict[str, Any] = {"scenes": len(items), "tasks": len(tasks), "chips_added": 0, "chips_skipped": skipped,
                             "workers": None, "seconds": 0.0}
    if tasks:
        get_encoder(encoder)  # fits and caches the scene probe once; local workers load it instead of each refitting it
        client, cluster = _client(scheduler, workers)
        try:
            stats["workers"] = len(client.scheduler_info()["workers"])
            bank_ref = client.scatter(bank, broadcast=True) if bank is not None else None
            futures = client.map(embed_task, tasks, chip=chip, stride=stride, encoder_name=encoder, bank=bank_ref,
                                 pure=False)
            for future, result in as_completed(futures, with_results=True):
                index.add(result.ids, result.img, result.txt, result.metadatas, result.documents)
                stats["chips_added"] += len(result.ids)
                progress(stats["chips_added"] / max(todo, 1), f"{stats['chips_added']}/{todo} chips indexed")
                future.release()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    stats["chips_per_s"] = round(stats["chips_added"] / stats["seconds"], 2) if stats["chips_added"] else None
    stats["index_count"] = index.count()
    return stats


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    from assistant.errors import SentinelleError

    parser = argparse.ArgumentParser(prog="python -m deploy.batch.index_archive", description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--catalog", type=Path, help="STAC catalog folder (default: the configured catalog)")
    source.add_argument("--cogs", type=Path, nargs="+", help="GeoTIFF/COG files or folders not in the catalog")
    parser.add_argument("--chip", default="256", help="chip size in pixels (256) or metres (2560m)")
    parser.add_argument("--stride", default=None, help="step between chips (default: the chip size)")
    parser.add_argument("--encoder", default=None, help="encoder name (default: the indexer's)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler address; default a local cluster")
    parser.add_argument("--workers", type=int, default=2, help="local worker processes (without --scheduler)")
    parser.add_argument("--task-chips", type=int, default=TASK_CHIPS, help="chips per task")
    parser.add_argument("--chroma-url", default=None, help="chroma server (default: settings)")
    parser.add_argument("--chroma-path", type=Path, default=None, help="embedded chroma folder (default: settings)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    args = parser.parse_args(argv)
    try:
        items = cog_items(args.cogs) if args.cogs else catalog_items(args.catalog)
        stats = index_archive(items, chip=args.chip, stride=args.stride, encoder=args.encoder,
                              chroma_path=args.chroma_path, chroma_url=args.chroma_url, scheduler=args.scheduler,
                              workers=args.workers, per_task=args.task_chips)
    except SentinelleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(stats) if args.json else "  ".join(f"{k}={v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
