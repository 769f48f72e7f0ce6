"""Out-of-fold scene vectors of a labelled folder: each image embedded by a probe that never saw its label.

Shared by the indexer (an evaluation index is filled with these vectors) and the evaluation (its ablation scores
their base descriptors), so it sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.results import ProgressCallback, no_progress

FOLDS = 5


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


def out_of_fold_vectors(chips: list[Any], folds: int = FOLDS, progress: ProgressCallback = no_progress) -> OutOfFold:
    """`efficientnet-lite0-scenes` vectors of labelled chips, each made by a probe that never saw that chip.

    The probe (the reader's recipe: logistic regression on the 4 flipped views and 5 crops) is refit for each of `folds`
    stratified folds on the other folds plus the default exemplar bank minus any image of this folder (same file
    content); the fold's own chips are then embedded with it. So no vector in the index, query or result, comes
    from a model trained on its own label, and the ranking never reads a label. Returns vectors, their scene
    classes (decoded from the out-of-fold probabilities), the base descriptors (ablation) and the protocol.
    """
    from tools.reader.bank import embed_training, file_hash
    from tools.search.encoders import ProbeClasses, SceneProbeEncoder, join_probe

    labels = [c.meta["label"] for c in chips]
    views = []
    for start in range(0, len(chips), 16):
        group = chips[start : start + 16]
        views.append(embed_training([c.rgb for c in group])[1])
        progress(0.7 * (start + len(group)) / len(chips), "embedding images")
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
    from tools.image_features import LEVELS_DIM, TRAIN_VIEWS

    empty = np.zeros((0, LEVELS_DIM), np.float32), np.zeros((0, TRAIN_VIEWS, LEVELS_DIM), np.float32), []
    try:
        from tools.reader.bank import get_classifier

        clf = get_classifier()
    except Exception:  # noqa: BLE001 - no bank: the folder's own training folds only
        return empty
    if not clf.hashes or clf.features.shape[1] != LEVELS_DIM:
        return empty  # cannot tell which bank images are in the folder: leave the bank out
    keep = np.array([h not in exclude_hashes for h in clf.hashes])
    feats = clf.features[keep]
    views = clf.view_features
    if views is None or views.shape[1] != TRAIN_VIEWS:  # a bank without per-view samples: its descriptors stand in
        return feats, np.repeat(feats[:, None], TRAIN_VIEWS, axis=1), [str(lab) for lab in clf.labels[keep]]
    views = views[keep]
    return feats, views, [str(lab) for lab in clf.labels[keep]]
