"""Temporary data dirs for module-scoped fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def module_data_dir(tmp_path_factory, name: str) -> Iterator[Path]:
    """A temp data dir for a module-scoped fixture (function-scoped `monkeypatch` can't serve those)."""
    from assistant.config import get_settings

    root = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SENTINELLE_DATA_DIR", str(root))
        get_settings.cache_clear()
        yield root
    get_settings.cache_clear()
