"""STAC Items of scenes (pystac): the id from the pixels, the properties the catalog contract names, reading and
validating an Item file. Writes nothing: the store decides where Items go."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pystac

from tools.core.errors import BadInputError
from tools.ingest_read import SceneData

EO_SCHEMA = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
PROJ_SCHEMA = "https://stac-extensions.github.io/projection/v1.1.0/schema.json"
ITEM_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


def scene_id(scene: SceneData) -> str:
    """Stable id: a slug of the source name plus a hash of the pixels and band names (same scene -> same id)."""
    digest = hashlib.sha256()
    digest.update(str(scene.data.shape).encode())
    digest.update(str(scene.data.dtype).encode())
    digest.update(",".join(b.name for b in scene.bands).encode())
    digest.update(np.ascontiguousarray(scene.data).tobytes())
    slug = re.sub(r"[^a-z0-9_-]+", "-", scene.slug.lower()).strip("-_")[:80] or "scene"
    return f"{slug}-{digest.hexdigest()[:10]}"


def check_item_id(item_id: str) -> str:
    """Ids are lower-case slugs; anything else (paths, dots) is refused before touching the disk."""
    if not ITEM_ID_RE.match(item_id or ""):
        raise BadInputError(f"'{item_id}' is not a scene id")
    return item_id


def band_stats(scene: SceneData) -> dict:
    """Per-band 2-98 % percentiles (`sentinelle:stats`), so renderers stretch every tile of a scene alike."""
    from tools.rasters.stretch import percentiles
    from tools.render import valid_mask

    low, high = percentiles(scene.data, valid_mask(scene.data, scene.nodata))
    return {"p2": [round(v, 6) for v in low], "p98": [round(v, 6) for v in high]}


def _footprint(scene: SceneData) -> tuple[dict, list[float]]:
    """Geometry (densified outline of the grid, EPSG:4326) and bbox of a georeferenced scene."""
    from tools.rasters.footprint import footprint_4326

    height, width = scene.data.shape[1:]
    return footprint_4326(scene.crs, scene.transform, width, height)


def _epsg(crs) -> int | None:
    try:
        return crs.to_epsg()
    except Exception:  # noqa: BLE001 - custom CRS without an EPSG code
        return None


def build_item(scene: SceneData, item_id: str, stats: dict, cog: Path, thumb: Path) -> pystac.Item:
    """The STAC Item of a scene (assets point at the local COG and thumbnail)."""
    from tools.ingest_read import _gsd

    props: dict = {
        "platform": scene.platform or "unknown",
        "constellation": scene.constellation or "unknown",
        "eo:bands": [b.to_dict() for b in scene.bands],
        "sentinelle:georeferenced": scene.georeferenced,
        "sentinelle:sources": [str(p) for p in scene.sources],
        "sentinelle:stats": stats,
        "sentinelle:date_known": scene.date is not None,
    }
    if scene.instruments:
        props["instruments"] = scene.instruments
    if scene.place:
        props["sentinelle:place"] = scene.place.place
        if scene.place.country:
            props["sentinelle:country"] = scene.place.country
        props["sentinelle:place_source"] = scene.place.source
    if scene.cloud_cover is not None:
        props["eo:cloud_cover"] = round(float(scene.cloud_cover), 2)
    if scene.notes:
        props["sentinelle:notes"] = scene.notes
    when: dt.datetime | None
    if scene.date is None:
        # STAC needs a time: an open interval says 'unknown' without inventing a date
        when = None
        props["start_datetime"] = "1970-01-01T00:00:00Z"
        props["end_datetime"] = "2100-01-01T00:00:00Z"
    elif scene.date.exact:
        when = scene.date.start
    else:
        when = scene.date.middle
        props["start_datetime"] = scene.date.start.isoformat().replace("+00:00", "Z")
        props["end_datetime"] = scene.date.end.isoformat().replace("+00:00", "Z")
    if scene.date is not None:
        props["sentinelle:date_source"] = scene.date.source
    height, width = scene.data.shape[1:]
    if scene.georeferenced:
        geometry, bbox = _footprint(scene)
        gsd = scene.gsd or _gsd(scene)
        if gsd:
            props["gsd"] = round(gsd, 3)
        props["proj:epsg"] = _epsg(scene.crs)
        if props["proj:epsg"] is None:
            props["proj:wkt2"] = scene.crs.to_wkt()
        props["proj:shape"] = [height, width]
        props["proj:transform"] = [round(v, 10) for v in list(scene.transform)[:6]]
        extensions = [EO_SCHEMA, PROJ_SCHEMA]
    else:
        geometry, bbox = None, None
        props["sentinelle:shape"] = [height, width]
        extensions = [EO_SCHEMA]
    item = pystac.Item(id=item_id, geometry=geometry, bbox=bbox, datetime=when, properties=props,
                       stac_extensions=extensions)
    item.add_asset("data", pystac.Asset(href=str(cog), media_type=pystac.MediaType.COG
                                        if scene.georeferenced else pystac.MediaType.GEOTIFF,
                                        roles=["data"], title="scene (all bands)"))
    item.add_asset("thumbnail", pystac.Asset(href=str(thumb), media_type=pystac.MediaType.PNG, roles=["thumbnail"],
                                             title="thumbnail"))
    return item


def read_item(path: Path) -> pystac.Item:
    """An Item as written (no migration: `proj:epsg` and `eo:bands` stay as the contract names them)."""
    return pystac.Item.from_dict(json.loads(path.read_text()), href=str(path), migrate=False)


def validate_item(item: pystac.Item) -> list[str]:
    """STAC validation with pystac: full (core + extensions) when the schemas can be fetched, else the core schema
    plus local checks of the extension fields. Returns the schema URIs checked; raises on invalid items."""
    import logging

    from pystac.validation.stac_validator import GetSchemaError

    logger = logging.getLogger("pystac.validation.stac_validator")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # pystac logs a traceback before raising GetSchemaError when offline
    try:
        return list(item.validate())
    except GetSchemaError:
        core = item.clone()
        core.stac_extensions = []
        checked = list(core.validate())
        props = item.properties
        for band in props.get("eo:bands", []):
            if not isinstance(band.get("name"), str):
                raise pystac.STACValidationError("eo:bands entries need a name") from None
        if "proj:epsg" in props and props["proj:epsg"] is not None and not isinstance(props["proj:epsg"], int):
            raise pystac.STACValidationError("proj:epsg must be an integer") from None
        return checked + ["(offline: extension fields checked locally)"]
    finally:
        logger.setLevel(level)
