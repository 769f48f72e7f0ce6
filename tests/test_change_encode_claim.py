"""One encoding per scene: a change job that needs Galileo embeddings another job is computing waits for them
instead of encoding the same scene beside it (the server's warm-up and a first question on the same pair)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import numpy as np
import rasterio

from tools.change import embeddings
from tools.change.labels import oscd_pairs
from tools.change.pipeline import run_change
from tools.data import geodata_path


def _read(path):
    with rasterio.open(path) as f:
        return f.read(1)


def test_a_job_waits_for_the_encoding_in_flight_and_reuses_it(tmp_data_dir, tmp_path, monkeypatch):
    pair = next(p for p in oscd_pairs(geodata_path("oscd-s2")) if p.name == "bercy")
    second_is_claiming = threading.Event()
    real_claim, real_save = embeddings.claim, embeddings.save

    def claim(key, *args, **kwargs):
        if threading.current_thread().name == "second":
            second_is_claiming.set()
        return real_claim(key, *args, **kwargs)

    def save(key, arr):  # the first job stores its embeddings only once the second is waiting for them
        assert second_is_claiming.wait(120)
        time.sleep(0.5)
        real_save(key, arr)

    monkeypatch.setattr(embeddings, "claim", claim)
    monkeypatch.setattr(embeddings, "save", save)
    results: dict[str, dict] = {}

    def job(name: str) -> None:
        results[name] = run_change(pair.before, pair.after, tmp_path / name, method="zeroshot")

    first = threading.Thread(target=job, args=("first",), name="first")
    first.start()
    while not list(embeddings.cache_dir().glob("*.lock")) and first.is_alive():  # the first holds its claims
        time.sleep(0.05)
    second = threading.Thread(target=job, args=("second",), name="second")
    second.start()
    first.join(300)
    second.join(300)

    assert results["first"]["timings"]["cached_dates"] == 0
    assert results["second"]["timings"]["cached_dates"] == 2  # read what the first stored, encoded nothing
    assert results["second"]["timings"]["embedding_lookup"] >= 0.5  # it did wait
    assert len(list(embeddings.cache_dir().glob("*.npy"))) == 2
    assert np.array_equal(_read(tmp_path / "first" / "score.tif"), _read(tmp_path / "second" / "score.tif"),
                          equal_nan=True)


def test_a_claim_never_blocks_past_its_wait_nor_after_its_holder_died(tmp_data_dir):
    key = "0" * 40
    arr, held = embeddings.claim(key)
    assert arr is None
    t0 = time.perf_counter()
    arr, other = embeddings.claim(key, wait_s=0.6)  # held elsewhere: gives up and lets the caller compute
    assert arr is None and 0.5 <= time.perf_counter() - t0 < 5
    other.release()
    held.release()

    lock = embeddings.cache_dir() / f"{key}.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
        "print('held', flush=True); time.sleep(600)"), str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.kill()  # an encoder that crashed: its lock goes with it
        holder.wait(10)
        t0 = time.perf_counter()
        arr, held = embeddings.claim(key, wait_s=30)
        assert arr is None and time.perf_counter() - t0 < 2
        held.release()
    finally:
        holder.kill()
    embeddings.save(key, np.zeros((1, 2, 2, 8), np.float32))
    embeddings.prune(embeddings.cache_dir(), max_bytes=0)  # pruning an entry takes its lock file along
    assert not list(embeddings.cache_dir().iterdir())
