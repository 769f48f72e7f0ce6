"""Precision@k of scene search on a labelled folder (`labels.csv`), honestly: nothing that ranks or describes a chip
was learned from that chip's label. With a plain encoder, scene classes in the descriptions are predicted
leave-one-out (k-NN over the *other* images). With the default `efficientnet-lite0-scenes` encoder, whose probe is
trained on labelled scenes, every vector is made out-of-fold (`out_of_fold_vectors`): the probe is refit per fold,
and the descriptions' classes are that out-of-fold probe's.

Text queries are the class names in English and in French (one query per class, the classes' own chips are the
relevant results); image queries are every image against all others (leave-one-out).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.results import ProgressCallback, no_progress
from tools.search.describe import class_phrase, french_name
from tools.search.encoders import DEFAULT_ENCODER, SCENES_ENCODER
from tools.search.index import ChipIndex
from tools.search.indexer import index_labelled, index_out_of_fold, progress_bar
from tools.search.query import search_chips

KS = (5, 10)
FOLDS = 5


def _precision(labels: list[str], want: str) -> dict[str, float]:
    return {f"p@{k}": float(np.mean([lab == want for lab in labels[:k]])) if len(labels) >= k else 0.0 for k in KS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(float(np.mean([r[key] for r in rows])), 3) for key in rows[0]}


def evaluate_folder(
    folder: Path,
    encoder: str = DEFAULT_ENCODER,
    index_root: Path | None = None,
    progress: ProgressCallback = no_progress,
    show_bar: bool = False,
) -> dict[str, Any]:
    """Index `folder` in a temporary chroma (unless `index_root`), then score text (EN, FR) and image queries."""
    with tempfile.TemporaryDirectory(prefix="sentinelle-eval-") as tmp:
        index = ChipIndex(root=index_root or Path(tmp), encoder=encoder)
        held_out = None  # the default encoder's out-of-fold vectors, for the ablation
        if encoder == SCENES_ENCODER:
            stats, held_out = index_out_of_fold(index, folder, progress=progress, show_bar=show_bar)
        else:
            stats = index_labelled(index, folder, leave_one_out=True, progress=progress, show_bar=show_bar)
        table = index.table("img")
        labels = [m.get("label") for m in table.metadatas]
        classes = sorted({lab for lab in labels if lab})
        predicted = [m.get("class") for m in table.metadatas]
        out: dict[str, Any] = {
            "folder": str(folder),
            "images": len(labels),
            "classes": len(classes),
            "encoder": encoder,
            "index": stats,
            "knn_accuracy_loo": round(float(np.mean([p == t for p, t in zip(predicted, labels, strict=True)])), 3),
            "protocol": stats.get("protocol", "leave-one-out: nothing learned from the labels"),
        }
        per_class: dict[str, dict[str, Any]] = {}
        t0 = time.perf_counter()
        for lang, name_of in (("text_en", class_phrase), ("text_fr", french_name)):
            rows = []
            for cls in classes:
                hits, _ = search_chips(query=name_of(cls), k=max(KS), index=index)
                score = _precision([h.metadata.get("label") for h in hits], cls)
                rows.append(score)
                per_class.setdefault(cls, {})[lang] = {"query": name_of(cls), **score}
            out[lang] = _mean(rows)
        out["text_query_ms"] = round((time.perf_counter() - t0) * 1000 / (2 * len(classes)), 2)
        out["text_fr_untranslated"] = _untranslated_fr(index, classes)
        rows = []
        t0 = time.perf_counter()
        for i, cid in enumerate(table.ids):
            hits = index.query(table.vectors[i], max(KS), kind="img", exclude_ids={str(cid)})
            rows.append(_precision([h.metadata.get("label") for h in hits], labels[i]))
            per_class.setdefault(labels[i], {}).setdefault("image_rows", []).append(rows[-1])
        out["image_query_ms"] = round((time.perf_counter() - t0) * 1000 / len(rows), 2)
        out["image"] = _mean(rows)
        for scores in per_class.values():
            if "image_rows" in scores:
                scores["image"] = _mean(scores.pop("image_rows"))
        if held_out is not None:  # ablation: the same images without the learned part
            out["image_base_only"] = _loo_scores(held_out.base_features, labels_in_order=held_out.labels)
        out["per_class"] = per_class
        progress(1.0, "evaluation done")
        return out


def _loo_scores(vectors: np.ndarray, labels_in_order: list[str]) -> dict[str, float]:
    """Leave-one-out P@k of plain cosine on `vectors` (numpy, for ablations)."""
    labs = np.asarray(labels_in_order)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, : max(KS)]
    return _mean([_precision(list(labs[row]), labs[i]) for i, row in enumerate(top)])


def stratified_folds(labels: list[str], folds: int = FOLDS) -> np.ndarray:
    """Fold number of each image: every class spread evenly over the folds, deterministic."""
    labs = np.asarray(labels)
    fold = np.zeros(len(labs), dtype=int)
    for cls in np.unique(labs):
        rows = np.flatnonzero(labs == cls)
        fold[rows] = np.arange(len(rows)) % folds
    return fold


@dataclass(frozen=True)
class OutOfFold:
    """Out-of-fold `efficientnet-lite0-scenes` vectors of labelled chips, in the chips' order."""

    vectors: np.ndarray  # (N, D) what the index stores
    classes: list[list[tuple[str, float]]]  # scene classes decoded from the out-of-fold probabilities
    base_features: np.ndarray  # (N, 1984) single-view descriptors: the ablation without the probe
    labels: list[str]
    protocol: str


def out_of_fold_vectors(chips: list[Any], folds: int = FOLDS, progress: ProgressCallback = no_progress,
                        show_bar: bool = False) -> OutOfFold:  # fmt: skip
    """`efficientnet-lite0-scenes` vectors of labelled chips, each made by a probe that never saw that chip.

    The probe (the reader's recipe: logistic regression on the 4 flipped views) is refit for each of `folds`
    stratified folds on the other folds plus the default exemplar bank minus any image of this folder (same file
    content); the fold's own chips are then embedded with it. So no vector in the index, query or result, comes
    from a model trained on its own label, and the ranking never reads a label. Returns vectors, their scene
    classes (decoded from the out-of-fold probabilities), the base descriptors (ablation) and the protocol.
    """
    from tools.reader.bank import embed_training, file_hash
    from tools.search.encoders import ProbeClasses, SceneProbeEncoder, join_probe

    labels = [c.meta["label"] for c in chips]
    views = []
    bar = progress_bar(len(chips), "embedding (4 views, for the probe)", show_bar, unit="img")
    for start in range(0, len(chips), 16):
        group = chips[start : start + 16]
        views.append(embed_training([c.rgb for c in group])[1])
        bar.update(len(group))
        progress(0.7 * (start + len(group)) / len(chips), "embedding images")
    bar.close()
    view_feats = np.concatenate(views)
    base = np.ascontiguousarray(view_feats[:, 0])  # view 0 is the whole image: the encoder's single-view input
    extra_feats, extra_views, extra_labels = _bank_extra({file_hash(Path(c.meta["source"])) for c in chips})
    classes = sorted(set(labels) | set(extra_labels))
    fold = stratified_folds(labels, folds)
    probs = np.zeros((len(chips), len(classes)), dtype=np.float32)
    for f in range(folds):
        train, test = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
        if not len(test):
            continue
        enc = SceneProbeEncoder.fit(np.concatenate([base[train], extra_feats]),
                                    [labels[i] for i in train] + extra_labels,
                                    np.concatenate([view_feats[train], extra_views]))  # fmt: skip
        cols = [classes.index(c) for c in enc.classifier.classes]
        probs[np.ix_(test, cols)] = enc.classifier.predict(base[test])
        progress(0.7 + 0.1 * (f + 1) / folds, f"probe fold {f + 1}/{folds}")
    vectors = join_probe(base, probs)
    return OutOfFold(
        vectors=vectors,
        classes=ProbeClasses(classes).predict(vectors),
        base_features=base,
        labels=labels,
        protocol=f"{folds}-fold: probe refit per fold on the other folds + "
        f"{len(extra_labels)} bank images not in this folder; every vector out-of-fold",
    )


def _bank_extra(exclude_hashes: set[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The default exemplar bank (the reader's) minus images whose content is in the evaluated folder."""
    from tools.features import LEVELS_DIM

    empty = np.zeros((0, LEVELS_DIM), np.float32), np.zeros((0, 4, LEVELS_DIM), np.float32), []
    try:
        from tools.reader.bank import get_classifier

        clf = get_classifier()
    except Exception:  # noqa: BLE001 - no bank: the folder's own training folds only
        return empty
    if not clf.hashes or clf.features.shape[1] != LEVELS_DIM:
        return empty  # cannot tell which bank images are in the folder: leave the bank out
    keep = np.array([h not in exclude_hashes for h in clf.hashes])
    feats = clf.features[keep]
    views = clf.view_features[keep] if clf.view_features is not None else np.repeat(feats[:, None], 4, axis=1)
    return feats, views, [str(lab) for lab in clf.labels[keep]]


def _untranslated_fr(index: ChipIndex, classes: list[str]) -> dict[str, float]:
    """Ablation: French class names sent to the English sentence model as typed (no FR->EN vocabulary)."""
    from tools.text_embed import embed_texts

    vectors = embed_texts([f"aerial image of {french_name(cls)}" for cls in classes])
    rows = []
    for cls, vector in zip(classes, vectors, strict=True):
        hits = index.query(vector, max(KS), kind="txt")
        rows.append(_precision([h.metadata.get("label") for h in hits], cls))
    return _mean(rows)
