"""Precision@k of scene search on a labelled folder (`labels.csv`), honestly: classes in the chip descriptions are
predicted leave-one-out (each image classified by k-NN over the *other* images), never read from the labels.

Text queries are the class names in English and in French (one query per class, the classes' own chips are the
relevant results); image queries are every image against all others (leave-one-out).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from assistant.events import ProgressCallback, no_progress
from tools.search.describe import class_phrase, french_name
from tools.search.encoders import DEFAULT_ENCODER
from tools.search.index import ChipIndex
from tools.search.indexer import index_labelled
from tools.search.query import search_chips

KS = (5, 10)


def _precision(labels: list[str], want: str) -> dict[str, float]:
    return {f"p@{k}": float(np.mean([lab == want for lab in labels[:k]])) if len(labels) >= k else 0.0 for k in KS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(float(np.mean([r[key] for r in rows])), 3) for key in rows[0]}


def evaluate_folder(
    folder: Path, encoder: str = DEFAULT_ENCODER, index_root: Path | None = None,
    progress: ProgressCallback = no_progress, show_bar: bool = False,
) -> dict[str, Any]:
    """Index `folder` in a temporary chroma (unless `index_root`), then score text (EN, FR) and image queries."""
    with tempfile.TemporaryDirectory(prefix="sentinelle-eval-") as tmp:
        index = ChipIndex(root=index_root or Path(tmp), encoder=encoder)
        stats = index_labelled(index, folder, leave_one_out=True, progress=progress, show_bar=show_bar)
        table = index.table("img")
        labels = [m.get("label") for m in table.metadatas]
        classes = sorted({lab for lab in labels if lab})
        predicted = [m.get("class") for m in table.metadatas]
        out: dict[str, Any] = {
            "folder": str(folder), "images": len(labels), "classes": len(classes), "encoder": encoder,
            "index": stats, "knn_accuracy_loo": round(float(np.mean([p == t for p, t in zip(predicted, labels,
                                                                                           strict=True)])), 3),
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
        out["image_query_ms"] = round((time.perf_counter() - t0) * 1000 / len(rows), 2)
        out["image"] = _mean(rows)
        out["image_bank_projected"] = _projected_image_scores(table.vectors, labels, encoder)
        out["per_class"] = per_class
        progress(1.0, "evaluation done")
        return out


def _projected_image_scores(vectors: np.ndarray, labels: list[str], encoder: str, folds: int = 5,
                            weight: float = 2.0) -> dict[str, Any]:
    """Image P@k with the bank-projected encoder (`efficientnet-lite0+aid`), k-fold so no query's label is used.

    For each fold the projection is fitted on the default exemplar bank (minus any image that is also in this
    folder) plus the folder's *other* folds; that fold's images then query all images of the folder. Scores use
    the same formula as the projected encoder's cosine (raw + weight * projected), computed in numpy.
    """
    from tools.search.describe import ClassBank
    from tools.search.encoders import BankProjectedEncoder, get_encoder
    from tools.search.indexer import default_bank

    labels_a = np.array(labels)
    extra = default_bank(encoder) if encoder == DEFAULT_ENCODER else None
    if extra is not None:  # drop bank images that are (near-)identical to images of this folder
        dup = (extra.features @ vectors.T).max(axis=1) > 0.995
        extra = ClassBank(extra.features[~dup], [lab for lab, d in zip(extra.labels, dup, strict=True) if not d])
    fold = np.zeros(len(labels), dtype=int)
    for cls in np.unique(labels_a):  # stratified folds, deterministic
        rows = np.flatnonzero(labels_a == cls)
        fold[rows] = np.arange(len(rows)) % folds
    scores = []
    for f in range(folds):
        train = fold != f
        feats, labs = vectors[train], list(labels_a[train])
        if extra is not None and len(extra.labels):
            feats, labs = np.concatenate([feats, extra.features]), labs + extra.labels
        enc = BankProjectedEncoder(get_encoder(encoder), ClassBank(feats, labs).projection(), weight)
        projected = enc.from_features(vectors)
        sims = projected @ projected[fold == f].T
        for col, q in enumerate(np.flatnonzero(fold == f)):
            s = sims[:, col].copy()
            s[q] = -np.inf
            top = np.argsort(-s)[: max(KS)]
            scores.append(_precision(list(labels_a[top]), labels[q]))
    out: dict[str, Any] = _mean(scores)
    out["bank_extra_images"] = len(extra.labels) if extra is not None else 0
    out["folds"] = folds
    return out


def _untranslated_fr(index: ChipIndex, classes: list[str]) -> dict[str, float]:
    """Ablation: French class names sent to the English sentence model as typed (no FR->EN vocabulary)."""
    from tools.text_embed import embed_texts

    vectors = embed_texts([f"aerial image of {french_name(cls)}" for cls in classes])
    rows = []
    for cls, vector in zip(classes, vectors, strict=True):
        hits = index.query(vector, max(KS), kind="txt")
        rows.append(_precision([h.metadata.get("label") for h in hits], cls))
    return _mean(rows)
