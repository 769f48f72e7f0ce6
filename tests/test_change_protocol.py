"""The accuracy protocol (docs/change-accuracy.md): a held-out city is never seen by what is fitted for its fold."""

from dataclasses import dataclass

import numpy as np
import pytest

from tools.change.labels import oscd_pairs, read_label
from tools.change.protocol import ADDED_CITIES, DECISION_CITIES, folds, leave_one_group_out
from tools.data import geodata_path


@dataclass
class City:
    group: str
    label: np.ndarray
    valid: np.ndarray


@pytest.fixture(scope="module")
def cities() -> list[City]:
    pairs = oscd_pairs(geodata_path("oscd-s2"))
    out = []
    for p in pairs:
        lab = read_label(p)
        out.append(City(p.group, lab, np.ones_like(lab, bool)))
    return out


def test_mirror_holds_the_protocol_cities(cities):
    assert {c.group for c in cities} == set(DECISION_CITIES) | set(ADDED_CITIES)
    assert not set(DECISION_CITIES) & set(ADDED_CITIES)


def test_each_fold_is_fitted_without_its_held_out_city(cities):
    seen: list[tuple[set[str], list[str]]] = []

    def fit(train):
        trained = {c.group for c in train}
        predicted: list[str] = []
        seen.append((trained, predicted))

        def predict(city):
            predicted.append(city.group)
            return city.label  # an oracle on the held-out city: only the split is under test here
        return predict

    result = leave_one_group_out(cities, fit)
    assert len(seen) == 11
    for trained, predicted in seen:
        assert len(predicted) == 1 and predicted[0] not in trained
        assert len(trained) == 10
    assert sorted(p[0] for _, p in seen) == sorted(c.group for c in cities)
    assert result["f1"] == pytest.approx(1.0)
    assert set(result["groups"]) == {c.group for c in cities}
    assert "f1_added" in result and "f1_without_abudhabi" in result


def test_decision_split_never_touches_the_added_cities(cities):
    split = folds(cities, DECISION_CITIES)
    assert [g for g, _, _ in split] == sorted(DECISION_CITIES)
    for g, train, test in split:
        groups = {c.group for c in train}
        assert g not in groups and not groups & set(ADDED_CITIES)
        assert [c.group for c in test] == [g]


def test_scores_a_wrong_prediction_as_wrong(cities):
    result = leave_one_group_out(cities, lambda train: (lambda city: ~city.label), DECISION_CITIES)
    assert result["f1"] == 0.0 and "f1_added" not in result


def test_feature_cache_matches_the_pipeline_features_and_round_trips(tmp_data_dir):
    """Paris (the smallest OSCD city): the head's features on every pixel, every 8 px patch embedded for both dates,
    and a second read comes from the npz with the same values."""
    from tools.change.feature_cache import cache_dir, load_or_compute
    from tools.change.training import dev_pairs, pair_features

    pair = next(p for p in dev_pairs("s2") if p.name == "paris")
    f = load_or_compute(pair, "s2")
    names, x, valid, regime = pair_features(pair)
    assert regime == "s2" and f.names == names
    assert f.x.shape == x.shape and f.label.shape == x.shape[:2] and f.valid.sum() == valid.sum()
    assert np.allclose(f.x.astype(np.float32), x, rtol=2e-3, atol=2e-3)
    h, w = f.label.shape
    assert f.patch == 8 and f.e1.shape == (-(-h // 8), -(-w // 8), 128) == f.e2.shape
    assert (np.abs(f.e1.astype(np.float32)).sum(-1) > 0).all() and (np.abs(f.e2.astype(np.float32)).sum(-1) > 0).all()
    assert not np.array_equal(f.e1, f.e2)
    assert (cache_dir("s2") / "OSCD_paris.npz").exists()
    g = load_or_compute(pair, "s2")
    assert np.array_equal(g.x, f.x) and np.array_equal(g.e1, f.e1) and g.names == f.names
