"""Galileo embeddings computed ahead of the question: a change question on a warmed catalog pair reads them from
the cache (same keys as the question's own job), and the server starts the warm-up in a niced child process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tools.data import geodata_path

torch.set_num_threads(1)


@pytest.fixture
def rennes_catalog(tmp_data_dir):
    from tools.catalog import open_catalog

    cat = open_catalog()
    folders = [geodata_path(f"oscd-s2/images/rennes/imgs_{k}") for k in (1, 2)]
    cat.ingest(folders, place="Rennes Test")
    return cat


def test_a_question_on_a_warmed_pair_reads_both_dates_from_the_cache(rennes_catalog):
    from tools.change import detect_change, embeddings
    from tools.change.precompute import pair_order, warm_catalog

    items = rennes_catalog.items()
    pairs = pair_order(items)
    assert len(pairs) == 1 and pairs[0][0].datetime < pairs[0][1].datetime
    done = warm_catalog()
    assert (done.pairs, done.encoded_dates, done.skipped) == (1, 2, 0)
    stored = {p.name for p in embeddings.cache_dir().glob("*.npy")}
    assert len(stored) == 2
    assert warm_catalog().encoded_dates == 0  # warmed already: nothing encoded again

    result = detect_change(place="Rennes Test", method="zeroshot")
    summary = json.loads(Path(result.files[-1]).read_text())
    assert summary["timings"]["cached_dates"] == 2  # the question's keys are the warm-up's
    assert {p.name for p in embeddings.cache_dir().glob("*.npy")} == stored  # nothing new written


def test_pairs_come_in_the_order_a_question_picks_them():
    """Sentinel-2 first, then the longest time spans; scenes of other sensors or areas never pair."""
    import datetime as dt

    import pystac

    def item(name, day, sensor, west=0.0):
        return pystac.Item(name, None, [west, 0.0, west + 1, 1.0], dt.datetime.fromisoformat(day),
                           {"constellation": sensor})

    from tools.change.precompute import pair_order

    items = [item("l85", "1985-07-01", "landsat"), item("l20", "2020-07-01", "landsat"),
             item("l00", "2000-07-01", "landsat"), item("s15", "2015-08-20", "sentinel-2"),
             item("s17", "2017-10-03", "sentinel-2"), item("far", "2019-01-01", "sentinel-2", west=50.0)]
    order = [(b.id, a.id) for b, a in pair_order(items)]
    assert order == [("s15", "s17"), ("l85", "l20"), ("l00", "l20"), ("l85", "l00")]


def test_the_server_warm_up_runs_in_a_niced_child_and_can_be_turned_off(rennes_catalog, monkeypatch):
    import os

    from assistant import head_fitting
    from assistant.config import get_settings

    monkeypatch.setenv("SENTINELLE_CHANGE_PRECOMPUTE", "0")
    get_settings.cache_clear()
    assert not head_fitting.start_precompute()
    monkeypatch.setenv("SENTINELLE_CHANGE_PRECOMPUTE", "1")
    get_settings.cache_clear()
    assert head_fitting.start_precompute()
    try:
        assert not head_fitting.start_precompute()  # one at a time
        child = head_fitting._embedder
        assert os.getpriority(os.PRIO_PROCESS, child.pid) >= os.getpriority(os.PRIO_PROCESS, 0) + 10
        child.wait(timeout=600)
    finally:
        head_fitting.stop()
    assert child.returncode == 0 and not head_fitting.precompute_running()
    log = (get_settings().data_dir / "logs" / "change-precompute.log").read_text()
    assert "Galileo embeddings: 2 date(s) encoded, 1 pair(s) visited" in log
    from tools.change import embeddings

    assert len(list(embeddings.cache_dir().glob("*.npy"))) == 2


def test_a_long_series_is_warmed_pair_by_pair_with_a_few_scenes_open(tmp_data_dir, monkeypatch):
    """Eight dated Landsat scenes of Pucallpa (28 pairs): every pair reaches the encoder with both of its dates open
    while older scenes are let go (the demo catalog's series once raised KeyError here and ended the warm-up)."""
    from tools.catalog import open_catalog
    from tools.change import precompute

    folder = geodata_path("landsat-pucallpa-timeseries")
    open_catalog().ingest(sorted(folder.glob("*.tif")), place="Pucallpa Test")
    seen = []

    def fake_warm(before, after, encoder_size, workers):
        seen.append((before.scene_id, after.scene_id))
        return 0

    monkeypatch.setattr(precompute, "warm_pair", fake_warm)
    done = precompute.warm_catalog()
    pairs = precompute.pair_order(open_catalog().items())
    assert len(pairs) >= 20 and done.pairs == len(pairs) and done.skipped == 0
    assert seen == [(b.id, a.id) for b, a in pairs]
