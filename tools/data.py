"""Sample data and model weights: found in the local mirror or the data dir, else downloaded (pinned URL + sha256).

Every other module asks here for files (`geodata_path`, `model_path`); nothing else knows where data lives.
"""

from __future__ import annotations

from pathlib import Path

from assistant.config import get_settings
from assistant.errors import DataUnavailableError


def geodata_path(relpath: str) -> Path:
    """Path of a sample-data file or folder (relative to the geodata root, e.g. 'oscd-s2/images/paris').

    Looks in SENTINELLE_DATA_MIRROR first, then in <data_dir>/geodata (filled by `sentinelle data fetch`).
    """
    settings = get_settings()
    candidates = []
    if settings.data_mirror:
        candidates.append(Path(settings.data_mirror) / relpath)
    candidates.append(settings.data_dir / "geodata" / relpath)
    for path in candidates:
        if path.exists():
            return path
    raise DataUnavailableError(
        f"sample data '{relpath}' is not here: run `sentinelle data fetch` (online) or set SENTINELLE_DATA_MIRROR"
    )


def model_path(relpath: str) -> Path:
    """Path of a model-weights file (relative to the models root, e.g. 'galileo-nano/encoder.pt')."""
    settings = get_settings()
    candidates = []
    if settings.models_mirror:
        candidates.append(Path(settings.models_mirror) / relpath)
    candidates.append(settings.models_dir / relpath)
    for path in candidates:
        if path.exists():
            return path
    raise DataUnavailableError(
        f"model weights '{relpath}' are not here: run `sentinelle data fetch` (online) or set SENTINELLE_MODELS_MIRROR"
    )
