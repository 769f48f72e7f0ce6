"""Filling the chip index: catalog scenes and labelled image folders -> chips -> vectors + descriptions -> chroma.

Incremental and resumable: chip ids are the scene id plus the window, ids already stored are skipped before any
pixel is read, and every batch is written as soon as it is embedded, so an interrupted run picks up where it
stopped. Scene classes come from the default encoder's own scene-type probe (`SceneProbeEncoder`); with other
encoders, from k-NN over an exemplar bank (the reader's when it offers one, else the AID sample scenes embedded once
and cached under the data dir).
"""

from __future__ import annotations

import importlib
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError, NotFoundError
from tools.core.results import ProgressCallback, no_progress
from tools.core.settings import get_settings
from tools.search.chips import (
    Chip,
    batched,
    centroid,
    iter_labelled_chips,
    iter_scene_chips,
    n_chips_estimate,
    parse_chip_size,
    scene_gsd,
)
from tools.search.describe import ClassBank, describe
from tools.search.encoders import DEFAULT_ENCODER, RAW_ENCODER, SCENES_ENCODER, ImageEncoder, ProbeClasses, get_encoder
from tools.search.index import ChipIndex
from tools.search.out_of_fold import OutOfFold, out_of_fold_vectors

BATCH = 32
CHIPS_START = 0.03  # index_catalog: loading the encoder, the scene classes and counting come before the chips


def to_epoch(value: Any) -> int | None:
    """Epoch seconds (UTC) of a datetime or ISO string; None when unknown."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp())


def _reader_bank(encoder: str) -> ClassBank | None:
    """The reader's exemplar bank, when it is already built and its features are the same as ours.

    (The reader's probe uses multi-level TTA descriptors of another size; then our own bank is used.)
    """
    try:
        module = importlib.import_module("tools.reader.bank")
        if not module.bank_path().is_file():
            return None  # never trigger the reader's (slow) bank build from the indexer
        clf = module.get_classifier()
        features, labels = np.asarray(clf.features, np.float32), [str(x) for x in clf.labels]
        from tools.image_features import FEATURE_DIM
    except Exception:  # noqa: BLE001 - absent or different API: fall back to our own bank
        return None
    if encoder != RAW_ENCODER or features.ndim != 2 or features.shape[1] != FEATURE_DIM:
        return None
    return ClassBank(features, labels, encoder)


def default_bank(encoder: str = DEFAULT_ENCODER) -> ClassBank | ProbeClasses | None:
    """Where chips get scene classes: the default encoder's own probe (read back from its vectors); for other
    encoders, k-NN over exemplars: the reader's bank, else the AID sample embedded once (cached in the data dir)."""
    if encoder == SCENES_ENCODER:
        return get_encoder(encoder).decoder  # type: ignore[attr-defined]
    bank = _reader_bank(encoder)
    if bank is not None:
        return bank
    from tools.data import geodata_path

    try:
        folder = geodata_path("aid-scenes")
    except Exception:  # noqa: BLE001 - no sample data: chips get no classes, search still works by image
        return None
    cache = get_settings().data_dir / "search" / f"bank-{encoder.replace(':', '-').replace('/', '-')}.npz"
    if cache.exists():
        data = np.load(cache, allow_pickle=False)
        return ClassBank(data["features"], [str(x) for x in data["labels"]], encoder)
    chips = list(iter_labelled_chips(folder))
    features = get_encoder(encoder).embed([c.rgb for c in chips])
    labels = [c.meta["label"] for c in chips]
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, features=features, labels=np.array(labels))
    return ClassBank(features, labels, encoder)


def chip_metadata(chip: Chip, item: Any | None, classes: list[tuple[str, float]], encoder: str) -> dict[str, Any]:
    """The metadata stored with a chip (flat scalars: chroma's rule)."""
    props = item.properties if item is not None else {}
    r, c, h, w = chip.window
    meta: dict[str, Any] = {
        "scene_id": chip.scene_id,
        "window": f"{r}_{c}_{h}_{w}",
        "encoder": encoder,
        "georeferenced": chip.bbox is not None,
        "platform": (props.get("platform") or "").lower() or None,
        "constellation": (props.get("constellation") or "").lower() or None,
        "place": props.get("sentinelle:place"),
        "cloud_cover": props.get("eo:cloud_cover"),
        "gsd": chip.meta.get("gsd"),
        "source": chip.meta.get("source"),
        "label": chip.meta.get("label"),  # ground truth of labelled folders: evaluation only, never described
    }
    when = item.datetime if item is not None else None
    if when is not None:
        meta["datetime"] = to_epoch(when)
        meta["date"] = when.date().isoformat()
    if chip.bbox is not None:
        meta.update(dict(zip(("west", "south", "east", "north"), chip.bbox, strict=True)))
        meta["lon"], meta["lat"] = centroid(chip.bbox)
    if classes:
        meta["class"], meta["class_score"] = classes[0]
        meta["classes"] = "|".join(f"{c}:{p:.3f}" for c, p in classes)
    meta.update(chip.facts)
    return meta


def store_batch(
    index: ChipIndex,
    encoder: ImageEncoder,
    chips: list[Chip],
    items: dict[str, Any],
    bank: ClassBank | ProbeClasses | None,
    vectors: np.ndarray | None = None,
    classes: list[list[tuple[str, float]]] | None = None,
) -> None:
    """Embed (unless given), classify, describe and write one batch of chips."""
    if vectors is None:
        vectors = encoder.embed([c.bands if encoder.needs_bands else c.rgb for c in chips])
    if classes is None:
        classes = bank.predict(vectors) if bank is not None else [[] for _ in chips]
    write_batch(index, encoder.name, chips, items, vectors, classes)


def write_batch(
    index: ChipIndex,
    encoder_name: str,
    chips: list[Chip],
    items: dict[str, Any],
    vectors: np.ndarray,
    classes: list[list[tuple[str, float]]],
) -> None:
    """Describe and write one batch of chips whose vectors (made by `encoder_name`) and classes are known."""
    from tools.text_embed import embed_texts

    metas, docs = [], []
    for chip, cls in zip(chips, classes, strict=True):
        item = items.get(chip.scene_id)
        meta = chip_metadata(chip, item, cls, encoder_name)
        where = (meta.get("place"), meta.get("date"), meta.get("constellation"))
        meta["description_fr"] = describe(cls, chip.facts, *where, lang="fr")  # for French answers
        metas.append(meta)
        docs.append(describe(cls, chip.facts, *where))
    index.add([c.id for c in chips], vectors, embed_texts(docs), metas, docs)


def index_catalog(
    index: ChipIndex,
    catalog_root: Path | None = None,
    chip: str | int = 256,
    stride: str | int | None = None,
    bank: ClassBank | None | bool = True,
    *,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Index every scene of the STAC catalog; returns counts and timings."""
    from tools.catalog import asset_path, open_catalog
    from tools.rasters.open import open_raster

    items = list(open_catalog(catalog_root).items())
    if not items:
        raise NotFoundError("the catalog is empty: ingest scenes first (`sentinelle catalog ingest`)")
    progress(0.0, f"loading the {index.encoder} image encoder")
    encoder = get_encoder(index.encoder)
    if bank is True:
        progress(0.01, "loading the scene classes")
    bank = default_bank(index.encoder) if bank is True else (bank or None)
    progress(0.02, f"counting the chips of {len(items)} scenes")
    have = index.all_ids()
    total = 0
    for item in items:
        with open_raster(asset_path(item)) as src:
            gsd = scene_gsd(item, src)
            px = parse_chip_size(chip, gsd)
            total += n_chips_estimate(src.width, src.height, px, parse_chip_size(stride, gsd) if stride else px)
    stats = {"scenes": len(items), "chips_total": total, "chips_added": 0, "chips_skipped": 0, "seconds": 0.0}
    t0 = time.perf_counter()
    done = 0

    def chips_progress(message: str) -> None:
        progress(CHIPS_START + (1 - CHIPS_START) * min(done / max(total, 1), 1.0), message)

    for item in items:
        before = stats["chips_added"]
        for group in batched(iter_scene_chips(item, chip, stride, with_bands=encoder.needs_bands, skip=have), BATCH):
            store_batch(index, encoder, group, {item.id: item}, bank)
            stats["chips_added"] += len(group)
            done += len(group)
            chips_progress(f"{item.id}: {done}/{total} chips")
        skipped = sum(1 for cid in have if cid.startswith(item.id + "@"))
        stats["chips_skipped"] += skipped
        done += skipped
        if stats["chips_added"] == before:
            chips_progress(f"{item.id}: already indexed")
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    stats["chips_per_s"] = round(stats["chips_added"] / stats["seconds"], 2) if stats["chips_added"] else None
    return stats


def index_labelled(
    index: ChipIndex,
    folder: Path,
    bank: ClassBank | None | bool = True,
    *,
    leave_one_out: bool = False,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Index a labelled image folder (`labels.csv`); no footprints.

    With `leave_one_out` (evaluation), no chip's vector or description is learned from its own label: with a plain
    encoder the folder itself is the k-NN bank and each image is classified without itself; with the default
    encoder (a probe trained on labelled scenes) vectors and classes are made out-of-fold (`index_out_of_fold`).
    Such an index is for evaluation only.
    """
    if leave_one_out and index.encoder == SCENES_ENCODER:
        return index_out_of_fold(index, folder, progress=progress)[0]
    encoder = get_encoder(index.encoder)
    chips, stats, t0 = _labelled_todo(index, folder)
    if not chips:
        return stats
    parts = []
    for group in batched(iter(chips), BATCH):
        parts.append(encoder.embed([c.rgb for c in group]))
        progress(0.8 * sum(len(v) for v in parts) / len(chips), "embedding images")
    vectors = np.concatenate(parts)
    if leave_one_out:
        bank_ = ClassBank(vectors, [c.meta["label"] for c in chips], index.encoder)
        classes = bank_.predict(vectors, exclude=list(range(len(chips))))
    else:
        bank_ = default_bank(index.encoder) if bank is True else (bank or None)
        classes = bank_.predict(vectors) if bank_ is not None else [[] for _ in chips]
    _write_labelled(index, chips, vectors, classes, stats, t0, progress)
    return stats


def index_out_of_fold(
    index: ChipIndex, folder: Path, *, progress: ProgressCallback = no_progress
) -> tuple[dict[str, Any], OutOfFold | None]:
    """Index a labelled folder with default-encoder vectors and classes made out-of-fold (evaluation only).

    Returns the counts (with the protocol) and the out-of-fold result, whose base descriptors the evaluation's
    ablation scores; None when every image was already indexed. The index must be filled in one run.
    """
    chips, stats, t0 = _labelled_todo(index, folder)
    if not chips:
        return stats, None
    if stats["chips_skipped"]:
        raise BadInputError("an out-of-fold evaluation index must be filled in one run (empty index first)")
    held_out = out_of_fold_vectors(chips, progress=progress)
    stats["protocol"] = held_out.protocol
    _write_labelled(index, chips, held_out.vectors, held_out.classes, stats, t0, progress)
    return stats, held_out


def _labelled_todo(index: ChipIndex, folder: Path) -> tuple[list[Chip], dict[str, Any], float]:
    """The labelled chips not yet in the index, the counts so far (`seconds` 0 when none) and the start time."""
    have = index.all_ids()
    chips = list(iter_labelled_chips(Path(folder), skip=have))
    stats: dict[str, Any] = {"images": len(chips) + len(have), "chips_added": 0, "chips_skipped": len(have)}
    if not chips:
        stats["seconds"] = 0.0
    return chips, stats, time.perf_counter()


def _write_labelled(
    index: ChipIndex,
    chips: list[Chip],
    vectors: np.ndarray,
    classes: list[list[tuple[str, float]]],
    stats: dict[str, Any],
    t0: float,
    progress: ProgressCallback,
) -> None:
    """Write embedded labelled chips in batches; counts and timings (since `t0`) go into `stats`."""
    stats["embed_seconds"] = round(time.perf_counter() - t0, 2)
    for start in range(0, len(chips), BATCH * 4):
        sl = slice(start, start + BATCH * 4)
        write_batch(index, index.encoder, chips[sl], {}, vectors[sl], classes[sl])
        stats["chips_added"] += len(chips[sl])
        progress(0.8 + 0.2 * stats["chips_added"] / len(chips), "writing the index")
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    stats["chips_per_s"] = round(stats["chips_added"] / stats["seconds"], 2)

