"""The offline reader says when it cannot judge an image (too small, no data, flat, noise, a drawing) instead of
giving a confident scene class, and still classifies real scenes: all 300 AID images pass its content checks."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import bad_files
from helpers.reader_bank import write_bank_source

from tools.data import geodata_path

CLASSES = ["Airport", "Beach", "Church", "Farmland", "Forest", "StorageTanks"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bank_source(tmp_path_factory):
    root = tmp_path_factory.mktemp("unreadable")
    source, held_out = write_bank_source(root / "bank_source", CLASSES, per_class=6)
    return {"source": source, "cache": root / "models" / "reader_bank.npz", "held_out": held_out}


@pytest.fixture
def reader(bank_source, monkeypatch, tmp_data_dir):
    from tools.reader import bank

    monkeypatch.setenv("SENTINELLE_VLM_BACKEND", "offline")
    monkeypatch.setattr(bank, "default_source", lambda: bank_source["source"])
    monkeypatch.setattr(bank, "bank_path", lambda: bank_source["cache"])
    bank.clear_cache()
    from tools.reader import read_image

    return read_image


def test_every_aid_scene_passes_the_content_checks():
    """The thresholds were set outside the range of these 300 images: none may be refused."""
    from tools.reader import offline
    from tools.reader.bank import read_labels
    from tools.reader.inputs import load

    refused = {}
    for row in read_labels(geodata_path("aid-scenes")):
        reason = offline.unreadable_reason(load(row.path))
        if reason:
            refused[row.path.name] = reason
    assert refused == {}


@pytest.mark.parametrize("case", sorted(bad_files.UNJUDGEABLE))
def test_images_it_cannot_judge_get_no_class(reader, tmp_path, case):
    maker, reason = bad_files.UNJUDGEABLE[case]
    path = maker(tmp_path)
    result = reader("What kind of scene is this?", image=str(path))
    assert result.facts["unreadable"] == reason
    assert result.facts["scene_classes"] == []
    assert result.facts["answer"].startswith("I cannot tell what this image shows (")
    assert "The scene looks like" not in result.facts["answer"] and "EfficientNet" not in result.facts["answer"]
    french = reader("Qu'est-ce que cette image ?", image=str(path), language="fr")
    assert french.facts["answer"].startswith("Je ne peux pas dire ce que montre cette image (")


def test_real_scenes_are_still_classified(reader, bank_source):
    for row in bank_source["held_out"][::4]:  # AID images that are not in the bank
        result = reader("What kind of scene is this?", image=row["abs"])
        assert "unreadable" not in result.facts, row["abs"]
        assert result.facts["scene_classes"] and "cannot tell" not in result.facts["answer"]
    naip = reader("What is this?", image=str(geodata_path("naip-timeseries/m_4709963_se_14_1_20200831.tif")))
    assert "unreadable" not in naip.facts and naip.facts["scene_classes"]
    assert naip.facts["vegetation_pct"] > 0  # a real multispectral raster keeps its measurements


def test_the_unfamiliar_distance_is_the_banks_own_99th_percentile(reader):
    from tools.reader import bank

    classifier = bank.get_classifier()
    loo = bank.loo_nearest_distances(classifier)
    assert loo.shape == (len(classifier.labels),) and (loo > 0).all()
    assert bank.ood_threshold(classifier) == pytest.approx(float(np.percentile(loo, 99)))
    own = bank.nearest_distance(classifier, classifier.features[:3])
    assert np.allclose(own, 0.0, atol=1e-4)  # an exemplar is its own nearest neighbour


def test_an_unfamiliar_scene_is_worded_as_a_guess():
    from tools.reader import answer

    facts = {"scene_classes": [["Forest", 0.9], ["Beach", 0.05]], "scene_unfamiliar": True}
    text = answer.offline_answer(answer.parse("what is this?"), facts, "en", ["m"])
    assert "only a guess" in text and "The scene looks like" not in text
    french = answer.offline_answer(answer.parse("qu'est-ce ?"), facts, "fr", ["m"])
    assert "supposition" in french


def test_a_two_class_bank_scores_both_classes():
    """sklearn fits one row for two classes; the probe must still give one probability per class."""
    from tools.reader.bank import SceneClassifier

    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(1.0, 0.3, (6, 16)), rng.normal(-1.0, 0.3, (6, 16))]).astype(np.float32)
    classifier = SceneClassifier.fit(features, ["Beach"] * 6 + ["Forest"] * 6)
    probs = classifier.predict(features)
    assert probs.shape == (12, 2) and np.allclose(probs.sum(axis=1), 1.0)
    assert (probs[:6, 0] > 0.5).all() and (probs[6:, 1] > 0.5).all()
