"""The scene catalog: a static STAC catalog on disk (one folder per Item: COG + thumbnail + Item JSON) and queries.

`store.py` (the folder, cached reads, `search`, atomic `ingest`), `items.py` (STAC Items of scenes, ids, validation),
`cog.py` (the COG and thumbnail files), `filters.py` (dates, bbox, place and platform filters), `demo.py` (the
sample-data catalog). The names other modules use are re-exported here.
"""

from tools.assets import asset_path
from tools.catalog.demo import build_demo_catalog, demo_sources
from tools.catalog.filters import date_range, item_interval, ordered_dates
from tools.catalog.items import check_item_id, validate_item
from tools.catalog.store import Catalog, IngestReport, open_catalog

__all__ = [
    "Catalog", "IngestReport", "asset_path", "build_demo_catalog", "check_item_id", "date_range", "demo_sources",
    "item_interval", "open_catalog", "ordered_dates", "validate_item",
]
