"""Which scene classes a text query asks for, read from the words people use, and the re-ranking that follows.

A need in a user's words ("planes parked beside a runway", "cuves de pétrole" -> "storage tanks oil") is compared
(all-MiniLM-L6-v2) with each class's name and its `lexicon.CONCEPTS` phrases; a class's evidence is its best phrase.
A softmax over the evidence gives the query's class distribution q, and the text hits are re-ranked by
cosine(query, description) + RERANK_WEIGHT * sum_c q(c) p_chip(c), where p_chip are the chip's predicted scene
classes stored with it (`classes` metadata: the scene probe's or the k-NN bank's, never a label).

Measured on the AID sample, dev half of `eval_queries/paraphrases.jsonl`, descriptions from out-of-fold classes:
paraphrase P@5 0.70 (EN) / 0.35 (FR) before; FR words -> English 0.70 / 0.62; + concept phrases in the
descriptions 0.91 / 0.83; + this re-ranking 0.95 / 0.95. The weight (0.5-2) and the temperature (0.02-0.1) change
it by under 0.02.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from tools.search.describe import class_phrase
from tools.search.lexicon import CONCEPTS

TEMPERATURE = 0.05
RERANK_WEIGHT = 1.0


@lru_cache(maxsize=1)
def _anchors() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """(classes, phrase embeddings (P, 384), owning class index of each phrase); embedded once per process."""
    from tools.text_embed import embed_texts

    classes = tuple(CONCEPTS)
    phrases, owner = [], []
    for i, label in enumerate(classes):
        for phrase in (class_phrase(label), *CONCEPTS[label]):
            phrases.append(phrase)
            owner.append(i)
    return classes, embed_texts(phrases), np.asarray(owner)


def query_classes(text_en: str, vector: np.ndarray | None = None) -> dict[str, float]:
    """The query's distribution over scene classes (English text: `describe.to_english` first; `vector`: its
    MiniLM embedding when the caller already has it)."""
    from tools.text_embed import embed_texts

    classes, phrases, owner = _anchors()
    sims = phrases @ (embed_texts([text_en])[0] if vector is None else np.asarray(vector, np.float32))
    evidence = np.full(len(classes), -1.0, dtype=np.float64)
    np.maximum.at(evidence, owner, sims)
    weights = np.exp((evidence - evidence.max()) / TEMPERATURE)
    weights /= weights.sum()
    return {label: float(w) for label, w in zip(classes, weights, strict=True)}


def chip_classes(metadata: dict) -> dict[str, float]:
    """A chip's predicted classes from its metadata ('A:0.700|B:0.200'; else its top class and score)."""
    stored = str(metadata.get("classes") or "")
    out = {}
    for part in stored.split("|"):
        label, _, score = part.rpartition(":")
        if label:
            try:
                out[label] = float(score)
            except ValueError:
                continue
    if not out and metadata.get("class"):
        out[str(metadata["class"])] = float(metadata.get("class_score") or 1.0)
    return out


def class_agreement(query: dict[str, float], metadata: dict) -> float:
    """sum_c q(c) p_chip(c): how much of the chip's predicted scene type the query asks for (0..1)."""
    return sum(query.get(label, 0.0) * p for label, p in chip_classes(metadata).items())
