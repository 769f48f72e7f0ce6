"""The token net (tools/change/token_head.py) on real OSCD pairs: patch labels count the label's changed pixels, and a
net trained on the Galileo tokens of two cities ranks the changed patches of a third city it never saw."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from tools.change.token_head import TokenNetConfig, TokenSample, fit_token_head, patch_labels

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cities(oscd_features):
    return {name: oscd_features(name) for name in ("bercy", "paris", "rennes")}


def sample(f) -> TokenSample:
    target, weight = patch_labels(f.label, f.valid, f.patch)
    return TokenSample(f.e1, f.e2, target, weight)


def test_patch_labels_count_the_changed_valid_pixels(cities):
    f = cities["rennes"]
    target, weight = patch_labels(f.label, f.valid, f.patch)
    assert target.shape == weight.shape == f.e1.shape[:2]
    assert 0 <= target.min() and target.max() <= 1 and 0 <= weight.min() and weight.max() <= 1
    changed = int((f.label.astype(bool) & f.valid).sum())
    assert changed > 0
    assert np.isclose((target * weight).sum() * f.patch**2, changed, rtol=1e-4)
    assert np.isclose(weight.sum() * f.patch**2, int(f.valid.sum()), rtol=1e-4)


def test_token_net_trained_on_two_cities_ranks_changes_in_a_third(cities):
    head = fit_token_head([sample(cities["paris"]), sample(cities["rennes"])], TokenNetConfig(steps=400))
    held = cities["bercy"]
    target, weight = patch_labels(held.label, held.valid, held.patch)
    prob = head.predict(held.e1, held.e2)
    assert prob.shape == target.shape and np.all((prob >= 0) & (prob <= 1))
    keep = weight > 0.5
    changed = target[keep] > 0.25
    assert 10 < changed.sum() < changed.size / 5  # Bercy: a few dozen changed patches among ~2000
    assert roc_auc_score(changed, prob[keep]) > 0.7  # chance is 0.5
