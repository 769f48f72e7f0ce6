"""Scene search end to end on real AID images from the mirror: index, text (EN/FR) and image queries, find_scenes."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from tools.data import geodata_path
from tools.search.index import ChipIndex
from tools.search.indexer import index_labelled
from tools.search.query import find_scenes, search_chips

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
    from tools.search.encoders import get_encoder

    get_encoder()  # the production encoder, once per process (its probe comes from the data dir's cached bank)
    return folder, index, stats, rows


def test_labelled_folder_is_indexed_once(labelled):
    folder, index, stats, rows = labelled
    assert stats["chips_added"] == len(rows) == index.count()
    assert stats["protocol"].startswith("5-fold") and "270 bank images" in stats["protocol"]  # AID minus this folder
    again = index_labelled(index, folder, leave_one_out=True)
    assert again["chips_added"] == 0 and again["chips_skipped"] == len(rows)
    meta = index.table().metadatas[0]
    assert meta["class"] in CLASSES and "west" not in meta and meta["georeferenced"] is False


@pytest.mark.parametrize(
    ("query", "label"), [("forest", "Forest"), ("forêt", "Forest"), ("aéroports", "Airport"), ("beach", "Beach")]
)
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


def test_catalog_scene_is_chipped_with_footprints_and_filters(tmp_data_dir, monkeypatch):
    """A real georeferenced scene (rasterio's RGB.byte.tif): chips with footprints, incremental, date filter."""
    from assistant.config import get_settings
    from assistant.errors import NotFoundError
    from tools.catalog import open_catalog
    from tools.search.indexer import index_catalog

    monkeypatch.setenv("SENTINELLE_CATALOG_DIR", str(tmp_data_dir / "catalog"))
    get_settings.cache_clear()
    report = open_catalog().ingest(
        [geodata_path("rasterio-fixtures/RGB.byte.tif")], place="Nassau", datetime="2017-06-01"
    )
    item = report.items[0]
    index = ChipIndex(root=tmp_data_dir / "chroma")
    bank = False  # no scene classes: keeps the test off the AID bank build
    stats = index_catalog(index, chip=256, bank=bank)
    assert stats["chips_added"] == 12 == index.count()  # 791 x 718 px in 256 px chips, last ones edge-aligned
    assert index_catalog(index, chip=256, bank=bank)["chips_added"] == 0
    w, s, e, n = item.bbox
    for meta in index.table().metadatas:
        assert meta["scene_id"] == item.id and meta["date"] == "2017-06-01"
        assert w - 1e-6 <= meta["west"] < meta["east"] <= e + 1e-6
        assert s - 1e-6 <= meta["south"] < meta["north"] <= n + 1e-6
    root = index.client.get_settings().persist_directory
    result = find_scenes(
        image=f"{item.id}@0_0_256_256", start_date="2017-01-01", end_date="2017-12-31", k=3, index_dir=root
    )
    assert f"{item.id}@0_0_256_256" not in [r["chip_id"] for r in result.facts["results"]]
    footprints = next(layer for layer in result.layers if layer.kind == "geojson")
    assert len(footprints.data["features"]) == 3 and footprints.data["features"][0]["properties"]["rank"] == 1
    assert any(layer.kind == "tiles" and item.id in layer.url for layer in result.layers)
    with pytest.raises(NotFoundError):
        find_scenes(image=f"{item.id}@0_0_256_256", start_date="2019-01-01", index_dir=root)
    catalog_only = find_scenes(query="which scenes do you have in 2017", index_dir=root)
    assert catalog_only.facts["mode"] == "catalog" and catalog_only.facts["scenes"] == [item.id]


def test_default_vectors_carry_the_scene_probe_and_evaluation_vectors_are_out_of_fold(labelled):
    """Production vectors: projected features + the reader's probe; evaluation vectors: the same recipe, but from
    probes that never saw the image (the production probe was trained on these AID images and is surer of them)."""
    from tools.reader.bank import get_classifier
    from tools.render import read_rgb_image
    from tools.search.encoders import DEFAULT_ENCODER, PROJECTION_DIM, get_encoder

    folder, index, _, rows = labelled
    encoder = get_encoder(DEFAULT_ENCODER)
    picks = list(range(0, len(rows), 5))
    images = [read_rgb_image(folder / rows[i]["path"]) for i in picks]
    vectors = encoder.embed(images)
    assert vectors.shape == (len(picks), PROJECTION_DIM + len(get_classifier().classes))
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    decoded = [c[0][0] for c in encoder.decoder.predict(vectors)]
    assert decoded == [rows[i]["label"] for i in picks]  # in-sample for the production probe
    table = index.table()
    row_of = {m["source"]: r for r, m in enumerate(table.metadatas)}
    stored = table.vectors[[row_of[str(folder / rows[i]["path"])] for i in picks]]
    np.testing.assert_allclose(stored[:, :PROJECTION_DIM], vectors[:, :PROJECTION_DIM], atol=1e-4)  # same features
    prod_conf = encoder.decoder.predict(vectors)
    oof_conf = encoder.decoder.predict(stored)
    assert np.mean([o[0][1] for o in oof_conf]) < np.mean([p[0][1] for p in prod_conf])  # held out: less sure


def test_image_queries_reach_the_goal_on_held_out_vectors(labelled):
    """Image P@5 >= 0.8 on the three-class folder, every query against the other images, vectors out-of-fold."""
    _, index, _, _ = labelled
    table = index.table()
    scores = []
    for row, cid in enumerate(table.ids):
        hits = index.query(table.vectors[row], 5, exclude_ids={str(cid)})
        scores.append(np.mean([h.metadata["label"] == table.metadatas[row]["label"] for h in hits]))
    assert np.mean(scores) >= 0.8


def test_galileo_encoder_indexes_multispectral_chips(tmp_data_dir, monkeypatch):
    """The pluggable Galileo-nano encoder (raw bands, the change module's model) indexes and answers image queries."""
    from assistant.config import get_settings
    from tools.catalog import open_catalog
    from tools.search.indexer import index_catalog

    monkeypatch.setenv("SENTINELLE_CATALOG_DIR", str(tmp_data_dir / "catalog"))
    get_settings.cache_clear()
    item = open_catalog().ingest([geodata_path("rasterio-fixtures/RGB.byte.tif")], datetime="2017-06-01").items[0]
    index = ChipIndex(root=tmp_data_dir / "chroma-galileo", encoder="galileo-nano")
    assert index_catalog(index, chip=256, bank=False)["chips_added"] == 12
    table = index.table()
    assert table.vectors.shape == (12, 128)
    np.testing.assert_allclose(np.linalg.norm(table.vectors, axis=1), 1.0, atol=1e-5)
    result = find_scenes(
        image=f"{item.id}@0_0_256_256", k=3, index_dir=tmp_data_dir / "chroma-galileo", encoder="galileo-nano"
    )
    assert result.model == "galileo-nano" and len(result.facts["results"]) == 3
    assert f"{item.id}@0_0_256_256" not in [r["chip_id"] for r in result.facts["results"]]


def test_first_openings_from_many_threads_share_one_index(tmp_path, monkeypatch):
    """The app's warm-up and the first requests open the index at once: chromadb's client cache is not
    thread-safe (8 threads on a fresh folder failed 18 of 48 times with "Could not connect to tenant")."""
    import threading

    from tools.search import index as index_module

    monkeypatch.setattr(index_module, "_INDEXES", {})
    opened, errors = [], []

    def open_it() -> None:
        try:
            opened.append(index_module.open_index(tmp_path / "chroma", encoder="efficientnet-lite0"))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 8 and len({id(i) for i in opened}) == 1
