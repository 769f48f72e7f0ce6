"""`find_scenes`: text, image and catalog queries over the chip index, with place/date/platform/cloud filters.

A query goes one of three ways: an image (a file, a stored chip id, or a catalog scene window) -> nearest chip
vectors; text with something to look for ("airports", "forêt") -> nearest chip descriptions (offline MiniLM, French
class names rewritten to English first) or a CLIP text tower when the encoder has one; no semantic content at all
("Landsat imagery over China", "scenes over Rotterdam in 2017") -> the STAC catalog answers directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np

from tools.core.errors import BadInputError, NotFoundError
from tools.core.results import MapLayer, ProgressCallback, ToolResult, no_progress
from tools.rasters.sensors import sensor_name
from tools.search.describe import class_phrase, fold, mentioned_classes, to_english
from tools.search.encoders import DEFAULT_ENCODER, SCENES_ENCODER, TextTower, get_encoder, has_text_tower
from tools.search.index import ChipIndex, Filters, Hit, open_index
from tools.search.scenes import group_by_scene

TOP_SCENE_TILES = 3
PLATFORM_RE = re.compile(r"\b(sentinel[- ]?2[ab]?|sentinel[- ]?1|landsat[- ]?\d*|naip|spacenet)\b", re.I)
YEAR_RE = re.compile(r"\b(19[7-9]\d|20[0-4]\d)\b")
PLACE_RE = re.compile(
    r"\b(?:over|near|around|in|at|of|au-dessus de|au dessus de|sur|près de|pres de|autour de|à|a|en|au)\s+"
    r"((?:[A-Z][\w'\-]*)(?:\s+(?:[A-Z][\w'\-]*|de|du|des|la|le|on|upon|am))*)"
)
STOP = set(
    "which what where show find search give list me my you we have has do does is are the a an of for with any all "
    "some scenes scene images image imagery picture pictures photos data available like this that these those in on "
    "over near around at from to between and or please can could would there here tiles chips chip satellite aerial "
    "quelles quels quelle quel trouve trouver cherche montre montrer moi des les le la du de d un une avec sur en au "
    "aux dans pour qui que est sont avons vous nous il y a images scenes scene imagerie donnees disponibles toutes "
    "tous entre et ou similaires similar one ones avez avez-vous as-tu disposez possedez affiche affiche-moi "
    "montre-moi voir get got looks look est-ce qu'il ya y tu ici celle celle-ci celui-ci ceci cela ca comme".split()
)


@dataclass
class ParsedQuery:
    """What a free-text query asks for, once catalog words (platform, years, 'over <Place>') are taken out."""

    text: str
    platform: str | None = None
    start: str | None = None
    end: str | None = None
    place: str | None = None

    @property
    def semantic(self) -> bool:
        return bool(self.text)


def parse_query(query: str) -> ParsedQuery:
    """Split a question into semantic content and catalog filters (platform, years, place)."""
    rest = query
    platform = None
    if m := PLATFORM_RE.search(rest):
        platform = normalise_platform(m.group(1))
        rest = rest[: m.start()] + " " + rest[m.end() :]
    years = [int(y) for y in YEAR_RE.findall(rest)]
    rest = YEAR_RE.sub(" ", rest)
    place = None
    if m := PLACE_RE.search(rest):
        place = m.group(1).strip()
        rest = rest[: m.start()] + " " + rest[m.end() :]
    words = [w for w in re.findall(r"[\w'-]+", fold(rest)) if w not in STOP and not w.isdigit()]
    semantic = " ".join(words) if (words and (mentioned_classes(rest) or len(" ".join(words)) > 2)) else ""
    return ParsedQuery(
        text=semantic,
        platform=platform,
        start=f"{min(years)}-01-01" if years else None,
        end=f"{max(years)}-12-31" if years else None,
        place=place,
    )


def normalise_platform(name: str) -> str:
    """'Sentinel 2' / 'sentinel2' -> 'sentinel-2'; 'Landsat 8' -> 'landsat-8' (`tools.rasters.sensors`)."""
    from tools.rasters.sensors import platform_name

    return platform_name(name)


def _epoch(day: str | None, end: bool = False) -> int | None:
    if not day:
        return None
    try:
        d = date.fromisoformat(day[:10])
    except ValueError as exc:
        raise BadInputError(f"'{day}' is not a date (YYYY-MM-DD)") from exc
    return int(datetime.combine(d, time.max if end else time.min, tzinfo=UTC).timestamp())


def place_filter(place: str) -> tuple[list[float] | None, set[str] | None, str | None]:
    """A place name -> (bbox, None, the gazetteer's name for it: 'Pays-Bas' -> 'Netherlands') or
    (None, scene ids whose catalog place matches, None); NotFoundError else."""
    bbox, name = None, None
    try:
        from tools.places import locate_place

        res = locate_place(place)
        bbox = res.facts.get("bbox") or next((lay.bounds for lay in res.layers if lay.bounds), None)
        name = res.facts.get("name")
    except ImportError:
        pass
    except NotFoundError:
        bbox = None
    if bbox:
        return [float(v) for v in bbox], None, name
    ids = _catalog_scenes_named(place)
    if ids:
        return None, ids, None
    raise NotFoundError(f"no place called '{place}' in the gazetteer or the catalog")


def _catalog_scenes_named(place: str) -> set[str]:
    try:
        from tools.catalog import open_catalog

        items = open_catalog().items()
    except Exception:  # noqa: BLE001 - no catalog yet
        return set()
    want = fold(place)
    return {it.id for it in items if want and want in fold(str(it.properties.get("sentinelle:place") or ""))}


def _image_vector(image: str, index: ChipIndex) -> tuple[np.ndarray, set[str]]:
    """The query vector of an image argument: a file, a stored chip id, or a catalog scene ('id' or 'id@r_c_h_w')."""
    path = Path(image)
    if path.is_file():
        from tools.render import read_rgb_image

        try:
            rgb = read_rgb_image(path)
        except Exception as exc:  # noqa: BLE001 - unreadable upload
            raise BadInputError(f"cannot read the image '{path.name}'") from exc
        return get_encoder(index.encoder).embed([rgb])[0], set()
    vecs, _ = index.get([image])
    if len(vecs):
        return vecs[0], {image}
    scene_id, _, window = image.partition("@")
    try:
        from tools.catalog import open_catalog
        from tools.render import to_rgb

        item = open_catalog().get(scene_id)
    except NotFoundError as exc:
        raise BadInputError(f"'{image}' is neither an image file, an indexed chip nor a catalog scene") from exc
    win = None
    if window:
        from rasterio.windows import Window

        r, c, h, w = (int(v) for v in window.split("_"))
        win = Window(c, r, w, h)
    rgb = to_rgb(item, window=win, max_size=1024)
    return get_encoder(index.encoder).embed([rgb])[0], {image}


def text_vector(text_en: str, index: ChipIndex) -> tuple[np.ndarray, str]:
    """Query vector and the collection it searches: CLIP text tower -> images, else MiniLM -> descriptions."""
    encoder = get_encoder(index.encoder) if has_text_tower(index.encoder) else None  # no image model for MiniLM
    if isinstance(encoder, TextTower):
        return encoder.embed_text([f"a satellite image of {text_en}"])[0], "img"
    from tools.text_embed import embed_texts

    return embed_texts([f"aerial image of {text_en}"])[0], "txt"


def _description_query(text_en: str) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM vectors of the query as a description ('aerial image of ...') and as typed (its scene types), in
    one forward pass."""
    from tools.text_embed import embed_texts

    both = embed_texts([f"aerial image of {text_en}", text_en])
    return both[0], both[1]


def search_chips(
    query: str | None = None,
    image: str | None = None,
    k: int = 10,
    filters: Filters | None = None,
    index: ChipIndex | None = None,
    exclude_self: bool = True,
) -> tuple[list[Hit], dict[str, Any]]:
    """Ranked chips for a text or image query (the core of `find_scenes`, used by the evaluation too)."""
    index = index or open_index()
    info: dict[str, Any] = {}
    if image:
        vector, own = _image_vector(image, index)
        info["mode"] = "image"
        hits = index.query(vector, k, filters, "img", exclude_ids=own if exclude_self else None)
    elif query:
        english = to_english(query)
        typed = None
        if has_text_tower(index.encoder):
            vector, kind = text_vector(english, index)
        else:
            (vector, typed), kind = _description_query(english), "txt"
        info.update(mode="text", query_en=english, classes=mentioned_classes(query))
        hits = index.query(vector, k * 3 + 10, filters, kind)
        if kind == "txt":
            hits = _rerank_by_scene_type(hits, english, typed, info)
        hits = hits[:k]
    else:
        raise BadInputError("give a text query or an image")
    return hits, info


def _rerank_by_scene_type(
    hits: list[Hit], english: str, typed: np.ndarray | None, info: dict[str, Any]
) -> list[Hit]:
    """Description hits re-ranked by how much of each chip's predicted scene type the query asks for
    (`tools.search.concepts`); many chips share a description: among equal scores, the surest classification first."""
    from tools.search.concepts import RERANK_WEIGHT, class_agreement, query_classes

    wanted = query_classes(english, typed)
    info["query_scene_types"] = [[c, round(p, 3)] for c, p in sorted(wanted.items(), key=lambda x: -x[1])[:3]]
    for hit in hits:
        hit.score = float(hit.score) + RERANK_WEIGHT * class_agreement(wanted, hit.metadata)
    hits.sort(key=lambda h: (round(h.score, 3), float(h.metadata.get("class_score", 0.0))), reverse=True)
    return hits


def _hit_row(rank: int, hit: Hit, items: dict[str, Any]) -> dict[str, Any]:
    m = hit.metadata
    bbox = [m[k] for k in ("west", "south", "east", "north")] if "west" in m else None
    item = items.get(m.get("scene_id"))
    thumb = None
    if item is not None and "thumbnail" in item.assets:
        thumb = item.assets["thumbnail"].get_absolute_href() or item.assets["thumbnail"].href
    return {
        "rank": rank,
        "chip_id": hit.id,
        "scene_id": m.get("scene_id"),
        "score": round(hit.score, 4),
        "date": m.get("date"),
        "place": m.get("place"),
        "platform": m.get("constellation") or m.get("platform"),
        "bbox": bbox,
        "class": m.get("class"),
        "class_name": class_phrase(m["class"]) if m.get("class") else None,
        "description": hit.document,
        "description_fr": m.get("description_fr"),
        "thumbnail": thumb or m.get("source"),
    }


def _scene_row(rank: int, item: Any) -> dict[str, Any]:
    p = item.properties
    asset = item.assets.get("thumbnail")
    thumb = (asset.get_absolute_href() or asset.href) if asset is not None else None
    return {
        "rank": rank,
        "scene_id": item.id,
        "score": None,
        "date": item.datetime.date().isoformat() if item.datetime else None,
        "place": p.get("sentinelle:place"),
        "platform": p.get("constellation") or p.get("platform"),
        "cloud_cover": p.get("eo:cloud_cover"),
        "bbox": list(item.bbox) if item.bbox else None,
        "thumbnail": thumb,
    }


def _tile_layers(rows: list[dict[str, Any]]) -> list[MapLayer]:
    """Imagery of the top scenes, named in words for the layer list ('1. SpaceNet · Rotterdam · 2018-03-12'); ids
    stay in the facts and exports."""
    try:
        from tools.tiles import scene_tile_url
    except ImportError:
        return []
    layers = []
    for rank, row in enumerate(rows[:TOP_SCENE_TILES], start=1):
        words = [sensor_name(row.get("platform")), row.get("place"), str(row.get("date") or "")[:10]]
        name = f"{rank}. " + (" · ".join(w for w in words if w) or "scene")
        try:
            layers.append(MapLayer(name=name, kind="tiles", url=scene_tile_url(row["scene_id"])))
        except Exception:  # noqa: BLE001 - a scene without tiles is still a result
            continue
    return layers


def _footprints_layer(
    rows: list[dict[str, Any]], name: str, geometries: dict[str, Any] | None = None
) -> MapLayer | None:
    features = []
    for row in rows:
        geom = (geometries or {}).get(row["scene_id"])
        if geom is None and row.get("bbox"):
            w, s, e, n = row["bbox"]
            geom = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
        if geom is None:
            continue
        props = {k: row.get(k) for k in ("rank", "scene_id", "chip_id", "score", "date", "class_name", "platform")}
        features.append(
            {"type": "Feature", "geometry": geom, "properties": {k: v for k, v in props.items() if v is not None}}
        )
    if not features:
        return None
    boxes = np.array([r["bbox"] for r in rows if r.get("bbox")])
    bounds = [float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max())]
    return MapLayer(
        name=name,
        kind="geojson",
        data={"type": "FeatureCollection", "features": features},
        bounds=bounds,
        style={"color": "#ff7800", "weight": 2, "fillOpacity": 0.15, "score_property": "score", "zoom_on_click": True},
        fly_to=True,
    )


def _catalog_items(scene_ids: set[str]) -> dict[str, Any]:
    try:
        from tools.catalog import open_catalog

        catalog = open_catalog()
    except Exception:  # noqa: BLE001 - labelled-only indexes have no catalog
        return {}
    out = {}
    for sid in scene_ids:
        try:
            out[sid] = catalog.get(sid)
        except Exception:  # noqa: BLE001 - chip of a scene removed from the catalog, or an unreferenced image
            continue
    return out


def find_scenes(
    query: str | None = None,
    place: str | None = None,
    start_date: str | None = None,
    end_date: str | None = None,
    max_cloud_cover: float | None = None,
    image: str | None = None,
    platform: str | None = None,
    k: int = 10,
    *,
    progress: ProgressCallback = no_progress,
    index_dir: Path | None = None,
    encoder: str = DEFAULT_ENCODER,
) -> ToolResult:
    """Scenes and chips matching a text or image query, or catalog scenes matching place/date/platform filters."""
    if k < 1 or k > 500:
        raise BadInputError("k must be between 1 and 500")
    parsed = parse_query(query) if query else ParsedQuery(text="")
    place = place or parsed.place
    platform = normalise_platform(platform) if platform else parsed.platform
    start_date, end_date = start_date or parsed.start, end_date or parsed.end
    from tools.catalog import ordered_dates

    start_date, end_date = ordered_dates(start_date, end_date)  # checked, in time order
    progress(0.1, "resolving filters")
    try:
        bbox, scene_ids, canonical = place_filter(place) if place else (None, None, None)
    except NotFoundError:
        if image or parsed.semantic:
            raise
        bbox, scene_ids, canonical = None, None, None  # the catalog may still know the place by name or country
    filters_used = {
        k_: v
        for k_, v in {
            "place": place,
            "bbox": bbox,
            "start_date": start_date,
            "end_date": end_date,
            "platform": platform,
            "max_cloud_cover": max_cloud_cover,
        }.items()
        if v
    }
    if not image and not parsed.semantic:
        return _catalog_answer(
            query, bbox, scene_ids, place, canonical, start_date, end_date, platform, max_cloud_cover, k,
            filters_used, progress,
        )
    index = open_index(index_dir, encoder) if index_dir or encoder != DEFAULT_ENCODER else open_index()
    if index.count() == 0:
        raise NotFoundError("the scene index is empty: run `sentinelle index` first")
    filters = Filters(
        bbox=bbox,
        start=_epoch(start_date),
        end=_epoch(end_date, end=True),
        platform=platform,
        max_cloud_cover=max_cloud_cover,
        scene_ids=scene_ids,
    )
    progress(0.3, "searching the index")
    hits, info = search_chips(parsed.text if not image else None, image, k, filters, index)
    if not hits:
        raise NotFoundError("no indexed imagery matches these filters")
    items = _catalog_items({h.metadata.get("scene_id") for h in hits})
    rows = [_hit_row(i + 1, h, items) for i, h in enumerate(hits)]
    scenes = list(dict.fromkeys(r["scene_id"] for r in rows if r["scene_id"] in items))
    scene_results = group_by_scene(rows, items)
    in_catalog = [scene for scene in scene_results if scene["scene_id"] in items]
    layers = [lay for lay in [_footprints_layer(rows, "search results")] if lay] + _tile_layers(in_catalog)
    progress(1.0, f"{len(rows)} results")
    facts = {
        "mode": info["mode"],
        "query": query,
        "count": len(rows),
        "results": rows,
        "scenes": scenes,
        "scene_results": scene_results,
        "filters": filters_used,
        "index_size": index.count(),
    }
    if info.get("query_en"):
        facts["query_en"] = info["query_en"]
    if info.get("query_scene_types"):
        facts["query_scene_types"] = info["query_scene_types"]
    return ToolResult(tool="find_scenes", facts=facts, layers=layers, model=_model_name(index, info["mode"]))


def _model_name(index: ChipIndex, mode: str) -> str:
    if mode == "text" and not has_text_tower(index.encoder):
        how = "scene-probe classes" if index.encoder == SCENES_ENCODER else "k-NN classes"
        return f"all-MiniLM-L6-v2 (chip descriptions) + {index.encoder} {how}"
    return index.encoder


def _catalog_answer(
    query: str | None,
    bbox: list[float] | None,
    scene_ids: set[str] | None,
    place: str | None,
    canonical: str | None,
    start: str | None,
    end: str | None,
    platform: str | None,
    max_cloud: float | None,
    k: int,
    filters_used: dict[str, Any],
    progress: ProgressCallback,
) -> ToolResult:
    """Catalog-only questions: no vectors, just the STAC catalog's own filters."""
    from tools.catalog import open_catalog

    progress(0.5, "querying the catalog")
    catalog = open_catalog()
    items = []
    if place:  # the catalog's own place/country names first ("Landsat imagery over China")
        items = catalog.search(place=place, start=start, end=end, platform=platform, max_cloud_cover=max_cloud)
        if not items and canonical and canonical != place:  # 'Pays-Bas' is catalogued as 'Netherlands'
            items = catalog.search(place=canonical, start=start, end=end, platform=platform, max_cloud_cover=max_cloud)
    if not items and (bbox is not None or not place):
        items = catalog.search(bbox=bbox, start=start, end=end, platform=platform, max_cloud_cover=max_cloud)
    if scene_ids is not None and not place:
        items = [it for it in items if it.id in scene_ids]
    if not items:
        raise NotFoundError("no catalog scene matches these filters")
    items = sorted(items, key=lambda it: (it.datetime or datetime.min.replace(tzinfo=UTC)).isoformat())
    rows = [_scene_row(i + 1, it) for i, it in enumerate(items[:k])]
    layer = _footprints_layer(rows, "catalog scenes", {it.id: it.geometry for it in items if it.geometry})
    layers = ([layer] if layer else []) + _tile_layers(rows)
    progress(1.0, f"{len(items)} scenes")
    return ToolResult(
        tool="find_scenes",
        layers=layers,
        model="STAC catalog",
        facts={
            "mode": "catalog",
            "query": query,
            "count": len(items),
            "results": rows,
            "scenes": [r["scene_id"] for r in rows],
            "filters": filters_used,
        },
    )
