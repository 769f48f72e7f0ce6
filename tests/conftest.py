"""Test set-up: the data and model mirrors point at ../shared unless the environment says otherwise."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
os.environ.setdefault("SENTINELLE_DATA_MIRROR", str(SHARED / "geodata"))
os.environ.setdefault("SENTINELLE_MODELS_MIRROR", str(SHARED / "models"))
os.environ.setdefault("SENTINELLE_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# No background Galileo warm-up of the catalog in servers the tests start (test_change_precompute turns it on).
os.environ.setdefault("SENTINELLE_CHANGE_PRECOMPUTE", "0")


@pytest.fixture(autouse=True)
def _fresh_settings():
    """Each test reads the settings anew, so monkeypatched env vars take effect."""
    from assistant.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (the bank and probe fits are then the same run to run), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def oscd_features(tmp_path_factory):
    """`oscd_features(city)`: the cached per-pixel features and Galileo embeddings (`tools.change.feature_cache`) of a
    mirror OSCD city, computed once per test session into a data dir of their own."""
    from tools.change.feature_cache import load_or_compute
    from tools.change.training import dev_pairs
    from tools.core.settings import get_settings

    data = tmp_path_factory.mktemp("oscd-features")
    done: dict = {}

    def features(city: str):
        if city not in done:
            old = os.environ.get("SENTINELLE_DATA_DIR")
            os.environ["SENTINELLE_DATA_DIR"] = str(data)
            get_settings.cache_clear()
            try:
                pair = next(p for p in dev_pairs("s2") if p.name == city)
                done[city] = load_or_compute(pair, "s2")
            finally:
                if old is None:
                    os.environ.pop("SENTINELLE_DATA_DIR", None)
                else:
                    os.environ["SENTINELLE_DATA_DIR"] = old
                get_settings.cache_clear()
        return done[city]

    return features


@pytest.fixture
def tmp_data_dir(tmp_path, monkeypatch):
    """An empty data dir for a test (catalog, index and outputs go there)."""
    monkeypatch.setenv("SENTINELLE_DATA_DIR", str(tmp_path / "data"))
    from assistant.config import get_settings

    get_settings.cache_clear()
    return tmp_path / "data"


@pytest.fixture
def empty_catalog(tmp_path, monkeypatch):
    """An empty catalog, so whatever is ingested in the data dir cannot change a test's places or scenes."""
    from tools.places import catalog_names

    monkeypatch.setenv("SENTINELLE_CATALOG_DIR", str(tmp_path / "catalog"))
    catalog_names._catalog_cache.clear()
    yield
    catalog_names._catalog_cache.clear()
