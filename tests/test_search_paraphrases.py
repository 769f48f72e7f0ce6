"""Needs in a user's words (held-out paraphrases, EN and FR) find the right scenes among real AID chips, and chip
descriptions come from what the model sees, never from the folder's labels."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tools.data import geodata_path
from tools.search.describe import class_phrase, to_english
from tools.search.evaluation import load_paraphrases
from tools.search.index import ChipIndex
from tools.search.indexer import index_labelled
from tools.search.query import search_chips

CLASSES = ["Airport", "DenseResidential", "Port", "Stadium", "StorageTanks"]
# Dev half, all 30 AID classes, out-of-fold descriptions: P@5 0.94 (EN) / 0.95 (FR); before the lexicon and the
# re-ranking 0.71 / 0.35. Five classes are easier than thirty, so the bar on the held-out half keeps a margin.
BAR = 0.8


def _folder(tmp_path_factory, name: str, relabel: dict[str, str] | None = None):
    """A labelled folder of symlinks into the mirror; `relabel` writes other labels than the images show."""
    src = geodata_path("aid-scenes")
    folder = tmp_path_factory.mktemp(name)
    with (src / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] in (relabel or {c: c for c in CLASSES})]
    for row in rows:
        (folder / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / row["path"]).symlink_to(src / row["path"])
    with (folder / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label"])
        writer.writeheader()
        writer.writerows({"path": r["path"], "label": (relabel or {})[r["label"]] if relabel else r["label"]}
                         for r in rows)  # fmt: skip
    return folder


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Five AID classes indexed for evaluation: every vector and description out-of-fold."""
    import torch

    torch.set_num_threads(1)
    index = ChipIndex(root=tmp_path_factory.mktemp("chroma"))
    index_labelled(index, _folder(tmp_path_factory, "aid5"), leave_one_out=True)
    return index


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_held_out_paraphrases_find_their_class(index, lang):
    queries = [r for r in load_paraphrases() if r["split"] == "heldout" and r["lang"] == lang]
    queries = [r for r in queries if r["class"] in CLASSES]
    assert len(queries) == 2 * len(CLASSES)
    scores = []
    for row in queries:
        hits, info = search_chips(query=row["query"], k=5, index=index)
        scores.append(np.mean([h.metadata["label"] == row["class"] for h in hits]))
        assert info["query_scene_types"]  # the scene types the query was read as
    assert np.mean(scores) >= BAR, list(zip([r["query"] for r in queries], scores, strict=True))


def test_french_needs_reach_the_english_model_in_english():
    assert to_english("bateaux amarrés à quai") == "boats moored quay dock"
    assert to_english("cuves de pétrole") == "storage tanks oil"
    assert to_english("place of worship") == "place of worship"  # English words that are French too stay English


def test_descriptions_come_from_what_the_model_sees_not_the_labels(tmp_path_factory):
    """Forest images labelled 'Airport': outside evaluation, no description or class may say airport."""
    import torch

    torch.set_num_threads(1)
    index = ChipIndex(root=tmp_path_factory.mktemp("chroma-relabelled"))
    index_labelled(index, _folder(tmp_path_factory, "forest-as-airport", {"Forest": "Airport"}))
    table = index.table("txt")
    assert len(table.documents) == 10
    assert all(m["label"] == "Airport" for m in table.metadatas)  # kept for evaluation only
    for doc, meta in zip(table.documents, table.metadatas, strict=True):
        assert class_phrase("Airport") not in doc and "runway" not in doc and "aéroport" not in meta["description_fr"]
        assert meta["class"] != "Airport"
    assert sum("forest" in doc for doc in table.documents) >= 8  # what the images show
