"""The supervised change head: features of real pairs, held-out prediction, caching, use in the pipeline."""

from __future__ import annotations

import joblib
import numpy as np
import pytest
import rasterio
import torch

from tools.change.bands import band_map_from_count
from tools.change.evaluate import ab_pairs, confusion, metrics, read_label
from tools.change.head import fit_head, head_path, load_head, pair_features
from tools.change.pipeline import run_change
from tools.data import geodata_path

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dsifn():
    data, names = [], None
    for pair in ab_pairs(geodata_path("levir-dsifn-samples/DSIFN")):
        names, x, v, regime = pair_features(pair)
        assert regime == "vhr"
        data.append((pair, x, read_label(pair).ravel(), v))
    return data, names


def test_pair_features_cover_every_pixel(dsifn):
    data, names = dsifn
    assert {"g_cos", "g_l2", "d_B2", "d_B3", "d_B4", "cva", "cva_15"} <= set(names)
    for _, x, y, v in data:
        assert x.shape == (256 * 256, len(names)) and v.all() and np.isfinite(x).all()
        assert y.any()


def test_head_predicts_held_out_pair_better_than_chance(dsifn):
    data, names = dsifn
    head = fit_head(data[:-1], names, "logreg", "vhr")
    assert 0.0 < head.threshold < 1.0 and head.trained_on == [p.name for p, *_ in data[:-1]]
    _, x, y, v = data[-1]
    m = metrics(confusion(head.predict_proba(x) > head.threshold, y, v))
    assert m["precision"] > 1.2 * y.mean()


def test_cached_head_is_used_by_the_pipeline(dsifn, tmp_data_dir, tmp_path):
    data, names = dsifn
    head = fit_head(data, names, "logreg", "vhr")
    path = head_path("vhr")
    assert path.is_relative_to(tmp_data_dir)
    path.parent.mkdir(parents=True)
    joblib.dump(head, path)
    rgb = band_map_from_count(3)
    assert load_head("vhr", rgb) is not None
    assert load_head("vhr", band_map_from_count(13)) is None  # other bands: the head does not apply
    pair = ab_pairs(geodata_path("levir-dsifn-samples/LEVIR"))[0]
    summary = run_change(pair.before, pair.after, tmp_path, method="auto")
    assert summary["method"] == "head" and "change head" in summary["model"]
    assert summary["threshold"] == pytest.approx(head.threshold)
    with rasterio.open(tmp_path / "score.tif") as s:
        score = s.read(1)
    assert np.nanmin(score) >= 0.0 and np.nanmax(score) <= 1.0
