"""The shared EfficientNet-Lite0 features: real weights, contract shapes, determinism, thread safety."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from tools.data import geodata_path


@pytest.fixture(scope="module")
def images():
    import torch

    torch.set_num_threads(1)
    root = geodata_path("aid-scenes")
    paths = [sorted((root / c).glob("*.jpg"))[0] for c in ("Beach", "Forest", "Airport")]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def test_weights_see_shores_in_beach_scenes():
    from tools.image_features import classify_imagenet

    shore = {975, 976, 977, 978}  # ImageNet lakeside, promontory, sandbar, seashore
    beaches = sorted((geodata_path("aid-scenes") / "Beach").glob("*.jpg"))
    hits = [bool(shore & {i for i, _ in classify_imagenet(np.asarray(Image.open(p).convert("RGB")), top=3)})
            for p in beaches]  # fmt: skip
    assert sum(hits) >= len(beaches) // 2, hits


def test_embed_rgb_contract(images):
    from tools.image_features import FEATURE_DIM, embed_rgb

    feats = embed_rgb(images + [images[0][:40, :70]])
    assert feats.shape == (4, FEATURE_DIM) and feats.dtype == np.float32
    assert np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embed_rgb(images[:1])[0], feats[0], atol=1e-5)  # batch-independent
    sims = feats[:3] @ feats[:3].T
    assert sims[0, 1] < 0.95 and sims[0, 2] < 0.95
    assert embed_rgb([]).shape == (0, FEATURE_DIM)


def test_levels_and_tta(images):
    from tools.image_features import LEVELS_DIM, embed_views

    feats = embed_views(images, tta=True, levels=True)
    assert feats.shape == (3, LEVELS_DIM)
    assert np.allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    single = embed_views(images, tta=False, levels=True)
    assert single.shape == feats.shape and not np.allclose(single, feats, atol=1e-3)
    assert np.all(np.sum(single * feats, axis=1) > 0.9)  # views of one scene agree


def test_crops_are_training_views_only(images):
    from tools.image_features import FLIP_VIEWS, LEVELS_DIM, TRAIN_VIEWS, embed_views

    flips, flip_views = embed_views(images, tta=True, levels=True, per_view=True)
    average, each = embed_views(images, tta=True, levels=True, per_view=True, crops=True)
    assert each.shape == (3, TRAIN_VIEWS, LEVELS_DIM) and flip_views.shape == (3, FLIP_VIEWS, LEVELS_DIM)
    assert np.allclose(average, flips, atol=1e-5)  # the descriptor the probe predicts from ignores the crops
    assert np.allclose(each[:, :FLIP_VIEWS], flip_views, atol=1e-5)
    assert np.allclose(np.linalg.norm(each, axis=2), 1.0, atol=1e-5)
    crops = each[:, FLIP_VIEWS:]
    assert not np.allclose(crops[:, 0], each[:, 0], atol=1e-3)  # a crop is not the whole image
    own = np.einsum("icd,id->ic", crops, average)  # each crop against its own scene
    other = np.einsum("icd,jd->ijc", crops, average)[~np.eye(3, dtype=bool)]  # against the other scenes
    assert own.min() > other.max(), (own, other)

def test_threads_share_one_model(images):
    from tools.image_features import embed_rgb, get_model

    results: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        results[i] = embed_rgb(images)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.allclose(results[0], results[i], atol=1e-5) for i in results)
    assert get_model() is get_model()
