"""A small searchable data dir: the four SpaceNet Rotterdam scenes of the mirror in a catalog, chipped at 100 px
(31 chips) into a chip index, for tests of search answers (unit and browser)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROTTERDAM = ("ms1.tif", "ms2.tif", "ms3.tif", "rgb_unmasked.tif")


def build_rotterdam(data: Path, progress: Callable[[float, str], None] | None = None) -> list:
    """Ingest and index the Rotterdam scenes into `data` (which SENTINELLE_DATA_DIR must name); returns the items.
    `progress` hears the indexer.

    The encoder's probe comes from the project's cached reader bank (`data/models`, linked in), as for
    tests/test_search_index.py, so the bank is built at most once per checkout.
    """
    import torch

    from assistant.config import get_settings
    from tools.catalog import open_catalog
    from tools.data import geodata_path
    from tools.search.index import ChipIndex
    from tools.search.indexer import index_catalog

    torch.set_num_threads(1)
    data.mkdir(parents=True, exist_ok=True)
    project_models = ROOT / "data" / "models"
    project_models.mkdir(parents=True, exist_ok=True)
    if not (data / "models").exists():
        (data / "models").symlink_to(project_models, target_is_directory=True)
    get_settings.cache_clear()
    files = [geodata_path(f"spacenet-solaris/rotterdam/{name}") for name in ROTTERDAM]
    report = open_catalog().ingest(files, place="Rotterdam", datetime="2018-03-12")
    assert len(report.items) == len(ROTTERDAM), report.refused
    index_catalog(ChipIndex(root=get_settings().chroma_root), chip=100, bank=False,
                  progress=progress or (lambda fraction, message: None))
    return report.items
