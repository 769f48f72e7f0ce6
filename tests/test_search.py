"""Scene search without models: chip windows, query parsing, French class names, side-table filters vs chroma."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.errors import BadInputError
from tools.search.chips import chip_windows, n_chips_estimate, parse_chip_size
from tools.search.describe import ClassBank, describe, french_name, mentioned_classes, to_english
from tools.search.index import ChipIndex, Filters
from tools.search.query import parse_query


def test_chip_windows_cover_the_raster_and_end_at_the_edges():
    wins = chip_windows(791, 718, 256)
    assert len(wins) == n_chips_estimate(791, 718, 256) == 12
    covered = np.zeros((718, 791), bool)
    for r, c, h, w in wins:
        assert r + h <= 718 and c + w <= 791 and (h, w) == (256, 256)
        covered[r : r + h, c : c + w] = True
    assert covered.all()
    assert chip_windows(100, 80, 256) == [(0, 0, 80, 100)]
    assert len(chip_windows(512, 512, 256, 128)) == 9


def test_chip_size_in_metres_uses_the_ground_sampling_distance():
    assert parse_chip_size("2560m", 10.0) == 256
    assert parse_chip_size(300, None) == 300
    with pytest.raises(BadInputError):
        parse_chip_size("2560m", None)
    with pytest.raises(BadInputError):
        parse_chip_size("big", 10.0)


def test_french_class_names_become_english():
    assert "airport" in to_english("aéroport")
    assert to_english("zone résidentielle dense") == "dense residential area"
    assert "forest" in to_english("Forêts près de Nantes") and "near" in to_english("Forêts près de Nantes")
    assert to_english("storage tanks near the port") == "storage tanks near the port harbour"
    assert mentioned_classes("trouve des gares") == ["RailwayStation"]
    assert mentioned_classes("find airports") == ["Airport"]
    assert french_name("Viaduct") == "viaduc"


@pytest.mark.parametrize(
    ("question", "semantic", "platform", "place", "start"),
    [
        ("Landsat imagery over China", False, "landsat", "China", None),
        ("which scenes do you have over Rotterdam in 2017", False, None, "Rotterdam", "2017-01-01"),
        ("find airports", True, None, None, None),
        ("forêts près de Paris en 2018", True, None, "Paris", "2018-01-01"),
        ("Sentinel 2 scenes", False, "sentinel-2", None, None),
    ],
)
def test_parse_query_separates_catalog_filters_from_semantic_content(question, semantic, platform, place, start):
    parsed = parse_query(question)
    assert parsed.semantic is semantic
    assert parsed.platform == platform
    assert parsed.place == place
    assert parsed.start == start


def test_knn_bank_leave_one_out_never_votes_for_itself():
    feats = np.eye(4, dtype=np.float32)
    feats[1] = feats[0]  # two identical exemplars, different labels
    bank = ClassBank(feats, ["A", "B", "C", "D"])
    assert bank.predict(feats[:1], k=1)[0][0][0] in {"A", "B"}
    assert bank.predict(feats[:1], k=1, exclude=[0])[0][0][0] == "B"
    text = describe([("Airport", 0.8), ("BareLand", 0.2)], {"water_fraction": 0.05}, "Paris", "2017-05-01")
    assert text.startswith("aerial image of airport: runways and taxiways, ")  # what such scenes show, in words
    assert text.endswith(". possibly bare land. 5% water. near Paris. 2017-05-01")
    french = describe([("Airport", 0.8), ("BareLand", 0.2)], {"water_fraction": 0.05}, "Paris", lang="fr")
    assert french == "image aérienne : aéroport. peut-être sol nu. 5% d'eau. près de Paris"


def test_side_table_filters_match_chroma_where(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    index = ChipIndex(root=tmp_path / "chroma", encoder="unit")
    vecs = rng.normal(size=(n, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    metas = []
    for i in range(n):
        lon, lat = rng.uniform(-5, 5), rng.uniform(40, 50)
        metas.append(
            {
                "scene_id": f"s{i // 10}",
                "datetime": int(rng.integers(1.4e9, 1.7e9)),
                "platform": ["sentinel-2", "landsat-8"][i % 2],
                "cloud_cover": float(rng.uniform(0, 100)),
                "west": lon - 0.1,
                "south": lat - 0.1,
                "east": lon + 0.1,
                "north": lat + 0.1,
            }
        )
    ids = [f"c{i}" for i in range(n)]
    index.add(ids, vecs, vecs, metas, ["x"] * n)
    index.add(ids, vecs, vecs, metas, ["x"] * n)  # upsert: no duplicates
    assert index.count() == n
    for filters in [
        Filters(start=1.5e9, end=1.6e9),
        Filters(platform="landsat-8", max_cloud_cover=30.0),
        Filters(bbox=[-2, 42, 2, 46]),
        Filters(scene_ids={"s1", "s7"}, platform="sentinel-2"),
    ]:
        table = index.table()
        mask = table.mask(filters)
        where = index.img.get(where=filters.to_where(), include=[])["ids"]
        assert set(where) == {table.ids[i] for i in np.flatnonzero(mask)}
        q = vecs[3]
        ours = [h.id for h in index.query(q, 5, filters)]
        brute = [table.ids[i] for i in np.argsort(-(table.vectors @ q) + 1e9 * (~mask))[: min(5, mask.sum())]]
        assert ours == brute
    assert [h.id for h in index.query(vecs[7], 3, exclude_ids={"c7"})][0] != "c7"
    assert Filters(platform="landsat").empty() is False
    assert index.table().mask(Filters(platform="landsat")).sum() == n // 2  # prefix match on the family


def test_cli_registers_search_and_index_subcommands():
    import argparse

    from assistant.commands import eval_search, search

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    search.register(sub)
    args = parser.parse_args(["search", "forêt", "--place", "Nantes", "--start", "2017-01-01", "--k", "3", "--json"])
    assert (args.query, args.place, args.k, args.json, args.func) == ("forêt", "Nantes", 3, True, search.run_search)
    args = parser.parse_args(["index", "--chip", "2560m", "--stride", "1280m"])
    assert (args.chip, args.stride, args.func) == ("2560m", "1280m", search.run_index)
    with pytest.raises(BadInputError):
        search.run_search(parser.parse_args(["search"]))
    inner = argparse.ArgumentParser().add_subparsers(dest="evaluation")
    eval_search.register(inner)


def test_big_filtered_sets_are_scored_in_place_over_contiguous_spans():
    from tools.search.index import SideTable, mask_spans

    assert mask_spans(np.array([0, 1, 1, 0, 0, 1, 0, 1], bool), gap=0) == [(1, 3), (5, 6), (7, 8)]
    assert mask_spans(np.array([0, 1, 1, 0, 0, 1, 0, 1], bool), gap=2) == [(1, 8)]
    rng = np.random.default_rng(3)
    n, dim = 15000, 64
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    metas = [
        {
            "scene_id": f"s{i % 90}",
            "platform": ["naip", "landsat-8", "sentinel-2"][i % 3],
            "datetime": int(1.5e9 + (i % 90) * 86400),
            "cloud_cover": float(i % 90),
        }
        for i in range(n)
    ]
    table = SideTable(np.array([f"c{i}" for i in range(n)], dtype=object), vecs, metas, [None] * n)
    assert list(table.platform) == sorted(table.platform)  # rows partitioned by platform, then date
    for filters in (
        Filters(platform="naip"),
        Filters(platform="naip", start=int(1.5e9 + 10 * 86400)),
        Filters(max_cloud_cover=60.0),
    ):
        mask = table.mask(filters)
        spans = mask_spans(mask)
        for q in vecs[:5]:
            got = [h.id for h in ChipIndex._spans(table, q, spans, mask, 10, None)]
            truth = list(table.ids[np.argsort(-np.where(mask, table.vectors @ q, -np.inf))[:10]])
            assert got == truth
    assert len(mask_spans(table.mask(Filters(platform="naip")))) == 1


def test_side_table_follows_writes_of_another_process(tmp_path, monkeypatch):
    """The side table must stay consistent with chroma: a write through another client is seen by the next query."""
    from tools.search import index as index_mod

    monkeypatch.setattr(index_mod, "STAMP_CHECK_S", 0.0)
    rng = np.random.default_rng(2)
    vecs = rng.normal(size=(40, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    metas = [{"scene_id": f"s{i}", "datetime": 1_500_000_000 + i} for i in range(40)]
    reader = ChipIndex(root=tmp_path / "chroma", encoder="unit")
    writer = ChipIndex(root=tmp_path / "chroma", encoder="unit")  # stands in for another process
    writer.add([f"c{i}" for i in range(20)], vecs[:20], vecs[:20], metas[:20], ["x"] * 20)
    assert len(reader.table()) == 20
    assert reader.query(vecs[5], 1)[0].id == "c5"
    writer.add([f"c{i}" for i in range(20, 40)], vecs[20:], vecs[20:], metas[20:], ["x"] * 20)
    assert len(reader.table()) == 40 and reader.query(vecs[30], 1)[0].id == "c30"
    hits = reader.query(vecs[30], 3, Filters(start=1_500_000_025))
    assert hits[0].id == "c30" and all(h.metadata["datetime"] >= 1_500_000_025 for h in hits)


def test_catalog_questions_find_scenes_by_the_gazetteers_name_of_a_place(tmp_data_dir):
    """'Pays-Bas' is catalogued as 'Netherlands'; this Groningen scene lies outside the gazetteer's trimmed country box,
    so only the name can find it."""
    from tools.catalog import open_catalog
    from tools.data import geodata_path
    from tools.search.query import find_scenes

    report = open_catalog().ingest([geodata_path("opengeos-cog-10m/cog.tif")])
    assert report.items[0].properties["sentinelle:country"] == "Netherlands"
    for place in ("Netherlands", "Pays-Bas"):
        result = find_scenes(place=place)
        assert [row["scene_id"] for row in result.facts["results"]] == [report.items[0].id], place
