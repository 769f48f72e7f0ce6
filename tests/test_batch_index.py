"""Archive-scale indexing on Dask, in local mode, on two real mirror scenes (14 chips).

What must hold: the distributed run stores exactly what the search indexer stores serially (same ids, vectors,
metadata, descriptions), a re-run adds nothing, and the same code writes to a chroma server of the version the
deployment pins (the `chroma` server binary shipped with the chromadb wheel), whose health check is the compose one.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("distributed")

from deploy.batch.index_archive import cog_items, index_archive, plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCENES = ["opengeos-cog-10m/cog.tif", "naip-timeseries/m_4709963_se_14_1_20090818.tif"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def items():
    from tools.data import geodata_path

    return cog_items([geodata_path(rel) for rel in SCENES])


@pytest.fixture(scope="module")
def bank():
    """A small real exemplar bank (12 AID classes), so chips get predicted classes as in production."""
    from tools.data import geodata_path
    from tools.render import read_rgb_image
    from tools.search.chips import read_labels
    from tools.search.describe import ClassBank
    from tools.search.encoders import get_encoder

    rows = read_labels(geodata_path("aid-scenes"))[::25]
    features = get_encoder().embed([read_rgb_image(path) for path, _ in rows])
    return ClassBank(features, [label for _, label in rows])


@pytest.fixture(scope="module")
def reader_bank_file(bank):
    """The reader's cached exemplar bank that the main process's default encoder was built from."""
    from tools.reader.bank import bank_path

    return bank_path()


def _share_reader_bank(reader_bank_file: Path, data_dir: Path) -> None:
    """Workers are fresh processes reading the test's data dir: give them the bank the main process uses, as a
    deployment's workers share its data dir (else each worker re-embeds the 300 AID exemplars, minutes of CPU)."""
    from tools.reader.bank import bank_path

    target = bank_path()
    assert target.is_relative_to(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(reader_bank_file, target)


def _dump(index) -> dict[str, tuple[np.ndarray, dict, str]]:
    got = index.img.get(include=["embeddings", "metadatas", "documents"])
    return {
        i: (np.asarray(v, np.float32), m, d)
        for i, v, m, d in zip(got["ids"], got["embeddings"], got["metadatas"], got["documents"], strict=True)
    }


def test_cog_items_come_from_file_headers(items):
    cog, naip = items
    assert cog.assets["data"].href.endswith("cog.tif") and Path(cog.assets["data"].href).is_absolute()
    west, south, east, north = cog.bbox  # MANIFEST: lon 6.86..6.89, lat 53.40..53.42
    assert 6.85 < west < east < 6.90 and 53.39 < south < north < 53.43
    assert naip.datetime.date().isoformat() == "2009-08-18"  # from the NAIP file name
    assert naip.properties["gsd"] == pytest.approx(5.0, abs=0.01)
    assert cog.datetime is None and cog.properties["start_datetime"] < cog.properties["end_datetime"]
    assert [b.get("common_name") for b in naip.properties["eo:bands"][:3]] == ["red", "green", "blue"]


def test_dask_run_stores_what_the_serial_indexer_stores_and_resumes(items, bank, reader_bank_file, tmp_data_dir):
    from tools.search.chips import batched, iter_scene_chips
    from tools.search.encoders import get_encoder
    from tools.search.index import ChipIndex
    from tools.search.indexer import BATCH, store_batch

    tasks, todo, skipped = plan(items, 256, None, set(), per_task=8)
    assert (todo, skipped) == (14, 0)  # 206x343 -> 1x2 windows, 724x934 -> 3x4 windows
    assert [len(t.chip_ids) for t in tasks] == [2, 8, 4]

    _share_reader_bank(reader_bank_file, tmp_data_dir)
    stats = index_archive(items, chip=256, chroma_path=tmp_data_dir / "dask", workers=2, per_task=8, bank=bank)
    assert stats["workers"] == 2 and stats["tasks"] == 3
    assert stats["chips_added"] == stats["index_count"] == 14

    reference = ChipIndex(root=tmp_data_dir / "serial")
    for item in items:
        for group in batched(iter_scene_chips(item, 256), BATCH):
            store_batch(reference, get_encoder(), group, {item.id: item}, bank)

    dask_rows, serial_rows = _dump(ChipIndex(root=tmp_data_dir / "dask")), _dump(reference)
    assert sorted(dask_rows) == sorted(serial_rows)
    for cid, (vec, meta, doc) in serial_rows.items():
        dvec, dmeta, ddoc = dask_rows[cid]
        np.testing.assert_allclose(dvec, vec, atol=1e-4)
        assert dmeta == pytest.approx(meta) and ddoc == doc
    assert {m["scene_id"] for _, m, _ in dask_rows.values()} == {i.id for i in items}
    assert all(m.get("class") for _, m, _ in dask_rows.values())  # the bank reached the workers

    again = index_archive(items, chip=256, chroma_path=tmp_data_dir / "dask", workers=2, per_task=8, bank=bank)
    assert (again["tasks"], again["chips_added"], again["chips_skipped"], again["index_count"]) == (0, 0, 14, 14)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _compose_chroma_healthcheck(port: int) -> str:
    """The chroma health check of deploy/docker-compose.yml, for a server on `port`."""
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    script = compose["services"]["chroma"]["healthcheck"]["test"][-1]
    return script.replace("$$", "$").replace("/127.0.0.1/8000", f"/127.0.0.1/{port}")


@pytest.fixture
def chroma_server(tmp_path):
    binary = Path(sys.executable).parent / "chroma"
    if not binary.exists():
        pytest.skip("the chroma server binary of the chromadb wheel is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [str(binary), "run", "--path", str(tmp_path / "server"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # wait for the port to accept connections (the server binds after start-up)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "chroma server did not start"
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_batch_writes_to_a_chroma_server_through_a_dask_scheduler(items, bank, chroma_server, tmp_data_dir):
    from distributed import LocalCluster

    from tools.search.index import ChipIndex

    check = subprocess.run(["bash", "-c", _compose_chroma_healthcheck(chroma_server)], timeout=30)
    assert check.returncode == 0, "the compose health check fails against a live chroma server"
    down = subprocess.run(["bash", "-c", _compose_chroma_healthcheck(_free_port())], capture_output=True, timeout=30)
    assert down.returncode != 0, "the health check passes with no server"

    url = f"http://127.0.0.1:{chroma_server}"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        stats = index_archive(items[:1], chip=256, chroma_url=url, scheduler=cluster.scheduler_address, bank=bank)
    assert stats["chips_added"] == 2 and stats["workers"] == 1
    server_index = ChipIndex(url=url)
    assert server_index.count() == 2 and server_index.txt.count() == 2
    assert all(re.fullmatch(r".+@\d+_\d+_\d+_\d+", cid) for cid in server_index.all_ids())
