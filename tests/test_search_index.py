"""Scene search end to end on real AID images from the mirror: index, text (EN/FR) and image queries, find_scenes."""

from __future__ import annotations

import csv

import pytest

pytest.importorskip("tools.render")

from tools.data import geodata_path  # noqa: E402
from tools.search.index import ChipIndex  # noqa: E402
from tools.search.indexer import index_labelled  # noqa: E402
from tools.search.query import find_scenes, search_chips  # noqa: E402

CLASSES = ["Forest", "Airport", "Beach"]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A labelled folder with three AID classes (symlinks into the mirror) and its index."""
    import torch

    torch.set_num_threads(1)
    src = geodata_path("aid-scenes")
    folder = tmp_path_factory.mktemp("aid3")
    with (src / "labels.csv").open(newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["label"] in CLASSES]
    for row in rows:
        (folder / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        (folder / row["path"]).symlink_to(src / row["path"])
    with (folder / "labels.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["path", "label"])
        writer.writeheader()
        writer.writerows({"path": r["path"], "label": r["label"]} for r in rows)
    index = ChipIndex(root=tmp_path_factory.mktemp("chroma"))
    stats = index_labelled(index, folder, leave_one_out=True)
    return folder, index, stats, rows


def test_labelled_folder_is_indexed_once(labelled):
    folder, index, stats, rows = labelled
    assert stats["chips_added"] == len(rows) == index.count()
    again = index_labelled(index, folder, leave_one_out=True)
    assert again["chips_added"] == 0 and again["chips_skipped"] == len(rows)
    meta = index.table().metadatas[0]
    assert meta["class"] in CLASSES and "west" not in meta and meta["georeferenced"] is False


@pytest.mark.parametrize(("query", "label"), [("forest", "Forest"), ("forêt", "Forest"), ("aéroports", "Airport"),
                                              ("beach", "Beach")])
def test_class_name_queries_find_that_class(labelled, query, label):
    _, index, _, _ = labelled
    hits, info = search_chips(query=query, k=5, index=index)
    assert info["mode"] == "text"
    assert sum(h.metadata["label"] == label for h in hits) >= 4


def test_image_query_by_chip_excludes_itself_and_finds_its_class(labelled):
    _, index, _, _ = labelled
    table = index.table()
    for row in range(0, len(table), 7):
        chip = str(table.ids[row])
        hits, _ = search_chips(image=chip, k=5, index=index)
        assert chip not in {h.id for h in hits}
        assert sum(h.metadata["label"] == table.metadatas[row]["label"] for h in hits) >= 3


def test_find_scenes_returns_ranked_results_for_an_uploaded_image(labelled, tmp_data_dir):
    folder, index, _, rows = labelled
    upload = folder / rows[0]["path"]
    result = find_scenes(image=str(upload), k=4, index_dir=index_root(index))
    assert result.tool == "find_scenes" and result.facts["mode"] == "image"
    ranks = result.facts["results"]
    assert [r["rank"] for r in ranks] == [1, 2, 3, 4]
    assert ranks[0]["score"] >= ranks[-1]["score"]
    assert ranks[0]["thumbnail"].endswith(rows[0]["path"])  # the upload itself is indexed: it comes first
    assert all(layer.kind != "geojson" for layer in result.layers)  # unreferenced images have no footprint
    fr = find_scenes(query="trouve des plages", k=5, index_dir=index_root(index))
    assert fr.facts["query_en"].endswith("beach") and fr.facts["results"][0]["class"] == "Beach"


def index_root(index: ChipIndex):
    return index.client.get_settings().persist_directory
