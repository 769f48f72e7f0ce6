"""The reader's scene probe is a logit-space blend of logistic regression and shrinkage LDA, built and cached at
bank build from real AID images, and it stays well defined on degenerate banks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers.reader_bank import write_bank_source

CLASSES = ["Airport", "Beach", "Forest", "Parking", "Pond", "StorageTanks"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A 6-class bank of 5 real AID images per class, built into its npz cache, and the held-out images."""
    from tools.reader import bank

    root = tmp_path_factory.mktemp("probe")
    source, held_out = write_bank_source(root / "bank_source", CLASSES, per_class=5)
    cache = root / "models" / "reader_bank.npz"
    classifier = bank.build(source, cache=cache)
    return {"classifier": classifier, "cache": cache, "held_out": held_out}


def test_cached_bank_is_the_logistic_lda_blend(built, monkeypatch):
    from tools.reader import bank

    assert bank.LDA_WEIGHT > 0 and "lda" in bank.RECIPE
    cached = bank.SceneClassifier.load(built["cache"])
    refit = bank.SceneClassifier.fit(cached.features, cached.labels, view_features=cached.view_features)
    assert np.allclose(refit.coef, cached.coef, atol=1e-4) and np.allclose(refit.intercept, cached.intercept, atol=1e-4)
    monkeypatch.setattr(bank, "LDA_WEIGHT", 0.0)
    probe_only = bank.SceneClassifier.fit(cached.features, cached.labels, view_features=cached.view_features)
    assert not np.allclose(probe_only.coef, cached.coef, atol=1e-3)  # the LDA half changes the probe


def test_blend_and_its_lda_half_classify_held_out_images(built):
    from tools.reader import bank
    from tools.reader.discriminant import shrunk_lda

    classifier = built["classifier"]
    held = built["held_out"]
    features = bank.embed([bank.load_rgb(Path(r["abs"])) for r in held])
    truth = np.array([r["label"] for r in held])
    blend = np.array(classifier.classes)[classifier.predict(features).argmax(axis=1)]
    assert np.mean(blend == truth) >= 0.8, np.mean(blend == truth)
    views = classifier.view_features
    train = bank._centre(views.reshape(-1, views.shape[-1]), classifier.mean)
    coef, intercept = shrunk_lda(train, np.repeat(classifier.labels, views.shape[1]), classifier.classes)
    lda = np.array(classifier.classes)[(bank._centre(features, classifier.mean) @ coef.T + intercept).argmax(axis=1)]
    assert np.mean(lda == truth) >= 0.7, np.mean(lda == truth)


def test_one_exemplar_per_class_falls_back_to_the_probe(built):
    """No within-class scatter: the LDA half is undefined, the probe alone answers (finite probabilities)."""
    from tools.reader import bank

    clf = built["classifier"]
    first = [int(np.flatnonzero(clf.labels == c)[0]) for c in clf.classes]
    single = bank.SceneClassifier.fit(clf.features[first], clf.labels[first])
    probs = single.predict(clf.features)
    assert np.all(np.isfinite(single.coef)) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert np.mean(np.array(single.classes)[probs.argmax(axis=1)] == clf.labels) >= 0.5
