"""Galileo weights by size: nano from the mirror/data dir; tiny and base downloaded from the authors' hub."""

from __future__ import annotations

from pathlib import Path

from tools.core.errors import ModelUnavailableError, SentinelleError
from tools.core.settings import get_settings

HUB = "https://huggingface.co/nasaharvest/galileo/resolve/main/models/{size}/{name}"
# sha256 of tiny/base are not known here (never downloaded on this machine): pooch checks none for them.
KNOWN_SHA256: dict[str, str | None] = {}


def encoder_files(size: str = "nano") -> tuple[Path, Path | None]:
    """(encoder.pt, config.json) for a Galileo size, from the mirror, the data dir, or the public hub."""
    from tools.data import model_path

    if size not in ("nano", "tiny", "base"):
        raise ModelUnavailableError(f"unknown Galileo size '{size}' (nano, tiny or base)")
    try:
        weights = model_path(f"galileo-{size}/encoder.pt")
        try:
            config = model_path(f"galileo-{size}/config.json")
        except SentinelleError:
            config = None
        return weights, config
    except SentinelleError:
        if size == "nano" or get_settings().offline:
            raise
    import pooch

    folder = get_settings().models_dir / f"galileo-{size}"
    try:
        files = [
            Path(pooch.retrieve(HUB.format(size=size, name=n), known_hash=KNOWN_SHA256.get(f"{size}/{n}"),
                                path=folder, fname=n, progressbar=False))
            for n in ("encoder.pt", "config.json")
        ]
    except Exception as exc:  # network or HTTP error
        raise ModelUnavailableError(f"Galileo {size} weights could not be downloaded: {exc}") from exc
    return files[0], files[1]
