"""Land cover from a few labels (`sentinelle eval landcover`): the eo-learn patch is read and dated right, the block
split never lets a test pixel near a training pixel, and both feature sets are scored side by side."""

from __future__ import annotations

import argparse
import json

import numpy as np

from tools.data import geodata_path


def test_the_patch_is_dated_from_its_ndvi_series_and_clouded_scenes_are_left_out():
    from tools.services.landcover import index_features, load_eolearn

    data = load_eolearn()
    assert data.dates == ["2015-07-11", "2015-08-30", "2015-09-09"]
    assert len(data.dropped) == 2 and all("clouded" in d for d in data.dropped)
    assert data.scenes.shape == (3, 101, 100, 13) and data.labels.shape == (101, 100)
    # the first index feature of each date is its NDVI: it equals the patch's own NDVI series on those dates
    ndvi = np.load(geodata_path("eo-learn-s2/data/NDVI.npy"))[..., 0]
    stamps = [s[:10] for s in json.loads(geodata_path("eo-learn-s2/timestamps.json").read_text())]
    feats = index_features(data)
    for k, day in enumerate(data.dates):
        np.testing.assert_allclose(feats[..., k], ndvi[stamps.index(day)], atol=1e-5)


def test_block_folds_are_disjoint_with_a_buffer_and_classes_need_pixels_on_both_sides():
    from tools.services.landcover import BUFFER, SPLIT_COLUMN, block_folds, kept_classes, load_eolearn

    labels = load_eolearn().labels
    folds = block_folds(labels.shape)
    for fold in folds:
        assert not (fold.train & fold.test).any()
        train_cols = np.flatnonzero(fold.train.any(axis=0))
        test_cols = np.flatnonzero(fold.test.any(axis=0))
        gap = min(abs(int(a) - int(b)) for a in train_cols for b in test_cols)
        assert gap == 2 * BUFFER + 1
    assert not folds[0].train[:, SPLIT_COLUMN - BUFFER :].any()
    kept = kept_classes(labels, folds)
    assert 2 in kept  # forest
    assert 1 not in kept  # cultivated land: 11 pixels, all in the east half
    for c in kept:
        assert all(((labels == c) & f.train).sum() >= 20 for f in folds)


def test_eval_landcover_scores_indices_and_galileo_side_by_side(capsys):
    from assistant.commands import eval_landcover

    args = argparse.Namespace(labels=[50], seeds=1, json=True)
    assert eval_landcover.run(args) == 0
    scores = json.loads(capsys.readouterr().out)
    assert [r["fold"] for r in scores["rows"]] == ["train west, test east", "train east, test west"]
    n_classes = len(scores["classes"])
    for row in scores["rows"]:
        assert row["labels_per_class"] == 50 and row["test_pixels"] > 4000
        for name in ("indices", "galileo"):
            assert 1.0 / n_classes < row[f"{name}_oa"] <= 1.0  # better than guessing on held-out ground
            assert 0.0 < row[f"{name}_macro_f1"] <= 1.0
        assert 0.5 < row["forest_rule_f1"] <= 1.0
    text = eval_landcover.table(scores)
    assert "index OA" in text and "Galileo OA" in text and text.count("train west, test east") == 1
