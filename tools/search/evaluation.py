"""Precision@k of scene search on a labelled folder (`labels.csv`), honestly: nothing that ranks or describes a chip
was learned from that chip's label. With a plain encoder, scene classes in the descriptions are predicted
leave-one-out (k-NN over the *other* images). With the default `efficientnet-lite0-scenes` encoder, whose probe is
trained on labelled scenes, every vector is made out-of-fold (`out_of_fold_vectors`): the probe is refit per fold,
and the descriptions' classes are that out-of-fold probe's.

Text queries are the class names in English and in French (one query per class, the classes' own chips are the
relevant results), and paraphrases: needs in an analyst's words ("planes parked beside a runway", "cuves de
pétrole"), 4 EN + 4 FR per class from `eval_queries/paraphrases.jsonl`, scored apart for the dev half (looked at
while tuning) and the held-out half (see `eval_queries/README.md`). Image queries are every image against all
others (leave-one-out).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.results import ProgressCallback, no_progress
from tools.search.describe import class_phrase, french_name
from tools.search.encoders import DEFAULT_ENCODER, SCENES_ENCODER
from tools.search.index import ChipIndex
from tools.search.indexer import index_labelled, index_out_of_fold
from tools.search.query import search_chips

KS = (5, 10)
PARAPHRASES = Path(__file__).parent / "eval_queries" / "paraphrases.jsonl"


def load_paraphrases(path: Path = PARAPHRASES) -> list[dict[str, str]]:
    """The paraphrase queries: dicts with `class`, `lang` ('en'/'fr'), `split` ('dev'/'heldout') and `query`."""
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _precision(labels: list[str], want: str) -> dict[str, float]:
    return {f"p@{k}": float(np.mean([lab == want for lab in labels[:k]])) if len(labels) >= k else 0.0 for k in KS}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(float(np.mean([r[key] for r in rows])), 3) for key in rows[0]}


def evaluate_folder(
    folder: Path,
    encoder: str = DEFAULT_ENCODER,
    index_root: Path | None = None,
    progress: ProgressCallback = no_progress,
) -> dict[str, Any]:
    """Index `folder` in a temporary chroma (unless `index_root`), then score text (EN, FR) and image queries."""
    with tempfile.TemporaryDirectory(prefix="sentinelle-eval-") as tmp:
        index = ChipIndex(root=index_root or Path(tmp), encoder=encoder)
        held_out = None  # the default encoder's out-of-fold vectors, for the ablation
        if encoder == SCENES_ENCODER:
            stats, held_out = index_out_of_fold(index, folder, progress=progress)
        else:
            stats = index_labelled(index, folder, leave_one_out=True, progress=progress)
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
        out.update(paraphrase_scores(index, classes, per_class))
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


def paraphrase_scores(
    index: ChipIndex, classes: list[str], per_class: dict[str, dict[str, Any]] | None = None
) -> dict[str, dict[str, float]]:
    """Mean P@k of the paraphrase queries of the folder's classes, per language and split ('para_en_dev', ...)."""
    groups: dict[str, list[dict[str, float]]] = {}
    for row in load_paraphrases():
        if row["class"] not in classes:
            continue
        hits, _ = search_chips(query=row["query"], k=max(KS), index=index)
        score = _precision([h.metadata.get("label") for h in hits], row["class"])
        groups.setdefault(f"para_{row['lang']}_{row['split']}", []).append(score)
        if per_class is not None:
            per_class.setdefault(row["class"], {}).setdefault("paraphrases", []).append(
                {"query": row["query"], "split": row["split"], **score}
            )
    return {key: _mean(rows) for key, rows in sorted(groups.items())}


def _loo_scores(vectors: np.ndarray, labels_in_order: list[str]) -> dict[str, float]:
    """Leave-one-out P@k of plain cosine on `vectors` (numpy, for ablations)."""
    labs = np.asarray(labels_in_order)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argsort(-sims, axis=1)[:, : max(KS)]
    return _mean([_precision(list(labs[row]), labs[i]) for i, row in enumerate(top)])


def _untranslated_fr(index: ChipIndex, classes: list[str]) -> dict[str, float]:
    """Ablation: French class names sent to the English sentence model as typed (no FR->EN vocabulary)."""
    from tools.text_embed import embed_texts

    vectors = embed_texts([f"aerial image of {french_name(cls)}" for cls in classes])
    rows = []
    for cls, vector in zip(classes, vectors, strict=True):
        hits = index.query(vector, max(KS), kind="txt")
        rows.append(_precision([h.metadata.get("label") for h in hits], cls))
    return _mean(rows)
