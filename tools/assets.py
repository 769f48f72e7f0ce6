"""Where a catalog item's files are: the one STAC fact both the catalog and the display code need.

Kept apart from `tools.catalog` so that modules the catalog itself uses (`tools.render`) can find an item's COG
without importing the catalog.
"""

from __future__ import annotations

from pathlib import Path

import pystac

from tools.core.errors import NotFoundError


def asset_path(item: pystac.Item, key: str = "data") -> Path:
    """Local path of an item's asset (the COG by default)."""
    if key not in item.assets:
        raise NotFoundError(f"scene {item.id} has no '{key}' asset")
    return Path(item.assets[key].get_absolute_href())
